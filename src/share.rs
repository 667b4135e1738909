//! `npair share`: checks what the user asked for, wires the pty, hub, size policy, guest
//! registry, SSH server, web viewer, recording, control socket and host terminal together,
//! prints the logins, and owns the end of the share.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;

use crate::admission::limiter::FailureLimiter;
use crate::control::{self, Control, Options, Request};
use crate::host;
use crate::hub::{Hub, Input, Source};
use crate::keys::{self, AuthorizedKeys};
use crate::logins::{Logins, Reach};
use crate::pty::Pty;
use crate::record;
use crate::registry::{Registry, Rules};
use crate::shutdown;
use crate::size::{Size, SizePolicy};
use crate::ssh;
use crate::tmux::{self, Tmux};
use crate::tokens::{Current, Tokens};
use crate::via;
use crate::web;

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
    pub json: bool,
    /// The jump box to forward through (`--via`), if any.
    pub via: Option<via::Jump>,
    /// The web viewer's address; `None` with `--no-web`.
    pub web: Option<SocketAddr>,
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

/// Guests' keystroke chunks waiting for the pty (the host's take no queue: its keyboard thread
/// writes them itself). A chunk is one SSH packet (at most 32 KiB), so the queue holds 8 MiB at
/// worst; a full queue pauses the typists (their TCP windows close), not npair.
const INPUT_QUEUE: usize = 256;
/// Join/leave notices waiting for the host; past this they are dropped, never queued without bound.
const NOTICE_QUEUE: usize = 64;
/// How long our tmux client gets to detach cleanly (restoring the host's terminal) before it
/// is killed.
const DETACH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the exited tmux client's last output may take to reach the host and guests.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// A tmux client that exits this soon after starting, this many times in a row, is failing,
/// not being detached by a guest: give up instead of looping.
const QUICK_EXIT: Duration = Duration::from_secs(2);
const MAX_QUICK_EXITS: u32 = 5;

/// What tmux may assume of the terminal when headless. Attached, the host's terminal answers
/// tmux's questions; headless, nobody does, and tmux would send true colours as the nearest of
/// 256. Guests' terminals and the web page show true colour, so say so.
const HEADLESS_FEATURES: &str = "RGB";

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

/// How long before an `--expires` share ends its guests and host are warned (or half the
/// share's life, for shorter shares), long enough to finish a sentence.
const EXPIRY_WARNING: Duration = Duration::from_secs(60);
/// How long the expiry warning stays in tmux's status line, where host and guests see it.
const EXPIRY_WARNING_SHOWN: Duration = Duration::from_secs(15);

