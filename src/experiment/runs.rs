//! Run folders. A run is one (resolved spec, seed); its folder `results/runs/<id>` holds
//! `spec.toml` (the resolved spec), `run.json` (provenance and state), `metrics.csv` and
//! `checkpoint.h5`. The id is derived from the resolved spec, so the same command (spec,
//! overrides, seed) finds the same folder and resumes or skips it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::experiment::metrics::MetricsTable;
use crate::experiment::spec::Spec;

pub const SPEC_FILE: &str = "spec.toml";
pub const RUN_FILE: &str = "run.json";
pub const METRICS_FILE: &str = "metrics.csv";
pub const CHECKPOINT_FILE: &str = "checkpoint.h5";
pub const LOG_FILE: &str = "log.txt";
/// Per-step metrics every `train.log_every` steps: `epoch, step, loss, grad_norm, lr, step_s`.
pub const STEPS_FILE: &str = "steps.csv";
/// The parameters at the epoch of best validation metric (what tables report beside the last).
pub const BEST_FILE: &str = "best.h5";
/// Held locked (`flock`) by the one process training the folder; the kernel releases it
/// when that process ends, however it ends, so a lock is never stale.
pub const LOCK_FILE: &str = ".lock";

/// The folder's lock, taken without waiting: `Ok(None)` when another process holds it.
pub fn try_lock(dir: &Path) -> Result<Option<std::fs::File>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// `<task>/<spec name>-s<seed>-<8 hex digits of SHA-256 of the resolved spec>` (its
/// [`Spec::identity_toml`]: keys added after a run started serialise only away from their
/// defaults, so such runs keep their ids).
pub fn run_id(spec: &Spec, spec_name: &str) -> String {
    let hash = Sha256::digest(spec.identity_toml().as_bytes());
    let hex = crate::io::hex(&hash[..4]);
    format!(
        "{}/{spec_name}-s{}-{hex}",
        spec.task.name(),
        spec.train.seed
    )
}

/// The folder of run `id` under a results directory.
pub fn run_dir(results: &Path, id: &str) -> PathBuf {
    results.join("runs").join(id)
}

/// The name a spec file gives its runs: its file stem (`lipschitz-euler-128`).
pub fn spec_name(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned())
}

/// Where the runs of the spec file `path` (resolved as `spec`) go: their name, the run id and
/// the default folder. A run folder's own `spec.toml` names its runs as that run was named
/// (from its recorded id), and is the folder when it holds this very run (wherever it is, as
/// `results/reference/...`); any other file gives its stem and `results/runs/<id>`.
pub fn place(results: &Path, path: &Path, spec: &Spec) -> (String, String, PathBuf) {
    let own = own_run(path);
    let name = own
        .as_ref()
        .and_then(|info| name_in_id(&info.id))
        .unwrap_or_else(|| spec_name(path));
    let id = run_id(spec, &name);
    let dir = match (own, path.parent()) {
        (Some(info), Some(dir)) if info.id == id => dir.to_path_buf(),
        _ => run_dir(results, &id),
    };
    (name, id, dir)
}

/// The spec name of a run id `<task>/<name>-s<seed>-<hash>`.
fn name_in_id(id: &str) -> Option<String> {
    let leaf = id.rsplit('/').next()?;
    let mut parts = leaf.rsplitn(3, '-');
    let (_hash, _seed) = (parts.next()?, parts.next()?);
    parts.next().map(str::to_string)
}

/// The run folder `path` is the `spec.toml` of, if it is one.
fn own_run(path: &Path) -> Option<RunInfo> {
    let dir = path.parent()?;
    (path.file_name()? == SPEC_FILE)
        .then(|| RunInfo::read(dir).ok())
        .flatten()
}

