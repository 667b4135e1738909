//! The services of a running share, each a task on the share's tracker so that its end waits
//! for all of them: the guest registry's control socket, the SSH server, the web viewer, the
//! recording, the forward's supervisor, and the host's side (notices, the size policy applied
//! to the pty, the expiry, who is typing and the guest count in the status line, the approval
//! prompt).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, watch};
use tokio_util::task::TaskTracker;

use super::net::Bound;
use super::preflight::Plan;
use super::screen::Screen;
use super::sizing::{apply_sizes, follow_host_size, redraw_for_newcomers};
use super::status_line;
use super::{Config, End};
use crate::admission::limiter::FailureLimiter;
use crate::control::{self, Control, Options};
use crate::keys::{AuthorizedKeys, HostKey};
use crate::logins::Reach;
use crate::record;
use crate::registry::{Registry, Rules};
use crate::shutdown::Shutdown;
use crate::ssh;
use crate::tmux::{self, Tmux};
use crate::tokens::Tokens;
use crate::via;
use crate::web;

/// Join/leave notices waiting for the host; past this they are dropped, never queued without bound.
const NOTICE_QUEUE: usize = 64;
/// How long before an `--expires` share ends its guests and host are warned (or half the
/// share's life, for shorter shares), long enough to finish a sentence.
const EXPIRY_WARNING: Duration = Duration::from_secs(60);
/// How long the expiry warning stays in tmux's status line, where host and guests see it.
const EXPIRY_WARNING_SHOWN: Duration = Duration::from_secs(15);

/// What the services are started from. The listeners, the host key and the forward move into
/// the services that own them from here on.
pub(super) struct Wiring<'a> {
    pub(super) cfg: &'a Config,
    pub(super) plan: Plan,
    pub(super) key: HostKey,
    pub(super) bound: Bound,
    pub(super) control: UnixListener,
    pub(super) tokens: Arc<Tokens>,
    pub(super) reach: Arc<Reach>,
    pub(super) screen: &'a Screen,
    pub(super) shutdown: &'a Shutdown,
    pub(super) tasks: &'a TaskTracker,
    /// The login the attached host is shown in its first notice.
    pub(super) first_login: String,
}

/// The running services, as the rest of the share needs them.
pub(super) struct Running {
    /// `npair stop` and `--expires` end the share through here.
    pub(super) ends: mpsc::Receiver<End>,
    /// Notices for the host.
    pub(super) notices: mpsc::Sender<String>,
    pub(super) plan: Plan,
    /// The guest count in the host's status line, put back as it was when dropped.
    _status_line: Option<tmux::StatusLine>,
}

/// What every service is started with.
struct Ctx<'a> {
    cfg: &'a Config,
    shutdown: &'a Shutdown,
    tasks: &'a TaskTracker,
    registry: &'a Arc<Registry>,
    /// Notices for the host.
    notices: &'a mpsc::Sender<String>,
    /// `npair stop` and `--expires` end the share through here.
    ends: &'a mpsc::Sender<End>,
}

/// Starts every service of the share.
pub(super) fn start(w: Wiring<'_>) -> Result<Running> {
    let Wiring {
        cfg,
        mut plan,
        key,
        bound,
        control,
        tokens,
        reach,
        screen,
        shutdown,
        tasks,
        first_login,
    } = w;
    let (notice_tx, notice_rx) = mpsc::channel(NOTICE_QUEUE);
    // Before anyone votes: the host's choice, and its terminal (or `--size`) as the base.
    screen
        .sizes
        .start(cfg.size_policy, plan.base, plan.attached);
    let registry = Registry::new(
        Arc::clone(&screen.sizes),
        Rules {
            approve: cfg.approve,
            max_guests: cfg.max_guests,
        },
        notice_tx.clone(),
    );
    tasks.spawn(Arc::clone(&registry).follow_typing(shutdown.clone()));
    if let Some(path) = &cfg.record {
        record::start(
            path,
            &plan.term,
            Arc::clone(&screen.hub),
            registry.watch_typing(),
            shutdown.clone(),
            tasks,
        )?;
    }
    let (end_tx, ends) = mpsc::channel::<End>(1);
    let ctx = Ctx {
        cfg,
        shutdown,
        tasks,
        registry: &registry,
        notices: &notice_tx,
        ends: &end_tx,
    };
    let failures = Arc::new(FailureLimiter::default());
    let authorized_keys = plan.authorized_keys.take();
    let started = Instant::now();
    let (stop_tx, stop_rx) = mpsc::channel::<()>(1);
    start_control(
        &ctx,
        control,
        Control {
            session: plan.name.clone(),
            registry: Arc::clone(&registry),
            sizes: Arc::clone(&screen.sizes),
            tokens: Arc::clone(&tokens),
            failures: Arc::clone(&failures),
            reach,
            host_key: key.fingerprint.clone(),
            started,
            ends_at: cfg.expires.map(|d| started + d),
            options: Options {
                read_only: cfg.read_only,
                approve: cfg.approve,
                max_guests: cfg.max_guests,
                expires_secs: cfg.expires.map(|d| d.as_secs()),
                authorized_keys: authorized_keys.as_ref().map(AuthorizedKeys::len),
                record: cfg.record.as_ref().map(|p| p.display().to_string()),
            },
            stop: stop_tx,
        },
        stop_rx,
    );
    if let Some(web_listener) = bound.web {
        start_web(&ctx, &plan, screen, web_listener, Arc::clone(&tokens));
    }
    let shared = Arc::new(ssh::Shared {
        hub: Arc::clone(&screen.hub),
        registry: Arc::clone(&registry),
        tokens,
        failures,
        authorized_keys,
        keys: Arc::clone(&screen.keys),
        own: own_views(&plan, screen),
        notices: notice_tx.clone(),
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
    });
    tasks.spawn(ssh::serve(bound.listeners, key.key, shared));
    if let Some(f) = bound.forward {
        tasks.spawn(via::supervise(
            f.jump,
            f.targets,
            f.current,
            f.ports,
            notice_tx.clone(),
            shutdown.clone(),
            tasks.clone(),
        ));
    }
    let status_line = start_host_side(&ctx, &plan, screen, notice_rx, first_login);
    Ok(Running {
        ends,
        notices: notice_tx,
        plan,
        _status_line: status_line,
    })
}

