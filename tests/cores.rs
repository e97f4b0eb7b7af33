//! Cores are a run-time resource: the same spec trained on 1 and on 2 cores lands in the same
//! run folder name (its id) and ends with bit-identical metrics. The spec's `train.shards`
//! fixes the numbers; `--threads` only says how many of them run at once.

mod common;

use std::path::{Path, PathBuf};

use common::{lrnn_ok, metric_bits};

/// The one run folder under `results/runs/<task>/`, as `<task>/<name>`.
fn only_run(results: &Path) -> PathBuf {
    let task = std::fs::read_dir(results.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let run = std::fs::read_dir(task.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    PathBuf::from(task.file_name()).join(run.file_name())
}

#[test]
fn one_and_two_cores_give_the_same_run_id_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"
[model]
kind = "lstm"
hidden = 24
[task]
name = "adding"
seq_len = 60
train_size = 512
val_size = 64
test_size = 64
[train]
epochs = 2
batch_size = 32
lr = 0.01
shards = 4
"#;
    std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
    let mut ids = Vec::new();
    let mut bits = Vec::new();
    for threads in ["1", "2"] {
        let results = format!("r{threads}");
        lrnn_ok(
            dir.path(),
            &[
                "run",
                "spec.toml",
                "--results",
                &results,
                "--threads",
                threads,
            ],
        );
        let id = only_run(&dir.path().join(&results));
        bits.push(metric_bits(
            &dir.path().join(&results).join("runs").join(&id),
        ));
        ids.push(id);
    }
    assert_eq!(ids[0], ids[1], "the run id follows the cores");
    assert_eq!(bits[0].len(), 2);
    assert_eq!(bits[0], bits[1], "metrics differ between 1 and 2 cores");
}
