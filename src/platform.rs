//! What npair asks of the operating system beyond POSIX, behind one seam. Linux has two
//! extras; every other Unix (macOS, the BSDs) takes the portable branch. The portable branch is
//! compiled and unit-tested on Linux too, and the `portable` feature makes npair use it on
//! Linux and leaves the Linux branch out of the build, as a Mac's build would.
//!
//! - **Quick ACKs** on guests' sockets (`TCP_QUICKACK`): a join does not wait 40 ms on a
//!   delayed ACK. An optimisation only; the portable branch goes without it.
//! - **A child tied to npair's life** (the `--via` forward's ssh): it must not outlive npair,
//!   even when npair is killed outright. On Linux the kernel signals it when npair dies
//!   (`PR_SET_PDEATHSIG`); elsewhere a small shell watcher ends it when a pipe from npair
//!   closes, which happens however npair ends.
//! - **Open files**: the soft limit is raised to the hard one at start (POSIX, every branch).

use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, Command};

/// What ties a child from [`tied_command`] to npair: hold it for as long as the child should
/// live, and keep it out of the child (tokio's `Child::wait` closes a stdin left in it).
pub(crate) struct Tie(#[allow(dead_code)] Option<ChildStdin>);

impl Tie {
    /// Takes the tie out of a child started from [`tied_command`].
    pub(crate) fn take(child: &mut Child) -> Tie {
        Tie(child.stdin.take())
    }
}

/// Raises the soft limit on open files to the hard limit, and returns the limit now in force.
/// A crowd needs it: each SSH guest holds two descriptors (its socket, and the handle that cuts
/// it), and Debian's soft limit is 1,024, so a class of a thousand would hit it halfway in.
/// macOS refuses a soft limit above `OPEN_MAX` (10,240) whatever the hard limit says, so that
/// is tried next.
pub fn raise_open_files() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    for want in [lim.rlim_max, lim.rlim_max.min(10_240)] {
        if want <= lim.rlim_cur {
            break;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given, nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = want;
            break;
        }
    }
    Some(lim.rlim_cur)
}

#[cfg(all(target_os = "linux", not(feature = "portable")))]
pub(crate) use linux::{end_with_npair, quick_ack, tied_command};
#[cfg(not(all(target_os = "linux", not(feature = "portable"))))]
pub(crate) use portable::{end_with_npair, quick_ack, tied_command};

#[cfg(all(target_os = "linux", not(feature = "portable")))]
mod linux {
    use super::{Command, TcpStream};

    /// Asks the kernel to acknowledge what arrives on `sock` at once. Linux leaves quick-ack
    /// mode by itself, so callers ask again after every read.
    pub(crate) fn quick_ack(sock: &TcpStream) {
        let _ = socket2::SockRef::from(sock).set_tcp_quickack(true);
    }

    /// A command for `program` whose process gets SIGTERM when the thread that starts it ends:
    /// with npair, however it ends. It has no stdin.
    pub(crate) fn tied_command(program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.stdin(std::process::Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        cmd
    }

    /// Gives `cmd`'s process SIGTERM when the thread that starts it ends (with npair). For
    /// tmux's control-mode client: tmux 3.3a leaves its server running for good when a
    /// control client's stdin closes (npair killed) just as `kill-server` arrives.
    pub(crate) fn end_with_npair(cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
}

/// The branch for every Unix. On a Linux build without the `portable` feature only its tests
/// use it.
#[cfg_attr(all(target_os = "linux", not(feature = "portable")), allow(dead_code))]
mod portable {
    use super::{Command, TcpStream};

    /// Nothing to do: delayed ACKs cost a join some milliseconds, nothing more.
    pub(crate) fn quick_ack(_sock: &TcpStream) {}

    /// Nothing to do: a control-mode client whose stdin (from npair) closes is ended by the
    /// tmux server, unless `kill-server` arrives in that very instant.
    pub(crate) fn end_with_npair(_cmd: &mut std::process::Command) {}

    /// Runs `"$@"` with no stdin, and ends it (SIGTERM) when fd 3, npair's pipe, reaches its
    /// end: when npair drops the child's stdin or dies. Exits with the program's status.
    const WATCHER: &str = r#"exec 3<&0 </dev/null
"$@" & child=$!
{ read -r _ <&3; kill -TERM "$child" 2>/dev/null; } &
watcher=$!
wait "$child"; status=$?
kill "$watcher" 2>/dev/null
exit "$status""#;

    /// A command for `program` (arguments may be added) that runs under [`WATCHER`], with its
    /// stdin a pipe from npair: take its [`Tie`](super::Tie) and hold it for as long as the
    /// program should live. A program that is not on PATH is started as it is, so that spawning it fails with
    /// NotFound as it would without the watcher.
    pub(crate) fn tied_command(program: &str) -> Command {
        if !on_path(program) {
            return Command::new(program);
        }
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", WATCHER, "npair-tied", program]);
        cmd.stdin(std::process::Stdio::piped());
        cmd
    }

    fn on_path(program: &str) -> bool {
        if program.contains('/') {
            return std::path::Path::new(program).is_file();
        }
        std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::time::Duration;

        fn runtime() -> tokio::runtime::Runtime {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        }

        #[test]
        fn a_tied_child_lives_while_the_tie_holds_and_ends_when_it_goes() {
            runtime().block_on(async {
                let mut cmd = tied_command("sleep");
                cmd.arg("30");
                let mut child = cmd.spawn().unwrap();
                let tie = crate::platform::Tie::take(&mut child);
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "ended with its tie held"
                );
                // What npair's death does too: the pipe's last writer goes.
                drop(tie);
                let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
                    .await
                    .expect("the tied program outlived its tie")
                    .unwrap();
                // The watcher reports the program's own end: SIGTERM (128 + 15).
                assert_eq!(status.code(), Some(143));
            });
        }

        #[test]
        fn a_tied_program_passes_its_exit_status_through() {
            runtime().block_on(async {
                let mut cmd = tied_command("sh");
                cmd.args(["-c", "exit 7"]);
                let mut child = cmd.spawn().unwrap();
                let _tie = crate::platform::Tie::take(&mut child);
                let status = child.wait().await.unwrap();
                assert_eq!(status.code(), Some(7));
            });
        }

        #[test]
        fn a_program_not_on_path_is_not_found() {
            runtime().block_on(async {
                let err = tied_command("npair-no-such-program").spawn().unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
            });
        }
    }
}

#[cfg(all(test, target_os = "linux", not(feature = "portable")))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        let now = raise_open_files().expect("getrlimit");
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_open_files.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(now, lim.rlim_cur);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
    }

    #[test]
    fn on_linux_a_tied_child_ends_with_the_thread_that_started_it() {
        // The kernel's signal follows the thread that forked: start the child on a thread that
        // then ends, as npair's ending would.
        let pid = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _guard = rt.enter();
            let mut cmd = tied_command("sleep");
            cmd.arg("30");
            cmd.spawn().unwrap().id().unwrap() as libc::pid_t
        })
        .join()
        .unwrap();
        // Reaped here, by pid (its tokio handle went with that thread's runtime).
        let mut status = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the tied child outlived the thread that started it"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(libc::WIFSIGNALED(status), "{status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGTERM);
    }
}
