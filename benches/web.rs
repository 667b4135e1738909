//! The web viewer's frame latency and memory: the host types a key in npair's own terminal
//! (attached mode, in a pty), and the page in headless Chromium timestamps the DOM change.
//! Measured with 0, 10, 200 and 1,000 other viewers connected (WebSocket clients that keep
//! reading). npair lets at most 256 open connections come from one address (a room behind one
//! NAT); the benchmark's viewers come from several loopback addresses, [`PER_ADDRESS`] each,
//! so the product's cap stays as it is.
//!
//! `cargo bench --bench web` (needs tmux and chromium)

// The tests' harness; this bench uses a part of it, so the rest is dead code here.
#[allow(dead_code)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use util::browser::Browser;
use util::client::usage;
use util::{Term, Tmux};

/// Keystrokes per row: enough that p99 is not just the slowest one.
const SAMPLES: usize = 200;
/// Viewers per loopback source address, under npair's per-address cap of open connections.
const PER_ADDRESS: usize = 200;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Records, in the page, when the number of 'Q's on the screen changes.
const OBSERVE: &str = r#"(() => {
  window.__lat = [];
  const el = document.getElementById('screen');
  const count = () => (el.textContent.match(/Q/g) || []).length;
  let last = count();
  new MutationObserver(() => {
    const c = count();
    if (c !== last) { last = c; window.__lat.push([c, performance.timeOrigin + performance.now()]); }
  }).observe(el, { subtree: true, childList: true, characterData: true });
  return last;
})()"#;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe bench targets
    }
    println!("web viewer: host keystroke -> page DOM update, {SAMPLES} keystrokes per row, idle gaps of 100-150 ms");
    println!(
        "{:>8} {:>8} {:>8} {:>8} {:>16} {:>14}",
        "viewers", "p50 ms", "p99 ms", "max ms", "npair RSS KiB", "KiB/viewer"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for extra in [0usize, 10, 200, 1000] {
        let tmux = Tmux::new();
        tmux.new_session("bench", 100, 30);
        let host = Term::host_with(&tmux, "bench", 100, 30, &["--web", "127.0.0.1:0"]);
        let info = host.json();
        host.wait_text("$");
        let url = info["web_url"].as_str().unwrap().to_owned();
        let pid = host.pid();

        let idle = usage(pid).rss_kib;
        let ws_url = format!("{url}/ws").replacen("http://", "ws://", 1);
        let viewers: Vec<_> = rt.block_on(async {
            let mut v = Vec::new();
            let port: u16 = url
                .rsplit(':')
                .next()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            for i in 0..extra {
                // 127.0.0.2, .3, ...: PER_ADDRESS viewers from each.
                let from = std::net::Ipv4Addr::new(127, 0, 0, 2 + (i / PER_ADDRESS) as u8);
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.bind((from, 0).into()).unwrap();
                let tcp = sock.connect(([127, 0, 0, 1], port).into()).await.unwrap();
                let (ws, _) = tokio_tungstenite::client_async(ws_url.as_str(), tcp)
                    .await
                    .unwrap();
                // Each viewer keeps reading, as a browser would.
                v.push(tokio::spawn(ws.for_each(|_| async {})));
            }
            v
        });
        std::thread::sleep(Duration::from_millis(500));
        let with = usage(pid).rss_kib;

        let mut page = Browser::open(&url, 1200, 800);
        page.wait_for("live", "document.getElementById('state').className", |v| {
            v == "live"
        });
        let base = page.eval(OBSERVE).as_u64().unwrap() as usize;
        let mut lat = Vec::new();
        let mut host = host;
        for i in 1..=SAMPLES {
            let t0 = now_ms();
            host.type_str("Q");
            let seen = page.wait_for(
                "the keystroke",
                &format!(
                    "(window.__lat.find((e) => e[0] === {}) || [])[1] || 0",
                    base + i
                ),
                |v| v.as_f64().unwrap_or(0.0) > 0.0,
            );
            lat.push(seen.as_f64().unwrap() - t0);
            std::thread::sleep(Duration::from_millis(100 + (i as u64 * 7) % 50));
        }
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let per_viewer = if extra > 0 {
            format!("{}", with.saturating_sub(idle) / extra as u64)
        } else {
            "-".into()
        };
        println!(
            "{:>8} {:>8.1} {:>8.1} {:>8.1} {:>16} {:>14}",
            extra,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat[lat.len() - 1],
            with,
            per_viewer
        );
        for v in viewers {
            v.abort();
        }
        host.type_str("\x15"); // C-u: clear the typed line
    }
}
