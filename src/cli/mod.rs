//! The command line (clap derive), turned into the plain config that `share` takes and the
//! plain requests the control socket takes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};

use crate::control::{Request, Target};
use crate::registry::Who;
use crate::share::Config;
use crate::size::{Policy, Size};

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
    /// every run and die with npair. Detach (tmux prefix + d), run `npair stop`, or send
    /// SIGINT/SIGTERM to end the share: guests are disconnected and the tmux session lives on.
    /// Sharing a session that is already shared shows its status instead.
    ///
    /// A guest is known by its key's comment (--authorized-keys), else by the name it gives
    /// (`ssh -o SetEnv=NPAIR_NAME=alice ...`: at most 32 printable characters, or it is refused),
    /// else as `guest N`; while guests type, the status line says who (`alice typing`).
    // Boxed: the other commands are a few bytes, and this one is read once.
    Share(Box<ShareArgs>),

    /// Show a running share: its logins, host key, uptime, rules, and one line per guest (id,
    /// role rw/ro/web, name, address, client, terminal size, time connected, when it last
    /// typed, bytes sent), and the session's size and size policy
    Status(StatusArgs),

    /// Disconnect a guest, by id or name (or every read-only guest, or everyone); they are
    /// told why
    #[command(
        override_usage = "npair kick [SESSION] ID|NAME\n       npair kick [SESSION] --all-ro|--all"
    )]
    Kick(KickArgs),

    /// Replace the tokens (both, or only --rw or --ro) and print the new logins; guests who
    /// joined with an old token stay unless --kick is given
    Rotate(RotateArgs),

    /// Let a read-only guest type (it joins the size vote), while it stays connected
    #[command(override_usage = "npair promote [SESSION] ID|NAME")]
    Promote(GuestArgs),

    /// Make a read-write guest read-only (it leaves the size vote), while it stays connected
    #[command(override_usage = "npair demote [SESSION] ID|NAME")]
    Demote(GuestArgs),

    /// Let in a guest that waits for the host (--approve)
    #[command(override_usage = "npair approve [SESSION] ID|NAME")]
    Approve(GuestArgs),

    /// Turn away a guest that waits for the host (--approve); it never sees the session
    #[command(override_usage = "npair deny [SESSION] ID|NAME")]
    Deny(GuestArgs),

    /// Choose whose terminal decides the session's size while sharing: `smallest` (the host's
    /// and every read-write guest's), `host` (the host's alone), or a fixed COLSxROWS
    #[command(override_usage = "npair size-policy [SESSION] smallest|host|COLSxROWS")]
    SizePolicy(SizePolicyArgs),

    /// End a share, as the host detaching would
    Stop(SessionArgs),

    /// Print a shell completion script (e.g. `npair completions bash > ~/.local/share/bash-completion/completions/npair`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff), generated from this command line (e.g. `npair man > npair.1`)
    Man,

    /// The answer to the attached host's tmux prompt about a waiting guest (used by npair
    /// itself): `y` approves, anything else denies
    #[command(hide = true)]
    PromptAnswer {
        session: String,
        id: u64,
        key: String,
    },
}

#[derive(Args, Debug)]
pub struct SessionArgs {
    /// The shared tmux session [default: the only share running]
    pub session: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The shared tmux session [default: the only share running]
    pub session: Option<String>,

    /// Print the status as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct KickArgs {
    /// The shared tmux session (optional) and the guest's id or name, as `npair status` shows
    /// them (a name several guests have is refused: give the id)
    #[arg(value_name = "[SESSION] ID|NAME", num_args = 0..=2)]
    pub args: Vec<String>,

    /// Disconnect every read-only guest and web viewer
    #[arg(long, conflicts_with = "all")]
    pub all_ro: bool,

    /// Disconnect every guest
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    /// The shared tmux session [default: the only share running]
    pub session: Option<String>,

    /// Replace only the read-write token
    #[arg(long, conflicts_with = "ro")]
    pub rw: bool,

    /// Replace only the read-only token (the web viewer's URL changes with it)
    #[arg(long)]
    pub ro: bool,

