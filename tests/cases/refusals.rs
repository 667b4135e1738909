//! The SSH server grants only the shared session.

use crate::util::*;

/// `ssh OPTIONS TOKEN@127.0.0.1 COMMAND...`
fn ssh_args(np: &Npair, token: &str, options: &[&str], command: &[&str]) -> Vec<String> {
    let mut args = ssh_options(np.port());
    args.extend(options.iter().map(|s| s.to_string()));
    args.push(format!("{token}@127.0.0.1"));
    args.extend(command.iter().map(|s| s.to_string()));
    args
}

#[test]
fn a_wrong_token_is_refused_with_permission_denied() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    // The right token with its last character changed.
    let rw = np.rw();
    let near_miss = format!("{}{}", &rw[..31], if rw.ends_with('0') { '1' } else { '0' });
    for token in ["nobody", near_miss.as_str(), "ro-"] {
        let out = ssh_run("ssh", &ssh_args(&np, token, &[], &["true"]));
        assert_eq!(out.status.code(), Some(255), "{token}");
        let err = stderr(&out);
        assert!(err.contains("Permission denied"), "{token}: {err}");
    }
}

#[test]
fn commands_are_refused_and_never_run() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let marker = tmux.path().join("ran");
    let cmd = format!("touch {}", marker.display());
    for token in [np.rw(), np.ro()] {
        let out = ssh_run("ssh", &ssh_args(&np, &token, &[], &[&cmd]));
        assert_eq!(out.status.code(), Some(1));
        assert_stderr_has(&out, "npair: commands are refused");
    }
    assert!(!marker.exists(), "the command ran");
    assert!(
        !tmux.capture("fun").contains("touch"),
        "the command reached the session"
    );
}

#[test]
fn sftp_and_port_forwarding_are_refused() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);

    let mut sftp = vec!["-b".to_owned(), "/dev/null".to_owned()];
    sftp.extend(ssh_options(np.port()).into_iter().map(|a| {
        if a == "-p" {
            "-P".to_owned()
        } else {
            a
        }
    }));
    sftp.push(format!("{}@127.0.0.1", np.rw()));
    let out = ssh_run("sftp", &sftp);
    assert_ne!(out.status.code(), Some(0), "sftp worked");
    assert_stderr_has(&out, "subsystem request failed");

    // Stdio forwarding (direct-tcpip) to npair's own port.
    let target = format!("127.0.0.1:{}", np.port());
    let out = ssh_run("ssh", &ssh_args(&np, &np.rw(), &["-W", &target], &[]));
    assert_ne!(out.status.code(), Some(0));
    assert_stderr_has(&out, "forwarding failed");

    // Remote forwarding.
    let out = ssh_run(
        "ssh",
        &ssh_args(
            &np,
            &np.rw(),
            &[
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-R",
                "0:127.0.0.1:9",
            ],
            &[],
        ),
    );
    assert_ne!(out.status.code(), Some(0));
    assert_stderr_has(&out, "remote port forwarding failed");

    // Local forwarding: the listener opens on the client, but the channel is refused.
    let mut guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("$");
    guest.type_str("echo still-here\r");
    guest.wait_text("still-here");
}

#[test]
fn agent_forwarding_is_refused_and_the_session_still_works() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let mut args = ssh_options(np.port());
    args.extend(["-A", "-o", "ForwardX11=yes"].map(String::from));
    args.push(format!("{}@127.0.0.1", np.ro()));
    args.push("true".to_owned());
    // Exec is refused whatever comes with it; the point is that the connection is not dropped.
    let out = ssh_run("ssh", &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn an_address_guessing_tokens_is_locked_out_while_others_get_in() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    // Ten wrong guesses from 127.0.0.1, at once.
    let guesses: Vec<_> = (0..10)
        .map(|i| {
            std::process::Command::new("ssh")
                .args(ssh_args(&np, &format!("guess{i}"), &[], &["true"]))
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut g in guesses {
        wait_until("a guess to be refused", || {
            g.try_wait().unwrap().ok_or_else(|| "running".to_owned())
        });
    }
    // Now even the right token is refused from that address...
    let out = ssh_run("ssh", &ssh_args(&np, &np.rw(), &[], &["true"]));
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    // ...while a guest from another address authenticates (and is then refused the command).
    let out = ssh_run(
        "ssh",
        &ssh_args(&np, &np.rw(), &["-b", "127.0.0.2"], &["true"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}
