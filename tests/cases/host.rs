//! The host's side: npair attached to a terminal, as `tmux attach` would be.

use crate::util::*;

#[test]
fn the_host_sees_the_session_and_guests_see_what_the_host_sees() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 90, 30);
    let mut host = Term::host(&tmux, "fun", 90, 30);
    let info = host.json();
    host.wait_text("$");
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let guest = Term::guest(port, info["ro_token"].as_str().unwrap(), 90, 30);
    host.wait_text("(ro) joined from 127.0.0.1"); // the notice in the host's status line
    host.type_str("printf '\\033[35mfrom-host\\033[0m\\n'\r");
    guest.wait_text("from-host");
    // Whole screens, status line included, once the notice has gone.
    wait_until("host and guest screens to be identical", || {
        let (h, g) = (host.text(), guest.text());
        if h == g && !h.contains("joined") {
            Ok(())
        } else {
            Err(format!("host:\n{h}\nguest:\n{g}"))
        }
    });
    let (hs, gs) = (host.screen.lock().unwrap(), guest.screen.lock().unwrap());
    assert_same_colours(hs.screen(), gs.screen(), 30, 90);
}

#[test]
fn the_host_detaching_ends_the_share_and_restores_the_terminal() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut host = Term::host(&tmux, "fun", 80, 24);
    let info = host.json();
    host.wait_text("$");
    assert!(
        !host.is_cooked(),
        "npair should hold the host's terminal in raw mode"
    );
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let mut guest = Term::guest(port, info["rw_token"].as_str().unwrap(), 80, 24);
    guest.wait_text("$");

    host.type_str("\x02d"); // the host's C-b d
    assert!(host.wait_exit().success());
    guest.wait_exit();
    assert!(guest.raw_text().contains("the share has ended"));
    assert!(
        host.raw_text().contains("share ended (the host detached)"),
        "{}",
        host.raw_text()
    );
    assert!(host.is_cooked(), "the host's terminal was left in raw mode");
    assert!(!host.screen.lock().unwrap().screen().alternate_screen());
    assert!(tmux.has_session("fun"));
}

#[test]
fn the_hosts_terminal_size_is_the_sessions() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let host = Term::host(&tmux, "fun", 100, 30);
    host.wait_text("$");
    tmux.wait_client_size("100x30");
    host.resize(70, 20); // SIGWINCH
    tmux.wait_client_size("70x20");
}

#[test]
fn a_signal_in_attached_mode_restores_the_hosts_terminal() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut host = Term::host(&tmux, "fun", 80, 24);
    host.json();
    host.wait_text("$");
    assert!(!host.is_cooked());
    host.signal(libc::SIGTERM);
    assert!(host.wait_exit().success());
    assert!(host.is_cooked(), "the host's terminal was left in raw mode");
    // The terminal's reader may still be behind npair's last bytes when npair has exited:
    // wait for the last line npair prints, then look at the screen.
    wait_until("npair's last line on the host's terminal", || {
        let t = host.raw_text();
        if t.contains("share ended (received SIGTERM)") {
            Ok(())
        } else {
            Err(t)
        }
    });
    assert!(
        !host.screen.lock().unwrap().screen().alternate_screen(),
        "left in tmux's alternate screen; the terminal's last bytes: {:?}",
        host.raw_text()
            .chars()
            .rev()
            .take(300)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
    assert!(tmux.has_session("fun"));
}
