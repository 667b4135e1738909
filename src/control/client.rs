//! The subcommands' side of the control socket (`npair status`, `kick`, `rotate`, ...): finds the
//! share, sends one request, and prints the answer for a person (or as it came, with `--json`).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::socket::find;
use super::{
    Acted, Kicked, Outcome, PolicySet, Request, Rotated, Status, MAX_RESPONSE, REQUEST_TIMEOUT,
};
use crate::logins::LoginsInfo;
use crate::registry::{GuestRef, Who};
use crate::size::{Policy, Sizing};

/// Sends one request to the socket at `path` and returns the answer's line as it came, once
/// it says the request succeeded.
pub fn request(path: &Path, req: &Request) -> Result<String> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("cannot reach the share at '{}'", path.display()))?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    (&stream).write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(std::io::Read::take(&stream, MAX_RESPONSE))
        .read_line(&mut reply)
        .context("the share did not answer")?;
    let outcome: Outcome = serde_json::from_str(reply.trim())
        .with_context(|| format!("the share answered something unexpected: {reply:?}"))?;
    if !outcome.ok {
        bail!(
            "{}",
            outcome
                .error
                .as_deref()
                .unwrap_or("the share refused the command")
        );
    }
    Ok(reply.trim().to_owned())
}

/// The answer's fields, as the request's kind of answer.
fn parse<T: serde::de::DeserializeOwned>(line: &str) -> Result<T> {
    serde_json::from_str(line)
        .with_context(|| format!("the share answered something unexpected: {line:?}"))
}

/// Runs a command against a running share and prints what the user should see.
pub fn run_client(session: Option<&str>, req: Request, json_out: bool) -> Result<()> {
    let (name, path) = find(session)?;
    let line = request(&path, &req)?;
    let mut out = std::io::stdout().lock();
    if json_out {
        writeln!(out, "{line}")?;
        return Ok(());
    }
    match req {
        Request::Status => write!(out, "{}", format_status(&parse::<Status>(&line)?))?,
        Request::Kick { .. } => {
            let Kicked { kicked, guests } = parse(&line)?;
            if kicked.is_empty() {
                writeln!(out, "npair: no guest to disconnect")?;
            } else if guests.iter().all(|g| g.name.is_none()) {
                writeln!(out, "npair: disconnected guest {}", id_list(&kicked))?;
            } else {
                let list: Vec<String> = guests.iter().map(GuestRef::to_string).collect();
                writeln!(out, "npair: disconnected {}", list.join(", "))?;
            }
        }
        Request::Rotate { kick, .. } => {
            let Rotated { logins, kicked } = parse(&line)?;
            writeln!(out, "npair: new tokens for tmux session \"{name}\"")?;
            write!(out, "{}", format_logins(&logins))?;
            if kick && !kicked.is_empty() {
                writeln!(
                    out,
                    "  disconnected guests who joined with an old token: {}",
                    id_list(&kicked)
                )?;
            } else if !kick {
                writeln!(out, "  (guests who joined with an old token stay; `npair rotate --kick` disconnects them)")?;
            }
        }
        Request::Promote { ref id }
        | Request::Demote { ref id }
        | Request::Approve { ref id }
        | Request::Deny { ref id } => {
            let guest = match (parse::<Acted>(&line)?.guest, id) {
                (Some(guest), _) => guest.to_string(),
                (None, Who::Id(id)) => format!("guest {id}"),
                (None, Who::Name(name)) => name.clone(),
            };
            let done = match req {
                Request::Promote { .. } => "is now read-write",
                Request::Demote { .. } => "is now read-only",
                Request::Approve { .. } => "let in",
                _ => "turned away",
            };
            writeln!(out, "npair: {guest} {done}")?;
        }
        Request::SizePolicy { .. } => {
            let PolicySet { was, now } = parse(&line)?;
            writeln!(out, "npair: {}", policy_switch(&was, &now))?;
        }
        Request::Stop => writeln!(out, "npair: the share of tmux session \"{name}\" is ending")?,
    }
    Ok(())
}

