//! Sharing beyond the LAN through the user's own SSH jump box: the host's own `ssh` (its
//! config, agent and known_hosts as they are) keeps remote forwards of npair's ports on the
//! jump box, and is started again, with backoff, when it drops. Traffic crosses the jump box
//! as ordinary SSH; a guest's session to npair is end-to-end SSH inside the forward.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;

use crate::shutdown::Shutdown;

/// How long ssh gets to connect, authenticate and set up the forwards.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the reachability probe of a forwarded port may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Waits between attempts after the forward drops: doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Lines of ssh's own messages kept for the error we show.
const KEPT_LINES: usize = 4;

/// `USER@HOST[:PORT]` (or `HOST`, or a Host alias from the user's ssh config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jump {
    /// `USER@HOST` or `HOST`, as ssh takes it.
    pub destination: String,
    /// The host alone, for the logins guests type.
    pub host: String,
    pub port: Option<u16>,
}

impl std::str::FromStr for Jump {
    type Err = String;

    fn from_str(s: &str) -> Result<Jump, String> {
        let bad = |why: &str| format!("invalid jump box '{s}': {why}; expected USER@HOST[:PORT]");
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u), r),
            Some(_) => return Err(bad("empty user")),
            None => (None, s),
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("no closing ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad("junk after ']'")),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
            return Err(bad("no host"));
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| bad(&format!("port '{p}' is not 1-65535")))
            })
            .transpose()?;
        Ok(Jump {
            destination: match user {
                Some(u) => format!("{u}@{host}"),
                None => host.to_owned(),
            },
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Jump {
    /// As `ssh -J` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let dest = match self.destination.rsplit_once('@') {
            Some((u, _)) => format!("{u}@{host}"),
            None => host,
        };
        match self.port {
            Some(p) => write!(f, "{dest}:{p}"),
            None => write!(f, "{dest}"),
        }
    }
}

/// The ports on the jump box, and whether guests can reach them directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Forwards {
    pub ssh: u16,
    pub web: Option<u16>,
    /// True when a forwarded port answers on the jump box's own address (sshd's GatewayPorts
    /// lets remote forwards bind beyond loopback); false when guests must go through the jump
    /// box with `ssh -J`.
    pub reachable: bool,
}

/// What to forward: npair's local SSH port, and its web port when the viewer is on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Targets {
    pub ssh: SocketAddr,
    pub web: Option<SocketAddr>,
}

/// A running forward: the ssh process and what it forwards.
pub(crate) struct Forwarder {
    child: Child,
    /// Keeps ssh tied to npair's life (see `platform`).
    _tie: crate::platform::Tie,
    /// ssh's own messages (not its debug lines), newest last.
    said: Arc<Mutex<Vec<String>>>,
}

impl Forwarder {
    fn last_words(&self) -> String {
        last_words(&self.said)
    }
}

fn last_words(said: &Mutex<Vec<String>>) -> String {
    let said = said.lock().unwrap_or_else(|e| e.into_inner());
    if said.is_empty() {
        "ssh exited without a message".to_owned()
    } else {
        said.join("; ")
    }
}

