//! An installed `lrnn`: the binary copied elsewhere and run from a directory with no
//! experiments, the source tree out of its sight (`LRNN_NO_SOURCE_TREE`), finds the specs,
//! tables and published numbers built into it.

mod common;

use std::process::Command;

#[test]
fn an_installed_binary_finds_its_specs_and_tables_without_the_source_tree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin = d.join("bin/lrnn");
    std::fs::create_dir_all(d.join("bin")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_lrnn"), &bin).unwrap();
    let work = d.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let lrnn = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .current_dir(&work)
            .env("LRNN_NO_SOURCE_TREE", "1")
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env_remove("LRNN_ROOT")
            .env_remove("LRNN_RESULTS_DIR")
            .output()
            .unwrap()
    };
    let shown = common::output_ok(
        lrnn(&["spec", "show", "experiments/adding/quickstart.toml"]),
        &["spec show"],
    );
    assert!(shown.contains("seq_len = 50"), "{shown}");
    let roots: Vec<_> = std::fs::read_dir(d.join("cache/lrnn"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(roots.len(), 1, "one unpacked root");
    assert!(
        roots[0]
            .path()
            .join("baselines/lipschitz-rnn.csv")
            .is_file()
    );

    let ran = common::output_ok(
        lrnn(&[
            "run",
            "experiments/adding/quickstart.toml",
            "--set",
            "train.epochs=1",
            "--set",
            "train.max_steps_per_epoch=2",
            "--set",
            "task.train_size=512",
        ]),
        &["run"],
    );
    assert!(ran.contains("results/runs/adding/quickstart-s1-"), "{ran}");
    assert!(work.join("results/runs/adding").is_dir());

    // The tables are the embedded ones: an unknown name lists them.
    let out = lrnn(&["reproduce", "nosuch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("mnist") && err.contains("ptb"), "{err}");
}
