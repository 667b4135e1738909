//! The crowd bench's measuring tools: russh guests from chosen loopback addresses (by token, or
//! by key for a private sshd), and the typist's echo and the processes' RSS in its units (the
//! measuring itself is `gauge`'s).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use russh::ChannelMsg;

use crate::gauge;
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

/// Keystroke echo latencies (ms) (see [`gauge::echo`]).
pub fn echo_ms(term: &mut Term, samples: usize) -> Vec<f64> {
    gauge::echo(term, samples)
        .into_iter()
        .map(|d| d.as_secs_f64() * 1e3)
        .collect()
}

/// RSS in KiB, summed over `pids`.
pub fn rss_kib(pids: &[u32]) -> u64 {
    gauge::memory(pids).0
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
