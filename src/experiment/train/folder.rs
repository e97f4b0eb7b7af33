//! A run folder's life: claim it (refusing another spec's folder or a live run's), record
//! the run in `run.json`, train or resume it, and record how it ended.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::experiment::metrics::MetricsTable;
use crate::experiment::runs::{self, Build, Machine, RunInfo, SlurmPlace, Status};
use crate::experiment::spec::Spec;

/// Where a run writes, where it reads data, and how often it checkpoints.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The run folder.
    pub out: PathBuf,
    pub data_dir: Option<PathBuf>,
    /// The command line, recorded in `run.json`.
    pub command: Vec<String>,
    /// Run id recorded in `run.json` (the folder name when absent).
    pub id: Option<String>,
    /// Also checkpoint every this many steps (epoch ends always checkpoint).
    pub checkpoint_every: Option<usize>,
    /// Also checkpoint when this many seconds have passed since the last one.
    pub checkpoint_interval_s: f64,
    /// Train from scratch: the folder's checkpoint, metrics and record are removed first.
    pub restart: bool,
    /// A label and tags for `run.json` (not part of the id).
    pub name: Option<String>,
    pub tags: Vec<String>,
    /// A finished run folder of the same spec with fewer epochs: a new folder starts from a
    /// copy of it and trains only the epochs it lacks ([`super::extendable`] finds one).
    pub extend: Option<PathBuf>,
    /// Also write TensorBoard event files in `tb/` ([`super::tensorboard`]); not part of the id.
    pub tensorboard: bool,
}

impl RunOptions {
    pub fn new(out: impl Into<PathBuf>) -> Self {
        RunOptions {
            out: out.into(),
            data_dir: None,
            command: std::env::args().collect(),
            id: None,
            checkpoint_every: None,
            checkpoint_interval_s: 60.0,
            restart: false,
            name: None,
            tags: Vec::new(),
            extend: None,
            tensorboard: super::tensorboard::from_env(),
        }
    }
}

/// What [`run`] did.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub metrics: MetricsTable,
    /// The folder already held a finished run; nothing was trained.
    pub already_done: bool,
    /// Training continued from a checkpoint of an interrupted run.
    pub resumed: bool,
}

/// Checks that the folder `dir` may train `spec`: a folder of another spec, or of a run whose
/// process is alive, is refused. Returns the folder's earlier `run.json`, if any.
fn claim_folder(spec: &Spec, dir: &Path) -> Result<Option<RunInfo>> {
    let spec_path = dir.join(runs::SPEC_FILE);
    if spec_path.exists() {
        let old = std::fs::read_to_string(&spec_path).map_err(|e| Error::io(&spec_path, e))?;
        // Compared as parsed specs: a key added since the folder was written reads as its default.
        let same = toml::from_str(&old)
            .ok()
            .and_then(|t| Spec::from_table(&spec_path, t).ok())
            .is_some_and(|o| o.identity_toml() == spec.identity_toml());
        if !same {
            return Err(Error::format(
                &spec_path,
                "this run folder holds another spec; pick another --out or remove the folder",
            ));
        }
    }
    if !dir.join(runs::RUN_FILE).exists() {
        return Ok(None);
    }
    Ok(Some(RunInfo::read(dir)?))
}

/// Refuses a folder another process trains; returns the lock, held until it is dropped.
fn lock_folder(dir: &Path) -> Result<std::fs::File> {
    runs::try_lock(dir)?.ok_or_else(|| {
        let who = RunInfo::read(dir)
            .map(|i| format!(" (pid {} on {})", i.pid, i.machine.host))
            .unwrap_or_default();
        Error::format(
            dir,
            format!(
                "run is in progress{who}: another lrnn process holds {}",
                runs::LOCK_FILE
            ),
        )
    })
}

