//! The MNIST reader and the pixel tasks, on small generated files in the real IDX format
//! (gzipped and raw), broken files, and — when `LRNN_DATA_DIR` points at it — the real data.

mod common;

use std::path::Path;

use lrnn::data::mnist::{self, MnistConfig};
use lrnn::data::numpy_rng::legacy_permutation;
use lrnn::data::pixels::PixelTask;
use lrnn::data::{SplitName, Task};
use lrnn::net::model::Target;

fn config(text: &str) -> MnistConfig {
    toml::from_str(text).unwrap()
}

/// Loads ordered (`smnist …`) or permuted (`psmnist …`) MNIST with the options after the name.
fn load(spec: &str, dir: &Path) -> lrnn::Result<PixelTask> {
    let (name, options) = spec.split_once(' ').unwrap_or((spec, ""));
    mnist::load(&config(&options.replace(';', "\n")), name == "psmnist", dir)
}

#[test]
fn loads_gzipped_and_raw_files_with_the_authors_split() {
    for gz in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        common::write_fake_mnist(dir.path(), 300, 50, gz);
        let d = load("smnist val_size = 40", dir.path()).unwrap();
        assert_eq!((d.train.len, d.val.len, d.test.len), (260, 40, 50));
        let info = d.info();
        assert_eq!(
            (info.seq_len, info.input_size, info.classes),
            (784, 1, Some(10))
        );
        // Validation is the tail of numpy's RandomState(1234).permutation(300).
        let (images, labels) = common::fake_mnist(300, 1);
        let perm = legacy_permutation(1234, 300);
        assert_eq!(d.val.labels[0], labels[perm[260]]);
        assert_eq!(
            &d.val.inputs[..784],
            &images[perm[260] * 784..(perm[260] + 1) * 784]
        );

        // Batches are time-major [T·B, 1], scaled to [0, 1].
        let b = d.batch(SplitName::Val, 2, 1, 0, 0);
        assert_eq!(b.x.dim(), (784 * 2, 1));
        let Target::Class(y) = &b.target else {
            panic!("class targets")
        };
        assert_eq!(y, &vec![d.val.labels[0] as usize, d.val.labels[1] as usize]);
        assert_eq!(
            b.x[[2 * 100 + 1, 0]],
            d.val.inputs[784 + 100] as f32 / 255.0
        );
        // Training batches follow a shuffled order that depends on the epoch only through the seed stream.
        let (e0, e0b, e1) = (
            d.batch(SplitName::Train, 8, 1, 0, 3),
            d.batch(SplitName::Train, 8, 1, 0, 3),
            d.batch(SplitName::Train, 8, 1, 1, 3),
        );
        assert_eq!(e0.x, e0b.x);
        assert_ne!(e0.x, e1.x);
    }
}

/// Without the permutation file the authors' order is computed, named or not in the spec;
/// another path that is missing is an error.
#[test]
fn a_missing_default_permutation_is_computed() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::write_fake_mnist(dir.path(), 100, 10, true);
    std::fs::remove_file(m.join("pmnist-permutation.txt")).unwrap();
    let torch = lrnn::data::download::torch_randperm(784, 12008);
    for spec in [
        "psmnist val_size = 10",
        "psmnist val_size = 10;permutation = \"mnist/pmnist-permutation.txt\"",
    ] {
        assert_eq!(load(spec, dir.path()).unwrap().gather, torch, "{spec}");
    }
    let err = load(
        "psmnist val_size = 10;permutation = \"mnist/other.txt\"",
        dir.path(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("other.txt"), "{err}");
}

#[test]
fn permuted_task_reorders_pixels_and_keeps_raw_values() {
    let dir = tempfile::tempdir().unwrap();
    common::write_fake_mnist(dir.path(), 100, 10, true); // permutation file: 783, 782, …, 0
    let d = load("psmnist val_size = 10", dir.path()).unwrap();
    let x = d.batch(SplitName::Test, 1, 1, 0, 3).x;
    for t in [0, 5, 783] {
        assert_eq!(
            x[[t, 0]],
            d.test.inputs[3 * 784 + 783 - t] as f32,
            "step {t}"
        );
    }
}

