//! Guests through the russh client, in this process: cheap enough to hold hundreds at once,
//! and in finer control than OpenSSH (input packet by packet, a socket frozen without a FIN,
//! a chosen source address). Each guest's screen is read back through vt100, as with `Term`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, KeyboardInteractiveAuthResponse};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::{Algorithm, PrivateKey, PrivateKeyWithHashAlg};
use russh::ChannelMsg;
use tokio::net::TcpStream;

use super::{wait_until, DEADLINE};

/// Accepts any host key (the tests check the fingerprint elsewhere).
pub struct AnyHostKey;

impl client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A runtime for russh clients: multi-threaded, so that the clients' session tasks run between
/// `block_on` calls.
pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap()
}

/// What a guest has seen, shared with its reader task.
pub struct Seen {
    pub screen: Mutex<vt100::Parser>,
    pub bytes: AtomicUsize,
}

impl Seen {
    pub fn text(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }
}

/// A guest with a shell on the shared session.
pub struct Guest {
    pub handle: client::Handle<AnyHostKey>,
    pub input: russh::ChannelWriteHalf<client::Msg>,
    pub seen: Arc<Seen>,
    /// The socket under the session, kept to cut or freeze it from the test.
    pub socket: std::net::TcpStream,
}

/// How a client presents its token (the username).
#[derive(Clone, Copy, Debug)]
pub enum Method {
    /// `none`, as OpenSSH tries first.
    None,
    /// `password`, with any password (paramiko, many GUI clients).
    Password,
    /// `keyboard-interactive`, answering whatever is asked with nothing.
    KeyboardInteractive,
    /// `publickey`, with a key made for the occasion.
    PublicKey,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::None,
        Method::Password,
        Method::KeyboardInteractive,
        Method::PublicKey,
    ];

    /// Authenticates `token` this way; true when npair let it in.
    pub async fn authenticate(
        self,
        h: &mut client::Handle<AnyHostKey>,
        token: &str,
    ) -> Result<bool, russh::Error> {
        Ok(match self {
            Method::None => h.authenticate_none(token).await?.success(),
            Method::Password => h
                .authenticate_password(token, "any password")
                .await?
                .success(),
            Method::KeyboardInteractive => {
                let mut r = h
                    .authenticate_keyboard_interactive_start(token, None)
                    .await?;
                // A bounded number of rounds: npair asks nothing, so one is the most expected.
                for _ in 0..3 {
                    match r {
                        KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                            let answers = prompts.iter().map(|_| String::new()).collect();
                            r = h.authenticate_keyboard_interactive_respond(answers).await?;
                        }
                        _ => break,
                    }
                }
                matches!(r, KeyboardInteractiveAuthResponse::Success)
            }
            Method::PublicKey => {
                let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
                    .map_err(russh::keys::Error::from)?;
                h.authenticate_publickey(token, PrivateKeyWithHashAlg::new(Arc::new(key), None))
                    .await?
                    .success()
            }
        })
    }
}

/// Connects from `from` (a loopback address; `None`: the kernel's choice) and authenticates.
pub async fn connect(
    port: u16,
    token: &str,
    from: Option<IpAddr>,
) -> Result<(client::Handle<AnyHostKey>, std::net::TcpStream), String> {
    connect_by(port, token, from, Method::None).await
}

/// Connects and authenticates by `method`.
pub async fn connect_by(
    port: u16,
    token: &str,
    from: Option<IpAddr>,
    method: Method,
) -> Result<(client::Handle<AnyHostKey>, std::net::TcpStream), String> {
    let go = async {
        let sock = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        if let Some(ip) = from {
            sock.bind(SocketAddr::new(ip, 0))
                .map_err(|e| e.to_string())?;
        }
        let tcp: TcpStream = sock
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let std_tcp = tcp.into_std().map_err(|e| e.to_string())?;
        let spare = std_tcp.try_clone().map_err(|e| e.to_string())?;
        let tcp = TcpStream::from_std(std_tcp).map_err(|e| e.to_string())?;
        let mut h = client::connect_stream(Arc::new(client::Config::default()), tcp, AnyHostKey)
            .await
            .map_err(|e| e.to_string())?;
        let ok = method
            .authenticate(&mut h, token)
            .await
            .map_err(|e| e.to_string())?;
        if !ok {
            return Err("token refused".to_owned());
        }
        Ok((h, spare))
    };
    tokio::time::timeout(DEADLINE, go)
        .await
        .map_err(|_| "connect timed out".to_owned())?
}

