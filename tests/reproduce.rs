//! `lrnn reproduce` on a small table of generated-data rows: it trains each row once, writes
//! the table as CSV, HDF5 and Markdown with ours beside the published number, finds the runs
//! again on a second call instead of retraining, and `lrnn list` / `lrnn export` see them.

mod common;

use common::lrnn_ok as lrnn;

const SPEC: &str = r#"
[model]
kind = "lipschitz"
hidden = 16
[task]
name = "adding"
seq_len = 40
train_size = 256
val_size = 64
test_size = 64
[train]
epochs = 5
batch_size = 32
lr = 0.01
"#;

const TABLE: &str = r#"
title = "Adding, two widths"
notes = ["a test table"]
[profiles.smoke]
about = "two epochs"
set = ["train.epochs=2"]
[profiles.short]
about = "the same two epochs, compared"
set = ["train.epochs=2"]
[[rows]]
spec = "../adding/a.toml"
label = "Lipschitz, N=16"
published = "Lipschitz RNN"
[[rows]]
spec = "../adding/a.toml"
label = "Lipschitz, N=24"
set = ["model.hidden=24"]
"#;

#[test]
fn reproduce_trains_each_row_once_and_writes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["experiments/adding", "experiments/tables", "baselines"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("experiments/adding/a.toml"), SPEC).unwrap();
    // The second row is the same spec at another width, through the row's own overrides.
    std::fs::write(root.join("experiments/tables/t.toml"), TABLE).unwrap();
    std::fs::write(
        root.join("baselines/x.csv"),
        "table,task,model,hidden,params,metric,value,confirmed,source\n\
         t,adding,Lipschitz RNN,16,,test_mse,0.25,no,made up for the test\n",
    )
    .unwrap();

    let first = lrnn(
        root,
        &["reproduce", "t", "--profile", "smoke", "--jobs", "2"],
    );
    assert!(first.contains("2 rows, 2 to run"), "{first}");
    let mut r = csv::Reader::from_path(root.join("results/tables/t-smoke.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |i: usize, name: &str| -> String {
        let j = header.iter().position(|h| h == name).unwrap();
        rows[i][j].to_string()
    };
    assert_eq!(col(0, "row"), "Lipschitz, N=16");
    assert_eq!(
        (col(0, "published"), col(0, "epochs")),
        ("0.25".into(), "2".into())
    );
    let ours: f64 = col(0, "ours").parse().unwrap();
    // A smoke table's numbers mean nothing: no difference to the published one.
    assert!(!header.iter().any(|h| h == "diff"), "{header:?}");
    assert_eq!(
        (col(1, "published"), col(1, "hidden")),
        ("".into(), "24".into())
    );

    // The HDF5 table holds the same rows, with the column order as an attribute.
    let f = hdf5::File::open(root.join("results/tables/t-smoke.h5")).unwrap();
    let g = f.group("table").unwrap();
    let ours_h5: Vec<f64> = g.dataset("ours").unwrap().read_raw().unwrap();
    assert_eq!(ours_h5[0], ours);
    let columns: Vec<hdf5::types::VarLenUnicode> = g.attr("columns").unwrap().read_raw().unwrap();
    assert_eq!(columns.len(), header.len());
    let epochs = f.group("epochs").unwrap();
    assert_eq!(
        epochs.dataset("epoch").unwrap().size(),
        4,
        "2 runs x 2 epochs"
    );

    let md = std::fs::read_to_string(root.join("results/tables/t-smoke.md")).unwrap();
    assert!(md.contains("Profile `smoke`: two epochs") && md.contains("a test table"));
    assert!(!md.contains("| diff |"), "{md}");
    // Outside a git checkout the table says it cannot tell whether its files are committed.
    assert!(
        md.contains("Table and spec files: not in a git checkout"),
        "{md}"
    );
    assert!(
        root.join("results/tables/t-smoke-curves-adding.svg")
            .exists()
    );

    // Done rows are found again, not retrained (the same --jobs: it sets the shards, part of the id).
    let second = lrnn(
        root,
        &["reproduce", "t", "--profile", "smoke", "--jobs", "2"],
    );
    assert!(second.contains("0 to run"), "{second}");

    // Another profile of the same runs reuses them and compares: ours - published.
    let short = lrnn(
        root,
        &["reproduce", "t", "--profile", "short", "--jobs", "2"],
    );
    assert!(short.contains("0 to run"), "{short}");
    let mut r = csv::Reader::from_path(root.join("results/tables/t-short.csv")).unwrap();
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let first_row = r.records().next().unwrap().unwrap();
    let at = |name: &str| first_row[h.iter().position(|c| c == name).unwrap()].to_string();
    let diff: f64 = at("diff").parse().unwrap();
    assert!((ours - 0.25 - diff).abs() < 1e-12);

    // The resolved spec: overrides applied, defaults written out.
    let shown = lrnn(
        root,
        &[
            "spec",
            "show",
            "experiments/adding/a.toml",
            "--set",
            "train.lr=0.5",
        ],
    );
    assert!(
        shown.contains("lr = 0.5")
            && shown.contains("adam_eps = ")
            && shown.contains("beta = 0.75"),
        "{shown}"
    );

    let list = lrnn(root, &["list"]);
    assert!(
        list.contains("done") && list.contains("adding/a-s1-"),
        "{list}"
    );
    let export = lrnn(root, &["export"]);
    assert!(export.contains("2 runs, 4 epoch rows"), "{export}");
}

