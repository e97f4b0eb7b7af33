//! Records the git commit the binary is built from, and whether tracked files had uncommitted
//! changes, for the provenance in each run folder's `run.json` ("unknown" outside a checkout).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if s.is_empty() => "false",
        Some(_) => "true",
        None => "unknown",
    };
    println!("cargo:rustc-env=LRNN_GIT_COMMIT={commit}");
    // `lrnn --version`: "0.1.0 (1a2b3c4d5e6f)", "+dirty" when tracked files had changes.
    let short: String = commit.chars().take(12).collect();
    let mark = if dirty == "true" { "+dirty" } else { "" };
    println!(
        "cargo:rustc-env=LRNN_VERSION_LONG={} ({short}{mark})",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
    println!("cargo:rustc-env=LRNN_GIT_DIRTY={dirty}");
    // A commit moves HEAD's branch and rewrites the index; an edit touches src.
    for path in [
        ".git/HEAD",
        ".git/index",
        ".git/refs/heads",
        "src",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
}
