//! The harness: a private tmux server, the npair binary started as a script would start it,
//! and guests that are real `ssh` clients in ptys whose screens are read back through vt100.
//! Everything is stopped in Drop; every wait has a deadline and says what it last saw.

pub mod browser;
pub mod client;
pub mod jump;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, MasterPty, PtySize};
use tempfile::TempDir;

/// How long any wait may take before the test fails and prints what it saw.
pub const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`, or panics with `what` and the last state seen.
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) if start.elapsed() > DEADLINE => {
                panic!("timed out waiting for {what}; last saw:\n{last}")
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Waits for a child process to exit, with the deadline.
pub fn wait_child(what: &str, child: &mut Child) -> ExitStatus {
    wait_until(&format!("{what} to exit"), || {
        child
            .try_wait()
            .unwrap()
            .ok_or_else(|| "still running".to_owned())
    })
}

/// Asserts that two screens have the same colours and boldness in every cell of
/// `rows` × `cols` (contents are compared by the callers, as text).
pub fn assert_same_colours(a: &vt100::Screen, b: &vt100::Screen, rows: u16, cols: u16) {
    for r in 0..rows {
        for c in 0..cols {
            let (x, y) = (a.cell(r, c).unwrap(), b.cell(r, c).unwrap());
            assert_eq!(
                (x.fgcolor(), x.bgcolor(), x.bold()),
                (y.fgcolor(), y.bgcolor(), y.bold()),
                "cell {r},{c} ({:?})",
                x.contents()
            );
        }
    }
}

/// The binary under test: this build's, or `NPAIR_BENCH_BIN` (to compare two builds in one
/// benchmark run, e.g. before and after a change).
pub fn npair_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("NPAIR_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_npair").to_owned())
    })
}

/// A private tmux server in a temp dir (`TMUX_TMPDIR`), with `TMUX` unset.
pub struct Tmux {
    pub dir: TempDir,
}

impl Tmux {
    pub fn new() -> Tmux {
        Tmux {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The test's own `$XDG_RUNTIME_DIR`, where npair puts its control sockets.
    pub fn runtime_dir(&self) -> std::path::PathBuf {
        self.path().join("run")
    }

    /// `npair ARGS...` (a subcommand such as `status`) against this test's shares, to run.
    pub fn npair_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(npair_bin());
        self.env(&mut cmd);
        cmd.args(args);
        cmd
    }

    /// Runs `npair ARGS...` against this test's shares.
    pub fn npair(&self, args: &[&str]) -> Output {
        run_npair(self.npair_command(args))
    }

    /// Runs `npair ARGS...`, asserts that it succeeded, and returns its stdout.
    pub fn npair_ok(&self, args: &[&str]) -> String {
        let out = self.npair(args);
        assert!(
            out.status.success(),
            "npair {args:?} failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// The environment every process of this test gets: the private server, no nesting.
    /// `None` removes the variable.
    fn env_vars(&self) -> [(&'static str, Option<std::ffi::OsString>); 7] {
        [
            ("TMUX_TMPDIR", Some(self.path().into())),
            ("XDG_CONFIG_HOME", Some(self.path().join("config").into())),
            ("XDG_RUNTIME_DIR", Some(self.runtime_dir().into())),
            ("TERM", Some("xterm-256color".into())),
            ("LANG", Some("C.UTF-8".into())),
            ("TMUX", None),
            ("TMUX_PANE", None),
        ]
    }

    /// Gives `cmd` this test's environment.
    pub fn env(&self, cmd: &mut Command) {
        for (name, value) in self.env_vars() {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
    }

    /// Gives a pty's `cmd` this test's environment.
    pub fn pty_env(&self, cmd: &mut CommandBuilder) {
        for (name, value) in self.env_vars() {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
    }

    /// `PROGRAM ARGS...` with this test's environment, as one line for a shell (the command of
    /// a pane of another tmux server: a terminal that is not the test's own pty).
    pub fn shell_line(&self, program: &str, args: &[std::ffi::OsString]) -> String {
        let quote =
            |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
        let mut line = vec!["env".to_owned()];
        let vars = self.env_vars();
        // `env` takes its -u options before the assignments.
        for (name, _) in vars.iter().filter(|(_, v)| v.is_none()) {
            line.extend(["-u".to_owned(), (*name).to_owned()]);
        }
        for (name, value) in vars {
            if let Some(v) = value {
                line.push(format!("{name}={}", quote(&v)));
            }
        }
        line.push(quote(program.as_ref()));
        line.extend(args.iter().map(|a| quote(a)));
        line.join(" ")
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        self.env(&mut cmd);
        cmd.arg("-f").arg("/dev/null");
        cmd
    }

    /// Runs a tmux command and returns its stdout; panics on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    /// A session running a plain shell with the prompt "$ ".
    pub fn new_session(&self, name: &str, cols: u16, rows: u16) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            "env PS1='$ ' sh",
        ]);
        self.wait_pane(name, "the prompt", |t| t.contains('$'));
    }

    pub fn has_session(&self, name: &str) -> bool {
        self.command()
            .args(["has-session", "-t", &format!("={name}")])
            .output()
            .unwrap()
            .status
            .success()
    }

    /// Types into a pane, as tmux send-keys.
    pub fn send(&self, target: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", target];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// The pane's text, trailing blanks trimmed per line.
    pub fn capture(&self, target: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", target])
    }

    /// The pane's text with colour escapes.
    pub fn capture_escapes(&self, target: &str) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", target])
    }

    pub fn wait_pane(&self, target: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_until(&format!("pane {target} to show {what}"), || {
            let t = self.capture(target);
            if pred(&t) {
                Ok(t)
            } else {
                Err(t)
            }
        })
    }

    /// Sizes of the clients attached to the server (npair's is the only one).
    pub fn client_sizes(&self) -> String {
        self.run(&["list-clients", "-F", "#{client_width}x#{client_height}"])
            .trim()
            .to_owned()
    }

    pub fn wait_client_size(&self, want: &str) {
        wait_until(&format!("the tmux client to be {want}"), || {
            let s = self.client_sizes();
            if s == want {
                Ok(())
            } else {
                Err(s)
            }
        })
    }

    /// (top, height) of each pane of the session's window, in order.
    pub fn panes(&self, name: &str) -> Vec<(usize, usize)> {
        self.run(&["list-panes", "-t", name, "-F", "#{pane_top} #{pane_height}"])
            .lines()
            .map(|l| {
                let mut it = l.split(' ').map(|v| v.parse().unwrap());
                (it.next().unwrap(), it.next().unwrap())
            })
            .collect()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

/// A running `npair share --headless --json`.
pub struct Npair {
    child: Child,
    pub info: serde_json::Value,
    stderr: Arc<Mutex<String>>,
}

/// `npair share ARGS...` with this harness's defaults for what ARGS leave out: the test's own host
/// key, loopback only (never npair's default, which listens on every interface), no web viewer.
/// Every way of starting a share in these tests builds on this.
pub fn share_args(tmux: &Tmux, args: &[&str]) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = vec!["share".into()];
    v.extend(args.iter().map(Into::into));
    if !args.contains(&"--host-key") {
        v.push("--host-key".into());
        v.push(tmux.path().join("host_ed25519").into());
    }
    if !args.contains(&"--listen") {
        v.extend(["--listen".into(), "127.0.0.1:0".into()]);
    }
    if !args.contains(&"--web") && !args.contains(&"--no-web") {
        v.push("--no-web".into());
    }
    v
}

/// How a script runs npair, and how most tests do: no terminal, the connection details as a
/// JSON line on stdout.
const SCRIPTED: [&str; 2] = ["--headless", "--json"];

impl Npair {
    /// `npair share ARGS...` as these tests run it (see `share_args`), to run or spawn.
    pub fn command(tmux: &Tmux, args: &[&str]) -> Command {
        let mut cmd = Command::new(npair_bin());
        tmux.env(&mut cmd);
        cmd.args(share_args(tmux, args));
        cmd
    }

    /// Starts `npair share SESSION --headless --json EXTRA...` and waits for its JSON line.
    pub fn start(tmux: &Tmux, session: &str, extra: &[&str]) -> Npair {
        let mut args = vec![session];
        args.extend(SCRIPTED);
        args.extend_from_slice(extra);
        Npair::spawn(Npair::command(tmux, &args))
    }

    /// The same with the web viewer on, on loopback port 0.
    pub fn start_web(tmux: &Tmux, session: &str) -> Npair {
        Npair::start(tmux, session, &["--web", "127.0.0.1:0"])
    }

    /// Starts `npair share --headless --json EXTRA...` (no session named) in directory `dir`.
    pub fn start_in(tmux: &Tmux, dir: &Path, extra: &[&str]) -> Npair {
        let mut args = SCRIPTED.to_vec();
        args.extend_from_slice(extra);
        let mut cmd = Npair::command(tmux, &args);
        cmd.current_dir(dir);
        Npair::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Npair {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start npair");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let sink = Arc::clone(&stderr);
            let mut pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_default();
        let info = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!(
                "npair printed no JSON line ({e}): {line:?}\nstderr: {}",
                stderr.lock().unwrap()
            )
        });
        Npair {
            child,
            info,
            stderr,
        }
    }

    pub fn port(&self) -> u16 {
        self.info["ssh_port"].as_u64().unwrap() as u16
    }

    pub fn rw(&self) -> String {
        self.info["rw_token"].as_str().unwrap().to_owned()
    }

    pub fn ro(&self) -> String {
        self.info["ro_token"].as_str().unwrap().to_owned()
    }

    /// The web viewer's address, `http://127.0.0.1:PORT/ro-TOKEN` (a share with `--web`).
    pub fn web_url(&self) -> String {
        self.info["web_url"].as_str().expect("web_url").to_owned()
    }

    /// The web viewer's port (served over HTTP or HTTPS).
    pub fn web_port(&self) -> u16 {
        let url = self.web_url();
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .or_else(|| url.strip_prefix("https://127.0.0.1:"))
            .expect("a loopback web_url");
        rest.split('/').next().unwrap().parse().unwrap()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn wait_stderr(&self, what: &str) -> String {
        wait_until(&format!("npair's stderr to say {what:?}"), || {
            let s = self.stderr();
            if s.contains(what) {
                Ok(s)
            } else {
                Err(s)
            }
        })
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_child("npair", &mut self.child)
    }
}

