//! The outlet with real sockets: a viewer that stops reading, over plain TCP and over TLS.

use super::*;
use futures_util::StreamExt;
use tokio::net::TcpListener;

fn frame(seq: u64, pad: usize) -> Arc<Frame> {
    let body = |kind: &str| format!("{kind}{seq} {}", "x".repeat(pad));
    Arc::new(Frame {
        seq,
        delta: Wire::text(body("D")),
        full: Wire::text(body("F")),
    })
}

/// A connected pair on loopback with small socket buffers: the viewer's end, which reads
/// as a browser's WebSocket would, and the server's.
async fn pair() -> (TcpStream, Arc<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let viewer = tokio::net::TcpSocket::new_v4().unwrap();
    viewer.set_recv_buffer_size(4096).unwrap();
    let viewer = viewer
        .connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    socket2::SockRef::from(&server)
        .set_send_buffer_size(4096)
        .unwrap();
    (viewer, Arc::new(server))
}

const FRAMES: u64 = 200;
const PAD: usize = 10_000;

#[tokio::test]
async fn a_viewer_that_stops_reading_holds_one_frame_and_then_gets_the_latest_whole() {
    let (viewer, server) = pair().await;
    stall_then_read(viewer, server, None).await;
}

#[tokio::test]
async fn over_tls_a_viewer_that_stops_reading_holds_one_frame_and_then_gets_the_latest_whole() {
    let (viewer, server) = pair().await;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server = Arc::into_inner(server).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let (viewer, server) = tokio::join!(
        tokio_rustls::TlsConnector::from(Arc::new(client_config)).connect(name, viewer),
        tokio_rustls::TlsAcceptor::from(Arc::new(server_config)).accept(server),
    );
    let (server, conn) = server.unwrap().into_inner();
    stall_then_read(viewer.unwrap(), Arc::new(server), Some(Link::new(conn))).await;
}

/// Offers 200 frames of 10 KB to a viewer that reads nothing (far more than the sockets'
/// buffers hold), checks that the outlet holds one frame at most, then lets the viewer read:
/// the frame cut off, then the latest, whole.
async fn stall_then_read<V>(viewer: V, server: Arc<TcpStream>, tls: Option<Link>)
where
    V: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = watch::channel(frame(1, PAD));
    let outlet = Arc::new(Outlet::new(server, tls, rx, None));
    outlet.seat(true);
    for seq in 2..=FRAMES {
        let f = frame(seq, PAD);
        tx.send_replace(Arc::clone(&f));
        outlet.offer(&f);
        let s = outlet.state.lock();
        let held: usize = s.backlog.iter().map(Bytes::len).sum();
        assert!(
            s.backlog.len() <= 1 && held <= PAD + 100,
            "a stalled viewer holds {} messages, {held} bytes",
            s.backlog.len()
        );
    }
    assert!(
        outlet.state.lock().pending(),
        "the sockets took every frame: the test never stalled the viewer"
    );
    // Now it reads again: the frame cut off, then the latest, whole.
    let reader = tokio::spawn(async move {
        let mut ws =
            tokio_tungstenite::WebSocketStream::from_raw_socket(viewer, Role::Client, None).await;
        let mut got = Vec::new();
        while let Some(Ok(Message::Text(t))) = ws.next().await {
            let head = t.split(' ').next().unwrap().to_owned();
            let done = head == format!("F{FRAMES}") || head == format!("D{FRAMES}");
            got.push(head);
            if done {
                break;
            }
        }
        got
    });
    let drained = tokio::time::timeout(std::time::Duration::from_secs(10), outlet.drain());
    assert!(
        drained.await.expect("the backlog drains"),
        "the socket broke"
    );
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
        .await
        .expect("the viewer reads to the latest frame")
        .unwrap();
    // Every message whole and in order; a delta only ever follows the frame before it.
    let seqs: Vec<u64> = got.iter().map(|h| h[1..].parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    for (i, h) in got.iter().enumerate().skip(1) {
        if h.starts_with('D') {
            assert_eq!(seqs[i - 1] + 1, seqs[i], "a delta after a gap: {got:?}");
        }
    }
    assert_eq!(
        got.last().map(String::as_str),
        Some(format!("F{FRAMES}").as_str()),
        "{got:?}"
    );
    // The frames offered while it was stalled were skipped, not queued (over TLS, where the
    // bytes held are inside rustls, this is what says so).
    assert!(
        got.len() < 10,
        "{} frames reached a stalled viewer",
        got.len()
    );
}
