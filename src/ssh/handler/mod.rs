//! The connection handler: one [`Conn`] per connection answers russh's callbacks. It admits
//! by token, registers the guest as it authenticates, takes the name it gives (`NPAIR_NAME`),
//! grants one terminal session, refuses everything else with a message, and hands keystrokes
//! of read-write guests to the pty writer.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure};
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

mod auth;
mod session;

use session::refuse_channel;

use super::guest::{run_guest, Out};
use super::watchdog::{disconnect_message, Phase};
use super::{Shared, GUEST_INPUT_SLOTS};
use crate::admission::limiter::FailureLimiter;
use crate::admission::Ticket;
use crate::hub::{Input, Source};
use crate::own::{Escapes, OwnView, Switch};
use crate::registry::names::{self, NAME_VARIABLE};
use crate::registry::{Arrival, Kind, Registration};
use crate::shutdown::Trigger;
use crate::size::Size;
use crate::tokens::Login;

/// One SSH connection.
pub(super) struct Conn {
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
    /// The name the comment of its listed key gives (`--authorized-keys`).
    key_name: Option<Arc<str>>,
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
    /// The own-view escapes in this guest's keystrokes.
    escapes: Escapes,
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
    /// Its own view, while it looks around on its own (`None`: it follows the host). Shared
    /// with its task, which drops an own view that ended or that a demotion closed.
    view: Arc<watch::Sender<Option<Arc<OwnView>>>>,
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

impl Conn {
    /// A connection from `peer` that holds `ticket` until it authenticates, tells its watchdog
    /// where it stands through `phase`, and hands `kick` to the registry when it registers.
    pub(super) fn new(
        shared: Arc<Shared>,
        limiter: Arc<FailureLimiter>,
        peer: SocketAddr,
        ticket: Ticket,
        phase: watch::Sender<Phase>,
        kick: Trigger,
    ) -> Conn {
        Conn {
            shared,
            limiter,
            peer,
            unauthenticated: Some(ticket),
            phase,
            login: None,
            client: String::new(),
            key_name: None,
            kick: Some(kick),
            reg: None,
            admitted: None,
            channel: None,
            pty: false,
            term_size: None,
            guest: None,
            escapes: Escapes::default(),
        }
    }

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
            name: self.key_name.clone(),
        };
        match self.shared.registry.register(arrival) {
            Ok((reg, waiting)) => {
                self.reg = Some(Arc::new(reg));
                self.admitted = waiting;
                self.phase.send_replace(Phase::Authenticated);
            }
            Err(refusal) => {
                self.notice(format!("refused a guest from {}: {refusal}", self.peer));
                self.phase.send_replace(Phase::Refused(refusal.to_string()));
            }
        }
    }

    /// Starts streaming the session to the guest, in its own view when `own` is given.
    fn start_guest(
        &mut self,
        ch: ChannelId,
        reg: Arc<Registration>,
        session: &mut Session,
        own: Option<Arc<OwnView>>,
    ) {
        let term = self.term_size;
        reg.start_session(term);
        let (size_tx, size_rx) = watch::channel(term);
        let view = Arc::new(watch::Sender::new(own));
        let out = Out {
            handle: session.handle(),
            ch,
            reg: Arc::clone(&reg),
        };
        let waiting = self.admitted.take();
        let task = self.shared.tasks.spawn(run_guest(
            out,
            Arc::clone(&self.shared),
            size_rx,
            waiting,
            Arc::clone(&view),
        ));
        self.guest = Some(Guest {
            reg,
            size: size_tx,
            task,
            input_slots: Arc::new(Semaphore::new(GUEST_INPUT_SLOTS)),
            view,
        });
        self.phase.send_replace(Phase::Session);
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
            // A listed key names its holder by its comment, as the host wrote it.
            self.key_name = (self.shared.authorized_keys.as_ref())
                .and_then(|keys| keys.comment(key.public_key))
                .and_then(names::from_key_comment);
        }
        Ok(self.key_answer(login))
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        self.client = String::from_utf8_lossy(session.remote_sshid()).into_owned();
        self.unauthenticated = None;
        self.register();
        // A guest turned away as it registers (a full share) is told why here, ahead of
        // anything else: the client opens its session channel at once, and that channel's
        // refusal, were it first, would end the client with only "open failed" (the watchdog's
        // own disconnect, which says why, came too late about one time in thirty).
        if let Phase::Refused(reason) = &*self.phase.borrow() {
            let _ = session.disconnect(
                russh::Disconnect::ByApplication,
                &disconnect_message(reason),
                "",
            );
        }
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
        // the whole connection once its queue fills: russh queues every client event into it.
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
        self.open_session(ch, session, Switch::Follow).await
    }

    async fn exec_request(
        &mut self,
        ch: ChannelId,
        command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Words that pick a view run nothing: `ssh -t ... own` joins in an own view.
        match command {
            b"own" => return self.open_session(ch, session, Switch::Own).await,
            b"follow" => return self.open_session(ch, session, Switch::Follow).await,
            _ => {}
        }
        self.notice(format!(
            "refused a command from {} (only the shared session is offered)",
            self.peer
        ));
        self.phase.send_replace(Phase::Done);
        refuse_channel(
            session,
            ch,
            "npair: commands are refused here; this server only shares a terminal session. \
             Connect without a command to join it (or with `own`, to look around on your own).",
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

    /// The environment: only `NPAIR_NAME`, the name the guest wants to be shown by (`ssh -o
    /// SetEnv=NPAIR_NAME=alice`), is read; every other variable is refused. The name must be
    /// given ahead of the session (OpenSSH sends it ahead of the shell request), and one that
    /// could not be shown as it is (control characters, too long, ...) refuses the guest with
    /// the reason rather than renaming it behind its back.
    async fn env_request(
        &mut self,
        ch: ChannelId,
        variable: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let reg = match &self.reg {
            Some(reg) if self.ours(ch) && self.guest.is_none() && variable == NAME_VARIABLE => reg,
            _ => return session.channel_failure(ch),
        };
        match names::parse(value) {
            Ok(name) => {
                // A name from the key's comment stays: the host wrote it.
                reg.give_name(name);
                session.channel_success(ch)
            }
            Err(bad) => {
                self.notice(format!(
                    "refused guest {} from {}: the name it gave {bad}",
                    reg.id(),
                    self.peer
                ));
                self.refuse(format!(
                    "the name in {NAME_VARIABLE} {bad}; give at most {} printable characters, \
                     for example `ssh -o SetEnv={NAME_VARIABLE}=alice ...`",
                    names::MAX_NAME_CHARS
                ));
                session.channel_failure(ch)
            }
        }
    }

    // Not overridden, and so refused by russh's defaults: agent forwarding (`agent_request`
    // answers false), remote forwarding (`tcpip_forward` and `streamlocal_forward` answer
    // false), and every channel type but "session" (direct-tcpip, forwarded-tcpip, x11,
    // streamlocal: the open is rejected).

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
        g.reg.typed();
        let (data, switch) = self.escapes.scan(data);
        if let Some(to) = switch {
            self.switch_view(to).await;
        }
        let Some(g) = &self.guest else {
            return Ok(());
        };
        let own = g.view.borrow().clone();
        if let Some(own) = own.filter(|o| !o.has_ended()) {
            if !data.is_empty() {
                own.type_bytes(Bytes::from(data)).await;
            }
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        // Written from here, at once, when the pty takes it: the keystroke's echo has no queue
        // and no other thread on its way.
        let from = Source::Guest(g.reg.id());
        if self.shared.keys.try_now(from, &data) {
            return Ok(());
        }
        // Queued: waits while this guest has all its chunks queued, or when the pty is not
        // keeping up: this guest's connection is paused (TCP back-pressure), and nothing is
        // buffered without bound.
        let Ok(slot) = Arc::clone(&g.input_slots).acquire_owned().await else {
            return Ok(());
        };
        let input = Input {
            from,
            bytes: Bytes::from_owner(Slotted {
                bytes: data,
                _slot: slot,
            }),
        };
        self.shared.keys.queue(input).await;
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
