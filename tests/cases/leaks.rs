//! What must not leave the host's terminal: a copy made in tmux's copy mode (which tmux, with
//! its default `set-clipboard external`, writes to its one client as OSC 52) and the titles it
//! sets with `set-titles on`. Each guest's raw bytes are read as its terminal got them.

use std::sync::{Arc, Mutex};

use crate::util::*;

/// Text that appears nowhere else. 27 bytes: a multiple of 3, so that its base64 begins the
/// base64 of any copy that begins with it (a copy may take the line's end along).
const SECRET: &str = "SECRET-PASSWORD-npair-leak7";

/// Standard base64, as tmux encodes what it sends to the clipboard.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=group.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Where `raw` shows the copy: the clipboard write's start, or the copied text as tmux
/// encodes it.
fn clipboard_write_in(raw: &str) -> Option<&'static str> {
    if raw.contains("\x1b]52;") {
        Some("an OSC 52 clipboard write")
    } else if raw.contains(&base64(SECRET.as_bytes())) {
        Some("the copied text in base64")
    } else {
        None
    }
}

/// The whole of a terminal's raw bytes, escapes shown.
fn shown(raw: &str) -> String {
    format!("{raw:?}")
}

/// Copies the line above the prompt in copy mode, with vi keys (set so in `copy_setup`, as
/// plain bytes: no ESC whose timing tmux reads, no NUL): prefix [, up a line (k), its start
/// (0), mark (Space), its end ($), copy (Enter). Each key once the one before has acted: keys
/// that reached tmux in the same read as `0` did not act.
fn copy_line_above(term: &mut Term) {
    term.type_str("\x02[");
    // Copy mode shows where it is in the pane's history, top right.
    term.wait_for("copy mode", |t| t.contains("[0/"));
    let row = term
        .text()
        .lines()
        .position(|l| l.starts_with(SECRET))
        .expect("the line to copy") as u16;
    let end = SECRET.len() as u16 - 1;
    press(term, "k", "the cursor on the line", |s| {
        s.cursor_position().0 == row
    });
    press(term, "0", "the cursor at its start", |s| {
        s.cursor_position() == (row, 0)
    });
    press(term, " ", "the selection begun", |s| {
        s.cell(row, 0)
            .is_some_and(|c| c.bgcolor() != vt100::Color::Default)
    });
    press(term, "$", "the cursor at its end", |s| {
        let (r, c) = s.cursor_position();
        r == row && c >= end
    });
    term.type_str("\r");
}

/// Types `key`, and waits until the screen shows that it acted (`done`).
fn press(term: &mut Term, key: &str, what: &str, done: impl Fn(&vt100::Screen) -> bool) {
    term.type_str(key);
    wait_until(what, || {
        let p = term.screen.lock().unwrap();
        if done(p.screen()) {
            Ok(())
        } else {
            Err(format!(
                "cursor {:?}\n{}",
                p.screen().cursor_position(),
                p.screen().contents()
            ))
        }
    });
}

/// tmux as a user may have it, spelled out: copy mode with vi keys, and copies sent to the
/// terminal (`set-clipboard external`, tmux's default).
fn copy_setup(tmux: &Tmux) {
    tmux.run(&["set-option", "-s", "set-clipboard", "external"]);
    tmux.run(&["set-window-option", "-g", "mode-keys", "vi"]);
}

/// Waits until tmux's paste buffer holds the secret: the copy was made.
fn wait_copied(tmux: &Tmux) {
    wait_until("tmux's paste buffer to hold the copy", || {
        let out = tmux.command().arg("show-buffer").output().unwrap();
        let buffer = stdout(&out);
        if buffer.contains(SECRET) {
            Ok(())
        } else {
            Err(format!("{buffer}{}", stderr(&out)))
        }
    });
}

/// A web viewer on a plain WebSocket, keeping every message it gets.
struct Viewer {
    messages: Arc<Mutex<Vec<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl Viewer {
    fn open(web_url: &str) -> Viewer {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let ws_url = format!("{web_url}/ws").replacen("http://", "ws://", 1);
        let rt = crate::util::client::runtime(1);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (mut ws, _) = rt
            .block_on(tokio_tungstenite::connect_async(ws_url.as_str()))
            .expect("connect the web viewer");
        let kept = Arc::clone(&messages);
        rt.spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    kept.lock().unwrap().push(t.to_string());
                }
            }
        });
        Viewer { messages, _rt: rt }
    }

    fn wait_text(&self, needle: &str) {
        wait_until(&format!("the web viewer to show {needle:?}"), || {
            let m = self.messages.lock().unwrap();
            if m.iter().any(|t| t.contains(needle)) {
                Ok(())
            } else {
                Err(m.last().cloned().unwrap_or_default())
            }
        });
    }

    fn all(&self) -> String {
        self.messages.lock().unwrap().concat()
    }
}

