//! Streaming the shared screen to one guest: a task per guest, so a stalled guest blocks only
//! itself. It paints the snapshot, forwards every chunk after it, repaints from the model after
//! a lag, a resize or a switch between following the host and the guest's own view, and says
//! goodbye when the guest is kicked or the share ends.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::server::Handle;
use russh::ChannelId;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::timeout;

use super::Shared;
use crate::hub::{Event, Hub, WatcherSeat};
use crate::own::OwnView;
use crate::registry::{wait_for_host, Registration, Waited};
use crate::shutdown::{Shutdown, FAREWELL_TIMEOUT};
use crate::size::Size;

/// Bytes that return a guest's terminal to normal after tmux's screen: the mirror of what a
/// local `tmux detach` does (modes off, attributes reset, scroll region reset, main screen).
const LEAVE_TERMINAL: &str = "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1005l\x1b[?2004l\x1b[?1004l\x1b[?1l\x1b>\x1b[r\x1b[m\x1b[?25h\x1b[?1049l";

/// The guest's channel, from its task.
pub(super) struct Out {
    pub(super) handle: Handle,
    pub(super) ch: ChannelId,
    /// The guest's registration: counts what is sent, and says when the host kicks it.
    pub(super) reg: Arc<Registration>,
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
pub(super) async fn run_guest(
    out: Out,
    shared: Arc<Shared>,
    size: watch::Receiver<Option<Size>>,
    waiting: Option<oneshot::Receiver<()>>,
    view: Arc<watch::Sender<Option<Arc<OwnView>>>>,
) {
    let mut shutdown = shared.shutdown.or_kick(out.reg.kicked());
    if let Some(admitted) = waiting {
        if !out.send(waiting_screen(out.reg.id())).await {
            return;
        }
        // The guest's channel closing ends this task from outside (the handler drops it).
        match wait_for_host(admitted, &mut shutdown, std::future::pending::<()>()).await {
            Waited::In => {}
            Waited::Gone => return,
            Waited::Ended(reason) => return out.farewell(&reason).await,
        }
    }
    let mut first_paint = true;
    let mut changes = Changes {
        size,
        views: view.subscribe(),
        own: None,
        reg: Arc::clone(&out.reg),
        typist: false,
        role_check: tokio::time::interval(ROLE_CHECK),
    };
    loop {
        let term = *changes.size.borrow_and_update();
        changes.own = changes.views.borrow_and_update().clone();
        if changes
            .own
            .as_ref()
            .is_some_and(|o| o.has_ended() || !out.reg.can_type())
        {
            // Its client ended (the guest detached it), or the guest was demoted: a guest
            // that cannot type follows the host.
            view.send_replace(None);
            changes.own = None;
            changes.views.borrow_and_update();
        }
        let own = changes.own.clone();
        let hub: &Hub = own.as_ref().map_or(&shared.hub, |o| &o.hub);
        // Read-write guests following the host get the output before the watchers (their
        // echo must not wait for a crowd); an own view has no crowd.
        changes.typist = changes.own.is_none() && out.reg.can_type();
        let mut sub = hub.subscribe_as(term, changes.typist);
        let showing = match term {
            Some(t) if !sub.size.fits_in(t) => too_small(t, sub.size),
            _ => sub.snapshot,
        };
        // A guest kicked as it joined sees nothing of the screen.
        let sent = tokio::select! {
            biased;
            reason = shutdown.wait() => { out.farewell(&reason).await; return; }
            ok = out.send(showing) => ok,
        };
        if !sent {
            return;
        }
        let fits = term.is_none_or(|t| sub.size.fits_in(t));
        let feed = match (fits, term, &sub.framed) {
            (false, ..) => Feed::Hidden,
            (true, Some(term), Some(_)) => Feed::Framed {
                session: sub.size,
                term,
            },
            _ => Feed::Exact,
        };
        if fits && changes.own.is_none() && std::mem::take(&mut first_paint) {
            // The snapshot places every cell with every attribute; tmux's redraw, after it,
            // makes even what the model cannot hold exact. Only for a join: a guest repainted
            // after a lag is behind because it is slow, and a redraw to every guest for each
            // such repaint would put more of the slow ones behind.
            shared.hub.request_redraw();
        }
        let mut stream = Stream {
            hub,
            seq: sub.seq,
            typist: changes.typist,
            watcher: sub.watcher.as_mut(),
        };
        let next = follow(
            &out,
            &mut sub.events,
            &mut stream,
            &mut changes,
            &mut shutdown,
            feed,
        )
        .await;
        if let Next::Stop = next {
            return;
        }
    }
}

/// What a guest's terminal is sent of the output.
#[derive(Clone, Copy)]
enum Feed {
    /// Nothing: it is smaller than the session, and shows why.
    Hidden,
    /// The output as tmux wrote it: the terminal is the session's size (or did not say).
    Exact,
    /// The output framed for a terminal larger than the session.
    Framed { session: Size, term: Size },
}

/// How often a guest's role is checked: a demoted guest in its own view comes back to
/// following the host (its keystrokes stop at once anyway), and a guest that was promoted or
/// demoted while following takes the typists' stream or leaves it.
const ROLE_CHECK: Duration = Duration::from_secs(1);

/// What makes a guest's stream start over: its terminal's size, and which view it has.
struct Changes {
    size: watch::Receiver<Option<Size>>,
    views: watch::Receiver<Option<Arc<OwnView>>>,
    /// The own view being streamed, if any.
    own: Option<Arc<OwnView>>,
    reg: Arc<Registration>,
    /// Whether the stream is a typist's (see [`Hub::subscribe_as`]).
    typist: bool,
    role_check: tokio::time::Interval,
}

impl Changes {
    /// Resolves when the stream must start over: true, or false when the guest is gone.
    async fn next(&mut self) -> bool {
        let (own, reg, check) = (self.own.clone(), &self.reg, &mut self.role_check);
        let typist = self.typist;
        // Following the host, the stream starts over when the guest's role changes; in its own
        // view, when the view ends or the guest may no longer type.
        let role_over = async move {
            let ended = async {
                match &own {
                    None => std::future::pending::<()>().await,
                    Some(own) => own.ended().await,
                }
            };
            tokio::pin!(ended);
            loop {
                tokio::select! {
                    () = &mut ended => return,
                    _ = check.tick() => match own {
                        None if reg.can_type() != typist => return,
                        Some(_) if !reg.can_type() => return,
                        _ => {}
                    },
                }
            }
        };
        tokio::select! {
            r = self.size.changed() => r.is_ok(),
            r = self.views.changed() => r.is_ok(),
            () = role_over => true,
        }
    }
}

/// Where a guest's stream comes from, and how far along it is.
struct Stream<'a> {
    hub: &'a Hub,
    /// The number of the last chunk received (see [`crate::hub::Subscription::seq`]).
    seq: u64,
    /// A typist sends each chunk before the watchers; a watcher waits for it.
    typist: bool,
    /// A watcher takes each event in its turn (see [`Hub::pace_watchers`]).
    watcher: Option<&'a mut WatcherSeat>,
}

