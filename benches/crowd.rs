//! A thousand guests on one share (issue 21): read-only guests join (russh clients, each bound
//! to a loopback address, at most 16 per address, plus some real OpenSSH), paced (32 handshakes
//! in flight) and as a burst (all at once), while a read-write guest types. Reports the time
//! until all see the screen, until the last has a new frame, the typist's echo with and without
//! the crowd, memory and CPU in all and per guest, and whether every guest ends on the final
//! screen. Then the same for a private sshd + `tmux attach` per guest, at growing counts, up to
//! the largest it holds.
//!
//! `cargo bench --bench crowd` (needs tmux, openssh-server, root for a private sshd);
//! `NPAIR_CROWD=N` sets the crowd, `NPAIR_BENCH_QUICK=1` runs a small one,
//! `NPAIR_BENCH_ONLY=npair` leaves out sshd.

// The tests' harness; this bench uses a part of it, so the rest is dead code here.
#[path = "common/gauge.rs"]
mod gauge;
#[path = "crowd/measure.rs"]
mod measure;
#[path = "common/sshd.rs"]
mod private_sshd;
#[path = "crowd/sshd.rs"]
mod sshd;
#[allow(dead_code)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::process::Stdio;
use std::time::{Duration, Instant};

use gauge::{cpu_seconds, pct, tree};
use measure::{address, echo_ms, join_all, rss_kib, until_all_show, Login};
use util::client::Guest;
use util::{Npair, Term, Tmux};

const SESSION: &str = "crowd";
/// Crowd guests from one loopback address, at most (npair's cap per address on connections
/// not yet logged in is 16: a loopback bench spreads over addresses as a real class would).
const PER_ADDR: usize = 16;
/// Handshakes in flight when paced (as in the asyncssh run).
const PACED: usize = 32;
/// How long a phase may take before it counts as failed.
const LIMIT: Duration = Duration::from_secs(60);

fn quick() -> bool {
    std::env::var_os("NPAIR_BENCH_QUICK").is_some()
}

/// Keystrokes timed for each echo figure.
fn samples() -> usize {
    if quick() {
        60
    } else {
        1000
    }
}

/// What one system is: its port, the crowd's login, its typist and OpenSSH guests, its processes.
enum System {
    Npair(Npair),
    Sshd(sshd::Sshd),
}

impl System {
    fn port(&self) -> u16 {
        match self {
            System::Npair(np) => np.port(),
            System::Sshd(s) => s.port,
        }
    }
    fn login(&self) -> Login {
        match self {
            System::Npair(np) => Login::Token(np.ro()),
            System::Sshd(s) => Login::Key(s.ro_key()),
        }
    }
    fn openssh(&self, rw: bool, from: &str) -> Term {
        match self {
            System::Npair(np) => {
                let token = if rw { np.rw() } else { np.ro() };
                Term::guest_with(np.port(), &token, 80, 24, &["-b", from])
            }
            System::Sshd(s) => s.guest(rw, from),
        }
    }
    fn pids(&self) -> Vec<u32> {
        match self {
            System::Npair(np) => tree(np.pid() as u32),
            System::Sshd(s) => tree(s.child.id()),
        }
    }
}

/// One crowd's figures.
struct Row {
    system: &'static str,
    mode: &'static str,
    guests: usize,
    refused: usize,
    all_in: Option<Duration>,
    frame: Option<Duration>,
    echo: (f64, f64),
    alone: (f64, f64),
    rss_mib: f64,
    idle_mib: f64,
    cpu_s: f64,
    /// The system's CPU per keystroke while the typist types with the crowd in (ms).
    key_cpu_ms: f64,
    lost: usize,
    note: String,
}

/// Whether a guest's screen shows the pane's text, row for row (the status line aside).
fn shows(screen: &vt100::Screen, pane: &str) -> bool {
    let rows: Vec<String> = screen.rows(0, 80).collect();
    pane.lines()
        .enumerate()
        .all(|(i, want)| rows.get(i).map(|r| r.trim_end()) == Some(want.trim_end()))
}

