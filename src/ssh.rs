//! The SSH server. It is not a login server: it admits a guest by token (the SSH username,
//! with whatever method the client tries: `none`, `password`, `keyboard-interactive` or
//! `publickey`; with `--authorized-keys`, only `publickey` with a listed key) and grants one
//! thing, a view of the shared screen, plus the keyboard for read-write guests. Exec,
//! subsystems, forwarding of any kind, agent and X11 requests are refused; environment requests
//! are ignored.
//!
//! One [`Conn`] per connection answers russh's callbacks. A connection is registered as a guest
//! the moment it authenticates, so a kick or a rotation reaches it whether or not it has opened
//! its terminal yet; it may open one terminal session, and is closed when that ends. Its
//! watchdog ([`connection`]) enforces the deadlines and closes it. Once a shell starts, one
//! guest task per connection streams the hub's output to it, so a stalled guest blocks only
//! itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::keys::PrivateKey;
use russh::server::{
    Auth, ChannelOpenHandle, Handle, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::task::TaskTracker;

use crate::admission::{Admission, Evicted, Ticket};
use crate::hub::{Event, Hub, Input, Source};
use crate::keys::AuthorizedKeys;
use crate::limiter::{Failure, FailureLimiter, MAX_FAILURES};
use crate::penalty::{Attempt, Penalties};
use crate::registry::{Arrival, Kind, Registration, Registry};
use crate::shutdown::{self, Shutdown, Trigger};
use crate::size::Size;
use crate::tokens::{Login, Tokens};

/// Time a connection has to authenticate before we close it: OpenSSH's LoginGraceTime is 120 s,
/// but our guests never type a password, so a live client needs well under a second.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections that have not authenticated yet, at most (OpenSSH's MaxStartups is 10:30:100).
/// Past it a newcomer pushes out the oldest waiting connection ([`crate::admission`]): a real
/// guest authenticates within milliseconds, so a flood of idle connections cannot lock it out.
pub const MAX_UNAUTHENTICATED: usize = 64;
/// The same, per source address: one address's flood then only pushes out its own connections.
/// Sixteen lets a room of people behind one NAT join in the same instant.
pub const MAX_UNAUTHENTICATED_PER_ADDR: usize = 16;
/// The pause before a wrong token is refused (russh sleeps this long per rejection).
pub const AUTH_DELAY: Duration = Duration::from_millis(500);
/// How long an authenticated connection may go without opening its terminal session. A guest's
/// client opens it within milliseconds; a connection that holds on with none (`ssh -N`, an idle
/// ControlMaster) is closed, so that no login outlives its purpose.
pub const NO_SESSION_GRACE: Duration = Duration::from_secs(30);
/// How long a guest being disconnected gets to take its last message; a stalled one is cut.
pub const FAREWELL_TIMEOUT: Duration = Duration::from_secs(2);
/// A read-write guest's keystroke chunks on their way to the pty, at most. Guests share one
/// queue to the pty writer, so without a cap of their own a guest flooding input (a huge paste, a
/// hostile client) would fill it and every other typist would wait behind the whole queue
/// (4 MiB measured, in `a_flooding_guest_cannot_starve_another_guests_or_the_hosts_keystrokes`).
/// With a few slots each, the queue serves typists in turn; four keep one guest's paste flowing.
pub const GUEST_INPUT_SLOTS: usize = 4;
/// Keep-alive probes: a guest that answers none of three in a row (90 s) is dropped; one
/// suspended for a minute survives and is repainted when it wakes.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Bytes that return a guest's terminal to normal after tmux's screen: the mirror of what a
/// local `tmux detach` does (modes off, attributes reset, scroll region reset, main screen).
const LEAVE_TERMINAL: &str = "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1005l\x1b[?2004l\x1b[?1004l\x1b[?1l\x1b>\x1b[r\x1b[m\x1b[?25h\x1b[?1049l";

/// What every connection shares. Built by `share`.
pub struct Shared {
    pub hub: Arc<Hub>,
    /// Who is connected; guests register there when their shell starts.
    pub registry: Arc<Registry>,
    pub tokens: Arc<Tokens>,
    /// Wrong tokens per address: the lockout, and the counts `npair status` shows.
    pub failures: Arc<FailureLimiter>,
    /// With `--authorized-keys`: the token alone is not enough, a listed key is needed too.
    pub authorized_keys: Option<AuthorizedKeys>,
    /// Keystrokes of read-write guests, to the pty writer.
    pub input: mpsc::Sender<Input>,
    /// Join and leave notices for the host; dropped when the host is not keeping up.
    pub notices: mpsc::Sender<String>,
    pub shutdown: Shutdown,
    /// Every connection and guest task runs on this tracker, so that `share` can wait until
    /// every guest has been told goodbye (or given up on) before the process exits.
    pub tasks: TaskTracker,
}

fn config(key: PrivateKey, publickey_only: bool) -> russh::server::Config {
    // The token is the username, so any method the client tries first will do: OpenSSH tries
    // `none` and gets in with no prompt; clients that never try `none` (paramiko with a
    // password, many GUI and phone clients) use `password` (any password) or
    // `keyboard-interactive` (no prompts). With --authorized-keys only a listed key will do.
    let methods = if publickey_only {
        MethodSet::from(&[MethodKind::None, MethodKind::PublicKey][..])
    } else {
        MethodSet::from(
            &[
                MethodKind::None,
                MethodKind::Password,
                MethodKind::KeyboardInteractive,
                MethodKind::PublicKey,
            ][..],
        )
    };
    russh::server::Config {
        server_id: russh::SshId::Standard(
            format!("SSH-2.0-npair_{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods,
        auth_rejection_time: AUTH_DELAY,
        auth_rejection_time_initial: Some(AUTH_DELAY),
        keys: vec![key],
        keepalive_interval: Some(KEEPALIVE),
        keepalive_max: 3,
        // Keep-alive replies count as traffic, so this only drops peers that are gone.
        inactivity_timeout: Some(KEEPALIVE * 4),
        nodelay: true,
        // No finite-field DH, encrypt-then-MAC only, no compression before authentication.
        preferred: crate::algorithms::preferred(),
        ..Default::default()
    }
}

/// Accepts guests on every listener until the shutdown.
pub async fn serve(listeners: Vec<TcpListener>, key: PrivateKey, shared: Arc<Shared>) {
    let config = Arc::new(config(key, shared.authorized_keys.is_some()));
    let limiter = Arc::clone(&shared.failures);
    let unauthenticated = Admission::new(MAX_UNAUTHENTICATED, MAX_UNAUTHENTICATED_PER_ADDR);
    let penalties = Penalties::new();
    for listener in listeners {
        tokio::spawn(accept(
            listener,
            Arc::clone(&config),
            Arc::clone(&shared),
            Arc::clone(&limiter),
            Arc::clone(&unauthenticated),
            Arc::clone(&penalties),
        ));
    }
}

async fn accept(
    listener: TcpListener,
    config: Arc<russh::server::Config>,
    shared: Arc<Shared>,
    limiter: Arc<FailureLimiter>,
    unauthenticated: Arc<Admission>,
    penalties: Arc<Penalties>,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let Some((tcp, peer)) = crate::shutdown::accept(&listener, &mut shutdown).await else {
            return;
        };
        let (ticket, evicted) = unauthenticated.admit(peer.ip());
        let attempt = penalties.attempt(peer.ip());
        shared.tasks.spawn(connection(
            tcp,
            peer,
            Arc::clone(&config),
            Arc::clone(&shared),
            Arc::clone(&limiter),
            (ticket, attempt),
            evicted,
        ));
    }
}

/// Where a connection stands, told by its handler to its watchdog ([`connection`]).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Not authenticated yet.
    Handshake,
    /// Refused (a wrong token, a lockout, a full share): the watchdog disconnects it with this
    /// message, which clients print ("Received disconnect ...: MESSAGE").
    Refused(String),
    /// Authenticated and registered; no terminal session yet.
    Authenticated,
    /// Its terminal session is open.
    Session,
    /// Its terminal session has ended or was refused. A connection serves one session (a new
    /// session is a new join, with a current token), so the watchdog closes it.
    Done,
}

/// What a connection that never opened its terminal session is told when it is closed.
fn no_session_message() -> String {
    format!(
        "npair: no terminal session was opened within {} s; connect with `ssh -t` to join",
        NO_SESSION_GRACE.as_secs()
    )
}

/// Watches one connection from its first byte to its end: the authentication deadline, the
/// grace for opening a session, kicks and the shutdown, and the farewell. It closes the
/// connection itself (by socket) whenever a deadline passes, whatever state SSH is in.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    config: Arc<russh::server::Config>,
    shared: Arc<Shared>,
    limiter: Arc<FailureLimiter>,
    (ticket, mut attempt): (Ticket, Attempt),
    mut evicted: Evicted,
) {
    let _ = tcp.set_nodelay(true);
    // A second handle on the socket lets us cut a connection that never authenticates,
    // whatever state the SSH session is in.
    let Ok(std_tcp) = tcp.into_std() else { return };
    let Ok(cut) = std_tcp.try_clone() else { return };
    let Ok(tcp) = TcpStream::from_std(std_tcp) else {
        return;
    };
    let cut = move || {
        let _ = cut.shutdown(std::net::Shutdown::Both);
    };

    let (phase_tx, mut phase) = watch::channel(Phase::Handshake);
    let mut shutdown = shared.shutdown.clone();
    let (kick, mut kicked) = shutdown::channel();
    let conn = Conn {
        shared,
        limiter,
        peer,
        unauthenticated: Some(ticket),
        phase: phase_tx,
        login: None,
        client: String::new(),
        kick: Some(kick),
        reg: None,
        admitted: None,
        channel: None,
        pty: false,
        term_size: None,
        guest: None,
    };
    // A source penalised for connections that never authenticate waits for its gate before we
    // send a byte or start a key exchange (src/penalty.rs).
    let start = async {
        attempt.turn().await;
        russh::server::run_stream(config, QuickAck(tcp), conn).await
    };
    let mut session = tokio::select! {
        r = timeout(AUTH_TIMEOUT, start) => match r {
            Ok(Ok(s)) => s,
            _ => return cut(),
        },
        Ok(()) = &mut evicted => return cut(),
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
            Phase::Done => break ("npair: the session has ended".into(), true),
            _ => {}
        }
        let in_session = now == Phase::Session;
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
    let reason = reason.trim_start_matches("npair: ");
    let _ = timeout(
        DISCONNECT_TIMEOUT,
        handle.disconnect(
            russh::Disconnect::ByApplication,
            format!("npair: {reason}"),
            String::new(),
        ),
    )
    .await;
    // The message goes out after the refusal's delay, when russh's loop next takes a message.
    let _ = timeout(AUTH_DELAY + DISCONNECT_TIMEOUT, &mut session).await;
    cut();
}