fn id_list(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1h02m`, `5m12s`, `42s`.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / f64::from(1 << 10)),
        n => format!("{n} B"),
    }
}

/// What `npair size-policy` changed: `size policy: host (was smallest); the session is now
/// 120x35 (was 70x20)`.
fn policy_switch(was: &Sizing, now: &Sizing) -> String {
    let policy = if was.size_policy == now.size_policy {
        format!("size policy: {} (unchanged)", now.size_policy)
    } else {
        format!("size policy: {} (was {})", now.size_policy, was.size_policy)
    };
    let size = if was.size == now.size {
        format!("the session stays {}", now.size)
    } else {
        format!("the session is now {} (was {})", now.size, was.size)
    };
    format!("{policy}; {size}")
}

/// The session's size and what decides it: `70x20 (smallest of the host and 1 read-write
/// guest; size policy: smallest)`.
fn format_sizing(z: &Sizing) -> String {
    let host = if z.headless { "--size" } else { "the host" };
    let why = match z.size_policy {
        Policy::Smallest => match z.size_votes {
            0 => format!("smallest of {host} and no read-write guest"),
            1 => format!("smallest of {host} and 1 read-write guest"),
            n => format!("smallest of {host} and {n} read-write guests"),
        },
        Policy::Host if z.headless => "the host's --size".to_owned(),
        Policy::Host => "the host's terminal".to_owned(),
        Policy::Fixed(s) if s == z.size => "fixed".to_owned(),
        Policy::Fixed(s) => format!("fixed at {s}, cut to fit the host's terminal"),
    };
    format!("{} ({why}; size policy: {})", z.size, z.size_policy)
}

fn format_logins(l: &LoginsInfo) -> String {
    let mut s = String::new();
    match &l.rw_command {
        Some(rw) => {
            let _ = writeln!(s, "  read-write  {rw}");
            let own = crate::share::own_command(rw);
            let _ = writeln!(s, "  own view    {own}   ({})", crate::own::KEYS_HINT);
        }
        None => {
            let _ = writeln!(s, "  read-write  none (--read-only)");
        }
    }
    let _ = writeln!(s, "  read-only   {}", l.ro_command);
    if let Some(url) = &l.web_url {
        let _ = writeln!(s, "  web (read-only)  {url}");
    }
    s
}

fn format_status(v: &Status) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "npair: sharing tmux session \"{}\" for {} (pid {})",
        v.session,
        duration(v.uptime_secs),
        v.pid
    );
    s.push_str(&format_logins(&v.logins));
    let _ = writeln!(s, "  host key    {}", v.host_key);
    let _ = writeln!(s, "  size        {}", format_sizing(&v.sizing));
    let o = &v.options;
    let mut rules = vec![];
    if o.approve {
        rules.push("the host approves each guest".to_owned());
    }
    if let Some(n) = o.max_guests {
        rules.push(format!("at most {n} guests"));
    }
    if let Some(n) = o.authorized_keys {
        rules.push(format!("guests need one of {n} listed keys"));
    }
    if let Some(secs) = v.expires_in_secs {
        rules.push(format!("ends in {}", duration(secs)));
    }
    if let Some(f) = &o.record {
        rules.push(format!("recording to {f}"));
    }
    if !rules.is_empty() {
        let _ = writeln!(s, "  rules       {}", rules.join("; "));
    }
    if !v.failed_logins.is_empty() {
        let list: Vec<String> = v
            .failed_logins
            .iter()
            .map(|f| {
                let locked = if f.locked_out { ", locked out" } else { "" };
                format!("{} ({}{locked})", f.address, f.count)
            })
            .collect();
        let _ = writeln!(s, "  wrong tokens  {}", list.join(", "));
    }
    if v.guests.is_empty() {
        let _ = writeln!(s, "  no guests");
        return s;
    }
    let n = v.guests.len();
    let _ = writeln!(s, "  {n} guest{}:", if n == 1 { "" } else { "s" });
    let mut rows = vec![[
        "ID",
        "ROLE",
        "NAME",
        "ADDRESS",
        "CLIENT",
        "SIZE",
        "CONNECTED",
        "LAST TYPED",
        "SENT",
    ]
    .map(str::to_owned)];
    for g in &v.guests {
        let connected = if g.admitted {
            duration(g.connected_secs)
        } else {
            "waiting".to_owned()
        };
        let size = match (g.session, &g.size) {
            (false, _) => "no terminal yet".to_owned(),
            (true, Some(size)) => size.clone(),
            (true, None) => "-".to_owned(),
        };
        let typed = match g.last_typed_secs {
            Some(secs) => format!("{} ago", duration(secs)),
            None => "-".to_owned(),
        };
        rows.push([
            g.id.to_string(),
            g.role.to_string(),
            g.name.clone(),
            g.address.clone(),
            g.client.clone(),
            size,
            connected,
            typed,
            bytes(g.bytes_sent),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "  {}", line.join("  ").trim_end());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_line_says_what_decides_the_size() {
        use crate::size::Size;
        let z = |size_policy, size: (u16, u16), size_votes, headless| Sizing {
            size_policy,
            size: Size::new(size.0, size.1),
            size_votes,
            host_size: Size::new(120, 35),
            headless,
        };
        let fixed = Policy::Fixed(Size::new(100, 30));
        for (sizing, want) in [
            (
                z(Policy::Smallest, (70, 20), 1, false),
                "70x20 (smallest of the host and 1 read-write guest; size policy: smallest)",
            ),
            (
                z(Policy::Smallest, (120, 35), 0, true),
                "120x35 (smallest of --size and no read-write guest; size policy: smallest)",
            ),
            (
                z(Policy::Host, (120, 35), 2, false),
                "120x35 (the host's terminal; size policy: host)",
            ),
            (
                z(fixed, (100, 30), 0, true),
                "100x30 (fixed; size policy: 100x30)",
            ),
            (
                z(fixed, (90, 30), 0, false),
                "90x30 (fixed at 100x30, cut to fit the host's terminal; size policy: 100x30)",
            ),
        ] {
            assert_eq!(format_sizing(&sizing), want);
        }
        let (was, now) = (
            z(Policy::Smallest, (70, 20), 1, false),
            z(Policy::Host, (120, 35), 1, false),
        );
        assert_eq!(
            policy_switch(&was, &now),
            "size policy: host (was smallest); the session is now 120x35 (was 70x20)"
        );
        assert_eq!(
            policy_switch(&now, &now),
            "size policy: host (unchanged); the session stays 120x35"
        );
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(312), "5m12s");
        assert_eq!(duration(3720), "1h02m");
    }
}
