//! Records the git commit the binary is built from, and whether tracked files had uncommitted
//! changes, for the provenance in each run folder's `run.json` ("unknown" outside a checkout);
//! and embeds `experiments/` and `baselines/` (a few hundred KB of specs, tables and published
//! numbers), so an installed binary has them without the source tree (`experiment::root`).

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
    embed(&["experiments", "baselines"]);
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

/// Writes `$OUT_DIR/embedded.rs`: `FILES`, every file under `dirs` as (relative path, bytes).
fn embed(dirs: &[&str]) {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut files = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = dirs.iter().map(|d| root.join(d)).collect();
    while let Some(dir) = stack.pop() {
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for p in &files {
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        out.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            p.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(dest, out).unwrap();
}