pub async fn run(cfg: Config) -> Result<()> {
    let tmux = Tmux::from_env();
    tmux.check_installed()?;
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
    let (control_listener, _control_socket) = control::bind(&name)?;
    let size = if attached {
        host::size().unwrap_or(cfg.size)
    } else {
        cfg.size
    };
    let key = keys::load_or_create(&cfg.host_key)?;
    let v4_too = cfg.listen.iter().any(SocketAddr::is_ipv4);
    let listeners = cfg
        .listen
        .iter()
        .map(|&a| bind(a, v4_too))
        .collect::<Result<Vec<_>>>()?;
    let first = listeners.first().context("no --listen address")?;
    let port = first.local_addr()?.port();
    let web_listener = cfg.web.map(|a| bind(a, false)).transpose()?;
    let forward = match &cfg.via {
        Some(jump) => {
            let targets = via::Targets {
                ssh: first.local_addr()?,
                web: web_listener.as_ref().map(|l| l.local_addr()).transpose()?,
            };
            Some((
                jump.clone(),
                targets,
                via::establish(jump, targets, None).await?,
            ))
        }
        None => None,
    };
    if !exists {
        tmux.new_session(&name, &cwd, size)?;
    }

    // Signals end the share cleanly from before the banner on: a script may signal as soon as
    // it has read the logins.
    let mut signals = Signals::new()?;
    let tokens = Arc::new(Tokens::generate(cfg.read_only));
    // The forward's ports as they stand: `via::supervise` sends new ones after a reconnect.
    let forwarded = forward
        .as_ref()
        .map(|(jump, _, (_, ports))| (jump.clone(), watch::channel(*ports)));
    let reach = Arc::new(Reach::new(
        banner_host(cfg.listen[0].ip()),
        port,
        match (&web_listener, cfg.web) {
            (Some(l), Some(addr)) => Some((banner_host(addr.ip()), l.local_addr()?.port())),
            _ => None,
        },
        forwarded
            .as_ref()
            .map(|(jump, (_, rx))| (jump.clone(), rx.clone())),
        Arc::clone(&tokens),
    ));
    let current = tokens.current();
    let (lan, through) = reach.logins();
    let bound = listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<std::io::Result<Vec<_>>>()?;
    print_banner(
        &cfg,
        &name,
        &lan,
        through.as_ref(),
        &bound,
        &current,
        &key.fingerprint,
    )?;
    let main_logins = through.as_ref().unwrap_or(&lan);
    let first_login = main_logins.rw.clone().unwrap_or(main_logins.ro.clone());

    let hub = Arc::new(Hub::new(size));
    let sizes = SizePolicy::new(size);
    let pty = Arc::new(Pty::open(size)?);
    let tty = pty
        .tty_name()
        .context("the pseudo-terminal has no device name")?;
    {
        let hub = Arc::clone(&hub);
        pty.start_reader(move |chunk| {
            if attached {
                // The host sees the bytes first and directly, as with a local `tmux attach`.
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(chunk).and_then(|_| out.flush());
            }
            hub.process(chunk);
        })?;
    }
    let writer = pty.take_writer()?;
    let last_typist = Arc::new(Mutex::new(None::<Source>));
    let (input_tx, input_rx) = mpsc::channel::<Input>(INPUT_QUEUE);
    {
        let last = Arc::clone(&last_typist);
        crate::pty::start_writer(Arc::clone(&writer), input_rx, move |i: &Input| {
            *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(i.from);
        })?;
    }

    let raw = if attached {
        let raw = host::RawMode::enable()?;
        let last = Arc::clone(&last_typist);
        host::start_keyboard(move |bytes| {
            // Written here, on the keyboard's own thread: the host's keystrokes wait for no
            // queue, and at most for the one guest chunk being written (the lock is fair).
            let ok = writer.write_whole(bytes).is_ok();
            *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Source::Host);
            ok
        })?;
        Some(raw)
    } else {
        None
    };

    let (trigger, shutdown) = shutdown::channel();
    let (notice_tx, notice_rx) = mpsc::channel(NOTICE_QUEUE);
    let tasks = TaskTracker::new();
    let term = if attached {
        std::env::var("TERM")
            .ok()
            .filter(|t| !t.is_empty() && t != "dumb")
    } else {
        None
    }
    .unwrap_or_else(|| "xterm-256color".to_owned());
    if let Some(path) = &cfg.record {
        record::start(path, &term, Arc::clone(&hub), shutdown.clone(), &tasks)?;
    }
    let registry = Registry::new(
        Arc::clone(&sizes),
        Rules {
            approve: cfg.approve,
            max_guests: cfg.max_guests,
        },
        notice_tx.clone(),
    );
    let (stop_tx, mut stop_rx) = mpsc::channel::<()>(1);
    let started = Instant::now();
    let failures = Arc::new(FailureLimiter::default());
    {
        let control = Arc::new(Control {
            session: name.clone(),
            registry: Arc::clone(&registry),
            tokens: Arc::clone(&tokens),
            failures: Arc::clone(&failures),
            reach: Arc::clone(&reach),
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
        });
        tasks.spawn(control::serve(
            control_listener,
            control,
            shutdown.clone(),
            tasks.clone(),
        ));
    }
    let shared = Arc::new(ssh::Shared {
        hub: Arc::clone(&hub),
        registry: Arc::clone(&registry),
        tokens: Arc::clone(&tokens),
        failures,
        authorized_keys,
        input: input_tx,
        notices: notice_tx.clone(),
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
    });
    if let Some(web_listener) = web_listener {
        let frames = web::render::start(Arc::clone(&hub), shutdown.clone());
        tokio::spawn(web::serve(
            web_listener,
            web::WebShared {
                tokens: Arc::clone(&tokens),
                registry: Arc::clone(&registry),
                session: name.clone(),
                frames,
                shutdown: shutdown.clone(),
                tasks: tasks.clone(),
            },
        ));
    }
    tokio::spawn(ssh::serve(listeners, key.key, shared));
    let (end_tx, end_rx) = mpsc::channel::<End>(1);
    {
        let end_tx = end_tx.clone();
        tokio::spawn(async move {
            if stop_rx.recv().await.is_some() {
                let _ = end_tx.send(End::Stopped).await;
            }
        });
    }
    if let Some(life) = cfg.expires {
        tokio::spawn(expire(
            life,
            end_tx.clone(),
            notice_tx.clone(),
            (tmux.clone(), tty.clone()),
        ));
    }
    // The guest count in the host's status line, put back as it was when the share ends.
    let _status_line = if attached {
        let line = tmux::StatusLine::set(&tmux, &name);
        tokio::spawn(show_count(
            registry.watch_count(),
            tmux.clone(),
            name.clone(),
        ));
        Some(line)
    } else {
        None
    };
    if attached && cfg.approve {
        let (tx, rx) = mpsc::channel(NOTICE_QUEUE);
        registry.on_waiting(tx);
        tokio::spawn(prompt_host(rx, tmux.clone(), tty.clone(), name.clone()));
    }
    if let (Some((jump, targets, current)), Some((_, (ports, _)))) = (forward, forwarded) {
        tasks.spawn(via::supervise(
            jump,
            targets,
            current,
            ports,
            notice_tx.clone(),
            shutdown.clone(),
        ));
    }
    tokio::spawn(show_notices(
        notice_rx,
        attached.then(|| (tmux.clone(), tty.clone())),
    ));
    tokio::spawn(apply_sizes(
        Arc::clone(&sizes),
        Arc::clone(&hub),
        Arc::clone(&pty),
    ));
    if attached {
        tokio::spawn(follow_host_size(Arc::clone(&sizes)));
        let _ = notice_tx.try_send(format!("sharing; {first_login}"));
    }

    let end = attach_until_the_end(
        &tmux,
        &name,
        &term,
        &pty,
        &tty,
        attached,
        &last_typist,
        &notice_tx,
        &mut signals,
        end_rx,
    )
    .await?;
    // The client's last output (its detach message, leaving the alternate screen) goes out
    // before anyone is told goodbye.
    pty.drain(DRAIN_TIMEOUT).await;

    let (reason, failure) = match &end {
        End::Signal(_) | End::HostDetached | End::Stopped => ("the share has ended", None),
        End::Expired => ("the share has expired (the host set a time limit)", None),
        End::SessionGone => (
            "the shared tmux session has ended",
            Some(format!(
                "tmux session '{name}' has ended, so the share has ended"
            )),
        ),
        End::ClientFailing => (
            "the share has ended",
            Some(format!(
                "tmux keeps exiting when attaching to session '{name}'; the share has ended"
            )),
        ),
    };
    trigger.fire(reason);
    tasks.close();
    let _ = tokio::time::timeout(
        shutdown::FAREWELL_TIMEOUT + Duration::from_secs(1),
        tasks.wait(),
    )
    .await;
    drop(raw);
    if let Some(msg) = failure {
        bail!(msg);
    }
    let why = match end {
        End::Signal(sig) => format!("received {sig}"),
        End::Stopped => "npair stop".to_owned(),
        End::Expired => "it expired (--expires)".to_owned(),
        _ => "the host detached".to_owned(),
    };
    eprintln!("npair: share ended ({why}); guests were disconnected; tmux session '{name}' is still running");
    Ok(())
}