/// How long a disconnect message, and the client's reaction to it, may take before the socket
/// is cut: the message is small, so only a stalled client takes longer.
const DISCONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A guest's TCP stream that acknowledges what it reads at once (TCP_QUICKACK after every read).
///
/// OpenSSH clients send the key exchange as two small writes with Nagle's algorithm on (they
/// turn it off only once the session is interactive): KEXINIT, then KEXDH_INIT. We have nothing
/// to answer KEXINIT with, so a delayed ACK would hold KEXDH_INIT back for 40 ms, most of a
/// join. Linux leaves quick-ack mode by itself, hence the call after every read.
struct QuickAck(TcpStream);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if r.is_ready() {
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        r
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// One SSH connection.
struct Conn {
    shared: Arc<Shared>,
    limiter: Arc<FailureLimiter>,
    peer: SocketAddr,
    /// A place among the unauthenticated connections, given back on authentication.
    unauthenticated: Option<Ticket>,
    /// Tells the connection's watchdog where the connection stands.
    phase: watch::Sender<Phase>,
    /// The token presented and what it granted; `None` until authenticated (with
    /// --authorized-keys, until a listed key is presented too).
    login: Option<Login>,
    /// The guest's SSH version line.
    client: String,
    /// Kicks this guest; handed to the registry when the guest registers.
    kick: Option<Trigger>,
    /// The guest's place in the registry, from authentication to the end of the connection.
    reg: Option<Arc<Registration>>,
    /// With `--approve`: resolves when the host lets the guest in.
    admitted: Option<oneshot::Receiver<()>>,
    /// The one session channel this connection may open.
    channel: Option<ChannelId>,
    /// Whether the guest asked for a terminal (a pty request).
    pty: bool,
    /// The guest's terminal size from its pty request, as reported (not clamped); `None` when
    /// it reported none (zero).
    term_size: Option<Size>,
    /// Present once the shell has started.
    guest: Option<Guest>,
}

/// A guest whose shell has started. Dropping it ends the guest's task; the registration (and
/// with it the size vote) goes when the task has gone too.
struct Guest {
    reg: Arc<Registration>,
    /// The guest's terminal size, watched by its task.
    size: watch::Sender<Option<Size>>,
    task: JoinHandle<()>,
    /// This guest's places in the input queue ([`GUEST_INPUT_SLOTS`]).
    input_slots: Arc<Semaphore>,
}

/// A guest's keystroke chunk that keeps one of its input slots until the pty writer has
/// written it and let it go.
struct Slotted {
    bytes: Vec<u8>,
    _slot: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Slotted {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A rejection that asks for a key: the right token without a listed key (--authorized-keys).
/// OpenSSH reads an empty method list as "try everything" and would prompt for a password;
/// naming only publickey ends, when no key fits, with its ordinary
/// "Permission denied (publickey)." and exit status 255, with no prompt.
fn need_a_key() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey][..])),
        partial_success: false,
    }
}

