//! Records the git commit the binary is built from, and whether tracked files had uncommitted
//! changes, for the provenance in each run folder's `run.json` ("unknown" outside a checkout);
//! and embeds `experiments/` and `baselines/` (a few hundred KB of specs, tables and published
//! numbers), so an installed binary has them without the source tree (`experiment::root`);
//! and collects the doc line of every struct field, which `lrnn spec show --all` prints
//! beside each spec key (`config::describe`).

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
    field_docs();
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

/// Writes `$OUT_DIR/field_docs.rs`: `FIELDS`, (struct, field, doc comment on one line) of every
/// documented field of a braced struct under `src/`, and `NEWTYPES`, (A, B) of each
/// `struct A(pub B);`. A line scan, not a parser: rustfmt's layout is all it must read.
fn field_docs() {
    let mut fields = Vec::new();
    let mut newtypes = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("src")];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut owner: Option<String> = None;
        let mut doc: Option<String> = None;
        for line in text.lines() {
            let t = line.trim();
            let decl = t.strip_prefix("pub ").unwrap_or(t);
            if let Some(rest) = decl.strip_prefix("struct ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if let Some(inner) = rest.strip_prefix(&format!("{name}(pub ")) {
                    let inner = inner.trim_end_matches(");").trim_end_matches(')');
                    newtypes.push((name, inner.to_string()));
                } else if t.ends_with('{') {
                    owner = Some(name);
                }
                doc = None;
            } else if t == "}" {
                owner = None;
            } else if let Some(d) = t.strip_prefix("///") {
                let d = d.trim();
                match &mut doc {
                    Some(text) => {
                        text.push(' ');
                        text.push_str(d);
                    }
                    None => doc = Some(d.to_string()),
                }
            } else if let (Some(o), Some((name, _))) = (&owner, t.split_once(": ")) {
                let name = name.strip_prefix("pub ").unwrap_or(name);
                let field = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
                if name.chars().all(field)
                    && let Some(d) = doc.take()
                {
                    fields.push((o.clone(), name.to_string(), d));
                }
            } else if t.is_empty() {
                doc = None;
            }
        }
    }
    let mut out = String::from("pub static FIELDS: &[(&str, &str, &str)] = &[\n");
    for (s, f, d) in &fields {
        out.push_str(&format!("    ({s:?}, {f:?}, {d:?}),\n"));
    }
    out.push_str("];\npub static NEWTYPES: &[(&str, &str)] = &[\n");
    for (a, b) in &newtypes {
        out.push_str(&format!("    ({a:?}, {b:?}),\n"));
    }
    out.push_str("];\n");
    let dest = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("field_docs.rs");
    std::fs::write(dest, out).unwrap();
}