#[test]
fn the_hosts_copy_reaches_the_hosts_terminal_and_no_guest_recording_or_page() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    copy_setup(&tmux);
    let cast = tmux.path().join("share.cast");
    let cast_arg = cast.to_str().unwrap().to_owned();
    let mut host = Term::host_with(
        &tmux,
        "fun",
        80,
        24,
        &["--record", &cast_arg, "--web", "127.0.0.1:0"],
    );
    let info = host.json();
    host.wait_text("$");
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let ro = Term::guest(port, info["ro_token"].as_str().unwrap(), 80, 24);
    let rw = Term::guest(port, info["rw_token"].as_str().unwrap(), 80, 24);
    let page = Viewer::open(info["web_url"].as_str().unwrap());
    wait_guests(&tmux, 3);
    host.type_str(&format!("clear; echo {SECRET}\r"));
    for g in [&ro, &rw] {
        g.wait_for("the line to copy", |t| {
            t.lines().any(|l| l.trim_end() == SECRET)
        });
    }

    copy_line_above(&mut host);
    wait_copied(&tmux);
    // The host's terminal gets the copy, as from a plain `tmux attach`.
    wait_until("the copy on the host's terminal", || {
        let raw = host.raw_text();
        match (
            raw.contains("\x1b]52;"),
            raw.contains(&base64(SECRET.as_bytes())),
        ) {
            (true, true) => Ok(()),
            _ => Err(shown(&raw)),
        }
    });

    // What everyone sees after the copy, so that the copy, had it been sent, is in already.
    host.type_str("echo after-$((6*7))\r");
    ro.wait_text("after-42");
    rw.wait_text("after-42");
    page.wait_text("after-42");
    tmux.npair_ok(&["stop"]);
    assert!(host.wait_exit().success());
    let recording = std::fs::read_to_string(&cast).unwrap();
    assert!(recording.contains("after-42"), "{recording}");

    // Every place the copy must not reach, each said apart.
    let mut leaks = Vec::new();
    for (who, raw) in [
        ("the read-only guest's terminal", ro.raw_text()),
        ("the read-write guest's terminal", rw.raw_text()),
        ("the web page's messages", page.all()),
        // JSON, where ESC is written \u001b.
        ("the recording", recording.replace("\\u001b", "\x1b")),
    ] {
        if let Some(what) = clipboard_write_in(&raw) {
            leaks.push(format!("{who} got {what}: {}", shown(&raw)));
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n\n"));
}

#[test]
fn a_guests_copy_in_a_headless_share_reaches_no_terminal_and_stays_in_tmux() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    copy_setup(&tmux);
    let np = Npair::start(&tmux, "fun", &["--size", "80x24"]);
    let mut copier = Term::guest(np.port(), &np.rw(), 80, 24);
    let other = Term::guest(np.port(), &np.rw(), 80, 24);
    let ro = Term::guest(np.port(), &np.ro(), 80, 24);
    wait_guests(&tmux, 3);
    copier.type_str(&format!("clear; echo {SECRET}\r"));
    for g in [&copier, &other, &ro] {
        g.wait_for("the line to copy", |t| {
            t.lines().any(|l| l.trim_end() == SECRET)
        });
    }

    copy_line_above(&mut copier);
    // The copy is in tmux's paste buffer (prefix ] pastes it), and nowhere else.
    wait_copied(&tmux);
    copier.type_str("echo after-$((6*7))\r");
    for (who, g) in [
        ("copying guest", &copier),
        ("other read-write guest", &other),
        ("read-only guest", &ro),
    ] {
        g.wait_text("after-42");
        let raw = g.raw_text();
        if let Some(what) = clipboard_write_in(&raw) {
            panic!("the {who}'s terminal got {what}: {}", shown(&raw));
        }
    }
}