/// Starts ssh with remote forwards of `targets` on `jump`, asking for the ports in `want`
/// (0: the jump box picks), and waits until every forward is up.
pub(crate) async fn establish(
    jump: &Jump,
    targets: Targets,
    want: Option<Forwards>,
    tasks: &TaskTracker,
) -> Result<(Forwarder, Forwards)> {
    // The forward must not outlive npair, even when npair is killed outright (SIGKILL skips
    // kill_on_drop).
    let mut cmd = crate::platform::tied_command("ssh");
    cmd.args([
        "-N",
        "-T",
        // The few options npair depends on; everything else comes from the user's ssh config.
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "BatchMode=yes", // never ask for a password or a passphrase: npair stores none
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=3",
        // A user's `LogLevel ERROR` would hide the allocated ports; DEBUG1 reports each
        // forward's success (we show only ssh's non-debug lines to the user).
        "-o",
        "LogLevel=DEBUG1",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
    ]);
    if let Some(p) = jump.port {
        cmd.args(["-p", &p.to_string()]);
    }
    let remote = |port: Option<u16>| port.unwrap_or(0);
    cmd.arg("-R").arg(format!(
        "{}:{}",
        remote(want.map(|w| w.ssh)),
        forward_target(targets.ssh)
    ));
    if let Some(web) = targets.web {
        cmd.arg("-R").arg(format!(
            "{}:{}",
            remote(want.and_then(|w| w.web)),
            forward_target(web)
        ));
    }
    cmd.arg("--").arg(&jump.destination);
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "ssh is not installed (not found on PATH); --via needs OpenSSH's client"
            )
        } else {
            anyhow::Error::new(e).context("cannot run ssh")
        }
    })?;
    let tie = crate::platform::Tie::take(&mut child);

    let said = Arc::new(Mutex::new(Vec::new()));
    let (up_tx, up_rx) = oneshot::channel();
    let stderr = child.stderr.take().context("ssh's stderr")?;
    tasks.spawn(read_ssh(stderr, targets, Arc::clone(&said), up_tx));

    let ports = tokio::select! {
        r = tokio::time::timeout(ESTABLISH_TIMEOUT, up_rx) => match r {
            Ok(Ok(ports)) => ports,
            Ok(Err(_)) => {
                let _ = child.wait().await;
                bail!("cannot forward through {jump}: {}", last_words(&said));
            }
            Err(_) => bail!("cannot forward through {jump}: no answer within {}s ({})", ESTABLISH_TIMEOUT.as_secs(), last_words(&said)),
        },
        status = child.wait() => {
            // Give the reader a moment to collect ssh's last words.
            tokio::time::sleep(Duration::from_millis(50)).await;
            bail!("cannot forward through {jump}: {} ({})", last_words(&said), status.map(|s| s.to_string()).unwrap_or_default());
        }
    };
    let reachable = probe(&jump.host, ports.0).await;
    Ok((
        Forwarder {
            child,
            _tie: tie,
            said,
        },
        Forwards {
            ssh: ports.0,
            web: ports.1,
            reachable,
        },
    ))
}

/// `HOST:PORT` as `-R` takes its target (an IPv6 host in brackets); wildcards mean loopback.
fn forward_target(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{}", addr.port()),
        std::net::IpAddr::V4(v4) => format!("{v4}:{}", addr.port()),
    }
}

/// Reads ssh's stderr: forward successes and allocated ports go to `up` once all are known;
/// ssh's own (non-debug) messages are kept for errors.
async fn read_ssh(
    stderr: tokio::process::ChildStderr,
    targets: Targets,
    said: Arc<Mutex<Vec<String>>>,
    up: oneshot::Sender<(u16, Option<u16>)>,
) {
    let want: Vec<u16> = std::iter::once(targets.ssh.port())
        .chain(targets.web.map(|w| w.port()))
        .collect();
    let mut ports: HashMap<u16, u16> = HashMap::new();
    let mut up = Some(up);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some((listen, local)) = parse_success(&line) {
            if listen != 0 {
                ports.insert(local, listen);
            }
        } else if let Some((allocated, local)) = parse_allocated(&line) {
            ports.insert(local, allocated);
        } else if !line.starts_with("debug") && !line.trim().is_empty() {
            let mut s = said.lock().unwrap_or_else(|e| e.into_inner());
            s.push(line.trim().to_owned());
            if s.len() > KEPT_LINES {
                s.remove(0);
            }
        }
        if want.iter().all(|p| ports.contains_key(p)) {
            if let Some(tx) = up.take() {
                let _ = tx.send((ports[&want[0]], want.get(1).map(|w| ports[w])));
            }
        }
    }
}

/// `debug1: remote forward success for: listen 40123, connect 127.0.0.1:10` → (40123, 10).
fn parse_success(line: &str) -> Option<(u16, u16)> {
    let rest = line.split("remote forward success for: listen ").nth(1)?;
    let (listen, connect) = rest.split_once(", connect ")?;
    let listen = listen.rsplit(':').next()?.trim().parse().ok()?;
    let local = connect.trim().rsplit(':').next()?.parse().ok()?;
    Some((listen, local))
}

