//! The training loop shared by every cell and task: shuffled minibatches, BPTT, clipping,
//! the optimiser and its schedule; validation and test after every epoch (the authors report
//! test accuracy per epoch, with no best-epoch selection). The run folder around it
//! ([`folder`]) keeps the resolved spec, `run.json`, `metrics.csv` and `checkpoint.h5`, each
//! rewritten atomically. The checkpoint is also written within epochs, and a run that finds
//! one resumes from it with the same numbers an uninterrupted run gives.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{SplitName, Task};
use crate::error::{Error, Result};
use crate::experiment::metrics::{EpochMetrics, MetricsTable};
use crate::experiment::runs;
use crate::experiment::spec::{Spec, TrainSpec};
use crate::net::model::{Model, Shard};
use crate::net::optim::{Optimizer, clip_grad_norm, lr_at};
use crate::net::params::Params;

mod eval;
mod folder;
pub mod state;
pub mod tensorboard;

pub use eval::{evaluate_checkpoint, evaluate_split};
pub use folder::{RunOptions, RunOutcome, run};
use state::Position;

/// A run in memory: everything its checkpoint holds, and where it writes.
struct Trainer<'a> {
    tr: &'a TrainSpec,
    opts: &'a RunOptions,
    task: &'a dyn Task,
    model: &'a Model<f32>,
    params: Params<f32>,
    grads: Params<f32>,
    opt: Optimizer<f32>,
    shards: Vec<Shard<f32>>,
    pos: Position,
    metrics: MetricsTable,
    steps_per_epoch: usize,
    ckpt_path: PathBuf,
    metrics_path: PathBuf,
    /// Active seconds before this process took over (a resumed run's earlier ones).
    elapsed_before: f64,
    started: Instant,
    /// When the training seconds of `pos.train_s` were last brought up to date.
    timer: Instant,
    last_save: Instant,
    tty: bool,
    /// The last step's loss and gradient norm, and when `steps.csv` last got a row.
    last_step: (f64, f64),
    steps_log: StepsLog,
    /// TensorBoard's copy of `steps.csv` and `metrics.csv`, when asked for.
    board: Option<tensorboard::Board>,
}

impl<'a> Trainer<'a> {
    /// A fresh run, or the folder's checkpoint resumed; `true` with the latter.
    fn start(
        spec: &'a Spec,
        opts: &'a RunOptions,
        task: &'a dyn Task,
        model: &'a Model<f32>,
    ) -> Result<(Self, bool)> {
        let tr = &spec.train;
        let dir = &opts.out;
        let mut t = Trainer {
            tr,
            opts,
            task,
            model,
            params: model.init(tr.seed),
            grads: Params::zeros(model.layout.clone()),
            opt: {
                let mut opt = Optimizer::new(tr.optimizer_config(), model.num_params());
                opt.scale_lr(&model.layout, &tr.lr_scale);
                opt
            },
            shards: model.shards(tr.num_shards()),
            pos: Position::default(),
            metrics: MetricsTable::default(),
            steps_per_epoch: tr.steps_per_epoch(task.num_batches(SplitName::Train, tr.batch_size)),
            ckpt_path: dir.join(runs::CHECKPOINT_FILE),
            metrics_path: dir.join(runs::METRICS_FILE),
            elapsed_before: 0.0,
            started: Instant::now(),
            timer: Instant::now(),
            last_save: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            last_step: (0.0, 0.0),
            steps_log: StepsLog::new(dir.join(runs::STEPS_FILE), tr.log_every),
            board: None,
        };
        let saved = if t.ckpt_path.exists() {
            state::load(&t.ckpt_path, &mut t.params, &mut t.opt)?
        } else {
            None
        };
        let Some((saved, carried)) = saved else {
            if opts.tensorboard {
                t.board = Some(tensorboard::Board::open(dir, None)?);
            }
            return Ok((t, false));
        };
        // Epochs after the checkpoint's are recomputed, so rows written after it go; rows
        // missing before it cannot be recomputed, and a run with gaps is no result.
        t.metrics = if t.metrics_path.exists() {
            MetricsTable::read(&t.metrics_path)?
        } else {
            MetricsTable::default()
        };
        if t.metrics.rows.len() < saved.epoch {
            return Err(Error::format(
                &t.metrics_path,
                format!(
                    "holds {} epoch(s) but the checkpoint is at the end of epoch {}: refusing to \
                     resume with epochs missing (--restart trains the run from scratch)",
                    t.metrics.rows.len(),
                    saved.epoch
                ),
            ));
        }
        t.metrics.rows.truncate(saved.epoch);
        for (shard, s) in t.shards.iter_mut().zip(carried) {
            shard.ws.restore_state(s);
        }
        println!(
            "resuming from {}: epoch {}, step {}",
            t.ckpt_path.display(),
            saved.epoch + 1,
            saved.step
        );
        t.steps_log.keep_until(saved.epoch, saved.step)?;
        t.elapsed_before = saved.elapsed_s;
        t.pos = saved;
        if opts.tensorboard {
            let at = t.global_step();
            t.board = Some(tensorboard::Board::open(dir, Some(at))?);
        }
        Ok((t, true))
    }

