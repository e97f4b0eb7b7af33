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

    // The wide layout: a line a row, ours and published of each task, the long table's values.
    let (wide_header, wide) = read_csv(&root.join("results/tables/t-smoke-wide.csv"));
    assert_eq!(wide_header, ["row", "adding", "adding_published"]);
    assert_eq!(wide.len(), 2);
    for (i, line) in wide.iter().enumerate() {
        assert_eq!(
            (&line[0], &line[1], &line[2]),
            (&*col(i, "row"), &*col(i, "ours"), &*col(i, "published"))
        );
    }
    assert!(
        first.contains("| row | adding | adding_published |"),
        "the console shows the wide table: {first}"
    );
    let wide_h5: Vec<f64> = f
        .group("wide")
        .unwrap()
        .dataset("adding")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(wide_h5[0], ours);
    let tex = std::fs::read_to_string(root.join("results/tables/t-smoke.tex")).unwrap();
    for part in [
        "% Profile `smoke`: two epochs",
        "\\begin{tabular}{lrr}",
        "\\toprule",
        "\\label{tab:t-smoke}",
        "Lipschitz, N=16 & ",
    ] {
        assert!(tex.contains(part), "no {part} in\n{tex}");
    }
    assert_eq!(tabular_rows(&tex).len(), 2, "{tex}");

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

/// A CSV file's header and lines.
fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    (header, r.records().map(Result::unwrap).collect())
}

/// The lines of a LaTeX table's body: between `\midrule` and `\bottomrule`.
fn tabular_rows(tex: &str) -> Vec<&str> {
    tex.lines()
        .skip_while(|l| !l.contains("\\midrule"))
        .skip(1)
        .take_while(|l| !l.contains("\\bottomrule"))
        .collect()
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
    // The wide layout keeps each task's std beside its mean, as the long table has them.
    let (wide_header, wide) = read_csv(&root.join("results/tables/t-smoke-wide.csv"));
    assert_eq!(
        wide_header,
        ["row", "adding", "adding_std", "adding_published"]
    );
    assert_eq!(
        (&wide[0][1], &wide[0][2]),
        (&*col(0, "ours"), &*col(0, "ours_std"))
    );
    let tex = std::fs::read_to_string(root.join("results/tables/t-smoke.tex")).unwrap();
    assert!(
        tex.contains(" \\pm ") && tex.contains("std over seeds"),
        "{tex}"
    );
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

    // Each row's analysis is kept in its run folder: a second call reads it back and writes
    // the same table; another protocol measures afresh.
    let first = std::fs::read_to_string(root.join("results/tables/r-smoke.csv")).unwrap();
    let again = lrnn(root, &["reproduce", "r"]);
    assert_eq!(
        again
            .matches("(earlier, from the run's analysis folder)")
            .count(),
        2,
        "{again}"
    );
    let second = std::fs::read_to_string(root.join("results/tables/r-smoke.csv")).unwrap();
    assert_eq!(first, second);
    project(root, "r", &ROBUST.replace("draws = 2", "draws = 3"));
    let other = lrnn(root, &["reproduce", "r"]);
    assert!(!other.contains("(earlier"), "{other}");
    for run in std::fs::read_dir(root.join("results/runs/adding")).unwrap() {
        let kept = std::fs::read_dir(run.unwrap().path().join("analysis"))
            .unwrap()
            .count();
        assert_eq!(kept, 2, "one analysis per protocol");
    }
}

/// A table written to another results folder (`--results results/reference/medium`) is timed
/// by the runs of the default folder when its own has none.
#[test]
fn the_estimate_uses_the_default_results_folder_too() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root, "t", TABLE);
    let first = lrnn(root, &["reproduce", "t", "--jobs", "2"]);
    assert!(first.contains("no earlier run to time for"), "{first}");
    let elsewhere = lrnn(
        root,
        &["reproduce", "t", "--profile", "short", "--results", "other"],
    );
    assert!(elsewhere.contains("for 2 row(s)"), "{elsewhere}");
    assert!(!elsewhere.contains("no earlier run"), "{elsewhere}");
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

