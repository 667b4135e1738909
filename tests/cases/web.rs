//! The read-only web viewer, in a real browser (headless Chromium) and over plain HTTP.

use serde_json::Value;

use crate::util::browser::{Browser, PAGE_CELLS, PAGE_TEXT};
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

/// The CSS colour the page should compute for a cell colour (xterm's palette, as app.js).
fn css_rgb(c: vt100::Color) -> Option<String> {
    let (r, g, b) = match c {
        vt100::Color::Default => return None,
        vt100::Color::Rgb(r, g, b) => (r, g, b),
        vt100::Color::Idx(i) => {
            const BASE: [(u8, u8, u8); 16] = [
                (0, 0, 0),
                (205, 0, 0),
                (0, 205, 0),
                (205, 205, 0),
                (0, 0, 238),
                (205, 0, 205),
                (0, 205, 205),
                (229, 229, 229),
                (127, 127, 127),
                (255, 0, 0),
                (0, 255, 0),
                (255, 255, 0),
                (92, 92, 255),
                (255, 0, 255),
                (0, 255, 255),
                (255, 255, 255),
            ];
            const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
            match i {
                0..=15 => BASE[i as usize],
                16..=231 => {
                    let n = i - 16;
                    (
                        STEPS[(n / 36) as usize],
                        STEPS[(n / 6 % 6) as usize],
                        STEPS[(n % 6) as usize],
                    )
                }
                _ => {
                    let v = 8 + (i - 232) * 10;
                    (v, v, v)
                }
            }
        }
    };
    Some(format!("rgb({r}, {g}, {b})"))
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
    assert_eq!(
        b.eval("document.getElementById('session').textContent"),
        "fun"
    );
    assert_eq!(
        b.eval("document.getElementById('size').textContent"),
        "80×24"
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
            if let Some(fg) = css_rgb(cell.fgcolor()) {
                assert_eq!(
                    page[1],
                    Value::from(fg),
                    "colour of {:?} at {r},{c}",
                    cell.contents()
                );
                compared += 1;
            }
            if let Some(bg) = css_rgb(cell.bgcolor()) {
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

#[test]
fn two_hundred_viewers_all_get_the_latest_frame_in_bounded_memory() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    const VIEWERS: usize = 200;
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
    tmux.send("fun", &["seq 1 100000; echo VIEWERS-$((100*2))", "Enter"]);
    tmux.wait_pane("fun", "the marker", |t| t.contains("VIEWERS-200"));
    rt.block_on(async {
        for (i, ws) in viewers.iter_mut().enumerate() {
            tokio::time::timeout(DEADLINE, async {
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        if t.contains("VIEWERS-200") {
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
}
