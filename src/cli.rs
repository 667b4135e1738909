//! The command line (clap derive), turned into the plain config that `share` takes.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::share::Config;
use crate::size::Size;

/// Share a tmux session for pair programming: guests join with plain `ssh`, no relay, no accounts.
#[derive(Parser, Debug)]
#[command(name = "npair", version = env!("NPAIR_VERSION"), about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Share a tmux session over a built-in SSH server and show it here as `tmux attach` would.
    ///
    /// Prints a read-write and a read-only login (`ssh -p PORT TOKEN@HOST`). Tokens are new on
    /// every run and die with npair. Detach (tmux prefix + d) or send SIGINT/SIGTERM to end the
    /// share: guests are disconnected and the tmux session lives on.
    Share(ShareArgs),
}

#[derive(Args, Debug)]
pub struct ShareArgs {
    /// The tmux session to share [default: the session named after the current directory,
    /// created if missing]
    pub session: Option<String>,

    /// Create SESSION if it does not exist
    #[arg(long)]
    pub create: bool,

    /// Address and port of the SSH server (port 0 picks a free one). Repeat for more addresses;
    /// `[::]:PORT` alone listens on IPv6 and IPv4
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:2222", action = clap::ArgAction::Append)]
    pub listen: Vec<SocketAddr>,

    /// The server's host key (ed25519, OpenSSH format; created with mode 0600 if missing)
    /// [default: $XDG_CONFIG_HOME/npair/host_ed25519, or ~/.config/npair/host_ed25519]
    #[arg(long, value_name = "PATH")]
    pub host_key: Option<PathBuf>,

    /// Serve without a local terminal; events are logged to stderr
    #[arg(long)]
    pub headless: bool,

    /// The session size when headless
    #[arg(long, value_name = "COLSxROWS", default_value = "80x24")]
    pub size: String,

    /// Print the connection details as one JSON line on stdout
    #[arg(long)]
    pub json: bool,

    /// Share beyond the LAN through your own SSH jump box: npair runs your `ssh` with remote
    /// forwards of its ports there (your ssh config, agent and known_hosts as they are), keeps
    /// it up, and prints logins that work wherever the jump box is reachable
    #[arg(long, value_name = "USER@JUMPBOX[:PORT]")]
    pub via: Option<String>,

    /// Address and port of the read-only web viewer (port 0 picks a free one)
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8022")]
    pub web: SocketAddr,

    /// Do not serve the web viewer
    #[arg(long)]
    pub no_web: bool,
}

impl ShareArgs {
    pub fn into_config(self) -> Result<Config> {
        let size: Size = self.size.parse()?;
        let host_key = match self.host_key {
            Some(p) => p,
            None => crate::keys::default_path()?,
        };
        Ok(Config {
            session: self.session,
            create: self.create,
            listen: self.listen,
            host_key,
            headless: self.headless,
            size,
            json: self.json,
            web: (!self.no_web).then_some(self.web),
            via: self
                .via
                .map(|v| v.parse())
                .transpose()
                .map_err(anyhow::Error::msg)?,
        })
    }
}
