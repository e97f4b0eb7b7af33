//! `lrnn bench`: median time of full training steps (forward, BPTT, Adam) of one model on
//! random data, with the GEMM work counted, so cells and backends compare as numbers.

use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::cells::ModelConfig;
use crate::model::{Batch, Model};
use crate::optim::{Optimizer, OptimizerConfig, OptimizerKind};
use crate::params::Params;

/// What to time.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub model: ModelConfig,
    pub batch: usize,
    pub seq: usize,
    pub input: usize,
    pub classes: usize,
    pub warmup: usize,
    pub steps: usize,
    /// Data-parallel shards over the batch (1 = one worker, BLAS threads as set).
    pub shards: usize,
}

/// The measurement, printed as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// [`ModelConfig::label`], e.g. `lipschitz-euler`.
    pub model: String,
    pub batch: usize,
    pub seq: usize,
    pub hidden: usize,
    pub steps_timed: usize,
    pub median_step_s: f64,
    pub min_step_s: f64,
    pub max_step_s: f64,
    /// Interquartile range of the step times.
    pub iqr_step_s: f64,
    /// Recurrent GEMM work of a training step, counted as three forward passes (forward,
    /// and the two products of backward: input gradients and weight gradients).
    pub gflop: f64,
    pub gflop_per_s: f64,
    pub threads: usize,
    pub shards: usize,
    pub backend: String,
}

/// Times `cfg.steps` training steps after `cfg.warmup` untimed ones.
pub fn run(cfg: &BenchConfig) -> BenchResult {
    let model = Model::<f32>::new(&cfg.model, cfg.input, cfg.classes);
    let mut params = model.init(1);
    let mut grads = Params::zeros(model.layout.clone());
    let mut opt = Optimizer::new(
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            momentum: 0.9,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        },
        model.num_params(),
    );
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let x = Array2::from_shape_fn((cfg.seq * cfg.batch, cfg.input), |_| rng.random::<f32>());
    let labels = (0..cfg.batch)
        .map(|_| rng.random_range(0..cfg.classes))
        .collect();
    let batch = Batch::classes(x, labels);
    let mut shards = model.shards(cfg.shards.max(1));
    let mut times = Vec::with_capacity(cfg.steps);
    for i in 0..cfg.warmup + cfg.steps {
        let t0 = Instant::now();
        model.forward_backward_sharded(&params, &batch, &mut shards, &mut grads);
        opt.update(&mut params, &grads, 1e-3);
        if i >= cfg.warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let q = |f: f64| times[((times.len() - 1) as f64 * f).round() as usize];
    let n = model.cell.hidden() as f64;
    let gflop =
        3.0 * 2.0 * (cfg.batch * cfg.seq) as f64 * n * n * model.cell.products_per_step() as f64
            / 1e9;
    BenchResult {
        model: cfg.model.label(),
        batch: cfg.batch,
        seq: cfg.seq,
        hidden: model.cell.hidden(),
        steps_timed: times.len(),
        median_step_s: q(0.5),
        min_step_s: q(0.0),
        max_step_s: q(1.0),
        iqr_step_s: q(0.75) - q(0.25),
        gflop,
        gflop_per_s: gflop / q(0.5),
        threads: crate::blas::threads(),
        shards: cfg.shards.max(1),
        backend: crate::gemm::describe(),
    }
}
