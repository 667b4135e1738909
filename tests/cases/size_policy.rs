//! The host chooses whose size counts (`--size-policy`, `npair size-policy`), in the sizes real
//! pairs have: a host at 120x35 and a read-write guest on a 70x20 laptop terminal.

use crate::util::*;

/// `npair status --json`.
fn status(tmux: &Tmux) -> serde_json::Value {
    serde_json::from_str(&tmux.npair_ok(&["status", "--json"])).unwrap()
}

/// Waits until `npair status --json` shows this policy, session size and number of votes.
fn wait_status(tmux: &Tmux, policy: &str, size: &str, votes: u64) -> serde_json::Value {
    wait_until(
        &format!("status to say {policy}, {size}, {votes} votes"),
        || {
            let s = status(tmux);
            if s["size_policy"] == policy && s["size"] == size && s["size_votes"] == votes {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
}

/// The `size` line of the human `npair status`.
fn size_line(tmux: &Tmux) -> String {
    let text = tmux.npair_ok(&["status"]);
    text.lines()
        .find(|l| l.trim_start().starts_with("size "))
        .unwrap_or_else(|| panic!("no size line in\n{text}"))
        .trim()
        .to_owned()
}

/// Asserts that a guest is shown the "too small" screen, with its size and the session's.
fn assert_told_too_small(guest: &Term, term: &str, session: &str) {
    let t = guest.wait_text("terminal is too small");
    assert!(t.contains(term) && t.contains(session), "{t}");
}

/// Waits until a guest sees the session (the shell's prompt), not the "too small" screen.
fn wait_sees_the_session(guest: &Term) {
    guest.wait_for("the session", |t| {
        t.contains('$') && !t.contains("too small")
    });
}

#[test]
fn by_default_a_read_write_laptop_shrinks_the_session_to_its_size() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 120, 35);
    let np = Npair::start(&tmux, "fun", &["--size", "120x35"]);
    tmux.wait_client_size("120x35");
    wait_status(&tmux, "smallest", "120x35", 0);

    let laptop = Term::guest(np.port(), &np.rw(), 70, 20);
    tmux.wait_client_size("70x20");
    wait_sees_the_session(&laptop);
    let s = wait_status(&tmux, "smallest", "70x20", 1);
    assert_eq!(s["host_size"], "120x35");
    assert_eq!(
        size_line(&tmux),
        "size        70x20 (smallest of --size and 1 read-write guest; size policy: smallest)"
    );
}

#[test]
fn under_the_host_policy_a_smaller_typist_is_told_and_sees_the_session_once_it_grows() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 120, 35);
    let np = Npair::start(&tmux, "fun", &["--size", "120x35", "--size-policy", "host"]);
    let mut laptop = Term::guest(np.port(), &np.rw(), 70, 20);
    assert_told_too_small(&laptop, "70x20", "120x35");
    // Its vote is in, and changes nothing.
    wait_status(&tmux, "host", "120x35", 1);
    assert_eq!(tmux.client_sizes(), "120x35");
    assert_eq!(
        size_line(&tmux),
        "size        120x35 (the host's --size; size policy: host)"
    );

    tmux.send("fun", &["echo grown-$((6*7))", "Enter"]);
    laptop.resize(130, 40);
    laptop.wait_text("grown-42");
    wait_sees_the_session(&laptop);
    laptop.type_str("echo typed-$((6*7))\r");
    tmux.wait_pane("fun", "the guest's command", |t| t.contains("typed-42"));
    wait_status(&tmux, "host", "120x35", 1);
    assert_eq!(tmux.client_sizes(), "120x35");
}

