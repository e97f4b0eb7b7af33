//! Where the project's specs, paper tables and published numbers live (`experiments/`,
//! `baselines/`), so that an installed `lrnn` finds them from any directory: `--root`, else
//! `$LRNN_ROOT`, else the current directory when it has `experiments/tables`, else the source
//! tree the binary was built from when it is still there, else the copy embedded in the
//! binary at build time, written out once to a cache folder named after the build.
//! `LRNN_NO_SOURCE_TREE=1` skips the source tree, as a binary installed on another machine
//! has none (how `tests/installed.rs` runs one).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The files embedded at build time: `(path relative to the root, bytes)`.
pub fn embedded_files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

fn is_root(dir: &Path) -> bool {
    dir.join("experiments/tables").is_dir()
}

/// The project root (see the module docs); `cli` is a `--root` flag's value.
pub fn root(cli: Option<&Path>) -> Result<PathBuf> {
    let named = cli
        .map(|p| (p.to_path_buf(), "--root"))
        .or_else(|| std::env::var_os("LRNN_ROOT").map(|p| (PathBuf::from(p), "$LRNN_ROOT")));
    if let Some((dir, from)) = named {
        return if is_root(&dir) {
            Ok(dir)
        } else {
            Err(Error::Data(format!(
                "{} (from {from}) has no experiments/tables",
                dir.display()
            )))
        };
    }
    if is_root(Path::new(".")) {
        return Ok(PathBuf::from("."));
    }
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("LRNN_NO_SOURCE_TREE").is_none() && is_root(&source) {
        return Ok(source);
    }
    unpacked()
}

/// The embedded copy, written to `$XDG_CACHE_HOME/lrnn/root-<commit>` (else
/// `~/.cache/...`, else the temp directory) unless it is there already.
fn unpacked() -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let commit: String = env!("LRNN_GIT_COMMIT").chars().take(12).collect();
    let dir = cache.join("lrnn").join(format!(
        "root-{}-{commit}{}",
        env!("CARGO_PKG_VERSION"),
        if env!("LRNN_GIT_DIRTY") == "true" {
            "-dirty"
        } else {
            ""
        }
    ));
    if !is_root(&dir) {
        write_embedded(&dir)?;
    }
    Ok(dir)
}

/// Writes every embedded file under `dir`, through a sibling folder renamed into place, so a
/// reader never sees half a tree.
pub fn write_embedded(dir: &Path) -> Result<()> {
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    for (rel, bytes) in embedded_files() {
        let p = tmp.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
    }
    match std::fs::rename(&tmp, dir) {
        Ok(()) => Ok(()),
        // Another process wrote it first: theirs is the same tree.
        Err(_) if is_root(dir) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// A spec path as given when it exists, else the same relative path under the project root
/// (`lrnn run experiments/smnist/lipschitz-euler-128.toml` from any directory).
pub fn find_spec(path: &Path) -> PathBuf {
    if path.exists() || path.is_absolute() {
        return path.to_path_buf();
    }
    match root(None) {
        Ok(r) if r.join(path).exists() => r.join(path),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_tree_holds_the_tables_specs_and_published_numbers() {
        let names: Vec<&str> = embedded_files().iter().map(|(p, _)| *p).collect();
        for want in [
            "experiments/tables/mnist.toml",
            "experiments/smnist/lipschitz-euler-128.toml",
            "baselines/lipschitz-rnn.csv",
        ] {
            assert!(names.contains(&want), "{want} not embedded: {names:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        write_embedded(&root).unwrap();
        assert!(is_root(&root));
        let (_, bytes) = embedded_files()
            .iter()
            .find(|(p, _)| *p == "experiments/tables/mnist.toml")
            .unwrap();
        assert_eq!(
            std::fs::read(root.join("experiments/tables/mnist.toml")).unwrap(),
            *bytes
        );
    }
}
