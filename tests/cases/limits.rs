//! Limits the host puts on a share: how many guests (`--max-guests`), for how long
//! (`--expires`), and no keyboard for anyone (`--read-only`).

use crate::util::*;

#[test]
fn max_guests_turns_away_the_guest_over_the_limit() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &["--max-guests", "1"]);
    let first = Term::guest(np.port(), &np.ro(), 80, 24);
    first.wait_text("$");
    let mut second = Term::guest(np.port(), &np.ro(), 80, 24);
    second.wait_exit();
    assert!(
        second.raw_text().contains("this share is full (1 guests"),
        "{}",
        second.raw_text()
    );
    assert_eq!(guests(&tmux).len(), 1);
    drop(first);
    wait_guests(&tmux, 0);
    let third = Term::guest(np.port(), &np.ro(), 80, 24);
    third.wait_text("$");

    let out = run_npair(Npair::command(&tmux, &["fun", "--max-guests", "0"]));
    assert_eq!(out.status.code(), Some(2));
    assert_stderr_has(&out, "--max-guests");
}

#[test]
fn an_expiring_share_warns_everyone_then_ends_by_itself() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start(&tmux, "fun", &["--expires", "6s"]);
    let mut guest = Term::guest(np.port(), &np.ro(), 80, 24);
    guest.wait_text("$");
    let status = tmux.npair_ok(&["status"]);
    assert!(status.contains("ends in"), "{status}");
    // The warning is in tmux's status line, which the guest sees.
    guest.wait_text("this share ends in 3s");
    np.wait_stderr("this share ends in 3s");
    assert!(np.wait_exit().success());
    guest.wait_exit();
    assert!(guest.raw_text().contains("the share has expired"));
    assert!(np.stderr().contains("share ended (it expired (--expires))"));

    let out = run_npair(Npair::command(&tmux, &["fun", "--expires", "30"]));
    assert_eq!(out.status.code(), Some(2));
    assert_stderr_has(&out, "invalid duration '30': a number without a unit");
}

#[test]
fn a_read_only_share_has_no_read_write_login() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &["--read-only"]);
    assert!(np.info["rw_token"].is_null() && np.info["rw_command"].is_null());
    let mut guest = Term::guest(np.port(), &np.ro(), 80, 24);
    guest.wait_text("$");
    let id = id_of(&wait_guests(&tmux, 1)[0]);
    let out = tmux.npair(&["promote", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "read-only");
    guest.type_str("echo typed\r");
    tmux.send("fun", &["echo host-marker", "Enter"]);
    guest.wait_text("host-marker");
    assert!(!tmux.capture("fun").contains("typed"));
    let out = tmux.npair(&["rotate", "--rw"]);
    assert_stderr_has(&out, "no read-write token");
    assert!(tmux
        .npair_ok(&["status"])
        .contains("read-write  none (--read-only)"));
}