/// Joins a crowd of `n` (paced, or as a burst) while the typist is in, and measures it.
#[allow(clippy::too_many_arguments)]
fn crowd(
    rt: &tokio::runtime::Runtime,
    tmux: &Tmux,
    sys: &System,
    typist: &mut Term,
    (alone, idle_mib): ((f64, f64), f64),
    n: usize,
    openssh: usize,
    paced: bool,
    round: usize,
) -> Row {
    // Each marker is typed with quotes inside, so that only its output, not the command line
    // that shows it, is the marker.
    tmux.send(
        SESSION,
        &["C-u", &format!("clear; echo RE''ADY-{round}"), "Enter"],
    );
    tmux.wait_pane(SESSION, "the marker", |t| {
        t.contains(&format!("READY-{round}"))
    });
    let cpu0 = cpu_seconds(&sys.pids());
    let t0 = Instant::now();
    let russh = n.saturating_sub(openssh);
    // Real OpenSSH guests from addresses after the russh crowd's, started from a thread in the
    // background (their processes and reader threads take its priority).
    let terms: Vec<Term> = std::thread::scope(|s| {
        s.spawn(|| {
            in_the_background();
            (0..n - russh)
                .map(|i| {
                    sys.openssh(
                        false,
                        &address(russh + PER_ADDR * (i + 1), PER_ADDR).to_string(),
                    )
                })
                .collect()
        })
        .join()
        .unwrap()
    });
    let (guests, errors) = join_all(
        rt,
        sys.port(),
        &sys.login(),
        russh,
        PER_ADDR,
        paced.then_some(PACED),
    );
    let all_in = until_all_show(&guests, &terms, &format!("READY-{round}"), t0, LIMIT).ok();
    let cpu_s = cpu_seconds(&sys.pids()) - cpu0;
    let t1 = Instant::now();
    tmux.send(SESSION, &[&format!("clear; echo FR''AME-{round}"), "Enter"]);
    let frame = until_all_show(&guests, &terms, &format!("FRAME-{round}"), t1, LIMIT).ok();
    let rss_mib = rss_kib(&sys.pids()) as f64 / 1024.0;
    let cpu1 = cpu_seconds(&sys.pids());
    let e = echo_ms(typist, samples());
    let key_cpu_ms = (cpu_seconds(&sys.pids()) - cpu1) * 1000.0 / samples() as f64;
    eprintln!(
        "echo with {n} in: p90 {:.1} p95 {:.1} max {:.1} ms",
        pct(e.clone(), 0.9),
        pct(e.clone(), 0.95),
        pct(e.clone(), 1.0)
    );
    let echo = (pct(e.clone(), 0.5), pct(e, 0.99));
    // The final screen: everyone must end on it.
    tmux.send(
        SESSION,
        &[
            "C-u",
            &format!("clear; seq 1 15; echo FI''NAL-{round}"),
            "Enter",
        ],
    );
    // The final screen has the prompt after the marker.
    let pane = tmux.wait_pane(SESSION, "the final screen", |t| {
        t.contains(&format!("FINAL-{round}\n$"))
    });
    let settled = until_all_show(
        &guests,
        &terms,
        &format!("FINAL-{round}\n$"),
        Instant::now(),
        LIMIT,
    );
    let off: Vec<&Guest> = guests
        .iter()
        .filter(|g| !shows(g.seen.screen.lock().unwrap().screen(), &pane))
        .collect();
    if let Some(g) = off.first() {
        // What a guest off the final screen shows, to tell a lost chunk from a slow guest.
        eprintln!(
            "a guest is off the final screen ({settled:?}); it shows:\n{}\nthe pane:\n{pane}",
            g.seen.screen.lock().unwrap().screen().contents()
        );
    }
    let lost = off.len()
        + terms
            .iter()
            .filter(|t| !shows(t.screen.lock().unwrap().screen(), &pane))
            .count()
        + errors.len();
    let row = Row {
        system: if matches!(sys, System::Npair(_)) {
            "npair"
        } else {
            "sshd + tmux attach"
        },
        mode: if paced { "paced" } else { "burst" },
        guests: guests.len() + terms.len(),
        refused: errors.len(),
        all_in,
        frame,
        echo,
        alone,
        rss_mib,
        idle_mib,
        cpu_s,
        key_cpu_ms,
        lost,
        note: errors.first().cloned().unwrap_or_default(),
    };
    leave(rt, guests, terms);
    row
}

/// Everyone leaves; the system is given a moment to let them go.
fn leave(rt: &tokio::runtime::Runtime, guests: Vec<Guest>, terms: Vec<Term>) {
    rt.block_on(async {
        for g in &guests {
            let _ = g
                .handle
                .disconnect(russh::Disconnect::ByApplication, "bye", "")
                .await;
        }
    });
    drop(guests);
    drop(terms);
    std::thread::sleep(Duration::from_secs(2));
}

/// Puts the calling thread (and what it starts) in the background: SCHED_IDLE, which runs
/// only on a CPU that nothing else wants, and gives way at once to what wakes. The crowd
/// stands for a thousand other machines; here its clients share the two cores with the system
/// under test, and in the background they take only what it leaves (Linux sets the policy per
/// thread; processes started from the thread inherit it).
fn in_the_background() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler only reads `param`; `0` is the calling thread.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

/// The crowd's runtime: two worker threads, in the background.
fn crowd_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(in_the_background)
        .enable_all()
        .build()
        .unwrap()
}

/// The typist, in before any crowd: its echo p50 / p99 (ms) alone, and the system's RSS (MiB)
/// idle, from which what each guest adds is measured.
fn typist_alone(sys: &System) -> (Term, (f64, f64), f64) {
    let mut typist = sys.openssh(true, "127.0.0.1");
    typist.wait_for("the prompt", |s| s.contains('$'));
    let e = echo_ms(&mut typist, samples());
    let alone = (pct(e.clone(), 0.5), pct(e, 0.99));
    (typist, alone, rss_kib(&sys.pids()) as f64 / 1024.0)
}