/// The rejection of a wrong token. The watchdog then disconnects the client with a message
/// that says so; the methods named keep the client asking until that message arrives, so that
/// it is printed. OpenSSH tries publickey and keyboard-interactive before password, so it never
/// prompts for a password first; a client that only does password (paramiko) is told
/// "authentication failed" rather than that its method is unsupported.
fn wrong_token() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(
            &[
                MethodKind::PublicKey,
                MethodKind::KeyboardInteractive,
                MethodKind::Password,
            ][..],
        )),
        partial_success: false,
    }
}

/// What a guest who presented a wrong token is told. It says nothing about valid tokens.
const WRONG_TOKEN: &str = "npair: that token is not valid for this share; check the login the \
     host gave you (tokens are new each time npair starts, and the host may have replaced them)";

/// Ends a session channel with a message on stderr and exit status 1: how a request npair does
/// not grant is refused, since a plain failure loses the message (OpenSSH prints only
/// "exec request failed").
fn refuse_channel(session: &mut Session, ch: ChannelId, msg: &str) -> Result<(), russh::Error> {
    session.channel_success(ch)?;
    session.extended_data(ch, 1, Bytes::from(format!("{msg}\r\n")))?;
    session.exit_status_request(ch, 1)?;
    session.eof(ch)?;
    session.close(ch)
}