/// A finished run of `spec` with fewer epochs, the one with most if several: a folder of the
/// same name and seed under `results/runs/<task>/` whose resolved spec differs from `spec` in
/// `train.epochs` alone. What `lrnn run` extends instead of training from scratch.
pub fn extendable(results: &Path, spec: &Spec, name: &str) -> Option<PathBuf> {
    let prefix = format!("{name}-s{}-", spec.train.seed);
    let mut best: Option<(usize, PathBuf)> = None;
    for e in std::fs::read_dir(results.join("runs").join(spec.task.name()))
        .ok()?
        .flatten()
    {
        if !e.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let Ok(r) = RunRecord::read(&e.path()) else {
            continue;
        };
        let epochs = r.spec.train.epochs;
        let finished = r.info.status == Status::Done && r.metrics.rows.len() == epochs;
        if !finished || epochs >= spec.train.epochs || best.as_ref().is_some_and(|b| b.0 >= epochs)
        {
            continue;
        }
        let mut shorter = spec.clone();
        shorter.train.epochs = epochs;
        if shorter.identity_toml() == r.spec.identity_toml() {
            best = Some((epochs, e.path()));
        }
    }
    best.map(|(_, d)| d)
}

/// What `run.json` records as the run's outcome; `Running` with a dead process reads as interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Done,
    Failed,
    /// Stopped by a signal (SIGINT, SIGTERM, SIGUSR1) after writing its checkpoint.
    Interrupted,
}

/// A run's state as `lrnn list` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Interrupted,
    Done,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Interrupted => "interrupted",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// The machine a run trained on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub host: String,
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
}

impl Machine {
    /// Reads the host name, CPU model and memory from `/proc` (empty where there is none).
    pub fn current() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            host: read("/proc/sys/kernel/hostname").trim().to_string(),
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

/// The binary that trained a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Build {
    pub version: String,
    pub git_commit: String,
    /// `true` when tracked files differed from the commit at build time.
    pub git_dirty: String,
    /// OpenBLAS's own description (version, kernel, threading).
    pub blas: String,
    pub blas_threads: usize,
    pub gemm: String,
}

impl Build {
    pub fn current() -> Self {
        Build {
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: env!("LRNN_GIT_COMMIT").into(),
            git_dirty: env!("LRNN_GIT_DIRTY").into(),
            blas: crate::kernels::blas::config(),
            blas_threads: crate::kernels::blas::threads(),
            gemm: crate::kernels::gemm::describe(),
        }
    }
}

/// `run.json`: what produced a run, where and when, and how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    /// `lrnn run --name`: a label of the researcher's, not part of the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `lrnn run --tag` (repeatable; a resume adds its tags) and the `TABLE-PROFILE` of a
    /// `reproduce` row: labels to filter by, not part of the id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The finished run this one continued from (same spec, fewer epochs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_from: Option<String>,
    pub status: Status,
    /// The last error, for a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The command line of the first start; `resumes` lists the later ones.
    pub command: Vec<String>,
    pub build: Build,
    pub machine: Machine,
    pub pid: u32,
    /// RFC 3339, UTC.
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// Start times of each resume after an interruption.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumes: Vec<String>,
    pub epochs: usize,
    pub params: usize,
    pub shards: usize,
    /// The task's `data inspect` record (sources, split sizes, notes on stand-ins).
    pub data: serde_json::Value,
    /// Where Slurm ran the latest attempt (absent outside Slurm).
    #[serde(flatten)]
    pub slurm: SlurmPlace,
}

/// The Slurm job an attempt of a run ran in, from the variables Slurm sets in a task's
/// environment: the node (every `slurmd` of a host reports the same host name), the job, the
/// array task and how often Slurm requeued it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlurmPlace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_array_job_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_array_task_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_restart_count: Option<u64>,
}

impl SlurmPlace {
    /// This process's place, from `SLURMD_NODENAME`, `SLURM_JOB_ID`, `SLURM_ARRAY_JOB_ID`,
    /// `SLURM_ARRAY_TASK_ID` and `SLURM_RESTART_COUNT` (0 when a job in Slurm lacks it).
    pub fn current() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let num = |k: &str| var(k).and_then(|v| v.parse().ok());
        let job = num("SLURM_JOB_ID");
        SlurmPlace {
            slurm_node: var("SLURMD_NODENAME"),
            slurm_job_id: job,
            slurm_array_job_id: num("SLURM_ARRAY_JOB_ID"),
            slurm_array_task_id: num("SLURM_ARRAY_TASK_ID"),
            slurm_restart_count: num("SLURM_RESTART_COUNT").or(job.map(|_| 0)),
        }
    }
}