fn start_tmux() -> Tmux {
    let tmux = Tmux::new();
    tmux.new_session(SESSION, 80, 24);
    tmux.run(&["set", "-g", "status-interval", "0"]);
    tmux
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe bench targets
    }
    let n: usize = std::env::var("NPAIR_CROWD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick() { 100 } else { 1000 });
    let openssh = if quick() { 4 } else { 20 }.min(n);
    // The bench's own limit: a thousand russh clients hold two thousand descriptors here.
    let _ = npair::raise_open_files();
    let rt = crowd_runtime();
    let mut rows = Vec::new();

    let tmux = start_tmux();
    let np = Npair::spawn({
        let mut c = Npair::command(&tmux, &[SESSION, "--headless", "--json", "--size", "80x24"]);
        c.stderr(Stdio::null());
        c
    });
    let sys = System::Npair(np);
    let (mut typist, alone, idle) = typist_alone(&sys);
    for (round, paced) in [(1, true), (2, false)] {
        let row = crowd(
            &rt,
            &tmux,
            &sys,
            &mut typist,
            (alone, idle),
            n,
            openssh,
            paced,
            round,
        );
        eprintln!(
            "npair {} done: {} in, {} refused",
            row.mode, row.guests, row.refused
        );
        rows.push(row);
    }
    drop(typist);
    drop(sys);
    drop(tmux);
    if std::env::var("NPAIR_BENCH_ONLY").as_deref() == Ok("npair") {
        print_table(&rows, n, "not run (NPAIR_BENCH_ONLY=npair)");
        return;
    }

    // sshd + tmux attach, at growing counts until it no longer holds one.
    let tmux = start_tmux();
    let socket = std::path::PathBuf::from(
        tmux.run(&["display-message", "-p", "-t", SESSION, "#{socket_path}"])
            .trim(),
    );
    let sys = System::Sshd(sshd::Sshd::start(&socket, SESSION));
    let (mut typist, alone, idle) = typist_alone(&sys);
    let steps: Vec<usize> = [n / 8, n / 4, n / 2, n]
        .into_iter()
        .filter(|&c| c > 0)
        .collect();
    let mut held = None;
    let mut stop = format!("held all {n}");
    for (i, &count) in steps.iter().enumerate() {
        if measure::available_mib() < 2048 {
            stop = format!("stopped before {count}: under 2 GiB of memory left");
            break;
        }
        let row = crowd(
            &rt,
            &tmux,
            &sys,
            &mut typist,
            (alone, idle),
            count,
            openssh.min(count),
            true,
            10 + i,
        );
        eprintln!(
            "sshd {count}: {} in, {} refused, lost {}",
            row.guests, row.refused, row.lost
        );
        let ok = row.lost == 0 && row.all_in.is_some();
        if !ok {
            stop = format!("fails at {count}: {} lost, e.g. {:?}", row.lost, row.note);
        }
        held = Some(row);
        if !ok {
            break;
        }
    }
    rows.extend(held);
    print_table(&rows, n, &stop);
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| {
        format!("{:.0}", d.as_secs_f64() * 1000.0)
    })
}

fn print_table(rows: &[Row], n: usize, sshd_stop: &str) {
    println!(
        "## A crowd of {n} read-only guests ({} cores)\n",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    println!("| system | mode | guests in | all see the screen (ms) | last has a new frame (ms) | typist echo p50 / p99 (ms) | alone p50 / p99 (ms) | p99 ratio | RSS (MiB) | RSS per guest (KiB) | CPU to join (s) | CPU per guest (ms) | CPU per keystroke (ms) | lost |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let g = r.guests.max(1) as f64;
        println!(
            "| {} | {} | {} | {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2}x | {:.1} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
            r.system, r.mode, r.guests, ms(r.all_in), ms(r.frame), r.echo.0, r.echo.1, r.alone.0, r.alone.1,
            r.echo.1 / r.alone.1, r.rss_mib, (r.rss_mib - r.idle_mib) * 1024.0 / g, r.cpu_s, r.cpu_s * 1000.0 / g, r.key_cpu_ms, r.lost
        );
    }
    if let (Some(a), Some(b)) = (rows.first(), rows.iter().find(|r| r.system != "npair")) {
        let per = |r: &Row| {
            (
                (r.rss_mib - r.idle_mib) / r.guests.max(1) as f64,
                r.cpu_s / r.guests.max(1) as f64,
            )
        };
        let (pa, pb) = (per(a), per(b));
        println!(
            "\nsshd + tmux attach / npair (paced), per guest: memory {:.1}x, CPU to join {:.1}x. sshd: {sshd_stop}.",
            pb.0 / pa.0.max(1e-9), pb.1 / pa.1.max(1e-9)
        );
    }
    for r in rows.iter().filter(|r| r.refused > 0) {
        println!(
            "{} {}: {} refused, e.g. {}",
            r.system, r.mode, r.refused, r.note
        );
    }
}