    /// The best validation metric of the epochs recorded so far.
    fn best_val(&self) -> Option<f64> {
        let m = self.task.info().metric;
        let col = self.metrics.column(&format!("val_{}", m.as_str()));
        col.into_iter().filter(|v| v.is_finite()).reduce(|a, b| {
            if m.higher_is_better() {
                a.max(b)
            } else {
                a.min(b)
            }
        })
    }

    /// Seconds the run has been active, this process's and earlier ones'.
    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// Steps taken since the run began: TensorBoard's x axis.
    fn global_step(&self) -> i64 {
        (self.pos.epoch * self.steps_per_epoch + self.pos.step) as i64
    }

    /// Brings `pos.train_s` up to now.
    fn account_train_time(&mut self) {
        self.pos.train_s += self.timer.elapsed().as_secs_f64();
        self.timer = Instant::now();
    }

    /// One step of epoch `epoch` at rate `lr`: a batch forward and backward, clipping, the update.
    fn step(&mut self, epoch: usize, lr: f64) -> Result<()> {
        let (tr, step) = (self.tr, self.pos.step);
        let batch = self
            .task
            .batch(SplitName::Train, tr.batch_size, tr.seed, epoch, step);
        let s = self.model.forward_backward_sharded(
            &self.params,
            &batch,
            &mut self.shards,
            &mut self.grads,
        );
        let at = || format!("epoch {}, step {}", epoch + 1, step + 1);
        finite("loss", s.mean(), at)?;
        let norm = if tr.grad_clip > 0.0 {
            clip_grad_norm(&mut self.grads, tr.grad_clip)
        } else {
            self.grads.norm()
        };
        finite("gradient norm", norm, at)?;
        self.pos.grad_norm_sum += norm;
        self.opt.update(&mut self.params, &self.grads, lr);
        self.last_step = (s.mean(), norm);
        // The update itself can overflow (Adam with a tiny second moment): checked before any
        // checkpoint could keep it.
        if let Some(bad) = self.params.data.iter().find(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "parameters after the update".into(),
                value: *bad as f64,
                at: at(),
            });
        }
        self.pos.stats.merge(s);
        self.pos.step += 1;
        Ok(())
    }

    /// Writes the checkpoint at the current position.
    fn save(&mut self) -> Result<()> {
        self.pos.elapsed_s = self.elapsed();
        let carried: Vec<_> = self.shards.iter().map(|s| s.ws.state()).collect();
        state::save(
            &self.ckpt_path,
            &self.params,
            &self.opt,
            &self.pos,
            &carried,
        )?;
        self.last_save = Instant::now();
        Ok(())
    }

    /// Whether a checkpoint is due within the epoch (by step count or by time).
    fn checkpoint_due(&self) -> bool {
        self.opts
            .checkpoint_every
            .is_some_and(|k| self.pos.step % k == 0)
            || self.last_save.elapsed().as_secs_f64() >= self.opts.checkpoint_interval_s
    }

    /// The rest of the epoch in progress: its steps, evaluation, metrics row and checkpoint.
    fn epoch(&mut self) -> Result<()> {
        let (tr, epoch, steps) = (self.tr, self.pos.epoch, self.steps_per_epoch);
        let lr = lr_at(epoch, tr.lr, tr.lr_decay, &tr.lr_decay_epochs);
        let bar = progress_bar(self.tty, steps, epoch, tr.epochs);
        bar.set_position(self.pos.step as u64);
        self.timer = Instant::now();
        while self.pos.step < steps {
            if let Some(signal) = stop_requested() {
                self.account_train_time();
                self.save()?;
                bar.finish_and_clear();
                println!(
                    "  signal {signal}: checkpoint at epoch {} step {}",
                    epoch + 1,
                    self.pos.step
                );
                return Err(Error::Interrupted {
                    signal,
                    epoch: epoch + 1,
                    step: self.pos.step,
                });
            }
            let started = Instant::now();
            self.step(epoch, lr)?;
            let (loss, norm) = self.last_step;
            let secs = started.elapsed().as_secs_f64();
            if self.steps_log.due(self.pos.step) {
                let values = [loss, norm, lr, secs];
                self.steps_log.record(epoch, self.pos.step, values)?;
                let at = self.global_step();
                if let Some(board) = &mut self.board {
                    for (tag, v) in StepsLog::TAGS.iter().zip(values) {
                        board.scalar(tag, at, v)?;
                    }
                }
            }
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", self.pos.stats.mean()));
            if !self.tty && self.pos.step % (steps / 10).max(1) == 0 {
                println!(
                    "  epoch {} step {}/{} loss {:.4} ({:.1} s)",
                    epoch + 1,
                    self.pos.step,
                    steps,
                    self.pos.stats.mean(),
                    self.pos.train_s + self.timer.elapsed().as_secs_f64()
                );
            }
            if self.checkpoint_due() && self.pos.step < steps {
                self.account_train_time();
                self.save()?;
                if !self.tty {
                    println!("  checkpoint: epoch {} step {}", epoch + 1, self.pos.step);
                }
            }
        }
        self.account_train_time();
        bar.finish_and_clear();
        let row = self.evaluate(epoch, lr)?;
        for (column, value) in row.columns() {
            finite(&column, value, || {
                format!("epoch {}, evaluation", epoch + 1)
            })?;
        }
        println!("{}", row.summary(tr.epochs));
        let val = row.metric.of(&row.val);
        let best_so_far = self.best_val().is_none_or(|b| {
            if row.metric.higher_is_better() {
                val > b
            } else {
                val < b
            }
        });
        if let Some(board) = &mut self.board {
            let at = ((epoch + 1) * steps) as i64;
            for (column, value) in row.columns() {
                board.scalar(&format!("epoch/{column}"), at, value)?;
            }
        }
        self.metrics.push(row.columns());
        // Metrics first: a checkpoint never claims an epoch whose row is missing.
        self.metrics.write(&self.metrics_path)?;
        if best_so_far {
            // The best epoch's parameters, at the checkpoint's dataset names (for eval,
            // analyze and grads), before the checkpoint moves on past them.
            crate::experiment::checkpoint::save(
                &self.opts.out.join(runs::BEST_FILE),
                &self.params,
                &[],
            )?;
        }
        self.pos = Position {
            epoch: epoch + 1,
            ..Position::default()
        };
        self.save()
    }

    /// The metrics row of the epoch just trained: validation and test now, and for the
    /// Lipschitz RNN its stability certificate (as the authors' loop logs max Re λ(A), λ(W)).
    fn evaluate(&self, epoch: usize, lr: f64) -> Result<EpochMetrics> {
        let extra = match crate::net::stability::of_params(&self.model.config, &self.params) {
            None => Vec::new(),
            Some(Ok(c)) => c.columns(),
            Some(Err(e)) => {
                return Err(Error::NonFinite {
                    what: format!("the recurrent matrices ({e})"),
                    value: f64::NAN,
                    at: format!("epoch {}, evaluation", epoch + 1),
                });
            }
        };
        let eval = |split| {
            evaluate_split(
                self.model,
                &self.params,
                self.task,
                split,
                self.tr.eval_batch_size,
                self.tr.max_eval_batches,
            )
        };
        let started = Instant::now();
        let (val, test) = (eval(SplitName::Val), eval(SplitName::Test));
        Ok(EpochMetrics {
            extra,
            epoch: epoch + 1,
            lr,
            metric: self.task.info().metric,
            train: self.pos.stats,
            val,
            test,
            eval_s: started.elapsed().as_secs_f64(),
            grad_norm: self.pos.grad_norm_sum / self.steps_per_epoch.max(1) as f64,
            steps: self.steps_per_epoch,
            train_s: self.pos.train_s,
            elapsed_s: self.elapsed(),
        })
    }
}

