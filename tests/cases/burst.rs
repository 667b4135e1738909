//! A burst: a class pasting the command in the same second. Every guest that keeps talking gets
//! in, however many arrive at once, while connections that stall before logging in are still
//! closed.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::util::client::{self, runtime};
use crate::util::*;

/// Guests arriving at once, and the loopback addresses they come from (127.0.0.2 onwards):
/// well past npair's 64 places for connections not yet logged in, under 16 per address.
const GUESTS: usize = 150;
const GUEST_ADDRS: usize = 10;
/// An idle half-open flood that arrived first: connections that never send a byte, holding
/// every one of those places (16 from each of four addresses).
const FLOOD: usize = 64;

fn idle_connection(ip: [u8; 4], port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

/// Whether npair has closed `s` (end of stream or reset; a timeout is still open).
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    // Bounded: whatever npair sent before closing is at most a version line.
    for _ in 0..8 {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
    false
}

#[test]
fn a_class_joining_in_the_same_instant_all_get_in_while_an_idle_flood_is_dropped() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    tmux.send("fun", &["clear; echo BURST-$((100+50))", "Enter"]);
    tmux.wait_pane("fun", "the marker", |t| t.contains("BURST-150"));

    // The flood first, from addresses of its own: it holds every place before the class
    // arrives (two descriptors each in npair: the socket and the handle that cuts it).
    let before = client::usage(np.pid());
    let mut flood: Vec<TcpStream> = (0..FLOOD)
        .map(|i| idle_connection([127, 0, 0, 200 + (i % 4) as u8], np.port()))
        .collect();
    wait_until("npair to hold the flood", || {
        let now = client::usage(np.pid());
        if now.fds >= before.fds + 2 * FLOOD {
            Ok(())
        } else {
            Err(format!("{now:?} (before the flood {before:?})"))
        }
    });

    let rt = runtime(2);
    let (port, ro) = (np.port(), np.ro());
    let joined: Vec<Result<client::Guest, String>> = rt.block_on(async {
        let joins = (0..GUESTS).map(|i| {
            let from = IpAddr::from([127, 0, 0, 2 + (i % GUEST_ADDRS) as u8]);
            let ro = ro.clone();
            async move { client::join(port, &ro, Some(from), 80, 24).await }
        });
        futures_util::future::join_all(joins).await
    });
    let refused: Vec<&String> = joined.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        refused.is_empty(),
        "{} of {GUESTS} guests did not get in, e.g. {:?}",
        refused.len(),
        refused.first()
    );
    let guests: Vec<client::Guest> = joined.into_iter().map(Result::unwrap).collect();
    wait_until("every guest of the burst to show the session", || {
        let behind = guests
            .iter()
            .filter(|g| !g.seen.text().contains("BURST-150"))
            .count();
        if behind == 0 {
            Ok(())
        } else {
            Err(format!("{behind} guests do not show the marker yet"))
        }
    });

    // The class could only get in through the places the stalled flood held: npair closed it.
    wait_until("npair to close every idle connection of the flood", || {
        let open = flood.iter_mut().map(closed).filter(|c| !c).count();
        if open == 0 {
            Ok(())
        } else {
            Err(format!("{open} of {FLOOD} still open"))
        }
    });
    assert!(guests.iter().all(|g| !g.handle.is_closed()));
}
