//! The share's side of the control socket: answers each request from the registry, the size
//! policy, the tokens and the logins. It never reaches into a transport.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::{
    Acted, Kicked, Options, Outcome, PolicySet, Reply, Request, Rotated, Status, Target,
    MAX_REQUEST, REQUEST_TIMEOUT,
};
use crate::admission::limiter::FailureLimiter;
use crate::logins::Reach;
use crate::registry::{GuestRef, Registry};
use crate::shutdown::Shutdown;
use crate::size::SizePolicy;
use crate::tokens::{Role, Tokens};

/// What the control socket needs from the share.
pub struct Control {
    pub session: String,
    pub registry: Arc<Registry>,
    /// The host's size policy, which `npair size-policy` changes.
    pub sizes: Arc<SizePolicy>,
    pub tokens: Arc<Tokens>,
    /// Wrong tokens per address (SSH), for `npair status`.
    pub failures: Arc<FailureLimiter>,
    /// The logins, for the tokens and forward of the moment.
    pub reach: Arc<Reach>,
    pub host_key: String,
    pub started: Instant,
    /// When the share ends by itself (`--expires`).
    pub ends_at: Option<Instant>,
    /// The share's options, for `npair status`.
    pub options: Options,
    /// Asks `share` to end the share (`npair stop`).
    pub stop: mpsc::Sender<()>,
}

/// Answers commands until the shutdown; each answer runs on `tasks`.
pub async fn serve(
    listener: UnixListener,
    control: Arc<Control>,
    mut shutdown: Shutdown,
    tasks: TaskTracker,
) {
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
        tasks.spawn(answer(stream, Arc::clone(&control)));
    }
}

async fn answer(stream: UnixStream, control: Arc<Control>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
    let got = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
    let outcome = match got {
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Ok(req) => handle(&control, req).map_err(Some),
            Err(e) => Err(Some(format!("bad request: {e}"))),
        },
        _ => return,
    };
    let mut out = match outcome {
        Ok(reply) => Outcome::ok(&reply),
        Err(e) => Outcome::error(e.unwrap_or_default()),
    };
    out.push('\n');
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, write.write_all(out.as_bytes())).await;
}

fn handle(c: &Control, req: Request) -> Result<Reply, String> {
    let reg = &c.registry;
    match req {
        Request::Status => Ok(Reply::Status(Box::new(status(c)))),
        Request::Kick { target } => {
            let reason = "the host disconnected you";
            let guests = match target {
                Target::Guest(who) => vec![reg.kick(&who, reason)?],
                Target::AllRo => reg.kick_where(|role, _| role.watches(), reason),
                Target::All => reg.kick_where(|_, _| true, reason),
            };
            Ok(Reply::Kicked(Kicked {
                kicked: guests.iter().map(|g| g.id).collect(),
                guests,
            }))
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
                    |_, login| rotated(login.role) && c.tokens.is_stale(login),
                    "the host replaced the token you joined with",
                )
                .iter()
                .map(|g| g.id)
                .collect()
            } else {
                vec![]
            };
            Ok(Reply::Rotated(Rotated {
                logins: c.reach.info(),
                kicked,
            }))
        }
        Request::Promote { id } => {
            if c.tokens.read_only() {
                return Err(
                    "this share is read-only (--read-only): no guest may type into it".to_owned(),
                );
            }
            reg.set_role(&id, Role::ReadWrite).map(acted)
        }
        Request::Demote { id } => reg.set_role(&id, Role::ReadOnly).map(acted),
        Request::Approve { id } => reg.admit(&id).map(acted),
        Request::Deny { id } => reg.deny(&id).map(acted),
        Request::SizePolicy { policy } => {
            let (was, now) = c.sizes.set_policy(policy)?;
            Ok(Reply::PolicySet(PolicySet { was, now }))
        }
        Request::Stop => {
            let _ = c.stop.try_send(());
            Ok(Reply::Done)
        }
    }
}

fn acted(guest: GuestRef) -> Reply {
    Reply::Acted(Acted { guest: Some(guest) })
}

fn status(c: &Control) -> Status {
    Status {
        session: c.session.clone(),
        pid: std::process::id(),
        uptime_secs: c.started.elapsed().as_secs(),
        host_key: c.host_key.clone(),
        logins: c.reach.info(),
        options: c.options.clone(),
        expires_in_secs: c
            .ends_at
            .map(|t| t.saturating_duration_since(Instant::now()).as_secs()),
        sizing: c.sizes.sizing(),
        guests: c.registry.list(),
        failed_logins: c.failures.summary(),
    }
}
