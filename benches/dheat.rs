//! Join time under a key-exchange flood (DHEat, CVE-2002-20001): `ssh-audit --dheat=10` (ten
//! concurrent connections, each asking for the costliest key exchange the server offers) runs
//! against the server from 127.0.0.1, while a guest joins from the same address and from
//! 127.0.0.2. npair next to a stock OpenSSH sshd (tests/util/jump.rs: its own config and keys,
//! default algorithms and MaxStartups, in a private network namespace) in the same run, with no
//! flood as the baseline. A join is timed from starting `ssh -tt` to the session's prompt on
//! the guest's screen (npair: the token; sshd: a key, then `tmux attach`).
//!
//! `cargo bench --bench dheat` (as root, with ssh-audit from PyPI and openssh-server installed;
//! it skips with a message otherwise, and downloads nothing).

// The tests' harness; this bench uses a part of it, so the rest is dead code here.
#[allow(dead_code)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portable_pty::CommandBuilder;
use util::jump::{JumpBox, NetNs, JUMP_HOST, JUMP_PORT};
use util::{Npair, Term, Tmux};

/// Joins per figure; the table shows the median and the slowest of those that got in.
const ROUNDS: usize = 5;
/// Concurrent flooding connections (`ssh-audit --dheat=N`): the flood that shut guests out.
const FLOOD: u32 = 10;
/// Time the flood gets to start its workers before guests join.
const FLOOD_RAMP: Duration = Duration::from_secs(4);
/// The flood is stopped by `timeout` after this long, whatever happens to the bench.
const FLOOD_LIMIT: Duration = Duration::from_secs(120);
/// A join slower than this is reported as stuck, not waited for.
const JOIN_CAP: Duration = Duration::from_secs(15);
/// The flood's source address (the kernel's choice for both servers), and the other one.
const SAME: &str = "127.0.0.1";
const OTHER: &str = "127.0.0.2";

/// Why the bench cannot run here, if it cannot.
fn missing() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (a private network namespace and sshd)".into());
    }
    let found = |cmd: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !found("ssh-audit") {
        return Some("ssh-audit is not installed (python3 -m pip install ssh-audit)".into());
    }
    if !found("sshd") && !std::path::Path::new("/usr/sbin/sshd").exists() {
        return Some("sshd is not installed (apt-get install openssh-server)".into());
    }
    for cmd in ["unshare", "nsenter", "ssh"] {
        if !found(cmd) {
            return Some(format!("{cmd} is not installed"));
        }
    }
    None
}

/// `ssh-audit --dheat` against `host:port`, in its own process group so that all its workers
/// can be stopped together, and bounded by `timeout` in any case.
struct Flood(Child);

