//! The read-only web viewer, in a real browser (headless Chromium) and over plain HTTP.

use serde_json::Value;

use crate::util::browser::{css, page_colour, Browser, PAGE_CELLS, PAGE_TEXT};
use crate::util::client::usage;
use crate::util::*;

/// The page's rows 0..n as text.
fn page_rows(b: &mut Browser) -> Vec<String> {
    let v = b.eval(PAGE_TEXT);
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the page's rows from `top` show the pane's captured text.
fn wait_page_matches(tmux: &Tmux, target: &str, b: &mut Browser, top: usize) {
    wait_until(&format!("the page to match pane {target}"), || {
        let pane = tmux.capture(target);
        let rows = page_rows(b);
        let ok = pane
            .lines()
            .enumerate()
            .all(|(i, l)| rows.get(top + i).map(String::as_str) == Some(l.trim_end()));
        if ok {
            Ok(())
        } else {
            Err(format!("page:\n{}\npane:\n{pane}", rows.join("\n")))
        }
    });
}

#[test]
fn the_page_shows_the_session_live_in_its_colours() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    let mut b = Browser::open(&np.web_url(), 1100, 700);
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    // The page is live when its socket opens; the session's name and size come with the
    // first messages (a loaded machine shows the gap).
    let size = b.wait_for(
        "the first frame",
        "document.getElementById('size').textContent",
        |v| v != "–",
    );
    assert_eq!(size, "80×24");
    assert_eq!(
        b.eval("document.getElementById('session').textContent"),
        "fun"
    );

    // The host types a coloured marker; the page follows.
    tmux.send("fun", &["printf '\\033[31mWEB\\033[0m-\\033[1;44mMARK\\033[0m \\033[38;5;208mX\\033[38;2;1;200;3mY\\033[0m 界面😀|\\n'", "Enter"]);
    tmux.wait_pane("fun", "the marker", |t| t.contains("WEB-MARK XY 界面😀|"));
    wait_page_matches(&tmux, "fun", &mut b, 0);

    let cells = b.eval(PAGE_CELLS);
    let pane = pane_screen(&tmux, "fun", 80, 23);
    let mut compared = 0;
    for r in 0..23u16 {
        for c in 0..80u16 {
            let cell = pane.screen().cell(r, c).unwrap();
            let page = &cells[r as usize][c as usize];
            if let Some(fg) = page_colour(cell.fgcolor()).map(css) {
                assert_eq!(
                    page[1],
                    Value::from(fg),
                    "colour of {:?} at {r},{c}",
                    cell.contents()
                );
                compared += 1;
            }
            if let Some(bg) = page_colour(cell.bgcolor()).map(css) {
                assert_eq!(
                    page[2],
                    Value::from(bg),
                    "background of {:?} at {r},{c}",
                    cell.contents()
                );
                compared += 1;
            }
        }
    }
    assert!(
        compared >= 8,
        "too few coloured cells to compare: {compared}"
    );
}

#[test]
fn a_page_opened_late_shows_a_full_screen_program_and_follows_window_switches() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let file = tmux.path().join("notes.txt");
    std::fs::write(&file, "alpha line in vim\nbeta line\n").unwrap();
    let np = Npair::start_web(&tmux, "fun");
    tmux.send(
        "fun",
        &[&format!("vim -u NONE -N {}", file.display()), "Enter"],
    );
    tmux.wait_pane("fun", "vim", |t| {
        t.contains("alpha line in vim") && t.contains('~')
    });

    let mut b = Browser::open(&np.web_url(), 1100, 700);
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    wait_page_matches(&tmux, "fun", &mut b, 0);
    assert_eq!(b.eval("document.getElementById('screen').dataset.alt"), "1");

    // A new tmux window, then back.
    tmux.run(&["new-window", "-t", "fun", "env PS1='$ ' sh"]);
    tmux.send("fun", &["echo in-the-second-window", "Enter"]);
    tmux.wait_pane("fun", "the second window", |t| {
        t.contains("in-the-second-window")
    });
    wait_page_matches(&tmux, "fun", &mut b, 0);
    tmux.run(&["select-window", "-t", "fun:0"]);
    wait_page_matches(&tmux, "fun", &mut b, 0);
    assert!(page_rows(&mut b)
        .iter()
        .any(|r| r.contains("alpha line in vim")));
}

