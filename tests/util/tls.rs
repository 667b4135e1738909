//! Certificates made by the tests themselves, and TLS clients that say which certificate the
//! server presented: the HTTPS web viewer's tests and the web bench over TLS.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use rcgen::PublicKeyData;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A self-signed certificate and its key, for `names` (DNS names and IP addresses).
pub struct Cert {
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// base64 of the SHA-256 of its public key (SubjectPublicKeyInfo): what Chromium's
    /// `--ignore-certificate-errors-spki-list` trusts, this certificate and no other.
    pub spki_sha256: String,
}

impl Cert {
    /// For 127.0.0.1 and localhost, as the tests' shares are reached.
    pub fn loopback() -> Cert {
        Cert::new(&["127.0.0.1", "localhost"])
    }

    pub fn new(names: &[&str]) -> Cert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let made = rcgen::generate_simple_self_signed(names).expect("make a certificate");
        let spki = made.signing_key.subject_public_key_info();
        let hash = ring::digest::digest(&ring::digest::SHA256, &spki);
        Cert {
            cert_pem: made.cert.pem(),
            key_pem: made.signing_key.serialize_pem(),
            der: made.cert.der().to_vec(),
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(hash.as_ref()),
        }
    }

    /// Writes `cert.pem` and `key.pem` in `dir` (over any there): their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }

    /// The Chromium flag that trusts this certificate's key, and no other certificate.
    pub fn chromium_flag(&self) -> String {
        format!("--ignore-certificate-errors-spki-list={}", self.spki_sha256)
    }
}

/// Accepts any certificate and keeps the one presented: a test compares it with the one it
/// wrote, which says more than a chain check would.
#[derive(Debug)]
struct Keep {
    seen: Mutex<Option<Vec<u8>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Keep {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn keeper() -> Arc<Keep> {
    Arc::new(Keep {
        seen: Mutex::new(None),
        provider: Arc::new(rustls::crypto::ring::default_provider()),
    })
}

/// A client configuration that accepts any certificate into `keep`, offering HTTP/1.1.
fn client_config(keep: &Arc<Keep>) -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&keep.provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(keep) as _)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TLS connection to `127.0.0.1:port`, and the certificate the server presented (DER).
pub async fn connect(port: u16) -> std::io::Result<(TlsStream<TcpStream>, Vec<u8>)> {
    handshake(TcpStream::connect(("127.0.0.1", port)).await?).await
}

/// The TLS handshake on a connected socket, and the certificate the server presented (DER).
pub async fn handshake(tcp: TcpStream) -> std::io::Result<(TlsStream<TcpStream>, Vec<u8>)> {
    let keep = keeper();
    let name = ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(client_config(&keep))
        .connect(name, tcp)
        .await?;
    let cert = keep.seen.lock().unwrap().take().unwrap_or_default();
    Ok((stream, cert))
}

/// The bytes of a real ClientHello, as a browser's first flight: for tests that send it and
/// then stall, or send it slowly.
pub fn client_hello() -> Vec<u8> {
    let keep = keeper();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(client_config(&keep), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// An HTTPS GET of `path` on `127.0.0.1:port` with `Host: host`:
/// (status, headers lowercased, body).
pub async fn get(port: u16, path: &str, host: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut s, _) = connect(port).await.expect("a TLS connection");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    // The server may close without close_notify after its answer: what came is the answer.
    let _ = s.read_to_end(&mut resp).await;
    let resp = String::from_utf8_lossy(&resp);
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_owned())
}
