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
use std::time::Duration;

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

    /// Fails with a clear message when tmux cannot be run at all; otherwise its version, as
    /// `tmux -V` says it ("tmux 3.3a").
    pub fn check_installed(&self) -> Result<String> {
        let out = self.output(&["-V"])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
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

    /// Creates session `name` grouped with `target` (its windows, its own current window), for
    /// an own view.
    pub fn new_grouped_session(&self, target: &str, name: &str) -> Result<()> {
        let out = self.output(&["new-session", "-d", "-t", &exact(target), "-s", name])?;
        if !out.status.success() {
            bail!(
                "cannot open an own view of '{target}': {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Waits (a little) until a client is attached to session `name` (one of ours); false if
    /// none came.
    pub fn wait_for_client(&self, name: &str) -> bool {
        for _ in 0..CLIENT_WAIT_TRIES {
            let clients = self.output(&["list-clients", "-t", &exact(name)]);
            if clients.is_ok_and(|o| o.status.success() && !o.stdout.is_empty()) {
                return true;
            }
            std::thread::sleep(CLIENT_WAIT_POLL);
        }
        false
    }

    /// Makes tmux destroy session `name` (one of ours) once no client is attached to it.
    pub fn set_destroy_unattached(&self, name: &str) {
        let _ = self.output(&[
            "set-option",
            "-t",
            &option_target(name),
            "destroy-unattached",
            "on",
        ]);
    }

    /// Kills session `name` (one of ours), and with it the clients attached to it.
    pub fn kill_session(&self, name: &str) {
        let _ = self.output(&["kill-session", "-t", &exact(name)]);
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

    /// A control-mode client (`tmux -C`) of session `name`, for the web viewer's scrollback:
    /// it hears every pane's output as text lines on its stdout and takes commands on its
    /// stdin. It draws nothing, has no say in the size (`ignore-size`) and cannot type
    /// (`read-only`); `-f` needs tmux 3.2. It ends when its stdin closes.
    ///
    /// `-E`: attaching does not apply `update-environment`, so the session's environment is
    /// left as it is. The environment is cut to what finding the server takes, which keeps
    /// the client's introduction to the server short: tmux before 3.7 crashes if it notifies
    /// a control client that is still introducing itself (tmux issue 4980).
    pub fn control_command(&self, name: &str) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.env_clear();
        for var in ["PATH", "HOME", "TMUX_TMPDIR", "LANG", "LC_ALL", "LC_CTYPE"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.args(self.base_args()).args([
            "-C",
            "attach-session",
            "-E",
            "-t",
            &exact(name),
            "-f",
            "ignore-size,read-only",
        ]);
        cmd
    }

    /// Shows `msg` in the status line of the client on `tty` (ours), for the host to see.
    pub fn display_message(&self, tty: &Path, msg: &str) {
        self.display_message_for(tty, msg, NOTICE_SHOWN);
    }

    /// Shows `msg` in our client's status line for `shown`.
    pub fn display_message_for(&self, tty: &Path, msg: &str, shown: Duration) {
        let tty = tty.to_string_lossy();
        // '#' starts a tmux format; double it so addresses and names show as they are.
        let msg = msg.replace('#', "##");
        let ms = shown.as_millis().to_string();
        // Long enough to read an address (tmux's default display-time is 750 ms). `-d` needs
        // tmux 3.2; older ones refuse it, and get the plain message.
        let shown = self.output(&["display-message", "-d", &ms, "-c", &tty, &msg]);
        if !shown.is_ok_and(|o| o.status.success()) {
            let _ = self.output(&["display-message", "-c", &tty, &msg]);
        }
    }

    /// Makes tmux draw the whole screen of the client on `tty` (ours) again, as it knows it:
    /// every cell with every attribute and character cluster it holds.
    pub fn refresh_client(&self, tty: &Path) {
        let tty = tty.to_string_lossy();
        let _ = self.output(&["refresh-client", "-t", &tty]);
    }

    /// Detaches the client on `tty` (ours) the way `prefix d` would, so tmux restores the
    /// terminal it drew on.
    pub fn detach_client(&self, tty: &Path) {
        let tty = tty.to_string_lossy();
        let _ = self.output(&["detach-client", "-t", &tty]);
    }
}

/// How long a new client of ours may take to attach: tmux attaches in milliseconds.
const CLIENT_WAIT_TRIES: u32 = 200;
const CLIENT_WAIT_POLL: Duration = Duration::from_millis(10);

/// How long a notice stays in the host's status line.
const NOTICE_SHOWN: Duration = Duration::from_secs(4);

/// The user option that holds the guest count, shown by the status line npair sets.
const COUNT_OPTION: &str = "@npair_guests";
/// The user option that holds who is typing (`alice typing`), shown in front of the count.
const TYPING_OPTION: &str = "@npair_typing";

impl Tmux {
    /// Shows the guest count in `session`'s status line (`@npair_guests`, which the
    /// [`StatusLine`] prefix shows).
    pub fn set_guest_count(&self, session: &str, n: usize) {
        let text = match n {
            0 => "npair: no guests".to_owned(),
            1 => "npair: 1 guest".to_owned(),
            n => format!("npair: {n} guests"),
        };
        let _ = self.output(&[
            "set-option",
            "-t",
            &option_target(session),
            COUNT_OPTION,
            &text,
        ]);
    }

    /// Shows who is typing in `session`'s status line (`@npair_typing`, which the
    /// [`StatusLine`] prefix shows), or nothing (`None`).
    pub fn set_typing(&self, session: &str, line: Option<&str>) {
        let target = option_target(session);
        let _ = match line {
            // tmux reads `#[...]` in the drawn status line as a style, and `##` as `#`: a
            // guest's name is shown as it is, whatever it holds. (Formats are not expanded in
            // an option's value, so `#{...}` and `#(...)` never run.)
            Some(line) => self.output(&[
                "set-option",
                "-t",
                &target,
                TYPING_OPTION,
                &line.replace('#', "##"),
            ]),
            None => self.output(&["set-option", "-u", "-t", &target, TYPING_OPTION]),
        };
    }

    /// Asks the host, in a one-key prompt on our client, whether guest `id` may join; the
    /// answer runs `npair prompt-answer`, which approves on `y` and denies on anything else.
    pub fn ask_approval(&self, tty: &Path, exe: &Path, session: &str, id: u64, about: &str) {
        let tty = tty.to_string_lossy();
        let prompt = format!("npair: let {} in? (y/n) ", about.replace('#', "##"));
        // Single quotes for the shell run-shell starts; %%% is the key, quotes escaped by tmux.
        let template = format!(
            // Quiet: run-shell would show any output in the pane, over the session.
            "run-shell -b \"{} prompt-answer {} {id} '%%%' >/dev/null 2>&1\"",
            shell_quote(&exe.to_string_lossy()),
            shell_quote(session),
        );
        let _ = self.output(&["command-prompt", "-k", "-t", &tty, "-p", &prompt, &template]);
    }
}

/// A word for `sh`, in single quotes; run-shell's double quotes around it are tmux's.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''").replace('"', "\\\""))
}

/// The host's status line while sharing: who is typing and the guest count before what
/// `status-right` showed. Dropping it puts `status-right` back as it was and removes both.
pub struct StatusLine {
    tmux: Tmux,
    session: String,
    /// The session's own `status-right` before npair changed it (`None`: it had none and
    /// used the global one).
    before: Option<String>,
}

impl StatusLine {
    pub fn set(tmux: &Tmux, session: &str) -> StatusLine {
        let target = option_target(session);
        let read = |args: &[&str]| {
            tmux.output(args)
                .ok()
                .filter(|o| o.status.success())
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .trim_end_matches('\n')
                        .to_owned()
                })
        };
        let own = read(&["show-options", "-q", "-v", "-t", &target, "status-right"])
            .filter(|v| !v.is_empty());
        let base = own
            .clone()
            .or_else(|| read(&["show-options", "-g", "-v", "status-right"]))
            .unwrap_or_default();
        let shown = format!(
            "#{{?{TYPING_OPTION},#[bold]#{{{TYPING_OPTION}}}#[nobold] ,}}\
             #{{?{COUNT_OPTION},#[reverse] #{{{COUNT_OPTION}}} #[noreverse] ,}}{base}"
        );
        let _ = tmux.output(&["set-option", "-t", &target, "status-right", &shown]);
        StatusLine {
            tmux: tmux.clone(),
            session: session.to_owned(),
            before: own,
        }
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        let target = option_target(&self.session);
        let _ = match &self.before {
            Some(v) => self
                .tmux
                .output(&["set-option", "-t", &target, "status-right", v]),
            None => self
                .tmux
                .output(&["set-option", "-u", "-t", &target, "status-right"]),
        };
        for option in [COUNT_OPTION, TYPING_OPTION] {
            let _ = self
                .tmux
                .output(&["set-option", "-u", "-t", &target, option]);
        }
    }
}

/// A target that matches only the session with exactly this name.
fn exact(name: &str) -> String {
    format!("={name}")
}

/// The target of a session's options: `set-option -t` takes a pane, so the exact session
/// name needs its trailing colon (`=NAME` alone is "no such session" there).
fn option_target(name: &str) -> String {
    format!("={name}:")
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

/// Whether the tmux of `version` (as `tmux -V` says it: "tmux 3.3a", "tmux next-3.6") counts a
/// character followed by U+FE0F (VARIATION SELECTOR-16) as two columns: tmux 3.4 and later do,
/// 3.3 and earlier count the character alone. A version that cannot be read is taken as a
/// recent one.
pub fn counts_vs16_wide(version: &str) -> bool {
    let digits = version
        .trim()
        .trim_start_matches("tmux ")
        .trim_start_matches("next-");
    let mut parts = digits.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (3, 4),
        _ => true,
    }
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

    #[test]
    fn tmux_counts_vs16_as_wide_from_3_4() {
        assert!(!counts_vs16_wide("tmux 3.3a\n"));
        assert!(!counts_vs16_wide("tmux 2.9"));
        assert!(counts_vs16_wide("tmux 3.4"));
        assert!(counts_vs16_wide("tmux 3.5a"));
        assert!(counts_vs16_wide("tmux next-3.6"));
        assert!(counts_vs16_wide("tmux master"));
    }
}
