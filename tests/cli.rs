//! The `lrnn` binary end to end: a short training run on generated MNIST-format files, its run
//! folder, determinism, `eval`, and one-line errors for malformed specs and missing data.

mod common;

use std::path::Path;

fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect()
}

fn column(path: &Path, name: &str) -> Vec<f64> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let i = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    r.records()
        .map(|row| row.unwrap()[i].parse().unwrap())
        .collect()
}

#[test]
fn trains_writes_its_run_folder_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::write_fake_mnist(&root.join("data"), 600, 200, true);
    std::fs::write(root.join("spec.toml"), common::tiny_spec("")).unwrap();
    let run = |out: &str| {
        common::lrnn(
            root,
            &[
                "run",
                "spec.toml",
                "--data-dir",
                "data",
                "--out",
                out,
                "--set",
                "train.epochs=3",
            ],
        )
    };
    let first = run("a");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    let metrics = root.join("a/metrics.csv");
    let header = csv::Reader::from_path(&metrics)
        .unwrap()
        .headers()
        .unwrap()
        .clone();
    for col in ["epoch", "train_loss", "val_acc", "test_acc", "elapsed_s"] {
        assert!(header.iter().any(|h| h == col), "metrics.csv lacks {col}");
    }
    assert_eq!(column(&metrics, "epoch"), vec![1.0, 2.0, 3.0]);
    let loss = column(&metrics, "train_loss");
    assert!(loss[2] < loss[0], "training loss did not fall: {loss:?}");
    let acc = column(&metrics, "test_acc");
    assert!(acc.iter().all(|a| (0.0..=1.0).contains(a)));
    assert!(
        acc[2] > 0.3,
        "test accuracy {acc:?} on a task where chance is 0.1"
    );

    // The checkpoint holds the documented datasets; the resolved spec reads back.
    let ck = hdf5::File::open(root.join("a/checkpoint.h5")).unwrap();
    for (name, shape) in [
        ("cell/M_A", vec![16, 16]),
        ("cell/M_W", vec![16, 16]),
        ("encoder/weight", vec![16, 1]),
        ("encoder/bias", vec![16]),
        ("decoder/weight", vec![10, 16]),
        ("decoder/bias", vec![10]),
    ] {
        let ds = ck.dataset(name).unwrap();
        assert_eq!(ds.shape(), shape, "{name}");
        assert_eq!(ds.dtype().unwrap().size(), 4, "{name} is f32");
    }
    let resolved = lrnn::experiment::spec::Spec::load(&root.join("a/spec.toml"), &[]).unwrap();
    assert_eq!(resolved.train.epochs, 3);

    // Same spec and seed: the same numbers (timings aside).
    assert!(run("b").status.success());
    let (a, b) = (csv_rows(&metrics), csv_rows(&root.join("b/metrics.csv")));
    let timing = ["train_s", "elapsed_s"];
    let keep: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !timing.contains(h))
        .map(|(i, _)| i)
        .collect();
    for (ra, rb) in a.iter().zip(&b) {
        for &i in &keep {
            assert_eq!(
                ra[i], rb[i],
                "column {} differs between identical runs",
                &header[i]
            );
        }
    }

    // `eval` reproduces the last epoch's test accuracy from the checkpoint.
    let eval = common::lrnn(
        root,
        &[
            "eval",
            "--spec",
            "a/spec.toml",
            "--checkpoint",
            "a/checkpoint.h5",
            "--data-dir",
            "data",
        ],
    );
    let text = String::from_utf8_lossy(&eval.stdout);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    assert!(
        text.contains(&format!("test_acc {:.4}", acc[2])),
        "{text} vs {acc:?}"
    );
}

