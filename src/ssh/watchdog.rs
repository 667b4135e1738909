//! A connection's watchdog: from its first byte to its end, it enforces the deadlines
//! (authentication, the grace for opening a session, the farewell), follows kicks and the
//! shutdown, and closes the connection itself (by socket) whenever a deadline passes, whatever
//! state SSH is in. The handler tells it where the connection stands through a [`Phase`].

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;

use super::handler::Conn;
use super::quickack::QuickAck;
use super::{Shared, AUTH_DELAY, AUTH_TIMEOUT, NO_SESSION_GRACE};
use crate::admission::limiter::FailureLimiter;
use crate::admission::penalty::Attempt;
use crate::admission::{Evicted, Ticket};
use crate::shutdown::{self, FAREWELL_TIMEOUT};

/// Where a connection stands, told by its handler to its watchdog ([`connection`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Not authenticated yet.
    Handshake,
    /// Refused (a wrong token, a lockout, a full share): the watchdog disconnects it with this
    /// reason, which clients print ("Received disconnect ...: npair: REASON").
    Refused(String),
    /// Authenticated and registered; no terminal session yet.
    Authenticated,
    /// Its terminal session is open.
    Session,
    /// Its terminal session has ended or was refused. A connection serves one session (a new
    /// session is a new join, with a current token), so the watchdog closes it.
    Done,
}

/// What a disconnected client prints after "Received disconnect ...: ", for `reason`.
pub(super) fn disconnect_message(reason: &str) -> String {
    format!("npair: {reason}")
}

/// What a connection that never opened its terminal session is told when it is closed.
fn no_session_message() -> String {
    format!(
        "no terminal session was opened within {} s; connect with `ssh -t` to join",
        NO_SESSION_GRACE.as_secs()
    )
}

/// Watches one connection from its first byte to its end: the authentication deadline, the
/// grace for opening a session, kicks and the shutdown, and the farewell. It closes the
/// connection itself (by socket) whenever a deadline passes, whatever state SSH is in.
pub(super) async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    config: Arc<russh::server::Config>,
    shared: Arc<Shared>,
    limiter: Arc<FailureLimiter>,
    (mut ticket, mut attempt): (Ticket, Attempt),
    mut evicted: Evicted,
) {
    let _ = tcp.set_nodelay(true);
    let fd = tcp.as_raw_fd();

    let (phase_tx, mut phase) = watch::channel(Phase::Handshake);
    let mut shutdown = shared.shutdown.clone();
    let (kick, mut kicked) = shutdown::channel();
    let placed = ticket.placed();
    let activity = ticket.activity();
    let conn = Conn::new(shared, limiter, peer, ticket, phase_tx, kick);
    let (tcp, quick) = QuickAck::new(tcp, activity);
    // Buffered: a packet's length and its body come in one read, not two.
    let tcp = tokio::io::BufReader::with_capacity(READ_BUFFER, tcp);
    // Past the caps on connections not yet authenticated, it waits for a place, accepted but
    // not read (`admission`). Then a source penalised for connections that never authenticate
    // waits for its gate before we send a byte or start a key exchange (`admission::penalty`).
    // Until the session starts, the socket is this future's alone, and dropping it closes it.
    let start = async {
        if !placed.await {
            return None;
        }
        // A second handle on the socket lets us cut a connection that never authenticates,
        // whatever state the SSH session is in: taken once it has a place, so that one queued
        // holds one descriptor.
        // SAFETY: `fd` is `tcp`'s, which this future owns and keeps open here.
        let cut = unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .ok()?;
        attempt.turn().await;
        let session = russh::server::run_stream(config, tcp, conn).await.ok()?;
        Some((session, std::net::TcpStream::from(cut)))
    };
    let (mut session, cut) = tokio::select! {
        r = timeout(AUTH_TIMEOUT, start) => match r {
            Ok(Some(started)) => started,
            _ => return,
        },
        Ok(()) = &mut evicted => return,
    };
    let cut = move || {
        let _ = cut.shutdown(std::net::Shutdown::Both);
    };
    let handle = session.handle();
    let past_handshake = async { phase.wait_for(|p| *p != Phase::Handshake).await.is_ok() };
    tokio::select! {
        _ = &mut session => return,
        _ = shutdown.wait() => return cut(),
        // Pushed out by newer connections while still unauthenticated.
        Ok(()) = &mut evicted => return cut(),
        r = timeout(AUTH_TIMEOUT, past_handshake) => {
            if !matches!(r, Ok(true)) { return cut(); }
        }
    }
    // A connection refused at authentication (a wrong token) counts against its source.
    if !matches!(*phase.borrow(), Phase::Refused(_)) {
        attempt.authenticated();
    }

    // Authenticated (or refused): watch until something ends the connection.
    let grace = tokio::time::sleep(NO_SESSION_GRACE);
    tokio::pin!(grace);
    let (reason, had_session): (Arc<str>, bool) = loop {
        let now = phase.borrow_and_update().clone();
        match now {
            Phase::Refused(msg) => break (msg.into(), false),
            Phase::Done => break ("the session has ended".into(), true),
            _ => {}
        }
        let in_session = now == Phase::Session;
        if in_session {
            quick.store(false, Ordering::Relaxed);
        }
        tokio::select! {
            _ = &mut session => return,
            r = shutdown.wait() => break (r, in_session),
            r = kicked.fired() => break (r, in_session),
            _ = &mut grace, if now == Phase::Authenticated => break (no_session_message().into(), false),
            r = phase.changed() => if r.is_err() { return },
        }
    };
    // A guest with a session is told goodbye by its task (message, exit status, close), and its
    // client then closes the connection. Whatever is still open after that (a ControlMaster, a
    // stalled client), or had no session to close, is disconnected with the reason, then cut.
    if had_session && timeout(FAREWELL_TIMEOUT, &mut session).await.is_ok() {
        return;
    }
    // Every reason (a refusal, a kick, the shutdown) is said without the prefix.
    let _ = timeout(
        DISCONNECT_TIMEOUT,
        handle.disconnect(
            russh::Disconnect::ByApplication,
            disconnect_message(&reason),
            String::new(),
        ),
    )
    .await;
    // The message goes out after the refusal's delay, when russh's loop next takes a message.
    let _ = timeout(AUTH_DELAY + DISCONNECT_TIMEOUT, &mut session).await;
    cut();
}

/// A connection's read buffer: a keystroke's packet, or a few, in one read.
const READ_BUFFER: usize = 4096;

/// How long a disconnect message, and the client's reaction to it, may take before the socket
/// is cut: the message is small, so only a stalled client takes longer.
const DISCONNECT_TIMEOUT: Duration = Duration::from_millis(500);