/// The epochs themselves, from the folder's checkpoint if it has one.
fn train(
    spec: &Spec,
    opts: &RunOptions,
    task: &dyn Task,
    model: &Model<f32>,
) -> Result<RunOutcome> {
    let (mut t, resumed) = Trainer::start(spec, opts, task, model)?;
    let info = task.info();
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
        spec.train.num_shards(),
        crate::kernels::gemm::describe()
    );
    for note in &info.notes {
        println!("  {note}");
    }
    while t.pos.epoch < spec.train.epochs {
        t.epoch()?;
    }
    Ok(RunOutcome {
        metrics: t.metrics,
        already_done: false,
        resumed,
    })
}

/// `steps.csv`, appended a row every `every` steps (counted within the epoch).
struct StepsLog {
    path: PathBuf,
    every: usize,
}

impl StepsLog {
    const HEADER: &str = "epoch,step,loss,grad_norm,lr,step_s\n";
    /// The TensorBoard tags of the four values of a row.
    const TAGS: [&str; 4] = ["train/loss", "train/grad_norm", "train/lr", "train/step_s"];

    fn new(path: PathBuf, every: usize) -> Self {
        StepsLog { path, every }
    }

    /// Whether step `step` (1-based, within its epoch) gets a row.
    fn due(&self, step: usize) -> bool {
        self.every != 0 && step % self.every == 0
    }

