//! The web viewer over HTTPS (`--tls-cert`, `--tls-key`), with certificates the tests make:
//! a real Chromium that trusts the certificate by its public key only, plain HTTP on the
//! HTTPS port, certificates that cannot be served, hostile handshakes, and a renewal.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::browser::{Browser, PAGE_TEXT};
use crate::util::tls::{self, Cert};
use crate::util::*;

/// `npair share fun --headless --json --web 127.0.0.1:0 --tls-cert CERT --tls-key KEY`.
fn start_https(tmux: &Tmux, cert: &Path, key: &Path) -> Npair {
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    Npair::start(
        tmux,
        "fun",
        &["--web", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key],
    )
}

/// What `npair share fun --headless ARGS` prints as its banner (up to the host key's line).
fn banner(tmux: &Tmux, args: &[&str]) -> String {
    let mut all = vec!["fun", "--headless"];
    all.extend_from_slice(args);
    let mut child = Npair::command(tmux, &all)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
            if line.contains("host key") {
                break;
            }
        }
        let _ = tx.send(text);
    });
    let text = rx.recv_timeout(DEADLINE).expect("the banner");
    let _ = child.kill();
    let _ = child.wait();
    text
}

fn runtime() -> tokio::runtime::Runtime {
    crate::util::client::runtime(1)
}

/// Connects a viewer over wss and waits until a frame shows `marker` (typed in the session
/// by `type_it` once the viewer is in).
async fn viewer_sees(port: u16, ro: &str, tmux: &Tmux, marker: &str) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (stream, _) = tls::connect(port).await.expect("a TLS connection");
    let url = format!("wss://127.0.0.1:{port}/{ro}/ws");
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .expect("the WebSocket over TLS");
    tmux.send(
        "fun",
        &[
            &format!("echo {}", marker.replace('4', "$((2*2))")),
            "Enter",
        ],
    );
    tokio::time::timeout(DEADLINE, async {
        while let Some(Ok(m)) = ws.next().await {
            if matches!(&m, Message::Text(t) if t.contains(marker)) {
                return;
            }
        }
        panic!("the viewer's WebSocket closed before {marker}");
    })
    .await
    .unwrap_or_else(|_| panic!("the viewer never saw {marker}"));
}

#[test]
fn over_https_the_page_shows_the_session_through_wss_and_every_login_says_https() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let cert = Cert::loopback();
    let (c, k) = cert.write(tmux.path());
    let np = start_https(&tmux, &c, &k);
    let url = np.web_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // Chromium trusts this certificate's key, and nothing else: no blanket override.
    let mut b = Browser::open_with(&url, 1100, 700, &[cert.chromium_flag()]);
    b.record_websockets();
    b.reload();
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    assert_eq!(b.eval("location.protocol"), "https:");
    let sockets = b.websocket_urls();
    assert!(
        !sockets.is_empty() && sockets.iter().all(|u| u.starts_with("wss://")),
        "{sockets:?}"
    );
    tmux.send("fun", &["echo over-tls-$((6*7))", "Enter"]);
    b.wait_for("the marker", PAGE_TEXT, |v| {
        v.to_string().contains("over-tls-42")
    });

    // The security headers over HTTPS; HSTS only for a name, never an address.
    let rt = runtime();
    let port = np.web_port();
    let page = format!("/{}", np.ro());
    let (status, head, _) = rt.block_on(tls::get(port, &page, &format!("127.0.0.1:{port}")));
    assert_eq!(status, 200);
    for h in [
        "content-security-policy: default-src 'none'",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
    ] {
        assert!(head.contains(h), "missing {h:?} in {head}");
    }
    assert!(!head.contains("strict-transport-security"), "{head}");
    let (_, head, _) = rt.block_on(tls::get(port, &page, "pair.example.com"));
    assert!(
        head.contains("strict-transport-security: max-age=300"),
        "{head}"
    );

    // npair status, in words and in JSON, gives the https:// URL.
    let status = tmux.npair_ok(&["status"]);
    assert!(status.contains(&url), "{status}");
    let json: serde_json::Value =
        serde_json::from_str(&tmux.npair_ok(&["status", "--json"])).unwrap();
    assert_eq!(
        json["logins"]["web_url"].as_str(),
        Some(url.as_str()),
        "{json}"
    );
    drop(np);

    // The banner: https:// with a certificate; without one, the page is said to be clear.
    let (c, k) = (c.to_str().unwrap(), k.to_str().unwrap());
    let https = banner(
        &tmux,
        &["--web", "127.0.0.1:0", "--tls-cert", c, "--tls-key", k],
    );
    let line = https
        .lines()
        .find(|l| l.contains("web (read-only)"))
        .unwrap();
    assert!(line.contains("https://127.0.0.1:"), "{https}");
    assert!(!line.contains("unencrypted"), "{https}");
    let plain = banner(&tmux, &["--web", "127.0.0.1:0"]);
    let line = plain
        .lines()
        .find(|l| l.contains("web (read-only)"))
        .unwrap();
    assert!(
        line.contains("http://127.0.0.1:")
            && line.contains("(unencrypted: --tls-cert/--tls-key for HTTPS)"),
        "{plain}"
    );
}

