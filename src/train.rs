//! The training loop shared by every cell and task: shuffled minibatches, BPTT, clipping,
//! the optimiser and its schedule; validation and test after every epoch (the authors report
//! test accuracy per epoch, with no best-epoch selection); a run folder with the resolved
//! spec, `metrics.csv` and `checkpoint.h5`, each rewritten atomically after every epoch.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::data::{self, Classification, Split};
use crate::error::{Error, Result};
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
    /// BLAS threads (default: what OpenBLAS chose, normally one a core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
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
}

impl TrainSpec {
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

/// One row of `metrics.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    pub steps: usize,
    /// Seconds of training steps this epoch (evaluation excluded).
    pub train_s: f64,
    /// Seconds since the run started.
    pub elapsed_s: f64,
}

/// Where a run writes and where it reads data.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub out: PathBuf,
    pub data_dir: Option<PathBuf>,
    /// The command line, recorded in `run.json`.
    pub command: Vec<String>,
}

/// Loss and accuracy of `model` on a whole split, in batches of `batch` without a tape.
pub fn evaluate_split(
    model: &Model<f32>,
    params: &Params<f32>,
    data: &Classification,
    split: &Split,
    batch: usize,
) -> LossStats {
    let mut ws = model.workspace(data.seq_len, batch.min(split.len.max(1)), false);
    let (mut x, mut y) = (Array2::zeros((0, 0)), Vec::new());
    let mut stats = LossStats::default();
    let order: Vec<usize> = (0..split.len).collect();
    for chunk in order.chunks(batch) {
        data.batch(split, chunk, &mut x, &mut y);
        stats.merge(model.evaluate(params, x.view(), &y, &mut ws));
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
    for r in rows {
        w.serialize(r)
            .map_err(|e| Error::format(path, e.to_string()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::format(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// The model a spec describes, for a task of `input_size` and `classes`.
pub fn build_model(spec: &Spec) -> Model<f32> {
    let (input_size, classes) = spec.task.dims();
    Model::new(&spec.model, input_size, classes)
}

/// Trains `spec` to completion, writing the run folder `opts.out`; returns the per-epoch metrics.
pub fn run(spec: &Spec, opts: &RunOptions) -> Result<Vec<EpochMetrics>> {
    let started = Instant::now();
    let tr = &spec.train;
    if let Some(n) = tr.threads {
        crate::blas::set_threads(n);
    }
    let dir = data::resolve_data_dir(opts.data_dir.as_deref(), spec.task.data_dir.as_deref())?;
    let data = data::load(&spec.task, &dir)?;
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    write_atomic(&opts.out.join("spec.toml"), spec.to_toml().as_bytes())?;
    let info = serde_json::json!({
        "command": opts.command,
        "version": env!("CARGO_PKG_VERSION"),
        "data_dir": dir,
        "sources": data.sources,
        "blas": crate::blas::config(),
        "blas_threads": crate::blas::threads(),
    });
    write_atomic(
        &opts.out.join("run.json"),
        serde_json::to_string_pretty(&info)
            .expect("json")
            .as_bytes(),
    )?;

    let model = build_model(spec);
    let mut params = model.init(tr.seed);
    let mut grads = Params::zeros(model.layout.clone());
    let mut opt = Optimizer::new(tr.optimizer_config(), model.num_params());
    let mut ws = model.workspace(data.seq_len, tr.batch_size, true);
    let (mut x, mut y) = (Array2::zeros((0, 0)), Vec::new());
    let mut rows = Vec::new();

    let steps_per_epoch = data.train.len.div_ceil(tr.batch_size);
    let steps_per_epoch = tr
        .max_steps_per_epoch
        .map_or(steps_per_epoch, |m| m.min(steps_per_epoch));
    let tty = std::io::stderr().is_terminal();
    println!(
        "{} {} N={} on {} ({} train / {} val / {} test, T={}), {} parameters, {} BLAS threads",
        spec.model.kind(),
        spec.task.name.as_str(),
        spec.model.hidden(),
        dir.display(),
        data.train.len,
        data.val.len,
        data.test.len,
        data.seq_len,
        model.num_params(),
        crate::blas::threads()
    );

    for epoch in 0..tr.epochs {
        let lr = lr_at(epoch, tr.lr, tr.lr_decay, &tr.lr_decay_epochs);
        // Each epoch's order comes from its own PCG stream, so a resumed run can recreate it.
        let mut order: Vec<usize> = (0..data.train.len).collect();
        order.shuffle(&mut rand_pcg::Pcg64::new(tr.seed as u128, epoch as u128));
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
        for (step, chunk) in order
            .chunks(tr.batch_size)
            .take(steps_per_epoch)
            .enumerate()
        {
            data.batch(&data.train, chunk, &mut x, &mut y);
            let s = model.loss_and_grad(&params, x.view(), &y, &mut ws, &mut grads);
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
        let val = evaluate_split(&model, &params, &data, &data.val, tr.eval_batch_size);
        let test = evaluate_split(&model, &params, &data, &data.test, tr.eval_batch_size);
        let steps = steps_per_epoch;
        rows.push(EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: stats.mean(),
            train_acc: stats.accuracy(),
            val_loss: val.mean(),
            val_acc: val.accuracy(),
            test_loss: test.mean(),
            test_acc: test.accuracy(),
            grad_norm: norm_sum / steps as f64,
            steps,
            train_s,
            elapsed_s: started.elapsed().as_secs_f64(),
        });
        let (m, v) = opt.state();
        checkpoint::save(
            &opts.out.join("checkpoint.h5"),
            &params,
            &[("optimizer/m", m), ("optimizer/v", v)],
        )?;
        write_metrics(&opts.out.join("metrics.csv"), &rows)?;
        println!(
            "epoch {}/{} lr {:.2e} train_loss {:.4} train_acc {:.4} val_acc {:.4} test_acc {:.4} ({:.1} s, {:.1} ms/step)",
            epoch + 1,
            tr.epochs,
            lr,
            stats.mean(),
            stats.accuracy(),
            val.accuracy(),
            test.accuracy(),
            train_s,
            1e3 * train_s / steps as f64
        );
    }
    Ok(rows)
}

/// Loss and accuracy of a checkpoint on the validation and test splits.
pub fn evaluate_checkpoint(
    spec: &Spec,
    checkpoint: &Path,
    data_dir: Option<&Path>,
) -> Result<(LossStats, LossStats)> {
    let dir = data::resolve_data_dir(data_dir, spec.task.data_dir.as_deref())?;
    let data = data::load(&spec.task, &dir)?;
    let model = build_model(spec);
    let mut params = Params::zeros(model.layout.clone());
    checkpoint::load_into(checkpoint, &mut params)?;
    let b = spec.train.eval_batch_size;
    Ok((
        evaluate_split(&model, &params, &data, &data.val, b),
        evaluate_split(&model, &params, &data, &data.test, b),
    ))
}