/// The web viewer: its frames, its scrollback (started with the share, so it never sees what
/// the session showed before) and its server.
fn start_web(
    ctx: &Ctx<'_>,
    plan: &Plan,
    screen: &Screen,
    listener: tokio::net::TcpListener,
    tokens: Arc<Tokens>,
) {
    let Ctx {
        cfg,
        shutdown,
        tasks,
        registry,
        notices,
        ..
    } = ctx;
    let frames = web::render::start(Arc::clone(&screen.hub), (*shutdown).clone(), tasks);
    let history = if cfg.scrollback {
        web::history::start(
            &plan.tmux,
            &plan.name,
            plan.vs16_wide,
            &screen.hub,
            (*shutdown).clone(),
            tasks,
        )
    } else {
        web::history::History::off("the host started the share with --no-scrollback")
    };
    tasks.spawn(web::serve(
        listener,
        web::WebShared {
            tokens,
            registry: Arc::clone(registry),
            session: plan.name.clone(),
            frames,
            history,
            shutdown: (*shutdown).clone(),
            tasks: (*tasks).clone(),
            tls: plan.tls.clone().inspect(|t| t.tell((*notices).clone())),
        },
    ));
}

/// What opening a read-write guest's own view takes: our client's way of running, at the
/// shared session's size.
fn own_views(plan: &Plan, screen: &Screen) -> Arc<crate::own::Views> {
    Arc::new(crate::own::Views {
        tmux: plan.tmux.clone(),
        session: plan.name.clone(),
        term: plan.term.clone(),
        features: super::attach::HEADLESS_FEATURES,
        vs16_wide: plan.vs16_wide,
        sizes: Arc::clone(&screen.sizes),
    })
}

/// The control socket, and `npair stop` (`stop`, the other half of `control.stop`) turned into
/// the share's end.
fn start_control(
    ctx: &Ctx<'_>,
    listener: UnixListener,
    control: Control,
    mut stop: mpsc::Receiver<()>,
) {
    ctx.tasks.spawn(control::serve(
        listener,
        Arc::new(control),
        ctx.shutdown.clone(),
        ctx.tasks.clone(),
    ));
    let end_tx = ctx.ends.clone();
    let mut shutdown = ctx.shutdown.clone();
    ctx.tasks.spawn(async move {
        tokio::select! {
            Some(()) = stop.recv() => { let _ = end_tx.send(End::Stopped).await; }
            _ = shutdown.wait() => {}
        }
    });
}

