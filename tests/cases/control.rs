//! The host in control of a running share: `npair status`, `kick`, `rotate`, `promote`/`demote`
//! and `stop`, for SSH guests and web viewers alike, and the guest count in the host's status
//! line.

use std::os::unix::fs::PermissionsExt;

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
    assert_stderr_has(&out, &format!("guest {id} is already ro"));
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
    assert_stderr_has(&out, "web viewer");
    tmux.npair_ok(&["kick", &id]);
    let ended = rt.block_on(next_of(&mut viewer, "ended"));
    assert_eq!(ended["reason"], "the host disconnected you");
    wait_guests(&tmux, 0);
}
