//! The training loop shared by every cell and task: shuffled minibatches, BPTT, clipping,
//! the optimiser and its schedule; validation and test after every epoch (the authors report
//! test accuracy per epoch, with no best-epoch selection); a run folder (see [`crate::experiment::runs`])
//! with the resolved spec, `run.json`, `metrics.csv` and `checkpoint.h5`, each rewritten
//! atomically. The checkpoint is also written within epochs, and a run that finds one resumes
//! from it with the same numbers an uninterrupted run gives.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{Metric, SplitName, Task};
use crate::error::{Error, Result};
use crate::experiment::checkpoint;
use crate::experiment::metrics::MetricsTable;
use crate::experiment::runs::{self, Build, Machine, RunInfo, State, Status};
use crate::experiment::spec::Spec;
use crate::net::model::{Model, Shard};
use crate::net::nn::loss::LossStats;
use crate::net::optim::{Optimizer, clip_grad_norm, lr_at};
use crate::net::params::Params;

pub mod state;
use state::Position;

/// One row of `metrics.csv`; the metric columns are named after the task's metric
/// (`val_acc`, `test_bpc`, `val_mse`, …).
#[derive(Clone, Debug)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub lr: f64,
    pub metric: Metric,
    pub train: LossStats,
    pub val: LossStats,
    pub test: LossStats,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    pub steps: usize,
    /// Seconds of training steps this epoch (evaluation excluded).
    pub train_s: f64,
    /// Seconds since the run started.
    pub elapsed_s: f64,
}

impl EpochMetrics {
    /// `(column, value)` pairs in file order.
    pub fn columns(&self) -> Vec<(String, f64)> {
        let m = self.metric.as_str();
        let mut cols = vec![
            ("epoch".to_string(), self.epoch as f64),
            ("lr".to_string(), self.lr),
        ];
        for (split, stats) in [
            ("train", &self.train),
            ("val", &self.val),
            ("test", &self.test),
        ] {
            cols.push((format!("{split}_loss"), stats.mean()));
            cols.push((format!("{split}_{m}"), self.metric.of(stats)));
        }
        cols.extend([
            ("grad_norm".to_string(), self.grad_norm),
            ("steps".to_string(), self.steps as f64),
            ("train_s".to_string(), self.train_s),
            ("elapsed_s".to_string(), self.elapsed_s),
        ]);
        cols
    }

    /// The one-line report printed after each epoch.
    pub fn summary(&self, epochs: usize) -> String {
        let m = self.metric;
        format!(
            "epoch {}/{epochs} lr {:.2e} train_loss {:.4} val_{k} {:.4} test_{k} {:.4} ({:.1} s, {:.1} ms/step)",
            self.epoch,
            self.lr,
            self.train.mean(),
            m.of(&self.val),
            m.of(&self.test),
            self.train_s,
            1e3 * self.train_s / self.steps.max(1) as f64,
            k = m.as_str(),
        )
    }
}

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

