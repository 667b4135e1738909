//! A private sshd for the benches' comparisons: two keys that run `tmux attach` on a bench's tmux
//! server (read-write, and `-r`), in a private mount namespace (its own `/run/sshd`), so the
//! machine's own sshd and its files are never touched.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::util;

/// Starts sshd on 127.0.0.1 with `MaxStartups max_startups`; the keys `rw` and `ro` are in the
/// returned directory. Returns its process, its directory and its port.
pub fn start(socket: &Path, session: &str, max_startups: &str) -> (Child, tempfile::TempDir, u16) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for k in ["host", "rw", "ro"] {
        util::jump::keygen(&d.join(k));
    }
    let line = |key: &str, ro: &str| {
        let pubkey = std::fs::read_to_string(d.join(format!("{key}.pub"))).unwrap();
        format!(
            "command=\"tmux -S {} attach-session {ro}-t ={session}\",no-port-forwarding,no-agent-forwarding,no-X11-forwarding {}",
            socket.display(),
            pubkey.trim()
        )
    };
    std::fs::write(
        d.join("authorized_keys"),
        format!("{}\n{}\n", line("rw", ""), line("ro", "-r ")),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        d.join("sshd_config"),
        format!(
            "ListenAddress 127.0.0.1:{port}\nHostKey {d}/host\nPidFile none\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nPrintMotd no\nPrintLastLog no\nLogLevel ERROR\n\
             MaxStartups {max_startups}\nMaxSessions 10\n",
            d = d.display()
        ),
    )
    .unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f '{}/sshd_config'",
        d.display()
    );
    let child = Command::new("unshare")
        .args(["-m", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare");
    util::wait_until("the private sshd to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    (child, dir, port)
}