impl Drop for Npair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished process printed on stdout, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What a finished process printed on stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that a finished process said `text` on stderr; shows all it said if not.
pub fn assert_stderr_has(out: &Output, text: &str) {
    let said = stderr(out);
    assert!(said.contains(text), "no {text:?} in stderr:\n{said}");
}

/// The guests `npair status --json` lists.
pub fn guests(tmux: &Tmux) -> Vec<serde_json::Value> {
    let out = tmux.npair_ok(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["guests"].as_array().unwrap().clone()
}

/// Waits until `npair status --json` lists `n` guests, and returns them.
pub fn wait_guests(tmux: &Tmux, n: usize) -> Vec<serde_json::Value> {
    wait_until(&format!("{n} guests in npair status"), || {
        let g = guests(tmux);
        if g.len() == n {
            Ok(g)
        } else {
            Err(format!("{g:#?}"))
        }
    })
}

/// A guest's id as `npair kick` takes it.
pub fn id_of(g: &serde_json::Value) -> String {
    g["id"].as_u64().unwrap().to_string()
}

/// A plain HTTP/1.1 GET of `url` (`http://HOST:PORT/PATH`), with the deadline:
/// (status, headers lowercased, body).
pub fn http_get(url: &str) -> (u16, String, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_owned())
}