#[test]
fn malformed_specs_fail_with_one_line_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::write_fake_mnist(&root.join("data"), 50, 10, true);
    let cases = [
        (
            "unknown.toml",
            common::tiny_spec("warmup = 3"),
            "unknown.toml: train",
            "warmup",
        ),
        (
            "wrongtype.toml",
            common::tiny_spec("seed = \"one\""),
            "wrongtype.toml: train.seed",
            "invalid type",
        ),
        (
            "badmodel.toml",
            common::tiny_spec("").replace("hidden = 16", "hidden = 16\nhiden = 3"),
            "badmodel.toml: model",
            "hiden",
        ),
        (
            "syntax.toml",
            "[model\nkind = 1".to_string(),
            "syntax.toml: line",
            "",
        ),
    ];
    for (file, text, prefix, word) in cases {
        std::fs::write(root.join(file), text).unwrap();
        let out = common::lrnn(root, &["run", file, "--data-dir", "data", "--out", "run"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} was accepted");
        assert_eq!(err.trim().lines().count(), 1, "{file}: {err}");
        assert!(err.contains(prefix) && err.contains(word), "{file}: {err}");
        assert!(
            !root.join("run").exists(),
            "{file}: a run folder was written"
        );
    }

    std::fs::write(root.join("ok.toml"), common::tiny_spec("")).unwrap();
    let out = common::lrnn(
        root,
        &["run", "ok.toml", "--data-dir", "missing", "--out", "run"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("missing") && err.contains("--data-dir") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(!root.join("run").exists());

    let out = common::lrnn(
        root,
        &[
            "run",
            "ok.toml",
            "--data-dir",
            "data",
            "--set",
            "model.beta=3",
            "--out",
            "run",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ok.toml: model.beta"), "{err}");
}

/// `lrnn bench` prints one JSON object whose counts follow from its arguments: the GFLOP of
/// three forward passes of the recurrent products, the cores as shards, the memory report.
#[test]
fn bench_reports_its_counts_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(&common::lrnn_ok(dir.path(), args)).unwrap()
    };
    let (b, t, n) = (4.0, 5.0, 8.0);
    let r = json(&[
        "bench",
        "--model",
        "lipschitz",
        "--scheme",
        "rk2",
        "--batch",
        "4",
        "--seq",
        "5",
        "--hidden",
        "8",
        "--threads",
        "2",
        "--warmup",
        "1",
        "--steps",
        "3",
    ]);
    assert_eq!(r["model"], "lipschitz-rk2");
    // RK2 multiplies h·[W | A] twice a step: four N×N blocks.
    let gflop = 3.0 * 2.0 * b * t * n * n * 4.0 / 1e9;
    assert!((r["gflop"].as_f64().unwrap() - gflop).abs() < 1e-12, "{r}");
    assert_eq!(
        (r["threads"].as_u64(), r["shards"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(r["steps_timed"], 3);
    let (lo, mid, hi) = (
        r["min_step_s"].as_f64(),
        r["median_step_s"].as_f64(),
        r["max_step_s"].as_f64(),
    );
    assert!(lo > Some(0.0) && lo <= mid && mid <= hi, "{r}");
    // Two shards' tapes: states (T+1)·B/2·N and three per-step stage buffers, f32.
    let mib = 2.0 * ((t + 1.0) * b / 2.0 * n + 3.0 * t * b / 2.0 * n) * 4.0 / (1 << 20) as f64;
    assert!(
        (r["activations_mib"].as_f64().unwrap() - mib).abs() < 1e-12,
        "{r}"
    );

    let r = json(&[
        "bench",
        "--gemm-peak",
        "4x8x16",
        "--threads",
        "1",
        "--steps",
        "5",
    ]);
    assert_eq!(r["shape"], serde_json::json!([4, 8, 16]));
    assert!(r["gflop_per_s"].as_f64().unwrap() > 0.0, "{r}");
    let bad = common::lrnn(
        dir.path(),
        &["bench", "--model", "lstm", "--gemm-peak", "4x8"],
    );
    assert!(!bad.status.success());

    // The FMA peak: one worker a thread, FLOP counted from the rounds.
    let out = common::lrnn(dir.path(), &["bench", "--fma-peak", "--threads", "2"]);
    if lrnn::kernels::gemm::avx512::available() {
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["workers"], 2, "{r}");
        let (rounds, s) = (
            r["rounds"].as_f64().unwrap(),
            r["seconds"].as_f64().unwrap(),
        );
        let rate = 512.0 * rounds * 2.0 / s / 1e9;
        assert!(
            (r["gflop_per_s"].as_f64().unwrap() - rate).abs() < 1e-6 * rate,
            "{r}"
        );
    } else {
        assert!(
            !out.status.success(),
            "--fma-peak without AVX-512F must fail"
        );
    }
}

/// The scriptable surface: `--version` names the commit, `completions` prints a script for
/// each shell, `list --json` gives each run's summary and flattened spec.
#[test]
fn version_completions_and_list_json() {
    let dir = tempfile::tempdir().unwrap();
    let version = common::lrnn_ok(dir.path(), &["--version"]);
    let inner = version
        .split('(')
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or("");
    let hash = inner.trim_end_matches("+dirty");
    assert!(
        hash == "unknown" || (hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit())),
        "{version}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = common::lrnn_ok(dir.path(), &["completions", shell]);
        assert!(
            script.contains("lrnn") && script.contains("reproduce"),
            "{shell}"
        );
    }
    let spec = "[model]\nkind = \"gru\"\nhidden = 8\n[task]\nname = \"adding\"\nseq_len = 20\ntrain_size = 64\nval_size = 32\ntest_size = 32\n[train]\nepochs = 1\nbatch_size = 32\nlr = 0.01\n";
    std::fs::write(dir.path().join("s.toml"), spec).unwrap();
    common::lrnn_ok(dir.path(), &["run", "s.toml"]);
    let json = common::lrnn_ok(dir.path(), &["list", "--json"]);
    let runs: serde_json::Value = serde_json::from_str(&json).unwrap();
    let run = &runs.as_array().unwrap()[0];
    assert_eq!(run["state"], "done");
    assert_eq!(run["model.kind"], "gru");
    assert_eq!(run["model.hidden"], 8);
    assert_eq!(run["train.lr"], 0.01);
    assert!(run["id"].as_str().unwrap().starts_with("adding/s-s1-"));

    // runs.csv of export: the same flattened spec, and a configuration id that leaves the
    // seed out (two seeds of one spec share it, another lr does not).
    common::lrnn_ok(dir.path(), &["run", "s.toml", "--set", "train.seed=2"]);
    common::lrnn_ok(dir.path(), &["run", "s.toml", "--set", "train.lr=0.02"]);
    common::lrnn_ok(dir.path(), &["export"]);
    let mut r = csv::Reader::from_path(dir.path().join("results/runs.csv")).unwrap();
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let at = |name: &str| {
        h.iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{name}: {h:?}"))
    };
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let cfg = |seed: &str, lr: &str| {
        rows.iter()
            .find(|r| &r[at("train.seed")] == seed && &r[at("train.lr")] == lr)
            .map(|r| r[at("config_id")].to_string())
            .unwrap()
    };
    assert_eq!(cfg("1", "0.01"), cfg("2", "0.01"));
    assert_ne!(cfg("1", "0.01"), cfg("1", "0.02"));
    assert_eq!(&rows[0][at("model.kind")], "gru");
}

/// A mistyped key names the nearest valid one and where it came from; a Hydra-style bare
/// `key=value` gets a hint to use `--set`.
#[test]
fn typos_get_suggestions_and_hydra_overrides_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), common::tiny_spec("")).unwrap();
    let out = common::lrnn(
        dir.path(),
        &["spec", "show", "s.toml", "--set", "train.bach_size=3"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did you mean `batch_size`?") && err.contains("(from --set)"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("t.toml"),
        common::tiny_spec("").replace("hidden = 16", "hiden = 16"),
    )
    .unwrap();
    let out = common::lrnn(dir.path(), &["spec", "show", "t.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did you mean `hidden`?") && err.contains("(in the file)"),
        "{err}"
    );
    let out = common::lrnn(dir.path(), &["run", "s.toml", "train.epochs=1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--set train.epochs=1"), "{err}");
}

/// The best-validation epoch's parameters are kept as best.h5 beside the last checkpoint:
/// evaluated, they give that epoch's validation metric.
#[test]
fn the_best_validation_checkpoint_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "[model]\nkind = \"lipschitz\"\nhidden = 12\n[task]\nname = \"adding\"\nseq_len = 30\ntrain_size = 256\nval_size = 64\ntest_size = 64\n[train]\nepochs = 4\nbatch_size = 32\nlr = 0.02\neval_batch_size = 64\n";
    std::fs::write(dir.path().join("s.toml"), spec).unwrap();
    common::lrnn_ok(dir.path(), &["run", "s.toml", "--out", "run"]);
    let m =
        lrnn::experiment::metrics::MetricsTable::read(&dir.path().join("run/metrics.csv")).unwrap();
    let best = m
        .column("val_mse")
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    let out = common::lrnn_ok(
        dir.path(),
        &["eval", "--spec", "s.toml", "--checkpoint", "run/best.h5"],
    );
    let val: f64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        (val - best).abs() < 5e-5,
        "best.h5 gives val_mse {val}, the best epoch {best}"
    );
}