#[test]
fn switching_the_policy_while_a_typist_is_in_resizes_the_session_at_once() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 120, 35);
    let np = Npair::start(&tmux, "fun", &["--size", "120x35", "--size-policy", "host"]);
    let laptop = Term::guest(np.port(), &np.rw(), 70, 20);
    assert_told_too_small(&laptop, "70x20", "120x35");
    wait_status(&tmux, "host", "120x35", 1);

    let out = tmux.npair_ok(&["size-policy", "smallest"]);
    assert!(
        out.contains("size policy: smallest (was host); the session is now 70x20 (was 120x35)"),
        "{out}"
    );
    tmux.wait_client_size("70x20");
    wait_sees_the_session(&laptop);
    wait_status(&tmux, "smallest", "70x20", 1);
    assert!(size_line(&tmux).contains("size policy: smallest"));

    let out = tmux.npair_ok(&["size-policy", "fun", "host"]);
    assert!(
        out.contains("size policy: host (was smallest); the session is now 120x35 (was 70x20)"),
        "{out}"
    );
    tmux.wait_client_size("120x35");
    assert_told_too_small(&laptop, "70x20", "120x35");
    wait_status(&tmux, "host", "120x35", 1);
    assert!(size_line(&tmux).contains("size policy: host"));

    let out = tmux.npair_ok(&["size-policy", "host"]);
    assert!(
        out.contains("size policy: host (unchanged); the session stays 120x35"),
        "{out}"
    );
}

#[test]
fn a_fixed_size_holds_whoever_joins_and_bad_policies_are_refused() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 120, 35);
    let np = Npair::start(
        &tmux,
        "fun",
        &["--size", "120x35", "--size-policy", "100x30"],
    );
    tmux.wait_client_size("100x30");
    let laptop = Term::guest(np.port(), &np.rw(), 70, 20);
    assert_told_too_small(&laptop, "70x20", "100x30");
    let big = Term::guest(np.port(), &np.rw(), 130, 40);
    wait_sees_the_session(&big);
    wait_status(&tmux, "100x30", "100x30", 2);
    assert_eq!(tmux.client_sizes(), "100x30");
    assert_eq!(
        size_line(&tmux),
        "size        100x30 (fixed; size policy: 100x30)"
    );

    // A policy that is not one, while sharing and at the start: exit 1, naming it.
    let out = tmux.npair(&["size-policy", "5x5"]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "invalid size policy '5x5': out of range");
    assert_stderr_has(&out, "choose smallest, host, or a fixed size COLSxROWS");
    let out = run_npair(Npair::command(
        &tmux,
        &["other", "--headless", "--size-policy", "huge"],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "invalid size policy 'huge'");
    assert_stderr_has(&out, "choose smallest, host, or a fixed size COLSxROWS");
    wait_status(&tmux, "100x30", "100x30", 2);

    // Headless, a fixed size may be larger than `--size`.
    tmux.npair_ok(&["size-policy", "150x45"]);
    tmux.wait_client_size("150x45");
    assert_told_too_small(&big, "130x40", "150x45");
}

#[test]
fn an_attached_host_keeps_its_whole_screen_under_a_fixed_size() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 120, 35);
    // Larger than the host's terminal: refused at the start, naming both sizes.
    let mut refused = Term::host_with(&tmux, "fun", 120, 35, &["--size-policy", "130x40"]);
    assert_eq!(refused.wait_exit().exit_code(), 1);
    let said = refused.raw_text();
    assert!(
        said.contains("the fixed size 130x40 is larger than the host's terminal (120x35)"),
        "{said}"
    );

    let host = Term::host_with(&tmux, "fun", 120, 35, &["--size-policy", "100x30"]);
    host.json();
    host.wait_text("$");
    tmux.wait_client_size("100x30");
    // The host's terminal grows: the fixed size holds.
    host.resize(130, 40);
    wait_until("the host's new size in status", || {
        let s = status(&tmux);
        (s["host_size"] == "130x40")
            .then_some(())
            .ok_or_else(|| s.to_string())
    });
    assert_eq!(tmux.client_sizes(), "100x30");
    let out = tmux.npair(&["size-policy", "140x45"]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(
        &out,
        "the fixed size 140x45 is larger than the host's terminal (130x40)",
    );
    // It shrinks below the fixed size: the session follows it down rather than clip the
    // host's screen, and back up to the fixed size.
    host.resize(90, 25);
    tmux.wait_client_size("90x25");
    assert!(size_line(&tmux).contains("fixed at 100x30, cut to fit the host's terminal"));
    host.resize(120, 35);
    tmux.wait_client_size("100x30");
    tmux.npair_ok(&["size-policy", "host"]);
    tmux.wait_client_size("120x35");
}