    /// Appends step `step` (1-based) of 0-based `epoch`.
    fn record(&self, epoch: usize, step: usize, values: [f64; 4]) -> Result<()> {
        use std::io::Write;
        let fresh = !self.path.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        let [loss, norm, lr, secs] = values;
        let line = format!("{},{step},{loss},{norm},{lr},{secs}\n", epoch + 1);
        let text = if fresh {
            format!("{}{line}", Self::HEADER)
        } else {
            line
        };
        f.write_all(text.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// A resumed run recomputes the steps after its checkpoint (0-based `epoch`, `step`
    /// steps done): their rows go, so each step appears once.
    fn keep_until(&self, epoch: usize, step: usize) -> Result<()> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Ok(());
        };
        let kept: String = text
            .lines()
            .enumerate()
            .filter(|(i, l)| {
                let mut f = l.split(',');
                let (e, s) = (f.next().and_then(|v| v.parse::<usize>().ok()), f.next().and_then(|v| v.parse::<usize>().ok()));
                *i == 0 || matches!((e, s), (Some(e), Some(s)) if e >= 1 && (e - 1 < epoch || (e - 1 == epoch && s <= step)))
            })
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        crate::io::write_atomic(&self.path, kept.as_bytes())
    }
}

/// The signal that asked the run to stop (0: none yet).
static STOP: AtomicUsize = AtomicUsize::new(0);
static STOPPING: AtomicBool = AtomicBool::new(false);

/// SIGINT, SIGTERM and SIGUSR1 (a cluster's preemption and time-limit warning) make the
/// training loop write its checkpoint and stop at the next step; a second SIGINT or
/// SIGTERM ends the process at once.
pub fn catch_stop_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
    for sig in [SIGINT, SIGTERM, SIGUSR1] {
        // Registration fails only for forbidden signals, which these are not.
        if matches!(sig, SIGINT | SIGTERM) {
            let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, &STOPPING);
            let _ = signal_hook::flag::register(sig, &STOPPING);
        }
        let _ = signal_hook::flag::register_usize(sig, &STOP, sig as usize);
    }
}

