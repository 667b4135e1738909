//! Every SSH client gets in by its own way of logging in, and nothing gets around a kick or a
//! rotation: a connection is a guest from the moment it authenticates, session or not.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use portable_pty::CommandBuilder;

use crate::util::client::{self, Method};
use crate::util::*;

/// `ssh OPTIONS... TOKEN@127.0.0.1`, as a command to spawn, with the test's usual options.
fn ssh(np: &Npair, token: &str, options: &[&str]) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(ssh_options(np.port()))
        .args(options)
        .arg(format!("{token}@127.0.0.1"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// An OpenSSH master connection (`ssh -M -S SOCKET -N`): authenticated, with no session.
fn master(np: &Npair, token: &str, socket: &Path) -> Child {
    let s = socket.to_str().unwrap();
    ssh(np, token, &["-M", "-S", s, "-N"]).spawn().unwrap()
}

/// Waits for a master connection to end and returns what it printed.
fn master_output(what: &str, mut child: Child) -> String {
    wait_child(what, &mut child);
    stderr(&child.wait_with_output().unwrap())
}

/// A session through an existing master connection (`ssh -S SOCKET -tt`), in a terminal.
fn through_master(np: &Npair, token: &str, socket: &Path) -> Term {
    let mut cmd = CommandBuilder::new("ssh");
    cmd.args(ssh_options(np.port()));
    cmd.args(["-S", socket.to_str().unwrap(), "-tt"]);
    cmd.arg(format!("{token}@127.0.0.1"));
    Term::spawn(cmd, 80, 24)
}

#[test]
fn a_connection_kept_through_a_rotation_cannot_open_a_session_with_the_replaced_token() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let socket = tmux.path().join("cm.sock");
    let m = master(&np, &np.rw(), &socket);
    // Listed from the moment it authenticated, though it has no terminal.
    let listed = wait_guests(&tmux, 1);
    assert_eq!(listed[0]["session"], false);
    assert!(tmux.npair_ok(&["status"]).contains("no terminal yet"));

    // A rotation without --kick leaves the connection up, but it opens no session with the old
    // token: nothing typed through it reaches the session.
    tmux.npair_ok(&["rotate"]);
    let mut slave = through_master(&np, &np.rw(), &socket);
    slave.type_str("echo leaked-through-the-master\r");
    slave.wait_exit();
    assert!(
        slave
            .raw_text()
            .contains("the host has replaced the token this connection logged in with"),
        "{}",
        slave.raw_text()
    );
    np.wait_stderr("refused a session from guest 1");
    // The connection served its one session (refused), so npair closes it.
    let said = master_output("the master connection", m);
    assert!(said.contains("npair: the session has ended"), "{said}");
    wait_guests(&tmux, 0);
    assert!(!tmux.capture("fun").contains("leaked"));
}

#[test]
fn rotate_kick_closes_a_connection_that_has_no_session_yet() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let socket = tmux.path().join("cm.sock");
    let m = master(&np, &np.rw(), &socket);
    let listed = wait_guests(&tmux, 1);
    let out = tmux.npair_ok(&["rotate", "--kick", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kicked"], serde_json::json!([listed[0]["id"]]));
    let said = master_output("the master connection", m);
    assert!(
        said.contains("npair: the host replaced the token you joined with"),
        "{said}"
    );
    // Nothing is left that could open a session with the old token.
    let mut slave = through_master(&np, &np.rw(), &socket);
    slave.type_str("echo leaked-through-the-master\r");
    slave.wait_exit();
    wait_guests(&tmux, 0);
    assert!(!tmux.capture("fun").contains("leaked"));
}

#[test]
fn a_kick_closes_a_connection_without_a_session_and_an_idle_one_is_closed_after_the_grace() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let kicked = ssh(&np, &np.ro(), &["-N"]).spawn().unwrap();
    wait_guests(&tmux, 1);
    tmux.npair_ok(&["kick", "--all-ro"]);
    let said = master_output("the kicked connection", kicked);
    assert!(said.contains("npair: the host disconnected you"), "{said}");
    wait_guests(&tmux, 0);

    // A connection that never opens a session is closed after the grace (30 s), and told why.
    let mut idle = ssh(&np, &np.rw(), &["-N"]).spawn().unwrap();
    wait_guests(&tmux, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30) + DEADLINE;
    let status = loop {
        if let Some(s) = idle.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a connection with no session was still up 50 s after it logged in"
        );
        std::thread::sleep(client::TICK);
    };
    assert_eq!(status.code(), Some(255));
    let said = stderr(&idle.wait_with_output().unwrap());
    assert!(
        said.contains("no terminal session was opened within 30 s"),
        "{said}"
    );
    wait_guests(&tmux, 0);
}

#[test]
fn rotate_ro_kick_disconnects_only_read_only_guests_with_a_replaced_token() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let mut rw = Term::guest(np.port(), &np.rw(), 80, 24);
    rw.wait_text("$");
    // The host replaces the read-write token but keeps the guest who used it.
    tmux.npair_ok(&["rotate", "--rw"]);
    let mut ro = Term::guest(np.port(), &np.ro(), 80, 24);
    ro.wait_text("$");
    wait_guests(&tmux, 2);

    let out = tmux.npair_ok(&["rotate", "--ro", "--kick"]);
    assert!(
        out.contains("disconnected guests who joined with an old token: 2"),
        "{out}"
    );
    ro.wait_exit();
    assert!(ro
        .raw_text()
        .contains("the host replaced the token you joined with"));
    rw.type_str("echo rw-stays\r");
    tmux.wait_pane("fun", "the kept guest's typing", |t| t.contains("rw-stays"));
    wait_guests(&tmux, 1);
    tmux.npair_ok(&["rotate", "--rw", "--kick"]);
    rw.wait_exit();
    wait_guests(&tmux, 0);
}