/// Runs our tmux client until the share ends, attaching it again when a guest detaches it.
#[allow(clippy::too_many_arguments)]
async fn attach_until_the_end(
    tmux: &Tmux,
    name: &str,
    term: &str,
    pty: &Pty,
    tty: &std::path::Path,
    attached: bool,
    last_typist: &Mutex<Option<Source>>,
    notices: &mpsc::Sender<String>,
    signals: &mut Signals,
    mut ends: mpsc::Receiver<End>,
) -> Result<End> {
    let mut quick_exits = 0;
    loop {
        let mut child = pty
            .spawn(tmux.attach_command(name, term, (!attached).then_some(HEADLESS_FEATURES))?)
            .context("cannot start `tmux attach-session`")?;
        let mut killer = child.clone_killer();
        let started = Instant::now();
        let (exited_tx, mut exited_rx) = oneshot::channel();
        std::thread::spawn(move || {
            let _ = exited_tx.send(child.wait());
        });

        let ended = tokio::select! {
            sig = signals.recv() => Some(End::Signal(sig)),
            Some(end) = ends.recv() => Some(end),
            // Our client exited: see below whether the share ends.
            _ = &mut exited_rx => None,
        };
        if let Some(end) = ended {
            // Detach the way `prefix d` does, so tmux puts the host's terminal back.
            let (t, path) = (tmux.clone(), tty.to_path_buf());
            let _ = tokio::task::spawn_blocking(move || t.detach_client(&path)).await;
            if tokio::time::timeout(DETACH_TIMEOUT, &mut exited_rx)
                .await
                .is_err()
            {
                let _ = killer.kill();
            }
            return Ok(end);
        }

        let (t, n) = (tmux.clone(), name.to_owned());
        let alive = tokio::task::spawn_blocking(move || t.has_session(&n))
            .await
            .unwrap_or(false);
        if !alive {
            return Ok(End::SessionGone);
        }
        let host_typed_last =
            *last_typist.lock().unwrap_or_else(|e| e.into_inner()) == Some(Source::Host);
        if attached && host_typed_last {
            return Ok(End::HostDetached);
        }
        // A guest detached our client (prefix + d, or `tmux detach` in the shared shell), or
        // something outside did: only the host ends the share, so attach again.
        quick_exits = if started.elapsed() < QUICK_EXIT {
            quick_exits + 1
        } else {
            0
        };
        if quick_exits >= MAX_QUICK_EXITS {
            return Ok(End::ClientFailing);
        }
        let _ = notices.try_send("the tmux client was detached by a guest; attaching again (only the host can end the share)".to_owned());
        *last_typist.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// SIGINT, SIGTERM and SIGHUP, each of which ends the share.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// Binds a listener, with a message that names the address on failure. An IPv6 wildcard
/// listens on IPv4 too (dual-stack), unless an IPv4 address is also given (`v6_only`), so that
/// `--listen [::]:2222 --listen 0.0.0.0:2222` does not collide with itself.
fn bind(addr: SocketAddr, v6_only: bool) -> Result<tokio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let fail = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {addr}: the address is already in use (another npair or sshd?); \
             choose another port (--listen or --web ADDR:PORT; port 0 picks any free one)"
        ),
        _ => anyhow::anyhow!("cannot listen on {addr}: {e}"),
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(v6_only).map_err(fail)?;
    }
    // A restarted share can take its port back at once, as servers usually do (TIME_WAIT).
    socket.set_reuse_address(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    Ok(tokio::net::TcpListener::from_std(socket.into())?)
}

