//! One guest's entry and the guard a transport holds for it: what it is (kind, login, address,
//! client, name), what the host may change while it stays (role, admission), its terminal and
//! size vote, the bytes sent to it and when it last typed. Dropping the [`Registration`] removes
//! it, on every path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::oneshot;

use super::names::GuestRef;
use super::typing::Stamp;
use super::{GuestRole, Kind, Registry, MAX_CLIENT_CHARS};
use crate::shutdown::{Shutdown, Trigger};
use crate::size::{Size, SizePolicy, Vote};
use crate::tokens::{Login, Role};

pub(super) struct Entry {
    pub(super) id: u64,
    pub(super) kind: Kind,
    pub(super) login: Login,
    pub(super) addr: SocketAddr,
    pub(super) client: String,
    pub(super) since: SystemTime,
    pub(super) bytes: AtomicU64,
    pub(super) kick: Trigger,
    /// When it last typed: written by its connection at each keystroke, without a lock.
    pub(super) typed: Stamp,
    pub(super) state: Mutex<State>,
}

pub(super) struct State {
    pub(super) role: Role,
    pub(super) admitted: bool,
    /// The guest has its terminal session (an SSH shell; a web page always has).
    pub(super) session: bool,
    pub(super) term: Option<Size>,
    /// Present while the guest is admitted, read-write and has a terminal.
    pub(super) vote: Option<Vote>,
    /// Tells a waiting guest's task that the host let it in.
    pub(super) admit: Option<oneshot::Sender<()>>,
    /// The name it is shown by (`None`: `guest N`). Settled when its session starts.
    pub(super) name: Option<Arc<str>>,
    /// The host has been told it is here (joined, or waiting to be let in).
    pub(super) announced: bool,
}

impl Entry {
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn label(&self, role: Role) -> GuestRole {
        match (self.kind, role) {
            (Kind::Web, _) => GuestRole::Web,
            (Kind::Ssh, Role::ReadWrite) => GuestRole::Rw,
            (Kind::Ssh, Role::ReadOnly) => GuestRole::Ro,
        }
    }

    /// The name it is shown by: its own, or `guest N`.
    pub(super) fn name(&self, s: &State) -> Arc<str> {
        s.name
            .clone()
            .unwrap_or_else(|| format!("guest {}", self.id).into())
    }

    /// How notices name it: `alice (guest 3, rw)`, or `guest 3 (rw)`.
    pub(super) fn who(&self, s: &State) -> String {
        let role = self.label(s.role);
        match &s.name {
            Some(name) => format!("{name} (guest {}, {role})", self.id),
            None => format!("guest {} ({role})", self.id),
        }
    }

    /// How answers to the host's commands name it.
    pub(super) fn reference(&self, s: &State) -> GuestRef {
        GuestRef {
            id: self.id,
            name: s.name.as_deref().map(str::to_owned),
        }
    }
}

impl State {
    /// Gives or withdraws the size vote to match the role, admission and terminal. A guest
    /// whose terminal size is unknown does not vote; one smaller than [`Size::guest_vote`]'s
    /// floor votes for the floor (and is told its terminal is too small).
    pub(super) fn revote(&mut self, kind: Kind, sizes: &Arc<SizePolicy>) {
        let votes =
            self.admitted && self.session && self.role == Role::ReadWrite && kind == Kind::Ssh;
        match (votes, self.term, &self.vote) {
            (true, Some(t), Some(v)) => v.set(t.guest_vote()),
            (true, Some(t), None) => self.vote = Some(sizes.vote(t.guest_vote())),
            _ => self.vote = None,
        }
    }
}

/// A client name fit to print: printable ASCII only, bounded.
pub(super) fn printable(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_CLIENT_CHARS)
        .collect();
    if s.is_empty() {
        "?".to_owned()
    } else {
        s
    }
}

/// How a guest's wait for the host (`--approve`) ended.
pub enum Waited {
    /// The host let it in.
    In,
    /// Its registration went, or the guest itself left while waiting: nothing to say.
    Gone,
    /// It was turned away or kicked, or the share ended: tell it this.
    Ended(Arc<str>),
}