/// `eval` reads the whole splits; `eval --capped` the part training evaluated under
/// `train.max_eval_batches`, and so gives the epoch's recorded metric.
#[test]
fn eval_capped_repeats_the_runs_capped_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "[model]\nkind = \"lipschitz\"\nhidden = 12\n[task]\nname = \"adding\"\nseq_len = 30\ntrain_size = 128\nval_size = 64\ntest_size = 64\n[train]\nepochs = 2\nbatch_size = 32\nlr = 0.02\neval_batch_size = 16\nmax_eval_batches = 1\n";
    std::fs::write(dir.path().join("s.toml"), spec).unwrap();
    common::lrnn_ok(dir.path(), &["run", "s.toml", "--out", "run"]);
    let m =
        lrnn::experiment::metrics::MetricsTable::read(&dir.path().join("run/metrics.csv")).unwrap();
    let last = *m.column("val_mse").last().unwrap();
    let val_of = |extra: &[&str]| -> f64 {
        let mut args = vec![
            "eval",
            "--spec",
            "s.toml",
            "--checkpoint",
            "run/checkpoint.h5",
        ];
        args.extend_from_slice(extra);
        let out = common::lrnn_ok(dir.path(), &args);
        out.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let capped = val_of(&["--capped"]);
    assert!(
        (capped - last).abs() < 5e-5,
        "--capped {capped}, the run {last}"
    );
    let full = val_of(&[]);
    assert!(
        (full - last).abs() > 1e-4,
        "the whole split {full}, 16 of its 64 {last}"
    );
}

