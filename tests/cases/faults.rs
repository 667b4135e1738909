//! Faults: guests killed, frozen without a FIN or suspended mid-stream; our tmux client
//! killed; the tmux server killed. Each has its defined outcome, and npair is left with no
//! extra fds, threads or tmux clients.

use crate::util::client::{self, idle_usage, runtime, usage, wait_back_to};
use crate::util::*;

fn clients(tmux: &Tmux) -> usize {
    tmux.run(&["list-clients", "-F", "#{client_pid}"])
        .lines()
        .count()
}

#[test]
fn guests_killed_frozen_or_suspended_mid_stream_leave_the_others_going() {
    const KILLED: usize = 5;
    const FROZEN: usize = 3;
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let idle = idle_usage(&np);
    let (port, rw, ro) = (np.port(), np.rw(), np.ro());
    // The stream ends when the test creates `stop` (C-c could land between two commands
    // of the loop, which then goes on).
    let stop = tmux.path().join("stop");
    tmux.send(
        "fun",
        &[
            &format!(
                "while [ ! -e {} ]; do seq 1 500; sleep 0.05; done",
                stop.display()
            ),
            "Enter",
        ],
    );

    let watcher = Term::guest(port, &ro, 80, 24);
    let mut typist = Term::guest(port, &rw, 80, 24);
    let suspended = Term::guest(port, &ro, 80, 24);
    let mut killed: Vec<Term> = (0..KILLED)
        .map(|_| Term::guest(port, &ro, 80, 24))
        .collect();
    for t in killed.iter().chain([&watcher, &typist, &suspended]) {
        t.wait_for("output streaming", |s| s.contains("500"));
    }
    // Guests whose sockets go silent: their client stops (its runtime is gone) but a second
    // descriptor keeps each socket open, so npair gets no FIN and no reset, only silence.
    let frozen_rt = runtime(1);
    let frozen: Vec<std::net::TcpStream> = (0..FROZEN)
        .map(|_| {
            let g = frozen_rt
                .block_on(client::join(port, &rw, None, 80, 24))
                .unwrap();
            g.wait_text("500");
            g.socket
        })
        .collect();
    frozen_rt.shutdown_background();

    suspended.signal(libc::SIGSTOP);
    for t in &killed {
        t.signal(libc::SIGKILL);
    }
    for t in &mut killed {
        t.wait_exit();
    }
    drop(killed);
    // Output goes on for a while with one guest suspended and three frozen.
    std::thread::sleep(std::time::Duration::from_secs(3));
    suspended.signal(libc::SIGCONT);

    std::fs::write(&stop, "").unwrap();
    typist.type_str("clear; echo after-$((3*14))\r");
    tmux.wait_pane("fun", "the typist's line", |t| t.contains("after-42"));
    for t in [&watcher, &typist, &suspended] {
        t.wait_text("after-42");
    }
    assert_eq!(clients(&tmux), 1, "npair should have one tmux client");
    let with_frozen = usage(np.pid());
    eprintln!("killed {KILLED}, froze {FROZEN}, suspended 1 for 3 s: npair {with_frozen:?} (idle {idle:?})");

    // The frozen sockets close; everyone else leaves; npair is back to idle.
    drop(frozen);
    for mut t in [watcher, typist, suspended] {
        t.signal(libc::SIGTERM);
        t.wait_exit();
    }
    let after = wait_back_to(np.pid(), idle);
    eprintln!("after: npair {after:?}");
    assert_eq!(clients(&tmux), 1);
}

#[test]
fn our_tmux_client_killed_is_replaced_and_guests_go_on() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start(&tmux, "fun", &[]);
    let mut guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("$");
    let pid: i32 = tmux
        .run(&["list-clients", "-F", "#{client_pid}"])
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    np.wait_stderr("attaching again");
    wait_until("a new tmux client", || {
        let out = tmux.run(&["list-clients", "-F", "#{client_pid}"]);
        match out.trim().parse::<i32>() {
            Ok(p) if p != pid => Ok(()),
            _ => Err(out),
        }
    });
    guest.type_str("echo back-$((2*21))\r");
    guest.wait_text("back-42");
    assert!(np.running());
    assert_eq!(clients(&tmux), 1);
}

#[test]
fn the_tmux_server_killed_ends_the_share_with_a_message_and_guests_are_told() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start(&tmux, "fun", &[]);
    let mut guests = [
        Term::guest(np.port(), &np.rw(), 80, 24),
        Term::guest(np.port(), &np.ro(), 80, 24),
    ];
    for g in &guests {
        g.wait_text("$");
    }
    tmux.run(&["kill-server"]);
    let status = np.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", np.stderr());
    assert!(
        np.stderr().contains("tmux session 'fun' has ended"),
        "{}",
        np.stderr()
    );
    for g in &mut guests {
        g.wait_exit();
        assert!(
            g.raw_text().contains("the shared tmux session has ended"),
            "{}",
            g.raw_text()
        );
    }
}

/// A guest suspended for a whole minute (a closed laptop lid, a paused terminal) outlives
/// npair's keep-alive probes (three of 30 s), slows no one meanwhile, and is repainted with the
/// present when it wakes.
#[test]
fn a_guest_suspended_for_a_minute_stays_and_is_repainted_when_it_wakes() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start(&tmux, "fun", &[]);
    let sleeper = Term::guest(np.port(), &np.ro(), 80, 24);
    let other = Term::guest(np.port(), &np.rw(), 80, 24);
    sleeper.wait_text("$");
    other.wait_text("$");

    sleeper.signal(libc::SIGSTOP);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut round = 0;
    while std::time::Instant::now() < until {
        round += 1;
        tmux.send(
            "fun",
            &[
                &format!("seq 1 20000; echo ROUND-$((1000+{round}))"),
                "Enter",
            ],
        );
        other.wait_text(&format!("ROUND-{}", 1000 + round));
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
    sleeper.signal(libc::SIGCONT);
    sleeper.wait_text(&format!("ROUND-{}", 1000 + round));
    wait_rows_match(&tmux, "fun", &sleeper, 0);
    assert!(np.running());
}
