//! The web viewer's certificate and key: read from the host's PEM files at the start (any
//! fault there is an error that names the file), and read again when the files change, so a
//! renewal (certbot, `tailscale cert`, a cron job) is served without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Result};
use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::mpsc;

/// The files named by `--tls-cert` and `--tls-key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How often the files are looked at, at most: a stat of two files per second costs nothing,
/// and a renewal is served within a second of being written.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies one version of a file: a renewal changes its time, and often its size or
/// inode (certbot points a symlink at a new file). `None` when it cannot be read.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Reads the certificate chain and key, and checks that the key is the certificate's.
pub fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let cert = files.cert.display();
    let key_file = files.key.display();
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(|e| anyhow!("cannot read the {what} {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_slice_iter(&read(&files.cert, "TLS certificate")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{cert} is not a PEM certificate ({e})"))?;
    if certs.is_empty() {
        bail!(
            "{cert} holds no certificate (expected PEM, \"-----BEGIN CERTIFICATE-----\"); \
             give the certificate with --tls-cert and its key with --tls-key"
        );
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key, "TLS key")?).map_err(|e| {
        anyhow!(
            "{key_file} holds no private key ({e}; expected PEM, \"-----BEGIN PRIVATE KEY-----\")"
        )
    })?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => anyhow!(
            "{key_file} is not the private key of the certificate in {cert}; \
             give the key that was made with that certificate"
        ),
        e => anyhow!("cannot use the certificate {cert} with the key {key_file}: {e}"),
    })
}

/// The host to print in the viewer's URL: `banner` (the address npair found, or was given)
/// when the certificate is for it, else the certificate's first DNS name that is not a
/// wildcard (`tailscale cert` and certbot issue names, never addresses: a URL with the address
/// would fail in every browser), else `banner` all the same.
pub fn url_host(key: &CertifiedKey, banner: &str) -> String {
    use rustls::pki_types::ServerName;
    let Some(cert) = key
        .end_entity_cert()
        .ok()
        .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
    else {
        return banner.to_owned();
    };
    let named = ServerName::try_from(banner)
        .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok());
    if named {
        return banner.to_owned();
    }
    let first = cert.valid_dns_names().find(|n| !n.starts_with('*'));
    first.unwrap_or(banner).to_owned()
}

/// Serves the certificate the files hold now: at a new connection, at most once a
/// [`RELOAD_CHECK_INTERVAL`], the files are looked at, and read again when they changed. A
/// renewal that cannot be used keeps the certificate served before, and the host is told.
#[derive(Debug)]
pub struct Reloading {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
    /// The host's notices, once the share has them (the certificate is read before).
    notices: OnceLock<mpsc::Sender<String>>,
}

#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    /// The files' versions last read (or tried), so that a bad renewal is tried once.
    stamps: (Stamp, Stamp),
    checked: Instant,
}

impl Reloading {
    /// Reads the files now: an error here stops the share before anything is served.
    pub fn new(files: TlsFiles, provider: Arc<CryptoProvider>) -> Result<Reloading> {
        let stamps = (stamp(&files.cert), stamp(&files.key));
        let key = Arc::new(load(&files, &provider)?);
        Ok(Reloading {
            files,
            provider,
            current: Mutex::new(Current {
                key,
                stamps,
                checked: Instant::now(),
            }),
            notices: OnceLock::new(),
        })
    }

    /// Where to tell the host about renewals from now on.
    pub fn tell(&self, notices: mpsc::Sender<String>) {
        let _ = self.notices.set(notices);
    }

    fn notice(&self, msg: String) {
        match self.notices.get() {
            Some(tx) => {
                let _ = tx.try_send(msg);
            }
            None => eprintln!("npair: {msg}"),
        }
    }

    /// The certificate to serve, read again first if the files changed.
    pub fn latest(&self) -> Arc<CertifiedKey> {
        let mut cur = self.current.lock();
        if cur.checked.elapsed() < RELOAD_CHECK_INTERVAL {
            return Arc::clone(&cur.key);
        }
        cur.checked = Instant::now();
        let stamps = (stamp(&self.files.cert), stamp(&self.files.key));
        if stamps == cur.stamps {
            return Arc::clone(&cur.key);
        }
        cur.stamps = stamps;
        match load(&self.files, &self.provider) {
            Ok(key) => {
                cur.key = Arc::new(key);
                self.notice(format!(
                    "web certificate renewed from {}",
                    self.files.cert.display()
                ));
            }
            // Half a renewal (the certificate written, not yet its key) lands here too; the
            // next change of either file is tried again.
            Err(e) => self.notice(format!(
                "the renewed web certificate cannot be used, the previous one is still served: {e}"
            )),
        }
        Arc::clone(&cur.key)
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.latest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certified(names: &[&str]) -> CertifiedKey {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let made = rcgen::generate_simple_self_signed(names).unwrap();
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
        let provider = rustls::crypto::ring::default_provider();
        CertifiedKey::from_der(vec![made.cert.der().clone()], key, &provider).unwrap()
    }

    #[test]
    fn the_url_names_the_address_when_the_certificate_does_else_its_first_name() {
        let mkcert = certified(&["laptop.local", "192.168.1.20"]);
        assert_eq!(url_host(&mkcert, "192.168.1.20"), "192.168.1.20");
        assert_eq!(url_host(&mkcert, "10.0.0.5"), "laptop.local");
        let tailnet = certified(&["laptop.tail1234.ts.net"]);
        assert_eq!(
            url_host(&tailnet, "100.101.102.103"),
            "laptop.tail1234.ts.net"
        );
        let wild = certified(&["*.example.com", "pair.example.com"]);
        assert_eq!(url_host(&wild, "10.0.0.1"), "pair.example.com");
        assert_eq!(
            url_host(&certified(&["*.example.com"]), "10.0.0.1"),
            "10.0.0.1"
        );
    }
}
