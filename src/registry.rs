//! The guest registry owns who is connected: every SSH guest and web viewer, its role, address,
//! client, terminal size, bytes sent, whether the host has let it in yet, its size vote, and
//! the means to kick it.
//!
//! Transports register a guest and hold the returned [`Registration`], whose Drop removes it
//! (and its vote, and announces the departure) on every exit path. The control socket asks the
//! registry, never the transports. The hub knows nothing of it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::shutdown::{Shutdown, Trigger};
use crate::size::{Size, SizePolicy, Vote};
use crate::tokens::{Login, Role};

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
}

struct Inner {
    next_id: u64,
    guests: BTreeMap<u64, Arc<Entry>>,
}

struct Entry {
    id: u64,
    kind: Kind,
    login: Login,
    addr: SocketAddr,
    client: String,
    since: SystemTime,
    bytes: AtomicU64,
    kick: Trigger,
    state: Mutex<State>,
}

struct State {
    role: Role,
    admitted: bool,
    /// The guest has its terminal session (an SSH shell; a web page always has).
    session: bool,
    term: Option<Size>,
    /// Present while the guest is admitted, read-write and has a terminal.
    vote: Option<Vote>,
    /// Tells a waiting guest's task that the host let it in.
    admit: Option<oneshot::Sender<()>>,
}

impl Entry {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn label(&self, role: Role) -> GuestRole {
        match (self.kind, role) {
            (Kind::Web, _) => GuestRole::Web,
            (Kind::Ssh, Role::ReadWrite) => GuestRole::Rw,
            (Kind::Ssh, Role::ReadOnly) => GuestRole::Ro,
        }
    }
}

