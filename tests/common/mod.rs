//! Helpers shared by the integration tests: small data sets written in the real formats.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lrnn::data::idx::encode_idx;

/// Writes `bytes` to `path`, gzipped when `gz`.
pub fn write_maybe_gz(path: &Path, bytes: &[u8], gz: bool) {
    let mut f = std::fs::File::create(path).unwrap();
    if gz {
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    } else {
        f.write_all(bytes).unwrap();
    }
}

/// A learnable stand-in for MNIST: label k lights the rows 2k..2k+2 of a 28×28 image, plus noise.
pub fn fake_mnist(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let mut images = vec![0u8; n * 784];
    let mut labels = vec![0u8; n];
    for i in 0..n {
        let k = (next() % 10) as usize;
        labels[i] = k as u8;
        for p in 0..784 {
            let row = p / 28;
            let lit = row / 2 == k + 2;
            images[i * 784 + p] = if lit {
                200 + (next() % 56) as u8
            } else {
                (next() % 40) as u8
            };
        }
    }
    (images, labels)
}

/// Writes the four MNIST IDX files (gzipped or not) into `dir/mnist/`.
pub fn write_fake_mnist(dir: &Path, n_train: usize, n_test: usize, gz: bool) -> PathBuf {
    let m = dir.join("mnist");
    std::fs::create_dir_all(&m).unwrap();
    let ext = if gz { ".gz" } else { "" };
    for (prefix, n, seed) in [("train", n_train, 1), ("t10k", n_test, 2)] {
        let (images, labels) = fake_mnist(n, seed);
        write_maybe_gz(
            &m.join(format!("{prefix}-images-idx3-ubyte{ext}")),
            &encode_idx(&[n, 28, 28], &images),
            gz,
        );
        write_maybe_gz(
            &m.join(format!("{prefix}-labels-idx1-ubyte{ext}")),
            &encode_idx(&[n], &labels),
            gz,
        );
    }
    let perm: Vec<String> = (0..784).rev().map(|i: usize| i.to_string()).collect();
    std::fs::write(m.join("pmnist-permutation.txt"), perm.join(" ")).unwrap();
    m
}

/// The real data directory, if the environment points at one with MNIST in it.
pub fn real_data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("LRNN_DATA_DIR")?);
    dir.join("mnist/train-images-idx3-ubyte.gz")
        .is_file()
        .then_some(dir)
}

/// The `lrnn` binary with `args` in `cwd`, without the caller's data directory.
pub fn lrnn_command(cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lrnn"));
    c.args(args).current_dir(cwd).env_remove("LRNN_DATA_DIR");
    c
}

/// Runs the `lrnn` binary with `args` in `cwd`, without the caller's data directory.
pub fn lrnn(cwd: &Path, args: &[&str]) -> Output {
    lrnn_command(cwd, args).output().unwrap()
}

/// Runs `lrnn` to success and returns its standard output; panics with both outputs otherwise.
pub fn lrnn_ok(cwd: &Path, args: &[&str]) -> String {
    output_ok(lrnn(cwd, args), args)
}

/// The standard output of a finished `lrnn` run; panics with both outputs if it failed.
pub fn output_ok(out: Output, args: &[&str]) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A small spec for `lipschitz` on fake smnist: `extra` lines are appended under `[train]`.
pub fn tiny_spec(extra_train: &str) -> String {
    format!(
        r#"
[model]
kind = "lipschitz"
hidden = 16
scheme = "euler"
eps = 0.1
beta = 0.75
gamma_a = 0.001
gamma_w = 0.001
init_std = 0.1

[task]
name = "smnist"
val_size = 100

[train]
epochs = 2
batch_size = 32
lr = 0.01
eval_batch_size = 200
{extra_train}
"#
    )
}

/// A mono 16-bit PCM RIFF WAV of `samples` (in [-1, 1)) at `rate`.
pub fn wav_bytes(samples: &[f32], rate: u32) -> Vec<u8> {
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|&s| ((s * 32767.0).round() as i16).to_le_bytes())
        .collect();
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// A run folder's `metrics.csv` as bits, every column but the wall-clock ones: what two runs
/// of the same spec must agree on exactly.
pub fn metric_bits(dir: &Path) -> Vec<Vec<u64>> {
    let t = lrnn::experiment::metrics::MetricsTable::read(&dir.join("metrics.csv")).unwrap();
    let keep: Vec<usize> = (0..t.columns.len())
        .filter(|&j| !matches!(t.columns[j].as_str(), "train_s" | "elapsed_s"))
        .collect();
    t.rows
        .iter()
        .map(|r| keep.iter().map(|&j| r[j].to_bits()).collect())
        .collect()
}
