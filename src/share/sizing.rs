//! Keeping the session's size and screen right as it goes: the size policy's decisions applied
//! to the model and the pty, the host's terminal followed, and tmux's redraw for newcomers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::host;
use crate::hub::Hub;
use crate::pty::Pty;
use crate::shutdown::Shutdown;
use crate::size::SizePolicy;
use crate::tmux::Tmux;

/// Applies the size policy's decisions: the model first, then the pty (whose SIGWINCH makes
/// tmux redraw), so that the redraw is parsed at the new size.
pub(super) async fn apply_sizes(
    sizes: Arc<SizePolicy>,
    hub: Arc<Hub>,
    pty: Arc<Pty>,
    mut shutdown: Shutdown,
) {
    let mut rx = sizes.watch();
    loop {
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = shutdown.wait() => return,
        }
        let size = *rx.borrow_and_update();
        hub.resize(size);
        let _ = pty.resize(size);
    }
}

/// A burst of joins is answered by one redraw: after a request, wait until none has come for
/// [`REDRAW_QUIET`], but no longer than [`REDRAW_LATEST`] after the first.
const REDRAW_QUIET: Duration = Duration::from_millis(40);
const REDRAW_LATEST: Duration = Duration::from_millis(200);
/// At most one redraw in this long, however many join: every guest already in receives each
/// redraw too, and a steady stream of joins must not become a steady stream of redraws.
const REDRAW_EVERY: Duration = Duration::from_secs(1);

/// Has tmux redraw our client when a guest has joined and been painted from the screen model,
/// so that the guest's cells end exactly as tmux drew them, coalescing requests (see
/// [`Hub::request_redraw`]) and at most once every [`REDRAW_EVERY`].
pub(super) async fn redraw_for_newcomers(
    hub: Arc<Hub>,
    (tmux, tty): (Tmux, PathBuf),
    mut shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            () = hub.redraw_requested() => {}
            _ = shutdown.wait() => return,
        }
        let latest = tokio::time::Instant::now() + REDRAW_LATEST;
        loop {
            let quiet = (tokio::time::Instant::now() + REDRAW_QUIET).min(latest);
            tokio::select! {
                () = hub.redraw_requested() => {}
                () = tokio::time::sleep_until(quiet) => break,
                _ = shutdown.wait() => return,
            }
        }
        let (t, p) = (tmux.clone(), tty.clone());
        let _ = tokio::task::spawn_blocking(move || t.refresh_client(&p)).await;
        // Requests meanwhile wait (as a stored permit) for the next turn.
        tokio::select! {
            () = tokio::time::sleep(REDRAW_EVERY) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// The host's terminal size is the base of the size policy; SIGWINCH updates it, and what the
/// hub shows the host.
pub(super) async fn follow_host_size(
    sizes: Arc<SizePolicy>,
    hub: Arc<Hub>,
    mut shutdown: Shutdown,
) {
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return;
    };
    loop {
        tokio::select! {
            r = winch.recv() => if r.is_none() { return },
            _ = shutdown.wait() => return,
        }
        if let Some(size) = host::size() {
            hub.host_resized(size);
            sizes.set_base(size);
        }
    }
}
