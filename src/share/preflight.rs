//! Before anything is bound or started: what the user asked for is checked, each refusal
//! naming the value and what to do.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::Config;
use crate::control::{self, Request};
use crate::host;
use crate::keys::AuthorizedKeys;
use crate::size::{Size, SizePolicy};
use crate::tmux::{self, Tmux};
use crate::web::tls::Tls;

/// What the checks found: the session to share and how.
pub(super) struct Plan {
    pub(super) tmux: Tmux,
    /// The tmux session to share.
    pub(super) name: String,
    /// The directory a created session starts in.
    cwd: PathBuf,
    /// Whether the session exists already (otherwise it is created once the share is bound).
    exists: bool,
    /// The host's terminal shows the share (not `--headless`).
    pub(super) attached: bool,
    /// The session's size to start with, as the size policy gives it before anyone joins.
    pub(super) size: Size,
    /// The host's size: its terminal, or `--size` when headless (or unreadable).
    pub(super) base: Size,
    /// The TERM our tmux client runs under: the host's, or xterm-256color when headless.
    pub(super) term: String,
    pub(super) authorized_keys: Option<AuthorizedKeys>,
    /// The web viewer's certificate, read (`--tls-cert`).
    pub(super) tls: Option<Arc<Tls>>,
    /// Our tmux counts U+FE0F as widening (see [`tmux::counts_vs16_wide`]).
    pub(super) vs16_wide: bool,
}

/// Checks tmux, the session, the host's terminal, and that the session is not shared already.
pub(super) fn check(cfg: &Config) -> Result<Plan> {
    let tmux = Tmux::from_env();
    let vs16_wide = tmux::counts_vs16_wide(&tmux.check_installed()?);
    let attached = !cfg.headless;

    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let (name, create) = match &cfg.session {
        Some(n) => (n.clone(), cfg.create),
        None => (tmux::session_name_for_dir(&cwd), true),
    };
    let exists = tmux.has_session(&name);
    if !exists && !create {
        let sessions = tmux.sessions()?;
        let listed = if sessions.is_empty() {
            "no tmux sessions are running".to_owned()
        } else {
            format!("sessions: {}", sessions.join(", "))
        };
        bail!("tmux session '{name}' not found ({listed}); use --create to create it");
    }
    if attached && tmux.current_session().as_deref() == Some(name.as_str()) {
        bail!(
            "npair is running inside tmux session '{name}', the one it would share (its screen would contain itself); \
             run it from a terminal outside that session, or add --headless"
        );
    }
    if attached {
        host::check_terminal()?;
    }
    if control::is_running(&name) {
        eprintln!("npair: tmux session '{name}' is already shared; here is its status:");
        let _ = control::run_client(Some(&name), Request::Status, cfg.json);
        bail!(
            "not starting a second share of tmux session '{name}'; end the running one with `npair stop {name}` first"
        );
    }
    let authorized_keys = cfg
        .authorized_keys
        .as_deref()
        .map(AuthorizedKeys::load)
        .transpose()?;
    // Before anything listens: a certificate that cannot be served is an error now, not a
    // page that never loads.
    let tls = cfg.tls.as_ref().map(Tls::load).transpose()?.map(Arc::new);
    let base = if attached {
        host::size().unwrap_or(cfg.size)
    } else {
        cfg.size
    };
    cfg.size_policy
        .check(attached.then_some(base))
        .map_err(|e| anyhow::anyhow!("--size-policy {}: {e}", cfg.size_policy))?;
    let size = SizePolicy::starting_size(cfg.size_policy, base, attached);
    let term = if attached {
        std::env::var("TERM")
            .ok()
            .filter(|t| !t.is_empty() && t != "dumb")
    } else {
        None
    }
    .unwrap_or_else(|| "xterm-256color".to_owned());
    Ok(Plan {
        tmux,
        name,
        cwd,
        exists,
        attached,
        size,
        base,
        term,
        authorized_keys,
        tls,
        vs16_wide,
    })
}

impl Plan {
    /// Creates the session if it does not exist yet (`npair share` with no name, or --create).
    pub(super) fn create_session(&self) -> Result<()> {
        if !self.exists {
            self.tmux.new_session(&self.name, &self.cwd, self.size)?;
        }
        Ok(())
    }
}