#[test]
fn a_guests_copy_in_an_attached_share_reaches_no_terminal_not_even_the_hosts() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    copy_setup(&tmux);
    let mut host = Term::host(&tmux, "fun", 80, 24);
    let info = host.json();
    host.wait_text("$");
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let mut copier = Term::guest(port, info["rw_token"].as_str().unwrap(), 80, 24);
    let ro = Term::guest(port, info["ro_token"].as_str().unwrap(), 80, 24);
    wait_guests(&tmux, 2);
    copier.type_str(&format!("clear; echo {SECRET}\r"));
    for g in [&host, &copier, &ro] {
        g.wait_for("the line to copy", |t| {
            t.lines().any(|l| l.trim_end() == SECRET)
        });
    }

    copy_line_above(&mut copier);
    wait_copied(&tmux);
    copier.type_str("echo after-$((6*7))\r");
    for (who, g) in [
        ("host", &host),
        ("copying guest", &copier),
        ("read-only guest", &ro),
    ] {
        g.wait_text("after-42");
        let raw = g.raw_text();
        if let Some(what) = clipboard_write_in(&raw) {
            panic!("the {who}'s terminal got {what}: {}", shown(&raw));
        }
    }

    // The host's own copy, made next, still reaches the host's terminal (and no guest's).
    tmux.run(&["delete-buffer"]);
    host.type_str(&format!("clear; echo {SECRET}\r"));
    host.wait_for("the line to copy, alone", |t| {
        t.starts_with(SECRET) && !t.contains("after-42")
    });
    copy_line_above(&mut host);
    wait_copied(&tmux);
    wait_until("the host's copy on the host's terminal", || {
        let raw = host.raw_text();
        match clipboard_write_in(&raw) {
            Some(_) => Ok(()),
            None => Err(shown(&raw)),
        }
    });
    host.type_str("echo again-$((6*7))\r");
    for (who, g) in [("copying guest", &copier), ("read-only guest", &ro)] {
        g.wait_text("again-42");
        let raw = g.raw_text();
        if let Some(what) = clipboard_write_in(&raw) {
            panic!("the {who}'s terminal got {what}: {}", shown(&raw));
        }
    }
}

#[test]
fn titles_reach_the_hosts_terminal_and_no_guests() {
    const TITLE: &str = "TITLE-npair-leak-9";
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    tmux.run(&["set-option", "-g", "set-titles", "on"]);
    tmux.run(&["set-option", "-g", "set-titles-string", "before-guests"]);
    let host = Term::host(&tmux, "fun", 80, 24);
    let info = host.json();
    host.wait_text("$");
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let ro = Term::guest(port, info["ro_token"].as_str().unwrap(), 80, 24);
    let rw = Term::guest(port, info["rw_token"].as_str().unwrap(), 80, 24);
    ro.wait_text("$");
    rw.wait_text("$");

    // A new title, once the guests are in: tmux writes it to its client's terminal.
    tmux.run(&["set-option", "-g", "set-titles-string", TITLE]);
    // Sent at the status line's next redraw: ask for one now.
    let client = tmux.run(&["list-clients", "-F", "#{client_tty}"]);
    tmux.run(&["refresh-client", "-S", "-t", client.trim()]);
    wait_until("the title on the host's terminal", || {
        let raw = host.raw_text();
        if raw.contains(&format!("\x1b]0;{TITLE}")) {
            Ok(())
        } else {
            Err(shown(&raw))
        }
    });

    tmux.send("fun", &["echo after-$((6*7))", "Enter"]);
    for (who, g) in [("read-only guest", &ro), ("read-write guest", &rw)] {
        g.wait_text("after-42");
        let raw = g.raw_text();
        for title in ["\x1b]0;", "\x1b]1;", "\x1b]2;", "\x1bk", TITLE] {
            assert!(
                !raw.contains(title),
                "the {who}'s terminal got {title:?}: {}",
                shown(&raw)
            );
        }
    }
}

#[test]
fn a_copy_larger_than_what_npair_holds_back_reaches_no_guest() {
    // 60,000 bytes: 80 KB of base64, which npair's client reads in several pieces, each past
    // the 4 KiB the hub holds back for a sequence still arriving: the clipboard write is
    // published before its end.
    let big = SECRET.repeat(60_000 / SECRET.len());
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    copy_setup(&tmux);
    let np = Npair::start(&tmux, "fun", &["--size", "80x24"]);
    let ro = Term::guest(np.port(), &np.ro(), 80, 24);
    ro.wait_text("$");
    // What a copy in copy mode does, for a copy this large: the buffer, sent to the terminal
    // of npair's tmux client.
    let file = tmux.path().join("big-copy");
    std::fs::write(&file, &big).unwrap();
    let client = tmux.run(&["list-clients", "-F", "#{client_tty}"]);
    tmux.run(&[
        "load-buffer",
        "-w",
        "-t",
        client.trim(),
        file.to_str().unwrap(),
    ]);
    wait_copied(&tmux);
    tmux.send("fun", &["echo after-$((6*7))", "Enter"]);
    ro.wait_text("after-42");
    let raw = ro.raw_text();
    if let Some(what) = clipboard_write_in(&raw) {
        panic!(
            "the read-only guest's terminal got {what} ({} bytes in all)",
            raw.len()
        );
    }
}