/// Forwards output after a snapshot, as `feed` says, until something calls for a repaint.
async fn follow(
    out: &Out,
    events: &mut broadcast::Receiver<Event>,
    stream: &mut Stream<'_>,
    changes: &mut Changes,
    shutdown: &mut Shutdown,
    feed: Feed,
) -> Next {
    // What ends the stream: set up once, not anew for every chunk (a crowd's every chunk).
    let stop = async {
        tokio::select! {
            biased;
            reason = shutdown.wait() => Err(reason),
            r = changes.next() => Ok(r),
        }
    };
    tokio::pin!(stop);
    loop {
        let next = async {
            if let Some(w) = stream.watcher.as_deref() {
                w.turn().await;
            }
            let ev = events.recv().await;
            if let (Ok(_), Some(w)) = (&ev, stream.watcher.as_deref_mut()) {
                w.took();
            }
            ev
        };
        let chunk = tokio::select! {
            biased;
            end = &mut stop => return stopped(out, end).await,
            ev = next => match (ev, feed) {
                (Ok(Event::Output(b)), feed) => {
                    stream.seq += 1;
                    match feed {
                        Feed::Exact => b,
                        Feed::Hidden => {
                            stream.sent_on();
                            continue;
                        }
                        Feed::Framed { .. } => continue,
                    }
                }
                (Ok(Event::Framed(f)), Feed::Framed { session, term }) => f.for_terminal(session, term),
                (Ok(Event::Framed(_)), _) => continue,
                // A new size or a gap: repaint from the model rather than replay.
                (Ok(Event::Resized(_)) | Err(broadcast::error::RecvError::Lagged(_)), _) => return Next::Resync,
                (Err(broadcast::error::RecvError::Closed), _) => return Next::Stop,
            },
        };
        let sent = tokio::select! {
            ok = out.send(chunk) => ok,
            end = &mut stop => return stopped(out, end).await,
        };
        if !sent {
            return Next::Stop;
        }
        stream.sent_on();
    }
}

/// What follows the end of a stream: the share's end or a kick (`Err`, with the reason, said
/// to the guest), or a change that calls for a repaint (`Ok(true)`) or a guest gone.
async fn stopped(out: &Out, end: Result<bool, Arc<str>>) -> Next {
    match end {
        Err(reason) => {
            out.farewell(&reason).await;
            Next::Stop
        }
        Ok(true) => Next::Resync,
        Ok(false) => Next::Stop,
    }
}

impl Stream<'_> {
    /// A typist has sent the current chunk on (or shown that it does not take it).
    fn sent_on(&self) {
        if self.typist {
            self.hub.sent_on(self.seq);
        }
    }
}
