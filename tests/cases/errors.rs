//! Mistakes a user makes get one clear line and a non-zero exit, and lose nothing.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::util::*;

fn fails_with(mut cmd: Command, words: &[&str]) -> String {
    let out = run_npair({
        cmd.stdin(std::process::Stdio::null());
        cmd
    });
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "succeeded: {err}");
    assert!(err.starts_with("npair: error: "), "{err}");
    for w in words {
        assert!(err.contains(w), "missing {w:?} in: {err}");
    }
    err
}

#[test]
fn an_unknown_session_is_named_with_the_ones_that_exist() {
    let tmux = Tmux::new();
    tmux.new_session("funproject", 80, 24);
    tmux.new_session("notes", 80, 24);
    let cmd = Npair::command(
        &tmux,
        &["funprojct", "--headless", "--listen", "127.0.0.1:0"],
    );
    fails_with(cmd, &["'funprojct'", "funproject, notes", "--create"]);
    assert!(!tmux.has_session("funprojct"));
}

#[test]
fn create_makes_the_missing_session() {
    let tmux = Tmux::new();
    let _np = Npair::start(&tmux, "fresh", &["--create"]);
    assert!(tmux.has_session("fresh"));
}

#[test]
fn no_session_name_shares_the_one_named_after_the_directory() {
    let tmux = Tmux::new();
    let dir = tmux.path().join("my.project");
    std::fs::create_dir(&dir).unwrap();
    let np = Npair::start_in(&tmux, &dir, &[]);
    assert_eq!(np.info["session"], "my_project");
    assert!(tmux.has_session("my_project"));
    // tmux reads the pane's directory from its process, which may not be there yet at once.
    let want = dir.canonicalize().unwrap();
    wait_until("the session's pane to be in the directory", || {
        let cwd = tmux.run(&[
            "display-message",
            "-p",
            "-t",
            "my_project",
            "#{pane_current_path}",
        ]);
        match std::path::Path::new(cwd.trim()).canonicalize() {
            Ok(p) if p == want => Ok(()),
            _ => Err(format!("pane_current_path {cwd:?}, want {want:?}")),
        }
    });
}

#[test]
fn tmux_missing_is_said_plainly() {
    let tmux = Tmux::new();
    let mut cmd = Npair::command(&tmux, &["fun", "--headless", "--listen", "127.0.0.1:0"]);
    cmd.env("PATH", tmux.path().join("empty-bin"));
    fails_with(cmd, &["tmux is not installed"]);
}

#[test]
fn a_busy_port_is_named() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let cmd = Npair::command(&tmux, &["fun", "--headless", "--listen", &addr]);
    fails_with(cmd, &[&addr, "already in use", "--listen"]);
}

#[test]
fn a_busy_web_port_is_named() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let cmd = Npair::command(
        &tmux,
        &[
            "fun",
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--web",
            &addr,
        ],
    );
    fails_with(cmd, &[&addr, "already in use"]);
}

#[test]
fn a_bad_size_names_the_value_and_the_format() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    for bad in ["abc", "80x", "0x24", "100000x5"] {
        let cmd = Npair::command(&tmux, &["fun", "--headless", "--size", bad]);
        fails_with(cmd, &[&format!("'{bad}'"), "COLSxROWS"]);
    }
}

#[test]
fn the_host_key_is_created_private_and_reused() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let key = tmux.path().join("keys/host_ed25519");
    let key_s = key.to_string_lossy().into_owned();
    let first = Npair::start(&tmux, "fun", &["--host-key", &key_s]).info["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(key.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let keygen = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&key)
        .output()
        .unwrap();
    let printed = stdout(&keygen);
    assert_eq!(
        printed.split_whitespace().nth(1),
        Some(first.as_str()),
        "{printed}"
    );

    let second = Npair::start(&tmux, "fun", &["--host-key", &key_s]);
    assert_eq!(second.info["host_key"].as_str(), Some(first.as_str()));
}

#[test]
fn an_open_or_corrupt_host_key_is_refused_and_kept() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let key = tmux.path().join("host_ed25519");
    std::fs::write(&key, "garbage\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let key_s = key.to_string_lossy().into_owned();
    let share = || {
        Npair::command(
            &tmux,
            &[
                "fun",
                "--headless",
                "--listen",
                "127.0.0.1:0",
                "--host-key",
                &key_s,
            ],
        )
    };
    fails_with(share(), &["chmod 600", &key_s]);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    fails_with(share(), &["not a valid OpenSSH private key", &key_s]);
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        "garbage\n",
        "the key file was replaced"
    );
}

#[test]
fn sharing_the_session_you_are_inside_is_refused() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let socket = tmux
        .run(&["display-message", "-p", "-t", "fun", "#{socket_path}"])
        .trim()
        .to_owned();
    let pane = tmux
        .run(&["display-message", "-p", "-t", "fun", "#{pane_id}"])
        .trim()
        .to_owned();
    let mut cmd = Npair::command(&tmux, &["fun", "--listen", "127.0.0.1:0"]);
    cmd.env("TMUX", format!("{socket},1,0"))
        .env("TMUX_PANE", pane);
    fails_with(cmd, &["inside tmux session 'fun'", "--headless"]);
}
