//! The host key: ed25519 in OpenSSH format, created on first use and reused, so that guests'
//! known_hosts entries stay valid from one share to the next. Also the guests' keys of
//! `--authorized-keys`, read once at the start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PublicKey};

/// `$XDG_CONFIG_HOME/npair/host_ed25519`, falling back to `~/.config/npair/host_ed25519`.
pub fn default_path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .context("neither XDG_CONFIG_HOME nor HOME is set; pass --host-key PATH")?;
            PathBuf::from(home).join(".config")
        }
    };
    Ok(base.join("npair").join("host_ed25519"))
}

/// The key and its SHA256 fingerprint, as `ssh-keygen -lf` prints it.
pub struct HostKey {
    pub key: PrivateKey,
    pub fingerprint: String,
}

/// Loads the key at `path`, or creates it there when no file exists. Never replaces a file
/// that exists: a key that cannot be used is an error for the user to resolve.
pub fn load_or_create(path: &Path) -> Result<HostKey> {
    let key = match fs::metadata(path) {
        Ok(meta) => load(path, &meta)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path)?,
        Err(e) => bail!("cannot read host key '{}': {e}", path.display()),
    };
    let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
    Ok(HostKey { key, fingerprint })
}

fn load(path: &Path, meta: &fs::Metadata) -> Result<PrivateKey> {
    let p = path.display();
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        // The same rule, and nearly the same words, as OpenSSH for a private key.
        bail!(
            "permissions {mode:04o} for host key '{p}' are too open: it must not be readable by others; \
             run `chmod 600 {p}`"
        );
    }
    let text = fs::read_to_string(path).with_context(|| format!("cannot read host key '{p}'"))?;
    PrivateKey::from_openssh(text.as_bytes()).map_err(|e| {
        anyhow::anyhow!(
            "host key '{p}' is not a valid OpenSSH private key ({e}); \
             fix it, or move it away to have npair create a new one (guests will see a changed host key)"
        )
    })
}

fn create(path: &Path) -> Result<PrivateKey> {
    let p = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| {
                format!(
                    "cannot create directory '{}' for the host key",
                    dir.display()
                )
            })?;
    }
    let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .context("cannot generate an ed25519 host key")?;
    let pem = key
        .to_openssh(LineEnding::LF)
        .context("cannot encode the host key")?;
    // Written to a temporary name with mode 0600 from the start, then renamed: a crash never
    // leaves a half-written key, and the key is never readable by others, not even briefly.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(pem.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        bail!("cannot write host key '{p}': {e}");
    }
    Ok(key)
}

/// The public keys a guest must present one of (`--authorized-keys`), as listed in an OpenSSH
/// `authorized_keys` file or a GitHub-style `https://github.com/USER.keys` list, each with the
/// comment after it (`bob@laptop`), which names the guest who presents it.
pub struct AuthorizedKeys {
    keys: Vec<(PublicKey, String)>,
}

/// Key types a line may start with (after any OpenSSH options).
fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-sha2-") || word.starts_with("sk-")
}

impl AuthorizedKeys {
    /// Reads `path`: one key per line, blank lines and `#` comments skipped, OpenSSH options
    /// before the key type ignored (npair grants the same view to every key), the words after
    /// the key kept as its comment.
    pub fn load(path: &Path) -> Result<AuthorizedKeys> {
        let p = path.display();
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the authorized keys file '{p}'"))?;
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| is_key_type(w)) else {
                bail!(
                    "line {} of '{p}' has no key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-...): {:?}; \
                     each line must be a public key as in ~/.ssh/authorized_keys",
                    n + 1,
                    line.chars().take(40).collect::<String>()
                );
            };
            let (Some(kind), Some(data)) = (words.get(at), words.get(at + 1)) else {
                bail!("line {} of '{p}' has a key type but no key", n + 1);
            };
            let key = PublicKey::from_openssh(&format!("{kind} {data}")).map_err(|e| {
                anyhow::anyhow!("line {} of '{p}' is not a valid public key: {e}", n + 1)
            })?;
            keys.push((key, words[at + 2..].join(" ")));
        }
        if keys.is_empty() {
            bail!("'{p}' lists no public keys, so no guest could join; add keys (one per line, as in ~/.ssh/authorized_keys)");
        }
        Ok(AuthorizedKeys { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether `key` is listed (comments are not compared).
    pub fn allows(&self, key: &PublicKey) -> bool {
        self.comment(key).is_some()
    }

    /// The comment of `key`'s line (the first, if it is listed twice; empty if it has none),
    /// when it is listed.
    pub fn comment(&self, key: &PublicKey) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k.key_data() == key.key_data())
            .map(|(_, comment)| comment.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg/npair/host_ed25519");
        let first = load_or_create(&path).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        assert!(first.fingerprint.starts_with("SHA256:"));
    }

    #[test]
    fn each_listed_key_keeps_its_comment() {
        let dir = tempfile::tempdir().unwrap();
        let key = |n: u8| {
            let pair = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&[n; 32]);
            PrivateKey::from(pair).public_key().clone()
        };
        let line = |n: u8| key(n).to_openssh().unwrap();
        let path = dir.path().join("keys");
        fs::write(
            &path,
            format!(
                "{} bob@laptop\nno-pty {}   Carol  Jones \n{}\n",
                line(1),
                line(2),
                line(3)
            ),
        )
        .unwrap();
        let keys = AuthorizedKeys::load(&path).unwrap();
        assert_eq!(keys.comment(&key(1)), Some("bob@laptop"));
        assert_eq!(keys.comment(&key(2)), Some("Carol Jones"));
        assert_eq!(keys.comment(&key(3)), Some(""));
        assert_eq!(keys.comment(&key(4)), None);
        assert!(keys.allows(&key(3)) && !keys.allows(&key(4)));
    }

    #[test]
    fn open_or_corrupt_keys_are_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_ed25519");
        load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "not a key").unwrap();
        let err = load_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("not a valid OpenSSH private key"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a key");
    }
}