const MNIST_SPEC: &str = r#"
[model]
kind = "lipschitz"
hidden = 8
[task]
name = "smnist"
val_size = 20
train_subset = 40
[train]
epochs = 5
batch_size = 20
lr = 0.01
eval_batch_size = 50
"#;

/// Two tasks; the first label repeats across them and both carry LaTeX's special characters.
const TWO_TASKS: &str = r#"
title = "Two tasks & 100% of them"
[profiles.smoke]
about = "one epoch"
set = ["train.epochs=1"]
[[rows]]
spec = "../adding/a.toml"
label = "Lipschitz_RNN & co #1"
published = "Lipschitz RNN"
[[rows]]
spec = "../smnist/m.toml"
label = "Lipschitz_RNN & co #1"
published = "Lipschitz RNN"
[[rows]]
spec = "../adding/a.toml"
label = "N=24 {wide}"
set = ["model.hidden=24"]
"#;

/// The wide layout of a table over two tasks: a line a label, a column group a task in table
/// order, empty where a row has no run on a task; the LaTeX escapes the labels and prints the
/// accuracy task in percent, the other task in its own units.
#[test]
fn a_two_task_table_pivots_to_the_papers_layout_and_latex() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root, "t2", TWO_TASKS);
    std::fs::create_dir_all(root.join("experiments/smnist")).unwrap();
    std::fs::write(root.join("experiments/smnist/m.toml"), MNIST_SPEC).unwrap();
    common::write_fake_mnist(&root.join("data"), 100, 30, false);
    std::fs::write(
        root.join("baselines/x.csv"),
        "table,task,model,hidden,params,metric,value,confirmed,source\n\
         t2,adding,Lipschitz RNN,16,,test_mse,0.25,no,made up\n\
         t2,smnist,Lipschitz RNN,8,,test_acc,0.5,no,made up\n",
    )
    .unwrap();
    lrnn(root, &["reproduce", "t2", "--jobs", "2"]);
    let (header, long) = read_csv(&root.join("results/tables/t2-smoke.csv"));
    let at =
        |i: usize, name: &str| long[i][header.iter().position(|h| h == name).unwrap()].to_string();
    let (wide_header, wide) = read_csv(&root.join("results/tables/t2-smoke-wide.csv"));
    assert_eq!(
        wide_header,
        [
            "row",
            "adding",
            "adding_published",
            "smnist",
            "smnist_published"
        ]
    );
    assert_eq!(wide.len(), 2, "a line a label");
    let line = |i: usize| wide[i].iter().collect::<Vec<_>>();
    assert_eq!(
        line(0),
        [
            at(0, "row"),
            at(0, "ours"),
            at(0, "published"),
            at(1, "ours"),
            at(1, "published")
        ]
    );
    assert_eq!(
        line(1),
        [
            at(2, "row"),
            at(2, "ours"),
            at(2, "published"),
            String::new(),
            String::new()
        ]
    );

    let tex = std::fs::read_to_string(root.join("results/tables/t2-smoke.tex")).unwrap();
    assert!(
        tex.contains("\\begin{tabular}{lrrrr}") && tex.contains("\\toprule"),
        "{tex}"
    );
    assert!(
        tex.contains("\\caption{Two tasks \\& 100\\% of them.")
            && tex.contains("accuracies in percent"),
        "{tex}"
    );
    let rows = tabular_rows(&tex);
    assert_eq!(rows.len(), 2, "{tex}");
    let num = |i: usize, name: &str| at(i, name).parse::<f64>().unwrap();
    let first = format!(
        "Lipschitz\\_RNN \\& co \\#1 & {:.4} & 0.2500 & {:.2} & 50.00 \\\\",
        num(0, "ours"),
        100.0 * num(1, "ours")
    );
    assert_eq!(rows[0].trim(), first);
    assert!(rows[1].trim().starts_with("N=24 \\{wide\\} & "), "{tex}");
    assert!(rows[1].trim().ends_with("& -- & -- & -- \\\\"), "{tex}");
    let md = std::fs::read_to_string(root.join("results/tables/t2-smoke-wide.md")).unwrap();
    assert!(
        md.contains("| row | adding | adding_published | smnist | smnist_published |"),
        "{md}"
    );
}
