//! The training loop shared by every cell and task: shuffled minibatches, BPTT, clipping,
//! the optimiser and its schedule; validation and test after every epoch (the authors report
//! test accuracy per epoch, with no best-epoch selection); a run folder with the resolved
//! spec, `metrics.csv` and `checkpoint.h5`, each rewritten atomically after every epoch.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::data::{self, Metric, SplitName, Task};
use crate::error::{Error, Result};
use crate::gemm::Backend;
use crate::model::Model;
use crate::nn::loss::LossStats;
use crate::optim::{Optimizer, OptimizerConfig, OptimizerKind, clip_grad_norm, lr_at};
use crate::params::Params;
use crate::spec::Spec;

/// The `[train]` section of a spec; defaults are the authors' pixel-MNIST recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Passes over the training split.
    pub epochs: usize,
    /// Sequences a step (the last batch of an epoch may be smaller, as PyTorch's DataLoader).
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// Seeds initialisation and shuffling.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// `adam` or `sgd`.
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    #[serde(default = "defaults::momentum")]
    pub momentum: f64,
    /// Adam's (β₁, β₂).
    #[serde(default = "defaults::adam_betas")]
    pub adam_betas: [f64; 2],
    /// Adam's ε.
    #[serde(default = "defaults::adam_eps")]
    pub adam_eps: f64,
    /// L2 weight decay added to gradients.
    #[serde(default)]
    pub weight_decay: f64,
    /// Global-norm gradient clip; 0 turns it off (the authors' current default).
    #[serde(default)]
    pub grad_clip: f64,
    /// Factor applied to the learning rate after each epoch of `lr_decay_epochs`.
    #[serde(default = "defaults::lr_decay")]
    pub lr_decay: f64,
    /// 0-based epochs after which the rate decays (the authors: `[90]`, so epochs 91.. are decayed).
    #[serde(default = "defaults::lr_decay_epochs")]
    pub lr_decay_epochs: Vec<usize>,
    /// Sequences a batch when evaluating (the authors' `test-batch-size`).
    #[serde(default = "defaults::eval_batch_size")]
    pub eval_batch_size: usize,
    /// Stop each epoch after this many steps (smoke runs); absent = the whole split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps_per_epoch: Option<usize>,
    /// BLAS threads when `shards = 1` (default: what OpenBLAS chose, normally one a core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// GEMM backend, `matrixmultiply` or `openblas` (measured with `lrnn bench`: on this
    /// machine matrixmultiply is 3x faster than Debian's OpenBLAS at N = 128).
    #[serde(default = "defaults::gemm")]
    pub gemm: Backend,
    /// Data-parallel shards of each batch on the rayon pool, BLAS single-threaded meanwhile
    /// (default: one a core; 1 = one worker with multithreaded BLAS). Results depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
}

mod defaults {
    pub fn batch_size() -> usize {
        128
    }
    pub fn seed() -> u64 {
        1
    }
    pub fn momentum() -> f64 {
        0.9
    }
    pub fn adam_betas() -> [f64; 2] {
        [0.9, 0.999]
    }
    pub fn adam_eps() -> f64 {
        1e-8
    }
    pub fn lr_decay() -> f64 {
        0.1
    }
    pub fn lr_decay_epochs() -> Vec<usize> {
        vec![90]
    }
    pub fn eval_batch_size() -> usize {
        1000
    }
    pub fn gemm() -> super::Backend {
        super::Backend::Matrixmultiply
    }
}

impl TrainSpec {
    /// Data-parallel shards this spec trains with.
    pub fn num_shards(&self) -> usize {
        self.shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Applies the GEMM backend and thread settings to the process.
    pub fn configure(&self) {
        crate::gemm::set_backend(self.gemm);
        if self.num_shards() > 1 {
            crate::blas::set_threads(1);
        } else if let Some(n) = self.threads {
            crate::blas::set_threads(n);
        }
    }

    pub fn optimizer_config(&self) -> OptimizerConfig {
        OptimizerConfig {
            kind: self.optimizer,
            momentum: self.momentum,
            betas: (self.adam_betas[0], self.adam_betas[1]),
            eps: self.adam_eps,
            weight_decay: self.weight_decay,
        }
    }
}

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

    /// The test metric (accuracy, bits per character or MSE).
    pub fn test_metric(&self) -> f64 {
        self.metric.of(&self.test)
    }
}

/// Where a run writes and where it reads data.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub out: PathBuf,
    pub data_dir: Option<PathBuf>,
    /// The command line, recorded in `run.json`.
    pub command: Vec<String>,
}

/// Loss statistics of `model` over a whole split, in batches of `batch` (the state carried
/// from batch to batch where the task streams, as PTB).
pub fn evaluate_split(
    model: &Model<f32>,
    params: &Params<f32>,
    task: &dyn Task,
    split: SplitName,
    batch: usize,
) -> LossStats {
    let mut ws = model.workspace(1, 1, false);
    let mut stats = LossStats::default();
    for i in 0..task.num_batches(split, batch) {
        let b = task.batch(split, batch, 0, 0, i);
        stats.merge(model.forward_backward(params, &b, &mut ws, None));
    }
    stats
}

