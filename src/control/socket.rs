//! Where a share's control socket lives, and finding it: one Unix socket per share at
//! `$XDG_RUNTIME_DIR/npair/SESSION.sock` (or `/tmp/npair-UID/` without XDG_RUNTIME_DIR), mode
//! 0600 in a 0700 directory of the host's own, removed at exit by [`SocketGuard`].

use std::fmt::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tokio::net::UnixListener;

/// The directory of the control sockets.
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("npair"),
        // SAFETY: getuid cannot fail.
        _ => PathBuf::from(format!("/tmp/npair-{}", unsafe { libc::getuid() })),
    }
}

/// A session name as a file name: letters, digits, `.`, `_` and `-` as they are, every other
/// byte as `%XX`, so that no name can reach outside the directory.
fn encode(session: &str) -> String {
    let mut out = String::new();
    for b in session.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && !out.is_empty()) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn decode(file: &str) -> Option<String> {
    let stem = file.strip_suffix(".sock")?;
    let mut bytes = Vec::new();
    let mut it = stem.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

pub fn socket_path(dir: &Path, session: &str) -> PathBuf {
    dir.join(format!("{}.sock", encode(session)))
}

/// Refuses a directory that is not ours alone: another user could listen in our place.
fn check_dir(dir: &Path) -> Result<()> {
    let d = dir.display();
    let meta = std::fs::symlink_metadata(dir)
        .with_context(|| format!("cannot read the control directory '{d}'"))?;
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    if !meta.is_dir() {
        bail!("the control directory '{d}' is not a directory; remove it and try again");
    }
    if meta.uid() != uid {
        bail!(
            "the control directory '{d}' belongs to uid {}, not to you (uid {uid}); npair will not \
             use it. Remove it, or set XDG_RUNTIME_DIR to a directory of your own",
            meta.uid()
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the control directory '{d}' has mode {mode:04o}, open to others; run `chmod 700 {d}` \
             or remove it"
        );
    }
    Ok(())
}

/// Removes the control socket when the share ends, on every exit path.
pub struct SocketGuard {
    path: PathBuf,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether a share of `session` is running (its socket answers).
pub fn is_running(session: &str) -> bool {
    let path = socket_path(&socket_dir(), session);
    check_dir(&socket_dir()).is_ok() && std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Creates the session's control socket. A socket left by a share that died is replaced; one
/// that answers belongs to a running share, which the caller should have checked.
pub fn bind(session: &str) -> Result<(UnixListener, SocketGuard)> {
    let dir = socket_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create the control directory '{}'", dir.display()))?;
    check_dir(&dir)?;
    let path = socket_path(&dir, session);
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        bail!("tmux session '{session}' is already being shared (its control socket '{}' answers); see `npair status {session}`", path.display());
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot create the control socket '{}'", path.display()))?;
    let guard = SocketGuard { path: path.clone() };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make '{}' private", path.display()))?;
    Ok((listener, guard))
}

/// The sessions whose shares answer, with their sockets.
fn running() -> Vec<(String, PathBuf)> {
    let dir = socket_dir();
    if check_dir(&dir).is_err() {
        return vec![];
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = decode(&e.file_name().to_string_lossy())?;
            let path = e.path();
            std::os::unix::net::UnixStream::connect(&path)
                .is_ok()
                .then_some((name, path))
        })
        .collect();
    found.sort();
    found
}

/// The socket of the share of `session`, or of the only share running.
pub fn find(session: Option<&str>) -> Result<(String, PathBuf)> {
    let dir = socket_dir();
    if dir.exists() {
        check_dir(&dir)?;
    }
    let shares = running();
    let names = || {
        shares
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match session {
        Some(s) => {
            let path = socket_path(&dir, s);
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Ok((s.to_owned(), path));
            }
            if shares.is_empty() {
                bail!("no share of tmux session '{s}' is running (no share is running); start one with `npair share {s}`");
            }
            bail!(
                "no share of tmux session '{s}' is running (running shares: {}); name one of those",
                names()
            )
        }
        None => match shares.as_slice() {
            [] => bail!("no share is running; start one with `npair share [SESSION]`"),
            [one] => Ok(one.clone()),
            _ => bail!(
                "several shares are running ({}); name the session, e.g. `npair status {}`",
                names(),
                shares[0].0
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_make_safe_file_names_and_come_back() {
        for name in [
            "fun",
            "my_site-8080",
            "a/b",
            "../x",
            ".hidden",
            "ünï cödé",
            "x%y",
        ] {
            let file = format!("{}.sock", encode(name));
            assert!(!file.contains('/') && !file.starts_with('.'), "{file}");
            assert_eq!(decode(&file).as_deref(), Some(name));
        }
    }
}
