//! The layers of `src/` (see `lib.rs`): a module imports only from its own layer and the
//! ones below it. The check reads every source file's `crate::` paths (comments aside).

use std::path::{Path, PathBuf};

/// Bottom to top; a top-level module's layer is its index here.
const LAYERS: &[&[&str]] = &[
    &["error", "config", "io"],
    &["kernels"],
    &["net"],
    &["data"],
    &["experiment"],
    &["report"],
    &["cli", "main"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// `(file, line, imported module)` for each import of a higher layer under `src`.
fn upward_imports(src: &Path) -> Vec<(PathBuf, usize, String)> {
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs");
        if top == "lib" {
            continue;
        }
        let own =
            layer_of(top).unwrap_or_else(|| panic!("{}: module `{top}` has no layer", f.display()));
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let names: Vec<String> = if name.is_empty() && rest.starts_with('{') {
                    // `use crate::{a, b::c}`: each item's first segment.
                    rest[1..]
                        .split('}')
                        .next()
                        .unwrap()
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap().to_string())
                        .collect()
                } else {
                    vec![name]
                };
                for n in names.into_iter().filter(|n| !n.is_empty()) {
                    match layer_of(&n) {
                        Some(l) if l > own => bad.push((f.clone(), i + 1, n)),
                        Some(_) => {}
                        // A crate-root item (`crate::Error`) is the foundation's re-export.
                        None => assert!(
                            ["Error", "Result"].contains(&n.as_str()),
                            "{}:{}: `crate::{n}` is not a layered module",
                            f.display(),
                            i + 1
                        ),
                    }
                }
            }
        }
    }
    bad
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let bad = upward_imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(bad.is_empty(), "upward imports: {bad:#?}");
}

/// The check finds what it is for: a copy of `src/` with one upward import fails it.
#[test]
fn an_upward_import_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for (rel, text) in [
        ("lib.rs", "pub mod kernels;\npub mod report;\n"),
        ("kernels/mod.rs", "use crate::report::plot;\n"),
        (
            "report/mod.rs",
            "use crate::{kernels, error::Error};\n// crate::cli in a comment is fine\n",
        ),
    ] {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let bad = upward_imports(&src);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].0.ends_with("kernels/mod.rs") && bad[0].2 == "report");
}