impl Conn {
    fn ours(&self, ch: ChannelId) -> bool {
        self.channel == Some(ch)
    }

    fn notice(&self, msg: String) {
        let _ = self.shared.notices.try_send(msg);
    }

    /// Registers the guest as it authenticates: from here on it is listed, kicked and rotated
    /// out like any guest, whether or not it ever opens its terminal.
    fn register(&mut self) {
        let (Some(login), Some(kick)) = (self.login, self.kick.take()) else {
            return;
        };
        let arrival = Arrival {
            kind: Kind::Ssh,
            login,
            addr: self.peer,
            client: self.client.clone(),
            term: None,
            kick,
        };
        match self.shared.registry.register(arrival) {
            Ok((reg, waiting)) => {
                self.reg = Some(Arc::new(reg));
                self.admitted = waiting;
                self.phase.send_replace(Phase::Authenticated);
            }
            Err(refusal) => {
                self.notice(format!("refused a guest from {}: {refusal}", self.peer));
                self.phase
                    .send_replace(Phase::Refused(format!("npair: {refusal}")));
            }
        }
    }

    /// Starts streaming the session to the guest.
    fn start_guest(&mut self, ch: ChannelId, reg: Arc<Registration>, session: &mut Session) {
        let term = self.term_size;
        reg.start_session(term);
        let (size_tx, size_rx) = watch::channel(term);
        let out = Out {
            handle: session.handle(),
            ch,
            reg: Arc::clone(&reg),
        };
        let waiting = self.admitted.take();
        let task =
            self.shared
                .tasks
                .spawn(run_guest(out, Arc::clone(&self.shared), size_rx, waiting));
        self.guest = Some(Guest {
            reg,
            size: size_tx,
            task,
            input_slots: Arc::new(Semaphore::new(GUEST_INPUT_SLOTS)),
        });
        self.phase.send_replace(Phase::Session);
    }