impl State {
    /// Gives or withdraws the size vote to match the role, admission and terminal. A guest
    /// whose terminal size is unknown does not vote; one smaller than [`Size::guest_vote`]'s
    /// floor votes for the floor (and is told its terminal is too small).
    fn revote(&mut self, kind: Kind, sizes: &Arc<SizePolicy>) {
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
fn printable(s: &str) -> String {
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
            state: Mutex::new(State {
                role: a.login.role,
                admitted: admit_tx.is_none(),
                session: a.kind == Kind::Web,
                term: a.term,
                vote: None,
                admit: admit_tx,
            }),
        });
        entry.state().revote(entry.kind, &self.sizes);
        inner.guests.insert(id, Arc::clone(&entry));
        let n = inner.guests.len();
        drop(inner);
        self.count.send_replace(n);
        let label = entry.label(a.login.role).as_str();
        if admit_rx.is_some() {
            let about = format!("guest {id} ({label}) from {}", a.addr.ip());
            self.notice(format!(
                "{about} is waiting: `npair approve {id}` lets it in, `npair deny {id}` turns it away"
            ));
            if let Some(tx) = &*self.waiting.lock().unwrap_or_else(|e| e.into_inner()) {
                let _ = tx.try_send((id, about));
            }
        } else {
            self.notice(format!("guest {id} ({label}) joined from {}", a.addr));
        }
        let kicked = kick_listener(&entry);
        Ok((
            Registration {
                registry: Arc::clone(self),
                entry,
                kicked,
            },
            admit_rx,
        ))
    }

    fn get(&self, id: u64) -> Result<Arc<Entry>, String> {
        self.lock().guests.get(&id).cloned().ok_or_else(|| {
            format!("no guest {id} is connected; `npair status` lists the guests and their ids")
        })
    }

    /// Everyone connected, in the order they joined.
    pub fn list(&self) -> Vec<GuestInfo> {
        let entries: Vec<Arc<Entry>> = self.lock().guests.values().cloned().collect();
        let now = SystemTime::now();
        entries
            .iter()
            .map(|e| {
                let s = e.state();
                GuestInfo {
                    id: e.id,
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
                }
            })
            .collect()
    }

    /// Disconnects one guest, telling it `reason`.
    pub fn kick(&self, id: u64, reason: &str) -> Result<(), String> {
        self.get(id)?.kick.fire(reason);
        Ok(())
    }

    /// Disconnects every guest `which` picks by what it is now and the token it logged in
    /// with; returns their ids.
    pub fn kick_where(&self, which: impl Fn(GuestRole, Login) -> bool, reason: &str) -> Vec<u64> {
        let entries: Vec<Arc<Entry>> = self.lock().guests.values().cloned().collect();
        let picked: Vec<u64> = entries
            .iter()
            .filter(|e| which(e.label(e.state().role), e.login))
            .map(|e| e.id)
            .collect();
        for &id in &picked {
            let _ = self.kick(id, reason);
        }
        picked
    }

    /// Changes an SSH guest's role while it stays connected; its size vote follows.
    pub fn set_role(&self, id: u64, role: Role) -> Result<(), String> {
        let e = self.get(id)?;
        if e.kind == Kind::Web {
            return Err(format!(
                "guest {id} is a web viewer; the web viewer is read-only, so it cannot be promoted or demoted"
            ));
        }
        let mut s = e.state();
        if s.role == role {
            return Err(format!("guest {id} is already {}", role.short()));
        }
        s.role = role;
        s.revote(e.kind, &self.sizes);
        drop(s);
        let what = match role {
            Role::ReadWrite => "promoted to read-write",
            Role::ReadOnly => "demoted to read-only",
        };
        self.notice(format!("guest {id} {what}"));
        Ok(())
    }

    /// Lets a waiting guest in.
    pub fn admit(&self, id: u64) -> Result<(), String> {
        let e = self.get(id)?;
        let mut s = e.state();
        let Some(tx) = s.admit.take() else {
            return Err(format!("guest {id} is not waiting; it is already in"));
        };
        s.admitted = true;
        s.revote(e.kind, &self.sizes);
        drop(s);
        let _ = tx.send(());
        self.notice(format!(
            "guest {id} ({}) let in, from {}",
            e.label(e.state().role),
            e.addr
        ));
        Ok(())
    }

    /// Turns a waiting guest away; it never sees the session.
    pub fn deny(&self, id: u64) -> Result<(), String> {
        let e = self.get(id)?;
        if e.state().admitted {
            return Err(format!(
                "guest {id} is not waiting; it is already in (use `npair kick {id}` to disconnect it)"
            ));
        }
        e.kick.fire("the host did not let you in");
        Ok(())
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

fn kick_listener(entry: &Entry) -> Shutdown {
    entry.kick.subscribe()
}

/// A guest's place in the registry. Dropping it removes the guest, withdraws its size vote
/// and tells the host it left.
pub struct Registration {
    registry: Arc<Registry>,
    entry: Arc<Entry>,
    kicked: Shutdown,
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

    /// The guest opened its terminal session, of the size it reported (if any).
    pub fn start_session(&self, term: Option<Size>) {
        let mut s = self.entry.state();
        s.session = true;
        s.term = term;
        s.revote(self.entry.kind, &self.registry.sizes);
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
        let role = {
            let mut s = self.entry.state();
            s.vote = None;
            s.role
        };
        // The notice first: whoever waits for the count to reach zero then finds it queued.
        self.registry.notice(format!(
            "guest {} ({}) left",
            self.entry.id,
            self.entry.label(role)
        ));
        self.registry.count.send_replace(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown;

    fn arrival(role: Role, term: Option<Size>) -> Arrival {
        Arrival {
            kind: Kind::Ssh,
            login: Login {
                role,
                generation: 0,
            },
            addr: "127.0.0.1:1".parse().unwrap(),
            client: "SSH-2.0-test\u{1b}[31m".to_owned(),
            term,
            kick: shutdown::channel().0,
        }
    }

    fn registry(rules: Rules) -> (Arc<Registry>, Arc<SizePolicy>) {
        let sizes = SizePolicy::new(Size::new(80, 24));
        let (tx, _rx) = mpsc::channel(64);
        (Registry::new(Arc::clone(&sizes), rules, tx), sizes)
    }

    #[test]
    fn the_size_vote_follows_the_role_and_leaves_with_the_guest() {
        let (r, sizes) = registry(Rules::default());
        let (g, waiting) = r
            .register(arrival(Role::ReadOnly, Some(Size::new(60, 20))))
            .unwrap();
        assert!(waiting.is_none());
        assert_eq!(sizes.current(), Size::new(80, 24));
        assert!(!g.can_type());
        assert!(!r.list()[0].session);
        g.start_session(Some(Size::new(60, 20)));
        assert!(r.list()[0].session);
        r.set_role(g.id(), Role::ReadWrite).unwrap();
        assert_eq!(sizes.current(), Size::new(60, 20));
        assert!(g.can_type());
        g.set_term(Some(Size::new(70, 22)));
        assert_eq!(sizes.current(), Size::new(70, 22));
        // A size of 0 (no size) withdraws the vote; a tiny one votes for the floor.
        g.set_term(None);
        assert_eq!(sizes.current(), Size::new(80, 24));
        g.set_term(Some(Size::new(1, 1)));
        assert_eq!(sizes.current(), crate::size::GUEST_MIN);
        g.set_term(Some(Size::new(70, 22)));
        r.set_role(g.id(), Role::ReadOnly).unwrap();
        assert_eq!(sizes.current(), Size::new(80, 24));
        r.set_role(g.id(), Role::ReadWrite).unwrap();
        let list = r.list();
        assert_eq!(list[0].client, "SSH-2.0-test[31m");
        drop(g);
        assert_eq!(sizes.current(), Size::new(80, 24));
        assert!(r.list().is_empty());
    }

    #[test]
    fn a_waiting_guest_neither_types_nor_votes_until_let_in() {
        let (r, sizes) = registry(Rules {
            approve: true,
            max_guests: Some(2),
        });
        let (g, waiting) = r
            .register(arrival(Role::ReadWrite, Some(Size::new(60, 20))))
            .unwrap();
        let mut waiting = waiting.unwrap();
        g.start_session(Some(Size::new(60, 20)));
        assert!(!g.can_type());
        assert_eq!(sizes.current(), Size::new(80, 24));
        assert!(waiting.try_recv().is_err());
        r.admit(g.id()).unwrap();
        assert!(waiting.try_recv().is_ok());
        assert!(g.can_type());
        assert_eq!(sizes.current(), Size::new(60, 20));
        assert!(r.admit(g.id()).unwrap_err().contains("not waiting"));
        assert!(r.deny(g.id()).unwrap_err().contains("already in"));

        let (_h, _) = r.register(arrival(Role::ReadOnly, None)).unwrap();
        let full = r.register(arrival(Role::ReadOnly, None));
        assert!(matches!(full, Err(Refusal::Full(2))));
    }
}
