//! Recording a share (`--record`): an asciinema file that replays what guests saw.

use crate::util::*;

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
    // Output, resizes and who typed (markers); never what was typed (input events).
    assert!(events
        .iter()
        .all(|e| e[1] == "o" || e[1] == "r" || e[1] == "m"));

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
    assert_stderr_has(
        &out,
        "cannot create the recording '/nonexistent/dir/x.cast'",
    );
}
