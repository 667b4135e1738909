//! Writing to the web viewers' sockets, and reading what they send.
//!
//! A frame is encoded once as a WebSocket message ([`Wire`]): a server's messages are not
//! masked, so the same bytes go to every viewer. A few fan-out tasks ([`Room`], one per core)
//! write each new frame straight into every viewer's socket, with no task woken per viewer:
//! with a thousand viewers, the writes themselves are the work.
//!
//! Each viewer's socket has one [`Outlet`], its only writer. A socket that takes a whole
//! message is done with it. One that takes part of it, or none (a slow viewer), keeps the rest
//! in the outlet's backlog, and the viewer's task writes that as the socket drains; frames that
//! come meanwhile skip it, and once the backlog is written it gets the latest frame (in full,
//! when it missed one). So a slow viewer holds at most one frame's bytes, never a queue.
//!
//! Over HTTPS the outlet also owns the viewer's TLS connection ([`Link`]): a message is
//! encrypted into it and its records written the same way, and the records not yet written
//! are the backlog.
//!
//! What a viewer sends (requests for history rows, pings, a close) is parsed by tungstenite's
//! protocol state ([`Inbound`]); its replies (pongs, the close) go through the outlet too.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio_util::task::TaskTracker;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame as WsFrame;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

use super::render::Frame;
use super::tls::link::Link;
use crate::registry::Meter;
use crate::shutdown::{Shutdown, FAREWELL_TIMEOUT};

/// One WebSocket message from the server, encoded once: header and payload, as written.
/// Cloning one is a reference count, not a copy.
#[derive(Clone)]
pub struct Wire {
    bytes: Bytes,
}

impl Wire {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Wire {
        let payload = Bytes::from(text.into());
        Wire::encode(WsFrame::message(payload, OpCode::Data(Data::Text), true))
    }

    /// The closing handshake's first message, with no reason.
    pub fn close() -> Wire {
        Wire::encode(WsFrame::close(None))
    }

    fn encode(frame: WsFrame) -> Wire {
        let mut out = Vec::with_capacity(frame.len());
        frame.format(&mut out).expect("a Vec takes every byte");
        Wire { bytes: out.into() }
    }

    /// The message's payload: a text message's text.
    #[cfg(test)]
    pub fn payload(&self) -> &[u8] {
        let mut at = io::Cursor::new(&self.bytes);
        let (_, len) = tungstenite::protocol::frame::FrameHeader::parse(&mut at)
            .expect("a header npair encoded")
            .expect("a whole header");
        &self.bytes[self.bytes.len() - len as usize..]
    }
}

/// The only writer to one viewer's socket.
pub struct Outlet {
    stream: Arc<TcpStream>,
    frames: watch::Receiver<Arc<Frame>>,
    /// Counts what is written, for `npair status` (none for a viewer that was refused).
    meter: Option<Meter>,
    /// Over HTTPS: reads go through the TLS connection in `state`.
    tls: bool,
    state: Mutex<State>,
    /// Wakes the viewer's task when the backlog needs writing (or the socket broke).
    pub backlogged: Notify,
}

#[derive(Default)]
struct State {
    /// What the socket has not taken yet, in order; the first may be partly written.
    backlog: VecDeque<Bytes>,
    /// Over HTTPS, the viewer's TLS connection: messages are encrypted into it, and its
    /// records not written yet are the backlog instead.
    tls: Option<Link>,
    /// The last frame this viewer was given (written, or in the backlog); `None`: the next
    /// one goes in full.
    last: Option<u64>,
    /// Frames are offered only while it is seated, not while it waits or says goodbye.
    seated: bool,
    /// A write failed: the viewer is gone.
    broken: bool,
}

impl State {
    /// Whether bytes wait for the socket.
    fn pending(&self) -> bool {
        !self.backlog.is_empty() || self.tls.as_ref().is_some_and(Link::pending)
    }
}

impl Outlet {
    /// `tls`: the viewer's TLS connection, over HTTPS.
    pub fn new(
        stream: Arc<TcpStream>,
        tls: Option<Link>,
        frames: watch::Receiver<Arc<Frame>>,
        meter: Option<Meter>,
    ) -> Outlet {
        Outlet {
            stream,
            frames,
            meter,
            tls: tls.is_some(),
            state: Mutex::new(State {
                tls,
                ..State::default()
            }),
            backlogged: Notify::new(),
        }
    }

