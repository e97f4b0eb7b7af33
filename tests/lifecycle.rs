//! A run's life across commands: extended to more epochs from its checkpoint (with the same
//! numbers as a run trained to that length at once), found again through its own spec.toml,
//! labelled with --name and --tag, and listed with a header, filters and sorting.

mod common;

use std::path::Path;

const SPEC: &str = "[model]\nkind = \"lipschitz\"\nhidden = 8\n[task]\nname = \"adding\"\nseq_len = 20\ntrain_size = 128\nval_size = 32\ntest_size = 32\n[train]\nepochs = 2\nbatch_size = 32\nlr = 0.01\nlr_decay = 0.5\nlr_decay_epochs = [2]\n";

/// metrics.csv without its timing columns, as text: what must match between two runs.
fn numbers(dir: &Path) -> Vec<String> {
    let m = lrnn::experiment::metrics::MetricsTable::read(&dir.join("metrics.csv")).unwrap();
    let keep: Vec<usize> = (0..m.columns.len())
        .filter(|&i| !m.columns[i].ends_with("_s"))
        .collect();
    m.rows
        .iter()
        .map(|r| {
            keep.iter()
                .map(|&i| format!("{}={:e}", m.columns[i], r[i]))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_finished_run_extends_to_more_epochs_with_the_numbers_of_a_longer_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.toml"), SPEC).unwrap();
    common::lrnn_ok(d, &["run", "s.toml"]);
    let out = common::lrnn_ok(d, &["run", "s.toml", "--set", "train.epochs=4"]);
    assert!(
        out.contains("extending adding/s-s1-") && out.contains("to 4 epochs"),
        "{out}"
    );
    assert!(out.contains("resuming from"), "{out}");

    // The same four epochs trained in one go, in another results directory.
    common::lrnn_ok(
        d,
        &[
            "run",
            "s.toml",
            "--set",
            "train.epochs=4",
            "--results",
            "straight",
        ],
    );
    let find = |results: &str, epochs: usize| {
        let runs = d.join(results).join("runs/adding");
        std::fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| run_json(p)["epochs"] == epochs)
            .unwrap_or_else(|| panic!("no {epochs}-epoch run under {}", runs.display()))
    };
    let (extended, straight, short) = (find("results", 4), find("straight", 4), find("results", 2));
    assert_eq!(numbers(&extended).len(), 4);
    assert_eq!(numbers(&extended), numbers(&straight));
    let info = run_json(&extended);
    assert_eq!(info["status"], "done");
    assert_eq!(
        info["extended_from"].as_str(),
        short.strip_prefix(d.join("results/runs")).unwrap().to_str()
    );
    // The shorter run is left as it was.
    assert_eq!(numbers(&short).len(), 2);
    assert_eq!(numbers(&short)[..], numbers(&straight)[..2]);

    // Its learning curves: one line a split, the run and its progress in the title.
    let svg = d.join("curves.svg");
    common::lrnn_ok(
        d,
        &["plot", extended.to_str().unwrap(), "--out", "curves.svg"],
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") || text.contains("<svg"),
        "not an SVG"
    );
    for want in ["train", "val", "test", "4 of 4 epochs"] {
        assert!(text.contains(want), "{want} missing from the figure");
    }

    // --restart trains from scratch instead of extending.
    std::fs::remove_dir_all(&extended).unwrap();
    let out = common::lrnn_ok(
        d,
        &["run", "s.toml", "--set", "train.epochs=4", "--restart"],
    );
    assert!(!out.contains("extending"), "{out}");
    assert!(run_json(&find("results", 4)).get("extended_from").is_none());
}

#[test]
fn a_run_folders_own_spec_finds_that_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.toml"), SPEC).unwrap();
    // A folder outside results/runs, as results/reference/... is.
    common::lrnn_ok(d, &["run", "s.toml", "--out", "kept/s-run"]);
    let again = common::lrnn_ok(d, &["run", "kept/s-run/spec.toml"]);
    assert!(again.contains("already done"), "{again}");
    assert!(!d.join("results").exists(), "a second folder was made");
    // With an override it is another run, named after the folder's spec, not `spec`.
    let other = common::lrnn_ok(
        d,
        &["run", "kept/s-run/spec.toml", "--set", "train.lr=0.02"],
    );
    assert!(other.contains("results/runs/adding/s-s1-"), "{other}");
}

#[test]
fn names_and_tags_label_runs_and_list_filters_and_sorts_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.toml"), SPEC.replace("epochs = 2", "epochs = 1")).unwrap();
    common::lrnn_ok(
        d,
        &[
            "run", "s.toml", "--name", "baseline", "--tag", "first", "--tag", "lr",
        ],
    );
    common::lrnn_ok(
        d,
        &["run", "s.toml", "--set", "train.lr=0.003", "--tag", "lr"],
    );
    common::lrnn_ok(d, &["run", "s.toml", "--set", "train.lr=0.03"]);

    let table = common::lrnn_ok(d, &["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("STATE") && lines[0].contains("LR") && lines[0].contains("RUN"),
        "{table}"
    );
    assert_eq!(lines.len(), 4, "{table}");
    assert!(table.contains("baseline first,lr"), "{table}");

    let ids = |args: &[&str]| -> Vec<f64> {
        let json = common::lrnn_ok(d, &[&["list", "--json"], args].concat());
        let runs: serde_json::Value = serde_json::from_str(&json).unwrap();
        runs.as_array()
            .unwrap()
            .iter()
            .map(|r| r["train.lr"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(ids(&["--tag", "lr", "--sort", "train.lr"]), [0.003, 0.01]);
    assert_eq!(ids(&["--sort", "train.lr", "--desc"]), [0.03, 0.01, 0.003]);
    assert_eq!(ids(&["--where", "train.lr=3e-2"]), [0.03]);
    assert_eq!(ids(&["--task", "smnist"]), Vec::<f64>::new());
    let json = common::lrnn_ok(d, &["list", "--json", "--tag", "first"]);
    let runs: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(runs[0]["name"], "baseline");
    assert_eq!(runs[0]["tags"], serde_json::json!(["first", "lr"]));
    // A malformed filter is refused by the parser.
    let bad = common::lrnn(d, &["list", "--where", "train.lr"]);
    assert!(!bad.status.success());
}
