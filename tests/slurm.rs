//! Sweeps on a real Slurm cluster: the one `scripts/slurm-up.sh` starts (two `slurmd` nodes
//! on this machine, `MaxArraySize=4`), which `.ci/run` starts before the tests. Where no
//! cluster answers, each test says it skipped.
//!
//! The tests share the cluster's two slots, so they take turns.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{lrnn_command, lrnn_ok};
use lrnn::experiment::runs::RunInfo;

static CLUSTER: Mutex<()> = Mutex::new(());

/// The cluster's configuration file, if a controller answers there.
fn cluster() -> Option<PathBuf> {
    let conf = std::env::var_os("SLURM_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/lrnn-slurm/etc/slurm.conf"));
    let up = conf.is_file()
        && std::process::Command::new("scontrol")
            .arg("ping")
            .env("SLURM_CONF", &conf)
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("UP"));
    if !up {
        eprintln!("skipped: no Slurm cluster answers (start one with scripts/slurm-up.sh)");
        return None;
    }
    Some(conf)
}

fn slurm(conf: &Path, program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .env("SLURM_CONF", conf)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `lrnn` with the cluster's configuration.
fn lrnn_on(conf: &Path, cwd: &Path, args: &[&str]) -> String {
    common::output_ok(
        lrnn_command(cwd, args)
            .env("SLURM_CONF", conf)
            .output()
            .unwrap(),
        args,
    )
}

fn status(conf: &Path, cwd: &Path, sweep: &str) -> serde_json::Value {
    let out = lrnn_on(
        conf,
        cwd,
        &["sweep", "status", sweep, "--results", "res", "--json"],
    );
    serde_json::from_str(&out).unwrap()
}

fn count(status: &serde_json::Value, state: &str) -> u64 {
    status["counts"][state].as_u64().unwrap_or(0)
}

/// Waits until no point of the sweep is queued or running.
fn settle(conf: &Path, cwd: &Path, sweep: &str, limit: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let s = status(conf, cwd, sweep);
        if count(&s, "queued") + count(&s, "running") == 0 {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "the sweep did not settle in {limit:?}: {s}\n{}",
            slurm(conf, "squeue", &["-r", "-t", "all"])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

const BASE: &str = r#"[model]
kind = "lipschitz"
hidden = 16
[task]
name = "adding"
seq_len = 40
train_size = 640
val_size = 64
test_size = 64
[train]
epochs = 2
batch_size = 32
lr = 0.003
lr_decay_epochs = [0]
"#;

/// Eight seeds; point 3's rate decays ×1e42 after epoch 1, so its first update of epoch 2
/// makes the parameters non-finite and the run fails (a real divergence, not a mock).
fn eight_points(bad: &str) -> String {
    format!(
        "base = \"base.toml\"\n[[zip]]\n\"train.seed\" = [1, 2, 3, 4, 5, 6, 7, 8]\n\
         \"train.lr_decay\" = [0.5, 0.5, 0.5, {bad}, 0.5, 0.5, 0.5, 0.5]\n\
         [slurm]\ncpus_per_task = 1\nmem = \"1G\"\ntime = \"00:10:00\"\n"
    )
}

fn submissions(dir: &Path, sweep: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(format!("res/sweeps/{sweep}/submissions.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_failed_point_is_resubmitted_alone_and_collect_has_every_point_once() {
    let Some(conf) = cluster() else { return };
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("base.toml"), BASE).unwrap();
    std::fs::write(d.join("t8.toml"), eight_points("1e42")).unwrap();
    let max_array: usize = slurm(&conf, "scontrol", &["show", "config"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("MaxArraySize")?
                .trim_start_matches([' ', '='])
                .parse()
                .ok()
        })
        .unwrap();

    let started = Instant::now();
    let out = lrnn_on(
        &conf,
        d,
        &["sweep", "submit", "t8.toml", "--results", "res"],
    );
    let first = submissions(d, "t8");
    assert_eq!(first.len(), 8usize.div_ceil(max_array), "{out}");
    if max_array == 4 {
        assert_eq!(
            first[1]["offset"], 4,
            "the second chunk starts at point 4: {out}"
        );
        assert_eq!(first[1]["array"], "0-3");
    }
    // `submit` returns at once and leaves nothing behind it.
    let s = settle(&conf, d, "t8.toml", Duration::from_secs(300));
    assert_eq!(count(&s, "done"), 7, "{s}");
    assert_eq!(count(&s, "failed"), 1, "{s}");
    let failed = s["states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["state"] == "failed")
        .unwrap();
    assert_eq!(failed["index"], 3);
    assert!(
        failed["error"].as_str().unwrap().contains("non-finite"),
        "{failed}"
    );
    // Slurm saw it fail: the task exited non-zero.
    let job = first[0]["job_id"].as_u64().unwrap().to_string();
    let tasks = slurm(
        &conf,
        "squeue",
        &["-h", "-r", "-t", "all", "-j", &job, "-o", "%K|%T"],
    );
    assert!(tasks.lines().any(|l| l == "3|FAILED"), "{tasks}");
    let log = std::fs::read_dir(d.join("res/sweeps/t8/slurm-logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(log.contains("point 3 FAILED"), "{log}");

    // The fault removed, `submit` sends that point alone.
    std::fs::write(d.join("t8.toml"), eight_points("0.5")).unwrap();
    let before: Vec<(PathBuf, String)> = std::fs::read_dir(d.join("res/runs/adding"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let run = std::fs::read_to_string(p.join("run.json")).unwrap();
            (p, run)
        })
        .collect();
    let out = lrnn_on(
        &conf,
        d,
        &["sweep", "submit", "t8.toml", "--results", "res"],
    );
    let all = submissions(d, "t8");
    assert_eq!(all.len(), first.len() + 1, "{out}");
    assert_eq!(
        all.last().unwrap()["indices"],
        serde_json::json!([8]),
        "{out}"
    );
    let s = settle(&conf, d, "t8.toml", Duration::from_secs(120));
    assert_eq!(count(&s, "done"), 8, "{s}");
    // None of the first eight folders (the retired failed one included) was touched.
    for (p, run) in &before {
        assert_eq!(
            &std::fs::read_to_string(p.join("run.json")).unwrap(),
            run,
            "{} was trained again",
            p.display()
        );
    }

    lrnn_on(
        &conf,
        d,
        &["sweep", "collect", "t8.toml", "--results", "res"],
    );
    eprintln!(
        "8-point sweep, submit to collect (with one resubmission): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let points = std::fs::read_to_string(d.join("res/sweeps/t8/points.csv")).unwrap();
    let rows: Vec<&str> = points.lines().skip(1).collect();
    assert_eq!(rows.len(), 8, "{points}");
    let ids: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.split(',').nth(1).unwrap()).collect();
    assert_eq!(ids.len(), 8, "a point is listed twice: {points}");
    let grouped = std::fs::read_to_string(d.join("res/sweeps/t8/grouped.csv")).unwrap();
    assert!(
        grouped.lines().next().unwrap().contains("test_mse_mean"),
        "{grouped}"
    );

    // The points ran on both nodes, as their run folders record.
    let nodes: std::collections::BTreeSet<String> = s["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let info = RunInfo::read(&d.join("res/runs").join(p["id"].as_str().unwrap())).unwrap();
            assert!(info.slurm.slurm_job_id.is_some() && info.slurm.slurm_array_task_id.is_some());
            assert_eq!(info.slurm.slurm_restart_count, Some(0));
            info.slurm.slurm_node.unwrap()
        })
        .collect();
    assert!(nodes.len() >= 2, "every point ran on {nodes:?}");
}

/// The columns of a metrics file that a run's numbers decide (the timings are left out).
fn numbers(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !header[i].ends_with("_s"))
        .collect();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| f[i]).collect::<Vec<_>>().join(",")
        })
        .collect()
}

/// A one-point sweep `NAME.toml` of epochs of 500 steps (a few seconds each on one core),
/// submitted: its plan, its array task (`JOB_0`) and its run folder.
fn submit_long_point(
    conf: &Path,
    d: &Path,
    name: &str,
    seed: u64,
) -> (serde_json::Value, String, PathBuf) {
    std::fs::write(d.join("base.toml"), BASE).unwrap();
    let set = r#"set = ["model.hidden=64", "task.seq_len=400", "task.train_size=16000", "train.log_every=20", "train.lr_decay=0.5"]"#;
    std::fs::write(
        d.join(format!("{name}.toml")),
        format!("base = \"base.toml\"\n{set}\n[grid]\n\"train.seed\" = [{seed}]\n"),
    )
    .unwrap();
    lrnn_on(
        conf,
        d,
        &[
            "sweep",
            "submit",
            &format!("{name}.toml"),
            "--results",
            "res",
        ],
    );
    let job = submissions(d, name)[0]["job_id"].as_u64().unwrap();
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join(format!("res/sweeps/{name}/plan.json"))).unwrap(),
    )
    .unwrap();
    let run = d
        .join("res/runs")
        .join(plan["points"][0]["id"].as_str().unwrap());
    (plan, format!("{job}_0"), run)
}