    /// Gives this viewer `frame` unless it has it or a newer one already: the rows that
    /// changed when it has the frame before, else every row. A viewer still writing a backlog
    /// skips it (it gets the latest once the backlog is written).
    pub fn offer(&self, frame: &Frame) {
        let mut s = self.state.lock();
        if !s.seated || s.broken || s.last.is_some_and(|l| l >= frame.seq) || s.pending() {
            return;
        }
        let msg = frame.message_after(s.last).bytes.clone();
        s.last = Some(frame.seq);
        self.write(&mut s, msg);
    }

    /// The latest frame, when this viewer has not had it.
    fn offer_latest(&self) {
        let frame = Arc::clone(&self.frames.borrow());
        self.offer(&frame);
    }

    /// Starts or stops offering this viewer frames.
    fn seat(&self, seated: bool) {
        self.state.lock().seated = seated;
        if seated {
            self.offer_latest();
        }
    }

    /// Queues a message after whatever is not written yet, and writes what the socket takes.
    fn queue(&self, msg: &Wire) {
        let mut s = self.state.lock();
        self.write(&mut s, msg.bytes.clone());
    }

    /// Queues `msg` after whatever is not written yet and writes what the socket takes now;
    /// what is left waits in the backlog, and the viewer's task is woken to write it.
    fn write(&self, s: &mut State, msg: Bytes) {
        if s.broken {
            return;
        }
        match &mut s.tls {
            Some(link) => s.broken = link.seal(&msg).is_err(),
            None => s.backlog.push_back(msg),
        }
        self.flush(s);
        if s.broken || s.pending() {
            self.backlogged.notify_one();
        }
    }

    /// Writes the backlog, in order, until the socket takes no more (or broke).
    fn flush(&self, s: &mut State) {
        if let Some(link) = &mut s.tls {
            match link.flush(&self.stream) {
                Ok(n) => self.sent(n),
                Err(_) => s.broken = true,
            }
            return;
        }
        while let Some(front) = s.backlog.front_mut() {
            match self.stream.try_write(front) {
                Ok(n) => {
                    self.sent(n);
                    if n < front.len() {
                        // The socket is full: the rest waits for it to drain.
                        let _ = front.split_to(n);
                        return;
                    }
                    s.backlog.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    s.broken = true;
                    return;
                }
            }
        }
    }

    fn sent(&self, n: usize) {
        if let Some(m) = &self.meter {
            m.sent(n);
        }
    }

    /// Writes the backlog as the socket drains, then the latest frame if it missed one.
    /// False when the viewer is gone.
    pub async fn drain(&self) -> bool {
        loop {
            {
                let mut s = self.state.lock();
                self.flush(&mut s);
                if s.broken {
                    return false;
                }
                if !s.pending() {
                    drop(s);
                    self.offer_latest();
                    if !self.state.lock().pending() {
                        return true;
                    }
                }
            }
            if self.stream.writable().await.is_err() {
                self.state.lock().broken = true;
                return false;
            }
        }
    }

    /// Queues a message and waits until the socket has taken everything up to it. False when
    /// the viewer is gone.
    pub async fn send(&self, msg: &Wire) -> bool {
        self.queue(msg);
        self.drain().await
    }

    /// The viewer's last message, then the closing handshake's first: no frame comes after
    /// them, and the socket has [`FAREWELL_TIMEOUT`] to take them.
    pub async fn close_with(&self, last: &Wire) {
        self.seat(false);
        self.queue(last);
        let _ = tokio::time::timeout(FAREWELL_TIMEOUT, self.send(&Wire::close())).await;
    }
}

/// The seated viewers, split among the fan-out tasks.
pub struct Room {
    shards: Vec<Mutex<Vec<Arc<Outlet>>>>,
}

