//! Property tests of everything that reads a user's files: the spec parser and the data
//! readers, on seeded random mutations of valid inputs (truncations, deleted and inserted
//! bytes, flipped bits, extreme numbers). Whatever the input, the answer is a value or a
//! one-line error naming the file, never a panic. Bounded: a few thousand inputs, seconds.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use lrnn::experiment::spec::Spec;

/// One random edit of `bytes`.
fn mutate(bytes: &[u8], rng: &mut Pcg64, alphabet: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.is_empty() {
        return vec![alphabet[rng.random_range(0..alphabet.len())]];
    }
    match rng.random_range(0..5) {
        0 => b.truncate(rng.random_range(0..b.len())),
        1 => {
            let at = rng.random_range(0..b.len());
            let len = rng.random_range(1..=16.min(b.len() - at));
            b.drain(at..at + len);
        }
        2 => {
            let at = rng.random_range(0..=b.len());
            for _ in 0..rng.random_range(1..8) {
                b.insert(at, alphabet[rng.random_range(0..alphabet.len())]);
            }
        }
        3 => {
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..b.len());
                b[at] ^= 1 << rng.random_range(0..8);
            }
        }
        _ => {
            let at = rng.random_range(0..b.len());
            let v = [0xff, 0x00, 0x7f, 0x80][rng.random_range(0..4)];
            for x in b.iter_mut().skip(at).take(4) {
                *x = v;
            }
        }
    }
    b
}

/// Runs `f`, failing the test on a panic; an error must be one line naming `file`.
fn no_panic<T>(what: &str, file: &Path, f: impl FnOnce() -> lrnn::Result<T>) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Err(_) => panic!("{what}: panicked on {}", file.display()),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let msg = e.to_string();
            // The file itself, or (readers of a folder of files) one beside it.
            let name = file.file_name().unwrap().to_string_lossy();
            let folder = file.parent().unwrap().display().to_string();
            assert!(
                !msg.contains('\n') || msg.lines().count() == 1,
                "{what}: a multi-line error: {msg}"
            );
            assert!(
                msg.contains(&*name) || msg.contains(&folder),
                "{what}: the error does not name {name}: {msg}"
            );
        }
    }
}

#[test]
fn the_spec_parser_never_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64::seed_from_u64(17);
    let alphabet = b"=[]{}\"'\n.,0123456789-+eE_ abcdefghijklmnopqrstuvwxyz#";
    let numbers = [
        "-1",
        "0",
        "1e400",
        "nan",
        "-inf",
        "1e-400",
        "\"x\"",
        "[]",
        "99999999999999999999",
    ];
    let mut inputs = 0;
    for name in [
        "smnist/lipschitz-euler-128.toml",
        "psmnist/lstm-128.toml",
        "ptb_char/lipschitz-euler-150.toml",
        "adding/lipschitz-euler-128.toml",
    ] {
        let Ok(text) = std::fs::read(root.join("experiments").join(name)) else {
            continue;
        };
        for i in 0..400 {
            let mut bytes = mutate(&text, &mut rng, alphabet);
            if i % 4 == 0 {
                // A number replaced by an extreme value.
                let s = String::from_utf8_lossy(&text).into_owned();
                let lines: Vec<&str> = s.lines().collect();
                let k = rng.random_range(0..lines.len());
                if let Some((key, _)) = lines[k].split_once('=') {
                    let mut out = lines.clone();
                    let line = format!("{key}= {}", numbers[rng.random_range(0..numbers.len())]);
                    out[k] = &line;
                    bytes = out.join("\n").into_bytes();
                }
            }
            let path = dir.path().join("mutant.toml");
            std::fs::write(&path, &bytes).unwrap();
            no_panic("spec", &path, || Spec::load(&path, &[]));
            inputs += 1;
        }
    }
    assert_eq!(inputs, 1600, "four specs, 400 mutants each");
}

#[test]
fn the_data_readers_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Pcg64::seed_from_u64(23);
    let bytes: &[u8] = &[0, 1, 2, 3, 8, 13, 255];

    // IDX (MNIST), gzipped and raw.
    let (images, _) = common::fake_mnist(6, 1);
    let idx = lrnn::data::idx::encode_idx(&[6, 28, 28], &images);
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        e.write_all(&idx).unwrap();
        e.finish().unwrap();
    }
    for (valid, name) in [(&idx, "x-idx3-ubyte"), (&gz, "x-idx3-ubyte.gz")] {
        let path = dir.path().join(name);
        for _ in 0..300 {
            std::fs::write(&path, mutate(valid, &mut rng, bytes)).unwrap();
            no_panic("idx", &path, || lrnn::data::idx::read_idx(&path));
        }
    }

    // RIFF WAV.
    let samples: Vec<f32> = (0..400).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
    let wav = common::wav_bytes(&samples, 8000);
    let path = dir.path().join("0_a_1.wav");
    for _ in 0..300 {
        std::fs::write(&path, mutate(&wav, &mut rng, bytes)).unwrap();
        no_panic("wav", &path, || lrnn::data::audio::read_audio(&path));
    }

    // Character-level PTB: the three split files.
    let ptb = dir.path().join("ptb");
    std::fs::create_dir_all(&ptb).unwrap();
    let text = "a b c _ d e\nf g _ h\n".repeat(40).into_bytes();
    let cfg: lrnn::data::ptb::PtbConfig =
        lrnn::config::parse_config(toml::toml! { bptt = 5 vocab = 12 }).unwrap();
    for _ in 0..150 {
        for split in ["train", "valid", "test"] {
            let f = ptb.join(format!("ptb.char.{split}.txt"));
            let data = if rng.random_bool(0.5) {
                mutate(&text, &mut rng, b"ab_ \n\xff")
            } else {
                text.clone()
            };
            std::fs::write(f, data).unwrap();
        }
        no_panic("ptb", &ptb.join("ptb.char.train.txt"), || {
            lrnn::data::ptb::load(&cfg, dir.path())
        });
    }
}