/// Writes `contents` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&tmp, contents).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn write_metrics(path: &Path, rows: &[EpochMetrics]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| Error::format(path, e.to_string());
    if let Some(first) = rows.first() {
        w.write_record(first.columns().iter().map(|(k, _)| k.as_str()))
            .map_err(csv_err)?;
    }
    for r in rows {
        w.write_record(r.columns().iter().map(|(_, v)| v.to_string()))
            .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::format(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// The model a spec describes, sized for its task.
pub fn build_model(spec: &Spec) -> Model<f32> {
    let (input_size, output_size) = spec.task.dims();
    Model::new(&spec.model, input_size, output_size)
}

/// The task a spec names, read from the data directory when it needs one.
pub fn load_task(spec: &Spec, data_dir: Option<&Path>) -> Result<Box<dyn Task>> {
    let dir = if spec.task.needs_data() {
        Some(data::resolve_data_dir(data_dir)?)
    } else {
        None
    };
    let task = spec.task.load(dir.as_deref())?;
    let info = task.info();
    if (info.input_size, info.output_size) != spec.task.dims() {
        return Err(Error::Shape {
            what: format!("{} data (input, output) widths", info.task),
            expected: vec![spec.task.dims().0, spec.task.dims().1],
            found: vec![info.input_size, info.output_size],
        });
    }
    Ok(task)
}

/// Trains `spec` to completion, writing the run folder `opts.out`; returns the per-epoch metrics.
pub fn run(spec: &Spec, opts: &RunOptions) -> Result<Vec<EpochMetrics>> {
    let started = Instant::now();
    let tr = &spec.train;
    tr.configure();
    let task = load_task(spec, opts.data_dir.as_deref())?;
    let info = task.info();
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    write_atomic(&opts.out.join("spec.toml"), spec.to_toml().as_bytes())?;
    let run_info = serde_json::json!({
        "command": opts.command,
        "version": env!("CARGO_PKG_VERSION"),
        "data": info,
        "gemm": crate::gemm::describe(),
        "shards": tr.num_shards(),
    });
    write_atomic(
        &opts.out.join("run.json"),
        serde_json::to_string_pretty(&run_info)
            .expect("json")
            .as_bytes(),
    )?;

    let model = build_model(spec);
    let mut params = model.init(tr.seed);
    let mut grads = Params::zeros(model.layout.clone());
    let mut opt = Optimizer::new(tr.optimizer_config(), model.num_params());
    let mut shards = model.shards(tr.num_shards());
    let mut rows = Vec::new();

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
        crate::gemm::describe()
    );
    for note in &info.notes {
        println!("  {note}");
    }

    for epoch in 0..tr.epochs {
        let lr = lr_at(epoch, tr.lr, tr.lr_decay, &tr.lr_decay_epochs);
        let bar = if tty {
            ProgressBar::new(steps_per_epoch as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]",
            )
            .expect("valid template"),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, tr.epochs));

        let t0 = Instant::now();
        let mut stats = LossStats::default();
        let mut norm_sum = 0.0;
        for step in 0..steps_per_epoch {
            let batch = task.batch(SplitName::Train, tr.batch_size, tr.seed, epoch, step);
            let s = model.forward_backward_sharded(&params, &batch, &mut shards, &mut grads);
            if !s.sum.is_finite() {
                return Err(Error::Diverged {
                    epoch: epoch + 1,
                    step: step + 1,
                    loss: s.mean(),
                });
            }
            norm_sum += if tr.grad_clip > 0.0 {
                clip_grad_norm(&mut grads, tr.grad_clip)
            } else {
                grads.norm()
            };
            opt.update(&mut params, &grads, lr);
            stats.merge(s);
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", stats.mean()));
            if !tty && (step + 1) % (steps_per_epoch / 10).max(1) == 0 {
                println!(
                    "  epoch {} step {}/{} loss {:.4} ({:.1} s)",
                    epoch + 1,
                    step + 1,
                    steps_per_epoch,
                    stats.mean(),
                    t0.elapsed().as_secs_f64()
                );
            }
        }
        let train_s = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let val = evaluate_split(
            &model,
            &params,
            task.as_ref(),
            SplitName::Val,
            tr.eval_batch_size,
        );
        let test = evaluate_split(
            &model,
            &params,
            task.as_ref(),
            SplitName::Test,
            tr.eval_batch_size,
        );
        let row = EpochMetrics {
            epoch: epoch + 1,
            lr,
            metric: info.metric,
            train: stats,
            val,
            test,
            grad_norm: norm_sum / steps_per_epoch.max(1) as f64,
            steps: steps_per_epoch,
            train_s,
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        let m = info.metric;
        println!(
            "epoch {}/{} lr {:.2e} train_loss {:.4} val_{k} {:.4} test_{k} {:.4} ({:.1} s, {:.1} ms/step)",
            epoch + 1,
            tr.epochs,
            lr,
            stats.mean(),
            m.of(&val),
            m.of(&test),
            train_s,
            1e3 * train_s / steps_per_epoch.max(1) as f64,
            k = m.as_str(),
        );
        rows.push(row);
        let (mo, v) = opt.state();
        checkpoint::save(
            &opts.out.join("checkpoint.h5"),
            &params,
            &[("optimizer/m", mo), ("optimizer/v", v)],
        )?;
        write_metrics(&opts.out.join("metrics.csv"), &rows)?;
    }
    Ok(rows)
}

/// Loss statistics of a checkpoint on the validation and test splits, and the task's metric.
pub fn evaluate_checkpoint(
    spec: &Spec,
    checkpoint: &Path,
    data_dir: Option<&Path>,
) -> Result<(LossStats, LossStats, Metric)> {
    let task = load_task(spec, data_dir)?;
    let model = build_model(spec);
    let mut params = Params::zeros(model.layout.clone());
    checkpoint::load_into(checkpoint, &mut params)?;
    let b = spec.train.eval_batch_size;
    Ok((
        evaluate_split(&model, &params, task.as_ref(), SplitName::Val, b),
        evaluate_split(&model, &params, task.as_ref(), SplitName::Test, b),
        task.info().metric,
    ))
}