impl Room {
    /// Starts one fan-out task per core, each writing every frame to its share of the viewers
    /// until the shutdown.
    pub fn start(
        frames: watch::Receiver<Arc<Frame>>,
        shutdown: &Shutdown,
        tasks: &TaskTracker,
    ) -> Arc<Room> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let room = Arc::new(Room {
            shards: (0..cores.clamp(1, 8)).map(|_| Mutex::default()).collect(),
        });
        for shard in 0..room.shards.len() {
            tasks.spawn(fan_out(
                Arc::clone(&room),
                shard,
                frames.clone(),
                shutdown.clone(),
            ));
        }
        room
    }

    /// Seats a viewer: it gets the latest frame now and every frame after, until the seat is
    /// dropped.
    pub fn seat(self: &Arc<Room>, outlet: &Arc<Outlet>) -> Seat {
        // The smallest shard, so the writes stay spread over the cores.
        let shard = (0..self.shards.len())
            .min_by_key(|&i| self.shards[i].lock().len())
            .unwrap_or(0);
        self.shards[shard].lock().push(Arc::clone(outlet));
        outlet.seat(true);
        Seat {
            room: Arc::clone(self),
            shard,
            outlet: Arc::clone(outlet),
        }
    }
}

/// A viewer's place among those that get frames; dropping it stops them.
pub struct Seat {
    room: Arc<Room>,
    shard: usize,
    outlet: Arc<Outlet>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.outlet.seat(false);
        let mut shard = self.room.shards[self.shard].lock();
        if let Some(i) = shard.iter().position(|o| Arc::ptr_eq(o, &self.outlet)) {
            shard.swap_remove(i);
        }
    }
}

/// Writes every new frame to one shard of the room. The viewer written first turns with each
/// frame, so no viewer is always the last to see a change.
async fn fan_out(
    room: Arc<Room>,
    shard: usize,
    mut frames: watch::Receiver<Arc<Frame>>,
    mut shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            r = frames.changed() => if r.is_err() { return },
            _ = shutdown.wait() => return,
        }
        let frame = Arc::clone(&frames.borrow_and_update());
        // A copy of the list (reference counts), so viewers come and go while this writes.
        let outlets = room.shards[shard].lock().clone();
        if outlets.is_empty() {
            continue;
        }
        let first = (frame.seq % outlets.len() as u64) as usize;
        for outlet in outlets[first..].iter().chain(&outlets[..first]) {
            outlet.offer(&frame);
            // Lets other tasks on this core run between writes to a large room.
            tokio::task::consume_budget().await;
        }
    }
}

/// Bytes read from a viewer's socket at a time; viewers only send small requests for history
/// rows, pings and a close.
const READ_BUFFER: usize = 1024;
/// The largest message a viewer may send; anything larger ends it.
const MAX_INCOMING: usize = 16 * 1024;

/// What a viewer sends, parsed by tungstenite's protocol state; its replies go to the outlet.
pub struct Inbound {
    ws: WebSocketContext,
    stream: Arc<TcpStream>,
    outlet: Arc<Outlet>,
}

impl Inbound {
    /// `read` holds bytes the HTTP server read past the upgrade request.
    pub fn new(stream: Arc<TcpStream>, outlet: Arc<Outlet>, read: Vec<u8>) -> Inbound {
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(MAX_INCOMING))
            .max_frame_size(Some(MAX_INCOMING));
        Inbound {
            ws: WebSocketContext::from_partially_read(read, Role::Server, Some(config)),
            stream,
            outlet,
        }
    }

    /// The next message; `None` when the viewer closed, broke the protocol, or is gone.
    /// Cancel-safe: what was read stays in the protocol state.
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            let mut io = Io {
                stream: &self.stream,
                outlet: &self.outlet,
            };
            match self.ws.read(&mut io) {
                Ok(msg) => return Some(msg),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stream.readable().await.ok()?;
                }
                Err(_) => return None,
            }
        }
    }
}

/// The socket as tungstenite reads it; its writes (pongs, the closing reply) join the outlet.
struct Io<'a> {
    stream: &'a TcpStream,
    outlet: &'a Outlet,
}

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.outlet.tls {
            return self.stream.try_read(buf);
        }
        let mut s = self.outlet.state.lock();
        let Some(link) = &mut s.tls else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let read = link.read(self.stream, buf);
        // Reading may have made rustls answer (an alert, a key update).
        if s.pending() {
            self.outlet.flush(&mut s);
            if s.broken || s.pending() {
                self.outlet.backlogged.notify_one();
            }
        }
        read
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.outlet.state.lock();
        self.outlet.write(&mut s, Bytes::copy_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
