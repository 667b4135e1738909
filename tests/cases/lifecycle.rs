//! How a share ends, and who may end it.

use crate::util::*;

#[test]
fn sigterm_ends_the_share_tells_guests_and_leaves_the_session() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let tmux = Tmux::new();
        tmux.new_session("fun", 80, 24);
        let mut np = Npair::start(&tmux, "fun", &[]);
        let mut rw = Term::guest(np.port(), &np.rw(), 80, 24);
        let mut ro = Term::guest(np.port(), &np.ro(), 80, 24);
        rw.wait_text("$");
        ro.wait_text("$");

        np.signal(sig);
        assert_eq!(
            np.wait_exit().code(),
            Some(0),
            "signal {sig}: {}",
            np.stderr()
        );
        for g in [&mut rw, &mut ro] {
            g.wait_exit();
            assert!(
                g.raw_text().contains("the share has ended"),
                "{}",
                g.raw_text()
            );
            assert!(
                !g.screen.lock().unwrap().screen().alternate_screen(),
                "guest left in the alternate screen"
            );
        }
        assert!(tmux.has_session("fun"), "the tmux session was killed");
        assert!(np.stderr().contains("is still running"));
        assert_eq!(
            tmux.client_sizes(),
            "",
            "npair's tmux client is still attached"
        );
    }
}

#[test]
fn a_killed_session_ends_the_share_with_an_error() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    tmux.new_session("other", 80, 24);
    let mut np = Npair::start(&tmux, "fun", &[]);
    let mut guest = Term::guest(np.port(), &np.ro(), 80, 24);
    guest.wait_text("$");
    tmux.run(&["kill-session", "-t", "fun"]);
    assert_eq!(np.wait_exit().code(), Some(1));
    assert!(
        np.stderr().contains("tmux session 'fun' has ended"),
        "{}",
        np.stderr()
    );
    guest.wait_exit();
    assert!(guest
        .raw_text()
        .contains("the shared tmux session has ended"));
}

#[test]
fn a_guest_pressing_the_detach_key_does_not_end_the_share() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start(&tmux, "fun", &[]);
    let mut rw = Term::guest(np.port(), &np.rw(), 80, 24);
    let ro = Term::guest(np.port(), &np.ro(), 80, 24);
    rw.wait_text("$");
    rw.type_str("\x02d"); // C-b d
    np.wait_stderr("attaching again");
    tmux.wait_client_size("80x24");
    rw.type_str("echo after-detach-$((2*21))\r");
    tmux.wait_pane("fun", "the guest's typing", |t| {
        t.contains("after-detach-42")
    });
    ro.wait_text("after-detach-42");
    assert!(np.running());
}
