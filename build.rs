//! Puts the version and the commit it was built from into `npair --version`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|c| !c.is_empty());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
    let version = match commit {
        Some(c) if dirty => format!("{} (commit {c}, modified)", env!("CARGO_PKG_VERSION")),
        Some(c) => format!("{} (commit {c})", env!("CARGO_PKG_VERSION")),
        None => format!(
            "{} (commit unknown: built outside git)",
            env!("CARGO_PKG_VERSION")
        ),
    };
    println!("cargo:rustc-env=NPAIR_VERSION={version}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-changed=.git/refs");
}