#[test]
fn broken_files_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::write_fake_mnist(dir.path(), 50, 10, false);
    let images = m.join("train-images-idx3-ubyte");
    let good = std::fs::read(&images).unwrap();
    let spec = "smnist val_size = 5";

    std::fs::write(&images, &good[..good.len() - 100]).unwrap();
    let e = load(spec, dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );

    let mut wrong = good.clone();
    wrong[..4].copy_from_slice(b"GIF8");
    std::fs::write(&images, &wrong).unwrap();
    let e = load(spec, dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("magic"),
        "{e}"
    );

    std::fs::write(&images, &good).unwrap();
    let labels = m.join("train-labels-idx1-ubyte");
    let lab = std::fs::read(&labels).unwrap();
    std::fs::write(&labels, &lab[..lab.len() - 1]).unwrap();
    let e = load(spec, dir.path()).err().unwrap().to_string();
    assert!(e.contains("train-labels-idx1-ubyte"), "{e}");

    // A gzip stream cut short is a clear error too.
    std::fs::write(&labels, &lab).unwrap();
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        enc.write_all(&good).unwrap();
        enc.finish().unwrap();
    }
    std::fs::remove_file(&images).unwrap();
    std::fs::write(m.join("train-images-idx3-ubyte.gz"), &gz[..gz.len() / 2]).unwrap();
    let e = load(spec, dir.path()).err().unwrap().to_string();
    assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");

    std::fs::remove_file(m.join("train-images-idx3-ubyte.gz")).unwrap();
    let e = load(spec, dir.path()).err().unwrap().to_string();
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn real_mnist_has_the_authors_split() {
    let Some(dir) = common::real_data_dir() else {
        eprintln!("skipped: LRNN_DATA_DIR does not point at the real MNIST files");
        return;
    };
    let d = load("smnist", &dir).unwrap();
    assert_eq!(
        (d.train.len, d.val.len, d.test.len),
        (58_000, 2_000, 10_000)
    );
    // The last validation image is training image 27439 (numpy: RandomState(1234).permutation(60000)[-1]).
    let raw = lrnn::data::idx::read_idx(&dir.join("mnist/train-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(
        &d.val.inputs[1999 * 784..],
        &raw.data[27439 * 784..27440 * 784]
    );
    let p = load("psmnist", &dir).unwrap();
    assert_ne!(p.gather, (0..784).collect::<Vec<_>>());
    assert_eq!(p.scale, 1.0, "the authors feed raw 0..255 pixels to pMNIST");
}

/// The permutation lrnn computes when the file is absent is the one PyTorch wrote into the
/// data directory (`torch.manual_seed(12008); torch.randperm(784)`), every entry.
#[test]
fn the_computed_permutation_is_pytorchs() {
    let Some(dir) = common::real_data_dir() else {
        eprintln!("skipped: LRNN_DATA_DIR does not point at the real MNIST files");
        return;
    };
    let file =
        lrnn::data::mnist::read_permutation(&dir.join("mnist/pmnist-permutation.txt")).unwrap();
    assert_eq!(lrnn::data::download::torch_randperm(784, 12008), file);
}

/// A capped evaluation of MNIST reads the splits' first examples as before: the test split is
/// in the file's mixed order and validation a random tail, so neither is replaced.
#[test]
fn a_capped_evaluation_keeps_the_prefix_of_mnist() {
    let dir = tempfile::tempdir().unwrap();
    common::write_fake_mnist(dir.path(), 300, 50, true);
    let mut d = load("smnist val_size = 40", dir.path()).unwrap();
    let before = (d.val.clone(), d.test.clone(), d.info().notes.clone());
    d.cap_evaluation(20, 1);
    let after = (d.val.clone(), d.test.clone(), d.info().notes.clone());
    assert_eq!(
        (
            &before.0.inputs,
            &before.0.labels,
            &before.1.inputs,
            &before.1.labels,
            &before.2
        ),
        (
            &after.0.inputs,
            &after.0.labels,
            &after.1.inputs,
            &after.1.labels,
            &after.2
        )
    );
}