/// `show` prints a run's state, provenance and spec; `diff` the keys two specs differ in.
#[test]
fn show_and_diff_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |lr: &str| {
        format!(
            "[model]\nkind = \"vanilla\"\nhidden = 8\n[task]\nname = \"adding\"\nseq_len = 20\ntrain_size = 64\nval_size = 32\ntest_size = 32\n[train]\nepochs = 1\nbatch_size = 32\nlr = {lr}\n"
        )
    };
    std::fs::write(dir.path().join("a.toml"), spec("0.01")).unwrap();
    std::fs::write(dir.path().join("b.toml"), spec("0.002")).unwrap();
    common::lrnn_ok(dir.path(), &["run", "a.toml", "--out", "ra"]);
    common::lrnn_ok(dir.path(), &["run", "b.toml", "--out", "rb"]);
    let show = common::lrnn_ok(dir.path(), &["show", "ra"]);
    assert!(show.contains("state       done after 1/1 epochs"), "{show}");
    assert!(show.contains("kind = \"vanilla\""), "{show}");
    let diff = common::lrnn_ok(dir.path(), &["diff", "ra", "rb"]);
    let lr = diff
        .lines()
        .find(|l| l.starts_with("train.lr"))
        .expect("train.lr differs");
    assert!(lr.contains("0.01") && lr.contains("0.002"), "{diff}");
    assert!(
        !diff.lines().any(|l| l.starts_with("model.hidden")),
        "{diff}"
    );
}

/// `LRNN_RESULTS_DIR` is the results directory of every command unless `--results` names one.
#[test]
fn the_results_directory_comes_from_lrnn_results_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("a.toml"),
        "[model]\nkind = \"lipschitz\"\nhidden = 8\n[task]\nname = \"adding\"\nseq_len = 10\ntrain_size = 64\nval_size = 32\ntest_size = 32\n[train]\nepochs = 1\nbatch_size = 32\nlr = 0.01\n",
    )
    .unwrap();
    let with_env = |args: &[&str]| {
        common::output_ok(
            common::lrnn_command(d, args)
                .env("LRNN_RESULTS_DIR", d.join("elsewhere"))
                .output()
                .unwrap(),
            args,
        )
    };
    with_env(&["run", "a.toml"]);
    assert!(d.join("elsewhere/runs/adding").is_dir() && !d.join("results").exists());
    assert!(with_env(&["list"]).contains("adding/a-s1-"));
    // The flag wins over the variable.
    with_env(&["run", "a.toml", "--results", "flagged"]);
    assert!(d.join("flagged/runs/adding").is_dir());
}

