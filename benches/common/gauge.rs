//! What the benches measure with: a process and its descendants, their memory and CPU, a
//! typist's keystroke echo, and percentiles.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::util::{Term, DEADLINE};

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

/// (RSS, PSS) in KiB, summed over `pids`.
pub fn memory(pids: &[u32]) -> (u64, u64) {
    let mut rss = 0;
    let mut pss = 0;
    for p in pids {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")) {
            for l in s.lines() {
                let v = || {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                if l.starts_with("Rss:") {
                    rss += v();
                } else if l.starts_with("Pss:") {
                    pss += v();
                }
            }
        }
    }
    (rss, pss)
}

/// CPU seconds (user + system) used so far by `pids`, with their children that have ended
/// (sshd's per-connection processes).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    // SAFETY: sysconf only reads its argument.
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
            // After ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
            // utime stime cutime cstime.
            Some((f.get(10)? + f.get(11)? + f.get(12)? + f.get(13)?) as f64)
        })
        .sum::<f64>()
        / hz
}

/// Keystroke echo latencies: `term` types single characters with idle gaps; the time until the
/// echo reaches it, as its reader thread stamped the chunk.
pub fn echo(term: &mut Term, samples: usize) -> Vec<Duration> {
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
        out.push(at.duration_since(t0));
        std::thread::sleep(Duration::from_millis(15 + (i as u64 * 7) % 20));
    }
    out
}

/// The `p` quantile (0 to 1) of `v`; NaN for none.
pub fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}
