//! The logins: the commands and URL guests use to reach this share, for the tokens of the
//! moment and the forward through a jump box as it stands now. [`Reach`] owns them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::tokens::{Current, Tokens};
use crate::via;

fn ssh_command(host: &str, port: u16, token: &str) -> String {
    format!("ssh -p {port} {token}@{host}")
}

/// The viewer's URL; an IPv6 host goes in brackets.
fn web_url(web: &Web, host: &str, port: u16, ro_token: &str) -> String {
    let scheme = web.scheme();
    if host.contains(':') {
        format!("{scheme}://[{host}]:{port}/{ro_token}")
    } else {
        format!("{scheme}://{host}:{port}/{ro_token}")
    }
}

/// The web viewer, as the logins show it.
#[derive(Clone, Debug)]
pub struct Web {
    pub host: String,
    pub port: u16,
    /// Served over HTTPS only (`--tls-cert`).
    pub https: bool,
}

impl Web {
    fn scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }
}

/// Where guests reach this share: the one owner of the logins. The banner, `npair status` and
/// `npair rotate` all ask it, for the tokens of the moment; `--via`'s supervisor moves it when
/// the forward comes back on new ports.
pub struct Reach {
    host: String,
    port: u16,
    /// The web viewer.
    web: Option<Web>,
    /// The jump box, and the ports forwarded there now (sent by `via::supervise`).
    via: Option<(via::Jump, watch::Receiver<via::Forwards>)>,
    tokens: Arc<Tokens>,
}

impl Reach {
    /// `host:port` for SSH guests on the LAN, the viewer's `web` address and scheme, and the
    /// forward through a jump box with the ports it holds now.
    pub fn new(
        host: String,
        port: u16,
        web: Option<Web>,
        via: Option<(via::Jump, watch::Receiver<via::Forwards>)>,
        tokens: Arc<Tokens>,
    ) -> Reach {
        Reach {
            host,
            port,
            web,
            via,
            tokens,
        }
    }

    /// The logins for the current tokens: on the LAN, and through the jump box if there is one.
    pub fn logins(&self) -> (Logins, Option<Logins>) {
        let tokens = self.tokens.current();
        let lan = Logins::lan(&self.host, self.port, &tokens, self.web.clone());
        let through = self
            .via
            .as_ref()
            .map(|(jump, ports)| Logins::via(jump, *ports.borrow(), &tokens, self.https()));
        (lan, through)
    }

    /// Whether the web viewer is served over HTTPS.
    pub fn https(&self) -> bool {
        self.web.as_ref().is_some_and(|w| w.https)
    }

    /// The logins as `npair status` and `npair rotate` show them.
    pub fn info(&self) -> LoginsInfo {
        let (lan, through) = self.logins();
        let main = through.as_ref().unwrap_or(&lan);
        LoginsInfo {
            rw_command: main.rw.clone(),
            ro_command: main.ro.clone(),
            web_url: main.web_url.clone(),
            web_tunnel: main.web_tunnel.clone(),
            lan_rw_command: through.as_ref().and(lan.rw.clone()),
        }
    }
}

/// The logins as the control socket reports them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginsInfo {
    /// `None` for a read-only share.
    pub rw_command: Option<String>,
    pub ro_command: String,
    pub web_url: Option<String>,
    /// For `-J` logins: how a browser reaches the viewer.
    pub web_tunnel: Option<String>,
    /// Through a jump box: the read-write login on the host's own network.
    pub lan_rw_command: Option<String>,
}

/// The commands and URL a guest uses, and why they take that form.
pub struct Logins {
    pub host: String,
    pub port: u16,
    /// `None` for a read-only share.
    pub rw: Option<String>,
    pub ro: String,
    pub web_url: Option<String>,
    /// How guests reach npair through a jump box, and why.
    pub how: Option<String>,
    /// For `-J` logins: how a browser reaches the viewer.
    pub web_tunnel: Option<String>,
}

impl Logins {
    /// Guests on the LAN or VPN, straight to npair. `web`: the viewer.
    fn lan(host: &str, port: u16, tokens: &Current, web: Option<Web>) -> Logins {
        Logins {
            host: host.to_owned(),
            port,
            rw: tokens.rw.as_deref().map(|t| ssh_command(host, port, t)),
            ro: ssh_command(host, port, &tokens.ro),
            web_url: web.map(|w| web_url(&w, &w.host, w.port, &tokens.ro)),
            how: None,
            web_tunnel: None,
        }
    }

    /// Guests anywhere the jump box is reachable.
    /// `https`: the viewer is served over HTTPS, for a certificate with the jump box's name.
    fn via(jump: &via::Jump, ports: via::Forwards, tokens: &Current, https: bool) -> Logins {
        let web = |port| Web {
            host: jump.host.clone(),
            port,
            https,
        };
        if ports.reachable {
            let mut l = Logins::lan(&jump.host, ports.ssh, tokens, ports.web.map(web));
            l.how = Some(format!(
                "through {jump}: its sshd lets forwarded ports be reached from outside (GatewayPorts), so guests connect to it directly"
            ));
            return l;
        }
        let j = |token: &str| format!("ssh -J {jump} -p {} {token}@localhost", ports.ssh);
        Logins {
            host: "localhost".to_owned(),
            port: ports.ssh,
            rw: tokens.rw.as_deref().map(j),
            ro: j(&tokens.ro),
            web_url: None,
            how: Some(format!(
                "through {jump}: its sshd keeps forwarded ports on its own loopback (GatewayPorts is off), \
                 so guests go through it with ssh -J and need an account there"
            )),
            web_tunnel: ports.web.map(|w| {
                let p = jump.port.map(|p| format!(" -p {p}")).unwrap_or_default();
                let scheme = web(w).scheme();
                format!(
                    "ssh -N -L 8022:localhost:{w}{p} {}, then open {scheme}://localhost:8022/{}",
                    jump.destination,
                    tokens.ro
                )
            }),
        }
    }
}