    fn refused(&self) -> bool {
        matches!(*self.phase.borrow(), Phase::Refused(_))
    }

    /// Refuses the connection: the watchdog disconnects it with `msg`.
    fn refuse(&self, msg: String) {
        self.phase.send_replace(Phase::Refused(msg));
    }

    /// The login a username grants. A wrong token is counted against the address, told to
    /// the host, and refuses the connection (once: the client's later attempts on the same
    /// connection are refused without counting again).
    fn check_token(&self, user: &str) -> Option<Login> {
        if self.refused() {
            return None;
        }
        let ip = self.peer.ip();
        if !self.limiter.allowed(ip) {
            self.refuse(format!(
                "npair: too many wrong tokens from {ip}; wait a minute, then try the login the \
                 host gave you"
            ));
            return None;
        }
        let login = self.shared.tokens.check(user);
        if login.is_none() {
            match self.limiter.failed(ip) {
                Failure::Counted => self.notice(format!("a wrong token from {}", self.peer)),
                Failure::LockedOut => self.notice(format!(
                    "{ip} is locked out for a minute after {MAX_FAILURES} wrong tokens"
                )),
            }
            self.refuse(WRONG_TOKEN.to_owned());
        }
        login
    }

    /// A method that carries only the token (`none`, `password`, `keyboard-interactive`).
    fn by_token(&mut self, user: &str) -> Auth {
        match self.check_token(user) {
            // With --authorized-keys the token alone is not enough: the client goes on to
            // `publickey` (the only method named), where the token is checked again with the key.
            Some(_) if self.shared.authorized_keys.is_some() => need_a_key(),
            Some(login) => {
                self.login = Some(login);
                Auth::Accept
            }
            None => wrong_token(),
        }
    }

    /// A key: any key with the right token, or with --authorized-keys a listed one.
    fn by_key(&mut self, user: &str, key: &russh::keys::PublicKey) -> Option<Login> {
        let login = self.check_token(user)?;
        match &self.shared.authorized_keys {
            Some(keys) if !keys.allows(key) => None,
            _ => Some(login),
        }
    }

    fn key_answer(&self, login: Option<Login>) -> Auth {
        match login {
            Some(_) => Auth::Accept,
            None if self.refused() => wrong_token(),
            None => need_a_key(),
        }
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        Ok(self.by_token(user))
    }

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        Ok(self.by_token(user))
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        // No prompts: the token is the username.
        Ok(self.by_token(user))
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Answers "would this key do?" before the client signs with it.
        let login = self.by_key(user, offer.public_key);
        Ok(self.key_answer(login))
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let login = self.by_key(user, key.public_key);
        if login.is_some() {
            self.login = login;
        }
        Ok(self.key_answer(login))
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        self.client = String::from_utf8_lossy(session.remote_sshid()).into_owned();
        self.unauthenticated = None;
        self.register();
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // One shared view per connection; a second session channel (multiplexing) is refused.
        if self.channel.is_some() || self.reg.is_none() {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channel = Some(channel.id());
        // Client events are answered in the callbacks below; an undrained Channel would wedge
        // the whole connection once its queue fills (see CRATES.md).
        drop(channel);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        ch: ChannelId,
        _term: &str,
        cols: u32,
        rows: u32,
        _px_w: u32,
        _px_h: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if !self.ours(ch) || self.guest.is_some() {
            return session.channel_failure(ch);
        }
        // The terminal type is not used: the guest sees what tmux draws for the host's TERM.
        self.pty = true;
        self.term_size = Size::reported(cols, rows);
        session.channel_success(ch)
    }

