//! npair against the usual way of sharing a session, side by side in one run, all on 127.0.0.1:
//!
//! - `npair`: the release binary, headless, guests are `ssh -tt TOKEN@127.0.0.1`;
//! - `openssh`: a private sshd (its own config, host key and port, key authentication only,
//!   authorized_keys `command="tmux attach-session [-r] -t funproject"`), guests are `ssh -tt`
//!   with a key; it runs in a private mount namespace for /run/sshd, never the machine's sshd;
//! - `direct`: local `tmux attach-session [-r]` clients in ptys, no SSH (the floor).
//!
//! One private tmux server for all: a 120x40 session running `sh` with the prompt "$ ".
//! Guests have 120x40 terminals. Each measurement starts its system fresh; systems are
//! interleaved (npair, openssh, direct, then again), and each figure is the median of the
//! repeats. Ratios are to openssh.
//!
//! `cargo bench --bench share` (as root, with openssh-server installed; sshd is not started as a
//! service). `NPAIR_BENCH_QUICK=1` runs one repeat with fewer guests, to try the harness.

#[path = "common/gauge.rs"]
mod gauge;
#[path = "common/sshd.rs"]
mod private_sshd;
// The tests' harness; this bench uses a part of it, so the rest is dead code here.
#[allow(dead_code)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gauge::{cpu_seconds, memory, pct, tree};
use portable_pty::CommandBuilder;
use util::{Npair, Term, Tmux};

const SESSION: &str = "funproject";
const COLS: u16 = 120;
const ROWS: u16 = 40;

fn quick() -> bool {
    std::env::var_os("NPAIR_BENCH_QUICK").is_some()
}

/// `NPAIR_BENCH_ONLY=latency`: join and echo figures only (for working on latency).
fn latency_only() -> bool {
    std::env::var("NPAIR_BENCH_ONLY").as_deref() == Ok("latency")
}

// ---------- the systems ----------

enum System {
    Npair(Npair),
    OpenSsh(Sshd),
    Direct { socket: PathBuf },
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Npair,
    OpenSsh,
    Direct,
}

const KINDS: [Kind; 3] = [Kind::Npair, Kind::OpenSsh, Kind::Direct];

fn socket_path(tmux: &Tmux) -> PathBuf {
    PathBuf::from(
        tmux.run(&["display-message", "-p", "-t", SESSION, "#{socket_path}"])
            .trim(),
    )
}

impl System {
    fn start(kind: Kind, tmux: &Tmux) -> System {
        match kind {
            Kind::Npair => System::Npair(Npair::spawn({
                let mut c =
                    Npair::command(tmux, &[SESSION, "--headless", "--json", "--size", "120x40"]);
                c.stderr(Stdio::null());
                c
            })),
            Kind::OpenSsh => System::OpenSsh(Sshd::start(tmux)),
            Kind::Direct => System::Direct {
                socket: socket_path(tmux),
            },
        }
    }

    fn guest(&self, rw: bool) -> Term {
        match self {
            System::Npair(np) => {
                Term::guest(np.port(), &if rw { np.rw() } else { np.ro() }, COLS, ROWS)
            }
            System::OpenSsh(s) => s.guest(rw),
            System::Direct { socket } => {
                let mut cmd = CommandBuilder::new("tmux");
                cmd.arg("-S");
                cmd.arg(socket);
                cmd.args(["attach-session", "-t", &format!("={SESSION}")]);
                if !rw {
                    cmd.arg("-r");
                }
                cmd.env_remove("TMUX");
                Term::spawn(cmd, COLS, ROWS)
            }
        }
    }

    /// The processes that serve guests (their memory and CPU are the system's cost).
    fn serving(&self, guests: &[Term]) -> Vec<u32> {
        match self {
            System::Npair(np) => tree(np.pid() as u32),
            System::OpenSsh(s) => tree(s.child.id()),
            System::Direct { .. } => guests.iter().map(|g| g.pid() as u32).collect(),
        }
    }
}

