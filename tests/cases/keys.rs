//! Guests who must hold a listed key as well as the token (`--authorized-keys`).

use std::process::Command;

use crate::util::*;

/// A new ed25519 key pair in the test's directory, named and commented `name`; returns the
/// private key's path (the public key is beside it, with `.pub`).
pub fn keygen(tmux: &Tmux, name: &str) -> std::path::PathBuf {
    let path = tmux.path().join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

#[test]
fn authorized_keys_refuse_a_guest_without_a_listed_key_and_admit_one_with_it() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let listed = keygen(&tmux, "listed");
    let other = keygen(&tmux, "other");
    // A GitHub-style bare "TYPE KEY" line, and an authorized_keys line with options.
    let public = std::fs::read_to_string(listed.with_extension("pub")).unwrap();
    let bare: Vec<&str> = public.split_whitespace().take(2).collect();
    let third = std::fs::read_to_string(keygen(&tmux, "third").with_extension("pub")).unwrap();
    let keys = tmux.path().join("keys");
    std::fs::write(
        &keys,
        format!(
            "# who may join\nno-pty,command=\"x\" {}\n\n{} {}\n",
            third.trim(),
            bare[0],
            bare[1]
        ),
    )
    .unwrap();
    let keys_arg = keys.to_str().unwrap().to_owned();
    let np = Npair::start(&tmux, "fun", &["--authorized-keys", &keys_arg]);
    let with = |key: &std::path::Path| {
        vec![
            "-o".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            "-i".to_owned(),
            key.to_str().unwrap().to_owned(),
        ]
    };
    // The right token with an unlisted key, and with no key at all: refused.
    for options in [
        with(&other),
        vec!["-o".into(), "PubkeyAuthentication=no".into()],
    ] {
        let mut args = ssh_options(np.port());
        args.extend(options);
        args.push(format!("{}@127.0.0.1", np.rw()));
        args.push("true".into());
        let out = ssh_run("ssh", &args);
        assert_eq!(out.status.code(), Some(255));
        assert_stderr_has(&out, "Permission denied (publickey)");
    }
    // A listed key with a wrong token: refused.
    let mut args = ssh_options(np.port());
    args.extend(with(&listed));
    args.push("nobody@127.0.0.1".into());
    args.push("true".into());
    assert_eq!(ssh_run("ssh", &args).status.code(), Some(255));

    // The right token and a listed key: in.
    let opts = with(&listed);
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    let mut guest = Term::guest_with(np.port(), &np.rw(), 80, 24, &opts);
    guest.wait_text("$");
    guest.type_str("echo keyed-$((6*7))\r");
    tmux.wait_pane("fun", "the keyed guest's command", |t| {
        t.contains("keyed-42")
    });
    assert!(tmux
        .npair_ok(&["status"])
        .contains("guests need one of 2 listed keys"));

    let empty = tmux.path().join("empty");
    std::fs::write(&empty, "# nobody\n").unwrap();
    let out = run_npair(Npair::command(
        &tmux,
        &[
            "fun2",
            "--create",
            "--headless",
            "--authorized-keys",
            empty.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "lists no public keys");
}
