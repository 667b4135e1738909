//! The attached host's status line while sharing: who is typing (`alice typing`) and the guest
//! count, in front of what `status-right` showed, each kept up to date from the registry by a
//! task of its own. The returned [`tmux::StatusLine`] puts `status-right` back when dropped.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::registry::Registry;
use crate::shutdown::Shutdown;
use crate::tmux::{self, Tmux};

/// Sets session `name`'s status line and starts keeping it up to date until the shutdown.
pub(super) fn start(
    registry: &Arc<Registry>,
    (tmux, name): (&Tmux, &str),
    shutdown: &Shutdown,
    tasks: &TaskTracker,
) -> tmux::StatusLine {
    tasks.spawn(keep(
        registry.watch_count(),
        (tmux.clone(), name.to_owned()),
        |t, s, n| t.set_guest_count(s, *n),
        shutdown.clone(),
    ));
    tasks.spawn(keep(
        registry.watch_typing(),
        (tmux.clone(), name.to_owned()),
        |t, s, typing| t.set_typing(s, typing.line().as_deref()),
        shutdown.clone(),
    ));
    tmux::StatusLine::set(tmux, name)
}

/// Keeps what `set` makes of a watched value in session `name`'s status line: at once, then at
/// each change.
async fn keep<T: Clone + Send + Sync + 'static>(
    mut value: watch::Receiver<T>,
    (tmux, name): (Tmux, String),
    set: fn(&Tmux, &str, &T),
    mut shutdown: Shutdown,
) {
    loop {
        let v = value.borrow_and_update().clone();
        let (t, s) = (tmux.clone(), name.clone());
        let _ = tokio::task::spawn_blocking(move || set(&t, &s, &v)).await;
        tokio::select! {
            r = value.changed() => if r.is_err() { return },
            _ = shutdown.wait() => return,
        }
    }
}