    async fn shell_request(
        &mut self,
        ch: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let reg = match (&self.reg, self.ours(ch) && self.guest.is_none()) {
            (Some(reg), true) => Arc::clone(reg),
            _ => return session.channel_failure(ch),
        };
        let refusal = if !self.pty {
            // Without a terminal the guest would get the raw screen stream, and its typing would
            // land in the session unechoed.
            Some("npair needs a terminal: run ssh with -t (for example `ssh -t ...`)".to_owned())
        } else if self.shared.tokens.is_stale(reg.login()) {
            // A new session is a new join: a token the host has replaced does not open one, even
            // on a connection that logged in before the rotation.
            Some(
                "npair: the host has replaced the token this connection logged in with; ask the \
                 host for the new login"
                    .to_owned(),
            )
        } else {
            None
        };
        if let Some(msg) = refusal {
            self.notice(format!(
                "refused a session from guest {} ({}): {}",
                reg.id(),
                self.peer,
                msg.trim_start_matches("npair: ")
            ));
            self.phase.send_replace(Phase::Done);
            return refuse_channel(session, ch, &msg);
        }
        session.channel_success(ch)?;
        self.start_guest(ch, reg, session);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        ch: ChannelId,
        _command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.notice(format!(
            "refused a command from {} (only the shared session is offered)",
            self.peer
        ));
        self.phase.send_replace(Phase::Done);
        refuse_channel(
            session,
            ch,
            "npair: commands are refused here; this server only shares a terminal session. \
             Connect without a command to join it.",
        )
    }

    async fn subsystem_request(
        &mut self,
        ch: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.notice(format!(
            "refused subsystem '{}' from {}",
            name.escape_debug(),
            self.peer
        ));
        session.channel_failure(ch)
    }

    async fn x11_request(
        &mut self,
        ch: ChannelId,
        _single: bool,
        _proto: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(ch)
    }

    // Not overridden, and so refused by russh's defaults: agent forwarding (`agent_request`
    // answers false), remote forwarding (`tcpip_forward` and `streamlocal_forward` answer
    // false), and every channel type but "session" (direct-tcpip, forwarded-tcpip, x11,
    // streamlocal: the open is rejected). Environment requests are ignored (no reply, as
    // OpenSSH clients do not ask for one).

    async fn window_change_request(
        &mut self,
        ch: ChannelId,
        cols: u32,
        rows: u32,
        _px_w: u32,
        _px_h: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if !self.ours(ch) {
            return Ok(());
        }
        // A zero width or height means "unknown" (RFC 4254 §6.2): the guest stops voting.
        let size = Size::reported(cols, rows);
        self.term_size = size;
        if let Some(g) = &self.guest {
            g.reg.set_term(size);
            g.size.send_replace(size);
        }
        Ok(())
    }

    async fn data(
        &mut self,
        ch: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(g) = &self.guest else {
            return Ok(());
        };
        // Read-only guests (and guests still waiting for the host) watch: their keystrokes go
        // nowhere. The role is asked each time, as the host may change it.
        if !self.ours(ch) || !g.reg.can_type() {
            return Ok(());
        }
        // Waits while this guest has all its chunks queued, or when the pty is not keeping up:
        // this guest's connection is paused (TCP back-pressure), and nothing is buffered
        // without bound.
        let Ok(slot) = Arc::clone(&g.input_slots).acquire_owned().await else {
            return Ok(());
        };
        let input = Input {
            from: Source::Guest(g.reg.id()),
            bytes: Bytes::from_owner(Slotted {
                bytes: data.to_vec(),
                _slot: slot,
            }),
        };
        let _ = self.shared.input.send(input).await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        ch: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.ours(ch) {
            self.guest = None;
            self.phase.send_replace(Phase::Done);
        }
        Ok(())
    }
}

/// The guest's channel, from its task.
struct Out {
    handle: Handle,
    ch: ChannelId,
    /// The guest's registration: counts what is sent, and says when the host kicks it.
    reg: Arc<Registration>,
}

impl Out {
    /// Sends bytes; false when the guest is gone. Waits while the guest's window is full.
    async fn send(&self, bytes: Bytes) -> bool {
        let n = bytes.len();
        let ok = self.handle.data(self.ch, bytes).await.is_ok();
        if ok {
            self.reg.sent(n);
        }
        ok
    }

