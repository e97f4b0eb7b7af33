//! Sweep files and plans: strict parsing, grid × zip × random expansion, reproducible
//! random search, and indices that survive edits of the sweep.

mod common;

use std::path::Path;

use lrnn::report::sweep;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const BASE: &str = "[model]\nkind = \"lipschitz\"\nhidden = 8\n[task]\nname = \"adding\"\nseq_len = 20\ntrain_size = 64\nval_size = 32\ntest_size = 32\n[train]\nepochs = 1\nbatch_size = 32\nlr = 0.01\n";

#[test]
fn the_repository_sweeps_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let plan = sweep::plan(
        &root.join("experiments/sweeps/adding-eps-lr.toml"),
        dir.path(),
    )
    .unwrap();
    // grid 2 × 3, zip of 2: 12 points, all distinct runs.
    assert_eq!(plan.active().count(), 12);
    let ids: std::collections::BTreeSet<_> = plan.points.iter().map(|p| &p.id).collect();
    assert_eq!(ids.len(), 12);
}

#[test]
fn unknown_keys_and_axes_the_spec_lacks_are_errors_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.toml", BASE);
    for (text, key) in [
        (
            "base = \"base.toml\"\n[grid]\n\"model.epz\" = [0.1]\n",
            "model.epz",
        ),
        (
            "base = \"base.toml\"\n[grid]\n\"train.lr\" = [-1.0]\n",
            "train.lr",
        ),
        ("base = \"base.toml\"\ngrd = 1\n", "grd"),
        (
            "base = \"base.toml\"\n[[zip]]\n\"train.lr\" = [0.1, 0.2]\n\"model.eps\" = [0.1]\n",
            "zip[0]",
        ),
        (
            "base = \"base.toml\"\n[slurm]\npartitio = \"x\"\n",
            "partitio",
        ),
        ("base = \"missing.toml\"\n", "base"),
    ] {
        let sw = write(dir.path(), "s.toml", text);
        let err = sweep::plan(&sw, &dir.path().join("res"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("s.toml") && err.contains(key), "{text}: {err}");
    }
    assert!(
        !dir.path().join("res/sweeps").exists(),
        "a refused sweep wrote a plan"
    );
}

#[test]
fn random_search_is_reproducible_and_replanning_keeps_indices() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.toml", BASE);
    let random = "[random]\nn = 5\nseed = 7\naxes = { \"train.lr\" = { log_uniform = [1e-4, 1e-2] }, \"model.scheme\" = { choice = [\"euler\", \"rk2\"] } }\n";
    let sw = write(
        dir.path(),
        "s.toml",
        &format!("base = \"base.toml\"\n[grid]\n\"train.seed\" = [1, 2]\n{random}"),
    );
    let a = sweep::plan(&sw, &dir.path().join("r1")).unwrap();
    let b = sweep::plan(&sw, &dir.path().join("r2")).unwrap();
    assert_eq!(a.points, b.points, "the same seed gives the same plan");
    assert_eq!(a.active().count(), 10);
    for p in &a.points {
        let lr: f64 = p
            .overrides
            .iter()
            .find_map(|o| o.strip_prefix("train.lr="))
            .unwrap()
            .parse()
            .unwrap();
        assert!((1e-4..=1e-2).contains(&lr), "{lr}");
    }
    // Edit: one seed dropped, one added. Kept points keep their index, the dropped ones are
    // retired (their indices never reused), the new ones get the next indices.
    write(
        dir.path(),
        "s.toml",
        &format!("base = \"base.toml\"\n[grid]\n\"train.seed\" = [2, 3]\n{random}"),
    );
    let c = sweep::plan(&sw, &dir.path().join("r1")).unwrap();
    assert_eq!(c.points.len(), 15);
    for p in &a.points {
        let q = c.points.iter().find(|q| q.id == p.id).unwrap();
        assert_eq!(q.index, p.index);
        assert_eq!(q.retired, p.overrides.contains(&"train.seed=1".to_string()));
    }
    let new: Vec<usize> = c
        .points
        .iter()
        .filter(|p| !a.points.iter().any(|q| q.id == p.id))
        .map(|p| p.index)
        .collect();
    assert_eq!(new, (10..15).collect::<Vec<_>>());
}

/// `sweep run` trains the points not done, N at a time; a failing point is reported failed
/// with its error by `status`; run again, only the points not done are trained.
#[test]
fn run_trains_missing_points_and_status_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.toml", BASE);
    // lr 1e42 is infinite in f32: that point diverges at its first update and fails.
    let sw = write(
        dir.path(),
        "s.toml",
        "base = \"base.toml\"\n[grid]\n\"train.lr\" = [0.01, 1e42]\n\"train.seed\" = [1, 2]\n",
    );
    let out = common::lrnn(dir.path(), &["sweep", "run", "s.toml", "--jobs", "2"]);
    assert!(
        !out.status.success(),
        "a failed point must fail the command"
    );
    let status = common::lrnn_ok(dir.path(), &["sweep", "status", "s.toml"]);
    assert!(status.contains("4 point(s): 2 done, 2 failed"), "{status}");
    assert!(status.contains("non-finite"), "{status}");
    // The fault removed: the failed points leave the sweep, a new seed joins it.
    write(
        dir.path(),
        "s.toml",
        "base = \"base.toml\"\n[grid]\n\"train.lr\" = [0.01]\n\"train.seed\" = [1, 2, 3]\n",
    );
    let again = common::lrnn_ok(dir.path(), &["sweep", "run", "s.toml"]);
    assert!(again.contains("3 point(s), 1 to train"), "{again}");
    let status = common::lrnn_ok(dir.path(), &["sweep", "status", "s.toml"]);
    assert!(status.contains("3 point(s): 3 done"), "{status}");
    let plan = sweep::plan(&sw, &dir.path().join("results")).unwrap();
    assert_eq!(plan.points.len(), 5, "two retired, three active");
}

