//! Join time through a jump box versus direct, on loopback: from starting a guest's `ssh` to
//! its screen showing the session's prompt. Three paths, interleaved, fresh guests each time:
//! direct to npair; through a jump box that allows remote binding (`ssh -p PORT TOKEN@JUMP`);
//! through one that does not (`ssh -J JUMP -p PORT TOKEN@localhost`). Runs as root (a private
//! network namespace and a private sshd, as in the tests).
//!
//! `cargo bench --bench via`

// The tests' harness; this bench uses a part of it, so the rest is dead code here.
#[allow(dead_code)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::time::Instant;

use util::jump::{JumpBox, NetNs};
use util::{Npair, Term, Tmux};

const ROUNDS: usize = 10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let ns = NetNs::new();
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut results = Vec::new();
    for gateway_ports in [true, false] {
        let jb = JumpBox::start(
            &ns,
            &tmux.path().join(format!("gp-{gateway_ports}")),
            gateway_ports,
            true,
        );
        let np = Npair::spawn(jb.npair_command(&ns, &tmux, &["fun", "--headless", "--json"]));
        let via_cmd = np.info["rw_command"].as_str().unwrap().to_owned();
        let direct_cmd = np.info["via"]["lan_rw_command"]
            .as_str()
            .unwrap()
            .to_owned();
        let join = |printed: &str| {
            let cmd = jb.guest_command(&ns, printed);
            let t0 = Instant::now();
            let guest = Term::spawn(cmd, 80, 24);
            guest.time_until_text("$", t0).as_secs_f64() * 1000.0
        };
        let (mut direct, mut via) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            direct.push(join(&direct_cmd));
            via.push(join(&via_cmd));
        }
        let label = if gateway_ports {
            "jump box, GatewayPorts on (ssh -p PORT TOKEN@JUMP)"
        } else {
            "jump box, GatewayPorts off (ssh -J JUMP ... TOKEN@localhost)"
        };
        results.push((label, median(direct), median(via)));
    }
    println!(
        "join time, start of ssh to the session's prompt on screen, median of {ROUNDS} (loopback)"
    );
    println!(
        "{:<62} {:>10} {:>10} {:>7}",
        "path", "direct ms", "via ms", "ratio"
    );
    for (label, d, v) in results {
        println!("{label:<62} {d:>10.1} {v:>10.1} {:>6.2}x", v / d);
    }
}
