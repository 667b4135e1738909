//! What a hostile or broken client can send, through the russh client where OpenSSH would
//! refuse to: absurd window sizes and terminal names, extra channels, garbage bytes.

use std::io::Write;
use std::time::Duration;

use crate::util::client as guest;
use crate::util::*;

fn runtime() -> tokio::runtime::Runtime {
    guest::runtime(1)
}

#[test]
fn hostile_window_sizes_are_clamped_or_ignored_and_the_session_goes_on() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let rt = runtime();
    let (h, _) = rt
        .block_on(guest::connect(np.port(), &np.rw(), None))
        .expect("connect");
    let ch = rt.block_on(async {
        let ch = h.channel_open_session().await.unwrap();
        let absurd_term = "x".repeat(20_000);
        ch.request_pty(false, &absurd_term, 0, 0, 0, 0, &[])
            .await
            .unwrap();
        ch.request_shell(false).await.unwrap();
        ch
    });
    // 0x0 is no size (RFC 4254 §6.2): the guest does not vote, and the session keeps its size.
    let no_vote = "80x24";
    tmux.wait_client_size(no_vote);
    for (c, r, want) in [
        (u32::MAX, u32::MAX, "80x24"),
        (10_000, 10_000, "80x24"),
        // A tiny terminal votes for the floor (20x5), not below it.
        (1, 1, "20x5"),
        (60, 2, "60x5"),
        (0, 0, no_vote),
        (1, 1, "20x5"),
        (u32::MAX, 0, no_vote),
        (0, 40, no_vote),
        (70, 20, "70x20"),
    ] {
        rt.block_on(ch.window_change(c, r, u32::MAX, u32::MAX))
            .unwrap();
        tmux.wait_client_size(want);
    }
    rt.block_on(ch.window_change(80, 24, 0, 0)).unwrap();
    tmux.wait_client_size("80x24");

    // Everyone else is served throughout.
    let mut guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("$");
    guest.type_str("echo fine-$((40+2))\r");
    guest.wait_text("fine-42");
    drop(ch);
    drop(h);
}

#[test]
fn extra_session_channels_on_one_connection_are_refused() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let rt = runtime();
    rt.block_on(async {
        let (h, _) = guest::connect(np.port(), &np.ro(), None)
            .await
            .expect("connect");
        let first = h.channel_open_session().await;
        assert!(first.is_ok());
        for _ in 0..5 {
            let more = tokio::time::timeout(DEADLINE, h.channel_open_session())
                .await
                .unwrap();
            assert!(more.is_err(), "a second session channel was opened");
        }
        // Forwarding channels are refused too.
        let fwd = tokio::time::timeout(
            DEADLINE,
            h.channel_open_direct_tcpip("127.0.0.1", u32::from(np.port()), "127.0.0.1", 1),
        )
        .await
        .unwrap();
        assert!(fwd.is_err(), "a direct-tcpip channel was opened");
    });
    let guest = Term::guest(np.port(), &np.ro(), 80, 24);
    guest.wait_text("$");
}

#[test]
fn garbage_on_the_ssh_port_harms_no_one() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut np = Npair::start(&tmux, "fun", &[]);
    let garbage: Vec<u8> = (0..65_536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let inputs: [&[u8]; 4] = [
        &garbage,
        b"SSH-2.0-",                          // a truncated version line, then silence
        b"SSH-2.0-x\r\n\x00\x00\xff\xff\x14", // a version, then a packet that claims 64 KiB
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    let mut open = Vec::new();
    for bytes in inputs {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", np.port())).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(bytes);
        open.push(s); // left open: a stalled peer
    }
    let mut guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("$");
    guest.type_str("echo survived\r");
    guest.wait_text("survived");
    assert!(np.running());
}