/// The host's side: notices, the size policy applied to the pty and the host's terminal
/// followed, the expiry, and when attached who is typing and the guest count in the status
/// line (returned: it is put back when dropped) and the approval prompt.
fn start_host_side(
    ctx: &Ctx<'_>,
    plan: &Plan,
    screen: &Screen,
    notice_rx: mpsc::Receiver<String>,
    first_login: String,
) -> Option<tmux::StatusLine> {
    let Ctx {
        cfg,
        shutdown,
        tasks,
        registry,
        notices,
        ends,
    } = ctx;
    let (attached, tmux, name, tty) = (plan.attached, &plan.tmux, &plan.name, &screen.tty);
    if let Some(life) = cfg.expires {
        tasks.spawn(expire(
            life,
            (*ends).clone(),
            (*notices).clone(),
            (tmux.clone(), tty.clone()),
            (*shutdown).clone(),
        ));
    }
    let status_line = attached.then(|| status_line::start(registry, (tmux, name), shutdown, tasks));
    if attached && cfg.approve {
        let (tx, rx) = mpsc::channel(NOTICE_QUEUE);
        registry.on_waiting(tx);
        tasks.spawn(prompt_host(
            rx,
            tmux.clone(),
            tty.clone(),
            name.clone(),
            (*shutdown).clone(),
        ));
    }
    tasks.spawn(show_notices(
        notice_rx,
        attached.then(|| (tmux.clone(), tty.clone())),
        (*shutdown).clone(),
        registry.watch_count(),
    ));
    tasks.spawn(apply_sizes(
        Arc::clone(&screen.sizes),
        Arc::clone(&screen.hub),
        Arc::clone(&screen.pty),
        (*shutdown).clone(),
    ));
    tasks.spawn(redraw_for_newcomers(
        Arc::clone(&screen.hub),
        (tmux.clone(), tty.clone()),
        (*shutdown).clone(),
    ));
    if attached {
        tasks.spawn(follow_host_size(
            Arc::clone(&screen.sizes),
            Arc::clone(&screen.hub),
            (*shutdown).clone(),
        ));
        let _ = notices.try_send(format!("sharing; {first_login}"));
    }
    status_line
}

/// Shows notices to the host: a tmux message on our client when attached, a line on stderr
/// when headless. At the shutdown it goes on until every guest has left, so that their
/// leaving is shown too, then ends.
async fn show_notices(
    mut rx: mpsc::Receiver<String>,
    tmux_client: Option<(Tmux, PathBuf)>,
    mut shutdown: Shutdown,
    mut guests: watch::Receiver<usize>,
) {
    let show = |msg: String| {
        let tmux_client = tmux_client.clone();
        async move {
            match tmux_client {
                Some((t, p)) => {
                    let _ = tokio::task::spawn_blocking(move || {
                        t.display_message(&p, &format!("npair: {msg}"))
                    })
                    .await;
                }
                None => eprintln!("npair: {msg}"),
            }
        }
    };
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(m) => show(m).await,
                None => return,
            },
            _ = shutdown.wait() => break,
        }
    }
    loop {
        tokio::select! {
            biased;
            m = rx.recv() => match m {
                Some(m) => show(m).await,
                None => return,
            },
            // A guest's leaving is queued before the count drops, so it is drained below.
            _ = async { guests.wait_for(|n| *n == 0).await.is_ok() } => break,
        }
    }
    while let Ok(m) = rx.try_recv() {
        show(m).await;
    }
}

/// Ends the share when `--expires` runs out, warning everyone first: in tmux's status line,
/// which the host and every guest see, and on stderr.
async fn expire(
    life: Duration,
    end: mpsc::Sender<End>,
    notices: mpsc::Sender<String>,
    (tmux, tty): (Tmux, PathBuf),
    mut shutdown: Shutdown,
) {
    let run = async {
        let warn_before = EXPIRY_WARNING.min(life / 2);
        tokio::time::sleep(life - warn_before).await;
        let msg = format!(
            "npair: this share ends in {} (the host set a time limit)",
            control::duration(warn_before.as_secs().max(1))
        );
        let _ = notices.try_send(msg.trim_start_matches("npair: ").to_owned());
        let shown = EXPIRY_WARNING_SHOWN.min(warn_before);
        let _ =
            tokio::task::spawn_blocking(move || tmux.display_message_for(&tty, &msg, shown)).await;
        tokio::time::sleep(warn_before).await;
        let _ = end.send(End::Expired).await;
    };
    tokio::select! {
        _ = run => {}
        _ = shutdown.wait() => {}
    }
}

/// Asks the attached host, in a tmux prompt on our client, about each guest that waits.
async fn prompt_host(
    mut waiting: mpsc::Receiver<(u64, String)>,
    tmux: Tmux,
    tty: PathBuf,
    name: String,
    mut shutdown: Shutdown,
) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    loop {
        let (id, about) = tokio::select! {
            w = waiting.recv() => match w { Some(w) => w, None => return },
            _ = shutdown.wait() => return,
        };
        let (t, p, e, n) = (tmux.clone(), tty.clone(), exe.clone(), name.clone());
        let _ = tokio::task::spawn_blocking(move || t.ask_approval(&p, &e, &n, id, &about)).await;
    }
}
