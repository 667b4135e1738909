//! Sharing beyond the LAN through a jump box (`--via`), against a real sshd.

use std::process::Command;

use crate::util::jump::{JumpBox, NetNs, JUMP_HOST};
use crate::util::*;

/// `npair share fun --web 127.0.0.1:0 --via JUMP` inside the namespace.
fn npair_via(ns: &NetNs, tmux: &Tmux, jb: &JumpBox) -> Command {
    jb.npair_command(
        ns,
        tmux,
        &["fun", "--headless", "--json", "--web", "127.0.0.1:0"],
    )
}

/// A guest running the printed command inside the namespace.
fn guest_running(ns: &NetNs, jb: &JumpBox, printed: &str) -> Term {
    Term::spawn(jb.guest_command(ns, printed), 80, 24)
}

/// A private network, a tmux server with the session "fun", and a jump box in that network
/// (see [`JumpBox::start`] for what the two flags allow).
fn jump_box(gateway_ports: bool, forwarding: bool) -> (NetNs, Tmux, JumpBox) {
    let ns = NetNs::new();
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let jb = JumpBox::start(&ns, tmux.path(), gateway_ports, forwarding);
    (ns, tmux, jb)
}

#[test]
fn through_a_jump_box_that_allows_remote_binding_guests_connect_to_it_directly() {
    let (ns, tmux, jb) = jump_box(true, true);
    let np = Npair::spawn(npair_via(&ns, &tmux, &jb));
    let via = &np.info["via"];
    assert_eq!(via["direct"], true, "{}", np.info);
    assert_eq!(np.info["ssh_host"], JUMP_HOST);
    let port = np.info["ssh_port"].as_u64().unwrap();
    assert_eq!(
        np.info["rw_command"],
        format!("ssh -p {port} {}@{JUMP_HOST}", np.rw())
    );
    assert!(np.info["web_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://{JUMP_HOST}:")));

    let mut guest = guest_running(&ns, &jb, np.info["rw_command"].as_str().unwrap());
    guest.wait_text("$");
    guest.type_str("echo through-the-jump-box\r");
    tmux.wait_pane("fun", "the guest's typing", |t| {
        t.contains("through-the-jump-box")
    });
    np.wait_stderr("(rw) joined from");
}

#[test]
fn through_a_jump_box_without_remote_binding_guests_use_ssh_j_and_the_link_recovers() {
    let (ns, tmux, jb) = jump_box(false, true);
    let np = Npair::spawn(npair_via(&ns, &tmux, &jb));
    assert_eq!(np.info["via"]["direct"], false, "{}", np.info);
    let rw = np.info["rw_command"].as_str().unwrap().to_owned();
    let port = np.info["ssh_port"].as_u64().unwrap();
    assert_eq!(
        rw,
        format!("ssh -J {} -p {port} {}@localhost", jb.spec, np.rw())
    );
    assert!(np.info["via"]["web_tunnel"]
        .as_str()
        .unwrap()
        .contains("ssh -N -L 8022:localhost:"));

    let guest = guest_running(&ns, &jb, &rw);
    guest.wait_text("$");
    drop(guest);

    // The link drops (npair's ssh is killed): npair brings it back on the same port, and the
    // same printed command works again.
    let ssh = forward_ssh(&np);
    assert!(Command::new("kill")
        .args(["-9", &ssh])
        .status()
        .unwrap()
        .success());
    np.wait_stderr("dropped");
    np.wait_stderr("is back on the same ports");
    let mut again = guest_running(&ns, &jb, &rw);
    again.wait_text("$");
    again.type_str("echo after-the-drop\r");
    tmux.wait_pane("fun", "the guest's typing", |t| {
        t.contains("after-the-drop")
    });
}