    /// Also disconnect the guests who joined with a replaced token
    #[arg(long)]
    pub kick: bool,

    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct GuestArgs {
    /// The shared tmux session (optional) and the guest's id or name, as `npair status` shows
    /// them (a name several guests have is refused: give the id)
    #[arg(value_name = "[SESSION] ID|NAME", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SizePolicyArgs {
    /// The shared tmux session (optional) and the policy: smallest, host, or COLSxROWS
    #[arg(value_name = "[SESSION] POLICY", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
}

/// A size policy from the command line. Parsed here rather than by clap so that a bad one
/// exits 1 with npair's own message, as a bad `--size` does.
fn size_policy(s: &str) -> Result<Policy> {
    s.parse().map_err(anyhow::Error::msg)
}

/// `[SESSION] ID|NAME`: the last word is the guest, a number being an id (names never are).
fn session_and_guest(args: &[String]) -> Result<(Option<String>, Who)> {
    match args {
        [who] => Ok((None, Who::parse(who))),
        [session, who] => Ok((Some(session.clone()), Who::parse(who))),
        _ => bail!("give a guest id or name (and, before it, the session if several shares run)"),
    }
}

impl Command {
    /// For the commands that talk to a running share: the session (if named), the request,
    /// and whether to print JSON. `None` for the others.
    pub fn into_request(self) -> Result<Option<(Option<String>, Request, bool)>> {
        let guest = |a: GuestArgs, make: fn(Who) -> Request| -> Result<_> {
            let (session, who) = session_and_guest(&a.args)?;
            Ok(Some((session, make(who), false)))
        };
        match self {
            Command::Status(a) => Ok(Some((a.session, Request::Status, a.json))),
            Command::Kick(a) => {
                let (session, target) = match (a.all, a.all_ro, a.args.as_slice()) {
                    (true, _, [] | [_]) | (_, true, [] | [_]) => {
                        let target = if a.all { Target::All } else { Target::AllRo };
                        (a.args.first().cloned(), target)
                    }
                    (true, _, _) | (_, true, _) => {
                        bail!("--all and --all-ro take no guest; give only the session, if any")
                    }
                    (false, false, []) => bail!(
                        "say whom to disconnect: a guest id or name (see `npair status`), --all-ro or --all"
                    ),
                    (false, false, args) => {
                        let (session, who) = session_and_guest(args)?;
                        (session, Target::Guest(who))
                    }
                };
                Ok(Some((session, Request::Kick { target }, false)))
            }
            Command::Rotate(a) => Ok(Some((
                a.session,
                Request::Rotate {
                    rw: a.rw,
                    ro: a.ro,
                    kick: a.kick,
                },
                a.json,
            ))),
            Command::SizePolicy(a) => {
                let (session, policy) = match a.args.as_slice() {
                    [policy] => (None, policy),
                    [session, policy] => (Some(session.clone()), policy),
                    _ => bail!(
                        "give a size policy (and, before it, the session if several shares run)"
                    ),
                };
                let policy = size_policy(policy)?;
                Ok(Some((session, Request::SizePolicy { policy }, false)))
            }
            Command::Promote(a) => guest(a, |id| Request::Promote { id }),
            Command::Demote(a) => guest(a, |id| Request::Demote { id }),
            Command::Approve(a) => guest(a, |id| Request::Approve { id }),
            Command::Deny(a) => guest(a, |id| Request::Deny { id }),
            Command::Stop(a) => Ok(Some((a.session, Request::Stop, false))),
            Command::PromptAnswer { session, id, key } => {
                let id = Who::Id(id);
                let req = if key.eq_ignore_ascii_case("y") {
                    Request::Approve { id }
                } else {
                    Request::Deny { id }
                };
                Ok(Some((Some(session), req, false)))
            }
            Command::Share(_) | Command::Completions { .. } | Command::Man => Ok(None),
        }
    }
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

    /// The session size when headless (it stands for the host's terminal in --size-policy)
    #[arg(long, value_name = "COLSxROWS", default_value = "80x24")]
    pub size: String,

    /// Whose terminal decides the session's size: `smallest` (the host's and every read-write
    /// guest's, so every typist sees the whole screen), `host` (the host's terminal alone, or
    /// --size when headless; a smaller guest is told so), or a fixed COLSxROWS (attached, it
    /// must fit in the host's terminal). `npair size-policy` changes it while sharing
    #[arg(long, value_name = "POLICY", default_value = "smallest")]
    pub size_policy: String,

    /// Print the connection details as one JSON line on stdout
    #[arg(long)]
    pub json: bool,

    /// Share beyond the LAN through your own SSH jump box: npair runs your `ssh` with remote
    /// forwards of its ports there (your ssh config, agent and known_hosts as they are), keeps
    /// it up, and prints logins that work wherever the jump box is reachable
    #[arg(long, value_name = "USER@JUMPBOX[:PORT]")]
    pub via: Option<String>,

    /// Address and port of the read-only web viewer (port 0 picks a free one) [default:
    /// 0.0.0.0:8022, but off with --authorized-keys unless given: the page has no keys]
    #[arg(long, value_name = "ADDR:PORT")]
    pub web: Option<SocketAddr>,

    /// Do not serve the web viewer
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub no_web: bool,

    /// Serve the web viewer over HTTPS only, with this certificate (PEM, its chain after it,
    /// as `tailscale cert`, mkcert or certbot write it); needs --tls-key. Renewed files are
    /// served from the next connection on, without a restart
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Web observers cannot scroll back: npair starts no tmux control-mode client to keep what
    /// scrolls off (tmux before 3.7 can crash if a window changes as one attaches)
    #[arg(long)]
    pub no_scrollback: bool,

    /// Offer no read-write login at all: every guest only watches
    #[arg(long)]
    pub read_only: bool,