/// Loss statistics of `model` over a split (its first `limit` batches if given), in batches of
/// `batch` (the state carried from batch to batch where the task streams, as PTB).
pub fn evaluate_split(
    model: &Model<f32>,
    params: &Params<f32>,
    task: &dyn Task,
    split: SplitName,
    batch: usize,
    limit: Option<usize>,
) -> LossStats {
    let mut ws = model.workspace(1, 1, false);
    let mut stats = LossStats::default();
    let n = task.num_batches(split, batch);
    for i in 0..limit.map_or(n, |l| l.min(n)) {
        let b = task.batch(split, batch, 0, 0, i);
        stats.merge(model.forward_backward(params, &b, &mut ws, None));
    }
    stats
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
    let result = train(spec, opts, task.as_ref(), &model);
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

/// The epochs themselves, from the folder's checkpoint if it has one.
fn train(
    spec: &Spec,
    opts: &RunOptions,
    task: &dyn Task,
    model: &Model<f32>,
) -> Result<RunOutcome> {
    let resumed_at = Instant::now();
    let tr = &spec.train;
    let dir = &opts.out;
    let ckpt_path = dir.join(runs::CHECKPOINT_FILE);
    let metrics_path = dir.join(runs::METRICS_FILE);
    let info = task.info();

    let mut params = model.init(tr.seed);
    let mut grads = Params::zeros(model.layout.clone());
    let mut opt = Optimizer::new(tr.optimizer_config(), model.num_params());
    let mut shards = model.shards(tr.num_shards());
    let mut pos = Position::default();
    let mut metrics = MetricsTable::default();
    let mut resumed = false;
    let saved = if ckpt_path.exists() {
        state::load(&ckpt_path, &mut params, &mut opt)?
    } else {
        None
    };
    if let Some((saved, carried)) = saved {
        // Epochs after the checkpoint's are recomputed, so rows written after it go.
        metrics = MetricsTable::read(&metrics_path)?;
        metrics.rows.truncate(saved.epoch);
        for (shard, s) in shards.iter_mut().zip(carried) {
            shard.ws.restore_state(s);
        }
        println!(
            "resuming from {}: epoch {}, step {}",
            ckpt_path.display(),
            saved.epoch + 1,
            saved.step
        );
        pos = saved;
        resumed = true;
    }

    let steps_per_epoch = task.num_batches(SplitName::Train, tr.batch_size);
    let steps_per_epoch = tr
        .max_steps_per_epoch
        .map_or(steps_per_epoch, |m| m.min(steps_per_epoch));
    let tty = std::io::stderr().is_terminal();
    println!(
        "{} {} N={}: {} train / {} val / {} test, T={}, {} parameters, {} shard(s), gemm {}",
        spec.model.kind(),
        info.task,
        spec.model.hidden(),
        info.train,
        info.val,
        info.test,
        info.seq_len,
        model.num_params(),
        tr.num_shards(),
        crate::kernels::gemm::describe()
    );
    for note in &info.notes {
        println!("  {note}");
    }

    let elapsed_before = pos.elapsed_s;
    let elapsed = || elapsed_before + resumed_at.elapsed().as_secs_f64();
    let mut last_save = Instant::now();
    while pos.epoch < tr.epochs {
        let epoch = pos.epoch;
        let lr = lr_at(epoch, tr.lr, tr.lr_decay, &tr.lr_decay_epochs);
        let bar = progress_bar(tty, steps_per_epoch, epoch, tr.epochs);
        bar.set_position(pos.step as u64);
        let mut t0 = Instant::now();
        while pos.step < steps_per_epoch {
            let step = pos.step;
            let batch = task.batch(SplitName::Train, tr.batch_size, tr.seed, epoch, step);
            let s = model.forward_backward_sharded(&params, &batch, &mut shards, &mut grads);
            if !s.sum.is_finite() {
                return Err(Error::Diverged {
                    epoch: epoch + 1,
                    step: step + 1,
                    loss: s.mean(),
                });
            }
            pos.grad_norm_sum += if tr.grad_clip > 0.0 {
                clip_grad_norm(&mut grads, tr.grad_clip)
            } else {
                grads.norm()
            };
            opt.update(&mut params, &grads, lr);
            pos.stats.merge(s);
            pos.step += 1;
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", pos.stats.mean()));
            if !tty && pos.step % (steps_per_epoch / 10).max(1) == 0 {
                println!(
                    "  epoch {} step {}/{} loss {:.4} ({:.1} s)",
                    epoch + 1,
                    pos.step,
                    steps_per_epoch,
                    pos.stats.mean(),
                    pos.train_s + t0.elapsed().as_secs_f64()
                );
            }
            let due = opts.checkpoint_every.is_some_and(|k| pos.step % k == 0)
                || last_save.elapsed().as_secs_f64() >= opts.checkpoint_interval_s;
            if due && pos.step < steps_per_epoch {
                pos.train_s += t0.elapsed().as_secs_f64();
                t0 = Instant::now();
                pos.elapsed_s = elapsed();
                save_checkpoint(&ckpt_path, &params, &opt, &pos, &shards)?;
                last_save = Instant::now();
                if !tty {
                    println!("  checkpoint: epoch {} step {}", epoch + 1, pos.step);
                }
            }
        }
        pos.train_s += t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let eval = |split| {
            evaluate_split(
                model,
                &params,
                task,
                split,
                tr.eval_batch_size,
                tr.max_eval_batches,
            )
        };
        let row = EpochMetrics {
            epoch: epoch + 1,
            lr,
            metric: info.metric,
            train: pos.stats,
            val: eval(SplitName::Val),
            test: eval(SplitName::Test),
            grad_norm: pos.grad_norm_sum / steps_per_epoch.max(1) as f64,
            steps: steps_per_epoch,
            train_s: pos.train_s,
            elapsed_s: elapsed(),
        };
        println!("{}", row.summary(tr.epochs));
        metrics.push(row.columns());
        // Metrics first: a checkpoint never claims an epoch whose row is missing.
        metrics.write(&metrics_path)?;
        pos = Position {
            epoch: epoch + 1,
            elapsed_s: elapsed(),
            ..Position::default()
        };
        save_checkpoint(&ckpt_path, &params, &opt, &pos, &shards)?;
        last_save = Instant::now();
    }
    Ok(RunOutcome {
        metrics,
        already_done: false,
        resumed,
    })
}

fn save_checkpoint(
    path: &Path,
    params: &Params<f32>,
    opt: &Optimizer<f32>,
    pos: &Position,
    shards: &[Shard<f32>],
) -> Result<()> {
    let carried: Vec<_> = shards.iter().map(|s| s.ws.state()).collect();
    state::save(path, params, opt, pos, &carried)
}

fn progress_bar(tty: bool, steps: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let bar = if tty {
        ProgressBar::new(steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]",
        )
        .expect("valid template"),
    );
    bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
    bar
}

/// Loss statistics of a checkpoint on the validation and test splits, and the task's metric.
pub fn evaluate_checkpoint(
    spec: &Spec,
    checkpoint: &Path,
    data_dir: Option<&Path>,
) -> Result<(LossStats, LossStats, Metric)> {
    let task = spec.load_task(data_dir)?;
    let model = spec.build_model();
    let mut params = Params::zeros(model.layout.clone());
    checkpoint::load_into(checkpoint, &mut params)?;
    let b = spec.train.eval_batch_size;
    Ok((
        evaluate_split(&model, &params, task.as_ref(), SplitName::Val, b, None),
        evaluate_split(&model, &params, task.as_ref(), SplitName::Test, b, None),
        task.info().metric,
    ))
}
