//! The one shutdown signal of a share (after mini-redis `shutdown.rs`): `share` fires it once
//! with the reason guests are told, and every task holds a listener and selects on it.

use std::sync::Arc;

use tokio::sync::watch;

/// Fires the shutdown. Owned by `share`.
pub struct Trigger {
    tx: watch::Sender<Option<Arc<str>>>,
}

/// A task's view of the shutdown: cheap to clone, cancel-safe to wait on.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<Option<Arc<str>>>,
}

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(None);
    (Trigger { tx }, Shutdown { rx })
}

impl Trigger {
    /// Starts the shutdown. The first reason given is the one everyone hears.
    pub fn fire(&self, reason: &str) {
        self.tx.send_if_modified(|cur| {
            if cur.is_some() {
                return false;
            }
            *cur = Some(reason.into());
            true
        });
    }
}

impl Shutdown {
    /// The reason, once the shutdown has started.
    pub fn reason(&self) -> Option<Arc<str>> {
        self.rx.borrow().clone()
    }

    /// Resolves when the shutdown starts (at once if it has), with its reason.
    pub async fn wait(&mut self) -> Arc<str> {
        match self.rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or_else(|| "the share has ended".into()),
            // The trigger is gone: the share is over, whatever the reason.
            Err(_) => "the share has ended".into(),
        }
    }
}
