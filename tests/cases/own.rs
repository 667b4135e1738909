//! A navigator looking around on its own: another window, its own copy mode, while the driver
//! and everyone else go on seeing the shared screen; then following the host again.

use portable_pty::CommandBuilder;

use crate::util::*;

/// `ssh -tt ... TOKEN@127.0.0.1 WORD`: a guest joining with a word after its login.
fn guest_saying(port: u16, token: &str, cols: u16, rows: u16, word: &str) -> Term {
    let mut cmd = CommandBuilder::new("ssh");
    cmd.args(ssh_options(port));
    cmd.arg("-tt");
    cmd.arg(format!("{token}@127.0.0.1"));
    cmd.arg(word);
    Term::spawn(cmd, cols, rows)
}

/// The session's sessions, as `tmux ls` names them.
fn sessions(tmux: &Tmux) -> Vec<String> {
    let mut s: Vec<String> = tmux
        .run(&["list-sessions", "-F", "#{session_name}"])
        .lines()
        .map(str::to_owned)
        .collect();
    s.sort();
    s
}

fn clients(tmux: &Tmux) -> usize {
    tmux.run(&["list-clients", "-F", "#{client_tty}"])
        .lines()
        .count()
}

/// A session with a second window that says so.
fn two_windows(tmux: &Tmux) {
    tmux.new_session("fun", 100, 30);
    tmux.run(&["new-window", "-d", "-t", "fun:1", "env PS1='other$ ' sh"]);
    tmux.send("fun:1", &["echo in-the-other-window", "Enter"]);
    tmux.wait_pane("fun:1", "its line", |t| t.contains("in-the-other-window"));
    tmux.send("fun:0", &["echo in-the-first-window", "Enter"]);
    tmux.wait_pane("fun:0", "its line", |t| t.contains("in-the-first-window"));
}

#[test]
fn a_navigator_looks_at_another_window_while_the_driver_stays_and_follows_again() {
    let tmux = Tmux::new();
    two_windows(&tmux);
    let np = Npair::start(&tmux, "fun", &["--size", "100x30"]);
    let before = sessions(&tmux);
    let mut driver = Term::guest(np.port(), &np.rw(), 100, 30);
    driver.wait_text("in-the-first-window");
    let mut navigator = guest_saying(np.port(), &np.rw(), 100, 30, "own");
    navigator.wait_text("your own view");
    navigator.wait_text("in-the-first-window");
    assert_eq!(clients(&tmux), 2, "npair's client and the own view's");

    // The navigator goes to the next window, in its own client: prefix n.
    navigator.type_str("\x02n");
    navigator.wait_text("in-the-other-window");
    navigator.type_str("echo typed-on-my-own\r");
    tmux.wait_pane("fun:1", "the navigator's line", |t| {
        t.contains("typed-on-my-own")
    });
    // Everyone else still sees the first window, at its size.
    driver.type_str("echo the-driver-goes-on\r");
    driver.wait_text("the-driver-goes-on");
    assert!(
        !driver.text().contains("in-the-other-window"),
        "{}",
        driver.text()
    );
    let current = tmux.run(&["display-message", "-p", "-t", "fun", "#{window_index}"]);
    assert_eq!(current.trim(), "0", "the shared session's window changed");
    tmux.wait_client_size("100x30\n100x30");

    // Ctrl-] f: the navigator follows the host again, on the same connection.
    navigator.type_str("\x1df");
    navigator.wait_text("the-driver-goes-on");
    wait_until("the own view to be gone from tmux", || {
        let (s, c) = (sessions(&tmux), clients(&tmux));
        if s == before && c == 1 {
            Ok(())
        } else {
            Err(format!("sessions {s:?}, {c} clients"))
        }
    });
    // What it types now reaches the shared window.
    navigator.type_str("echo following-again\r");
    driver.wait_text("following-again");

    // Ctrl-] o: its own view again, and leaving takes it away.
    navigator.type_str("\x1do");
    navigator.wait_text("your own view");
    assert_eq!(clients(&tmux), 2);
    drop(navigator);
    wait_until("nothing left of the own view", || {
        let (s, c) = (sessions(&tmux), clients(&tmux));
        if s == before && c == 1 {
            Ok(())
        } else {
            Err(format!("sessions {s:?}, {c} clients"))
        }
    });
}

#[test]
fn a_demoted_navigator_stops_typing_and_follows_the_host() {
    let tmux = Tmux::new();
    two_windows(&tmux);
    let np = Npair::start(&tmux, "fun", &["--size", "100x30"]);
    let mut navigator = guest_saying(np.port(), &np.rw(), 100, 30, "own");
    navigator.wait_text("your own view");
    navigator.type_str("\x02n");
    navigator.wait_text("in-the-other-window");
    let id = id_of(&wait_guests(&tmux, 1)[0]);
    tmux.npair_ok(&["demote", &id]);
    navigator.wait_for("the shared window", |t| {
        t.contains("in-the-first-window") && !t.contains("in-the-other-window")
    });
    navigator.type_str("echo not-typed\r");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!tmux.capture("fun:0").contains("not-typed"));
    assert!(!tmux.capture("fun:1").contains("not-typed"));
    wait_until("the own view to be gone", || {
        let c = clients(&tmux);
        if c == 1 {
            Ok(())
        } else {
            Err(format!("{c} clients"))
        }
    });
}

#[test]
fn a_read_only_guest_asking_for_its_own_view_is_told_it_follows_the_host() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let mut guest = guest_saying(np.port(), &np.ro(), 80, 24, "own");
    let status = guest.wait_exit();
    assert!(!status.success());
    assert!(
        guest
            .raw_text()
            .contains("a read-only guest follows the host"),
        "{}",
        guest.raw_text()
    );
    // Any other word is still a command, refused.
    let mut other = guest_saying(np.port(), &np.rw(), 80, 24, "ls");
    assert!(!other.wait_exit().success());
    assert!(other.raw_text().contains("commands are refused"));
}
