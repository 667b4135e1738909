//! HTTPS for the web viewer, when the host gives a certificate (`--tls-cert`, `--tls-key`).
//!
//! The contract:
//! - The port speaks HTTPS only. A connection whose first byte is not a TLS handshake record
//!   gets a one-line HTTP 400 naming the https:// address, never the page ([`Tls::accept`]).
//! - The handshake has [`HEADER_READ_TIMEOUT`], as a plain request's headers do, and the
//!   connection holds its place under the same admission caps meanwhile (the caller's ticket):
//!   a stalled or trickled handshake is closed like a slowloris request.
//! - The certificate is read at the start, and again when its files change ([`cert`]).
//! - Once a viewer's WebSocket is open, its outlet drives the TLS connection itself
//!   ([`link`]), so the fan-out still encodes each frame once and writes without waiting.
//! - `Strict-Transport-Security` goes only with pages asked for by a DNS name ([`hsts`]).

pub mod cert;
pub mod link;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::http::{header, HeaderValue, Request};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use cert::Reloading;
pub use cert::TlsFiles;
use link::Link;

use super::HEADER_READ_TIMEOUT;

/// The first byte of a TLS record carrying a handshake message (a ClientHello, first).
const TLS_HANDSHAKE: u8 = 0x16;
/// Bytes of a plain-HTTP request read at most before it is answered: enough for its headers,
/// whose Host names the address to suggest.
const PLAIN_REQUEST_MAX: usize = 8 * 1024;
/// How long the closed plain-HTTP connection is read from after the answer, so that the
/// client reads the answer rather than a reset (unread bytes at close make the kernel reset).
const PLAIN_LINGER: Duration = Duration::from_secs(1);
/// HSTS's lifetime: long enough to cover the reloads of a share in progress, short enough
/// that other plain-HTTP services on the same name (HSTS covers every port of a name) are
/// back within minutes of the share.
const HSTS: &str = "max-age=300";

/// The web viewer's TLS side: the certificate and the handshake.
pub struct Tls {
    acceptor: TlsAcceptor,
    certificate: Arc<Reloading>,
}

impl Tls {
    /// Reads the certificate and key: an error names the file, and stops the share before
    /// anything is served.
    pub fn load(files: &TlsFiles) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certificate = Arc::new(Reloading::new(files.clone(), Arc::clone(&provider))?);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certificate) as _);
        // The server speaks HTTP/1.1 only (the WebSocket upgrade is an HTTP/1.1 request).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate,
        })
    }

    /// The host to print in the viewer's URL for `banner`: see [`cert::url_host`].
    pub fn url_host(&self, banner: &str) -> String {
        cert::url_host(&self.certificate.latest(), banner)
    }

    /// Where renewals of the certificate are told to the host.
    pub fn tell(&self, notices: mpsc::Sender<String>) {
        self.certificate.tell(notices);
    }

    /// The TLS stream of a new connection, once its handshake is done; `None` when it was
    /// plain HTTP (answered, and closed), garbage, or too slow.
    pub async fn accept(&self, tcp: TcpStream) -> Option<TlsStream<TcpStream>> {
        let handshake = async {
            let mut first = [0u8; 1];
            if tcp.peek(&mut first).await.ok()? == 0 {
                return None;
            }
            if first[0] != TLS_HANDSHAKE {
                answer_plain(tcp).await;
                return None;
            }
            self.acceptor.accept(tcp).await.ok()
        };
        tokio::time::timeout(HEADER_READ_TIMEOUT, handshake)
            .await
            .ok()
            .flatten()
    }
}

