//! A run folder's life: claim it (refusing another spec's folder or a live run's), record
//! the run in `run.json`, train or resume it, and record how it ended.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::experiment::metrics::MetricsTable;
use crate::experiment::runs::{self, Build, Machine, RunInfo, State, Status};
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
    let info = RunInfo::read(dir)?;
    if info.state() == State::Running && info.pid != std::process::id() {
        return Err(Error::format(
            dir.join(runs::RUN_FILE),
            format!(
                "run is in progress (pid {} on {})",
                info.pid, info.machine.host
            ),
        ));
    }
    Ok(Some(info))
}

/// Trains `spec` in the run folder `opts.out`: a new folder starts from scratch, an interrupted
/// one continues from its checkpoint, a finished one is left alone. Returns the metrics.
pub fn run(spec: &Spec, opts: &RunOptions) -> Result<RunOutcome> {
    let dir = &opts.out;
    let previous = claim_folder(spec, dir)?;
    if let Some(info) = previous.as_ref().filter(|i| i.status == Status::Done) {
        println!(
            "{}: already done ({}), not trained again",
            info.id,
            dir.display()
        );
        return Ok(RunOutcome {
            metrics: MetricsTable::read(&dir.join(runs::METRICS_FILE))?,
            already_done: true,
            resumed: false,
        });
    }
    spec.train.configure();
    let task = spec.load_task(opts.data_dir.as_deref())?;
    let model = spec.build_model();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    crate::io::write_atomic(&dir.join(runs::SPEC_FILE), spec.to_toml().as_bytes())?;
    let mut info = match previous {
        Some(mut info) => {
            info.status = Status::Running;
            info.error = None;
            info.pid = std::process::id();
            info.resumes.push(runs::now());
            info
        }
        None => RunInfo {
            id: opts.id.clone().unwrap_or_else(|| {
                dir.file_name()
                    .map_or("run".into(), |n| n.to_string_lossy().into_owned())
            }),
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
        },
    };
    info.write(dir)?;
    let result = super::train(spec, opts, task.as_ref(), &model);
    match &result {
        Ok(_) => {
            info.status = Status::Done;
            info.ended = Some(runs::now());
        }
        Err(e) => {
            info.status = Status::Failed;
            info.error = Some(e.to_string());
        }
    }
    info.write(dir)?;
    result
}
