//! `lrnn analyze robustness`: a checkpoint's test metric under perturbations of its inputs and
//! of its parameters, each level averaged over seeded draws with its standard error. The
//! input perturbations are those of the authors' group's follow-up on noisy RNNs (Lim et al.,
//! "Noisy Recurrent Neural Networks", NeurIPS 2021):
//!
//! - `gaussian` σ: `x + σ s ξ`, ξ ~ N(0, 1) per input element, `s` the standard deviation
//!   of the clean inputs evaluated (σ is in units of the input's spread, as for the
//!   standardised inputs of that paper; the tasks here feed raw or unit-scaled pixels);
//! - `multiplicative` σ: `x (1 + σ ξ)`;
//! - `salt_pepper` p: each element, with probability p, set to the batch's minimum or
//!   maximum input (each equally likely);
//! - `params` s: each parameter tensor `W + s ‖W‖_F/√n ξ` (so `‖δW‖ ≈ s ‖W‖`), the same
//!   draw for every test batch.
//!
//! Draw `d` of level `l` of a kind is seeded by `(seed, kind, l, d)` (and the batch index for
//! inputs), so a report is reproducible and its levels are independent.

use std::path::Path;

use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Metric, SplitName};
use crate::error::{Error, Result};
use crate::experiment::checkpoint;
use crate::experiment::spec::Spec;
use crate::net::batch::Batch;
use crate::net::model::Model;
use crate::net::nn::loss::LossStats;
use crate::net::params::Params;

/// The perturbation kinds, in report order.
pub const KINDS: [&str; 4] = ["gaussian", "multiplicative", "salt_pepper", "params"];

/// Levels of each kind, draws a level, and the test sequences evaluated.
#[derive(Clone, Debug)]
pub struct Options {
    pub levels: Vec<(String, Vec<f64>)>,
    pub draws: usize,
    pub samples: usize,
    pub batch: usize,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            levels: vec![
                ("gaussian".into(), vec![0.05, 0.1, 0.2, 0.4]),
                ("multiplicative".into(), vec![0.1, 0.2, 0.4, 0.8]),
                ("salt_pepper".into(), vec![0.01, 0.05, 0.1, 0.2]),
                ("params".into(), vec![0.01, 0.05, 0.1, 0.2]),
            ],
            draws: 5,
            samples: 2000,
            batch: 500,
            seed: 0,
        }
    }
}

/// The metric at one level of one kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Level {
    pub level: f64,
    pub mean: f64,
    /// Standard error of the mean over the draws (sample std / √draws).
    pub stderr: f64,
    pub draws: usize,
}

/// `--json`'s object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub metric: String,
    /// Test sequences evaluated (the first of the test split).
    pub samples: usize,
    /// Standard deviation of their clean inputs: the unit of `gaussian` levels.
    pub input_std: f64,
    pub clean: f64,
    /// Kind → its levels, in [`KINDS`] order.
    pub perturbations: Vec<(String, Vec<Level>)>,
}

fn stream(seed: u64, kind: usize, level: usize, draw: usize, batch: usize) -> rand_pcg::Pcg64 {
    let key = (seed as u128) << 64
        | (kind as u128) << 48
        | (level as u128) << 32
        | (draw as u128) << 16
        | batch as u128;
    rand_pcg::Pcg64::new(key, 0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96)
}

/// `x` perturbed by `kind` at `level`, from `rng`; `spread` is the inputs' standard deviation.
fn perturb_inputs(
    b: &Batch<f32>,
    kind: &str,
    level: f64,
    spread: f64,
    rng: &mut rand_pcg::Pcg64,
) -> Batch<f32> {
    let mut out = b.clone();
    let (lo, hi) =
        b.x.iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
    for v in out.x.iter_mut() {
        match kind {
            "gaussian" => {
                let e: f64 = StandardNormal.sample(rng);
                *v += (level * spread * e) as f32;
            }
            "multiplicative" => {
                let e: f64 = StandardNormal.sample(rng);
                *v *= (1.0 + level * e) as f32;
            }
            "salt_pepper" => {
                let u: f64 = rand::Rng::random(rng);
                if u < level {
                    *v = if u < level / 2.0 { lo } else { hi };
                }
            }
            _ => unreachable!("input perturbations are checked"),
        }
    }
    out
}

/// Every parameter tensor plus Gaussian noise of `level` times its RMS.
fn perturb_params(p: &Params<f32>, level: f64, rng: &mut rand_pcg::Pcg64) -> Params<f32> {
    let mut out = p.clone();
    for e in p.layout.entries() {
        let w = &mut out.data[e.range.clone()];
        let rms =
            (w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len().max(1) as f64).sqrt();
        for v in w.iter_mut() {
            let x: f64 = StandardNormal.sample(rng);
            *v += (level * rms * x) as f32;
        }
    }
    out
}

fn evaluate(model: &Model<f32>, p: &Params<f32>, batches: &[Batch<f32>], metric: Metric) -> f64 {
    let mut ws = model.workspace(1, 1, false);
    let mut stats = LossStats::default();
    for b in batches {
        stats.merge(model.forward_backward(p, b, &mut ws, None));
    }
    metric.of(&stats)
}

/// The first `samples` test sequences in batches of `batch`, each from a zero state.
pub fn test_batches(
    spec: &Spec,
    data_dir: Option<&Path>,
    samples: usize,
    batch: usize,
) -> Result<(Vec<Batch<f32>>, Metric)> {
    sequences(spec, data_dir, SplitName::Test, samples, batch, 0)
}

