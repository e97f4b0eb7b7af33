//! Faults and bad input: a diverged run is never recorded as a result, a damaged checkpoint
//! is refused, a folder has one writer, resume checks its own state, a signal checkpoints,
//! empty work and out-of-range values are refused, a closed pipe ends quietly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use common::{lrnn, lrnn_command, lrnn_ok, metric_bits};
use lrnn::experiment::metrics::MetricsTable;
use lrnn::experiment::runs::{RunInfo, State, Status};

/// The adding problem, seconds to train: `epochs` of 20 steps.
fn adding_spec(epochs: usize, extra: &str) -> String {
    format!(
        r#"
[model]
kind = "lipschitz"
hidden = 16
[task]
name = "adding"
seq_len = 40
train_size = 640
val_size = 64
test_size = 64
[train]
epochs = {epochs}
batch_size = 32
lr = 0.003
{extra}
"#
    )
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Epoch 2's rate is infinite in f32 (×1e42 after epoch 1), so its first update — the last
/// good state being epoch 1's — makes the parameters non-finite. The run fails there, names
/// the step, and keeps epoch 1's row and checkpoint; nothing of epoch 2 is written.
#[test]
fn a_non_finite_update_fails_the_run_and_keeps_the_last_good_state() {
    let dir = tempfile::tempdir().unwrap();
    let spec = adding_spec(2, "lr_decay = 1e42\nlr_decay_epochs = [0]");
    std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
    let out = lrnn(dir.path(), &["run", "spec.toml", "--out", "run"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "a diverged run succeeded");
    assert!(
        err.contains("non-finite") && err.contains("epoch 2, step 1"),
        "{err}"
    );
    let info = RunInfo::read(&dir.path().join("run")).unwrap();
    assert_eq!(info.state(), State::Failed);
    assert!(info.error.unwrap().contains("parameters after the update"));
    let m = MetricsTable::read(&dir.path().join("run/metrics.csv")).unwrap();
    assert_eq!(m.rows.len(), 1, "only the good epoch is recorded");
    assert!(m.rows[0].iter().all(|v| v.is_finite()));
    // The checkpoint is epoch 1's: its parameters load (they are finite).
    let eval = lrnn(
        dir.path(),
        &[
            "eval",
            "--spec",
            "run/spec.toml",
            "--checkpoint",
            "run/checkpoint.h5",
        ],
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
}

/// NaN weights reach the loss through every cell's tanh and sigmoid (the fast f32 tanh
/// mapped NaN to ±1, so a NaN encoder gave finite losses).
#[test]
fn nan_weights_reach_the_loss_in_every_cell() {
    use lrnn::net::cells::ModelConfig;
    use lrnn::net::model::{Batch, Model};
    for kind in ModelConfig::KINDS {
        let mut table = toml::Table::new();
        table.insert("hidden".into(), toml::Value::Integer(8));
        let config = ModelConfig::parse(kind, table).unwrap();
        let model = Model::<f32>::new(&config, 2, 3);
        let mut params = model.init(1);
        let enc = model
            .layout
            .find("encoder/weight")
            .or(model.layout.find("cell/weight_ih"));
        let enc = enc.unwrap_or_else(|| panic!("{kind}: no input weight"));
        params.slice_mut(enc).iter_mut().for_each(|v| *v = f32::NAN);
        let x = ndarray::Array2::from_elem((5 * 4, 2), 0.5f32);
        let batch = Batch::classes(x, vec![0, 1, 2, 0]);
        let mut ws = model.workspace(5, 4, false);
        let stats = model.forward_backward(&params, &batch, &mut ws, None);
        assert!(
            stats.sum.is_nan(),
            "{kind}: NaN weights gave loss {}",
            stats.sum
        );
    }
}

/// `eval` of a checkpoint holding a NaN, or whose bytes were damaged, is an error naming
/// the file; the checksum catches damage that leaves the values finite.
#[test]
fn a_nan_or_damaged_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.toml"), adding_spec(1, "")).unwrap();
    lrnn_ok(dir.path(), &["run", "spec.toml", "--out", "run"]);
    let ckpt = dir.path().join("run/checkpoint.h5");
    let eval = |c: &str| {
        lrnn(
            dir.path(),
            &["eval", "--spec", "spec.toml", "--checkpoint", c],
        )
    };
    assert!(eval("run/checkpoint.h5").status.success());

    // A NaN written through HDF5 (checksum intact): the finite check.
    let nan = dir.path().join("nan.h5");
    std::fs::copy(&ckpt, &nan).unwrap();
    {
        let f = hdf5::File::open_rw(&nan).unwrap();
        let ds = f.dataset("decoder/bias").unwrap();
        ds.write(&ndarray::arr1(&[f32::NAN])).unwrap();
    }
    let out = eval("nan.h5");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("nan.h5") && stderr(&out).contains("non-finite"),
        "{}",
        stderr(&out)
    );

    // A flipped bit inside M_A's data, found by a marker value written there: the checksum.
    let bad = dir.path().join("bad.h5");
    std::fs::copy(&ckpt, &bad).unwrap();
    let marker = 1234.5f32;
    {
        let f = hdf5::File::open_rw(&bad).unwrap();
        let ds = f.dataset("cell/M_A").unwrap();
        let mut m: ndarray::Array2<f32> = ds.read_2d().unwrap();
        m[[3, 3]] = marker;
        ds.write(&m).unwrap();
    }
    let mut bytes = std::fs::read(&bad).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == marker.to_le_bytes())
        .expect("the marker is stored as written");
    bytes[at] ^= 0x01; // still a finite f32
    std::fs::write(&bad, bytes).unwrap();
    let out = eval("bad.h5");
    assert!(!out.status.success(), "a damaged checkpoint was read");
    assert!(stderr(&out).contains("bad.h5"), "{}", stderr(&out));
}