#[test]
fn a_jump_box_that_refuses_forwarding_is_a_clear_error() {
    let (ns, tmux, jb) = jump_box(false, false);
    let out = run_npair(npair_via(&ns, &tmux, &jb));
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.starts_with("npair: error: cannot forward through root@127.0.0.2:2200"),
        "{err}"
    );
    assert!(err.contains("remote port forwarding failed"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn a_jump_box_that_refuses_our_key_is_a_clear_error_with_no_prompt() {
    let (ns, tmux, jb) = jump_box(false, true);
    std::fs::write(jb.dir.join("authorized_keys"), "").unwrap();
    let out = run_npair(npair_via(&ns, &tmux, &jb));
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("cannot forward through root@127.0.0.2:2200")
            && err.contains("Permission denied"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn an_unreachable_jump_box_is_a_clear_error() {
    let (ns, tmux, jb) = jump_box(false, true);
    let out = run_npair(jb.npair_command(
        &ns,
        &tmux,
        &["fun", "--headless", "--via", "root@127.0.0.3:2299"],
    ));
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("cannot forward through root@127.0.0.3:2299")
            && err.contains("Connection refused"),
        "{err}"
    );
}

/// The pid of npair's `ssh` (the forward), once it runs: npair's child on Linux, or the child
/// of the watcher that ties it to npair in the portable build (`--features portable`).
fn forward_ssh(np: &Npair) -> String {
    let pgrep = |args: &[&str]| {
        let out = Command::new("pgrep").args(args).output().unwrap();
        stdout(&out)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(",")
    };
    wait_until("npair's ssh", || {
        let npair = np.pid().to_string();
        let children = pgrep(&["-P", &npair]);
        let parents = [npair, children].join(",");
        let pid = pgrep(&["-x", "ssh", "-P", parents.trim_end_matches(',')]);
        if pid.is_empty() {
            Err("no ssh child".to_owned())
        } else {
            Ok(pid)
        }
    })
}

#[test]
fn after_the_forward_comes_back_on_new_ports_every_printed_login_is_the_new_one() {
    let (ns, tmux, jb) = jump_box(false, true);
    let np = Npair::spawn(npair_via(&ns, &tmux, &jb));
    let old = np.info["rw_command"].as_str().unwrap().to_owned();
    let old_port = np.info["ssh_port"].as_u64().unwrap();

    // The link drops, and while it is down something else takes the forwarded port on the jump
    // box, so npair's forward comes back on another one.
    let ssh = forward_ssh(&np);
    assert!(Command::new("kill")
        .args(["-9", &ssh])
        .status()
        .unwrap()
        .success());
    let squat = format!(
        "import socket, time\n\
         held = []\n\
         for family, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):\n\
         \x20   s = socket.socket(family)\n\
         \x20   s.bind((host, {old_port}))\n\
         \x20   s.listen()\n\
         \x20   held.append(s)\n\
         print('held', flush=True)\n\
         time.sleep(60)\n"
    );
    // sshd frees the port once it sees the connection gone: try until the port is ours
    // (a bounded number of times, well within npair's one-second backoff).
    let mut squatter = None;
    for _ in 0..40 {
        let mut child = ns
            .command("python3")
            .args(["-c", &squat])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        );
        if line.trim() == "held" {
            squatter = Some(child);
            break;
        }
        let _ = child.wait();
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let mut squatter = squatter.expect("the old forwarded port never became free");
    np.wait_stderr("is back on new ports");

    // `npair status` and `npair rotate` print the new logins, and the new one works.
    let status: serde_json::Value =
        serde_json::from_str(&tmux.npair_ok(&["status", "--json"])).unwrap();
    let now = status["logins"]["rw_command"].as_str().unwrap().to_owned();
    assert_ne!(now, old, "npair status still prints the old login");
    assert!(!now.contains(&format!(" -p {old_port} ")), "{now}");
    let mut guest = guest_running(&ns, &jb, &now);
    guest.wait_text("$");
    guest.type_str("echo on-the-new-port\r");
    tmux.wait_pane("fun", "the guest's typing", |t| {
        t.contains("on-the-new-port")
    });
    let rotated: serde_json::Value =
        serde_json::from_str(&tmux.npair_ok(&["rotate", "--json"])).unwrap();
    let port_of = |cmd: &str| cmd.split_whitespace().nth(4).map(str::to_owned);
    assert_eq!(
        port_of(rotated["logins"]["rw_command"].as_str().unwrap()),
        port_of(&now),
        "{rotated}"
    );
    let _ = squatter.kill();
    let _ = squatter.wait();
}
