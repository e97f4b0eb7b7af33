//! The sequence tasks on small generated files in their real formats: PTB characters (and
//! their derivation from the word files), speech frames from WAV recordings, the generated
//! adding problem; and, when `LRNN_DATA_DIR` points at them, the real data's counts.

mod common;

use std::path::Path;

use lrnn::data::{SplitName, Task, TaskConfig, ptb};
use lrnn::net::model::Target;

fn task(name: &str, options: &str, dir: Option<&Path>) -> lrnn::Result<Box<dyn Task>> {
    TaskConfig::parse(name, options.parse().unwrap())
        .unwrap()
        .load(dir)
}

const WORDS: &str = " the cat sat \n on the mat \n a dog <unk> N \n";

#[test]
fn ptb_characters_stream_in_segments_with_carried_state() {
    let dir = tempfile::tempdir().unwrap();
    let chars = ptb::chars_from_words(WORDS);
    assert_eq!(chars.lines().next(), Some("t h e _ c a t _ s a t"));
    let symbols = ptb::tokenize_char_file(&chars);
    let vocab = {
        let mut v = symbols.clone();
        v.sort();
        v.dedup();
        v.len()
    };
    // Character files for train, word files for the others (derived on the fly).
    std::fs::create_dir(dir.path().join("ptb")).unwrap();
    std::fs::write(dir.path().join("ptb/ptb.char.train.txt"), chars.repeat(4)).unwrap();
    std::fs::write(dir.path().join("ptb/ptb.valid.txt"), WORDS).unwrap();
    std::fs::write(dir.path().join("ptb/ptb.test.txt"), WORDS).unwrap();
    let t = task(
        "ptb_char",
        &format!("bptt = 5\nvocab = {vocab}"),
        Some(dir.path()),
    )
    .unwrap();
    let info = t.info();
    assert_eq!(
        (info.train, info.val, info.test),
        (4 * symbols.len(), symbols.len(), symbols.len())
    );
    let b = 2;
    let len = info.train / b;
    assert_eq!(t.num_batches(SplitName::Train, b), (len - 1).div_ceil(5));
    let first = t.batch(SplitName::Train, b, 1, 0, 0);
    let second = t.batch(SplitName::Train, b, 1, 0, 1);
    assert!(!first.carry && second.carry);
    let Target::Tokens(y) = &first.target else {
        panic!("tokens")
    };
    // One-hot inputs; the target of step s is the input of step s + 1, in each stream.
    for row in first.x.rows() {
        assert_eq!(row.sum(), 1.0);
    }
    let argmax = |r: usize| first.x.row(r).iter().position(|&v| v == 1.0).unwrap();
    for s in 0..b {
        for step in 0..4 {
            assert_eq!(y[step * b + s], argmax((step + 1) * b + s));
        }
    }
    let wrong = task("ptb_char", "vocab = 50", Some(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        wrong.contains("ptb.char.train.txt") && wrong.contains("vocab"),
        "{wrong}"
    );
}

#[test]
fn speech_frames_predict_the_next_frame_with_a_mask() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("fsdd/recordings");
    std::fs::create_dir_all(&rec).unwrap();
    for (speaker, n) in [("alice", 3), ("bob", 2), ("carol", 2)] {
        for i in 0..n {
            let len = 800 + 300 * i; // different lengths, so batches need padding
            let tone: Vec<f32> = (0..len)
                .map(|k| 0.3 * (k as f32 * 0.05 * (i + 1) as f32).sin())
                .collect();
            std::fs::write(
                rec.join(format!("{i}_{speaker}_{i}.wav")),
                common::wav_bytes(&tone, 8000),
            )
            .unwrap();
        }
    }
    let t = task(
        "speech",
        "val_speakers = ['bob']\ntest_speakers = ['carol']",
        Some(dir.path()),
    )
    .unwrap();
    let info = t.info();
    assert_eq!(
        (info.train, info.val, info.test, info.input_size),
        (3, 2, 2, 129)
    );
    assert!(info.notes[0].contains("STAND-IN for TIMIT"));
    let b = t.batch(SplitName::Val, 2, 1, 0, 0);
    let Target::Frames { values, mask } = &b.target else {
        panic!("frames")
    };
    let steps = b.x.nrows() / 2;
    // Frames of 800 and 1100 samples: 6 and 8 STFT frames, so 5 and 7 predictions.
    assert_eq!(steps, 7);
    assert_eq!(mask.iter().sum::<f32>(), 12.0);
    assert_eq!(mask[5 * 2], 0.0); // the short utterance ends after 5 steps
    assert_eq!(b.x.row(2), values.row(0)); // next frame of step 0 is the input of step 1
}

#[test]
fn adding_problem_is_generated_from_seeds() {
    let t = task(
        "adding",
        "seq_len = 20\ntrain_size = 64\nval_size = 10\ntest_size = 10",
        None,
    )
    .unwrap();
    let b = t.batch(SplitName::Train, 16, 7, 0, 0);
    let Target::Value(y) = &b.target else {
        panic!("values")
    };
    for s in 0..16 {
        let marks: Vec<usize> = (0..20)
            .filter(|&step| b.x[[step * 16 + s, 1]] == 1.0)
            .collect();
        assert_eq!(marks.len(), 2);
        assert!(marks[0] < 10 && marks[1] >= 10);
        let sum: f32 = marks.iter().map(|&m| b.x[[m * 16 + s, 0]]).sum();
        assert!((sum - y[[s, 0]]).abs() < 1e-6);
    }
    // Evaluation data does not depend on the training seed; training data changes each epoch.
    assert_eq!(
        t.batch(SplitName::Test, 10, 1, 0, 0).x,
        t.batch(SplitName::Test, 10, 2, 5, 0).x
    );
    assert_ne!(t.batch(SplitName::Train, 16, 7, 1, 0).x, b.x);
}

#[test]
fn real_data_counts() {
    let Some(dir) = common::real_data_dir() else {
        eprintln!("skipped: LRNN_DATA_DIR does not point at the real data sets");
        return;
    };
    let ptb = task("ptb_char", "", Some(&dir)).unwrap();
    let i = ptb.info();
    assert_eq!(
        (i.train, i.val, i.test, i.vocab),
        (5_017_482, 393_042, 442_423, Some(50))
    );
    // The standard recipe applied to the word files gives exactly the character files.
    let words = std::fs::read_to_string(dir.join("ptb/ptb.valid.txt")).unwrap();
    let chars = std::fs::read_to_string(dir.join("ptb/ptb.char.valid.txt")).unwrap();
    assert_eq!(
        ptb::tokenize_char_file(&ptb::chars_from_words(&words)),
        ptb::tokenize_char_file(&chars)
    );
    let speech = task("speech", "", Some(&dir)).unwrap();
    let s = speech.info();
    assert_eq!(s.train + s.val + s.test, 3_000);
    assert_eq!((s.val, s.test), (500, 500), "one speaker each");
}