/// Answers a plain-HTTP request on the HTTPS port with one line that says where to go, and
/// closes. The page is never served in the clear, and the token's path is checked only over
/// TLS, so this answer is the same whatever was asked.
async fn answer_plain(mut tcp: TcpStream) {
    let mut req = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while req.len() < PLAIN_REQUEST_MAX && !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let fallback = tcp
        .local_addr()
        .map_or_else(|_| String::new(), |a| a.to_string());
    let (host, path) = asked(&req);
    let url = format!(
        "https://{}{}",
        host.unwrap_or(&fallback),
        path.unwrap_or("/")
    );
    let body = format!("this port speaks HTTPS: open {url}\n");
    let resp = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    if tcp.write_all(resp.as_bytes()).await.is_err() || tcp.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(PLAIN_LINGER, async {
        while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// The Host header and path of a plain request, when they are plain enough to echo: the
/// answer is text, but nothing the client sent goes back unless it is an address or a path.
fn asked(req: &[u8]) -> (Option<&str>, Option<&str>) {
    let text = std::str::from_utf8(req).unwrap_or("");
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .filter(|p| p.starts_with('/') && safe(p, "/-._~"));
    let host = lines
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("host").then(|| value.trim())
        })
        .filter(|h| !h.is_empty() && safe(h, ".-:[]"));
    (host, path)
}

fn safe(s: &str, extra: &str) -> bool {
    s.len() <= 512
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Whether a response to `req` carries `Strict-Transport-Security`: only when the page was
/// asked for by a DNS name. HSTS makes a browser refuse plain HTTP to that name on every
/// port, so it is never sent for an IP address (browsers would ignore it there anyway),
/// `localhost` or an mDNS `.local` name: those are where a LAN's other plain-HTTP services
/// live, and one share must not lock them into HTTPS. What is left are names a certificate
/// was issued for (`tailscale cert`, certbot, a company CA), and the lifetime ([`HSTS`]) is
/// minutes.
pub fn hsts<B>(req: &Request<B>) -> Option<HeaderValue> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())?;
    let name = match host.rsplit_once(':') {
        // An IPv6 literal is bracketed; anything else before a colon is a name or IPv4.
        _ if host.starts_with('[') => return None,
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let local = name == "localhost" || name.ends_with(".localhost") || name.ends_with(".local");
    let is_name = !local
        && name.parse::<std::net::IpAddr>().is_err()
        && name.bytes().any(|b| b.is_ascii_alphabetic());
    is_name.then(|| HeaderValue::from_static(HSTS))
}

/// A viewer's socket, taken back from the HTTP server at the WebSocket upgrade.
pub struct Reclaimed {
    pub stream: TcpStream,
    /// Its TLS connection, over HTTPS.
    pub link: Option<Link>,
    /// Bytes (plaintext) the HTTP server read past the upgrade request.
    pub read: Vec<u8>,
}

/// Takes the socket (and its TLS connection) back from an upgraded HTTP connection.
pub fn reclaim(upgraded: Upgraded) -> Option<Reclaimed> {
    // A copy of the few bytes read past the request, so that the HTTP server's read buffer
    // (8 KiB, which they are a slice of) is freed now, not when the viewer leaves.
    let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            return Some(Reclaimed {
                read: parts.read_buf.to_vec(),
                stream: parts.io.into_inner(),
                link: None,
            })
        }
        Err(upgraded) => upgraded,
    };
    let parts = upgraded.downcast::<TokioIo<TlsStream<TcpStream>>>().ok()?;
    let (stream, conn) = parts.io.into_inner().into_inner();
    Some(Reclaimed {
        read: parts.read_buf.to_vec(),
        stream,
        link: Some(Link::new(conn)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_request_is_answered_with_its_host_and_path_only_when_they_are_plain() {
        let req = b"GET /ro-abc HTTP/1.1\r\nHost: laptop.local:8022\r\n\r\n";
        assert_eq!(asked(req), (Some("laptop.local:8022"), Some("/ro-abc")));
        let req = b"GET /<script> HTTP/1.1\r\nHost: a\"b\r\n\r\n";
        assert_eq!(asked(req), (None, None));
        assert_eq!(asked(b"\x00\x01garbage"), (None, None));
    }

    #[test]
    fn hsts_only_for_names_never_for_addresses() {
        let with_host = |h: &str| {
            Request::builder()
                .uri("/x")
                .header(header::HOST, h)
                .body(())
                .unwrap()
        };
        for name in [
            "laptop.tail1234.ts.net",
            "jump.example.com:8022",
            "Pair.Example.COM.",
        ] {
            assert!(hsts(&with_host(name)).is_some(), "{name}");
        }
        for addr in [
            "192.168.1.20:8022",
            "192.168.1.20",
            "[::1]:8022",
            "[fe80::1]",
            "localhost:8022",
            "laptop.local:8022",
            "",
        ] {
            assert!(hsts(&with_host(addr)).is_none(), "{addr}");
        }
    }
}