/// Waits, for a guest that must, until the host decides (or the guest leaves: `gone`). Both
/// transports wait the same way; only what they show while waiting differs.
pub async fn wait_for_host(
    admitted: oneshot::Receiver<()>,
    shutdown: &mut Shutdown,
    gone: impl std::future::Future,
) -> Waited {
    tokio::select! {
        r = admitted => if r.is_ok() { Waited::In } else { Waited::Gone },
        reason = shutdown.wait() => Waited::Ended(reason),
        _ = gone => Waited::Gone,
    }
}

/// A guest's place in the registry. Dropping it removes the guest, withdraws its size vote
/// and tells the host it left.
pub struct Registration {
    pub(super) registry: Arc<Registry>,
    pub(super) entry: Arc<Entry>,
    pub(super) kicked: Shutdown,
}

impl Registration {
    pub fn id(&self) -> u64 {
        self.entry.id
    }

    /// Fires when the host kicks or denies this guest.
    pub fn kicked(&self) -> &Shutdown {
        &self.kicked
    }

    /// Whether this guest's keystrokes reach the session now: let in, read-write, and not
    /// kicked (a kicked guest's last keystrokes, still in flight, go nowhere).
    pub fn can_type(&self) -> bool {
        let s = self.entry.state();
        s.admitted
            && s.role == Role::ReadWrite
            && self.entry.kind == Kind::Ssh
            && !self.kicked.has_fired()
    }

    /// The guest opened its terminal session, of the size it reported (if any). Its name is
    /// settled now (an SSH client sends its environment ahead of the shell request), so this is
    /// when the host hears of it.
    pub fn start_session(&self, term: Option<Size>) {
        let mut s = self.entry.state();
        s.session = true;
        s.term = term;
        s.revote(self.entry.kind, &self.registry.sizes);
        drop(s);
        self.registry.announce(&self.entry);
    }

    /// The name the guest gave (checked by [`super::names::parse`]). Kept only when it has no
    /// name from its key, and before its session starts; returns whether it was kept.
    pub fn give_name(&self, name: Arc<str>) -> bool {
        let mut s = self.entry.state();
        let kept = s.name.is_none() && !s.session;
        if kept {
            s.name = Some(name);
        }
        kept
    }

    /// A keystroke that reaches the session: stamps the time, and wakes whoever shows who is
    /// typing only when it starts a spell of typing, not at every keystroke.
    pub fn typed(&self) {
        let typing = &self.registry.typing;
        if self.entry.typed.typed(typing.clock.now()) {
            typing.wake.notify_one();
        }
    }

    /// The guest's terminal was resized (as reported, unclamped; `None`: it reported no size).
    pub fn set_term(&self, size: Option<Size>) {
        let mut s = self.entry.state();
        s.term = size;
        s.revote(self.entry.kind, &self.registry.sizes);
    }

    /// The token this guest logged in with.
    pub fn login(&self) -> Login {
        self.entry.login
    }

    /// Counts bytes sent to the guest.
    pub fn sent(&self, n: usize) {
        self.meter().sent(n);
    }

    /// Counts bytes sent to the guest from wherever they are written (a web viewer's frames
    /// are written by the fan-out, not by the viewer's task).
    pub fn meter(&self) -> Meter {
        Meter(Arc::clone(&self.entry))
    }
}

/// Counts the bytes sent to one guest, for `npair status`.
pub struct Meter(Arc<Entry>);

impl Meter {
    pub fn sent(&self, n: usize) {
        self.0.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let n = {
            let mut inner = self.registry.lock();
            inner.guests.remove(&self.entry.id);
            inner.guests.len()
        };
        let (who, announced) = {
            let mut s = self.entry.state();
            s.vote = None;
            (self.entry.who(&s), s.announced)
        };
        // The notice first: whoever waits for the count to reach zero then finds it queued.
        self.registry.notice(if announced {
            format!("{who} left")
        } else {
            format!(
                "{who} from {} left without opening a terminal session",
                self.entry.addr
            )
        });
        self.registry.count.send_replace(n);
        if self.entry.typed.read().0 != 0 {
            // It may be shown as typing: it is not any more.
            self.registry.typing.wake.notify_one();
        }
    }
}