#[test]
fn the_page_says_when_the_share_has_ended() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start_web(&tmux, "fun");
    let mut b = Browser::open(&np.web_url(), 900, 500);
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    np.signal(libc::SIGTERM);
    assert!(np.wait_exit().success());
    b.wait_for(
        "the end notice",
        "document.getElementById('ended').hidden",
        |v| v == false,
    );
    let text = b.eval("document.getElementById('ended').textContent");
    assert!(
        text.as_str().unwrap().contains("The share has ended"),
        "{text}"
    );
    assert_eq!(
        b.eval("document.getElementById('state').textContent"),
        "ended"
    );
}

#[test]
fn the_page_reconnects_by_itself_and_says_so() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    let mut b = Browser::open(&np.web_url(), 900, 500);
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    // Cut the browser's connection under it, as a flaky network would (ss -K aborts the
    // browser's sockets to the viewer's port).
    let out = std::process::Command::new("ss")
        .args([
            "-K",
            "dst",
            "127.0.0.1",
            "dport",
            "=",
            &np.web_port().to_string(),
        ])
        .output()
        .expect("ss (iproute2) is needed to cut connections");
    assert!(out.status.success(), "{}", stderr(&out));
    tmux.send("fun", &["echo typed-while-away", "Enter"]);
    b.wait_for(
        "the reconnection",
        "document.getElementById('state').textContent",
        |v| v == "live (reconnected 1×)",
    );
    wait_page_matches(&tmux, "fun", &mut b, 0);
    assert!(page_rows(&mut b)
        .iter()
        .any(|r| r.contains("typed-while-away")));
}

#[test]
fn only_the_read_only_path_serves_and_every_other_path_is_the_same_404() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    let base = format!("http://127.0.0.1:{}", np.web_port());
    let (ro, rw) = (np.ro(), np.rw());
    let near_miss = format!(
        "{}{}",
        &ro[..ro.len() - 1],
        if ro.ends_with('0') { '1' } else { '0' }
    );

    let (status, head, page) = http_get(&format!("{base}/{ro}"));
    assert_eq!(status, 200);
    assert!(page.contains("app.js") && page.contains("fun"));
    for (status, head, _) in [(status, head, ()), {
        let (s, h, _) = http_get(&format!("{base}/{ro}/app.js"));
        (s, h, ())
    }] {
        assert_eq!(status, 200);
        for h in [
            "content-security-policy: default-src 'none'; script-src 'self'",
            "frame-ancestors 'none'",
            "referrer-policy: no-referrer",
            "cache-control: no-store",
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
        ] {
            assert!(head.contains(h), "missing {h:?} in {head}");
        }
    }
    let mut bodies = Vec::new();
    for path in [
        "/".to_owned(),
        format!("/{rw}"),
        format!("/{rw}/ws"),
        format!("/{near_miss}"),
        "/ro-".into(),
        format!("/{ro}/nothing"),
        format!("/{ro}x"),
    ] {
        let (status, head, body) = http_get(&format!("{base}{path}"));
        assert_eq!(status, 404, "{path}");
        assert!(head.contains("x-content-type-options: nosniff"), "{path}");
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "404 bodies differ: {bodies:?}"
    );
}

