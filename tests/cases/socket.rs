//! Finding the share a command is for, and keeping its control socket private: one share per
//! tmux session, commands that name no share or the wrong one, where the socket lives and who
//! may open it.

use std::os::unix::fs::PermissionsExt;

use crate::util::*;

#[test]
fn commands_without_a_share_or_with_a_wrong_name_say_what_to_do() {
    let tmux = Tmux::new();
    let out = tmux.npair(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "no share is running; start one with `npair share");

    tmux.new_session("fun", 80, 24);
    tmux.new_session("notes", 80, 24);
    let _a = Npair::start(&tmux, "fun", &[]);
    let _b = Npair::start(&tmux, "notes", &[]);
    let out = tmux.npair(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "several shares are running (fun, notes)");
    let out = tmux.npair(&["kick", "funn", "1"]);
    assert_stderr_has(
        &out,
        "no share of tmux session 'funn' is running (running shares: fun, notes)",
    );
    let out = tmux.npair(&["kick", "fun", "7"]);
    assert_stderr_has(&out, "no guest 7 is connected");
    let out = tmux.npair(&["kick", "fun", "seven"]);
    // Not a number, so a name; nobody has it.
    assert_stderr_has(&out, "no guest is named 'seven': no guest is connected");
    assert!(tmux.npair_ok(&["status", "notes"]).contains("\"notes\""));
}

#[test]
fn sharing_a_shared_session_shows_its_status_instead() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let out = run_npair(Npair::command(&tmux, &["fun", "--headless"]));
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "tmux session 'fun' is already shared");
    assert_stderr_has(&out, "npair stop fun");
    assert!(stdout(&out).contains(np.info["ro_command"].as_str().unwrap()));
    // The first share is untouched.
    let guest = Term::guest(np.port(), &np.ro(), 80, 24);
    guest.wait_text("$");
}

#[test]
fn a_control_directory_open_to_others_is_refused() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let dir = tmux.runtime_dir().join("npair");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run_npair(Npair::command(&tmux, &["fun", "--headless"]));
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "has mode 0777, open to others");

    // One that belongs to someone else (nobody) is refused too, by the subcommands as well.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
    let out = run_npair(Npair::command(&tmux, &["fun", "--headless"]));
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "belongs to uid 65534, not to you");
    let out = tmux.npair(&["status"]);
    assert_stderr_has(&out, "belongs to uid 65534");
}

#[test]
fn without_xdg_runtime_dir_the_socket_is_in_a_private_dir_under_tmp() {
    let tmux = Tmux::new();
    let name = format!("npair-test-{}", std::process::id());
    tmux.new_session(&name, 80, 24);
    let mut cmd = Npair::command(&tmux, &[&name, "--headless", "--json"]);
    cmd.env_remove("XDG_RUNTIME_DIR");
    let mut np = Npair::spawn(cmd);
    // SAFETY: getuid cannot fail.
    let dir = std::path::PathBuf::from(format!("/tmp/npair-{}", unsafe { libc::getuid() }));
    let socket = dir.join(format!("{name}.sock"));
    assert!(socket.exists());
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let mut stop = tmux.npair_command(&["stop", &name]);
    stop.env_remove("XDG_RUNTIME_DIR");
    assert!(run_npair(stop).status.success());
    assert!(np.wait_exit().success());
    assert!(!socket.exists());
}