    /// Tells the guest why it is being disconnected, leaves its terminal tidy and closes the
    /// channel. A guest that does not take it in time is simply dropped.
    async fn farewell(&self, reason: &str) {
        let msg = format!("{LEAVE_TERMINAL}\r\n[npair: {reason}]\r\n");
        let _ = timeout(FAREWELL_TIMEOUT, async {
            let _ = self.handle.data(self.ch, Bytes::from(msg)).await;
            let _ = self.handle.exit_status_request(self.ch, 0).await;
            let _ = self.handle.eof(self.ch).await;
            let _ = self.handle.close(self.ch).await;
        })
        .await;
    }
}

/// Why a guest's stream stopped.
enum Next {
    /// Subscribe again and repaint from the screen model.
    Resync,
    /// The guest is gone or the share is over.
    Stop,
}

fn too_small(term: Size, session: Size) -> Bytes {
    Bytes::from(format!(
        "\x1bc\x1b[?25l\r\nnpair: your terminal is too small for this session.\r\n\r\n  \
         your terminal  {term}\r\n  the session    {session}\r\n\r\n\
         Make your terminal at least {session}; the session will appear by itself.\r\n"
    ))
}

/// What a guest sees while the host decides whether to let it in (`--approve`).
fn waiting_screen(id: u64) -> Bytes {
    Bytes::from(format!(
        "\x1bc\x1b[?25l\r\nnpair: waiting for the host to let you in (you are guest {id}).\r\n\r\n\
         The session will appear here when the host accepts you.\r\n"
    ))
}

/// Streams the shared screen to one guest until it leaves, is kicked, or the share ends.
/// A guest that must wait for the host sees only the waiting screen until it is let in.
async fn run_guest(
    out: Out,
    shared: Arc<Shared>,
    mut size: watch::Receiver<Option<Size>>,
    waiting: Option<oneshot::Receiver<()>>,
) {
    let mut shutdown = shared.shutdown.or_kick(out.reg.kicked());
    if let Some(admitted) = waiting {
        if !out.send(waiting_screen(out.reg.id())).await {
            return;
        }
        tokio::select! {
            r = admitted => if r.is_err() { return },
            reason = shutdown.wait() => { out.farewell(&reason).await; return; }
        }
    }
    loop {
        let mut sub = shared.hub.subscribe();
        let term = *size.borrow_and_update();
        let showing = match term {
            Some(t) if !sub.size.fits_in(t) => too_small(t, sub.size),
            _ => sub.snapshot,
        };
        let sent = tokio::select! {
            ok = out.send(showing) => ok,
            reason = shutdown.wait() => { out.farewell(&reason).await; return; }
        };
        if !sent {
            return;
        }
        let fits = term.is_none_or(|t| sub.size.fits_in(t));
        let next = follow(&out, &mut sub.events, &mut size, &mut shutdown, fits).await;
        if let Next::Stop = next {
            return;
        }
    }
}

/// Forwards output after a snapshot (when `fits`), until something calls for a repaint.
async fn follow(
    out: &Out,
    events: &mut broadcast::Receiver<Event>,
    size: &mut watch::Receiver<Option<Size>>,
    shutdown: &mut Shutdown,
    fits: bool,
) -> Next {
    loop {
        let chunk = tokio::select! {
            biased;
            reason = shutdown.wait() => { out.farewell(&reason).await; return Next::Stop; }
            r = size.changed() => return if r.is_ok() { Next::Resync } else { Next::Stop },
            ev = events.recv() => match ev {
                Ok(Event::Output(b)) => b,
                // A new size or a gap: repaint from the model rather than replay.
                Ok(Event::Resized(_)) | Err(broadcast::error::RecvError::Lagged(_)) => return Next::Resync,
                Err(broadcast::error::RecvError::Closed) => return Next::Stop,
            },
        };
        if !fits {
            continue;
        }
        let sent = tokio::select! {
            ok = out.send(chunk) => ok,
            reason = shutdown.wait() => { out.farewell(&reason).await; return Next::Stop; }
        };
        if !sent {
            return Next::Stop;
        }
    }
}