#[test]
fn an_address_guessing_web_tokens_is_locked_out_while_others_get_in() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    let port = np.web_port();
    let base = format!("http://127.0.0.1:{port}");
    for i in 0..10 {
        assert_eq!(http_get(&format!("{base}/ro-guess{i}")).0, 404);
    }
    assert_eq!(
        http_get(&format!("{base}/{}", np.ro())).0,
        404,
        "the guessing address still got in"
    );
    // From 127.0.0.2 the right path works.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut s = sock
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        let req = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            np.ro()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        tokio::time::timeout(DEADLINE, s.read_to_string(&mut resp))
            .await
            .unwrap()
            .unwrap();
        resp.split(' ').nth(1).unwrap().to_owned()
    });
    assert_eq!(status, "200");
}

/// 300 viewers from one address: more than the 256 connections from one address that may wait
/// to become viewers (`MAX_CONNECTIONS_PER_ADDR`), so a room behind one NAT is not cut off
/// there: a viewer no longer counts against that cap.
#[test]
fn three_hundred_viewers_from_one_address_all_get_the_latest_frame_in_bounded_memory() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    /// Over `MAX_CONNECTIONS_PER_ADDR` (256) in src/web/mod.rs.
    const VIEWERS: usize = 300;
    /// Generous: a viewer costs a socket, a task and WebSocket buffers, never a frame queue.
    const MAX_KIB_PER_VIEWER: u64 = 64;

    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    let ws_url = format!("{}/ws", np.web_url()).replacen("http://", "ws://", 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before = usage(np.pid()).rss_kib;

    let mut viewers = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..VIEWERS {
            let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
                .await
                .expect("connect viewer");
            // The first frame: the whole current screen.
            let first = tokio::time::timeout(DEADLINE, async {
                while let Some(Ok(Message::Text(t))) = ws.next().await {
                    if t.contains(r#""type":"frame""#) {
                        return t.to_string();
                    }
                }
                panic!("viewer closed before its first frame")
            })
            .await
            .expect("first frame");
            assert!(first.contains(r#""full":true"#));
            v.push(ws);
        }
        v
    });
    let with = usage(np.pid()).rss_kib;
    let per_viewer = with.saturating_sub(before) / VIEWERS as u64;
    eprintln!("npair RSS: {before} KiB idle, {with} KiB with {VIEWERS} viewers: {per_viewer} KiB per viewer");
    assert!(
        per_viewer <= MAX_KIB_PER_VIEWER,
        "{per_viewer} KiB per viewer"
    );

    // Output floods while viewer 0 reads nothing; then a marker. Everyone, viewer 0 included,
    // ends up with a frame that shows it.
    tmux.send("fun", &["seq 1 100000; echo VIEWERS-$((100*3))", "Enter"]);
    tmux.wait_pane("fun", "the marker", |t| t.contains("VIEWERS-300"));
    rt.block_on(async {
        for (i, ws) in viewers.iter_mut().enumerate() {
            tokio::time::timeout(DEADLINE, async {
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        if t.contains("VIEWERS-300") {
                            return;
                        }
                    }
                }
                panic!("viewer {i} closed")
            })
            .await
            .unwrap_or_else(|_| panic!("viewer {i} never saw the latest frame"));
        }
    });
    let after = usage(np.pid()).rss_kib;
    eprintln!("npair RSS after the flood: {after} KiB");
    assert!(after.saturating_sub(before) / VIEWERS as u64 <= MAX_KIB_PER_VIEWER);
}