/// Now, as RFC 3339 to the second.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl RunInfo {
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(RUN_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("run info serialises");
        crate::io::write_atomic(&dir.join(RUN_FILE), text.as_bytes())
    }

    /// The recorded status, with a `running` run whose process is gone read as interrupted.
    pub fn state(&self) -> State {
        match self.status {
            Status::Done => State::Done,
            Status::Failed => State::Failed,
            Status::Interrupted => State::Interrupted,
            Status::Running if self.is_alive() => State::Running,
            Status::Running => State::Interrupted,
        }
    }

    /// Whether the recorded process still runs `lrnn` on this host.
    fn is_alive(&self) -> bool {
        if self.machine.host != Machine::current().host {
            // Another node of a cluster: trust the record.
            return true;
        }
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("lrnn"))
    }
}

/// One run folder as found on disk.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub dir: PathBuf,
    pub info: RunInfo,
    pub spec: Spec,
    pub metrics: MetricsTable,
}

impl RunRecord {
    /// Reads the folder `dir` (its spec, `run.json` and metrics).
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(RunRecord {
            dir: dir.to_path_buf(),
            info: RunInfo::read(dir)?,
            spec: Spec::load(&dir.join(SPEC_FILE), &[])?,
            metrics: MetricsTable::read(&dir.join(METRICS_FILE))?,
        })
    }

    /// `test_<metric>` of the last epoch.
    pub fn final_test(&self) -> Option<f64> {
        let m = self.metrics.metric_name()?;
        self.metrics.last(&format!("test_{m}"))
    }
}

/// Every run folder under `results/runs`, sorted by id; folders that do not read are
/// returned as errors beside the others rather than hiding them.
pub fn discover(results: &Path) -> Vec<Result<RunRecord>> {
    let mut dirs = Vec::new();
    let mut stack = vec![results.join("runs")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            // Symlinks are not followed: a link to another run is a duplicate, one to a
            // parent a loop.
            if e.file_type().is_ok_and(|t| t.is_symlink()) {
                continue;
            }
            let p = e.path();
            if p.join(RUN_FILE).is_file() {
                dirs.push(p);
            } else if p.is_dir() {
                stack.push(p);
            }
        }
    }
    dirs.sort();
    dirs.iter().map(|d| RunRecord::read(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> Spec {
        let text = format!(
            "[model]\nkind = \"lipschitz\"\nhidden = 8\n[task]\nname = \"adding\"\n[train]\nepochs = 1\nlr = 0.01\n{extra}"
        );
        let table: toml::Table = text.parse().unwrap();
        Spec::from_table(Path::new("t.toml"), table).unwrap()
    }

    #[test]
    fn ids_follow_the_resolved_spec() {
        let a = run_id(&spec(""), "x");
        assert_eq!(a, run_id(&spec(""), "x"));
        assert!(a.starts_with("adding/x-s1-"), "{a}");
        // A default written out is the same spec.
        assert_eq!(a, run_id(&spec("seed = 1"), "x"));
        assert_ne!(a, run_id(&spec("seed = 2"), "x"));
        assert_ne!(a, run_id(&spec("batch_size = 64"), "x"));
    }

    #[test]
    fn a_running_record_of_a_dead_process_is_interrupted() {
        let mut info = RunInfo {
            id: "a/b".into(),
            name: None,
            tags: vec![],
            extended_from: None,
            status: Status::Running,
            error: None,
            command: vec![],
            build: Build::default(),
            machine: Machine::current(),
            pid: u32::MAX,
            started: now(),
            ended: None,
            resumes: vec![],
            epochs: 1,
            params: 1,
            shards: 1,
            data: serde_json::Value::Null,
            slurm: SlurmPlace::default(),
        };
        assert_eq!(info.state(), State::Interrupted);
        info.status = Status::Done;
        assert_eq!(info.state(), State::Done);
    }
}