/// A project root with the spec `a.toml`, the table `NAME.toml` and no published numbers.
fn project(root: &std::path::Path, name: &str, table: &str) {
    for d in ["experiments/adding", "experiments/tables", "baselines"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("experiments/adding/a.toml"), SPEC).unwrap();
    std::fs::write(root.join(format!("experiments/tables/{name}.toml")), table).unwrap();
    std::fs::write(
        root.join("baselines/x.csv"),
        "table,task,model,hidden,params,metric,value,confirmed,source\n",
    )
    .unwrap();
}

/// `--seeds`: each row trained once a seed; the table row is their mean ± std with n, and
/// the first seed's run is the run without `--seeds` when the spec's seed is 1.
#[test]
fn reproduce_with_seeds_reports_mean_std_and_n_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root, "t", TABLE);
    let out = lrnn(
        root,
        &[
            "reproduce",
            "t",
            "--profile",
            "smoke",
            "--jobs",
            "2",
            "--seeds",
            "1,2,3",
        ],
    );
    assert!(out.contains("2 rows × 3 seeds, 6 to run"), "{out}");
    let mut r = csv::Reader::from_path(root.join("results/tables/t-smoke.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "a row a table row, not a seed");
    let col = |i: usize, name: &str| -> String {
        let j = header.iter().position(|h| h == name).unwrap();
        rows[i][j].to_string()
    };
    assert_eq!(col(0, "n"), "3");
    assert_eq!(col(0, "state"), "done");
    // The mean and std recomputed from the three runs' own records.
    let ids: Vec<String> = col(0, "run_id").split(' ').map(String::from).collect();
    assert_eq!(ids.len(), 3);
    let values: Vec<f64> = ids
        .iter()
        .map(|id| {
            let rec = lrnn::experiment::runs::RunRecord::read(&root.join("results/runs").join(id))
                .unwrap();
            lrnn::report::results::Summary::of(&rec)
                .test_at_best_val
                .unwrap()
        })
        .collect();
    let mean = values.iter().sum::<f64>() / 3.0;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let got: f64 = col(0, "ours").parse().unwrap();
    let got_std: f64 = col(0, "ours_std").parse().unwrap();
    assert!(
        (got - mean).abs() < 1e-12 && (got_std - std).abs() < 1e-12,
        "{got} ± {got_std} vs {mean} ± {std}"
    );
    assert!(std > 0.0, "the seeds gave the same numbers: {values:?}");
    let md = std::fs::read_to_string(root.join("results/tables/t-smoke.md")).unwrap();
    assert!(md.contains(" ± ") && md.contains("Seeds [1, 2, 3]"), "{md}");
    // Seed 1 is the spec's own: the table without --seeds finds that run, trains nothing.
    let plain = lrnn(
        root,
        &["reproduce", "t", "--profile", "smoke", "--jobs", "2"],
    );
    assert!(plain.contains("0 to run"), "{plain}");
}

const ROBUST: &str = r#"
title = "robustness test"
kind = "robustness"
[analysis]
samples = 64
draws = 2
gaussian = [0.0, 0.5]
multiplicative = [0.5]
salt_pepper = [0.2]
params = [0.2]
hessian_samples = 32
probes = 4
[profiles.smoke]
about = "two epochs"
set = ["train.epochs=2"]
[[rows]]
spec = "../adding/a.toml"
label = "Lipschitz"
[[rows]]
spec = "../adding/a.toml"
label = "Antisymmetric"
set = ["model.kind=\"antisymmetric\""]
"#;

/// A `kind = "robustness"` table: each trained row's metric at every perturbation level and
/// its Hessian λmax and trace, with the protocol in the header and a figure per kind.
#[test]
fn a_robustness_table_has_levels_and_curvature_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root, "r", ROBUST);
    let out = lrnn(root, &["reproduce", "r", "--jobs", "2"]);
    assert!(
        out.contains("Protocol: test metric on the first 64 test sequences"),
        "{out}"
    );
    let mut r = csv::Reader::from_path(root.join("results/tables/r-smoke.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |i: usize, name: &str| -> f64 {
        let j = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"));
        rows[i][j].parse().unwrap()
    };
    for i in 0..2 {
        assert_eq!(
            col(i, "gaussian_0"),
            col(i, "clean"),
            "level 0 is the clean metric"
        );
        assert_ne!(
            col(i, "gaussian_0.5"),
            col(i, "clean"),
            "noise changes the metric"
        );
        assert!(col(i, "lambda_max").is_finite() && col(i, "trace_stderr") > 0.0);
    }
    assert!(
        root.join("results/tables/r-smoke-adding-gaussian.svg")
            .exists()
    );
    assert!(root.join("results/tables/r-smoke.h5").exists());
}

/// `--rows` trains and shows only the rows named (from 1); `--set` applies to every row and
/// the header says so.
#[test]
fn rows_and_set_select_and_override() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root, "t", TABLE);
    let out = lrnn(
        root,
        &["reproduce", "t", "--rows", "2", "--set", "train.lr=0.02"],
    );
    assert!(out.contains("1 rows, 1 to run"), "{out}");
    let table = std::fs::read_to_string(root.join("results/tables/t-smoke.csv")).unwrap();
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.contains("Lipschitz, N=24") && !table.contains("Lipschitz, N=16"));
    let md = std::fs::read_to_string(root.join("results/tables/t-smoke.md")).unwrap();
    assert!(md.contains("`train.lr=0.02`"), "{md}");
    let runs: Vec<_> = std::fs::read_dir(root.join("results/runs/adding"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1);
    let spec = std::fs::read_to_string(runs[0].path().join("spec.toml")).unwrap();
    assert!(
        spec.contains("lr = 0.02") && spec.contains("hidden = 24"),
        "{spec}"
    );
    let err = common::lrnn(root, &["reproduce", "t", "--rows", "3"]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("the table has rows 1 to 2"));
}
