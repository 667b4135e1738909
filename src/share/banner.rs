//! The banner: what `npair share` prints once the share is ready.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Result;

use super::Config;
use crate::logins::Reach;
use crate::tokens::Current;

/// Prints the logins (or, with `--json`, one JSON line of them) and returns the one to show
/// the attached host in its first notice.
pub(super) fn print(
    cfg: &Config,
    name: &str,
    reach: &Reach,
    tokens: &Current,
    bound: &[SocketAddr],
    fingerprint: &str,
) -> Result<String> {
    let (lan, through) = reach.logins();
    let (lan, through) = (&lan, through.as_ref());
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
            "own_command": main.rw.as_deref().map(own_command),
            "ro_command": main.ro,
            "web_url": main.web_url,
            "web_off": cfg.web_off,
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
        if let Some(rw) = &main.rw {
            writeln!(
                out,
                "  own view    {}   ({})",
                own_command(rw),
                crate::own::KEYS_HINT
            )?;
        }
        writeln!(out, "  read-only   {}", main.ro)?;
        if let Some(url) = &main.web_url {
            writeln!(out, "  web (read-only)  {url}{}", unencrypted(reach))?;
        }
        if let Some(t) = &main.web_tunnel {
            writeln!(out, "  web (read-only)  {t}")?;
        }
        if let Some(why) = &cfg.web_off {
            writeln!(out, "  web (read-only)  {why}")?;
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
    Ok(main.rw.clone().unwrap_or(main.ro.clone()))
}

/// After a plain-HTTP URL: that the page and its token cross the network in the clear, and
/// how to change that.
fn unencrypted(reach: &Reach) -> &'static str {
    if reach.https() {
        ""
    } else {
        "   (unencrypted: --tls-cert/--tls-key for HTTPS)"
    }
}

/// The read-write login that joins in an own view: a word after the login, and a terminal
/// asked for (ssh gives none to a command otherwise).
pub fn own_command(rw: &str) -> String {
    format!("{} own", rw.replacen("ssh ", "ssh -t ", 1))
}