/// `--restart`: what a finished or interrupted run left, removed so training starts over.
fn clear_folder(dir: &Path) -> Result<()> {
    for name in [runs::CHECKPOINT_FILE, runs::METRICS_FILE, runs::RUN_FILE] {
        let p = dir.join(name);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    Ok(())
}

/// Starts the new folder `dir` as a copy of the finished run `from` (checkpoint, metrics,
/// per-step log, best parameters), recorded as an interrupted run of `spec` at the end of its
/// last epoch, so that training resumes there and runs only the epochs `from` lacks. Resume
/// is exact and the schedule depends on the epoch alone, so the result equals an
/// uninterrupted run of `spec`.
fn copy_finished(from: &Path, dir: &Path, spec: &Spec, id: String) -> Result<RunInfo> {
    let old = RunInfo::read(from)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for name in [
        runs::CHECKPOINT_FILE,
        runs::METRICS_FILE,
        runs::STEPS_FILE,
        runs::BEST_FILE,
        runs::LOG_FILE,
    ] {
        let src = from.join(name);
        if src.exists() {
            std::fs::copy(&src, dir.join(name)).map_err(|e| Error::io(&src, e))?;
        }
    }
    println!(
        "extending {} ({} epochs, done) to {} epochs from its checkpoint",
        old.id, old.epochs, spec.train.epochs
    );
    Ok(RunInfo {
        id,
        status: Status::Interrupted,
        ended: None,
        epochs: spec.train.epochs,
        extended_from: Some(old.id.clone()),
        ..old
    })
}

/// Trains `spec` in the run folder `opts.out`: a new folder starts from scratch, an interrupted
/// one continues from its checkpoint, a finished one is left alone. Returns the metrics.
pub fn run(spec: &Spec, opts: &RunOptions) -> Result<RunOutcome> {
    let dir = &opts.out;
    let fresh = !dir.exists();
    let result = run_locked(spec, opts);
    // A run refused before it wrote anything (no data, an empty split) leaves no folder.
    if fresh && result.is_err() && !dir.join(runs::SPEC_FILE).exists() {
        let _ = std::fs::remove_file(dir.join(runs::LOCK_FILE));
        let _ = std::fs::remove_dir(dir);
    }
    result
}

fn run_locked(spec: &Spec, opts: &RunOptions) -> Result<RunOutcome> {
    let dir = &opts.out;
    // One writer a folder, from before the data loads to the end of the run.
    let _lock = lock_folder(dir)?;
    if opts.restart {
        clear_folder(dir)?;
    }
    let id = opts.id.clone().unwrap_or_else(|| {
        dir.file_name()
            .map_or("run".into(), |n| n.to_string_lossy().into_owned())
    });
    let mut previous = claim_folder(spec, dir)?;
    if let (None, Some(from)) = (&previous, &opts.extend) {
        previous = Some(copy_finished(from, dir, spec, id.clone())?);
    }
    if let Some(info) = previous.as_ref().filter(|i| i.status == Status::Done) {
        let metrics_path = dir.join(runs::METRICS_FILE);
        let metrics = MetricsTable::read(&metrics_path)?;
        if metrics.rows.len() != spec.train.epochs {
            return Err(Error::format(
                &metrics_path,
                format!(
                    "the run is recorded done but holds {} of its {} epochs; \
                     --restart trains it from scratch",
                    metrics.rows.len(),
                    spec.train.epochs
                ),
            ));
        }
        println!(
            "{}: already done ({}), not trained again",
            info.id,
            dir.display()
        );
        return Ok(RunOutcome {
            metrics,
            already_done: true,
            resumed: false,
        });
    }
    spec.train.configure();
    super::catch_stop_signals();
    let mut task = spec.load_task(opts.data_dir.as_deref())?;
    // A capped evaluation reads a fair sample, the same at every epoch and on resume.
    if let Some(batches) = spec.train.max_eval_batches {
        task.cap_evaluation(batches * spec.train.eval_batch_size, spec.train.seed);
    }
    super::check_work(&spec.train, task.as_ref())?;
    let model = spec.build_model();
    super::check_memory(&spec.train, task.as_ref(), &model)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    crate::io::write_atomic(&dir.join(runs::SPEC_FILE), spec.to_toml().as_bytes())?;
    if let Some(info) = previous.as_ref().filter(|i| i.params != model.num_params()) {
        return Err(Error::format(
            dir.join(runs::RUN_FILE),
            format!(
                "records a model of {} parameters but the spec builds {}: the folder is \
                 another run's (--restart trains this spec from scratch)",
                info.params,
                model.num_params()
            ),
        ));
    }
    let mut info = match previous {
        Some(mut info) => {
            info.status = Status::Running;
            info.error = None;
            info.pid = std::process::id();
            // `pid` is this process's; the host goes with it, so liveness checks look here.
            info.machine = Machine::current();
            info.resumes.push(runs::now());
            // The latest attempt's place: a requeued task may land on another node.
            info.slurm = SlurmPlace::current();
            if opts.name.is_some() {
                info.name = opts.name.clone();
            }
            for t in &opts.tags {
                if !info.tags.contains(t) {
                    info.tags.push(t.clone());
                }
            }
            info
        }
        None => RunInfo {
            id,
            name: opts.name.clone(),
            tags: opts.tags.clone(),
            extended_from: None,
            status: Status::Running,
            error: None,
            command: opts.command.clone(),
            build: Build::current(),
            machine: Machine::current(),
            pid: std::process::id(),
            started: runs::now(),
            ended: None,
            resumes: Vec::new(),
            epochs: spec.train.epochs,
            params: model.num_params(),
            shards: spec.train.num_shards(),
            data: serde_json::to_value(task.info()).expect("task info serialises"),
            slurm: SlurmPlace::current(),
        },
    };
    info.write(dir)?;
    let result = super::train(spec, opts, task.as_ref(), &model);
    match &result {
        Ok(_) => {
            info.status = Status::Done;
            info.ended = Some(runs::now());
        }
        Err(Error::Interrupted { .. }) => info.status = Status::Interrupted,
        Err(e) => {
            info.status = Status::Failed;
            info.error = Some(e.to_string());
        }
    }
    // The run's own error comes first: a full disk that failed a checkpoint fails this too.
    let recorded = info.write(dir);
    let outcome = result?;
    recorded?;
    Ok(outcome)
}
