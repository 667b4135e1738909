//! The SSH server. It is not a login server: it admits a guest by token (the SSH username,
//! with whatever method the client tries: `none`, `password`, `keyboard-interactive` or
//! `publickey`; with `--authorized-keys`, only `publickey` with a listed key) and grants one
//! thing, a view of the shared screen, plus the keyboard for read-write guests. Exec,
//! subsystems, forwarding of any kind, agent and X11 requests are refused; of the environment,
//! only `NPAIR_NAME` (the name a guest is shown by) is read, and every other variable is refused.
//!
//! One `Conn` per connection (`handler/`, with its authentication in `handler/auth.rs`) answers
//! russh's callbacks. A connection is registered as a guest the moment it authenticates, so a kick
//! or a rotation reaches it whether or not it has opened its terminal yet; it may open one terminal
//! session, and is closed when that ends. Its watchdog (`watchdog.rs`) enforces the deadlines and
//! closes it. Once a shell starts, one guest task per connection streams the hub's output to it, so
//! a stalled guest blocks only itself.

mod algorithms;
mod guest;
mod handler;
mod quickack;
mod watchdog;

use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::{MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::admission::limiter::FailureLimiter;
use crate::admission::penalty::Penalties;
use crate::admission::{Admission, Caps};
use crate::hub::Hub;
use crate::keys::AuthorizedKeys;
use crate::registry::Registry;
use crate::shutdown::Shutdown;
use crate::tokens::Tokens;

/// Time a connection has to authenticate before we close it: OpenSSH's LoginGraceTime is 120 s,
/// but our guests never type a password, so a live client needs well under a second.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served before they authenticate, at most (OpenSSH's MaxStartups is 10:30:100).
/// Past it a newcomer takes the place of a stalled connection, or queues (`admission`): a real
/// guest authenticates within milliseconds, so a flood of idle connections cannot lock it out,
/// and a burst of real guests all get in, each in turn.
pub const MAX_UNAUTHENTICATED: usize = 64;
/// The same, per source address: one address's flood then only pushes out its own connections.
pub const MAX_UNAUTHENTICATED_PER_ADDR: usize = 16;
/// Connections accepted and waiting for a place, at most: a class of a thousand pasting the
/// command in the same second (one descriptor and a small task each). Past it, the address with
/// the most queued loses its oldest.
pub const MAX_QUEUED: usize = 2048;
/// The same, per source address: a room of people behind one NAT.
pub const MAX_QUEUED_PER_ADDR: usize = 256;
/// A connection that has moved no byte for this long is stalled, and a newcomer may take its
/// place: a live client answers within a round trip and our own work (the key exchange) takes
/// milliseconds, even with a crowd joining.
pub const STALLED_AFTER: Duration = Duration::from_secs(1);
/// The longest a connection may hold a place before a newcomer may take it, whatever it sends:
/// a slowloris trickling a byte at a time. A real guest authenticates well within it.
pub const HOLD_MAX: Duration = Duration::from_secs(10);
/// The pause before a wrong token is refused (russh sleeps this long per rejection).
pub const AUTH_DELAY: Duration = Duration::from_millis(500);
/// How long an authenticated connection may go without opening its terminal session. A guest's
/// client opens it within milliseconds; a connection that holds on with none (`ssh -N`, an idle
/// ControlMaster) is closed, so that no login outlives its purpose.
pub const NO_SESSION_GRACE: Duration = Duration::from_secs(30);
/// A read-write guest's keystroke chunks on their way to the pty, at most. Guests share one
/// queue to the pty writer, so without a cap of their own a guest flooding input (a huge paste, a
/// hostile client) would fill it and every other typist would wait behind the whole queue
/// (4 MiB measured, in `a_flooding_guest_cannot_starve_another_guests_or_the_hosts_keystrokes`).
/// With a few slots each, the queue serves typists in turn; four keep one guest's paste flowing.
pub const GUEST_INPUT_SLOTS: usize = 4;
/// Keep-alive probes: a guest that answers none of three in a row (90 s) is dropped; one
/// suspended for a minute survives and is repainted when it wakes.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// What every connection shares. Built by `share`.
pub(crate) struct Shared {
    pub hub: Arc<Hub>,
    /// Who is connected; guests register there as they authenticate.
    pub registry: Arc<Registry>,
    pub tokens: Arc<Tokens>,
    /// Wrong tokens per address: the lockout, and the counts `npair status` shows.
    pub failures: Arc<FailureLimiter>,
    /// With `--authorized-keys`: the token alone is not enough, a listed key is needed too.
    pub authorized_keys: Option<AuthorizedKeys>,
    /// Keystrokes of read-write guests, to the pty.
    pub keys: Arc<crate::input::Keystrokes>,
    /// Opens a read-write guest's own view.
    pub own: Arc<crate::own::Views>,
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
        preferred: algorithms::preferred(),
        ..Default::default()
    }
}

/// Accepts guests on every listener until the shutdown.
pub(crate) async fn serve(listeners: Vec<TcpListener>, key: PrivateKey, shared: Arc<Shared>) {
    let config = Arc::new(config(key, shared.authorized_keys.is_some()));
    let limiter = Arc::clone(&shared.failures);
    let unauthenticated = Admission::with(Caps {
        max: MAX_UNAUTHENTICATED,
        max_per_addr: MAX_UNAUTHENTICATED_PER_ADDR,
        max_queued: MAX_QUEUED,
        max_queued_per_addr: MAX_QUEUED_PER_ADDR,
        idle_after: STALLED_AFTER,
        hold_max: HOLD_MAX,
    });
    let penalties = Penalties::new();
    for listener in listeners {
        shared.tasks.spawn(accept(
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
        shared.tasks.spawn(watchdog::connection(
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