#[test]
fn on_a_phone_the_page_fits_the_width_and_can_be_zoomed() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    tmux.send("fun", &["echo on-a-phone", "Enter"]);
    let mut b = Browser::open(&np.web_url(), 1100, 700);
    // A phone held upright: 390 CSS pixels wide.
    b.emulate_phone(390, 844);
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    b.wait_for(
        "the session",
        "document.getElementById('screen').textContent",
        |v| v.as_str().is_some_and(|t| t.contains("on-a-phone")),
    );
    // The layout is the phone's, and nothing is wider than the screen.
    let width = b.eval("window.innerWidth");
    assert_eq!(width, 390, "the page did not take the phone's width");
    let overflow = b.eval("document.documentElement.scrollWidth - window.innerWidth");
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is wider than the phone by {overflow} px"
    );
    // The whole 80-column screen is on it.
    let right = b.eval("document.getElementById('screen').getBoundingClientRect().right");
    assert!(
        right.as_f64().unwrap() <= 390.5,
        "the screen ends at {right} px"
    );
    // Pinch-zoom is not forbidden: no user-scalable=no, no maximum scale of 1.
    let meta = b.eval("document.querySelector('meta[name=viewport]').content");
    let meta = meta.as_str().unwrap().replace(' ', "");
    assert!(meta.contains("width=device-width"), "{meta}");
    assert!(
        !meta.contains("user-scalable=no") && !meta.contains("user-scalable=0"),
        "{meta}"
    );
    assert!(!meta.contains("maximum-scale=1"), "{meta}");

    // A swipe down shows earlier output; End returns.
    tmux.send("fun", &["seq 1 50", "Enter"]);
    b.wait_for(
        "the output",
        "document.getElementById('screen').textContent",
        |v| v.as_str().is_some_and(|t| t.contains("50")),
    );
    b.swipe(200.0, 300.0, 600.0);
    b.wait_for(
        "the scrolled-back view",
        "document.querySelectorAll('#history .row').length",
        |v| v.as_u64().is_some_and(|n| n > 0),
    );
    assert_eq!(mode(&mut b), "back");
    b.press("End", 35);
    assert_eq!(mode(&mut b), "live");
}

/// JavaScript: the scrolled-back view's history rows as text, trailing blanks trimmed.
const HISTORY_TEXT: &str =
    "[...document.querySelectorAll('#history .row')].map((r) => r.textContent.replace(/\\s+$/, ''))";

/// JavaScript: what the top of the view shows: its scroll position and the first row (of the
/// history or the screen) in sight.
const VIEW_TOP: &str = r#"(() => {
  const vp = document.getElementById('viewport');
  const top = vp.getBoundingClientRect().top;
  const row = [...document.querySelectorAll('#history .row, #screen .row')]
    .find((r) => r.getBoundingClientRect().bottom > top + 1);
  return [vp.scrollTop, row ? row.textContent : null];
})()"#;

/// JavaScript: where the row `1` that follows the command `seq 1 3000` is in the history, and
/// whether it is in sight.
const FIRST_LINE: &str = r#"(() => {
  const rows = [...document.querySelectorAll('#history .row')];
  const i = rows.findIndex((r, i) => r.textContent.trim() === '1' && i > 0 &&
    rows[i - 1].textContent.includes('seq 1 3000'));
  const vp = document.getElementById('viewport').getBoundingClientRect();
  const at = i >= 0 ? rows[i].getBoundingClientRect() : null;
  const h = document.getElementById('history').dataset;
  return { rows: rows.length, index: i, first: h.first, start: h.start,
    visible: !!at && at.top >= vp.top && at.bottom <= vp.bottom };
})()"#;

/// Waits until npair's control-mode client (the scrollback's source) is attached: it starts
/// once npair's own client has drawn, and hears what panes print from then on.
fn wait_scrollback_client(tmux: &Tmux) {
    wait_until("npair's control-mode client", || {
        let modes = tmux.run(&["list-clients", "-F", "#{client_control_mode}"]);
        if modes.lines().any(|m| m == "1") {
            Ok(())
        } else {
            Err(modes)
        }
    });
}