/// Connects, asks for a `cols`×`rows` pty and a shell, and reads the output into a screen.
pub async fn join(
    port: u16,
    token: &str,
    from: Option<IpAddr>,
    cols: u16,
    rows: u16,
) -> Result<Guest, String> {
    join_by(port, token, from, Method::None, cols, rows).await
}

/// [`join`], authenticating by `method`.
pub async fn join_by(
    port: u16,
    token: &str,
    from: Option<IpAddr>,
    method: Method,
    cols: u16,
    rows: u16,
) -> Result<Guest, String> {
    let (handle, socket) = connect_by(port, token, from, method).await?;
    let go = async {
        let ch = handle.channel_open_session().await?;
        ch.request_pty(false, "xterm-256color", cols.into(), rows.into(), 0, 0, &[])
            .await?;
        ch.request_shell(false).await?;
        Ok::<_, russh::Error>(ch)
    };
    let ch = tokio::time::timeout(DEADLINE, go)
        .await
        .map_err(|_| "shell timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let (mut read, input) = ch.split();
    let nz = |v: u16| NonZeroU16::new(v).unwrap();
    let seen = Arc::new(Seen {
        screen: Mutex::new(vt100::Parser::new(nz(rows), nz(cols), 0)),
        bytes: AtomicUsize::new(0),
    });
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Some(msg) = read.wait().await {
            if let ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } = msg {
                s.screen.lock().unwrap().process(&data);
                s.bytes.fetch_add(data.len(), Ordering::Relaxed);
            }
        }
    });
    Ok(Guest {
        handle,
        input,
        seen,
        socket,
    })
}

impl Guest {
    /// Sends `bytes` as one SSH data packet (they must fit in one: under 32 KiB).
    pub async fn send(&self, bytes: &[u8]) {
        self.input
            .data_bytes(bytes::Bytes::copy_from_slice(bytes))
            .await
            .expect("send to npair");
    }

    pub fn wait_text(&self, needle: &str) {
        wait_until(
            &format!("a russh guest's screen to show {needle:?}"),
            || {
                let t = self.seen.text();
                if t.contains(needle) {
                    Ok(())
                } else {
                    Err(t)
                }
            },
        );
    }
}

/// The open file descriptors, threads and resident memory of process `pid`.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub fds: usize,
    pub threads: usize,
    pub rss_kib: u64,
}

pub fn usage(pid: i32) -> Usage {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Usage {
        fds,
        threads,
        rss_kib,
    }
}

/// npair's idle level: measured after one guest has come and gone (every thread npair starts
/// lazily is running by then) and the numbers have held still for a second.
pub fn idle_usage(np: &super::Npair) -> Usage {
    {
        let guest = super::Term::guest(np.port(), &np.ro(), 80, 24);
        guest.wait_text("$");
    }
    let mut last = usage(np.pid());
    let mut still = 0;
    wait_until("npair to settle", || {
        std::thread::sleep(Duration::from_millis(200));
        let now = usage(np.pid());
        still = if (now.fds, now.threads) == (last.fds, last.threads) {
            still + 1
        } else {
            0
        };
        last = now;
        if still >= 5 {
            Ok(now)
        } else {
            Err(format!("{now:?}"))
        }
    })
}

/// Waits until npair's fds and threads are back to `idle` (tasks and sockets of guests that
/// left are released asynchronously).
pub fn wait_back_to(pid: i32, idle: Usage) -> Usage {
    wait_until(
        "npair's fds and threads to return to their idle level",
        || {
            let now = usage(pid);
            if now.fds == idle.fds && now.threads <= idle.threads {
                Ok(now)
            } else {
                Err(format!("idle {idle:?}, now {now:?}"))
            }
        },
    )
}

/// A pause that lets queued work happen, for loops that poll.
pub const TICK: Duration = Duration::from_millis(50);