#[test]
fn plain_http_on_the_https_port_gets_a_one_line_answer_and_never_the_page() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let (c, k) = Cert::loopback().write(tmux.path());
    let np = start_https(&tmux, &c, &k);
    let port = np.web_port();
    for path in [format!("/{}", np.ro()), format!("/{}/app.js", np.ro())] {
        let (status, head, body) = http_get(&format!("http://127.0.0.1:{port}{path}"));
        assert_eq!(status, 400, "{path}: {head}{body}");
        assert_eq!(
            body,
            format!("this port speaks HTTPS: open https://127.0.0.1:{port}{path}\n")
        );
        assert!(head.contains("connection: close"), "{head}");
    }
    // Not HTTP at all: the same short answer, and the connection is closed.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"\x00\x01 not a request\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    assert!(
        !resp.contains("<html") && !resp.contains("app.js"),
        "{resp}"
    );
    // And HTTPS still serves the page.
    let (status, _, body) =
        runtime().block_on(tls::get(port, &format!("/{}", np.ro()), "127.0.0.1"));
    assert_eq!(status, 200);
    assert!(body.contains("app.js"));
}

#[test]
fn a_wrong_missing_or_garbage_certificate_or_key_stops_npair_at_start_naming_the_file() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let dir = tmux.path();
    let (cert, key) = Cert::loopback().write(dir);
    let other_key = dir.join("other-key.pem");
    std::fs::write(&other_key, Cert::loopback().key_pem).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n",
    )
    .unwrap();
    let missing = dir.join("missing.pem");
    for (c, k, named) in [
        (&cert, &other_key, &other_key),
        (&missing, &key, &missing),
        (&cert, &missing, &missing),
        (&garbage, &key, &garbage),
        (&cert, &garbage, &garbage),
    ] {
        let (cs, ks) = (c.to_str().unwrap(), k.to_str().unwrap());
        let out = run_npair(Npair::command(
            &tmux,
            &[
                "fun",
                "--headless",
                "--json",
                "--web",
                "127.0.0.1:0",
                "--tls-cert",
                cs,
                "--tls-key",
                ks,
            ],
        ));
        assert_eq!(out.status.code(), Some(1), "{cs} {ks}: {}", stderr(&out));
        assert_stderr_has(&out, &named.display().to_string());
        // Nothing was printed, so nothing was served: the logins come once all listens.
        assert_eq!(stdout(&out), "", "{cs} {ks}");
    }
    // No share is left running.
    let out = tmux.npair(&["status"]);
    assert!(!out.status.success(), "{}", stdout(&out));
}

/// Whether the server closed `s` before `by` (an end of stream or a reset; not a timeout).
fn closed_by(s: &mut TcpStream, by: Instant) -> Result<(), String> {
    let left = by.saturating_duration_since(Instant::now());
    s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .unwrap();
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(format!("still open ({e}) after {} bytes", rest.len())),
    }
}

