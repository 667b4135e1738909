//! Binding: the SSH listeners, the web viewer's listener and the forward through a jump box,
//! each refused with a message that names the address; and the address the banner shows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use super::Config;
use crate::logins::Reach;
use crate::tokens::Tokens;
use crate::via;
use crate::web::tls::Tls;

/// Raises the soft limit on open descriptors to the hard one, as servers do: every guest and
/// web viewer is a socket, and many systems start programs at a soft limit of 1024, far below
/// what the hard limit allows (a room of a thousand viewers would not fit).
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: two plain system calls on a struct of ours. A refusal (macOS caps the soft limit
    // below an infinite hard one) leaves the limit as it was.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// What the share listens on, and its forward through a jump box if any.
pub(super) struct Bound {
    /// The SSH server's listeners; the first is the one the banner shows.
    pub(super) listeners: Vec<TcpListener>,
    pub(super) web: Option<TcpListener>,
    pub(super) forward: Option<Forward>,
}

/// The forward through a jump box (`--via`), as established before the banner.
pub(super) struct Forward {
    pub(super) jump: via::Jump,
    pub(super) targets: via::Targets,
    pub(super) current: (via::Forwarder, via::Forwards),
    /// The forwarded ports of the moment, for the logins; the supervisor sends new ones.
    pub(super) ports: watch::Sender<via::Forwards>,
}

impl Bound {
    /// Binds every listener and establishes the forward.
    pub(super) async fn open(cfg: &Config, tasks: &TaskTracker) -> Result<Bound> {
        let v4_too = cfg.listen.iter().any(SocketAddr::is_ipv4);
        let listeners = cfg
            .listen
            .iter()
            .map(|&a| bind(a, v4_too))
            .collect::<Result<Vec<_>>>()?;
        let first = listeners.first().context("no --listen address")?;
        let web = cfg.web.map(|a| bind(a, false)).transpose()?;
        let forward = match &cfg.via {
            Some(jump) => {
                let targets = via::Targets {
                    ssh: first.local_addr()?,
                    web: web.as_ref().map(|l| l.local_addr()).transpose()?,
                };
                let current = via::establish(jump, targets, None, tasks).await?;
                Some(Forward {
                    jump: jump.clone(),
                    targets,
                    ports: watch::channel(current.1).0,
                    current,
                })
            }
            None => None,
        };
        Ok(Bound {
            listeners,
            web,
            forward,
        })
    }

    /// The addresses the SSH server listens on.
    pub(super) fn addresses(&self) -> Result<Vec<SocketAddr>> {
        Ok(self
            .listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<std::io::Result<Vec<_>>>()?)
    }

    /// Where guests reach this share, for whatever tokens are current.
    /// `tls`: the web viewer's certificate, whose name the URL uses.
    pub(super) fn reach(
        &self,
        cfg: &Config,
        tls: Option<&Tls>,
        tokens: Arc<Tokens>,
    ) -> Result<Reach> {
        let port = self.addresses()?[0].port();
        let web = match (&self.web, cfg.web) {
            (Some(l), Some(addr)) => {
                let host = banner_host(addr.ip());
                Some(crate::logins::Web {
                    host: tls.map_or_else(|| host.clone(), |t| t.url_host(&host)),
                    port: l.local_addr()?.port(),
                    https: tls.is_some(),
                })
            }
            _ => None,
        };
        let via = self
            .forward
            .as_ref()
            .map(|f| (f.jump.clone(), f.ports.subscribe()));
        Ok(Reach::new(
            banner_host(cfg.listen[0].ip()),
            port,
            web,
            via,
            tokens,
        ))
    }
}

/// Binds a listener, with a message that names the address on failure. An IPv6 wildcard
/// listens on IPv4 too (dual-stack), unless an IPv4 address is also given (`v6_only`), so that
/// `--listen [::]:2222 --listen 0.0.0.0:2222` does not collide with itself.
fn bind(addr: SocketAddr, v6_only: bool) -> Result<TcpListener> {
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
    Ok(TcpListener::from_std(socket.into())?)
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
