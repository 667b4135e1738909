//! Talking to the user's tmux server: which sessions exist, creating one, the attach command
//! that runs in our pty, and messages to our own client.
//!
//! Every command goes to the same server the user's `tmux` would reach: the one in `$TMUX`
//! when npair runs inside tmux (its socket may not be the default), else the default socket
//! under `$TMUX_TMPDIR`. `$TMUX` itself is removed from what we run, so tmux does not refuse
//! to nest.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use portable_pty::CommandBuilder;

use crate::size::Size;

#[derive(Clone)]
pub struct Tmux {
    /// The server's socket when npair runs inside tmux; `None` means tmux's default.
    socket: Option<PathBuf>,
}

impl Tmux {
    pub fn from_env() -> Tmux {
        // $TMUX is "socket,pid,session".
        let socket = std::env::var_os("TMUX")
            .and_then(|v| {
                v.to_str()
                    .and_then(|s| s.split(',').next())
                    .map(PathBuf::from)
            })
            .filter(|p| !p.as_os_str().is_empty());
        Tmux { socket }
    }

    fn base_args(&self) -> Vec<OsString> {
        match &self.socket {
            Some(s) => vec!["-S".into(), s.clone().into()],
            None => vec![],
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(self.base_args())
            .env_remove("TMUX")
            .env_remove("TMUX_PANE");
        cmd
    }

    fn output(&self, args: &[&str]) -> Result<std::process::Output> {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    anyhow::anyhow!(
                        "tmux is not installed (not found on PATH); install it (e.g. `sudo apt-get install tmux`) and try again"
                    )
                } else {
                    anyhow::Error::new(e).context("cannot run tmux")
                }
            })
    }

    /// Fails with a clear message when tmux cannot be run at all.
    pub fn check_installed(&self) -> Result<()> {
        self.output(&["-V"]).map(|_| ())
    }

    /// Names of the sessions on the server; none when no server is running.
    pub fn sessions(&self) -> Result<Vec<String>> {
        let out = self.output(&["list-sessions", "-F", "#{session_name}"])?;
        if !out.status.success() {
            // "no server running" and "error connecting to ..." both mean: no sessions.
            return Ok(vec![]);
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Exact-name test (a plain `-t name` would match a prefix of another session's name).
    pub fn has_session(&self, name: &str) -> bool {
        self.output(&["has-session", "-t", &exact(name)])
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Creates a detached session in `cwd`.
    pub fn new_session(&self, name: &str, cwd: &Path, size: Size) -> Result<()> {
        let cwd = cwd.to_string_lossy();
        let (x, y) = (size.cols.to_string(), size.rows.to_string());
        let out = self.output(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-c",
            &cwd,
            "-x",
            &x,
            "-y",
            &y,
        ])?;
        if !out.status.success() {
            bail!(
                "cannot create tmux session '{name}': {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// The session of the pane npair runs in, when it runs inside tmux.
    pub fn current_session(&self) -> Option<String> {
        std::env::var_os("TMUX")?;
        let pane = std::env::var("TMUX_PANE").ok()?;
        let out = self
            .output(&["display-message", "-p", "-t", &pane, "#{session_name}"])
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The command that attaches our one client, to run in the pty. `features` are tmux
    /// terminal features (`-T`, tmux 3.2+) to assume for the client, for when no terminal
    /// answers tmux's questions (headless).
    pub fn attach_command(
        &self,
        name: &str,
        term: &str,
        features: Option<&str>,
    ) -> Result<CommandBuilder> {
        let mut cmd = CommandBuilder::new("tmux");
        cmd.args(self.base_args());
        if let Some(f) = features {
            cmd.args(["-T", f]);
        }
        cmd.args(["attach-session", "-t", &exact(name)]);
        cmd.env_remove("TMUX");
        cmd.env_remove("TMUX_PANE");
        cmd.env("TERM", term);
        cmd.cwd(std::env::current_dir().context("cannot read the current directory")?);
        Ok(cmd)
    }

    /// Shows `msg` in the status line of the client on `tty` (ours), for the host to see.
    pub fn display_message(&self, tty: &Path, msg: &str) {
        let tty = tty.to_string_lossy();
        // '#' starts a tmux format; double it so addresses and names show as they are.
        let msg = msg.replace('#', "##");
        // Long enough to read an address (tmux's default display-time is 750 ms). `-d` needs
        // tmux 3.2; older ones refuse it, and get the plain message.
        let shown = self.output(&["display-message", "-d", NOTICE_MS, "-c", &tty, &msg]);
        if !shown.is_ok_and(|o| o.status.success()) {
            let _ = self.output(&["display-message", "-c", &tty, &msg]);
        }
    }

    /// Detaches the client on `tty` (ours) the way `prefix d` would, so tmux restores the
    /// terminal it drew on.
    pub fn detach_client(&self, tty: &Path) {
        let tty = tty.to_string_lossy();
        let _ = self.output(&["detach-client", "-t", &tty]);
    }
}

/// How long a notice stays in the host's status line, in milliseconds.
const NOTICE_MS: &str = "4000";

/// A target that matches only the session with exactly this name.
fn exact(name: &str) -> String {
    format!("={name}")
}

/// The session name for a directory: its last component, with the characters tmux does not
/// allow in session names ('.' and ':') replaced, as tmux itself does.
pub fn session_name_for_dir(dir: &Path) -> String {
    let base = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "npair".to_owned());
    base.replace(['.', ':'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_follow_the_directory() {
        assert_eq!(
            session_name_for_dir(Path::new("/home/ann/funproject")),
            "funproject"
        );
        assert_eq!(
            session_name_for_dir(Path::new("/srv/my.site:8080")),
            "my_site_8080"
        );
        assert_eq!(session_name_for_dir(Path::new("/")), "npair");
    }
}