impl Flood {
    fn start(ns: &NetNs, host: &str, port: u16) -> Flood {
        let mut cmd = ns.command("timeout");
        cmd.args([
            "-s",
            "INT",
            &FLOOD_LIMIT.as_secs().to_string(),
            "ssh-audit",
            &format!("--dheat={FLOOD}"),
            "-p",
            &port.to_string(),
            host,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
        let flood = Flood(cmd.spawn().expect("start ssh-audit"));
        std::thread::sleep(FLOOD_RAMP);
        flood
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        let group = self.0.id() as i32;
        unsafe { libc::kill(-group, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(500));
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// Seconds of CPU (user + system) process `pid` has used.
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) as f64 / ticks
}

/// How one join went.
#[derive(Clone, Copy)]
enum Joined {
    In(Duration),
    /// The client gave up (the server closed the connection: MaxStartups, a reset).
    Refused,
    /// Still not in after [`JOIN_CAP`].
    Stuck,
}

/// Whether process `pid` has exited (a zombie not yet reaped).
fn exited(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .is_none_or(|(_, r)| r.trim_start().starts_with('Z'))
}

/// One join: from starting `ssh` to "$" on its screen.
fn join(ns: &NetNs, args: &[String]) -> Joined {
    let mut cmd: CommandBuilder = ns.pty_command("ssh");
    cmd.args(args);
    let t0 = Instant::now();
    let guest = Term::spawn(cmd, 80, 24);
    while t0.elapsed() < JOIN_CAP {
        if guest.text().contains('$') {
            return Joined::In(t0.elapsed());
        }
        if exited(guest.pid()) {
            return Joined::Refused;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    Joined::Stuck
}

/// Some joins: the median and the slowest of those that got in (ms), and how many did not.
#[derive(Clone, Copy, Default)]
struct Summary {
    median: f64,
    slowest: f64,
    refused: usize,
    stuck: usize,
}

fn summary(v: &[Joined]) -> Summary {
    let mut ms: Vec<f64> = v
        .iter()
        .filter_map(|j| match j {
            Joined::In(d) => Some(d.as_secs_f64() * 1000.0),
            _ => None,
        })
        .collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Summary {
        median: ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN),
        slowest: ms.last().copied().unwrap_or(f64::NAN),
        refused: v.iter().filter(|j| matches!(j, Joined::Refused)).count(),
        stuck: v.iter().filter(|j| matches!(j, Joined::Stuck)).count(),
    }
}

/// "median / slowest", and the joins that failed.
fn fmt(s: Summary) -> String {
    let mut t = format!("{:.0} / {:.0}", s.median, s.slowest);
    if s.refused > 0 {
        t.push_str(&format!(", {} refused", s.refused));
    }
    if s.stuck > 0 {
        t.push_str(&format!(", {} over {}s", s.stuck, JOIN_CAP.as_secs()));
    }
    t
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(why) = missing() {
        println!("dheat bench skipped: {why}");
        return;
    }
    let ns = NetNs::new();
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let jb = JumpBox::start(&ns, tmux.path(), false, false);

    let np = Npair::spawn(ns.enter(Npair::command(
        &tmux,
        &[
            "fun",
            "--headless",
            "--json",
            "--listen",
            &format!("{SAME}:0"),
        ],
    )));

    let npair_args = |from: &str| {
        let mut a = util::ssh_options(np.port());
        a.extend(["-b".into(), from.into(), "-tt".into()]);
        a.push(format!("{}@{SAME}", np.rw()));
        a
    };
    let attach = format!(
        "TMUX_TMPDIR='{}' tmux attach-session -t fun",
        tmux.path().display()
    );
    let sshd_args = |from: &str| {
        let mut a: Vec<String> = ["-F".into(), jb.ssh_config().display().to_string()].into();
        a.extend(["-o", "BatchMode=yes", "-o", "ConnectTimeout=20"].map(String::from));
        a.extend(["-b".into(), from.into(), "-tt".into()]);
        a.extend([
            "-p".into(),
            JUMP_PORT.to_string(),
            format!("root@{JUMP_HOST}"),
        ]);
        a.push(attach.clone());
        a
    };

    type Args<'a> = &'a dyn Fn(&str) -> Vec<String>;
    let servers: [(&str, Args, &str, u16); 2] = [
        ("npair", &npair_args, SAME, np.port()),
        ("sshd", &sshd_args, JUMP_HOST, JUMP_PORT),
    ];
    // cells[row] = [npair, sshd].
    let labels = [
        format!("no flood, from {SAME}"),
        format!("--dheat={FLOOD} from {SAME}, guest from {SAME} (same)"),
        format!("--dheat={FLOOD} from {SAME}, guest from {OTHER} (other)"),
    ];
    let mut cells = vec![vec![Summary::default(); 2]; labels.len()];
    let mut npair_cpu = 0.0;
    let mut flood_kex = String::new();
    for (s, (name, args, host, port)) in servers.iter().enumerate() {
        let quiet: Vec<_> = (0..ROUNDS).map(|_| join(&ns, &args(SAME))).collect();
        cells[0][s] = summary(&quiet);
        let cpu0 = cpu_seconds(np.pid());
        let t0 = Instant::now();
        let flood = Flood::start(&ns, host, *port);
        let (mut same, mut other) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            same.push(join(&ns, &args(SAME)));
            other.push(join(&ns, &args(OTHER)));
        }
        drop(flood);
        if *name == "npair" {
            npair_cpu = (cpu_seconds(np.pid()) - cpu0) / t0.elapsed().as_secs_f64();
        }
        cells[1][s] = summary(&same);
        cells[2][s] = summary(&other);
        // What the flood asks each server for (ssh-audit picks the costliest key exchange).
        let out = ns
            .command("ssh-audit")
            .args(["-j", "--skip-rate-test", "-p", &port.to_string(), host])
            .output()
            .expect("ssh-audit");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let offered: Vec<&str> = report["kex"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k["algorithm"].as_str())
            .filter(|k| k.starts_with("diffie-hellman"))
            .collect();
        flood_kex.push_str(&format!(
            "  {name}: finite-field DH offered: {}\n",
            if offered.is_empty() {
                "none (the flood gets curve25519)".to_owned()
            } else {
                offered.join(", ")
            }
        ));
    }

    let version = Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| util::stderr(&o).trim().to_owned())
        .unwrap_or_default();
    println!(
        "join time under a key-exchange flood (ssh-audit --dheat={FLOOD}), ms from starting ssh to \
         the prompt on screen; median / slowest of {ROUNDS}; sshd is stock ({version}), loopback"
    );
    println!(
        "{:<58} {:>28} {:>28} {:>11}",
        "", "npair med / max", "sshd med / max", "npair/sshd"
    );
    for (label, row) in labels.iter().zip(&cells) {
        println!(
            "{label:<58} {:>28} {:>28} {:>10.2}x",
            fmt(row[0]),
            fmt(row[1]),
            row[0].median / row[1].median
        );
    }
    println!(
        "npair's CPU while flooded: {:.0}% of one core (the machine has {})",
        npair_cpu * 100.0,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    print!("{flood_kex}");
}