    /// Each new guest waits at a "waiting for the host" screen until the host lets it in
    /// (`npair approve ID|NAME`, or `y` at the tmux prompt when attached) or turns it away
    /// (`npair deny ID|NAME`, or `n`)
    #[arg(long)]
    pub approve: bool,

    /// Guests at most at once (SSH and web, waiting or in); more are told the share is full
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_guests: Option<u32>,

    /// End the share by itself after this long (e.g. 90s, 45m, 2h, 1h30m); everyone is warned
    /// a minute before (half the time, for shares under two minutes)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires: Option<Duration>,

    /// Guests must also present one of the public keys listed in FILE (OpenSSH
    /// authorized_keys format; a GitHub `https://github.com/USER.keys` list works): the token
    /// alone is not enough
    #[arg(long, value_name = "FILE")]
    pub authorized_keys: Option<PathBuf>,

    /// Record what guests see to FILE as an asciicast v2 (`asciinema play FILE` replays it),
    /// with a marker when a guest starts typing; what anyone types is never recorded
    #[arg(long, value_name = "FILE.cast")]
    pub record: Option<PathBuf>,
}

/// Where the web viewer listens unless told otherwise.
pub const DEFAULT_WEB: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 8022);

/// Why the web viewer is off with `--authorized-keys`, as the banner says it.
const WEB_OFF_FOR_KEYS: &str = "off: --authorized-keys admits only listed keys, and a browser \
     has none (give --web ADDR:PORT to serve the page anyway)";

/// The longest `--expires`: a share is a working session; more than a week is a typo in the unit.
pub const MAX_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses `90s`, `45m`, `2h`, `1h30m`, `1d`: numbers each followed by a unit (s, m, h, d).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!(
            "invalid duration '{s}': {why}; write e.g. 90s, 45m, 2h or 1h30m (units s, m, h, d)"
        )
    };
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad(&format!("'{c}' is not a unit"))),
        };
        if num.is_empty() {
            return Err(bad("a unit without a number"));
        }
        let n: u64 = num.parse().map_err(|_| bad("a number is too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too long"))?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(bad("a number without a unit"));
    }
    let d = Duration::from_secs(total);
    if d.is_zero() {
        return Err(bad("it must be longer than zero"));
    }
    if d > MAX_EXPIRES {
        return Err(bad("longer than a week"));
    }
    Ok(d)
}

/// The man page: the whole command's, then a section per subcommand with its usage and
/// options, all from the same definition as `--help`.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name().to_owned();
        let sub = sub.clone().bin_name(format!("npair {name}"));
        let man = clap_mangen::Man::new(sub);
        let mut text = Vec::new();
        man.render_synopsis_section(&mut text)?;
        man.render_description_section(&mut text)?;
        man.render_options_section(&mut text)?;
        // Each subcommand is a section of the one page: its parts become subsections.
        let text = String::from_utf8_lossy(&text).replace(".SH ", ".SS ");
        writeln!(out, ".SH \"NPAIR {}\"", name.to_uppercase())?;
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}

impl ShareArgs {
    pub fn into_config(self) -> Result<Config> {
        let size: Size = self.size.parse()?;
        let host_key = match self.host_key {
            Some(p) => p,
            None => crate::keys::default_path()?,
        };
        let tls = self
            .tls_cert
            .zip(self.tls_key)
            .map(|(cert, key)| crate::web::tls::TlsFiles { cert, key });
        let (web, web_off) = match (self.no_web, self.web, &self.authorized_keys) {
            (true, _, _) => (None, None),
            (false, Some(addr), _) => (Some(addr), None),
            // Guests must hold a listed key, and a browser presents none: the page would be
            // open to anyone with the URL. Given explicitly, the host has decided.
            (false, None, Some(_)) => (None, Some(WEB_OFF_FOR_KEYS.to_owned())),
            (false, None, None) => (Some(DEFAULT_WEB), None),
        };
        if let (Some(files), None) = (&tls, web) {
            bail!(
                "--tls-cert {} is for the web viewer, which is off with --authorized-keys; \
                 give --web ADDR:PORT to serve it over HTTPS, or leave out --tls-cert and --tls-key",
                files.cert.display()
            );
        }
        Ok(Config {
            session: self.session,
            create: self.create,
            listen: self.listen,
            host_key,
            headless: self.headless,
            size,
            size_policy: size_policy(&self.size_policy)?,
            json: self.json,
            web,
            web_off,
            tls,
            scrollback: !self.no_scrollback,
            via: self
                .via
                .map(|v| v.parse())
                .transpose()
                .map_err(anyhow::Error::msg)?,
            read_only: self.read_only,
            approve: self.approve,
            max_guests: self.max_guests.map(|n| n as usize),
            expires: self.expires,
            authorized_keys: self.authorized_keys,
            record: self.record,
        })
    }
}

#[cfg(test)]
mod tests;
