//! The one shutdown signal of a share (after mini-redis `shutdown.rs`): `share` fires it once
//! with the reason guests are told, and every task holds a listener and selects on it.
//! The same pair, one per guest, carries a kick (`npair kick`): a guest's task listens to both.

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
    /// A second signal that also stops this listener (a guest's kick), if any. Unlike the
    /// share's signal, its trigger going away means nothing: only firing it counts.
    kick: Option<watch::Receiver<Option<Arc<str>>>>,
}

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(None);
    (Trigger { tx }, Shutdown { rx, kick: None })
}

impl Trigger {
    /// A new listener of this trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
            kick: None,
        }
    }

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
    /// Whether the shutdown (or the kick) has started.
    pub fn has_fired(&self) -> bool {
        self.rx.borrow().is_some() || self.kick.as_ref().is_some_and(|k| k.borrow().is_some())
    }

    /// This listener, also stopped when `kick` fires.
    pub fn or_kick(&self, kick: &Shutdown) -> Shutdown {
        Shutdown {
            rx: self.rx.clone(),
            kick: Some(kick.rx.clone()),
        }
    }

    /// Resolves when the shutdown (or the kick) starts (at once if it has), with its reason.
    pub async fn wait(&mut self) -> Arc<str> {
        let share = async {
            match self.rx.wait_for(Option::is_some).await {
                Ok(r) => r.clone().unwrap_or_else(|| "the share has ended".into()),
                // The trigger is gone: the share is over, whatever the reason.
                Err(_) => "the share has ended".into(),
            }
        };
        match &mut self.kick {
            None => share.await,
            Some(kick) => tokio::select! {
                r = share => r,
                r = fired(kick) => r,
            },
        }
    }

    /// Resolves only when the trigger fires; a dropped trigger never resolves it.
    pub async fn fired(&mut self) -> Arc<str> {
        fired(&mut self.rx).await
    }
}

async fn fired(rx: &mut watch::Receiver<Option<Arc<str>>>) -> Arc<str> {
    // Take the reason out before waiting again: the borrow of the channel must not be held
    // across an await.
    let reason = rx
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|r| r.clone());
    match reason {
        Some(r) => r,
        None => std::future::pending().await,
    }
}

/// How long a guest being disconnected (SSH or web) gets to take its last message; a stalled
/// one is cut.
pub const FAREWELL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long an accept loop pauses after a failed accept (out of descriptors and the like),
/// rather than spinning on the error.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// The next connection on `listener`, or `None` once the shutdown has started.
pub async fn accept(
    listener: &tokio::net::TcpListener,
    shutdown: &mut Shutdown,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => return Some(c),
                Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
            },
            _ = shutdown.wait() => return None,
        }
    }
}