/// `Allocated port 41557 for remote forward to 127.0.0.1:9` → (41557, 9).
fn parse_allocated(line: &str) -> Option<(u16, u16)> {
    let rest = line.split("Allocated port ").nth(1)?;
    let (port, to) = rest.split_once(" for remote forward to ")?;
    Some((
        port.trim().parse().ok()?,
        to.trim().rsplit(':').next()?.parse().ok()?,
    ))
}

/// Whether a forwarded port answers on the jump box's own address, as a guest would reach it.
async fn probe(host: &str, port: u16) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}

/// Keeps the forward up until the shutdown: when ssh exits, start it again after a backoff,
/// asking for the same ports (so the printed logins stay right), or new ones if those are
/// taken (sent on `ports_tx`, so that every login printed afterwards is the new one), and tell
/// the host what happened.
pub(crate) async fn supervise(
    jump: Jump,
    targets: Targets,
    mut current: (Forwarder, Forwards),
    ports_tx: watch::Sender<Forwards>,
    notices: mpsc::Sender<String>,
    mut shutdown: Shutdown,
    tasks: TaskTracker,
) {
    let say = |m: String| {
        let _ = notices.try_send(m);
    };
    loop {
        let status = tokio::select! {
            s = current.0.child.wait() => s,
            _ = shutdown.wait() => return, // kill_on_drop ends ssh, and the forward with it
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        say(format!(
            "the forward through {jump} dropped ({}; {}); reconnecting",
            current.0.last_words(),
            status.map(|s| s.to_string()).unwrap_or_default()
        ));
        let mut wait = BACKOFF_FIRST;
        current = loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait() => return,
            }
            let same = establish(&jump, targets, Some(current.1), &tasks).await;
            let next = match same {
                Ok(n) => Ok(n),
                // The old ports may be taken now: any ports beat none.
                Err(_) => establish(&jump, targets, None, &tasks).await,
            };
            match next {
                Ok((f, ports)) => {
                    if ports.ssh == current.1.ssh && ports.web == current.1.web {
                        say(format!(
                            "the forward through {jump} is back on the same ports"
                        ));
                    } else {
                        say(format!(
                            "the forward through {jump} is back on new ports: ssh {}{}; the logins changed",
                            ports.ssh,
                            ports.web.map(|w| format!(", web {w}")).unwrap_or_default()
                        ));
                    }
                    // Every login printed from now on (`npair status`, `npair rotate`) uses them.
                    ports_tx.send_replace(ports);
                    break (f, ports);
                }
                Err(e) => {
                    say(format!("{e:#}; trying again in {}s", wait.as_secs()));
                    wait = (wait * 2).min(BACKOFF_MAX);
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_boxes_parse_as_ssh_takes_them() {
        let j: Jump = "me@jump.example.com:2200".parse().unwrap();
        assert_eq!(
            (j.destination.as_str(), j.host.as_str(), j.port),
            ("me@jump.example.com", "jump.example.com", Some(2200))
        );
        assert_eq!(j.to_string(), "me@jump.example.com:2200");
        let j: Jump = "jumpbox".parse().unwrap();
        assert_eq!((j.destination.as_str(), j.port), ("jumpbox", None));
        let j: Jump = "me@[2001:db8::1]:22".parse().unwrap();
        assert_eq!((j.host.as_str(), j.port), ("2001:db8::1", Some(22)));
        assert_eq!(j.to_string(), "me@[2001:db8::1]:22");
        for bad in [
            "",
            "@host",
            "me@",
            "me@host:0",
            "me@host:x",
            "-oProxyCommand=x",
            "me@[::1",
        ] {
            assert!(bad.parse::<Jump>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_reports_are_read() {
        assert_eq!(
            parse_success("debug1: remote forward success for: listen 40123, connect 127.0.0.1:10"),
            Some((40123, 10))
        );
        assert_eq!(
            parse_success("debug1: remote forward success for: listen 0, connect [::1]:9"),
            Some((0, 9))
        );
        assert_eq!(
            parse_allocated("Allocated port 41557 for remote forward to 127.0.0.1:9"),
            Some((41557, 9))
        );
        assert_eq!(parse_allocated("Warning: Permanently added"), None);
    }
}
