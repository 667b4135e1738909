//! Load: hundreds of guests at once while output streams. Every guest ends on the host's
//! screen, nothing deadlocks, and npair gives back its file descriptors and threads when they
//! leave.

use std::sync::atomic::Ordering;

use crate::util::client::{self, idle_usage, runtime, usage, wait_back_to};
use crate::util::*;

/// Guests held at once: most through the russh client, some real OpenSSH.
const RUSSH_GUESTS: usize = 290;
const OPENSSH_GUESTS: usize = 10;
/// Handshakes in flight at once while joining (well under npair's per-address cap).
const JOINING_AT_ONCE: usize = 8;
/// What npair may keep after 300 guests have left: allocator pools and the ring's chunks,
/// never anything per guest (a guest that leaked its buffers would cost more than this).
const RSS_SLACK_KIB: u64 = 48 * 1024;

/// Whether a guest's screen shows the pane's current text, row for row.
fn shows_pane(screen: &vt100::Screen, pane: &str) -> bool {
    let (_, cols) = screen.size();
    let rows: Vec<String> = screen.rows(0, cols.get()).collect();
    pane.lines()
        .enumerate()
        .all(|(i, want)| rows.get(i).map(|r| r.trim_end()) == Some(want.trim_end()))
}

#[test]
fn three_hundred_guests_at_once_all_see_the_screen_and_leave_nothing_behind() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let idle = idle_usage(&np);

    // Output streams for as long as guests join.
    // The stream ends when the test creates `stop` (C-c could land between two commands
    // of the loop, which then goes on).
    let stop = tmux.path().join("stop");
    tmux.send(
        "fun",
        &[
            &format!(
                "while [ ! -e {} ]; do seq 1 200; sleep 0.1; done",
                stop.display()
            ),
            "Enter",
        ],
    );

    let rt = runtime(2);
    let (rw, ro) = (np.rw(), np.ro());
    let port = np.port();
    let mut guests: Vec<client::Guest> = Vec::new();
    rt.block_on(async {
        for batch in (0..RUSSH_GUESTS)
            .collect::<Vec<_>>()
            .chunks(JOINING_AT_ONCE)
        {
            let joins = batch.iter().map(|&i| {
                // A third read-write (all the session's size, so the session keeps it).
                let token = if i % 3 == 0 { rw.clone() } else { ro.clone() };
                async move { client::join(port, &token, None, 80, 24).await }
            });
            for g in futures_util::future::join_all(joins).await {
                guests.push(g.expect("a guest could not join"));
            }
        }
    });
    let mut openssh: Vec<Term> = (0..OPENSSH_GUESTS)
        .map(|i| Term::guest(port, if i % 2 == 0 { &rw } else { &ro }, 80, 24))
        .collect();
    let held = usage(np.pid());
    eprintln!(
        "{} guests held: npair {held:?} (idle {idle:?})",
        guests.len() + openssh.len()
    );

    // The stream stops; a marker; every guest ends on the host's screen.
    std::fs::write(&stop, "").unwrap();
    tmux.send("fun", &["clear; echo LOAD-$((150*2))", "Enter"]);
    let pane = tmux.wait_pane("fun", "the marker", |t| t.lines().any(|l| l == "LOAD-300"));
    wait_until("every guest to show the host's screen", || {
        let pane_now = tmux.capture("fun");
        let behind: Vec<usize> = guests
            .iter()
            .enumerate()
            .filter(|(_, g)| !shows_pane(g.seen.screen.lock().unwrap().screen(), &pane_now))
            .map(|(i, _)| i)
            .chain(
                openssh
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| !shows_pane(t.screen.lock().unwrap().screen(), &pane_now))
                    .map(|(i, _)| RUSSH_GUESTS + i),
            )
            .collect();
        if behind.is_empty() {
            Ok(())
        } else {
            let first = behind[0];
            let screen = if first < RUSSH_GUESTS {
                guests[first].seen.text()
            } else {
                openssh[first - RUSSH_GUESTS].text()
            };
            Err(format!(
                "{} guests behind, e.g. {:?}\npane:\n{pane}\nguest {first} shows:\n{screen}",
                behind.len(),
                &behind[..behind.len().min(10)]
            ))
        }
    });
    let received: usize = guests
        .iter()
        .map(|g| g.seen.bytes.load(Ordering::Relaxed))
        .sum();
    eprintln!("the russh guests received {received} bytes in all");

    // Nothing is wedged: a typist still reaches the session.
    openssh[0].type_str("echo still-$((2*21))\r");
    tmux.wait_pane("fun", "a typist's line", |t| t.contains("still-42"));

    // Everyone leaves; npair gives back every fd and thread.
    rt.block_on(async {
        for g in &guests {
            let _ = g
                .handle
                .disconnect(russh::Disconnect::ByApplication, "bye", "")
                .await;
        }
    });
    drop(guests);
    for t in &mut openssh {
        t.signal(libc::SIGTERM);
        t.wait_exit();
    }
    drop(openssh);
    let after = wait_back_to(np.pid(), idle);
    eprintln!("after they left: npair {after:?} (idle {idle:?})");
    assert!(
        after.rss_kib <= idle.rss_kib + RSS_SLACK_KIB,
        "npair kept {} KiB after the guests left (idle {} KiB)",
        after.rss_kib,
        idle.rss_kib
    );
}
