//! The control socket owns the host's commands to a running share: one Unix socket per share
//! (`$XDG_RUNTIME_DIR/npair/SESSION.sock`, or `/tmp/npair-UID/` without XDG_RUNTIME_DIR), mode
//! 0600 in a 0700 directory of the host's own, removed at exit by [`SocketGuard`].
//!
//! The protocol is one JSON line each way per connection: a [`Request`], then a response
//! `{"ok":true,...}` or `{"ok":false,"error":"..."}`. The server side asks the registry and the
//! tokens; it never reaches into a transport. The client side (`npair status`, `kick`, ...)
//! finds the share by session name, or the only one running.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::admission::limiter::{FailedLogins, FailureLimiter};
use crate::registry::{GuestInfo, Registry};
use crate::shutdown::Shutdown;
use crate::tokens::{Current, Role, Tokens};

/// The longest request line read: requests are a few dozen bytes; a client sending more is
/// not ours.
const MAX_REQUEST: u64 = 4096;
/// How long a client has to send its request, and a command to get its answer: the server
/// answers from memory, so anything slower is stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest response read by the client: a status with many guests (about 300 bytes each).
const MAX_RESPONSE: u64 = 4 * 1024 * 1024;

/// Which guests a kick is for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Guest(u64),
    /// Every read-only guest and web viewer.
    AllRo,
    All,
}

/// A command to the running share.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Kick { target: Target },
    Rotate { rw: bool, ro: bool, kick: bool },
    Promote { id: u64 },
    Demote { id: u64 },
    Approve { id: u64 },
    Deny { id: u64 },
    Stop,
}

/// What the control socket needs from the share.
pub struct Control {
    pub session: String,
    pub registry: Arc<Registry>,
    pub tokens: Arc<Tokens>,
    /// Wrong tokens per address (SSH), for `npair status`.
    pub failures: Arc<FailureLimiter>,
    /// The logins (commands and URL) for the given tokens, as `share` prints them.
    pub logins: Box<dyn Fn(&Current) -> Value + Send + Sync>,
    pub host_key: String,
    pub started: Instant,
    /// When the share ends by itself (`--expires`).
    pub ends_at: Option<Instant>,
    /// The share's options, for `npair status`.
    pub options: Value,
    /// Asks `share` to end the share (`npair stop`).
    pub stop: mpsc::Sender<()>,
}

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

/// Answers commands until the shutdown.
pub async fn serve(listener: UnixListener, control: Arc<Control>, mut shutdown: Shutdown) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => { tokio::time::sleep(Duration::from_millis(100)).await; continue; }
            },
            _ = shutdown.wait() => return,
        };
        // The socket is already ours alone (0600 in a 0700 directory); refusing other users
        // here too keeps it so if the directory is ever made wider by hand.
        // SAFETY: getuid cannot fail.
        let ours = stream
            .peer_cred()
            .is_ok_and(|c| c.uid() == unsafe { libc::getuid() });
        if !ours {
            continue;
        }
        tokio::spawn(answer(stream, Arc::clone(&control)));
    }
}

async fn answer(stream: UnixStream, control: Arc<Control>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
    let got = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
    let response = match got {
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Ok(req) => match handle(&control, req) {
                Ok(mut v) => {
                    v["ok"] = json!(true);
                    v
                }
                Err(e) => json!({ "ok": false, "error": e }),
            },
            Err(e) => json!({ "ok": false, "error": format!("bad request: {e}") }),
        },
        _ => return,
    };
    let mut out = response.to_string();
    out.push('\n');
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, write.write_all(out.as_bytes())).await;
}

fn ids(v: &[u64]) -> Value {
    json!(v)
}

