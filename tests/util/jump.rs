//! A jump box for the `--via` tests: a private OpenSSH server with its own config, keys and
//! port, started from a temp dir (never the machine's own sshd), inside a private network
//! namespace that holds only loopback. Everything the tests run for these stories (sshd,
//! npair, guests) runs in that namespace, so a jump box that binds forwards on 0.0.0.0
//! (GatewayPorts) binds them on the namespace's loopback, never on this machine's network.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{stdout, wait_until, Npair, Tmux};

/// A network namespace with only loopback, alive as long as its holder process.
pub struct NetNs {
    holder: Child,
}

impl NetNs {
    pub fn new() -> NetNs {
        let holder = Command::new("unshare")
            .args(["-n", "--", "sleep", "3600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux) is needed for the jump box tests");
        let ns = NetNs { holder };
        let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
        wait_until("the network namespace", || {
            match std::fs::read_link(format!("/proc/{}/ns/net", ns.pid())) {
                Ok(l) if l != mine => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        let up = ns
            .command("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(
            up.success(),
            "cannot bring up loopback in the namespace (are we root?)"
        );
        ns
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.pid().to_string(), "-n", "--", program]);
        cmd
    }

    /// `cmd` run inside the namespace: the same program, arguments, environment and directory.
    pub fn enter(&self, cmd: Command) -> Command {
        let mut inside = self.command(cmd.get_program().to_str().unwrap());
        inside.args(cmd.get_args());
        for (name, value) in cmd.get_envs() {
            match value {
                Some(v) => inside.env(name, v),
                None => inside.env_remove(name),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            inside.current_dir(dir);
        }
        inside
    }

    /// The same, for a pty (portable-pty).
    pub fn pty_command(&self, program: &str) -> portable_pty::CommandBuilder {
        let mut cmd = portable_pty::CommandBuilder::new("nsenter");
        cmd.args(["-t", &self.pid().to_string(), "-n", "--", program]);
        cmd
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The jump box's sshd, listening on 127.0.0.2:2200 inside `ns`.
pub struct JumpBox {
    sshd: Child,
    pub dir: PathBuf,
    /// `root@127.0.0.2:2200` (the tests run as root, as CI does).
    pub spec: String,
}

pub const JUMP_HOST: &str = "127.0.0.2";
pub const JUMP_PORT: u16 = 2200;

pub fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

impl JumpBox {
    /// `gateway_ports`: sshd's GatewayPorts; `forwarding`: AllowTcpForwarding.
    pub fn start(ns: &NetNs, dir: &Path, gateway_ports: bool, forwarding: bool) -> JumpBox {
        let dir = dir.join("jump");
        std::fs::create_dir_all(&dir).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("id"));
        std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
        let config = format!(
            "ListenAddress {JUMP_HOST}:{JUMP_PORT}\nHostKey {d}/host_key\nPidFile none\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nAllowTcpForwarding {}\nGatewayPorts {}\n",
            if forwarding { "yes" } else { "no" },
            if gateway_ports { "yes" } else { "no" },
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        // The client side: the key, and known_hosts in the temp dir.
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {d}/id\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking accept-new\n  LogLevel ERROR\n",
                d = dir.display()
            ),
        )
        .unwrap();
        // npair runs `ssh` from PATH: this one reads the test's config, as a user's would.
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let wrapper = bin.join("ssh");
        // By absolute path: a bare `ssh` here would find this wrapper again.
        let real = Command::new("sh")
            .args(["-c", "command -v ssh"])
            .output()
            .unwrap();
        let real = stdout(&real).trim().to_owned();
        assert!(real.starts_with('/'), "ssh not found on PATH");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec '{real}' -F '{}/ssh_config' \"$@\"\n",
                dir.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

        // sshd wants /run/sshd (privilege separation): a private /run in a private mount namespace.
        let script = format!(
            "mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec $(command -v sshd || echo /usr/sbin/sshd) -D -e -f '{}/sshd_config'",
            dir.display()
        );
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let sshd = ns
            .command("unshare")
            .args(["-m", "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("unshare");
        let jb = JumpBox {
            sshd,
            dir,
            spec: format!("root@{JUMP_HOST}:{JUMP_PORT}"),
        };
        wait_until("the jump box's sshd to listen", || {
            let out = ns.command("ss").args(["-ltn"]).output().unwrap();
            let s = stdout(&out);
            if s.contains(&format!("{JUMP_HOST}:{JUMP_PORT}")) {
                Ok(())
            } else {
                Err(format!(
                    "{s}\nsshd log: {}",
                    std::fs::read_to_string(jb.dir.join("sshd.log")).unwrap_or_default()
                ))
            }
        });
        jb
    }

    /// PATH for npair, with the `ssh` that uses this jump box's client config first.
    pub fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// `npair share ARGS...` inside `ns` as the tests run it (`Npair::command`), with this jump
    /// box's `ssh` first on PATH, through this jump box unless ARGS name another `--via`.
    pub fn npair_command(&self, ns: &NetNs, tmux: &Tmux, args: &[&str]) -> Command {
        let mut args = args.to_vec();
        if !args.contains(&"--via") {
            args.extend(["--via", &self.spec]);
        }
        let mut cmd = ns.enter(Npair::command(tmux, &args));
        cmd.env("PATH", self.path());
        cmd
    }

    /// A guest's command: what npair printed (`ssh ...`), run in `ns` with this jump box's
    /// client config (its key and known_hosts), in a terminal (`-tt`).
    pub fn guest_command(&self, ns: &NetNs, printed: &str) -> portable_pty::CommandBuilder {
        let mut words = printed.split_whitespace();
        assert_eq!(words.next(), Some("ssh"), "{printed}");
        let mut cmd = ns.pty_command("ssh");
        cmd.arg("-F");
        cmd.arg(self.ssh_config());
        cmd.arg("-tt");
        cmd.args(words);
        cmd
    }
}

impl Drop for JumpBox {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}