/// The signal a run was asked to stop by, if any.
pub fn stop_requested() -> Option<i32> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s as i32),
    }
}

/// Refuses a run with nothing to do: an empty split, an epoch of no steps or an evaluation
/// of no batches would end "done" with numbers of nothing.
pub fn check_work(tr: &TrainSpec, task: &dyn Task) -> Result<()> {
    let info = task.info();
    let sources = || {
        let names: Vec<String> = info
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if names.is_empty() {
            "generated".to_string()
        } else {
            names.join(", ")
        }
    };
    for (split, name, size, batch) in [
        (SplitName::Train, "train", info.train, tr.batch_size),
        (SplitName::Val, "val", info.val, tr.eval_batch_size),
        (SplitName::Test, "test", info.test, tr.eval_batch_size),
    ] {
        if size == 0 || task.num_batches(split, batch) == 0 {
            return Err(Error::Empty(format!(
                "{}: the {name} split is empty (read from {})",
                info.task,
                sources()
            )));
        }
    }
    let batches = task.num_batches(SplitName::Train, tr.batch_size);
    if tr.steps_per_epoch(batches) == 0 {
        return Err(Error::Empty(format!(
            "{}: an epoch would take no training steps (train.max_steps_per_epoch = 0)",
            info.task
        )));
    }
    Ok(())
}

/// Peak step memory measured 1.04–1.15× the workspaces' bytes (README, Speed), so a run
/// is refused when 1.2× its estimate exceeds what the machine has available.
const MEMORY_MARGIN: f64 = 1.2;

/// Refuses, before the workspaces are allocated, a run whose training workspaces would not
/// fit in the memory available now (the data is loaded already and counted in that).
pub fn check_memory(tr: &TrainSpec, task: &dyn Task, model: &Model<f32>) -> Result<()> {
    let info = task.info();
    let shards = tr.num_shards();
    let per_shard = tr.batch_size.div_ceil(shards);
    // Whether the readout is every step (its buffers are T·B rows), from one small batch.
    let every = task
        .batch(SplitName::Val, 1, tr.seed, 0, 0)
        .target
        .every_step();
    let need =
        MEMORY_MARGIN * (shards * model.workspace_bytes(info.seq_len, per_shard, every)) as f64;
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if need > available as f64 {
        let gib = |b: f64| b / (1u64 << 30) as f64;
        return Err(Error::Data(format!(
            "{}: training would need about {:.1} GiB ({shards} shard(s) of {per_shard} \
             sequences × {} steps) and {:.1} GiB is available; lower train.batch_size, the \
             sequence length or model.hidden",
            info.task,
            gib(need),
            info.seq_len,
            gib(available as f64)
        )));
    }
    Ok(())
}

/// `MemAvailable` of `/proc/meminfo`, in bytes (`None` off Linux).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `Ok` if `value` is finite, else the run's divergence at `at()`.
fn finite(what: &str, value: f64, at: impl Fn() -> String) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what: what.to_string(),
            value,
            at: at(),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A resume drops the rows of the steps after its checkpoint, which it trains again.
    #[test]
    fn steps_log_keeps_the_rows_up_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let log = StepsLog::new(dir.path().join("steps.csv"), 2);
        for epoch in 0..2 {
            for step in (1..=6).filter(|&s| log.due(s)) {
                log.record(epoch, step, [1.0, 2.0, 0.1, 0.01]).unwrap();
            }
        }
        let rows = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count() - 1;
        assert_eq!(rows(&log.path), 6, "every 2nd step of 2 epochs of 6");
        // Checkpoint inside epoch 2 (0-based 1) after 3 steps: epoch 1's 3 rows and step 2.
        log.keep_until(1, 3).unwrap();
        let text = std::fs::read_to_string(&log.path).unwrap();
        assert_eq!(rows(&log.path), 4, "{text}");
        assert!(
            text.starts_with(StepsLog::HEADER) && text.ends_with("2,2,1,2,0.1,0.01\n"),
            "{text}"
        );
    }
}
