//! Sweeps on a Slurm cluster. `submit` writes one sbatch script into the sweep's folder and
//! submits job arrays over the points that are not done and not queued; each array task runs
//! `lrnn sweep run-point PLAN --index I`, which trains that point as a child `lrnn run`.
//! The run folders stay the truth: Slurm is asked only what is live now (`squeue`), so a
//! cluster that forgot its jobs loses nothing.
//!
//! Indices: an array's task ids must be below the cluster's `MaxArraySize`, so a sweep's
//! points go in chunks, each an array whose task `t` trains point `offset + t`.
//!
//! Signals: the script `exec`s `run-point`, so Slurm's warning before the time limit
//! (`--signal=B:USR1@GRACE`) and SIGTERM reach it. It passes them on to the run, which
//! checkpoints at once, and then requeues its own task (`scontrol requeue`; see [`requeue`]
//! for which SIGTERMs); the requeued task resumes from the checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::runs::{self, RunInfo};
use crate::report::children::{ChildEnd, Job};
use crate::report::sweep::{Plan, SlurmDefaults};

/// The sbatch script `submit` writes in the sweep's folder.
pub const SCRIPT_FILE: &str = "submit.sbatch";
/// One JSON line per submitted array: what `status` asks `squeue` about.
pub const SUBMISSIONS_FILE: &str = "submissions.jsonl";
/// The array tasks' own output (`%A_%a.out`, appended across requeues).
pub const LOG_DIR: &str = "slurm-logs";
/// Seconds before the time limit that Slurm sends USR1 when `[slurm] grace_s` is unset.
pub const DEFAULT_GRACE_S: u64 = 120;

/// What `submit` asks the cluster for: the sweep's `[slurm]` table, with the command line's
/// flags over it.
#[derive(Clone, Debug, Default)]
pub struct SubmitOptions {
    pub slurm: SlurmDefaults,
    /// Write the script and print the `sbatch` lines without submitting.
    pub dry_run: bool,
    pub data_dir: Option<PathBuf>,
}

/// One submitted array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// RFC 3339, UTC.
    pub submitted: String,
    /// The array's job id (`SLURM_ARRAY_JOB_ID`).
    pub job_id: u64,
    /// Task `t` of the array trains point `offset + t`.
    pub offset: usize,
    pub indices: Vec<usize>,
    /// The `--array` value it was submitted with.
    pub array: String,
}

/// A point as Slurm reports it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Live {
    Queued,
    Running,
    /// Gone from the queue's live states (COMPLETED, FAILED, CANCELLED, TIMEOUT, …).
    Ended(String),
}

/// The cluster's `MaxArraySize` (`scontrol show config`): array task ids stay below it.
pub fn max_array_size() -> Result<usize> {
    let out = slurm_command("scontrol", &["show", "config"])?;
    Ok(parse_config_value(&out, "MaxArraySize")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1001))
}

fn parse_config_value<'a>(config: &'a str, key: &str) -> Option<&'a str> {
    config.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Splits sorted point indices into arrays: each starts at its first index (the offset) and
/// holds the indices whose task id, `index - offset`, is below `max_array_size`.
pub fn chunks(indices: &[usize], max_array_size: usize) -> Vec<(usize, Vec<usize>)> {
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    for &i in indices {
        match out.last_mut() {
            Some((offset, tasks)) if i - *offset < max_array_size.max(1) => tasks.push(i),
            _ => out.push((i, vec![i])),
        }
    }
    out
}

/// The `--array` value for task ids `tasks` (sorted): ranges joined by commas, `%K` last.
pub fn array_spec(tasks: &[usize], throttle: Option<usize>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tasks.len() {
        let mut j = i;
        while j + 1 < tasks.len() && tasks[j + 1] == tasks[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            tasks[i].to_string()
        } else {
            format!("{}-{}", tasks[i], tasks[j])
        });
        i = j + 1;
    }
    let mut spec = parts.join(",");
    if let Some(k) = throttle {
        spec.push_str(&format!("%{k}"));
    }
    spec
}

