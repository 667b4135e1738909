//! An SSH audit with nothing to remove: the real `ssh-audit` (PyPI, installed by `.ci/run`)
//! against npair finds no failure, and no warning but the post-quantum notes on the classic
//! key exchanges; its connection-rate test finds npair throttling a source whose connections
//! never authenticate.

use std::process::{Command, Stdio};

use crate::util::*;

/// The one warning we accept: ssh-audit's note on every key exchange that is not post-quantum
/// (curve25519, kept for clients without ML-KEM: PuTTY, Dropbear, OpenSSH before 9.9).
const POST_QUANTUM_NOTE: &str = "does not provide protection against post-quantum attacks";

/// `ssh-audit -j` against `port` on loopback, parsed.
fn ssh_audit(port: u16) -> serde_json::Value {
    let found = Command::new("ssh-audit")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        found.is_ok(),
        "ssh-audit is not installed: `python3 -m pip install ssh-audit` (.ci/run does it)"
    );
    let mut child = Command::new("ssh-audit")
        .args(["-j", "-n", "-p", &port.to_string(), "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_child("ssh-audit", &mut child);
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "ssh-audit printed no JSON ({e}), exit {:?}:\n{text}\n{}",
            out.status,
            stderr(&out)
        )
    })
}

/// Every failure and warning ssh-audit reports, as "section algorithm: note".
fn findings(report: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    for section in ["kex", "key", "enc", "mac"] {
        for alg in report[section].as_array().into_iter().flatten() {
            let name = alg["algorithm"].as_str().unwrap_or("?");
            for level in ["fail", "warn"] {
                for note in alg["notes"][level].as_array().into_iter().flatten() {
                    let note = note.as_str().unwrap_or("?");
                    if !(level == "warn" && note == POST_QUANTUM_NOTE) {
                        found.push(format!("{section} {name}: {level}: {note}"));
                    }
                }
            }
        }
    }
    for cve in report["cves"].as_array().into_iter().flatten() {
        found.push(format!("cve: {cve}"));
    }
    // The general notes are advice, except the connection-rate test's (DHEat): that one says
    // npair does not throttle.
    for note in report["additional_notes"].as_array().into_iter().flatten() {
        let note = note.as_str().unwrap_or("?");
        if note.contains("DHEat") || note.contains("throttling") {
            found.push(format!("note: {note}"));
        }
    }
    found
}

#[test]
fn ssh_audit_finds_nothing_to_remove_and_the_post_quantum_key_exchange_comes_first() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let report = ssh_audit(np.port());
    let found = findings(&report);
    assert!(
        found.is_empty(),
        "ssh-audit reports:\n{}\n\nfull report: {report}",
        found.join("\n")
    );
    assert_eq!(
        report["kex"][0]["algorithm"], "mlkem768x25519-sha256",
        "{report}"
    );
    let compression = report["compression"].as_array().unwrap();
    assert!(
        !compression.iter().any(|c| c == "zlib"),
        "compression before authentication: {compression:?}"
    );
    // A guest still gets in after the audit, from the audited address.
    let guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("$");
}
