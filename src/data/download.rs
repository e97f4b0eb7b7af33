//! A data set's official files fetched on first use, as torchvision does: each missing file
//! from its URL into `NAME.part` with a progress bar (on a terminal), resumed by an HTTP range
//! request when an interrupted download left a `.part`, checked against its published MD5,
//! and renamed into place only then, so a file that exists is whole. `--no-download` (or
//! `LRNN_NO_DOWNLOAD=1`) refuses; `LRNN_DOWNLOAD_MIRROR=URL` fetches every file from
//! `URL/<file name>` instead (a mirror, or the test server).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use md5::{Digest, Md5};

use crate::error::{Error, Result};

/// One file of a data set: where it goes under the data directory, where it comes from, and
/// its published MD5.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Relative to the data directory (`mnist/train-images-idx3-ubyte.gz`).
    pub path: String,
    pub url: String,
    pub md5: String,
}

impl Resource {
    fn new(path: &str, url: &str, md5: &str) -> Self {
        Resource {
            path: path.into(),
            url: url.into(),
            md5: md5.into(),
        }
    }
}

/// The four MNIST files at torchvision's mirror, with torchvision's MD5 sums.
pub fn mnist() -> Vec<Resource> {
    const BASE: &str = "https://ossci-datasets.s3.amazonaws.com/mnist";
    [
        (
            "train-images-idx3-ubyte.gz",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            "d53e105ee54ea40749a09fcbcd1e9432",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "9fb629c4189551a2d022fa330f9573f3",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    ]
    .iter()
    .map(|(name, md5)| Resource::new(&format!("mnist/{name}"), &format!("{BASE}/{name}"), md5))
    .collect()
}

/// CIFAR-10's binary batches from its home page, with the MD5 the page publishes.
pub fn cifar10() -> Vec<Resource> {
    vec![Resource::new(
        "cifar10/cifar-10-binary.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        "c32a1d4ab5d03f1284b67883e8d87530",
    )]
}

static REFUSED: AtomicBool = AtomicBool::new(false);

/// `--no-download`: missing files are an error naming where to get them.
pub fn refuse() {
    REFUSED.store(true, Ordering::SeqCst);
}

/// Whether missing files may be fetched (not refused by flag or `LRNN_NO_DOWNLOAD`).
pub fn allowed() -> bool {
    let env_off = std::env::var("LRNN_NO_DOWNLOAD").is_ok_and(|v| !v.is_empty() && v != "0");
    !REFUSED.load(Ordering::SeqCst) && !env_off
}

/// The URL a resource is fetched from: its own, or the mirror's `URL/<file name>`.
fn source(r: &Resource) -> String {
    match std::env::var("LRNN_DOWNLOAD_MIRROR") {
        Ok(m) if !m.is_empty() => {
            let name = r.url.rsplit('/').next().unwrap_or(&r.url);
            format!("{}/{name}", m.trim_end_matches('/'))
        }
        _ => r.url.clone(),
    }
}

/// Fetches each of `missing` into `dir` (an error at the first that fails).
pub fn ensure(dir: &Path, missing: &[Resource]) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    if !allowed() {
        let r = &missing[0];
        return Err(Error::Data(format!(
            "{} is missing and downloads are off (--no-download / LRNN_NO_DOWNLOAD): fetch {} there",
            dir.join(&r.path).display(),
            source(r)
        )));
    }
    for r in missing {
        fetch(dir, r)?;
    }
    Ok(())
}

/// `path` with `.part` appended.
fn part_of(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

/// MD5 of a file, as 32 lowercase hex digits.
pub fn md5_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::io::hex(&h.finalize()))
}

/// Downloads one file: to `.part` (continuing one an interrupted download left), then the
/// MD5 check, then the rename. A broken connection keeps the `.part` for the next attempt;
/// a wrong checksum removes it.
pub fn fetch(dir: &Path, r: &Resource) -> Result<PathBuf> {
    let url = source(r);
    let dest = dir.join(&r.path);
    let part = part_of(&dest);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let offline = |e: &dyn std::fmt::Display| {
        Error::Data(format!(
            "could not download {url}: {e} (offline? put the file at {} by hand, or pass --data-dir)",
            dest.display()
        ))
    };
    let have = std::fs::metadata(&part).map_or(0, |m| m.len());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(&url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let mut resp = req.call().map_err(|e| offline(&e))?;
    let (start, append) = match resp.status().as_u16() {
        206 => (have, true),
        200 => (0, false),
        // Nothing past the end: the part is whole already (its writer stopped before the
        // rename); the checksum decides.
        416 if have > 0 => return finish(&part, &dest, r, &url),
        code => return Err(offline(&format!("HTTP status {code}"))),
    };
    let total = resp.body().content_length().map(|n| n + start);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&part)
        .map_err(|e| Error::io(&part, e))?;
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "  {msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        )
        .expect("a valid template"),
    );
    bar.set_message(format!("downloading {url}"));
    bar.set_position(start);
    // On a terminal the bar says what it fetches; in a log, one line a file.
    if bar.is_hidden() {
        println!("downloading {url} to {}", dest.display());
    }
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = start;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                bar.abandon();
                let of = total.map_or(String::new(), |t| format!(" of {t}"));
                return Err(Error::Data(format!(
                    "download of {url} stopped after {got}{of} bytes: {e}; run again to resume \
                     from {}",
                    part.display()
                )));
            }
        };
        file.write_all(&buf[..n]).map_err(|e| Error::io(&part, e))?;
        got += n as u64;
        bar.set_position(got);
    }
    file.sync_all().map_err(|e| Error::io(&part, e))?;
    drop(file);
    bar.finish_and_clear();
    finish(&part, &dest, r, &url)
}

/// The MD5 check of a downloaded `part`, then its rename to `dest`; a wrong sum removes it.
fn finish(part: &Path, dest: &Path, r: &Resource, url: &str) -> Result<PathBuf> {
    let md5 = md5_file(part)?;
    if md5 != r.md5 {
        let _ = std::fs::remove_file(part);
        return Err(Error::Data(format!(
            "{url}: MD5 {md5}, expected {}: the download is corrupt and was removed; run again",
            r.md5
        )));
    }
    std::fs::rename(part, dest).map_err(|e| Error::io(dest, e))?;
    Ok(dest.to_path_buf())
}

/// The permutation `torch.manual_seed(seed); torch.randperm(n)` gives on the CPU, for
/// `n` below 2^24: a Fisher-Yates pass drawing `mt19937() % (n - i)` for each `i`, from
/// the MT19937 stream PyTorch seeds with `init_genrand(seed)`. The authors' permuted-MNIST
/// order is `torch_randperm(784, 12008)`.
pub fn torch_randperm(n: usize, seed: u32) -> Vec<usize> {
    let mut mt = rand_mt::Mt::new(seed);
    let mut r: Vec<usize> = (0..n).collect();
    for i in 0..n.saturating_sub(1) {
        let z = mt.next_u32() as usize % (n - i);
        r.swap(i, i + z);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first entries of `mnist/pmnist-permutation.txt`, which PyTorch wrote
    /// (`torch.manual_seed(12008); torch.randperm(784)`); tests/mnist_data.rs compares all.
    #[test]
    fn randperm_matches_pytorch() {
        let p = torch_randperm(784, 12008);
        assert_eq!(&p[..10], &[91, 97, 471, 426, 157, 451, 312, 198, 117, 454]);
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..784).collect::<Vec<_>>());
    }

    #[test]
    fn part_names_append() {
        assert_eq!(part_of(Path::new("a/b.gz")), PathBuf::from("a/b.gz.part"));
    }
}
