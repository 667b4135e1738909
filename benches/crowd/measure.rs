//! The crowd bench's measuring tools: russh guests from chosen loopback addresses (by token, or
//! by key for a private sshd), the typist's echo, and the processes' memory and CPU.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use russh::ChannelMsg;

use crate::util::client::{AnyHostKey, Guest, Seen};
use crate::util::{Term, DEADLINE};

/// How a crowd guest logs in: npair's token, or a key on sshd.
#[derive(Clone)]
pub enum Login {
    Token(String),
    Key(Arc<PrivateKey>),
}

/// The loopback address of guest `i`: 127.0.0.2 onwards, `per_addr` guests each.
pub fn address(i: usize, per_addr: usize) -> IpAddr {
    let n = 2 + i / per_addr.max(1);
    IpAddr::from([127, 0, (n >> 8) as u8, (n & 255) as u8])
}

/// A read-only crowd guest from `from`: connects, logs in, asks for a terminal and a shell, and
/// reads into a screen model.
pub async fn join(
    port: u16,
    login: Login,
    from: IpAddr,
    cols: u16,
    rows: u16,
) -> Result<Guest, String> {
    let go = async {
        let sock = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        sock.bind(SocketAddr::new(from, 0))
            .map_err(|e| e.to_string())?;
        let tcp = sock
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let std_tcp = tcp.into_std().map_err(|e| e.to_string())?;
        let socket = std_tcp.try_clone().map_err(|e| e.to_string())?;
        let tcp = tokio::net::TcpStream::from_std(std_tcp).map_err(|e| e.to_string())?;
        let mut h = client::connect_stream(Arc::new(client::Config::default()), tcp, AnyHostKey)
            .await
            .map_err(|e| e.to_string())?;
        let ok = match login {
            Login::Token(t) => h.authenticate_none(t).await,
            Login::Key(k) => {
                h.authenticate_publickey("root", PrivateKeyWithHashAlg::new(k, None))
                    .await
            }
        }
        .map_err(|e| e.to_string())?
        .success();
        if !ok {
            return Err("refused".to_owned());
        }
        let ch = h.channel_open_session().await.map_err(|e| e.to_string())?;
        ch.request_pty(false, "xterm-256color", cols.into(), rows.into(), 0, 0, &[])
            .await
            .map_err(|e| e.to_string())?;
        ch.request_shell(false).await.map_err(|e| e.to_string())?;
        let (mut read, input) = ch.split();
        let nz = |v: u16| NonZeroU16::new(v).unwrap();
        let seen = Arc::new(Seen {
            screen: Mutex::new(vt100::Parser::new(nz(rows), nz(cols), 0)),
            bytes: AtomicUsize::new(0),
        });
        let s = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(msg) = read.wait().await {
                if let ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } = msg {
                    s.screen.lock().unwrap().process(&data);
                    s.bytes.fetch_add(data.len(), Ordering::Relaxed);
                }
            }
        });
        Ok(Guest {
            handle: h,
            input,
            seen,
            socket,
        })
    };
    tokio::time::timeout(DEADLINE * 3, go)
        .await
        .map_err(|_| "timed out".to_owned())?
}

/// Joins `n` guests, at most `in_flight` at once (`None`: all at once, a burst); returns the
/// ones that got in and the errors of the others.
pub fn join_all(
    rt: &tokio::runtime::Runtime,
    port: u16,
    login: &Login,
    n: usize,
    per_addr: usize,
    in_flight: Option<usize>,
) -> (Vec<Guest>, Vec<String>) {
    let gate = Arc::new(tokio::sync::Semaphore::new(in_flight.unwrap_or(n).max(1)));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (gate, login) = (Arc::clone(&gate), login.clone());
            rt.spawn(async move {
                let _turn = gate.acquire_owned().await;
                join(port, login, address(i, per_addr), 80, 24).await
            })
        })
        .collect();
    let mut ok = Vec::new();
    let mut err = Vec::new();
    for t in tasks {
        match rt.block_on(t) {
            Ok(Ok(g)) => ok.push(g),
            Ok(Err(e)) => err.push(e),
            Err(e) => err.push(e.to_string()),
        }
    }
    (ok, err)
}

/// Waits (bounded) until every guest's screen and every Term's shows `needle`; the time since
/// `since`, or the number still without it at the deadline.
pub fn until_all_show(
    guests: &[Guest],
    terms: &[Term],
    needle: &str,
    since: Instant,
    limit: Duration,
) -> Result<Duration, usize> {
    loop {
        let behind = guests
            .iter()
            .filter(|g| !g.seen.text().contains(needle))
            .count()
            + terms.iter().filter(|t| !t.text().contains(needle)).count();
        if behind == 0 {
            return Ok(since.elapsed());
        }
        if since.elapsed() > limit {
            return Err(behind);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Keystroke echo latencies (ms): `term` types single characters with idle gaps; the time until
/// the echo reaches it, as its reader thread stamped the chunk (as in benches/share.rs).
pub fn echo_ms(term: &mut Term, samples: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..samples {
        if i % 50 == 0 {
            term.type_str("\x15"); // C-u: a fresh line now and then
            std::thread::sleep(Duration::from_millis(100));
        }
        let before = term.raw.lock().unwrap().len();
        let t0 = Instant::now();
        term.type_str("x");
        let deadline = Instant::now() + DEADLINE;
        let at = loop {
            let hit = {
                let stamps = term.stamps.lock().unwrap();
                let raw = term.raw.lock().unwrap();
                let mut from = before;
                let mut found = None;
                for &(at, len) in stamps.iter().filter(|(_, len)| *len > before) {
                    if raw[from..len].contains(&b'x') {
                        found = Some(at);
                        break;
                    }
                    from = len;
                }
                found
            };
            if let Some(at) = hit {
                break at;
            }
            assert!(Instant::now() < deadline, "an echo never arrived");
            std::thread::sleep(Duration::from_micros(50));
        };
        out.push(at.duration_since(t0).as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(15 + (i as u64 * 7) % 20));
    }
    out
}

pub fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// `pid` and all its descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, u32> = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            if let Some(ppid) = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
            {
                parent.insert(p, ppid);
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent.iter().filter(|(_, &pp)| pp == p).map(|(&c, _)| c));
        i += 1;
    }
    out
}

/// RSS in KiB, summed over `pids`.
pub fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.starts_with("Rss:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// CPU seconds (user + system) used so far by `pids`, with their children that have ended
/// (sshd's per-connection processes).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| {
            let f: Vec<u64> = s
                .rsplit(')')
                .next()?
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            Some((f.get(10)? + f.get(11)? + f.get(12)? + f.get(13)?) as f64)
        })
        .sum::<f64>()
        / hz
}

/// Memory available on the machine, in MiB.
pub fn available_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}