/// Pending connections the kernel holds for us: a burst of guests joining at once.
const LISTEN_BACKLOG: i32 = 1024;

/// The address to print: one a guest on the LAN or VPN can reach. For a wildcard listen
/// address, the first non-loopback interface address (IPv4 first); otherwise the address itself.
fn banner_host(listen: IpAddr) -> String {
    if !listen.is_unspecified() {
        return listen.to_string();
    }
    let mut addrs: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && !is_link_local(ip))
        .filter(|ip| listen.is_ipv6() || ip.is_ipv4())
        .collect();
    addrs.sort_by_key(|ip| ip.is_ipv6());
    match addrs.first() {
        Some(ip) => ip.to_string(),
        None if listen.is_ipv6() => Ipv6Addr::LOCALHOST.to_string(),
        None => Ipv4Addr::LOCALHOST.to_string(),
    }
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn print_banner(
    cfg: &Config,
    name: &str,
    lan: &Logins,
    through: Option<&Logins>,
    bound: &[SocketAddr],
    tokens: &Current,
    fingerprint: &str,
) -> Result<()> {
    let main = through.unwrap_or(lan);
    let mut out = std::io::stdout().lock();
    if cfg.json {
        let mut line = serde_json::json!({
            "session": name,
            "ssh_host": main.host,
            "ssh_port": main.port,
            "rw_token": tokens.rw,
            "ro_token": tokens.ro,
            "rw_command": main.rw,
            "ro_command": main.ro,
            "web_url": main.web_url,
            "listen": bound.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "host_key": fingerprint,
        });
        if let (Some(t), Some(jump)) = (through, &cfg.via) {
            line["via"] = serde_json::json!({
                "jump": jump.to_string(),
                "direct": t.web_tunnel.is_none() && !t.ro.contains(" -J "),
                "web_tunnel": t.web_tunnel,
                "lan_rw_command": lan.rw,
                "lan_ro_command": lan.ro,
                "lan_web_url": lan.web_url,
            });
        }
        writeln!(out, "{line}")?;
    } else {
        writeln!(out, "npair: sharing tmux session \"{name}\"")?;
        match &main.rw {
            Some(rw) => writeln!(out, "  read-write  {rw}")?,
            None => writeln!(out, "  read-write  none (--read-only)")?,
        }
        writeln!(out, "  read-only   {}", main.ro)?;
        if let Some(url) = &main.web_url {
            writeln!(out, "  web (read-only)  {url}")?;
        }
        if let Some(t) = &main.web_tunnel {
            writeln!(out, "  web (read-only)  {t}")?;
        }
        writeln!(
            out,
            "  host key    {fingerprint}   (guests can compare this with what ssh shows them)"
        )?;
        if let Some(how) = &main.how {
            writeln!(out, "  ({how})")?;
            writeln!(
                out,
                "  on this network:  {}",
                lan.rw.as_ref().unwrap_or(&lan.ro)
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Shows join and leave notices to the host: a tmux message on our client when attached,
/// a line on stderr when headless.
async fn show_notices(mut rx: mpsc::Receiver<String>, tmux_client: Option<(Tmux, PathBuf)>) {
    while let Some(msg) = rx.recv().await {
        match &tmux_client {
            Some((tmux, tty)) => {
                let (t, p) = (tmux.clone(), tty.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    t.display_message(&p, &format!("npair: {msg}"))
                })
                .await;
            }
            None => eprintln!("npair: {msg}"),
        }
    }
}

/// Applies the size policy's decisions: the model first, then the pty (whose SIGWINCH makes
/// tmux redraw), so that the redraw is parsed at the new size.
async fn apply_sizes(sizes: Arc<SizePolicy>, hub: Arc<Hub>, pty: Arc<Pty>) {
    let mut rx = sizes.watch();
    while rx.changed().await.is_ok() {
        let size = *rx.borrow_and_update();
        hub.resize(size);
        let _ = pty.resize(size);
    }
}

/// The host's terminal size is the base of the size policy; SIGWINCH updates it.
async fn follow_host_size(sizes: Arc<SizePolicy>) {
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return;
    };
    while winch.recv().await.is_some() {
        if let Some(size) = host::size() {
            sizes.set_base(size);
        }
    }
}

/// Ends the share when `--expires` runs out, warning everyone first: in tmux's status line,
/// which the host and every guest see, and on stderr.
async fn expire(
    life: Duration,
    end: mpsc::Sender<End>,
    notices: mpsc::Sender<String>,
    (tmux, tty): (Tmux, PathBuf),
) {
    let warn_before = EXPIRY_WARNING.min(life / 2);
    tokio::time::sleep(life - warn_before).await;
    let msg = format!(
        "npair: this share ends in {} (the host set a time limit)",
        control::duration(warn_before.as_secs().max(1))
    );
    let _ = notices.try_send(msg.trim_start_matches("npair: ").to_owned());
    let shown = EXPIRY_WARNING_SHOWN.min(warn_before);
    let _ = tokio::task::spawn_blocking(move || tmux.display_message_for(&tty, &msg, shown)).await;
    tokio::time::sleep(warn_before).await;
    let _ = end.send(End::Expired).await;
}

/// Keeps the guest count in the host's status line.
async fn show_count(mut count: tokio::sync::watch::Receiver<usize>, tmux: Tmux, name: String) {
    loop {
        let n = *count.borrow_and_update();
        let (t, s) = (tmux.clone(), name.clone());
        let _ = tokio::task::spawn_blocking(move || t.set_guest_count(&s, n)).await;
        if count.changed().await.is_err() {
            return;
        }
    }
}

/// Asks the attached host, in a tmux prompt on our client, about each guest that waits.
async fn prompt_host(
    mut waiting: mpsc::Receiver<(u64, String)>,
    tmux: Tmux,
    tty: PathBuf,
    name: String,
) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    while let Some((id, about)) = waiting.recv().await {
        let (t, p, e, n) = (tmux.clone(), tty.clone(), exe.clone(), name.clone());
        let _ = tokio::task::spawn_blocking(move || t.ask_approval(&p, &e, &n, id, &about)).await;
    }
}