#[test]
fn every_way_of_logging_in_works_with_the_right_token_and_none_with_a_wrong_one() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let rt = client::runtime(1);
    for method in Method::ALL {
        let guest = rt
            .block_on(client::join_by(np.port(), &np.rw(), None, method, 80, 24))
            .unwrap_or_else(|e| panic!("{method:?}: {e}"));
        guest.wait_text("$");
        rt.block_on(guest.send(format!("echo in-by-{method:?}\r").as_bytes()));
        tmux.wait_pane("fun", &format!("{method:?}'s typing"), |t| {
            t.contains(&format!("in-by-{method:?}\n"))
        });
        let refused = rt.block_on(client::connect_by(np.port(), "wrong", None, method));
        assert!(refused.is_err(), "{method:?} got in with a wrong token");
    }
}

#[test]
fn a_mistyped_token_is_told_so_and_the_host_sees_it() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    // An ordinary interactive ssh (no BatchMode), as a guest would type it.
    let mut args = interactive_ssh_options(np.port());
    args.extend(["-tt".to_owned(), format!("{}x@127.0.0.1", np.rw())]);
    let out = ssh_run("ssh", &args);
    assert_eq!(out.status.code(), Some(255));
    let said = stderr(&out);
    assert!(
        said.contains("npair: that token is not valid for this share"),
        "{said}"
    );
    assert!(
        !said.contains(&np.rw()[..8]),
        "the refusal tells a valid token: {said}"
    );
    np.wait_stderr("a wrong token from 127.0.0.1");
    let status = tmux.npair_ok(&["status"]);
    assert!(status.contains("wrong tokens  127.0.0.1 (1)"), "{status}");
}

#[test]
fn a_guest_without_a_terminal_is_refused_with_a_clear_message() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let mut child = ssh(&np, &np.rw(), &["-T"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"echo typed-without-a-terminal\n");
    wait_child("ssh -T", &mut child);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("npair needs a terminal: run ssh with -t"),
        "{}",
        stderr(&out)
    );
    assert!(!tmux.capture("fun").contains("typed-without"));
}

#[test]
fn a_terminal_of_no_size_does_not_shrink_the_session() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    // `ssh -tt` with stdin a pipe, not a terminal, reports 0x0.
    let mut child = ssh(&np, &np.rw(), &["-tt"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the guest to open its session", || {
        let g = guests(&tmux);
        match g.first() {
            Some(g) if g["session"] == true => Ok(()),
            _ => Err(format!("{g:?}")),
        }
    });
    assert_eq!(guests(&tmux)[0]["size"], serde_json::Value::Null);
    // A size change would show within a few ticks; the client stays at the host's size.
    std::thread::sleep(client::TICK * 10);
    tmux.wait_client_size("80x24");
    let _ = child.kill();
    let _ = child.wait();
}

/// PuTTY's `plink` and Dropbear's `dbclient`, each as a guest would run it, see the session
/// as the pane shows it, and their typing reaches it.
#[test]
fn plink_and_dbclient_guests_see_the_session_and_type_into_it() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let host_key = np.info["host_key"].as_str().unwrap().to_owned();
    let home = tmux.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let port = np.port().to_string();

    let mut plink = CommandBuilder::new("plink");
    plink.args(["-ssh", "-t", "-P", &port, "-hostkey", &host_key]);
    plink.arg(format!("{}@127.0.0.1", np.rw()));
    plink.env("HOME", &home);
    let mut dbclient = CommandBuilder::new("dbclient");
    // -y -y: accept the (test) host key without writing a known_hosts file.
    dbclient.args(["-y", "-y", "-t", "-p", &port]);
    dbclient.arg(format!("{}@127.0.0.1", np.rw()));
    dbclient.env("HOME", &home);

    for (name, cmd) in [("plink", plink), ("dbclient", dbclient)] {
        let mut guest = Term::spawn(cmd, 80, 24);
        if name == "plink" {
            // plink's own guard against spoofed prompts, after any login (README: guests).
            wait_until("plink's anti-spoofing prompt", || {
                let raw = guest.raw_text();
                if raw.contains("Access granted. Press Return to begin session.") {
                    Ok(())
                } else {
                    Err(raw)
                }
            });
            guest.type_str("\r");
        }
        guest.wait_text("$");
        // plink's Return answered its own prompt: the session got no empty command line.
        assert_eq!(tmux.capture("fun").trim(), "$", "{name}");
        guest.type_str(&format!("echo typed-by-{name}\r"));
        tmux.wait_pane("fun", &format!("{name}'s typing"), |t| {
            t.contains(&format!("\ntyped-by-{name}"))
        });
        wait_rows_match(&tmux, "fun", &guest, 0);
        let listed = guests(&tmux);
        let client = listed[0]["client"].as_str().unwrap().to_owned();
        let want = if name == "plink" { "PuTTY" } else { "dropbear" };
        assert!(client.contains(want), "{client}");
        drop(guest);
        wait_guests(&tmux, 0);
        tmux.send("fun", &["clear", "Enter"]);
        tmux.wait_pane("fun", "a clear screen", |t| t.trim() == "$");
    }
}
