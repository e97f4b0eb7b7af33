//! Atomic file writes: every file a run or report writes goes to `PATH.tmp` and is renamed
//! over `PATH`, so a reader (or a run killed mid-write) never sees half a file; and the hex
//! spelling of the digests that name files (run ids, kept analyses) and check downloads. A
//! leaf module, below everything that writes.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Lower-case hex of `bytes` (a digest, or the prefix of one that names a file).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The temporary name `path` is written under before the rename.
pub fn tmp_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.tmp", path.display()))
}

/// Writes `contents` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    replace_with(path, |tmp| {
        std::fs::write(tmp, contents).map_err(|e| Error::io(tmp, e))
    })
}

/// Runs `write` on the temporary path, then renames it over `path`; on any error the
/// temporary file is removed and `path` keeps what it held.
pub fn replace_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = tmp_path(path);
    let done =
        write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}
