//! `npair share`: the share from start to end, as one story in phases, each in its own file.
//! - `preflight`: what the user asked for is checked (tmux, the session, the terminal).
//! - `net`: the listeners and the forward through a jump box are bound.
//! - `banner`: the logins are printed.
//! - `screen`: the pty, the hub and the size policy start, with the keyboards wired in.
//! - `services`: the SSH server, web viewer, control socket, recording and the host's side
//!   start, each a task on the share's tracker (the host's status line in `status_line`).
//! - `attach`: our tmux client runs until something ends the share (`End`).
//!
//! Then everyone is told why, every task is given time to say goodbye, and the host's terminal
//! is put back.

mod attach;
mod banner;
pub use banner::own_command;
pub mod net;
mod preflight;
mod screen;
mod services;
mod sizing;
mod status_line;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio_util::task::TaskTracker;

use crate::control;
use crate::keys;
use crate::size::{Policy, Size};
use crate::tokens::Tokens;
use crate::via;
use crate::{shutdown, shutdown::FAREWELL_TIMEOUT};

/// What `npair share` was asked to do, free of CLI types.
#[derive(Clone, Debug)]
pub struct Config {
    /// `None`: the session named after the current directory, created if missing.
    pub session: Option<String>,
    pub create: bool,
    /// The SSH server's addresses (at least one); the first is the one the banner shows.
    pub listen: Vec<SocketAddr>,
    pub host_key: PathBuf,
    pub headless: bool,
    /// The session size when headless (and when the host's terminal size cannot be read).
    pub size: Size,
    /// Whose terminal decides the session's size, to start with (`--size-policy`).
    pub size_policy: Policy,
    pub json: bool,
    /// The jump box to forward through (`--via`), if any.
    pub via: Option<via::Jump>,
    /// The web viewer's address; `None` with `--no-web`, or by default with `--authorized-keys`.
    pub web: Option<SocketAddr>,
    /// Why the web viewer is off when the host did not turn it off, for the banner.
    pub web_off: Option<String>,
    /// The web viewer is served over HTTPS only, with this certificate (`--tls-cert`).
    pub tls: Option<crate::web::tls::TlsFiles>,
    /// Web observers may scroll back (not `--no-scrollback`).
    pub scrollback: bool,
    /// No read-write token at all (`--read-only`).
    pub read_only: bool,
    /// Each guest waits until the host lets it in (`--approve`).
    pub approve: bool,
    pub max_guests: Option<usize>,
    /// The share ends by itself this long after it starts (`--expires`).
    pub expires: Option<Duration>,
    /// Guests must also present one of the keys listed there (`--authorized-keys`).
    pub authorized_keys: Option<PathBuf>,
    /// An asciicast v2 recording of what guests saw (`--record`).
    pub record: Option<PathBuf>,
}

/// How long the exited tmux client's last output may take to reach the host and guests.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the share's tasks get to finish at the end: each guest's farewell, and a little
/// more for the rest.
const TASKS_TIMEOUT: Duration = FAREWELL_TIMEOUT.saturating_add(Duration::from_secs(1));

pub async fn run(cfg: Config) -> Result<()> {
    let plan = preflight::check(&cfg)?;
    net::raise_open_files_limit();
    let (control, _control_socket) = control::bind(&plan.name)?;
    let key = keys::load_or_create(&cfg.host_key)?;
    let tasks = TaskTracker::new();
    let bound = net::Bound::open(&cfg, &tasks).await?;
    plan.create_session()?;

    // Signals end the share cleanly from before the banner on: a script may signal as soon as
    // it has read the logins.
    let mut signals = attach::Signals::new()?;
    let tokens = Arc::new(Tokens::generate(cfg.read_only));
    let reach = Arc::new(bound.reach(&cfg, plan.tls.as_deref(), Arc::clone(&tokens))?);
    let first_login = banner::print(
        &cfg,
        &plan.name,
        &reach,
        &tokens.current(),
        &bound.addresses()?,
        &key.fingerprint,
    )?;

    let host = plan.attached.then_some(plan.base);
    let screen = screen::Screen::start(plan.size, host, plan.vs16_wide)?;
    let (trigger, shutdown) = shutdown::channel();
    let running = services::start(services::Wiring {
        cfg: &cfg,
        plan,
        key,
        bound,
        control,
        tokens,
        reach,
        screen: &screen,
        shutdown: &shutdown,
        tasks: &tasks,
        first_login,
    })?;
    let plan = &running.plan;
    let client = attach::Client {
        tmux: &plan.tmux,
        name: &plan.name,
        term: &plan.term,
        pty: &screen.pty,
        tty: &screen.tty,
        attached: plan.attached,
        hub: &screen.hub,
        notices: &running.notices,
    };
    let end = client.until_the_end(&mut signals, running.ends).await?;
    // The client's last output (its detach message, leaving the alternate screen) goes out
    // before anyone is told goodbye.
    screen.pty.drain(DRAIN_TIMEOUT).await;

    trigger.fire(end.reason());
    tasks.close();
    let _ = tokio::time::timeout(TASKS_TIMEOUT, tasks.wait()).await;
    drop(screen);
    end.outcome(&plan.name)
}

/// Why the share ended.
enum End {
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(&'static str),
    /// The host detached (tmux prefix + d).
    HostDetached,
    /// The tmux session no longer exists.
    SessionGone,
    /// The tmux client keeps exiting at once.
    ClientFailing,
    /// `npair stop`.
    Stopped,
    /// `--expires` ran out.
    Expired,
}

impl End {
    /// What every guest is told.
    fn reason(&self) -> &'static str {
        match self {
            End::Signal(_) | End::HostDetached | End::Stopped | End::ClientFailing => {
                "the share has ended"
            }
            End::Expired => "the share has expired (the host set a time limit)",
            End::SessionGone => "the shared tmux session has ended",
        }
    }

    /// What the host is told, as npair's result: a line on stderr and success, or an error
    /// (and exit status 1) when the share could not go on.
    fn outcome(&self, name: &str) -> Result<()> {
        let why = match self {
            End::SessionGone => {
                bail!("tmux session '{name}' has ended, so the share has ended")
            }
            End::ClientFailing => {
                bail!("tmux keeps exiting when attaching to session '{name}'; the share has ended")
            }
            End::Signal(sig) => format!("received {sig}"),
            End::Stopped => "npair stop".to_owned(),
            End::Expired => "it expired (--expires)".to_owned(),
            End::HostDetached => "the host detached".to_owned(),
        };
        eprintln!(
            "npair: share ended ({why}); guests were disconnected; tmux session '{name}' is still running"
        );
        Ok(())
    }
}
