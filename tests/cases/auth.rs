//! Authentication under attack: a flood of connections that never authenticate does not lock
//! real guests out, and leaves nothing behind.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use crate::util::client::{idle_usage, usage, wait_back_to};
use crate::util::*;

/// Connections the flood opens from each of its addresses, and its addresses
/// (127.0.0.1 and 127.0.0.10 onwards): well past npair's caps in all and per address.
const FLOOD_PER_ADDR: usize = 40;
const FLOOD_ADDRS: u8 = 8;

fn connect_from(ip: [u8; 4], port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    sock.into()
}

#[test]
fn a_flood_of_half_open_connections_does_not_lock_out_real_guests() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let idle = idle_usage(&np);

    // Connections that send nothing, or only a version line, and then wait: each holds a place
    // among the unauthenticated until npair cuts it.
    let mut flood = Vec::new();
    for a in 0..FLOOD_ADDRS {
        let ip = if a == 0 {
            [127, 0, 0, 1]
        } else {
            [127, 0, 0, 9 + a]
        };
        for i in 0..FLOOD_PER_ADDR {
            let mut s = connect_from(ip, np.port());
            if i % 2 == 1 {
                let _ = s.write_all(b"SSH-2.0-flood\r\n");
            }
            flood.push(s);
        }
    }

    // A guest from another address gets in, and so does one from the flood's own address
    // (it authenticates, then its command is refused: exit 1, not 255).
    for from in ["127.0.0.2", "127.0.0.1"] {
        let mut args = ssh_options(np.port());
        args.extend(["-b".to_owned(), from.to_owned()]);
        args.push(format!("{}@127.0.0.1", np.rw()));
        args.push("true".to_owned());
        let out = ssh_run("ssh", &args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "a guest from {from} during the flood: {}",
            stderr(&out)
        );
    }
    let mut guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("$");
    guest.type_str("echo in-$((6*7))\r");
    guest.wait_text("in-42");

    let during = usage(np.pid());
    eprintln!(
        "half-open flood of {} connections: npair held {} fds (idle {}); guests got in",
        flood.len(),
        during.fds,
        idle.fds
    );
    // npair keeps at most its caps of them, served and queued (two fds each: the socket and
    // the handle that cuts it), plus the guest: past them, the rest were pushed out.
    let cap = npair::ssh::MAX_UNAUTHENTICATED + npair::ssh::MAX_QUEUED;
    assert!(
        during.fds <= idle.fds + 2 * cap + 4,
        "npair holds {} fds during the flood (idle {})",
        during.fds,
        idle.fds
    );
    drop(flood);
    drop(guest);
    let after = wait_back_to(np.pid(), idle);
    eprintln!("after the flood: {after:?} (idle {idle:?})");
}
