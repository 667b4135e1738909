//! Guests typing, watching, stalling and sizing.

use crate::util::*;

#[test]
fn a_read_write_guest_types_into_the_session_and_a_read_only_one_cannot() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let mut rw = Term::guest(np.port(), &np.rw(), 80, 24);
    let mut ro = Term::guest(np.port(), &np.ro(), 80, 24);
    rw.wait_text("$");
    ro.wait_text("$");
    np.wait_stderr("(ro) joined from 127.0.0.1");

    ro.type_str("echo ro-typed-$((6*7))\r");
    rw.type_str("echo rw-typed-$((6*7))\r");
    tmux.wait_pane("fun", "the rw guest's command", |t| {
        t.contains("rw-typed-42")
    });
    ro.wait_text("rw-typed-42");
    // The read-only guest's keystrokes, sent first, never reached the shell.
    assert!(
        !tmux.capture("fun").contains("ro-typed"),
        "{}",
        tmux.capture("fun")
    );
    assert!(np.stderr().contains("(rw) joined from 127.0.0.1"));
}

#[test]
fn a_stalled_guest_blocks_no_one_and_is_repainted_when_it_wakes() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let stalled = Term::guest(np.port(), &np.ro(), 80, 24);
    let other = Term::guest(np.port(), &np.ro(), 80, 24);
    stalled.wait_text("$");
    other.wait_text("$");

    stalled.signal(libc::SIGSTOP);
    tmux.send("fun", &["seq 1 300000; echo END-OF-$((1+1))", "Enter"]);
    other.wait_text("END-OF-2");
    tmux.wait_pane("fun", "the end marker", |t| t.contains("END-OF-2"));

    stalled.signal(libc::SIGCONT);
    stalled.wait_text("END-OF-2");
    wait_rows_match(&tmux, "fun", &stalled, 0);
}

#[test]
fn the_session_is_the_size_of_the_smallest_read_write_guest() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &["--size", "80x24"]);
    tmux.wait_client_size("80x24");

    let rw = Term::guest(np.port(), &np.rw(), 60, 20);
    tmux.wait_client_size("60x20");

    // A read-only guest never resizes the session, and one too small for it is told so.
    let small_ro = Term::guest(np.port(), &np.ro(), 40, 10);
    small_ro.wait_text("terminal is too small");
    assert!(
        small_ro.text().contains("40x10") && small_ro.text().contains("60x20"),
        "{}",
        small_ro.text()
    );
    assert_eq!(tmux.client_sizes(), "60x20");

    // When it grows, it gets the session.
    tmux.send("fun", &["echo grown-up", "Enter"]);
    small_ro.resize(100, 30);
    small_ro.wait_text("grown-up");

    rw.resize(70, 22);
    tmux.wait_client_size("70x22");
    drop(rw);
    tmux.wait_client_size("80x24");
    np.wait_stderr("(rw) left");
}

#[test]
fn a_hostile_tiny_terminal_is_clamped_not_obeyed() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let tiny = Term::guest(np.port(), &np.rw(), 1, 1);
    // It votes for the floor (20x5), not for 1x1.
    tmux.wait_client_size("20x5");
    // The tiny guest is told rather than garbled; everyone else goes on.
    let ro = Term::guest(np.port(), &np.ro(), 80, 24);
    ro.wait_text("$");
    drop(tiny);
    tmux.wait_client_size("80x24");
}