/// Sends `hello` a byte every 100 ms (a slowloris handshake) until the server closes the
/// connection; the time it took, or `None` if it was still open at the deadline.
fn trickle(port: u16, hello: Vec<u8>) -> Option<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut bytes = hello.into_iter();
    let mut buf = [0u8; 4096];
    while start.elapsed() < DEADLINE {
        if let Some(b) = bytes.next() {
            if s.write_all(&[b]).is_err() {
                return Some(start.elapsed());
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// From `from` (a loopback address), a connection to the viewer's port.
fn connect_from(from: &str, port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: std::net::SocketAddr = format!("{from}:0").parse().unwrap();
    sock.bind(&from.into()).unwrap();
    let to: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    sock.connect(&to.into()).unwrap();
    sock.into()
}

/// Garbage, a ClientHello that stalls, a handshake sent a byte at a time and a thousand
/// half-open handshakes are each closed within the handshake's bound (the header timeout,
/// 10 s; asserted against the test deadline, 20 s), the flood from one address pushing out
/// its own oldest as plain connections do; and a real viewer gets in meanwhile.
#[test]
fn garbage_stalled_and_slow_handshakes_are_closed_in_time_while_a_viewer_gets_in() {
    const FLOOD: usize = 1000;
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let (c, k) = Cert::loopback().write(tmux.path());
    let np = start_https(&tmux, &c, &k);
    let port = np.web_port();
    let start = Instant::now();
    let by = start + DEADLINE;
    let hello = tls::client_hello();

    // A TLS record header, then garbage where the ClientHello should be.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage
        .write_all(b"\x16\x03\x01\x00\x08\x01garbage!")
        .unwrap();
    // A real ClientHello, and then nothing.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled.write_all(&hello).unwrap();
    // A ClientHello sent a byte every 100 ms: longer than the bound to send whole.
    assert!(hello.len() > 150, "a short ClientHello: {}", hello.len());
    let slow = std::thread::spawn({
        let hello = hello.clone();
        move || trickle(port, hello)
    });
    // From another address, a thousand handshakes cut in half: past the 256 connections one
    // address may hold open, each newcomer pushes out that address's oldest.
    let half = &hello[..hello.len() / 2];
    let mut flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| {
            let mut s = connect_from("127.0.0.3", port);
            let _ = s.write_all(half);
            s
        })
        .collect();

    // A real viewer, from the same address as the stalled ones, gets in and sees the session.
    runtime().block_on(viewer_sees(port, &np.ro(), &tmux, "in-despite-42"));
    assert!(
        closed_by(&mut flood[0], Instant::now() + Duration::from_secs(5)).is_ok(),
        "the flood's oldest handshake was not pushed out by its newest"
    );

    closed_by(&mut garbage, by).expect("the garbage handshake");
    closed_by(&mut stalled, by).expect("the stalled ClientHello");
    let slow = slow.join().unwrap();
    assert!(
        slow.is_some(),
        "the slow handshake was still open at the deadline"
    );
    for (i, s) in flood.iter_mut().enumerate() {
        closed_by(s, by).unwrap_or_else(|e| panic!("half-open handshake {i}: {e}"));
    }
    assert!(!np.stderr().contains("panicked"), "{}", np.stderr());
}

#[test]
fn a_renewed_certificate_is_served_to_the_next_connection_without_a_restart() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let first = Cert::loopback();
    let (c, k) = first.write(tmux.path());
    let mut np = start_https(&tmux, &c, &k);
    let port = np.web_port();
    let rt = runtime();
    let served = || rt.block_on(tls::connect(port)).expect("a TLS connection").1;
    assert_eq!(served(), first.der, "the first certificate");

    // The renewal is written over the files, as certbot or `tailscale cert` would.
    let renewed = Cert::loopback();
    renewed.write(tmux.path());
    wait_until("the renewed certificate to be served", || {
        let now = served();
        if now == renewed.der {
            Ok(())
        } else if now == first.der {
            Err("still the first certificate".to_owned())
        } else {
            Err("an unknown certificate".to_owned())
        }
    });
    np.wait_stderr("web certificate renewed");
    rt.block_on(viewer_sees(port, &np.ro(), &tmux, "renewed-42"));

    // A renewal that cannot be used keeps the one served, and the host is told. The files are
    // looked at when a connection comes, so connections come until it is told.
    std::fs::write(&c, "not a certificate\n").unwrap();
    wait_until("the host to be told of the failed renewal", || {
        assert_eq!(
            served(),
            renewed.der,
            "a certificate other than the last good one"
        );
        let said = np.stderr();
        if said.contains("the renewed web certificate cannot be used") {
            Ok(())
        } else {
            Err(said)
        }
    });
    assert!(np.running());
}
