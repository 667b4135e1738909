//! The guest registry owns who is connected: every SSH guest and web viewer, its name, role,
//! address, client, terminal size, bytes sent, whether the host has let it in yet, its size
//! vote, when it last typed, and the means to kick it.
//!
//! The contract:
//! - A transport registers a guest ([`Registry::register`]) and holds the returned
//!   [`Registration`], whose Drop removes it (and its vote, and announces the departure) on
//!   every exit path (`guest.rs`).
//! - A guest's name is its key's comment, else the one it gave before its session started,
//!   else `guest N` (`names.rs`). The host hears of a guest once its name is settled: a web
//!   viewer as it registers, an SSH guest as its session starts.
//! - The control socket asks the registry, never the transports: it lists guests, finds them
//!   by id or name, kicks them, changes their role, lets them in or turns them away (`host.rs`).
//! - A keystroke that reaches the session stamps its guest ([`Registration::typed`], lock-free);
//!   the registry's follower turns the stamps into who is typing now, which the host's status
//!   line, the web page and the recording watch (`typing.rs`). Transports never call tmux.
//! - The size policy takes its votes from here: a guest votes while admitted, read-write and
//!   with a terminal.
//! - The hub knows nothing of it.

mod guest;
mod host;
pub mod names;
#[cfg(test)]
mod tests;
pub mod typing;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::shutdown::Trigger;
use crate::size::{Size, SizePolicy};
use crate::tokens::Login;
use guest::{printable, Entry, State};
pub use guest::{wait_for_host, Meter, Registration, Waited};
pub use names::{GuestRef, Who};
pub use typing::Typing;
use typing::{Stamp, Typists};

/// Characters of a guest's client name (its SSH version line or browser) kept: enough for
/// "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"; the rest of a hostile one is dropped.
pub const MAX_CLIENT_CHARS: usize = 64;

/// How a guest is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ssh,
    Web,
}

/// What a guest is, as `npair status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestRole {
    /// An SSH guest that may type (once let in).
    Rw,
    /// An SSH guest that watches.
    Ro,
    /// A web viewer (always read-only).
    Web,
}

impl GuestRole {
    pub fn as_str(self) -> &'static str {
        match self {
            GuestRole::Rw => "rw",
            GuestRole::Ro => "ro",
            GuestRole::Web => "web",
        }
    }

    /// Whether it watches only: read-only SSH guests and web viewers.
    pub fn watches(self) -> bool {
        self != GuestRole::Rw
    }
}

impl std::fmt::Display for GuestRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the host decided about who may join and how many.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules {
    /// Each new guest waits until the host lets it in (`--approve`).
    pub approve: bool,
    /// Guests (SSH and web, waiting or in) at most at once (`--max-guests`).
    pub max_guests: Option<usize>,
}

/// A guest about to be registered.
pub struct Arrival {
    pub kind: Kind,
    pub login: Login,
    pub addr: SocketAddr,
    /// The SSH client's version line, or the browser's User-Agent.
    pub client: String,
    /// The terminal size the guest reported (SSH only; `None` until it opens its terminal).
    pub term: Option<Size>,
    /// Fired by `kick`; the transport listens to its other half.
    pub kick: Trigger,
    /// The name its key's comment gives (`--authorized-keys`), if any.
    pub name: Option<Arc<str>>,
}

/// Why a guest was not registered.
#[derive(Debug)]
pub enum Refusal {
    Full(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Full(n) => write!(
                f,
                "this share is full ({n} guests, the host's limit); try again later"
            ),
        }
    }
}

/// What `npair status` shows of one guest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GuestInfo {
    pub id: u64,
    /// Its name, or `guest N`. Defaulted, as `last_typed_secs` is, for a newer `npair status`
    /// asking a share that an older npair runs.
    #[serde(default)]
    pub name: String,
    pub role: GuestRole,
    pub address: String,
    pub client: String,
    /// `COLSxROWS` as the guest reported it; `None` for web viewers, and for SSH guests that
    /// have no terminal or reported none.
    pub size: Option<String>,
    /// False while an SSH guest is connected and authenticated but has not opened its terminal
    /// session (`ssh -N`, a ControlMaster); it is still covered by kicks and rotations.
    pub session: bool,
    /// Seconds since the Unix epoch.
    pub since: u64,
    pub connected_secs: u64,
    pub bytes_sent: u64,
    /// False while the guest waits for the host (`--approve`).
    pub admitted: bool,
    /// Seconds since its last keystroke reached the session; `None` if none ever did.
    #[serde(default)]
    pub last_typed_secs: Option<u64>,
}

