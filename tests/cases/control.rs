//! The host in control: `npair status`, `kick`, `rotate`, `promote`/`demote`, `approve`/`deny`
//! and `stop` against a running share, and the `share` options that decide who gets in.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::util::*;

#[test]
fn status_shows_the_logins_and_one_line_per_guest() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let rw = Term::guest(np.port(), &np.rw(), 80, 24);
    rw.wait_text("$");
    wait_guests(&tmux, 1);
    let ro = Term::guest(np.port(), &np.ro(), 100, 30);
    ro.wait_text("$");
    let list = wait_guests(&tmux, 2);
    assert_eq!(list[0]["role"], "rw");
    assert_eq!(list[1]["role"], "ro");
    assert_eq!(list[0]["size"], "80x24");
    assert_eq!(list[1]["size"], "100x30");
    assert!(list[0]["client"].as_str().unwrap().contains("OpenSSH"));
    assert!(list[0]["bytes_sent"].as_u64().unwrap() > 0);

    // By name, and as the only share running: the same human-readable status.
    for args in [&["status", "fun"][..], &["status"][..]] {
        let text = tmux.npair_ok(args);
        assert!(text.contains("sharing tmux session \"fun\""), "{text}");
        assert!(text.contains(&np.info["rw_command"].as_str().unwrap().to_string()));
        assert!(text.contains(np.info["ro_command"].as_str().unwrap()));
        assert!(text.contains(np.info["host_key"].as_str().unwrap()));
        assert!(text.contains("2 guests"), "{text}");
        let line = |role: &str| {
            text.lines()
                .find(|l| l.split_whitespace().nth(1) == Some(role))
                .unwrap_or_else(|| panic!("no {role} line in\n{text}"))
                .to_owned()
        };
        assert!(line("rw").contains("127.0.0.1:"), "{text}");
        assert!(line("rw").contains("OpenSSH"), "{text}");
        assert!(line("ro").contains("100x30"), "{text}");
    }
}

