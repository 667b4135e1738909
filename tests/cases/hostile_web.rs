//! What a hostile HTTP client can send to the web viewer: huge headers, headers sent a byte at
//! a time (slowloris), thousands of WebSocket messages. npair keeps serving everyone else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::util::*;

/// The status of a plain GET of `path`, or `None` when the server closed without answering.
fn status_of(port: u16, request: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_write_timeout(Some(DEADLINE)).unwrap();
    let _ = s.write_all(request);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    resp.split(' ').nth(1).and_then(|c| c.parse().ok())
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").into_bytes()
}

#[test]
fn huge_and_slow_headers_and_message_floods_do_not_stop_the_viewer() {
    const SLOW: usize = 200;
    const WS_MESSAGES: usize = 5_000;
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start_web(&tmux, "fun");
    let (port, page) = (np.web_port(), format!("/{}", np.ro()));
    assert_eq!(status_of(port, &get(&page)), Some(200));

    // Huge headers: one 1 MiB header, and 10,000 small ones. Refused (or cut), never served.
    let big = format!(
        "GET {page} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let code = status_of(port, big.as_bytes());
    assert!(code.is_none_or(|c| c >= 400), "a 1 MiB header got {code:?}");
    let mut many = format!("GET {page} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..10_000 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("Connection: close\r\n\r\n");
    let code = status_of(port, many.as_bytes());
    assert!(code.is_none_or(|c| c >= 400), "10,000 headers got {code:?}");

    // Slowloris: connections that send half a request line and then wait.
    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = s.write_all(format!("GET {page} HTTP/1.1\r\nHost: 12").as_bytes());
            s
        })
        .collect();
    assert_eq!(
        status_of(port, &get(&page)),
        Some(200),
        "the page while {SLOW} slow clients wait"
    );

    // A viewer that sends thousands of messages, and one that only watches.
    let ws_url = format!("ws://127.0.0.1:{port}{page}/ws");
    let rt = crate::util::client::runtime(1);
    rt.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (mut noisy, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .unwrap();
        let (mut quiet, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .unwrap();
        for i in 0..WS_MESSAGES {
            let msg = if i % 2 == 0 {
                Message::Text(format!("noise {i}").into())
            } else {
                Message::Binary(vec![0u8; 1024].into())
            };
            if noisy.send(msg).await.is_err() {
                break;
            }
        }
        tmux.send("fun", &["echo WEB-$((6*7))", "Enter"]);
        tokio::time::timeout(DEADLINE, async {
            while let Some(Ok(m)) = quiet.next().await {
                if let Message::Text(t) = m {
                    if t.contains("WEB-42") {
                        return;
                    }
                }
            }
            panic!("the quiet viewer was closed");
        })
        .await
        .expect("the quiet viewer never saw the marker");
        // An oversized message ends only the viewer that sent it.
        let _ = noisy
            .send(Message::Binary(vec![0u8; 1024 * 1024].into()))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = noisy.next().await {}
        })
        .await;
    });

    // SSH guests are served throughout.
    let mut guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("WEB-42");
    guest.type_str("echo still-$((2*21))\r");
    guest.wait_text("still-42");
    assert_eq!(status_of(port, &get(&page)), Some(200));
    assert!(np.running());

    // The slow clients do not hold their descriptors for good: npair closes them once the
    // header timeout (10 s) has passed, well within the deadline (20 s).
    for mut s in slow {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut rest = Vec::new();
        let r = s.read_to_end(&mut rest);
        assert!(
            r.is_ok(),
            "a slowloris connection was still open after {DEADLINE:?}: {r:?}"
        );
    }
}