fn handle(c: &Control, req: Request) -> Result<Value, String> {
    let reg = &c.registry;
    match req {
        Request::Status => Ok(status(c)),
        Request::Kick { target } => {
            let reason = "the host disconnected you";
            let kicked = match target {
                Target::Guest(id) => {
                    reg.kick(id, reason)?;
                    vec![id]
                }
                Target::AllRo => reg.kick_where(|g| g.role != "rw", reason),
                Target::All => reg.kick_where(|_| true, reason),
            };
            Ok(json!({ "kicked": ids(&kicked) }))
        }
        Request::Rotate { rw, ro, kick } => {
            // Neither flag: both tokens; in a read-only share, the read-only one.
            let (rw, ro) = match (rw, ro) {
                (false, false) => (!c.tokens.read_only(), true),
                both => both,
            };
            c.tokens.rotate(rw, ro)?;
            // Only guests who joined with a token replaced now: a read-write guest whose token
            // an earlier `rotate --rw` replaced stays through a `rotate --ro --kick`.
            let rotated = |role: Role| match role {
                Role::ReadWrite => rw,
                Role::ReadOnly => ro,
            };
            let kicked = if kick {
                reg.kick_where(
                    |g| rotated(g.login.role) && c.tokens.is_stale(g.login),
                    "the host replaced the token you joined with",
                )
            } else {
                vec![]
            };
            Ok(json!({ "logins": (c.logins)(&c.tokens.current()), "kicked": ids(&kicked) }))
        }
        Request::Promote { id } => {
            if c.tokens.read_only() {
                return Err(
                    "this share is read-only (--read-only): no guest may type into it".to_owned(),
                );
            }
            reg.set_role(id, Role::ReadWrite).map(|_| json!({}))
        }
        Request::Demote { id } => reg.set_role(id, Role::ReadOnly).map(|_| json!({})),
        Request::Approve { id } => reg.admit(id).map(|_| json!({})),
        Request::Deny { id } => reg.deny(id).map(|_| json!({})),
        Request::Stop => {
            let _ = c.stop.try_send(());
            Ok(json!({}))
        }
    }
}

fn status(c: &Control) -> Value {
    let guests: Vec<GuestInfo> = c.registry.list();
    json!({
        "session": c.session,
        "pid": std::process::id(),
        "uptime_secs": c.started.elapsed().as_secs(),
        "host_key": c.host_key,
        "logins": (c.logins)(&c.tokens.current()),
        "options": c.options,
        "expires_in_secs": c.ends_at.map(|t| t.saturating_duration_since(Instant::now()).as_secs()),
        "guests": guests,
        "failed_logins": c.failures.summary(),
    })
}

// ---- The client side: `npair status`, `kick`, `rotate`, ... ----

/// Sends one request to the socket at `path` and returns the response's fields.
pub fn request(path: &Path, req: &Request) -> Result<Value> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("cannot reach the share at '{}'", path.display()))?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    (&stream).write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(std::io::Read::take(&stream, MAX_RESPONSE))
        .read_line(&mut reply)
        .context("the share did not answer")?;
    let v: Value = serde_json::from_str(reply.trim())
        .with_context(|| format!("the share answered something unexpected: {reply:?}"))?;
    if v["ok"] != json!(true) {
        bail!(
            "{}",
            v["error"]
                .as_str()
                .unwrap_or("the share refused the command")
        );
    }
    Ok(v)
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

/// Runs a command against a running share and prints what the user should see.
pub fn run_client(session: Option<&str>, req: Request, json_out: bool) -> Result<()> {
    let (name, path) = find(session)?;
    let v = request(&path, &req)?;
    let mut out = std::io::stdout().lock();
    if json_out {
        writeln!(out, "{v}")?;
        return Ok(());
    }
    match req {
        Request::Status => write!(out, "{}", format_status(&v))?,
        Request::Kick { .. } => {
            let kicked = id_list(&v["kicked"]);
            if kicked.is_empty() {
                writeln!(out, "npair: no guest to disconnect")?;
            } else {
                writeln!(out, "npair: disconnected guest {kicked}")?;
            }
        }
        Request::Rotate { kick, .. } => {
            writeln!(out, "npair: new tokens for tmux session \"{name}\"")?;
            write!(out, "{}", format_logins(&v["logins"]))?;
            let kicked = id_list(&v["kicked"]);
            if kick && !kicked.is_empty() {
                writeln!(
                    out,
                    "  disconnected guests who joined with an old token: {kicked}"
                )?;
            } else if !kick {
                writeln!(out, "  (guests who joined with an old token stay; `npair rotate --kick` disconnects them)")?;
            }
        }
        Request::Promote { id } => writeln!(out, "npair: guest {id} is now read-write")?,
        Request::Demote { id } => writeln!(out, "npair: guest {id} is now read-only")?,
        Request::Approve { id } => writeln!(out, "npair: guest {id} let in")?,
        Request::Deny { id } => writeln!(out, "npair: guest {id} turned away")?,
        Request::Stop => writeln!(out, "npair: the share of tmux session \"{name}\" is ending")?,
    }
    Ok(())
}

