//! What a join costs the guests already in. A guest painted from the screen model (a join, or
//! a repaint after a lag) has tmux redraw the screen so its cells are exact; every guest
//! already in receives that redraw too. With 10 and 200 guests in (russh clients that keep
//! reading), one guest joins, then a burst of ten joins at once: the bytes each guest already
//! in receives, and how long after the join the last of them has it. The screen is full (a
//! coloured listing) so the redraw is a full one; tmux's status line does not tick.
//!
//! `cargo bench --bench joins` (needs tmux)

// The tests' harness; this bench uses a part of it, so the rest is dead code here.
#[allow(dead_code)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use util::client::{self, runtime, Guest};
use util::{Npair, Tmux};

const COLS: u16 = 120;
const ROWS: u16 = 40;
/// Guests joining at once while the room fills (under npair's per-address cap).
const JOINING_AT_ONCE: usize = 8;
/// Joins in the burst.
const BURST: usize = 10;
/// How long the guests already in are watched after a join: well past the redraw's coalescing
/// (at most 200 ms) and its delivery.
const WATCH: Duration = Duration::from_millis(1500);

fn bytes(guests: &[Guest]) -> Vec<usize> {
    guests
        .iter()
        .map(|g| g.seen.bytes.load(Ordering::Relaxed))
        .collect()
}

/// Joins `n` guests (read-only, so the session keeps its size) while `watched` are already in;
/// returns the joiners, the mean bytes each watched guest received, and the time from the
/// start of the joins until the last watched guest received anything.
fn join_and_watch(
    rt: &tokio::runtime::Runtime,
    np: &Npair,
    watched: &[Guest],
    n: usize,
) -> (Vec<Guest>, f64, Option<Duration>) {
    let before = bytes(watched);
    let start = Instant::now();
    let (port, ro) = (np.port(), np.ro());
    let joiners: Vec<Guest> = rt.block_on(async {
        let joins =
            (0..n).map(|_| async { client::join(port, &ro, None, COLS, ROWS).await.unwrap() });
        futures_util::future::join_all(joins).await
    });
    let mut first_byte: Vec<Option<Duration>> = vec![None; watched.len()];
    while start.elapsed() < WATCH {
        for (i, b) in bytes(watched).into_iter().enumerate() {
            if first_byte[i].is_none() && b > before[i] {
                first_byte[i] = Some(start.elapsed());
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let after = bytes(watched);
    let mean = after
        .iter()
        .zip(&before)
        .map(|(a, b)| (a - b) as f64)
        .sum::<f64>()
        / watched.len() as f64;
    let last = first_byte
        .iter()
        .copied()
        .collect::<Option<Vec<_>>>()
        .and_then(|t| t.into_iter().max());
    (joiners, mean, last)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe bench targets
    }
    let rt = runtime(2);
    println!(
        "what a join costs the guests already in ({COLS}x{ROWS} screen, full of colour; bytes are \
         per guest already in, time is from the join until the last of them has the redraw)"
    );
    println!(
        "{:>6} {:>10} {:>14} {:>12} {:>18} {:>14}",
        "guests", "join ms", "1 join: bytes", "1 join: ms", "10 joins: bytes", "10 joins: ms"
    );
    for in_room in [10usize, 200] {
        let tmux = Tmux::new();
        tmux.new_session("bench", COLS, ROWS);
        tmux.run(&["set", "-g", "status-interval", "0"]);
        let np = Npair::start(&tmux, "bench", &[]);
        // A screen full of colour: the redraw a join asks for is a full one.
        let listing = tmux.path().join("listing");
        let mut text = String::new();
        for row in 0..ROWS - 3 {
            for col in 0..COLS / 8 {
                text.push_str(&format!(
                    "\x1b[3{};1mitem{:03}\x1b[m ",
                    (row + col) % 8,
                    col
                ));
            }
            text.push_str("\r\n");
        }
        std::fs::write(&listing, text).unwrap();
        tmux.send(
            "bench",
            &[&format!("clear; cat {}", listing.display()), "Enter"],
        );
        std::thread::sleep(Duration::from_millis(500));

        let (port, ro) = (np.port(), np.ro());
        let mut room: Vec<Guest> = Vec::new();
        rt.block_on(async {
            let all: Vec<usize> = (0..in_room).collect();
            for batch in all.chunks(JOINING_AT_ONCE) {
                let joins = batch
                    .iter()
                    .map(|_| async { client::join(port, &ro, None, COLS, ROWS).await.unwrap() });
                room.extend(futures_util::future::join_all(joins).await);
            }
        });
        // Let the joins' own redraws pass, and npair's pause between redraws (one a second).
        std::thread::sleep(Duration::from_secs(2));

        let (one, one_bytes, one_time) = join_and_watch(&rt, &np, &room, 1);
        drop(one);
        std::thread::sleep(Duration::from_millis(1500));
        let (burst, burst_bytes, burst_time) = join_and_watch(&rt, &np, &room, BURST);
        drop(burst);

        let ms = |d: Option<Duration>| {
            d.map_or("-".to_owned(), |d| {
                format!("{:.1}", d.as_secs_f64() * 1000.0)
            })
        };
        // The joiner's own time to its first screen, measured apart (no watching in between).
        std::thread::sleep(Duration::from_millis(500));
        let t = Instant::now();
        let joiner = rt
            .block_on(client::join(port, &ro, None, COLS, ROWS))
            .unwrap();
        while joiner.seen.bytes.load(Ordering::Relaxed) == 0 && t.elapsed() < WATCH {
            std::thread::sleep(Duration::from_micros(200));
        }
        let joined = t.elapsed();
        drop(joiner);
        println!(
            "{:>6} {:>10.1} {:>14.0} {:>12} {:>18.0} {:>14}",
            in_room,
            joined.as_secs_f64() * 1000.0,
            one_bytes,
            ms(one_time),
            burst_bytes,
            ms(burst_time)
        );
        drop(room);
    }
}