/// The first `samples` sequences of `split` in the order `seed` draws for epoch 0, in
/// batches of `batch`, each from a zero state (a streamed task's segments taken one by one).
/// An evaluation split grouped by class (CIFAR-10's image folders) gives its stratified subset
/// of `samples` drawn from `train.seed` instead, as a capped evaluation in training reads it
/// ([`crate::data::Task::cap_evaluation`]): its first sequences would be one or two classes.
pub fn sequences(
    spec: &Spec,
    data_dir: Option<&Path>,
    split: SplitName,
    samples: usize,
    batch: usize,
    seed: u64,
) -> Result<(Vec<Batch<f32>>, Metric)> {
    let mut task = spec.load_task(data_dir)?;
    task.cap_evaluation(samples, spec.train.seed);
    let available = task.num_batches(split, batch) * batch;
    if samples == 0 || available == 0 {
        return Err(Error::Data(format!(
            "no sequences to take: {samples} asked, the split has {available}"
        )));
    }
    let mut out = Vec::new();
    let (mut left, mut i) = (samples.min(available), 0);
    while left > 0 {
        let mut b = task.batch(split, batch, seed, 0, i);
        if b.size > left {
            b = b.shard(0..left);
        }
        b.carry = false;
        left -= b.size;
        out.push(b);
        i += 1;
    }
    Ok((out, task.info().metric))
}

/// The report of `checkpoint` under `spec` over `batches`.
pub fn analyze(
    model: &Model<f32>,
    params: &Params<f32>,
    batches: &[Batch<f32>],
    metric: Metric,
    opts: &Options,
) -> Result<Report> {
    for (kind, levels) in &opts.levels {
        if !KINDS.contains(&kind.as_str()) {
            return Err(Error::Data(format!(
                "no perturbation `{kind}`; kinds: {}",
                KINDS.join(", ")
            )));
        }
        if let Some(l) = levels
            .iter()
            .find(|l| !l.is_finite() || **l < 0.0 || (kind == "salt_pepper" && **l > 1.0))
        {
            return Err(Error::Data(format!("{kind}: level {l} is out of range")));
        }
    }
    let samples = batches.iter().map(|b| b.size).sum();
    let clean = evaluate(model, params, batches, metric);
    let (n, sum, sq) = batches
        .iter()
        .flat_map(|b| b.x.iter())
        .fold((0.0, 0.0, 0.0), |(n, s, q), &v| {
            (n + 1.0, s + v as f64, q + (v as f64).powi(2))
        });
    let spread = (sq / n - (sum / n).powi(2)).max(0.0).sqrt();
    let mut perturbations = Vec::new();
    for (kind, levels) in &opts.levels {
        let k = KINDS.iter().position(|n| n == kind).expect("checked above");
        let rows = levels
            .iter()
            .enumerate()
            .map(|(li, &level)| {
                let values: Vec<f64> = (0..opts.draws)
                    .into_par_iter()
                    .map(|d| {
                        if kind == "params" {
                            let p =
                                perturb_params(params, level, &mut stream(opts.seed, k, li, d, 0));
                            evaluate(model, &p, batches, metric)
                        } else {
                            let noisy: Vec<Batch<f32>> = batches
                                .iter()
                                .enumerate()
                                .map(|(bi, b)| {
                                    perturb_inputs(
                                        b,
                                        kind,
                                        level,
                                        spread,
                                        &mut stream(opts.seed, k, li, d, bi + 1),
                                    )
                                })
                                .collect();
                            evaluate(model, params, &noisy, metric)
                        }
                    })
                    .collect();
                let (mean, std) = crate::kernels::stats::mean_std(&values);
                Level {
                    level,
                    mean,
                    stderr: std / (values.len() as f64).sqrt(),
                    draws: values.len(),
                }
            })
            .collect();
        perturbations.push((kind.clone(), rows));
    }
    Ok(Report {
        metric: metric.as_str().into(),
        samples,
        input_std: spread,
        clean,
        perturbations,
    })
}

/// Loads `checkpoint` and its test sequences and reports.
pub fn of_checkpoint(
    spec: &Spec,
    checkpoint: &Path,
    data_dir: Option<&Path>,
    opts: &Options,
) -> Result<Report> {
    spec.train.configure();
    let model = spec.build_model();
    let mut params = Params::zeros(model.layout.clone());
    checkpoint::load_into(checkpoint, &mut params)?;
    let (batches, metric) = test_batches(spec, data_dir, opts.samples, opts.batch)?;
    analyze(&model, &params, &batches, metric, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perturbations_have_their_stated_size() {
        let x = ndarray::Array2::from_shape_fn((4000, 1), |(i, _)| (i % 10) as f32 / 9.0);
        let b = Batch::classes(x.clone(), vec![0; 4000]);
        let mut rng = stream(1, 0, 0, 0, 0);
        let g = perturb_inputs(&b, "gaussian", 0.2, 0.5, &mut rng);
        let d: Vec<f64> = g.x.iter().zip(&x).map(|(a, b)| (a - b) as f64).collect();
        let sd = (d.iter().map(|v| v * v).sum::<f64>() / d.len() as f64).sqrt();
        assert!((sd - 0.1).abs() < 0.005, "{sd}");
        let s = perturb_inputs(&b, "salt_pepper", 0.1, 0.5, &mut rng);
        let changed = s.x.iter().zip(&x).filter(|(a, b)| a != b).count() as f64 / 4000.0;
        // A flipped element that was already at the extreme it is set to reads unchanged.
        assert!(changed > 0.06 && changed < 0.11, "{changed}");
        assert!(s.x.iter().all(|v| (0.0..=1.0).contains(v)));
        let again = perturb_inputs(&b, "salt_pepper", 0.1, 0.5, &mut stream(1, 0, 0, 0, 0));
        assert_ne!(again.x, s.x, "a new stream, a new draw");
    }
}