/// The sbatch script: resources as `#SBATCH` lines, then `run-point` as the batch shell
/// itself (`exec`), so the warning signal reaches it.
pub fn script(
    exe: &Path,
    plan_path: &Path,
    results: &Path,
    name: &str,
    opts: &SubmitOptions,
) -> String {
    let s = &opts.slurm;
    let logs = plan_path.parent().unwrap_or(Path::new(".")).join(LOG_DIR);
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!(
            "# Written by `lrnn sweep submit` for {}.",
            plan_path.display()
        ),
        "# Task t of an array trains point LRNN_INDEX_OFFSET + t of the plan.".to_string(),
        format!("#SBATCH --job-name=lrnn-{name}"),
        format!("#SBATCH --output={}/%A_%a.out", logs.display()),
        "#SBATCH --open-mode=append".to_string(),
        format!(
            "#SBATCH --signal=B:USR1@{}",
            s.grace_s.unwrap_or(DEFAULT_GRACE_S)
        ),
        "#SBATCH --requeue".to_string(),
        format!("#SBATCH --cpus-per-task={}", s.cpus_per_task.unwrap_or(1)),
    ];
    let opt = |flag: &str, v: &Option<String>| v.as_ref().map(|v| format!("#SBATCH --{flag}={v}"));
    lines.extend(
        [
            opt("partition", &s.partition),
            opt("time", &s.time),
            opt("mem", &s.mem),
            opt("account", &s.account),
            opt("qos", &s.qos),
        ]
        .into_iter()
        .flatten(),
    );
    lines.extend(s.extra.iter().cloned());
    let quote = |p: &Path| shell_quote(&p.display().to_string());
    let mut cmd = format!(
        "exec {} sweep run-point {} --results {} --index $(( ${{LRNN_INDEX_OFFSET:-0}} + SLURM_ARRAY_TASK_ID ))",
        quote(exe),
        quote(plan_path),
        quote(results)
    );
    if let Some(d) = &opts.data_dir {
        cmd.push_str(&format!(" --data-dir {}", quote(d)));
    }
    lines.push(cmd);
    lines.join("\n") + "\n"
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

