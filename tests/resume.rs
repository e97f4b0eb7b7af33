//! Resume: a run killed with SIGKILL in the middle of an epoch, started again with the same
//! command, ends with exactly the metrics of a run that was never interrupted (timing columns
//! aside); a finished run is not trained again; a folder of another spec is refused.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use common::{lrnn, lrnn_command, lrnn_ok};

use lrnn::data::ptb;
use lrnn::experiment::metrics::MetricsTable;
use lrnn::experiment::runs::{RunInfo, State};

/// Starts a run and SIGKILLs it as soon as it reports the checkpoint line `kill_at`.
fn run_and_kill(cwd: &Path, args: &[&str], kill_at: &str) {
    let mut child = lrnn_command(cwd, args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let found = stdout.lines().map(Result::unwrap).any(|line| {
        seen.push(line.clone());
        line.trim() == kill_at
    });
    if found {
        child.kill().unwrap(); // SIGKILL on Unix
    }
    child.wait().unwrap();
    assert!(
        found,
        "the run ended before `{kill_at}`:\n{}",
        seen.join("\n")
    );
}

/// Every column but the wall-clock ones.
fn numbers(dir: &Path) -> MetricsTable {
    let mut t = MetricsTable::read(&dir.join("metrics.csv")).unwrap();
    let keep: Vec<usize> = (0..t.columns.len())
        .filter(|&j| !matches!(t.columns[j].as_str(), "train_s" | "elapsed_s"))
        .collect();
    t.columns = keep.iter().map(|&j| t.columns[j].clone()).collect();
    for r in &mut t.rows {
        *r = keep.iter().map(|&j| r[j]).collect();
    }
    t
}

/// Trains `spec` once straight through and once killed at `kill_at` and resumed; both must agree.
fn check_resume(cwd: &Path, spec: &str, extra: &[&str], kill_at: &str, epochs: usize) {
    let args = |out: &'static str| {
        let mut a = vec!["run", spec, "--out", out, "--checkpoint-every", "3"];
        a.extend(extra);
        a
    };
    lrnn_ok(cwd, &args("straight"));
    run_and_kill(cwd, &args("killed"), kill_at);

    let info = RunInfo::read(&cwd.join("killed")).unwrap();
    assert_eq!(info.state(), State::Interrupted);
    let partial = MetricsTable::read(&cwd.join("killed/metrics.csv")).unwrap();
    assert!(partial.rows.len() < epochs, "killed after the last epoch");

    let resumed = lrnn_ok(cwd, &args("killed"));
    assert!(resumed.contains("resuming from"), "{resumed}");
    let (a, b) = (numbers(&cwd.join("straight")), numbers(&cwd.join("killed")));
    assert_eq!(a.rows.len(), epochs);
    assert_eq!(a, b, "resumed run differs from the uninterrupted one");
    let info = RunInfo::read(&cwd.join("killed")).unwrap();
    assert_eq!((info.state(), info.resumes.len()), (State::Done, 1));

    // A finished run is left alone.
    let before = std::fs::read(cwd.join("killed/metrics.csv")).unwrap();
    let again = lrnn_ok(cwd, &args("killed"));
    assert!(again.contains("already done"), "{again}");
    assert_eq!(
        std::fs::read(cwd.join("killed/metrics.csv")).unwrap(),
        before
    );
}

#[test]
fn a_killed_run_resumes_to_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    // Adding problem: fresh training data every epoch, 60 steps an epoch, 2 shards.
    let spec = r#"
[model]
kind = "lipschitz"
hidden = 48
[task]
name = "adding"
seq_len = 300
train_size = 1920
val_size = 64
test_size = 64
[train]
epochs = 3
batch_size = 32
lr = 0.003
shards = 2
"#;
    std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
    check_resume(
        dir.path(),
        "spec.toml",
        &[],
        "checkpoint: epoch 2 step 30",
        3,
    );

    // Another spec into the same folder is refused, and nothing is written.
    let other = spec.replace("lr = 0.003", "lr = 0.001");
    std::fs::write(dir.path().join("other.toml"), other).unwrap();
    let out = lrnn(dir.path(), &["run", "other.toml", "--out", "killed"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another spec"), "{err}");
}

#[test]
fn a_stream_task_resumes_with_its_carried_state() {
    let dir = tempfile::tempdir().unwrap();
    // A word text from a small vocabulary, in PTB's layout (one sentence a line).
    let words = [
        "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "<unk>", "N",
    ];
    let mut x: u64 = 7;
    let mut text = String::new();
    for line in 0..400 {
        for _ in 0..(5 + line % 7) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push(' ');
            text.push_str(words[(x >> 33) as usize % words.len()]);
        }
        text.push_str(" \n");
    }
    let vocab = {
        let chars = ptb::chars_from_words(&text);
        let mut v = ptb::tokenize_char_file(&chars);
        v.sort();
        v.dedup();
        v.len()
    };
    let ptb_dir = dir.path().join("data/ptb");
    std::fs::create_dir_all(&ptb_dir).unwrap();
    for split in ["train", "valid", "test"] {
        std::fs::write(ptb_dir.join(format!("ptb.{split}.txt")), &text).unwrap();
    }
    let spec = format!(
        r#"
[model]
kind = "lipschitz"
hidden = 32
[task]
name = "ptb_char"
bptt = 20
vocab = {vocab}
[train]
epochs = 2
batch_size = 8
lr = 0.003
eval_batch_size = 8
shards = 2
"#
    );
    std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
    // About 90 steps an epoch; killed mid-stream, so the carried state must be restored.
    let data = dir.path().join("data");
    let data_arg = ["--data-dir", data.to_str().unwrap()];
    check_resume(
        dir.path(),
        "spec.toml",
        &data_arg,
        "checkpoint: epoch 1 step 30",
        2,
    );
}
