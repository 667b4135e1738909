//! The host lets each guest in (`--approve`): a guest waits, seeing nothing and typing nowhere,
//! until the host lets it in or turns it away, with `npair approve`/`deny` or at a tmux prompt.

use crate::util::*;

#[test]
fn with_approve_a_guest_waits_and_the_host_lets_it_in_or_turns_it_away() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    tmux.send("fun", &["echo secret-on-screen", "Enter"]);
    tmux.wait_pane("fun", "the marker", |t| t.contains("secret-on-screen"));
    let np = Npair::start(&tmux, "fun", &["--approve"]);

    let mut turned_away = Term::guest(np.port(), &np.rw(), 80, 24);
    turned_away.wait_text("waiting for the host to let you in");
    let list = wait_guests(&tmux, 1);
    assert_eq!(list[0]["admitted"], false);
    let id = id_of(&list[0]);
    np.wait_stderr(&format!("npair approve {id}"));
    assert!(tmux.npair_ok(&["status"]).contains("waiting"));
    // Keystrokes while waiting go nowhere.
    turned_away.type_str("echo sneaked-in\r");
    tmux.npair_ok(&["deny", &id]);
    turned_away.wait_exit();
    let raw = turned_away.raw_text();
    assert!(raw.contains("the host did not let you in"), "{raw}");
    assert!(
        !raw.contains("secret-on-screen"),
        "a denied guest saw the screen"
    );
    assert!(!tmux.capture("fun").contains("sneaked-in"));

    let let_in = Term::guest(np.port(), &np.rw(), 80, 24);
    let_in.wait_text("waiting for the host");
    let id = id_of(&wait_guests(&tmux, 1)[0]);
    let out = tmux.npair_ok(&["approve", "fun", &id]);
    assert!(out.contains(&format!("guest {id} let in")), "{out}");
    let_in.wait_text("secret-on-screen");
    assert_eq!(guests(&tmux)[0]["admitted"], true);
    let out = tmux.npair(&["approve", &id]);
    assert_stderr_has(&out, "is not waiting");
}

#[test]
fn the_attached_host_answers_a_waiting_guest_at_a_tmux_prompt() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 100, 30);
    let mut host = Term::host_with(&tmux, "fun", 100, 30, &["--approve"]);
    let info = host.json();
    host.wait_text("$");
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let token = info["ro_token"].as_str().unwrap().to_owned();

    let mut no = Term::guest(port, &token, 100, 30);
    no.wait_text("waiting for the host");
    host.wait_text("in? (y/n)");
    host.type_str("n");
    no.wait_exit();
    assert!(no.raw_text().contains("the host did not let you in"));

    let yes = Term::guest(port, &token, 100, 30);
    yes.wait_text("waiting for the host");
    host.wait_text("in? (y/n)");
    host.type_str("y");
    yes.wait_text("$");
    host.type_str("\x02d");
    assert!(host.wait_exit().success());
}