/// Waits until the run's log holds `what`.
fn wait_for(run: &Path, what: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(run.join("log.txt")).is_ok_and(|l| l.contains(what)) {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "no `{what}` in the log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn usr1_mid_epoch_checkpoints_requeues_and_ends_bit_for_bit() {
    let Some(conf) = cluster() else { return };
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (plan, task, run) = submit_long_point(&conf, d, "u1", 1);
    // Mid-epoch: once the log shows step 100 of epoch 1.
    wait_for(&run, "epoch 1 step 100/");
    slurm(&conf, "scancel", &["--signal=USR1", "--batch", &task]);
    let s = settle(&conf, d, "u1.toml", Duration::from_secs(240));
    assert_eq!(count(&s, "done"), 1, "{s}");
    let log = std::fs::read_to_string(run.join("log.txt")).unwrap();
    assert!(log.contains("signal 10: checkpoint at epoch 1"), "{log}");
    assert!(log.contains("resuming from"), "{log}");
    let info = RunInfo::read(&run).unwrap();
    assert_eq!(info.slurm.slurm_restart_count, Some(1), "requeued once");

    // The same point, uninterrupted, on this machine.
    let overrides: Vec<String> = plan["set"]
        .as_array()
        .unwrap()
        .iter()
        .chain(plan["points"][0]["overrides"].as_array().unwrap())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut args = vec!["run", "base.toml", "--out", "plain", "--threads", "1"];
    for o in &overrides {
        args.extend(["--set", o.as_str()]);
    }
    lrnn_ok(d, &args);
    assert_eq!(
        numbers(&run.join("metrics.csv")),
        numbers(&d.join("plain/metrics.csv"))
    );
}

/// `reproduce --slurm`: the table's runs (rows × seeds) go to the cluster as a sweep over its
/// rows; the same command once they are done submits nothing and writes the full table.
#[test]
fn reproduce_submits_a_tables_rows_and_seeds_to_slurm() {
    let Some(conf) = cluster() else { return };
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["experiments/adding", "experiments/tables", "baselines"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(
        d.join("experiments/adding/a.toml"),
        BASE.replace("lr_decay_epochs = [0]\n", ""),
    )
    .unwrap();
    std::fs::write(
        d.join("experiments/tables/t.toml"),
        "title = \"t\"\n[profiles.smoke]\nabout = \"two epochs\"\n\
         [[rows]]\nspec = \"../adding/a.toml\"\nlabel = \"N=16\"\n\
         [[rows]]\nspec = \"../adding/a.toml\"\nlabel = \"N=24\"\nset = [\"model.hidden=24\"]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("baselines/x.csv"),
        "table,task,model,hidden,params,metric,value,confirmed,source\n",
    )
    .unwrap();
    let args = [
        "reproduce",
        "t",
        "--seeds",
        "1,2",
        "--slurm",
        "--results",
        "res",
    ];
    let out = lrnn_on(&conf, d, &args);
    assert!(out.contains("submitted job"), "{out}");
    let subs = submissions(d, "table-t-smoke");
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["indices"], serde_json::json!([0, 1, 2, 3]));
    let job = subs[0]["job_id"].as_u64().unwrap().to_string();
    let start = Instant::now();
    while !slurm(&conf, "squeue", &["-h", "-r", "-j", &job, "-t", "PD,R,CG"])
        .trim()
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the table's jobs did not end"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = lrnn_on(&conf, d, &args);
    assert!(out.contains("nothing to submit"), "{out}");
    let table = std::fs::read_to_string(d.join("res/tables/t-smoke.csv")).unwrap();
    let mut r = csv::Reader::from_reader(table.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let n = header.iter().position(|h| h == "n").unwrap();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows.iter().all(|r| &r[n] == "2"), "{table}");
}

/// A SIGTERM sent to a running point (a preemption hook, `scancel --signal=TERM --batch`)
/// checkpoints and requeues it; a plain `scancel` checkpoints it and leaves it cancelled;
/// the next `submit` resumes it to the end.
#[test]
fn sigterm_requeues_a_running_point_but_scancel_leaves_it_for_the_next_submit() {
    let Some(conf) = cluster() else { return };
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, task, run) = submit_long_point(&conf, d, "c1", 2);
    wait_for(&run, "epoch 1 step 100/");
    slurm(&conf, "scancel", &["--signal=TERM", "--batch", &task]);
    wait_for(&run, "resuming from");
    assert_eq!(
        RunInfo::read(&run).unwrap().slurm.slurm_restart_count,
        Some(1)
    );

    wait_for(&run, "epoch 1 step 300/");
    slurm(&conf, "scancel", &[&task]);
    // Long enough for a requeued task to start again (cred_expire 10 s in the test cluster).
    std::thread::sleep(Duration::from_secs(15));
    let s = status(&conf, d, "c1.toml");
    assert_eq!(count(&s, "interrupted"), 1, "{s}");
    let state = slurm(
        &conf,
        "squeue",
        &["-h", "-t", "all", "-j", &task, "-o", "%T"],
    );
    assert_eq!(state.trim(), "CANCELLED");

    lrnn_on(
        &conf,
        d,
        &["sweep", "submit", "c1.toml", "--results", "res"],
    );
    let s = settle(&conf, d, "c1.toml", Duration::from_secs(180));
    assert_eq!(count(&s, "done"), 1, "{s}");
    let log = std::fs::read_to_string(run.join("log.txt")).unwrap();
    assert_eq!(log.matches("resuming from").count(), 2, "{log}");
}

/// An array `sbatch` refuses (a partition the cluster lacks) fails `submit` loudly, naming
/// what was and was not submitted, and records nothing.
#[test]
fn a_refused_array_fails_submit_and_says_what_was_submitted() {
    let Some(conf) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("base.toml"), BASE).unwrap();
    std::fs::write(d.join("t8.toml"), eight_points("0.5")).unwrap();
    let out = lrnn_command(
        d,
        &[
            "sweep",
            "submit",
            "t8.toml",
            "--results",
            "res",
            "--partition",
            "nosuch",
            "--max-running",
            "2",
        ],
    )
    .env("SLURM_CONF", &conf)
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("submitted before the refusal: nothing")
            && err.contains("[0, 1, 2, 3, 4, 5, 6, 7] were not submitted"),
        "{err}"
    );
    assert!(submissions(d, "t8").is_empty());
    let script = std::fs::read_to_string(d.join("res/sweeps/t8/submit.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --partition=nosuch"), "{script}");
}