fn id_list(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `1h02m`, `5m12s`, `42s`.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / f64::from(1 << 10)),
        n => format!("{n} B"),
    }
}

fn format_logins(l: &Value) -> String {
    let mut s = String::new();
    match l["rw_command"].as_str() {
        Some(rw) => {
            let _ = writeln!(s, "  read-write  {rw}");
        }
        None => {
            let _ = writeln!(s, "  read-write  none (--read-only)");
        }
    }
    let _ = writeln!(
        s,
        "  read-only   {}",
        l["ro_command"].as_str().unwrap_or("?")
    );
    if let Some(url) = l["web_url"].as_str() {
        let _ = writeln!(s, "  web (read-only)  {url}");
    }
    s
}

fn format_status(v: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "npair: sharing tmux session \"{}\" for {} (pid {})",
        v["session"].as_str().unwrap_or("?"),
        duration(v["uptime_secs"].as_u64().unwrap_or(0)),
        v["pid"]
    );
    s.push_str(&format_logins(&v["logins"]));
    let _ = writeln!(s, "  host key    {}", v["host_key"].as_str().unwrap_or("?"));
    let o = &v["options"];
    let mut rules = vec![];
    if o["approve"] == json!(true) {
        rules.push("the host approves each guest".to_owned());
    }
    if let Some(n) = o["max_guests"].as_u64() {
        rules.push(format!("at most {n} guests"));
    }
    if let Some(n) = o["authorized_keys"].as_u64() {
        rules.push(format!("guests need one of {n} listed keys"));
    }
    if let Some(secs) = v["expires_in_secs"].as_u64() {
        rules.push(format!("ends in {}", duration(secs)));
    }
    if let Some(f) = o["record"].as_str() {
        rules.push(format!("recording to {f}"));
    }
    if !rules.is_empty() {
        let _ = writeln!(s, "  rules       {}", rules.join("; "));
    }
    let failed: Vec<FailedLogins> =
        serde_json::from_value(v["failed_logins"].clone()).unwrap_or_default();
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|f| {
                let locked = if f.locked_out { ", locked out" } else { "" };
                format!("{} ({}{locked})", f.address, f.count)
            })
            .collect();
        let _ = writeln!(s, "  wrong tokens  {}", list.join(", "));
    }
    let guests = v["guests"].as_array().cloned().unwrap_or_default();
    if guests.is_empty() {
        let _ = writeln!(s, "  no guests");
        return s;
    }
    let _ = writeln!(
        s,
        "  {} guest{}:",
        guests.len(),
        if guests.len() == 1 { "" } else { "s" }
    );
    let mut rows = vec![[
        "ID",
        "ROLE",
        "ADDRESS",
        "CLIENT",
        "SIZE",
        "CONNECTED",
        "SENT",
    ]
    .map(str::to_owned)];
    for g in &guests {
        let connected = if g["admitted"] == json!(false) {
            "waiting".to_owned()
        } else {
            duration(g["connected_secs"].as_u64().unwrap_or(0))
        };
        rows.push([
            g["id"].to_string(),
            g["role"].as_str().unwrap_or("?").to_owned(),
            g["address"].as_str().unwrap_or("?").to_owned(),
            g["client"].as_str().unwrap_or("?").to_owned(),
            match (g["session"].as_bool(), g["size"].as_str()) {
                (Some(false), _) => "no terminal yet".to_owned(),
                (_, Some(size)) => size.to_owned(),
                _ => "-".to_owned(),
            },
            connected,
            bytes(g["bytes_sent"].as_u64().unwrap_or(0)),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "  {}", line.join("  ").trim_end());
    }
    s
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

    #[test]
    fn requests_are_one_json_object_each() {
        let r = Request::Kick {
            target: Target::Guest(3),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"cmd":"kick","target":{"guest":3}}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"rm -rf"}"#).is_err());
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(312), "5m12s");
        assert_eq!(duration(3720), "1h02m");
    }
}