/// A second run on a folder that one process trains is refused at once; once the first is
/// killed (SIGKILL: no clean-up), its lock is gone with it and the folder resumes.
#[test]
fn a_second_writer_is_refused_and_a_dead_ones_lock_is_not_stale() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spec.toml"),
        adding_spec(400, "").replace("seq_len = 40", "seq_len = 200"),
    )
    .unwrap();
    let args = [
        "run",
        "spec.toml",
        "--out",
        "run",
        "--checkpoint-every",
        "2",
    ];
    let mut first = lrnn_command(dir.path(), &args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("checkpoint:")),
        "no checkpoint line"
    );
    let started = std::time::Instant::now();
    let second = lrnn(dir.path(), &args);
    assert!(!second.status.success(), "a second writer was let in");
    assert!(
        stderr(&second).contains("in progress"),
        "{}",
        stderr(&second)
    );
    assert!(started.elapsed().as_secs() < 10, "the refusal waited");
    first.kill().unwrap();
    first.wait().unwrap();
    let mut third = lrnn_command(dir.path(), &args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(third.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("resuming from")),
        "the dead run's folder was not resumed"
    );
    third.kill().unwrap();
    third.wait().unwrap();

    // Two started at the same moment, before either has loaded data or written run.json:
    // one trains, the other is refused at once.
    let args2 = ["run", "spec.toml", "--out", "race"];
    let mut both = [
        lrnn_command(dir.path(), &args2),
        lrnn_command(dir.path(), &args2),
    ]
    .map(|mut c| {
        c.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
    let refused = loop {
        if let Some(i) = (0..2).find(|&i| both[i].try_wait().unwrap().is_some()) {
            break i;
        }
        assert!(started.elapsed().as_secs() < 60, "neither run was refused");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut both[refused].stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("in progress"), "{err}");
    let other = &mut both[1 - refused];
    assert!(
        other.try_wait().unwrap().is_none(),
        "the other run stopped too"
    );
    other.kill().unwrap();
    other.wait().unwrap();
}

/// SIGTERM mid-epoch writes a checkpoint, records the run interrupted and exits 143; run
/// again, it resumes to the numbers of a run never stopped.
#[test]
fn sigterm_checkpoints_and_the_run_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let spec = adding_spec(3, "").replace("train_size = 640", "train_size = 3200");
    std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
    lrnn_ok(dir.path(), &["run", "spec.toml", "--out", "straight"]);
    let args = [
        "run",
        "spec.toml",
        "--out",
        "stopped",
        "--checkpoint-every",
        "5",
    ];
    let mut child = lrnn_command(dir.path(), &args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().trim() == "checkpoint: epoch 2 step 5"));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("signal 15: checkpoint")),
        "{rest:?}"
    );
    let info = RunInfo::read(&dir.path().join("stopped")).unwrap();
    assert_eq!(
        (info.status, info.state()),
        (Status::Interrupted, State::Interrupted)
    );
    let again = lrnn_ok(dir.path(), &args);
    assert!(again.contains("resuming from"), "{again}");
    assert_eq!(
        metric_bits(&dir.path().join("straight")),
        metric_bits(&dir.path().join("stopped"))
    );
    // steps.csv (every 50 steps by default): each step once, the same numbers, time aside.
    let steps = |run: &str| -> Vec<String> {
        std::fs::read_to_string(dir.path().join(run).join("steps.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(steps("straight").len(), 1 + 3 * 2);
    assert_eq!(steps("straight"), steps("stopped"));
}

/// A checkpoint past the rows of metrics.csv (a row lost) is refused, and `--restart`
/// trains the run again from scratch to the same numbers.
#[test]
fn resume_with_missing_metrics_rows_is_refused_until_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.toml"), adding_spec(2, "")).unwrap();
    lrnn_ok(dir.path(), &["run", "spec.toml", "--out", "run"]);
    let want = metric_bits(&dir.path().join("run"));
    let metrics = dir.path().join("run/metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect(); // header and epoch 1
    std::fs::write(&metrics, kept.join("\n") + "\n").unwrap();
    let out = lrnn(dir.path(), &["run", "spec.toml", "--out", "run"]);
    assert!(
        !out.status.success(),
        "a done run with a missing epoch was accepted"
    );
    assert!(stderr(&out).contains("--restart"), "{}", stderr(&out));
    // The same with the run marked interrupted: the checkpoint is past the rows.
    let mut info = RunInfo::read(&dir.path().join("run")).unwrap();
    info.status = Status::Interrupted;
    info.write(&dir.path().join("run")).unwrap();
    let out = lrnn(dir.path(), &["run", "spec.toml", "--out", "run"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("epochs missing"), "{}", stderr(&out));
    lrnn_ok(
        dir.path(),
        &["run", "spec.toml", "--out", "run", "--restart"],
    );
    assert_eq!(metric_bits(&dir.path().join("run")), want);
}

/// Values outside their documented ranges are refused at parse time, naming the key, by
/// `run` and `spec show` alike; count flags of zero are refused by the command line.
#[test]
fn out_of_range_values_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.toml"), adding_spec(1, "")).unwrap();
    for (set, key) in [
        ("train.adam_eps=0", "train.adam_eps"),
        ("train.adam_betas=[0.9, 1.0]", "train.adam_betas[1]"),
        ("train.momentum=-0.1", "train.momentum"),
        ("train.grad_clip=-1", "train.grad_clip"),
        ("train.weight_decay=-0.5", "train.weight_decay"),
        ("train.lr_decay=0", "train.lr_decay"),
        ("train.lr=nan", "train.lr"),
        ("train.max_steps_per_epoch=0", "train.max_steps_per_epoch"),
        ("train.max_eval_batches=0", "train.max_eval_batches"),
        ("train.shards=0", "train.shards"),
        ("model.init_std=-1", "model.init_std"),
        ("model.init_std=inf", "model.init_std"),
        ("model.gamma_a=nan", "model.gamma_a"),
        ("task.seq_len=1", "task.seq_len"),
        ("task.val_size=0", "task.val_size"),
    ] {
        for cmd in [
            vec!["spec", "show", "spec.toml", "--set", set],
            vec!["run", "spec.toml", "--out", "r", "--set", set],
        ] {
            let out = lrnn(dir.path(), &cmd);
            let err = stderr(&out);
            assert!(!out.status.success(), "{set} accepted by {}", cmd[0]);
            assert!(
                err.contains(key) && err.trim().lines().count() == 1,
                "{set}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    assert!(!dir.path().join("r").exists());
    for args in [
        vec!["run", "spec.toml", "--checkpoint-every", "0"],
        vec!["bench", "--model", "lstm", "--batch", "0"],
        vec!["bench", "--model", "lipschitz", "--cell", "eps=-1"],
    ] {
        let out = lrnn(dir.path(), &args);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

/// An empty split is refused before training, naming the files it was read from.
#[test]
fn an_empty_split_is_refused_naming_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_fake_mnist(dir.path(), 300, 0, false);
    std::fs::write(dir.path().join("spec.toml"), common::tiny_spec("")).unwrap();
    let out = lrnn(
        dir.path(),
        &[
            "run",
            "spec.toml",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            "r",
        ],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "an empty test split was trained on");
    assert!(
        err.contains("test split is empty") && err.contains("t10k"),
        "{err}"
    );
    assert!(
        !dir.path().join("r").exists(),
        "a refused run left a folder"
    );
}

/// `lrnn … | head`: a reader that closes the pipe ends the process quietly (exit 0 or
/// death by SIGPIPE), without a panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.toml"), adding_spec(1, "")).unwrap();
    let mut child = lrnn_command(dir.path(), &["spec", "show", "spec.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is written
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}: {err}",
        out.status
    );
}

/// A run whose tapes would not fit is refused before they are allocated, with the estimate
/// and what is available; the estimate of a paper-size pixel-MNIST run is what it measures.
#[test]
fn a_run_that_would_not_fit_in_memory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = adding_spec(1, "")
        .replace("seq_len = 40", "seq_len = 2000000")
        .replace("hidden = 16", "hidden = 512");
    std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
    let started = std::time::Instant::now();
    let out = lrnn(dir.path(), &["run", "spec.toml", "--out", "r"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "a 290 GiB run was started");
    assert!(
        err.contains("GiB is available") && err.contains("would need"),
        "{err}"
    );
    assert!(
        started.elapsed().as_secs() < 20,
        "the refusal allocated first"
    );
    assert!(!dir.path().join("r").exists());

    // The estimate against the tapes' own byte count at the paper's size (tests/memory.rs
    // measures peak memory within 1.15x of these).
    use lrnn::net::cells::ModelConfig;
    use lrnn::net::model::Model;
    let mut t = toml::Table::new();
    t.insert("hidden".into(), toml::Value::Integer(128));
    let model = Model::<f32>::new(&ModelConfig::parse("lipschitz", t).unwrap(), 1, 10);
    let ws = model.workspace(784, 64, true);
    let tape = model.activation_bytes(&ws).unwrap();
    let est = model.workspace_bytes(784, 64, false);
    assert!(
        est >= tape && (est as f64) < 1.1 * tape as f64,
        "{est} vs {tape}"
    );
}

/// A full disk (`metrics.csv.tmp` made a link to /dev/full, which fails every write with
/// ENOSPC) fails the run with that first error, naming the file, marks it failed, keeps
/// the checkpoint written before and leaves no temporary file.
#[test]
fn a_full_disk_fails_the_run_with_its_first_error_and_leaves_no_tmp() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.toml"), adding_spec(1, "")).unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::os::unix::fs::symlink("/dev/full", run.join("metrics.csv.tmp")).unwrap();
    let out = lrnn(
        dir.path(),
        &[
            "run",
            "spec.toml",
            "--out",
            "run",
            "--checkpoint-every",
            "5",
        ],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("metrics.csv.tmp") && err.contains("No space left"),
        "{err}"
    );
    let info = RunInfo::read(&run).unwrap();
    assert_eq!(info.state(), State::Failed);
    assert!(info.error.unwrap().contains("No space left"));
    let tmps: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(tmps.is_empty(), "{tmps:?}");
    assert!(
        run.join("checkpoint.h5").is_file(),
        "the mid-epoch checkpoint is kept"
    );
    assert!(!run.join("metrics.csv").exists());
}

/// Paths stay where they belong: a spec's data file is inside the data directory, a table
/// is a name, and export skips a broken run folder and symlinks instead of failing.
#[test]
fn paths_stay_inside_their_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = root.join("experiments/psmnist/lipschitz-euler-128.toml");
    let spec = spec.to_str().unwrap();
    for bad in ["/etc/passwd", "../../etc/passwd", "mnist/../../x"] {
        let set = format!("task.permutation={bad}");
        let out = lrnn(dir.path(), &["spec", "show", spec, "--set", &set]);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(
            stderr(&out).contains("inside the data directory"),
            "{}",
            stderr(&out)
        );
    }
    let out = lrnn(
        dir.path(),
        &["reproduce", "../../etc/passwd", "--profile", "smoke"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a table name"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.path().join("spec.toml"), adding_spec(1, "")).unwrap();
    lrnn_ok(dir.path(), &["run", "spec.toml", "--results", "res"]);
    let runs = dir.path().join("res/runs/adding");
    std::fs::create_dir_all(runs.join("broken")).unwrap();
    std::fs::write(runs.join("broken/run.json"), "{ not json").unwrap();
    std::os::unix::fs::symlink(&runs, runs.join("loop")).unwrap();
    let out = lrnn(dir.path(), &["export", "--results", "res"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("broken"),
        "the broken folder is reported"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("1 runs"), "{text}");
}

/// `grads` of a batch holding a NaN is refused naming the file and dataset (it printed a
/// finite loss), as is a run folder whose run.json records another model.
#[test]
fn a_nan_batch_and_a_foreign_run_record_are_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity/lstm");
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("nan-batch.h5");
    std::fs::copy(root.join("batch.h5"), &batch).unwrap();
    {
        let f = hdf5::File::open_rw(&batch).unwrap();
        let ds = f.dataset("x").unwrap();
        let mut x: ndarray::ArrayD<f32> = ds.read_dyn().unwrap();
        x.fill(f32::NAN);
        ds.write(&x).unwrap();
    }
    let (spec, ckpt) = (root.join("spec.toml"), root.join("checkpoint.h5"));
    let out = lrnn(
        dir.path(),
        &[
            "grads",
            "--spec",
            spec.to_str().unwrap(),
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--batch",
            "nan-batch.h5",
            "--out",
            "g.h5",
        ],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "grads of a NaN batch succeeded");
    assert!(err.contains("nan-batch.h5") && err.contains("`x`"), "{err}");

    std::fs::write(dir.path().join("spec.toml"), adding_spec(1, "")).unwrap();
    lrnn_ok(dir.path(), &["run", "spec.toml", "--out", "run"]);
    let mut info = RunInfo::read(&dir.path().join("run")).unwrap();
    info.params += 1;
    info.status = Status::Interrupted;
    info.write(&dir.path().join("run")).unwrap();
    let out = lrnn(dir.path(), &["run", "spec.toml", "--out", "run"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("parameters"), "{}", stderr(&out));
}