#[test]
fn commands_without_a_share_or_with_a_wrong_name_say_what_to_do() {
    let tmux = Tmux::new();
    let out = tmux.npair(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no share is running; start one with `npair share"),
        "{}",
        stderr(&out)
    );

    tmux.new_session("fun", 80, 24);
    tmux.new_session("notes", 80, 24);
    let _a = Npair::start(&tmux, "fun", &[]);
    let _b = Npair::start(&tmux, "notes", &[]);
    let out = tmux.npair(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("several shares are running (fun, notes)"),
        "{}",
        stderr(&out)
    );
    let out = tmux.npair(&["kick", "funn", "1"]);
    assert!(
        stderr(&out)
            .contains("no share of tmux session 'funn' is running (running shares: fun, notes)"),
        "{}",
        stderr(&out)
    );
    let out = tmux.npair(&["kick", "fun", "7"]);
    assert!(
        stderr(&out).contains("no guest 7 is connected"),
        "{}",
        stderr(&out)
    );
    let out = tmux.npair(&["kick", "fun", "seven"]);
    assert!(
        stderr(&out).contains("'seven' is not a guest id"),
        "{}",
        stderr(&out)
    );
    assert!(tmux.npair_ok(&["status", "notes"]).contains("\"notes\""));
}

#[test]
fn kick_disconnects_one_guest_who_is_told_why_and_the_others_stay() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    // One at a time, so that their ids are in this order.
    let mut rw = Term::guest(np.port(), &np.rw(), 80, 24);
    rw.wait_text("$");
    wait_guests(&tmux, 1);
    let mut ro1 = Term::guest(np.port(), &np.ro(), 80, 24);
    ro1.wait_text("$");
    wait_guests(&tmux, 2);
    let mut ro2 = Term::guest(np.port(), &np.ro(), 80, 24);
    ro2.wait_text("$");
    let list = wait_guests(&tmux, 3);
    let out = tmux.npair_ok(&["kick", &id_of(&list[1])]);
    assert!(
        out.contains(&format!("disconnected guest {}", id_of(&list[1]))),
        "{out}"
    );
    ro1.wait_exit();
    assert!(ro1
        .raw_text()
        .contains("[npair: the host disconnected you]"));
    np.wait_stderr(&format!("guest {} (ro) left", id_of(&list[1])));

    // The rest go on: the rw guest types, the other ro guest sees it.
    rw.type_str("echo still-$((6*7))\r");
    ro2.wait_text("still-42");

    tmux.npair_ok(&["kick", "fun", "--all-ro"]);
    ro2.wait_exit();
    assert!(ro2.raw_text().contains("the host disconnected you"));
    wait_guests(&tmux, 1);
    tmux.npair_ok(&["kick", "--all"]);
    rw.wait_exit();
    wait_guests(&tmux, 0);
    assert!(tmux.has_session("fun"));
}

#[test]
fn rotate_gives_new_logins_and_kick_drops_guests_with_the_old_token() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let mut old_rw = Term::guest(np.port(), &np.rw(), 80, 24);
    old_rw.wait_text("$");
    wait_guests(&tmux, 1);

    let out = tmux.npair_ok(&["rotate", "--rw", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let new_rw = v["logins"]["rw_command"].as_str().unwrap().to_owned();
    assert_ne!(new_rw, np.info["rw_command"].as_str().unwrap());
    assert_eq!(v["logins"]["ro_command"], np.info["ro_command"]);

    // The old token no longer admits anyone; the new one does; the old guest stays.
    let mut args = ssh_options(np.port());
    args.push(format!("{}@127.0.0.1", np.rw()));
    args.push("true".into());
    let refused = ssh_run("ssh", &args);
    assert_eq!(refused.status.code(), Some(255));
    assert!(stderr(&refused).contains("Permission denied"));
    let token = new_rw
        .split_whitespace()
        .nth(3)
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    let new_guest = Term::guest(np.port(), token, 80, 24);
    new_guest.wait_text("$");
    old_rw.type_str("echo old-stays\r");
    new_guest.wait_text("old-stays");

    // Human output prints the new logins; --kick drops whoever used a replaced token.
    let text = tmux.npair_ok(&["rotate", "fun", "--kick"]);
    assert!(
        text.contains("new tokens for tmux session \"fun\""),
        "{text}"
    );
    assert!(text.contains("read-write  ssh -p"), "{text}");
    assert!(
        text.contains("disconnected guests who joined with an old token"),
        "{text}"
    );
    old_rw.wait_exit();
    assert!(old_rw
        .raw_text()
        .contains("the host replaced the token you joined with"));
    wait_guests(&tmux, 0);
}

#[test]
fn the_web_viewer_follows_a_rotated_read_only_token() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    let old_url = np.web_url();
    assert_eq!(http_get(&old_url).0, 200);
    let v: serde_json::Value =
        serde_json::from_str(&tmux.npair_ok(&["rotate", "--ro", "--json"])).unwrap();
    let new_url = v["logins"]["web_url"].as_str().unwrap();
    assert_ne!(new_url, old_url);
    assert_eq!(http_get(&old_url).0, 404);
    assert_eq!(http_get(new_url).0, 200);
}

#[test]
fn promote_and_demote_change_a_guests_keyboard_and_size_vote_while_it_stays() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &["--size", "80x24"]);
    // Read-only, it has no say in the size: its terminal is too small for the session.
    let mut guest = Term::guest(np.port(), &np.ro(), 60, 20);
    guest.wait_text("terminal is too small");
    let id = id_of(&wait_guests(&tmux, 1)[0]);
    tmux.wait_client_size("80x24");

    let out = tmux.npair_ok(&["promote", &id]);
    assert!(
        out.contains(&format!("guest {id} is now read-write")),
        "{out}"
    );
    np.wait_stderr(&format!("guest {id} promoted to read-write"));
    tmux.wait_client_size("60x20");
    guest.wait_text("$");
    guest.type_str("echo promoted-$((6*7))\r");
    tmux.wait_pane("fun", "the promoted guest's command", |t| {
        t.contains("promoted-42")
    });
    assert_eq!(guests(&tmux)[0]["role"], "rw");

    tmux.npair_ok(&["demote", "fun", &id]);
    tmux.wait_client_size("80x24");
    guest.wait_text("terminal is too small");
    guest.type_str("echo demoted-typed\r");
    tmux.send("fun", &["echo host-marker", "Enter"]);
    tmux.wait_pane("fun", "the host's marker", |t| t.contains("host-marker"));
    assert!(!tmux.capture("fun").contains("demoted-typed"));
    let out = tmux.npair(&["demote", &id]);
    assert!(stderr(&out).contains(&format!("guest {id} is already ro")));
}

#[test]
fn stop_ends_the_share_as_a_detach_would_and_removes_the_socket() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start(&tmux, "fun", &[]);
    let mut guest = Term::guest(np.port(), &np.ro(), 80, 24);
    guest.wait_text("$");
    let socket = tmux.runtime_dir().join("npair").join("fun.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);

    let out = tmux.npair_ok(&["stop"]);
    assert!(out.contains("is ending"), "{out}");
    assert!(np.wait_exit().success());
    assert!(
        np.stderr().contains("share ended (npair stop)"),
        "{}",
        np.stderr()
    );
    guest.wait_exit();
    assert!(guest.raw_text().contains("the share has ended"));
    assert!(!socket.exists(), "the control socket was left behind");
    assert!(tmux.has_session("fun"));
}

#[test]
fn sharing_a_shared_session_shows_its_status_instead() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let out = run_npair(Npair::command(&tmux, &["fun", "--headless"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("tmux session 'fun' is already shared"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("npair stop fun"));
    assert!(stdout(&out).contains(np.info["ro_command"].as_str().unwrap()));
    // The first share is untouched.
    let guest = Term::guest(np.port(), &np.ro(), 80, 24);
    guest.wait_text("$");
}

#[test]
fn a_control_directory_open_to_others_is_refused() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let dir = tmux.runtime_dir().join("npair");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run_npair(Npair::command(&tmux, &["fun", "--headless"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has mode 0777, open to others"),
        "{}",
        stderr(&out)
    );

    // One that belongs to someone else (nobody) is refused too, by the subcommands as well.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
    let out = run_npair(Npair::command(&tmux, &["fun", "--headless"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("belongs to uid 65534, not to you"),
        "{}",
        stderr(&out)
    );
    let out = tmux.npair(&["status"]);
    assert!(
        stderr(&out).contains("belongs to uid 65534"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_xdg_runtime_dir_the_socket_is_in_a_private_dir_under_tmp() {
    let tmux = Tmux::new();
    let name = format!("npair-test-{}", std::process::id());
    tmux.new_session(&name, 80, 24);
    let mut cmd = Npair::command(&tmux, &[&name, "--headless", "--json"]);
    cmd.env_remove("XDG_RUNTIME_DIR");
    let mut np = Npair::spawn(cmd);
    // SAFETY: getuid cannot fail.
    let dir = std::path::PathBuf::from(format!("/tmp/npair-{}", unsafe { libc::getuid() }));
    let socket = dir.join(format!("{name}.sock"));
    assert!(socket.exists());
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let mut stop = tmux.npair_command(&["stop", &name]);
    stop.env_remove("XDG_RUNTIME_DIR");
    assert!(run_npair(stop).status.success());
    assert!(np.wait_exit().success());
    assert!(!socket.exists());
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
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    guest.type_str("echo typed\r");
    tmux.send("fun", &["echo host-marker", "Enter"]);
    guest.wait_text("host-marker");
    assert!(!tmux.capture("fun").contains("typed"));
    let out = tmux.npair(&["rotate", "--rw"]);
    assert!(
        stderr(&out).contains("no read-write token"),
        "{}",
        stderr(&out)
    );
    assert!(tmux
        .npair_ok(&["status"])
        .contains("read-write  none (--read-only)"));
}

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
    assert!(stderr(&out).contains("is not waiting"), "{}", stderr(&out));
}

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
    assert!(stderr(&out).contains("--max-guests"), "{}", stderr(&out));
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
    assert!(
        stderr(&out).contains("invalid duration '30': a number without a unit"),
        "{}",
        stderr(&out)
    );
}

fn keygen(tmux: &Tmux, name: &str) -> std::path::PathBuf {
    let path = tmux.path().join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

#[test]
fn authorized_keys_refuse_a_guest_without_a_listed_key_and_admit_one_with_it() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let listed = keygen(&tmux, "listed");
    let other = keygen(&tmux, "other");
    // A GitHub-style bare "TYPE KEY" line, and an authorized_keys line with options.
    let public = std::fs::read_to_string(listed.with_extension("pub")).unwrap();
    let bare: Vec<&str> = public.split_whitespace().take(2).collect();
    let third = std::fs::read_to_string(keygen(&tmux, "third").with_extension("pub")).unwrap();
    let keys = tmux.path().join("keys");
    std::fs::write(
        &keys,
        format!(
            "# who may join\nno-pty,command=\"x\" {}\n\n{} {}\n",
            third.trim(),
            bare[0],
            bare[1]
        ),
    )
    .unwrap();
    let keys_arg = keys.to_str().unwrap().to_owned();
    let np = Npair::start(&tmux, "fun", &["--authorized-keys", &keys_arg]);
    let with = |key: &std::path::Path| {
        vec![
            "-o".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            "-i".to_owned(),
            key.to_str().unwrap().to_owned(),
        ]
    };
    // The right token with an unlisted key, and with no key at all: refused.
    for options in [
        with(&other),
        vec!["-o".into(), "PubkeyAuthentication=no".into()],
    ] {
        let mut args = ssh_options(np.port());
        args.extend(options);
        args.push(format!("{}@127.0.0.1", np.rw()));
        args.push("true".into());
        let out = ssh_run("ssh", &args);
        assert_eq!(out.status.code(), Some(255));
        assert!(
            stderr(&out).contains("Permission denied (publickey)"),
            "{}",
            stderr(&out)
        );
    }
    // A listed key with a wrong token: refused.
    let mut args = ssh_options(np.port());
    args.extend(with(&listed));
    args.push("nobody@127.0.0.1".into());
    args.push("true".into());
    assert_eq!(ssh_run("ssh", &args).status.code(), Some(255));

    // The right token and a listed key: in.
    let opts = with(&listed);
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    let mut guest = Term::guest_with(np.port(), &np.rw(), 80, 24, &opts);
    guest.wait_text("$");
    guest.type_str("echo keyed-$((6*7))\r");
    tmux.wait_pane("fun", "the keyed guest's command", |t| {
        t.contains("keyed-42")
    });
    assert!(tmux
        .npair_ok(&["status"])
        .contains("guests need one of 2 listed keys"));

    let empty = tmux.path().join("empty");
    std::fs::write(&empty, "# nobody\n").unwrap();
    let out = run_npair(Npair::command(
        &tmux,
        &[
            "fun2",
            "--create",
            "--headless",
            "--authorized-keys",
            empty.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("lists no public keys"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_recording_replays_what_guests_saw_with_asciinema() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let cast = tmux.path().join("session.cast");
    let cast_arg = cast.to_str().unwrap().to_owned();
    let mut np = Npair::start(&tmux, "fun", &["--size", "80x24", "--record", &cast_arg]);
    let mut guest = Term::guest(np.port(), &np.rw(), 70, 20);
    guest.wait_text("$");
    guest.type_str("echo recorded-$((6*7))\r");
    guest.wait_text("recorded-42");
    tmux.npair_ok(&["stop"]);
    assert!(np.wait_exit().success());

    let text = std::fs::read_to_string(&cast).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(80), Some(24))
    );
    let events: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        events.iter().any(|e| e[1] == "r" && e[2] == "70x20"),
        "no resize event"
    );
    assert!(events.iter().all(|e| e[1] == "o" || e[1] == "r"));

    // `asciinema cat` wants a terminal: give it one, of the guest's size.
    let mut cmd = portable_pty::CommandBuilder::new("asciinema");
    cmd.arg("cat");
    cmd.arg(&cast);
    cmd.env("LANG", "C.UTF-8");
    let mut replay = Term::spawn(cmd, 70, 20);
    let status = replay.wait_exit();
    assert!(status.success(), "{}", replay.raw_text());
    // Replayed into a terminal model, some screen of the replay is the one the guest saw: just
    // before a later full repaint (tmux clearing the screen as it detached, when the recording
    // caught it), or at the end.
    let raw = replay.raw.lock().unwrap().clone();
    let mut cuts: Vec<usize> = raw
        .windows(7)
        .enumerate()
        .filter(|(_, w)| *w == b"\x1b[H\x1b[2J")
        .map(|(i, _)| i)
        .collect();
    cuts.push(raw.len());
    let screens: Vec<String> = cuts
        .iter()
        .map(|&end| {
            let mut screen = vt100::Parser::new(
                std::num::NonZeroU16::new(20).unwrap(),
                std::num::NonZeroU16::new(70).unwrap(),
                0,
            );
            screen.process(&raw[..end]);
            screen.screen().contents()
        })
        .collect();
    assert!(
        screens
            .iter()
            .any(|s| s.contains("$ echo recorded-$((6*7))\nrecorded-42")),
        "{screens:#?}"
    );

    let out = run_npair(Npair::command(
        &tmux,
        &["fun", "--headless", "--record", "/nonexistent/dir/x.cast"],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot create the recording '/nonexistent/dir/x.cast'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_cli() {
    let tmux = Tmux::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = tmux.npair_ok(&["completions", shell]);
        for word in ["share", "status", "kick", "rotate", "approve", "max-guests"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let man = tmux.npair_ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH npair"), "{man}");
    for word in [
        "NPAIR SHARE",
        "NPAIR STATUS",
        "NPAIR KICK",
        "NPAIR ROTATE",
        "NPAIR PROMOTE",
        "max\\-guests",
        "authorized\\-keys",
    ] {
        assert!(man.contains(word), "the man page lacks {word}");
    }

    let out = tmux.npair(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_attached_host_sees_the_guest_count_which_is_restored_at_the_end() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 100, 30);
    let before = tmux.run(&["show-options", "-t", "fun", "status-right"]);
    let mut host = Term::host(&tmux, "fun", 100, 30);
    let info = host.json();
    host.wait_text("$");
    host.wait_text("npair: no guests");
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let guest = Term::guest(port, info["ro_token"].as_str().unwrap(), 100, 30);
    host.wait_text("npair: 1 guest");
    guest.wait_text("npair: 1 guest");
    drop(guest);
    host.wait_text("npair: no guests");
    host.type_str("\x02d");
    assert!(host.wait_exit().success());
    assert_eq!(
        tmux.run(&["show-options", "-t", "fun", "status-right"]),
        before
    );
    let left = tmux
        .command()
        .args(["show-options", "-t", "fun", "@npair_guests"])
        .output()
        .unwrap();
    assert!(!left.status.success(), "@npair_guests is still set");
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

#[test]
fn web_viewers_are_guests_too_waiting_listed_limited_and_kicked() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(
        &tmux,
        "fun",
        &["--web", "127.0.0.1:0", "--approve", "--max-guests", "1"],
    );
    let ws_url = format!("{}/ws", np.web_url()).replacen("http://", "ws://", 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The next text message whose type is `kind`.
    async fn next_of<S>(ws: &mut S, kind: &str) -> serde_json::Value
    where
        S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + Unpin,
    {
        let found = tokio::time::timeout(DEADLINE, async {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == kind {
                        return Some(v);
                    }
                }
            }
            None
        })
        .await;
        found
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no {kind} message"))
    }

    let (mut viewer, _) = rt
        .block_on(tokio_tungstenite::connect_async(ws_url.as_str()))
        .unwrap();
    let waiting = rt.block_on(next_of(&mut viewer, "waiting"));
    let id = waiting["id"].as_u64().unwrap().to_string();
    let list = wait_guests(&tmux, 1);
    assert_eq!(list[0]["role"], "web");
    assert_eq!(list[0]["admitted"], false);

    // The share is full: a second viewer is told so.
    let (mut second, _) = rt
        .block_on(tokio_tungstenite::connect_async(ws_url.as_str()))
        .unwrap();
    let ended = rt.block_on(next_of(&mut second, "ended"));
    assert!(
        ended["reason"]
            .as_str()
            .unwrap()
            .contains("this share is full"),
        "{ended}"
    );

    tmux.npair_ok(&["approve", &id]);
    rt.block_on(next_of(&mut viewer, "frame"));
    let out = tmux.npair(&["promote", &id]);
    assert!(stderr(&out).contains("web viewer"), "{}", stderr(&out));
    tmux.npair_ok(&["kick", &id]);
    let ended = rt.block_on(next_of(&mut viewer, "ended"));
    assert_eq!(ended["reason"], "the host disconnected you");
    wait_guests(&tmux, 0);
}