/// The registry. One per share.
pub struct Registry {
    sizes: Arc<SizePolicy>,
    rules: Rules,
    /// Join and leave notices for the host.
    notices: mpsc::Sender<String>,
    /// Guests waiting for the host's decision, for the attached host's tmux prompt.
    waiting: Mutex<Option<mpsc::Sender<(u64, String)>>>,
    inner: Mutex<Inner>,
    /// The number of guests, for the host's status line.
    count: watch::Sender<usize>,
    /// Who is typing now.
    typing: Typists,
}

struct Inner {
    next_id: u64,
    guests: BTreeMap<u64, Arc<Entry>>,
}

impl Registry {
    pub fn new(sizes: Arc<SizePolicy>, rules: Rules, notices: mpsc::Sender<String>) -> Arc<Self> {
        Arc::new(Registry {
            sizes,
            rules,
            notices,
            waiting: Mutex::new(None),
            inner: Mutex::new(Inner {
                next_id: 1,
                guests: BTreeMap::new(),
            }),
            count: watch::channel(0).0,
            typing: Typists::new(),
        })
    }

    /// Where to announce guests that wait for the host (the attached host's tmux prompt).
    pub fn on_waiting(&self, tx: mpsc::Sender<(u64, String)>) {
        *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notice(&self, msg: String) {
        let _ = self.notices.try_send(msg);
    }

    /// The number of guests, watched.
    pub fn watch_count(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    /// Registers a guest. With `--approve`, the receiver resolves when the host lets it in
    /// (and fails if the guest goes first); without, the guest is in at once (`None`).
    pub fn register(
        self: &Arc<Self>,
        a: Arrival,
    ) -> Result<(Registration, Option<oneshot::Receiver<()>>), Refusal> {
        let (admit_tx, admit_rx) = if self.rules.approve {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let mut inner = self.lock();
        if let Some(max) = self.rules.max_guests {
            if inner.guests.len() >= max {
                return Err(Refusal::Full(max));
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let entry = Arc::new(Entry {
            id,
            kind: a.kind,
            login: a.login,
            addr: a.addr,
            client: printable(&a.client),
            since: SystemTime::now(),
            bytes: AtomicU64::new(0),
            kick: a.kick,
            typed: Stamp::default(),
            state: Mutex::new(State {
                role: a.login.role,
                admitted: admit_tx.is_none(),
                session: a.kind == Kind::Web,
                term: a.term,
                vote: None,
                admit: admit_tx,
                name: a.name,
                announced: false,
            }),
        });
        entry.state().revote(entry.kind, &self.sizes);
        inner.guests.insert(id, Arc::clone(&entry));
        let n = inner.guests.len();
        drop(inner);
        self.count.send_replace(n);
        if entry.kind == Kind::Web {
            // A page gives no name: it is settled now.
            self.announce(&entry);
        }
        let kicked = entry.kick.subscribe();
        Ok((
            Registration {
                registry: Arc::clone(self),
                entry,
                kicked,
            },
            admit_rx,
        ))
    }

    /// Tells the host a guest is here, once: joined, or waiting for the host's word (and then
    /// asks at the attached host's prompt).
    fn announce(&self, e: &Entry) {
        let mut s = e.state();
        if s.announced {
            return;
        }
        s.announced = true;
        let (who, waiting) = (e.who(&s), s.admit.is_some());
        drop(s);
        let id = e.id;
        if waiting {
            let about = format!("{who} from {}", e.addr.ip());
            self.notice(format!(
                "{about} is waiting: `npair approve {id}` lets it in, `npair deny {id}` turns it away"
            ));
            if let Some(tx) = &*self.waiting.lock().unwrap_or_else(|e| e.into_inner()) {
                let _ = tx.try_send((id, about));
            }
        } else {
            self.notice(format!("{who} joined from {}", e.addr));
        }
    }

    /// Everyone connected, in the order they joined.
    pub fn list(&self) -> Vec<GuestInfo> {
        let entries: Vec<Arc<Entry>> = self.lock().guests.values().cloned().collect();
        let now = SystemTime::now();
        let typed_now = self.typing.clock.now();
        entries
            .iter()
            .map(|e| {
                let s = e.state();
                let (last_typed, _) = e.typed.read();
                GuestInfo {
                    id: e.id,
                    name: e.name(&s).to_string(),
                    role: e.label(s.role),
                    address: e.addr.to_string(),
                    client: e.client.clone(),
                    size: s.term.map(|t| t.to_string()),
                    session: s.session,
                    since: e
                        .since
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                    connected_secs: now
                        .duration_since(e.since)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                    bytes_sent: e.bytes.load(Ordering::Relaxed),
                    admitted: s.admitted,
                    last_typed_secs: (last_typed != 0)
                        .then(|| typed_now.saturating_sub(last_typed) / 1000),
                }
            })
            .collect()
    }
}