/// `collect`: a row a point with its swept values, and a row a configuration with the mean,
/// std and n of each metric over its seeds; the best configuration by validation.
#[test]
fn collect_groups_seeds_into_mean_std_and_n() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.toml", BASE);
    write(
        dir.path(),
        "s.toml",
        "base = \"base.toml\"\n[grid]\n\"model.eps\" = [0.03, 0.3]\n\"train.seed\" = [1, 2, 3]\n",
    );
    common::lrnn_ok(dir.path(), &["sweep", "run", "s.toml", "--jobs", "2"]);
    let out = common::lrnn_ok(dir.path(), &["sweep", "collect", "s.toml"]);
    assert!(out.contains("6 point rows, 2 configurations"), "{out}");
    let folder = dir.path().join("results/sweeps/s");
    let mut r = csv::Reader::from_path(folder.join("grouped.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    for c in [
        "config",
        "model.eps",
        "test_mse_mean",
        "test_mse_std",
        "test_mse_n",
    ] {
        assert!(header.contains(&c.to_string()), "{header:?}");
    }
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // The mean and n over the three seeds, recomputed from points.csv.
    let mut p = csv::Reader::from_path(folder.join("points.csv")).unwrap();
    let ph: Vec<String> = p.headers().unwrap().iter().map(String::from).collect();
    let prow: Vec<csv::StringRecord> = p.records().map(Result::unwrap).collect();
    let (ci, ti) = (
        ph.iter().position(|h| h == "config").unwrap(),
        ph.iter().position(|h| h == "test_mse").unwrap(),
    );
    assert_eq!(prow.len(), 6);
    for g in &rows {
        let mine: Vec<f64> = prow
            .iter()
            .filter(|r| r[ci] == g[col("config")])
            .map(|r| r[ti].parse().unwrap())
            .collect();
        let mean = mine.iter().sum::<f64>() / mine.len() as f64;
        assert_eq!(&g[col("test_mse_n")], "3");
        let got: f64 = g[col("test_mse_mean")].parse().unwrap();
        assert!((got - mean).abs() < 1e-12, "{got} vs {mean}");
    }
    assert!(folder.join("sweep.h5").is_file() && folder.join("sweep.md").is_file());
    assert!(out.contains("Best configuration"), "{out}");
    // A figure a swept value, none for the seed.
    let svg = std::fs::read_to_string(folder.join("model.eps.svg")).unwrap();
    assert!(svg.contains("test_mse against model.eps"), "{svg}");
    assert!(!folder.join("train.seed.svg").exists());
}

/// A quoted grid key (a tensor's `train.lr_scale`) sweeps like any other: the points' specs
/// carry the factor under the tensor's name, and its figure gets a file-safe name.
#[test]
fn a_quoted_key_sweeps_and_collects_with_its_figure() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.toml", BASE);
    write(
        dir.path(),
        "q.toml",
        "base = \"base.toml\"\n[grid]\n'train.lr_scale.\"cell/M_A\"' = [0.1, 1.0]\n",
    );
    common::lrnn_ok(dir.path(), &["sweep", "run", "q.toml", "--jobs", "2"]);
    let out = common::lrnn_ok(dir.path(), &["sweep", "collect", "q.toml"]);
    assert!(out.contains("2 point rows"), "{out}");
    let runs = dir.path().join("results/runs/adding");
    let specs: Vec<String> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("spec.toml")).unwrap())
        .collect();
    assert_eq!(specs.len(), 2);
    assert!(
        specs.iter().any(|s| s.contains("\"cell/M_A\" = 0.1")),
        "{specs:?}"
    );
    let svg = dir
        .path()
        .join("results/sweeps/q/train.lr_scale.cell_M_A.svg");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("against train.lr_scale"), "{svg}");
}

/// `submit --dry-run` writes the sbatch script and prints the arrays it would submit, with
/// no Slurm at all.
#[test]
fn submit_dry_run_writes_the_script_and_submits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.toml", BASE);
    write(
        dir.path(),
        "s.toml",
        "base = \"base.toml\"\n[grid]\n\"train.seed\" = [1, 2, 3]\n[slurm]\ntime = \"00:05:00\"\nmax_running = 2\n",
    );
    let out = common::lrnn_command(
        dir.path(),
        &["sweep", "submit", "s.toml", "--dry-run", "--mem", "3G"],
    )
    .env("PATH", "/nonexistent")
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("--array=0-2%2") && text.contains("LRNN_INDEX_OFFSET=0"),
        "{text}"
    );
    let script =
        std::fs::read_to_string(dir.path().join("results/sweeps/s/submit.sbatch")).unwrap();
    for line in [
        "#SBATCH --time=00:05:00",
        "#SBATCH --mem=3G",
        "#SBATCH --requeue",
    ] {
        assert!(script.contains(line), "{script}");
    }
    assert!(
        !dir.path()
            .join("results/sweeps/s/submissions.jsonl")
            .exists()
    );
}
