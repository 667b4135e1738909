//! A private sshd whose keys run `tmux attach` on the bench's tmux server (as in
//! benches/share.rs), tuned to let a crowd in: MaxStartups raised from 10:30:100.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use portable_pty::CommandBuilder;
use russh::keys::PrivateKey;

use crate::util::{self, Term};

pub struct Sshd {
    pub child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Sshd {
    pub fn start(socket: &Path, session: &str) -> Sshd {
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
                 MaxStartups 2000:30:2000\nMaxSessions 10\n",
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
        Sshd { child, dir, port }
    }

    /// The read-only key, for the russh crowd.
    pub fn ro_key(&self) -> Arc<PrivateKey> {
        Arc::new(russh::keys::load_secret_key(self.dir.path().join("ro"), None).unwrap())
    }

    /// A real OpenSSH guest from `from`.
    pub fn guest(&self, rw: bool, from: &str) -> Term {
        let mut cmd = CommandBuilder::new("ssh");
        cmd.args(util::interactive_ssh_options(self.port));
        cmd.args(["-tt", "-b", from, "-i"]);
        cmd.arg(self.dir.path().join(if rw { "rw" } else { "ro" }));
        cmd.arg("root@127.0.0.1");
        Term::spawn(cmd, 80, 24)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for pid in crate::measure::tree(self.child.id()).into_iter().rev() {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}