/// `spec show --all` lists every key of every section with its default and doc: generated
/// from the configs themselves, so each registered cell and task is there; with a spec, only
/// its kind and task, beside its values, `*` marking what differs from the default.
#[test]
fn spec_show_all_lists_every_key_with_its_default() {
    let dir = tempfile::tempdir().unwrap();
    let all = common::lrnn_ok(dir.path(), &["spec", "show", "--all"]);
    for kind in lrnn::net::cells::ModelConfig::KINDS {
        assert!(
            all.contains(&format!("[model] kind = \"{kind}\"")),
            "{kind}: {all}"
        );
    }
    for name in lrnn::data::TaskConfig::NAMES {
        assert!(
            all.contains(&format!("[task] name = \"{name}\"")),
            "{name}: {all}"
        );
    }
    let line = |text: &str, key: &str| -> Vec<String> {
        let l = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no line for {key}: {text}"));
        l.split_whitespace().map(String::from).collect()
    };
    assert_eq!(line(&all, "epochs")[1], "(required)", "{all}");
    let batch = line(&all, "batch_size");
    assert_eq!(batch[1], "128");
    assert!(batch.join(" ").contains("# Sequences a step"), "{batch:?}");
    // Optional keys with no default are listed too.
    assert_eq!(line(&all, "max_eval_batches")[1], "(unset)");
    assert_eq!(line(&all, "chrono")[1], "(unset)");

    std::fs::write(dir.path().join("s.toml"), common::tiny_spec("")).unwrap();
    let one = common::lrnn_ok(
        dir.path(),
        &["spec", "show", "s.toml", "--all", "--set", "model.beta=0.5"],
    );
    assert!(one.contains("[model] kind = \"lipschitz\"") && !one.contains("kind = \"lstm\""));
    assert!(one.contains("[task] name = \"smnist\"") && !one.contains("name = \"adding\""));
    let eps = line(&one, "eps");
    assert_eq!(
        (eps[1].as_str(), eps[2].as_str(), eps[3].as_str()),
        ("0.03", "0.1", "*")
    );
    // Left out of the spec: at its default, unmarked; a required key is never marked.
    let log_every = line(&one, "log_every");
    assert_eq!((log_every[1].as_str(), log_every[2].as_str()), ("50", "50"));
    assert_ne!(log_every.get(3).map(String::as_str), Some("*"));
    let epochs = line(&one, "epochs");
    assert_eq!(
        (epochs[1].as_str(), epochs[2].as_str()),
        ("(required)", "2")
    );
    assert_ne!(epochs.get(3).map(String::as_str), Some("*"));
    let gamma = line(&one, "gamma_a");
    assert_eq!((gamma[1].as_str(), gamma[2].as_str()), ("0.001", "0.001"));
    assert_ne!(gamma[3], "*", "{gamma:?}");
    assert_eq!(line(&one, "beta")[2], "0.5", "the --set value: {one}");
    let out = common::lrnn(dir.path(), &["spec", "show"]);
    assert!(!out.status.success(), "SPEC or --all is required");
}

/// `--tensorboard` writes an event file in the run folder's `tb/` with the per-step and
/// per-epoch scalars, and leaves the run id alone.
#[test]
fn tensorboard_event_files_hold_the_run_scalars() {
    use tfrecord::protobuf::event::What;
    use tfrecord::protobuf::summary::value::Value;
    let dir = tempfile::tempdir().unwrap();
    let spec = "[model]\nkind = \"lipschitz\"\nhidden = 8\n[task]\nname = \"adding\"\nseq_len = 20\ntrain_size = 128\nval_size = 32\ntest_size = 32\n[train]\nepochs = 2\nbatch_size = 32\nlr = 0.01\nlog_every = 2\n";
    std::fs::write(dir.path().join("s.toml"), spec).unwrap();
    common::lrnn_ok(dir.path(), &["run", "s.toml", "--tensorboard"]);
    let runs = dir.path().join("results/runs/adding");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let files: Vec<_> = std::fs::read_dir(run.join("tb"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let mut scalars = Vec::new();
    for e in tfrecord::EventIter::open(files[0].path(), Default::default()).unwrap() {
        if let Some(What::Summary(s)) = e.unwrap().what {
            for v in s.value {
                if let Some(Value::SimpleValue(x)) = v.value {
                    scalars.push((v.tag, x));
                }
            }
        }
    }
    let count = |tag: &str| scalars.iter().filter(|(t, _)| t == tag).count();
    // 4 steps an epoch, a row every 2: 4 step rows; 2 epochs.
    assert_eq!(count("train/loss"), 4, "{scalars:?}");
    assert_eq!(count("epoch/test_mse"), 2, "{scalars:?}");
    let metrics = lrnn::experiment::metrics::MetricsTable::read(&run.join("metrics.csv")).unwrap();
    let last = scalars
        .iter()
        .rev()
        .find(|(t, _)| t == "epoch/test_mse")
        .unwrap()
        .1;
    let want = *metrics.column("test_mse").last().unwrap();
    assert!(
        (last as f64 - want).abs() <= 1e-6 * want.abs().max(1.0),
        "{last} vs {want}"
    );
    // The same spec without the flag names the same folder: a finished run, not trained again.
    let again = common::lrnn_ok(dir.path(), &["run", "s.toml"]);
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 1, "{again}");
}
