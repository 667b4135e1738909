//! The way in: every typist's keystrokes to a shared pty, each chunk whole, each typist's in
//! order.
//!
//! A guest's keystroke is written by the task that received it, at once, whenever the pty takes
//! it without waiting and nothing is queued ahead of it: no queue and no other thread on the
//! echo's path. Otherwise it joins a queue that a writer thread empties, at the pace the program
//! in the pty reads. The host's keystrokes are written by the host's keyboard thread itself.
//! Either way the hub is told who typed, before the keystrokes are written.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::hub::{Hub, Input, Source};
use crate::pty::{PtyWriter, Tried};

/// The keystrokes going into one pty.
pub struct Keystrokes {
    writer: Arc<PtyWriter>,
    queue: mpsc::Sender<Input>,
    /// Chunks in the queue or being written from it. While there are any, a new chunk queues
    /// too, so that none overtakes a chunk queued before it.
    queued: Arc<AtomicUsize>,
    hub: Arc<Hub>,
}

impl Keystrokes {
    /// Starts the writer thread for `writer`'s pty, whose output `hub` models, with room for
    /// `capacity` queued chunks.
    pub fn start(writer: Arc<PtyWriter>, hub: Arc<Hub>, capacity: usize) -> Result<Keystrokes> {
        let (queue, rx) = mpsc::channel::<Input>(capacity);
        let queued = Arc::new(AtomicUsize::new(0));
        {
            let (hub, done) = (Arc::clone(&hub), Arc::clone(&queued));
            crate::pty::start_writer(
                Arc::clone(&writer),
                rx,
                move |i: &Input| hub.typed(i.from),
                move |_| {
                    done.fetch_sub(1, Ordering::SeqCst);
                },
            )?;
        }
        Ok(Keystrokes {
            writer,
            queue,
            queued,
            hub,
        })
    }

    /// The pty's writer, for a typist that writes on a thread of its own (the host).
    pub fn writer(&self) -> &Arc<PtyWriter> {
        &self.writer
    }

    /// The hub told of each typist.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Types `bytes` at once if the pty takes them without waiting. False when they must queue
    /// instead ([`Keystrokes::queue`]): another writer holds the pty, it is full, or chunks are
    /// queued ahead.
    pub fn try_now(&self, from: Source, bytes: &[u8]) -> bool {
        if self.queued.load(Ordering::SeqCst) > 0 {
            return false;
        }
        self.hub.typed(from);
        match self.writer.try_write(bytes) {
            // A pty that is gone is the share's end, seen elsewhere.
            Tried::Written | Tried::Failed => true,
            Tried::Busy => false,
            Tried::Begun => {
                // The rest waits in the writer: the writer thread finishes it, and whatever
                // comes next from anyone goes after it.
                let flush = Input {
                    from,
                    bytes: Bytes::new(),
                };
                self.queued.fetch_add(1, Ordering::SeqCst);
                if let Err(mpsc::error::TrySendError::Full(flush)) = self.queue.try_send(flush) {
                    // Other typists filled the queue meanwhile: the flush takes its turn.
                    let (queue, queued) = (self.queue.clone(), Arc::clone(&self.queued));
                    tokio::spawn(async move {
                        if queue.send(flush).await.is_err() {
                            queued.fetch_sub(1, Ordering::SeqCst);
                        }
                    });
                }
                true
            }
        }
    }

    /// Queues a chunk for the writer thread; waits while the queue is full.
    pub async fn queue(&self, input: Input) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.queue.send(input).await.is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Types `input` at once if it can, or else queues it.
    pub async fn send(&self, input: Input) {
        if !self.try_now(input.from, &input.bytes) {
            self.queue(input).await;
        }
    }
}
