//! A private sshd whose keys run `tmux attach` on the bench's tmux server (as in
//! benches/share.rs), tuned to let a crowd in: MaxStartups raised from 10:30:100.

use std::path::Path;
use std::process::Child;
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
        let (child, dir, port) = crate::private_sshd::start(socket, session, "2000:30:2000");
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
        for pid in crate::gauge::tree(self.child.id()).into_iter().rev() {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}
