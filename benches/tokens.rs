//! `Tokens::check` takes the same time whatever part of a guess is right: a guess that shares
//! all but the last character of the read-write token against one that differs from the first.
//! Criterion times both; then an interleaved run prints their ratio (1.00 is constant time).
//!
//! `cargo bench --bench tokens`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use npair::tokens::Tokens;

/// The read-write token with one character changed at `at`.
fn near(token: &str, at: usize) -> String {
    let mut b = token.as_bytes().to_vec();
    b[at] = if b[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap()
}

fn guesses() -> (Tokens, String, String) {
    let t = Tokens::generate(false);
    let rw = t.current().rw.expect("a read-write token");
    let right_prefix = near(&rw, rw.len() - 1);
    let wrong_prefix = near(&rw, 0);
    (t, right_prefix, wrong_prefix)
}

fn compare(c: &mut Criterion) {
    let (t, right_prefix, wrong_prefix) = guesses();
    let mut g = c.benchmark_group("check");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("right_prefix", |b| {
        b.iter(|| t.check(black_box(&right_prefix)))
    });
    g.bench_function("wrong_prefix", |b| {
        b.iter(|| t.check(black_box(&wrong_prefix)))
    });
    g.finish();

    // Interleaved rounds, so that drift in the machine's speed hits both alike.
    const ROUNDS: usize = 50;
    const PER_ROUND: usize = 20_000;
    let (mut right, mut wrong) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS {
        for (guess, total) in [(&right_prefix, &mut right), (&wrong_prefix, &mut wrong)] {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                black_box(t.check(black_box(guess)));
            }
            *total += start.elapsed();
        }
    }
    let n = (ROUNDS * PER_ROUND) as f64;
    println!(
        "Tokens::check: right prefix {:.1} ns, wrong prefix {:.1} ns, ratio {:.3}",
        right.as_nanos() as f64 / n,
        wrong.as_nanos() as f64 / n,
        right.as_secs_f64() / wrong.as_secs_f64()
    );
}

criterion_group!(benches, compare);
criterion_main!(benches);