/// Runs a Slurm client command; a missing binary or a non-zero exit is an error with its
/// stderr.
fn slurm_command(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        Error::Data(format!(
            "{program}: {e} (is Slurm installed, and SLURM_CONF set for a private cluster?)"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::Data(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The submissions recorded in `dir` (a sweep's folder), oldest first.
pub fn submissions(dir: &Path) -> Vec<Submission> {
    std::fs::read_to_string(dir.join(SUBMISSIONS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn record(dir: &Path, s: &Submission) -> Result<()> {
    use std::io::Write as _;
    let path = dir.join(SUBMISSIONS_FILE);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    writeln!(
        f,
        "{}",
        serde_json::to_string(s).expect("a submission serialises")
    )
    .map_err(|e| Error::io(&path, e))
}

/// What Slurm says of each point of the arrays submitted from `dir`, the latest submission of
/// a point winning. Empty when Slurm cannot be asked (the folders still tell the rest).
pub fn live(dir: &Path) -> BTreeMap<usize, Live> {
    let subs = submissions(dir);
    if subs.is_empty() {
        return BTreeMap::new();
    }
    // All of this user's jobs, array tasks one a line: a purged job id is no error this way.
    let Ok(out) = slurm_command("squeue", &["-h", "-r", "-t", "all", "-o", "%F|%K|%T"]) else {
        return BTreeMap::new();
    };
    let mut by_job: BTreeMap<(u64, usize), String> = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if let [job, task, state] = f[..]
            && let (Ok(job), Ok(task)) = (job.trim().parse(), task.trim().parse())
        {
            by_job.insert((job, task), state.trim().to_string());
        }
    }
    let mut live = BTreeMap::new();
    for s in &subs {
        for &i in &s.indices {
            if let Some(state) = by_job.get(&(s.job_id, i - s.offset)) {
                live.insert(i, classify(state));
            }
        }
    }
    live
}

fn classify(state: &str) -> Live {
    match state {
        "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "CONFIGURING" | "SUSPENDED"
        | "RESV_DEL_HOLD" => Live::Queued,
        "RUNNING" | "COMPLETING" | "SIGNALING" | "STAGE_OUT" | "RESIZING" => Live::Running,
        other => Live::Ended(other.to_string()),
    }
}

/// Submits the points of `plan` (written at `plan_path`) that are neither done nor queued
/// nor running, in arrays below the cluster's `MaxArraySize`. Stops at the first array
/// `sbatch` refuses, saying which it did submit. Returns the submissions (none under
/// `--dry-run`, which prints the `sbatch` lines instead).
pub fn submit(
    plan: &Plan,
    plan_path: &Path,
    results: &Path,
    opts: &SubmitOptions,
) -> Result<Vec<Submission>> {
    let dir = plan_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let live = live(&dir);
    let todo: Vec<usize> = crate::report::sweep::states_with(plan, results, &live)
        .into_iter()
        .filter(|s| matches!(s.state.as_str(), "missing" | "failed" | "interrupted"))
        .map(|s| s.index)
        .collect();
    let exe = std::env::current_exe().map_err(|e| Error::Data(format!("own path: {e}")))?;
    let (plan_abs, results_abs) = (absolute(plan_path)?, absolute(results)?);
    let name = dir
        .file_name()
        .map_or("sweep".into(), |n| n.to_string_lossy().into_owned());
    let text = script(&exe, &plan_abs, &results_abs, &name, opts);
    let script_path = dir.join(SCRIPT_FILE);
    crate::io::write_atomic(&script_path, text.as_bytes())?;
    std::fs::create_dir_all(dir.join(LOG_DIR)).map_err(|e| Error::io(&dir, e))?;
    if todo.is_empty() {
        println!(
            "{}: nothing to submit (every point is done, queued or running)",
            name
        );
        return Ok(Vec::new());
    }
    let max = if opts.dry_run {
        max_array_size().unwrap_or(1001)
    } else {
        max_array_size()?
    };
    let mut done: Vec<Submission> = Vec::new();
    for (offset, indices) in chunks(&todo, max) {
        let tasks: Vec<usize> = indices.iter().map(|i| i - offset).collect();
        let array = array_spec(&tasks, opts.slurm.max_running);
        let args = [
            "--parsable".to_string(),
            format!("--array={array}"),
            format!("--export=ALL,LRNN_INDEX_OFFSET={offset}"),
            script_path.display().to_string(),
        ];
        if opts.dry_run {
            println!("sbatch {}", args.join(" "));
            continue;
        }
        let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = slurm_command("sbatch", &args_ref).map_err(|e| {
            let so_far: Vec<String> = done
                .iter()
                .map(|s| format!("job {} (points {:?})", s.job_id, s.indices))
                .collect();
            Error::Data(format!(
                "{e}\nsubmitted before the refusal: {}; points {:?} were not submitted",
                if so_far.is_empty() {
                    "nothing".into()
                } else {
                    so_far.join(", ")
                },
                todo.iter()
                    .filter(|i| !done.iter().any(|s| s.indices.contains(i)))
                    .collect::<Vec<_>>()
            ))
        })?;
        // `--parsable` prints `jobid` or `jobid;cluster`.
        let job_id = out
            .trim()
            .split(';')
            .next()
            .and_then(|j| j.parse().ok())
            .ok_or_else(|| Error::Data(format!("sbatch printed no job id: {out:?}")))?;
        let s = Submission {
            submitted: runs::now(),
            job_id,
            offset,
            indices,
            array,
        };
        record(&dir, &s)?;
        println!(
            "submitted job {} --array={} (points {})",
            s.job_id,
            s.array,
            array_spec(&s.indices, None)
        );
        done.push(s);
    }
    Ok(done)
}

/// One array task: trains point `index` of the plan at `plan_path` with the task's cores
/// (`SLURM_CPUS_PER_TASK`), and returns the exit code: 0 done, 1 failed (the error is in the
/// point's `log.txt` and `run.json`, and printed), 128 + signal when stopped by one (after
/// requeueing the task where Slurm should run it again).
pub fn run_point(
    plan_path: &Path,
    results: &Path,
    index: usize,
    data_dir: Option<&Path>,
) -> Result<i32> {
    let plan = Plan::read(plan_path)?;
    let point = plan.point(index)?;
    let dir = plan.dir(results, point);
    let threads =
        crate::kernels::blas::slurm_cpus().unwrap_or_else(|| crate::kernels::blas::cores(None));
    let place = runs::SlurmPlace::current();
    println!(
        "point {index} {} on {} (job {}, restart {}), {threads} core(s): {}",
        point.id,
        place.slurm_node.as_deref().unwrap_or("this machine"),
        place.slurm_job_id.map_or("-".into(), |j| j.to_string()),
        place.slurm_restart_count.unwrap_or(0),
        dir.display()
    );
    let job = Job {
        label: format!("point {index} {}", point.overrides.join(" ")),
        spec_path: plan.spec_path(point).to_path_buf(),
        overrides: plan.overrides(point),
        dir: dir.clone(),
        tags: Vec::new(),
    };
    crate::experiment::train::catch_stop_signals();
    let exe = std::env::current_exe().map_err(|e| Error::Data(format!("own path: {e}")))?;
    // The child's own log.txt holds its progress; Slurm's output keeps to what this does.
    let end = crate::report::children::run_child(&exe, &job, threads, data_dir, &|_| {})?;
    let log = dir.join(runs::LOG_FILE);
    Ok(match end {
        ChildEnd::Done => {
            println!("point {index}: done");
            0
        }
        ChildEnd::Busy => {
            println!(
                "point {index}: another process trains {}; left alone",
                dir.display()
            );
            0
        }
        ChildEnd::Failed => {
            let why = RunInfo::read(&dir)
                .ok()
                .and_then(|i| i.error)
                .or_else(|| last_line(&log))
                .unwrap_or_else(|| "no error recorded".into());
            eprintln!("point {index} FAILED: {why}\n(log: {})", log.display());
            1
        }
        ChildEnd::Interrupted => {
            let sig = crate::experiment::train::stop_requested().unwrap_or(libc::SIGTERM);
            println!("point {index}: signal {sig}, checkpoint written");
            requeue(sig);
            128 + sig
        }
    })
}

fn last_line(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string)
}

/// Puts this task back in the queue after a checkpoint. USR1 is Slurm's warning before the
/// time limit: always requeued. A SIGTERM is requeued only while the job still reads
/// RUNNING, i.e. it came from outside Slurm's own ending of the job (a site's preemption
/// hook, `scancel --signal=TERM`). When Slurm itself ends the job (`scancel`, a time limit,
/// preemption) the job reads COMPLETING and Slurm's policy decides: `--requeue` brings a
/// preempted task back, a cancelled one stays cancelled.
fn requeue(sig: i32) {
    let Ok(job) = std::env::var("SLURM_JOB_ID") else {
        return;
    };
    if sig != libc::SIGUSR1 {
        let state = slurm_command("squeue", &["-h", "-j", &job, "-o", "%T"]).unwrap_or_default();
        if state.trim() != "RUNNING" {
            println!(
                "job {job} reads {}: Slurm ends it, not requeued here",
                if state.trim().is_empty() {
                    "nothing"
                } else {
                    state.trim()
                }
            );
            return;
        }
    }
    // Last: Slurm may end this process as soon as the requeue is accepted.
    match slurm_command("scontrol", &["requeue", &job]) {
        Ok(_) => println!("job {job} requeued; it resumes from the checkpoint"),
        Err(e) => eprintln!("could not requeue job {job}: {e} (`lrnn sweep submit` resubmits it)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_task_ids_below_the_array_limit() {
        let all: Vec<usize> = (0..8).collect();
        assert_eq!(
            chunks(&all, 4),
            vec![(0, vec![0, 1, 2, 3]), (4, vec![4, 5, 6, 7])]
        );
        assert_eq!(chunks(&[5], 4), vec![(5, vec![5])]);
        assert_eq!(
            chunks(&[1, 3, 4, 9], 4),
            vec![(1, vec![1, 3, 4]), (9, vec![9])]
        );
        assert_eq!(chunks(&[], 4), Vec::<(usize, Vec<usize>)>::new());
    }

    #[test]
    fn array_specs_are_ranges_with_a_throttle() {
        assert_eq!(array_spec(&[0, 1, 2, 3], Some(2)), "0-3%2");
        assert_eq!(array_spec(&[0, 2, 3, 7], None), "0,2-3,7");
        assert_eq!(array_spec(&[4], None), "4");
    }

    #[test]
    fn the_script_execs_run_point_with_the_warning_signal() {
        let opts = SubmitOptions {
            slurm: SlurmDefaults {
                time: Some("00:10:00".into()),
                mem: Some("1G".into()),
                extra: vec!["module load openblas".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let s = script(
            Path::new("/bin/lrnn"),
            Path::new("/r/sweeps/x/plan.json"),
            Path::new("/r"),
            "x",
            &opts,
        );
        for line in [
            "#SBATCH --signal=B:USR1@120",
            "#SBATCH --requeue",
            "#SBATCH --open-mode=append",
            "#SBATCH --time=00:10:00",
            "#SBATCH --mem=1G",
            "#SBATCH --output=/r/sweeps/x/slurm-logs/%A_%a.out",
            "module load openblas",
            "exec /bin/lrnn sweep run-point /r/sweeps/x/plan.json --results /r --index $(( ${LRNN_INDEX_OFFSET:-0} + SLURM_ARRAY_TASK_ID ))",
        ] {
            assert!(s.lines().any(|l| l == line), "no `{line}` in\n{s}");
        }
        assert!(!s.contains("--partition"), "unset options stay out:\n{s}");
    }

    #[test]
    fn config_values_and_squeue_states_parse() {
        let cfg = "MaxArraySize            = 4\nMaxJobCount             = 10000\n";
        assert_eq!(parse_config_value(cfg, "MaxArraySize"), Some("4"));
        assert_eq!(classify("PENDING"), Live::Queued);
        assert_eq!(classify("RUNNING"), Live::Running);
        assert_eq!(classify("FAILED"), Live::Ended("FAILED".into()));
    }
}