/// The browser's mode: "live" or "back".
fn mode(b: &mut Browser) -> String {
    b.eval("document.body.dataset.mode")
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn an_observer_scrolls_back_through_output_since_the_share_began_and_never_before_it() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    // Before the share: a line that scrolls into tmux's own history, the host's private past.
    tmux.send("fun", &["echo BEFORE-SHARE-$((6*7)); seq 1 60", "Enter"]);
    tmux.wait_pane("fun", "the lines before the share", |t| {
        t.contains("\n60\n")
    });
    assert!(!tmux.capture("fun").contains("BEFORE-SHARE"));
    assert!(tmux
        .run(&["capture-pane", "-p", "-S", "-", "-t", "fun"])
        .contains("BEFORE-SHARE-42"));

    let mut np = Npair::start_web(&tmux, "fun");
    wait_scrollback_client(&tmux);
    let mut b = Browser::open(&np.web_url(), 1100, 700);
    b.record_websockets();
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    // A command whose output scrolls far off the screen.
    tmux.send("fun", &["seq 1 3000; echo MARK-$((2*3))", "Enter"]);
    tmux.wait_pane("fun", "the end of the output", |t| t.contains("MARK-6"));
    wait_page_matches(&tmux, "fun", &mut b, 0);

    // PageUp, then the wheel, as a user would, until the output's first line is in sight.
    b.press("PageUp", 33);
    b.wait_for(
        "the scrolled-back view",
        "document.body.dataset.mode",
        |v| v == "back",
    );
    let mut wheels = 0;
    let found = wait_until("the output's first line, scrolling up", || {
        let v = b.eval(FIRST_LINE);
        if v["visible"] == true {
            return Ok(v);
        }
        wheels += 1;
        assert!(
            wheels < 300,
            "still not found after {wheels} turns of the wheel: {v}"
        );
        b.wheel(500.0, 400.0, -4000.0);
        Err(v.to_string())
    });
    // Everything since the share began is loaded: nothing older is kept.
    assert_eq!(found["first"], found["start"], "{found}");
    let bar = b.eval("document.getElementById('scrolled').textContent");
    let bar = bar.as_str().unwrap();
    assert!(
        bar.contains("pane %0") && bar.contains("the active pane"),
        "{bar}"
    );
    assert!(bar.contains("lines since the share began"), "{bar}");
    // The history runs on into the screen: its last row is the line above the screen's first.
    let rows: Vec<String> = serde_json::from_value(b.eval(HISTORY_TEXT)).unwrap();
    let screen_top: u32 = page_rows(&mut b)[0].parse().unwrap();
    assert_eq!(
        rows.last().map(String::as_str),
        Some(&*(screen_top - 1).to_string())
    );

    // New output goes on: the screen below follows it, and the view does not move.
    let before = b.eval(VIEW_TOP);
    tmux.send("fun", &["seq 1 200; echo AFTER-$((3*3))", "Enter"]);
    tmux.wait_pane("fun", "the new output", |t| t.contains("AFTER-9"));
    b.wait_for(
        "the new output on the live screen",
        "document.getElementById('screen').textContent",
        |v| v.as_str().is_some_and(|t| t.contains("AFTER-9")),
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(b.eval(VIEW_TOP), before, "the scrolled-back view moved");
    assert_eq!(mode(&mut b), "back");

    // Nothing from before the share, anywhere on the page or in any message it received.
    let page = b.eval("document.documentElement.textContent");
    assert!(!page.as_str().unwrap().contains("BEFORE-SHARE"));
    let messages = b.websocket_messages();
    assert!(
        messages.iter().any(|m| m.contains(r#""type":"history""#)),
        "no history message was recorded ({} messages)",
        messages.len()
    );
    for m in &messages {
        assert!(!m.contains("BEFORE-SHARE"), "a message held the past: {m}");
    }

    // End returns to the live screen.
    b.press("End", 35);
    b.wait_for("the live view", "document.body.dataset.mode", |v| {
        v == "live"
    });
    assert_eq!(b.eval("document.getElementById('history').hidden"), true);
    assert_eq!(
        b.eval("document.querySelectorAll('#history .row').length"),
        0
    );
    wait_page_matches(&tmux, "fun", &mut b, 0);

    // The wheel enters again, and the button returns.
    b.wheel(500.0, 400.0, -300.0);
    b.wait_for(
        "the scrolled-back view",
        "document.body.dataset.mode",
        |v| v == "back",
    );
    b.wait_for(
        "history rows",
        "document.querySelectorAll('#history .row').length",
        |v| v.as_u64().is_some_and(|n| n > 0),
    );
    b.eval("document.getElementById('to-live').click()");
    assert_eq!(mode(&mut b), "live");

    // The control-mode client ends with the share: no tmux client is left.
    np.signal(libc::SIGTERM);
    assert!(np.wait_exit().success());
    wait_until("no tmux client left", || {
        let clients = tmux.run(&["list-clients"]);
        if clients.trim().is_empty() {
            Ok(())
        } else {
            Err(clients)
        }
    });
}

#[test]
fn with_split_panes_the_page_scrolls_the_active_pane_and_names_it() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    // (tmux before 3.7 crashes when a pane is made while a control client is still attaching.)
    wait_scrollback_client(&tmux);
    // A second pane made during the share; it is the active one.
    tmux.run(&["split-window", "-h", "-t", "fun", "env PS1='$ ' sh"]);
    tmux.wait_pane("fun.1", "the second prompt", |t| t.contains('$'));
    tmux.send("fun.0", &["seq 1 100 | sed 's/^/LEFT-/'", "Enter"]);
    tmux.send("fun.1", &["seq 1 100 | sed 's/^/RIGHT-/'", "Enter"]);
    tmux.wait_pane("fun.0", "the left output", |t| t.contains("LEFT-100"));
    tmux.wait_pane("fun.1", "the right output", |t| t.contains("RIGHT-100"));

    let mut b = Browser::open(&np.web_url(), 1100, 700);
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    for (pane, mine, other) in [("%1", "RIGHT-", "LEFT-"), ("%0", "LEFT-", "RIGHT-")] {
        b.press("PageUp", 33);
        b.wait_for(
            &format!("pane {pane}'s history"),
            "document.getElementById('history').dataset.pane",
            |v| v == pane,
        );
        let bar = b.eval("document.getElementById('scrolled-text').textContent");
        let bar = bar.as_str().unwrap();
        assert!(
            bar.contains(&format!("pane {pane}")) && bar.contains("the active pane"),
            "{bar}"
        );
        let rows: Vec<String> = serde_json::from_value(b.eval(HISTORY_TEXT)).unwrap();
        assert!(
            rows.iter().any(|r| r == &format!("{mine}1")),
            "{pane}: {rows:?}"
        );
        assert!(
            !rows.iter().any(|r| r.contains(other)),
            "{pane} shows the other pane's lines: {rows:?}"
        );
        b.press("End", 35);
        b.wait_for("the live view", "document.body.dataset.mode", |v| {
            v == "live"
        });
        tmux.run(&["select-pane", "-t", "fun.0"]);
    }
}

/// `--no-scrollback`: no control-mode client joins the user's tmux server, and an observer who
/// scrolls up is told that scrollback is off, and why.
#[test]
fn with_no_scrollback_no_control_client_attaches_and_the_page_says_so() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &["--web", "127.0.0.1:0", "--no-scrollback"]);
    let mut b = Browser::open(&np.web_url(), 1100, 700);
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    b.press("PageUp", 33);
    let said = b.wait_for(
        "the scrollback notice",
        "document.getElementById('scrolled-text').textContent",
        |v| v.as_str().is_some_and(|t| t.contains("unavailable")),
    );
    assert!(
        said.as_str().unwrap().contains("--no-scrollback"),
        "the page does not say why: {said}"
    );
    // By now npair's own client has long drawn: a scrollback client would have followed it.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let modes = tmux.run(&["list-clients", "-F", "#{client_control_mode}"]);
    assert!(
        !modes.lines().any(|m| m.trim() == "1"),
        "a control-mode client is attached: {modes:?}"
    );
}