/// A private sshd whose keys run `tmux attach` on the bench's tmux server.
struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Sshd {
    fn start(tmux: &Tmux) -> Sshd {
        let (child, dir, port) = private_sshd::start(&socket_path(tmux), SESSION, "400:30:500");
        Sshd { child, dir, port }
    }

    fn guest(&self, rw: bool) -> Term {
        let mut cmd = CommandBuilder::new("ssh");
        cmd.args([
            "-F",
            "/dev/null",
            "-tt",
            "-p",
            &self.port.to_string(),
            "-o",
            "StrictHostKeyChecking=no",
        ]);
        cmd.args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-i",
        ]);
        cmd.arg(self.dir.path().join(if rw { "rw" } else { "ro" }));
        cmd.arg("root@127.0.0.1");
        Term::spawn(cmd, COLS, ROWS)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for pid in tree(self.child.id()).into_iter().rev() {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

// ---------- measurements ----------

fn wait_prompt(t: &Term) {
    t.wait_for("the session's prompt", |s| s.contains('$'));
}

/// Time from starting a guest until its screen shows the session.
fn join_ms(sys: &System) -> f64 {
    let t0 = Instant::now();
    let g = sys.guest(false);
    g.time_until_text("$", t0).as_secs_f64() * 1000.0
}

/// Keystroke echo latencies (µs) (see [`gauge::echo`]).
fn echo_us(term: &mut Term, samples: usize) -> Vec<f64> {
    gauge::echo(term, samples)
        .into_iter()
        .map(|d| d.as_secs_f64() * 1e6)
        .collect()
}

struct FanOut {
    seconds: f64,
    bytes_per_guest: f64,
    cpu_seconds: f64,
    rss_growth_kib: i64,
}

/// Time until every guest has seen the end of a long output; `stall` SIGSTOPs the first guest
/// for that long meanwhile.
fn fan_out(
    tmux: &Tmux,
    sys: &System,
    guests: &[Term],
    lines: u32,
    stall: Option<Duration>,
    tag: u32,
) -> FanOut {
    let serving = sys.serving(guests);
    let cpu0 = cpu_seconds(&serving);
    let (rss0, _) = memory(&serving);
    let bytes0: Vec<usize> = guests.iter().map(|g| g.raw.lock().unwrap().len()).collect();
    let marker = format!("END-OF-FANOUT-{tag}");
    let t0 = Instant::now();
    tmux.send(
        SESSION,
        &[
            &format!("clear; seq 1 {lines}; echo END-OF-FANOUT-$(({tag}))"),
            "Enter",
        ],
    );
    let stalled = stall.map(|d| {
        guests[0].signal(libc::SIGSTOP);
        (Instant::now() + d, &guests[0])
    });
    let mut peak_rss = rss0;
    let mut done = vec![false; guests.len()];
    let skip = usize::from(stalled.is_some());
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut resumed = stalled.is_none();
    let seconds = loop {
        if let Some((until, g)) = stalled {
            if !resumed && Instant::now() >= until {
                g.signal(libc::SIGCONT);
                resumed = true;
            }
        }
        for (i, g) in guests.iter().enumerate().skip(skip) {
            if !done[i] && g.text().contains(&marker) {
                done[i] = true;
            }
        }
        let all = if guests.len() > skip {
            done.iter().skip(skip).all(|&d| d)
        } else {
            tmux.capture(SESSION).contains(&marker)
        };
        peak_rss = peak_rss.max(memory(&sys.serving(guests)).0);
        if all {
            break t0.elapsed().as_secs_f64();
        }
        assert!(
            Instant::now() < deadline,
            "guests never saw the end of the output"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some((until, g)) = stalled {
        if !resumed {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            g.signal(libc::SIGCONT);
        }
    }
    let cpu = cpu_seconds(&sys.serving(guests)) - cpu0;
    let bytes: usize = guests
        .iter()
        .zip(&bytes0)
        .map(|(g, b)| g.raw.lock().unwrap().len() - b)
        .sum();
    FanOut {
        seconds,
        bytes_per_guest: if guests.is_empty() {
            0.0
        } else {
            bytes as f64 / guests.len() as f64
        },
        cpu_seconds: cpu,
        rss_growth_kib: peak_rss as i64 - rss0 as i64,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// How the host's terminal reaches the session, for the host's own echo.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum HostPath {
    /// npair attached: the host's terminal, npair, then tmux in npair's pty.
    Npair,
    /// A plain `tmux attach` in the host's terminal.
    Direct,
    /// `tmux attach` under `script`, which only copies between the host's terminal and a pty
    /// of its own: the least any program that sees the output (as npair must) adds.
    Relay,
}

/// The host's own echo, in a pty playing the host's terminal.
fn host_echo(tmux: &Tmux, path: HostPath, samples: usize) -> Vec<f64> {
    let attach = format!(
        "tmux -S {} attach-session -t ={SESSION}",
        socket_path(tmux).display()
    );
    let mut term = match path {
        HostPath::Npair => Term::spawn(Term::host_command(tmux, &[SESSION]), COLS, ROWS),
        HostPath::Direct => {
            let mut cmd = CommandBuilder::new("sh");
            cmd.args(["-c", &format!("exec {attach}")]);
            cmd.env_remove("TMUX");
            Term::spawn(cmd, COLS, ROWS)
        }
        HostPath::Relay => {
            let mut cmd = CommandBuilder::new("script");
            cmd.args(["-qfc", &attach, "/dev/null"]);
            cmd.env_remove("TMUX");
            Term::spawn(cmd, COLS, ROWS)
        }
    };
    wait_prompt(&term);
    std::thread::sleep(Duration::from_millis(300));
    let v = echo_us(&mut term, samples);
    term.signal(libc::SIGTERM);
    v
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let repeats = if quick() { 1 } else { 3 };
    let ks: &[usize] = if quick() {
        &[0, 10, 50]
    } else {
        &[0, 10, 50, 200]
    };
    let lines: u32 = if quick() { 300_000 } else { 3_000_000 };
    let echo_samples = if quick() { 60 } else { 200 };

    let tmux = Tmux::new();
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        "120",
        "-y",
        "40",
        "env PS1='$ ' sh",
    ]);
    tmux.run(&["set", "-g", "window-size", "latest"]);

    let mut join: HashMap<Kind, Vec<f64>> = HashMap::new();
    let mut echo: HashMap<Kind, Vec<f64>> = HashMap::new();
    // Each repeat's echo [p50, p99]: the goal holds in every repeat, not only pooled.
    let mut echo_reps: HashMap<Kind, Vec<[f64; 2]>> = HashMap::new();
    let mut host: HashMap<HostPath, Vec<f64>> = HashMap::new();
    let mut mem: HashMap<(Kind, usize), Vec<(u64, u64)>> = HashMap::new();
    let mut fan: HashMap<(Kind, usize), Vec<FanOut>> = HashMap::new();
    let mut stall: HashMap<(Kind, bool), Vec<FanOut>> = HashMap::new();
    let mut tag = 0;

    for rep in 0..repeats {
        eprintln!("repeat {}/{repeats}", rep + 1);
        for kind in KINDS {
            // Join and echo, on a fresh system.
            let sys = System::start(kind, &tmux);
            let joins: Vec<f64> = (0..5).map(|_| join_ms(&sys)).collect();
            join.entry(kind).or_default().push(median(joins));
            let mut g = sys.guest(true);
            wait_prompt(&g);
            std::thread::sleep(Duration::from_millis(300));
            let samples = echo_us(&mut g, echo_samples);
            echo_reps
                .entry(kind)
                .or_default()
                .push([pct(samples.clone(), 0.5), pct(samples.clone(), 0.99)]);
            echo.entry(kind).or_default().extend(samples);
            g.type_str("\x15");
            drop(g);
            drop(sys);

            if latency_only() {
                continue;
            }
            // Memory and fan-out with K read-only guests, on a fresh system.
            let sys = System::start(kind, &tmux);
            let mut guests: Vec<Term> = Vec::new();
            for &k in ks {
                while guests.len() < k {
                    let g = sys.guest(false);
                    wait_prompt(&g);
                    guests.push(g);
                }
                std::thread::sleep(Duration::from_millis(500));
                mem.entry((kind, k))
                    .or_default()
                    .push(memory(&sys.serving(&guests)));
                tag += 1;
                fan.entry((kind, k))
                    .or_default()
                    .push(fan_out(&tmux, &sys, &guests, lines, None, tag));
            }
            drop(guests);
            drop(sys);

            // A stalled guest among 10, with and without the stall.
            for stalled in [false, true] {
                let sys = System::start(kind, &tmux);
                let guests: Vec<Term> = (0..10).map(|_| sys.guest(false)).collect();
                guests.iter().for_each(wait_prompt);
                tag += 1;
                let r = fan_out(
                    &tmux,
                    &sys,
                    &guests,
                    lines,
                    stalled.then_some(Duration::from_secs(10)),
                    tag,
                );
                stall.entry((kind, stalled)).or_default().push(r);
            }
        }
        for path in [HostPath::Npair, HostPath::Direct, HostPath::Relay] {
            host.entry(path)
                .or_default()
                .extend(host_echo(&tmux, path, echo_samples));
        }
    }

    // ---------- the table ----------
    let mut t = Table::default();
    let med = |v: &[f64]| median(v.to_vec());
    let of = |f: &dyn Fn(Kind) -> f64| -> [f64; 3] {
        [f(Kind::Npair), f(Kind::OpenSsh), f(Kind::Direct)]
    };
    let join_ms = of(&|k| med(&join[&k]));
    t.row(
        "join (ms)",
        join_ms,
        1,
        "from starting `ssh` (or `tmux attach`) until the guest's screen shows the session",
    );
    let echo50 = of(&|k| pct(echo[&k].clone(), 0.5));
    let echo99 = of(&|k| pct(echo[&k].clone(), 0.99));
    t.row(
        "echo p50 (µs)",
        echo50,
        0,
        "a read-write guest types one character; time until its echo reaches the guest's terminal",
    );
    t.row("echo p99 (µs)", echo99, 0, "the same, 99th percentile");
    let ks: &[usize] = if latency_only() { &[] } else { ks };
    let mut fan50 = None;
    for &k in ks {
        let secs = of(&|s| med(&fan[&(s, k)].iter().map(|f| f.seconds).collect::<Vec<_>>()));
        t.row(
            &format!("fan-out, {k} ro guests (s)"),
            secs,
            2,
            &format!("time until every guest has seen the end of `seq 1 {lines}`"),
        );
        if k > 0 {
            t.row(&format!("  bytes per guest, {k} guests (KiB)"), of(&|s| med(&fan[&(s, k)].iter().map(|f| f.bytes_per_guest / 1024.0).collect::<Vec<_>>())), 0,
                "what each guest received: npair skips output a guest could not take in time (it repaints the screen instead)");
        }
        let cpu = of(&|s| {
            med(&fan[&(s, k)]
                .iter()
                .map(|f| f.cpu_seconds)
                .collect::<Vec<_>>())
        });
        t.row(&format!("  serving CPU, {k} guests (s)"), cpu, 2, "user + system CPU of the serving side during the fan-out (npair and its tmux client; sshd and all its children; the tmux clients)");
        if k == 50 {
            fan50 = Some((secs, cpu));
        }
    }
    for &k in ks {
        t.row(
            &format!("serving RSS idle, {k} guests (MiB)"),
            of(&|s| {
                med(&mem[&(s, k)]
                    .iter()
                    .map(|m| m.0 as f64 / 1024.0)
                    .collect::<Vec<_>>())
            }),
            1,
            "resident memory of the serving side with K guests connected and idle",
        );
        t.row(
            &format!("serving PSS idle, {k} guests (MiB)"),
            of(&|s| {
                med(&mem[&(s, k)]
                    .iter()
                    .map(|m| m.1 as f64 / 1024.0)
                    .collect::<Vec<_>>())
            }),
            1,
            "the same, proportional set size (shared pages divided among their users)",
        );
    }
    let mut per_guest = Vec::new();
    for &k in ks.iter().filter(|&&k| k > 0) {
        let per = |s: Kind, i: usize| {
            med(&mem[&(s, k)]
                .iter()
                .zip(&mem[&(s, 0)])
                .map(|(m, z)| (pick(m, i) as f64 - pick(z, i) as f64) / k as f64)
                .collect::<Vec<_>>())
        };
        t.row(
            &format!("RSS per extra guest, 0→{k} (KiB)"),
            of(&|s| per(s, 0)),
            0,
            "(RSS with K guests − RSS with none) / K",
        );
        let pss = of(&|s| per(s, 1));
        t.row(
            &format!("PSS per extra guest, 0→{k} (KiB)"),
            pss,
            0,
            "(PSS with K guests − PSS with none) / K",
        );
        per_guest.push((k, pss));
    }
    let mut stall_figs = None;
    if !latency_only() {
        let no = of(&|k| {
            med(&stall[&(k, false)]
                .iter()
                .map(|f| f.seconds)
                .collect::<Vec<_>>())
        });
        let yes = of(&|k| {
            med(&stall[&(k, true)]
                .iter()
                .map(|f| f.seconds)
                .collect::<Vec<_>>())
        });
        let growth = of(&|k| {
            med(&stall[&(k, true)]
                .iter()
                .map(|f| f.rss_growth_kib as f64 / 1024.0)
                .collect::<Vec<_>>())
        });
        t.row(
            "10 guests, others' time, no stall (s)",
            no,
            2,
            "fan-out to 10 read-only guests",
        );
        t.row(
            "10 guests, others' time, 1 stalled 10 s (s)",
            yes,
            2,
            "the same while one of them is stopped (SIGSTOP) for 10 s: the other nine's time",
        );
        t.row(
            "  serving RSS growth with the stall (MiB)",
            growth,
            1,
            "peak serving-side RSS during the stalled run, minus before it",
        );
        stall_figs = Some((no[0], yes[0], growth[0]));
    }
    let (hn, hd) = (
        host[&HostPath::Npair].clone(),
        host[&HostPath::Direct].clone(),
    );
    let hr = host[&HostPath::Relay].clone();
    let host50 = [pct(hn.clone(), 0.5), f64::NAN, pct(hd.clone(), 0.5)];
    t.row("host's own echo p50 (µs)", host50, 0, "the host types in npair's attached terminal (npair) or a plain `tmux attach` (direct), both in a pty");
    t.row(
        "host's own echo p99 (µs)",
        [pct(hn.clone(), 0.99), f64::NAN, pct(hd.clone(), 0.99)],
        0,
        "the same, 99th percentile",
    );
    t.row(
        "  through a bare relay, p50 / p99 (µs)",
        [pct(hr.clone(), 0.5), f64::NAN, pct(hr.clone(), 0.99)],
        0,
        "`tmux attach` under `script`, which copies between the terminal and a pty of its own: the floor for any program that sees the output; here p50 in the first column and p99 in the last",
    );

    // ---------- the goals (issue 5) ----------
    let mut goals = Vec::new();
    let mut goal = |what: String, met: bool| {
        goals.push(format!("- {} {what}", if met { "met:" } else { "MISSED:" }))
    };
    for (i, name) in ["p50", "p99"].into_iter().enumerate() {
        let pairs: Vec<(f64, f64)> = echo_reps[&Kind::Npair]
            .iter()
            .zip(&echo_reps[&Kind::OpenSsh])
            .map(|(n, o)| (n[i], o[i]))
            .collect();
        let each = pairs
            .iter()
            .map(|(n, o)| format!("{n:.0} vs {o:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        goal(
            format!("echo {name} no worse than openssh in every repeat ({each} µs)"),
            pairs.iter().all(|(n, o)| n <= o),
        );
    }
    goal(
        format!(
            "host's echo p50 within 50 µs of direct (+{:.0} µs; a bare relay: +{:.0} µs)",
            host50[0] - host50[2],
            pct(hr, 0.5) - host50[2]
        ),
        host50[0] - host50[2] <= 50.0,
    );
    goal(
        format!(
            "join at most half of openssh's ({:.2}x)",
            join_ms[0] / join_ms[1]
        ),
        join_ms[0] <= join_ms[1] / 2.0,
    );
    if let Some((secs, cpu)) = fan50 {
        goal(
            format!(
                "fan-out to 50 guests at most half of openssh's time ({:.2}x)",
                secs[0] / secs[1]
            ),
            secs[0] <= secs[1] / 2.0,
        );
        goal(
            format!(
                "serving CPU at 50 guests below openssh's ({:.2} vs {:.2} s)",
                cpu[0], cpu[1]
            ),
            cpu[0] < cpu[1],
        );
    }
    if let Some(&(k, pss)) = per_guest.last() {
        goal(
            format!(
                "PSS per extra guest at most a tenth of openssh's (0→{k}: {:.0} vs {:.0} KiB)",
                pss[0], pss[1]
            ),
            pss[0] * 10.0 <= pss[1],
        );
        if let Some(&(k50, p50)) = per_guest.iter().find(|(k, _)| *k == 50) {
            goal(
                format!(
                    "cost per guest flat from {k50} to {k} guests ({:.0} → {:.0} KiB PSS)",
                    p50[0], pss[0]
                ),
                pss[0] <= p50[0] * 1.25 + 16.0,
            );
        }
    }
    if !ks.is_empty() {
        let idle = med(&mem[&(Kind::Npair, 0)]
            .iter()
            .map(|m| m.0 as f64 / 1024.0)
            .collect::<Vec<_>>());
        goal(
            format!("idle npair under 15 MB RSS ({idle:.1} MiB, with its tmux client)"),
            idle * 1.048576 < 15.0,
        );
    }
    if let Some((no, yes, growth)) = stall_figs {
        goal(
            format!(
                "a stalled guest slows the others by less than 10% ({:+.1}%)",
                (yes / no - 1.0) * 100.0
            ),
            yes < no * 1.1,
        );
        goal(
            format!("a stalled guest grows npair's memory by less than 10 MB ({growth:.1} MiB)"),
            growth * 1.048576 < 10.0,
        );
    }

    let title = format!(
        "npair vs openssh (sshd + one `tmux attach` per guest) vs direct (`tmux attach`, no network), all on 127.0.0.1; {repeats} repeat(s), medians; ratio = npair / openssh"
    );
    println!("{title}");
    print!("{}", t.text());
    println!("goals:\n{}", goals.join("\n"));
    if std::env::var_os("NPAIR_BENCH_README").is_some() {
        let block = format!(
            "Measured {} on {}, with `NPAIR_BENCH_README=1 cargo bench --bench share` (which wrote this section).\n{title}.\n\n{}\nGoals:\n\n{}\n",
            today(),
            machine(),
            t.markdown(),
            goals.join("\n")
        );
        write_readme_block(&block);
    }
}

/// Rows of figures for the three systems.
#[derive(Default)]
struct Table {
    rows: Vec<(String, [f64; 3], usize, String)>,
}

impl Table {
    fn row(&mut self, name: &str, v: [f64; 3], decimals: usize, meaning: &str) {
        self.rows
            .push((name.to_owned(), v, decimals, meaning.to_owned()));
    }

    fn cells(v: [f64; 3], d: usize) -> [String; 4] {
        let f = |x: f64| {
            if x.is_nan() {
                "".to_owned()
            } else {
                format!("{x:.d$}")
            }
        };
        let ratio = if v[1] > 0.0 && !v[1].is_nan() {
            format!("{:.2}x", v[0] / v[1])
        } else {
            "".to_owned()
        };
        [f(v[0]), f(v[1]), f(v[2]), ratio]
    }

    fn text(&self) -> String {
        let mut out = format!(
            "{:<46} {:>10} {:>10} {:>10} {:>7}\n",
            "figure", "npair", "openssh", "direct", "ratio"
        );
        for (name, v, d, _) in &self.rows {
            let [a, b, c, r] = Self::cells(*v, *d);
            out += &format!("{name:<46} {a:>10} {b:>10} {c:>10} {r:>7}\n");
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = "| figure | npair | openssh | direct | npair / openssh | what it means |\n| --- | ---: | ---: | ---: | ---: | --- |\n".to_owned();
        for (name, v, d, meaning) in &self.rows {
            let [a, b, c, r] = Self::cells(*v, *d);
            out += &format!("| {} | {a} | {b} | {c} | {r} | {meaning} |\n", name.trim());
        }
        out
    }
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| util::stdout(&o).trim().to_owned())
        .unwrap_or_default()
}

/// "N cores (CPU model), M GiB".
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_owned();
    let cores = cpu.lines().filter(|l| l.starts_with("processor")).count();
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: f64 = mem
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    format!("{cores} cores ({model}), {:.0} GiB", kib / 1024.0 / 1024.0)
}

const README_START: &str = "<!-- bench:share:start -->";
const README_END: &str = "<!-- bench:share:end -->";

/// Replaces the README's block between the markers with `block`.
fn write_readme_block(block: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let (Some(a), Some(b)) = (readme.find(README_START), readme.find(README_END)) else {
        panic!("README.md has no {README_START} … {README_END} block");
    };
    let new = format!("{}{README_START}\n{block}{}", &readme[..a], &readme[b..]);
    std::fs::write(&path, new).expect("write README.md");
    eprintln!("wrote the table into README.md");
}

fn pick(m: &(u64, u64), i: usize) -> u64 {
    if i == 0 {
        m.0
    } else {
        m.1
    }
}