/// Runs npair to completion (for errors) with a deadline.
pub fn run_npair(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_child("npair", &mut child);
    child.wait_with_output().unwrap()
}

/// OpenSSH client options for a test: no user config, no known_hosts, quiet, never a prompt.
pub fn ssh_options(port: u16) -> Vec<String> {
    let mut options = interactive_ssh_options(port);
    options.extend(["-o", "BatchMode=yes"].map(str::to_owned));
    options.extend(["-o", "ConnectTimeout=10"].map(str::to_owned));
    options
}

/// The same, as a person would run ssh (no `BatchMode`): what an interactive guest sees.
pub fn interactive_ssh_options(port: u16) -> Vec<String> {
    [
        "-F",
        "/dev/null",
        "-p",
        &port.to_string(),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs `ssh` (or `sftp` etc.) without a terminal, to completion, with a deadline.
pub fn ssh_run(program: &str, args: &[String]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_child(program, &mut child);
    child.wait_with_output().unwrap()
}

fn nz(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap()
}

/// A program in its own pty, its screen read into vt100: a guest's `ssh`, or npair itself in
/// attached mode playing the host's terminal.
pub struct Term {
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    pub screen: Arc<Mutex<vt100::Parser>>,
    /// Everything the guest received, for messages printed after the screen is left.
    pub raw: Arc<Mutex<Vec<u8>>>,
    /// When each chunk arrived, and the length of `raw` after it (for latency benchmarks).
    #[allow(dead_code)] // read by benches/share.rs only: no test times output
    pub stamps: Arc<Mutex<Vec<(std::time::Instant, usize)>>>,
    /// Set when everything the program wrote has been read (the pty's end reached).
    drained: Arc<std::sync::atomic::AtomicBool>,
}

impl Term {
    /// A guest: a real `ssh -tt TOKEN@127.0.0.1 -p PORT`.
    pub fn guest(port: u16, token: &str, cols: u16, rows: u16) -> Term {
        Term::guest_at("127.0.0.1", port, token, cols, rows)
    }

    /// A guest of the server at `host` (an IPv4 or IPv6 loopback address).
    pub fn guest_at(host: &str, port: u16, token: &str, cols: u16, rows: u16) -> Term {
        let mut cmd = CommandBuilder::new("ssh");
        cmd.args(ssh_options(port));
        cmd.arg("-tt");
        cmd.arg(format!("{token}@{host}"));
        Term::spawn(cmd, cols, rows)
    }

    /// A guest with more `ssh` options (a key, say).
    pub fn guest_with(port: u16, token: &str, cols: u16, rows: u16, options: &[&str]) -> Term {
        let mut cmd = CommandBuilder::new("ssh");
        cmd.args(ssh_options(port));
        cmd.args(options);
        cmd.arg("-tt");
        cmd.arg(format!("{token}@127.0.0.1"));
        Term::spawn(cmd, cols, rows)
    }

    /// The host: `npair share SESSION --json` attached to this terminal, against the test's
    /// tmux server.
    pub fn host(tmux: &Tmux, session: &str, cols: u16, rows: u16) -> Term {
        Term::host_with(tmux, session, cols, rows, &[])
    }

    /// The host, with more `npair share` options.
    pub fn host_with(tmux: &Tmux, session: &str, cols: u16, rows: u16, extra: &[&str]) -> Term {
        let mut args = vec![session, "--json"];
        args.extend_from_slice(extra);
        Term::spawn(Term::host_command(tmux, &args), cols, rows)
    }

    /// `npair share ARGS...` as these tests run it (see `share_args`), for a terminal.
    pub fn host_command(tmux: &Tmux, args: &[&str]) -> CommandBuilder {
        let mut cmd = CommandBuilder::new(npair_bin());
        cmd.args(share_args(tmux, args));
        tmux.pty_env(&mut cmd);
        cmd.cwd(tmux.path());
        cmd
    }

    pub fn spawn(mut cmd: CommandBuilder, cols: u16, rows: u16) -> Term {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let screen = Arc::new(Mutex::new(vt100::Parser::new(nz(rows), nz(cols), 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let stamps = Arc::new(Mutex::new(Vec::new()));
        let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, r, st) = (Arc::clone(&screen), Arc::clone(&raw), Arc::clone(&stamps));
        let d = Arc::clone(&drained);
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let at = std::time::Instant::now();
                let len = {
                    let mut r = r.lock().unwrap();
                    r.extend_from_slice(&buf[..n]);
                    r.len()
                };
                st.lock().unwrap().push((at, len));
                s.lock().unwrap().process(&buf[..n]);
            }
            d.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let writer = pair.master.take_writer().unwrap();
        Term {
            master: pair.master,
            writer,
            child,
            screen,
            raw,
            stamps,
            drained,
        }
    }

    /// The connection details from the JSON line npair printed first (attached host only).
    pub fn json(&self) -> serde_json::Value {
        wait_until("the JSON line", || {
            let raw = self.raw_text();
            let line = raw.lines().find(|l| l.starts_with('{')).map(str::to_owned);
            line.and_then(|l| serde_json::from_str(&l).ok()).ok_or(raw)
        })
    }

    /// Whether the terminal is in canonical (cooked) mode with echo, as a shell expects it.
    pub fn is_cooked(&self) -> bool {
        let fd = self.master.as_raw_fd().unwrap();
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        t.c_lflag & libc::ICANON != 0 && t.c_lflag & libc::ECHO != 0
    }

    pub fn text(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Row `r` of the guest's screen, trailing blanks trimmed.
    pub fn row(&self, r: u16) -> String {
        let p = self.screen.lock().unwrap();
        let (_, cols) = p.screen().size();
        let row = p
            .screen()
            .rows(0, cols.get())
            .nth(r as usize)
            .unwrap_or_default();
        row.trim_end().to_owned()
    }

    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }

    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_until(&format!("the guest's screen to show {what}"), || {
            let t = self.text();
            if pred(&t) {
                Ok(t)
            } else {
                Err(t)
            }
        })
    }

    /// Waits for `needle` on the screen, polling every 200 µs (for benchmarks: `wait_for`'s
    /// 50 ms poll is too coarse to time a join), and returns the time since `since`.
    #[allow(dead_code)] // used by benches/via.rs and benches/share.rs only: no test times a join
    pub fn time_until_text(&self, needle: &str, since: Instant) -> Duration {
        loop {
            if self.text().contains(needle) {
                return since.elapsed();
            }
            assert!(
                since.elapsed() < DEADLINE,
                "timed out waiting for {needle:?}; last saw:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    pub fn wait_text(&self, needle: &str) -> String {
        self.wait_for(needle, |t| t.contains(needle))
    }

    pub fn type_str(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        self.screen
            .lock()
            .unwrap()
            .screen_mut()
            .set_size(nz(rows), nz(cols));
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
    }

    pub fn pid(&self) -> i32 {
        self.child.process_id().unwrap() as i32
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits for the program to exit, and for what it wrote last to be read: the process can
    /// end before the reader has taken its last output from the pty.
    pub fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let child = &mut self.child;
        let status = wait_until("the guest's ssh to exit", || {
            child
                .try_wait()
                .unwrap()
                .ok_or_else(|| "still running".to_owned())
        });
        let drained = &self.drained;
        wait_until("the guest's last output to be read", || {
            drained
                .load(std::sync::atomic::Ordering::SeqCst)
                .then_some(())
                .ok_or_else(|| "not yet".to_owned())
        });
        status
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Waits until the guest's rows show the pane's current text (both settle after output).
pub fn wait_rows_match(tmux: &Tmux, target: &str, guest: &Term, top: usize) {
    wait_until(&format!("the guest to match pane {target}"), || {
        let pane = tmux.capture(target);
        let ok = pane
            .lines()
            .enumerate()
            .all(|(i, want)| guest.row((top + i) as u16) == want.trim_end());
        if ok {
            Ok(())
        } else {
            Err(format!("guest:\n{}\npane:\n{pane}", guest.text()))
        }
    });
}

/// The pane's captured screen, colours included, as a vt100 screen of the pane's size.
pub fn pane_screen(tmux: &Tmux, target: &str, cols: u16, rows: u16) -> vt100::Parser {
    let mut p = vt100::Parser::new(nz(rows), nz(cols), 0);
    let text = tmux.capture_escapes(target).replace('\n', "\r\n");
    p.process(text.trim_end_matches("\r\n").as_bytes());
    p
}
