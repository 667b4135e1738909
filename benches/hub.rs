//! Micro-benchmarks of the hub: output through parse + broadcast with 0, 10 and 1000
//! subscribers, and the join snapshot of a full 200x60 screen of coloured text.
//!
//! `cargo bench --bench hub`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use npair::hub::Hub;
use npair::size::Size;

/// Coloured text as tmux draws it: positioned rows, colour changes every few cells.
fn coloured_screen(cols: u16, rows: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for r in 0..rows {
        out.extend_from_slice(format!("\x1b[{};1H", r + 1).as_bytes());
        for c in 0..cols {
            if c % 8 == 0 {
                out.extend_from_slice(format!("\x1b[38;5;{}m", (r * 7 + c) % 256).as_bytes());
            }
            out.push(b'a' + (c % 26) as u8);
        }
    }
    out.extend_from_slice(b"\x1b[m");
    out
}

fn throughput(c: &mut Criterion) {
    let chunk = coloured_screen(120, 40);
    let mut g = c.benchmark_group("process");
    g.throughput(Throughput::Bytes(chunk.len() as u64));
    for subscribers in [0usize, 10, 1000] {
        g.bench_with_input(
            BenchmarkId::from_parameter(subscribers),
            &subscribers,
            |b, &n| {
                let hub = Hub::new(Size::new(120, 40));
                let mut subs: Vec<_> = (0..n).map(|_| hub.subscribe().events).collect();
                b.iter(|| {
                    hub.process(black_box(&chunk));
                    // Subscribers keep up, as a live guest would.
                    for s in &mut subs {
                        let _ = s.try_recv();
                    }
                });
            },
        );
    }
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let hub = Hub::new(Size::new(200, 60));
    hub.process(&coloured_screen(200, 60));
    c.bench_function("snapshot 200x60 coloured", |b| {
        b.iter(|| black_box(hub.subscribe().snapshot.len()))
    });
}

criterion_group!(benches, throughput, snapshot);
criterion_main!(benches);
