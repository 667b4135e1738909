//! Listening addresses: IPv6, several at once.

use crate::util::*;

#[test]
fn guests_join_over_ipv6_and_ipv4_listeners_at_once() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(
        &tmux,
        "fun",
        &["--listen", "[::1]:0", "--listen", "127.0.0.1:0"],
    );
    assert_eq!(np.info["ssh_host"], "::1");
    let listen: Vec<std::net::SocketAddr> = np.info["listen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(listen.len(), 2);
    assert!(listen[0].is_ipv6() && listen[1].is_ipv4());
    assert_eq!(
        np.info["rw_command"],
        format!("ssh -p {} {}@::1", listen[0].port(), np.rw())
    );

    let mut v6 = Term::guest_at("::1", listen[0].port(), &np.rw(), 80, 24);
    let v4 = Term::guest_at("127.0.0.1", listen[1].port(), &np.ro(), 80, 24);
    v6.wait_text("$");
    v6.type_str("echo over-v6-$((3*3))\r");
    v4.wait_text("over-v6-9");
    np.wait_stderr("joined from [::1]:");
}
