//! Optimisers on flat parameter buffers (PyTorch's update rules), global-norm gradient
//! clipping, and the authors' step learning-rate schedule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kernels::float::Float;
use crate::net::params::{Layout, Params};

/// Which update rule (`[train] optimizer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba) with bias correction, as `torch.optim.Adam`.
    #[default]
    Adam,
    /// SGD with (PyTorch-style) momentum.
    Sgd,
}

/// Hyperparameters of the update rule.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    /// SGD momentum μ.
    pub momentum: f64,
    /// Adam's β₁, β₂.
    pub betas: (f64, f64),
    /// Adam's ε.
    pub eps: f64,
    /// L2 penalty added to the gradient (PyTorch's `weight_decay`).
    pub weight_decay: f64,
}

/// Optimiser state, laid out like the parameters.
pub struct Optimizer<F> {
    cfg: OptimizerConfig,
    /// Stretches of the flat buffer and their learning-rate factors, covering it in order
    /// (one stretch at 1 unless [`Optimizer::scale_lr`] split it).
    segments: Vec<(std::ops::Range<usize>, f64)>,
    /// Adam's first moment, or SGD's momentum buffer.
    m: Vec<F>,
    /// Adam's second moment.
    v: Vec<F>,
    /// Updates taken so far.
    pub step: u64,
}

impl<F: Float> Optimizer<F> {
    pub fn new(cfg: OptimizerConfig, num_params: usize) -> Self {
        let v = match cfg.kind {
            OptimizerKind::Adam => vec![F::zero(); num_params],
            OptimizerKind::Sgd => Vec::new(),
        };
        Optimizer {
            cfg,
            segments: vec![(0..num_params, 1.0)],
            m: vec![F::zero(); num_params],
            v,
            step: 0,
        }
    }

    /// Steps each tensor of `layout` named in `factors` at `lr · factor` from now on (the
    /// names are checked by the spec; an unknown one is ignored here).
    pub fn scale_lr(&mut self, layout: &Layout, factors: &BTreeMap<String, f64>) {
        self.segments = layout
            .entries()
            .iter()
            .map(|e| {
                (
                    e.range.clone(),
                    factors.get(&e.name).copied().unwrap_or(1.0),
                )
            })
            .collect();
    }

    /// One update of `params` with `grads` at learning rate `lr`.
    pub fn update(&mut self, params: &mut Params<F>, grads: &Params<F>, lr: f64) {
        self.step += 1;
        for (r, factor) in &self.segments {
            let v = if self.v.is_empty() {
                &mut [][..]
            } else {
                &mut self.v[r.clone()]
            };
            let p = &mut params.data[r.clone()];
            let (g, m) = (&grads.data[r.clone()], &mut self.m[r.clone()]);
            update_stretch(&self.cfg, self.step, p, g, m, v, lr * factor);
        }
    }

    /// The moment buffers, for checkpoints: (first, second; empty for SGD).
    pub fn state(&self) -> (&[F], &[F]) {
        (&self.m, &self.v)
    }

    pub fn state_mut(&mut self) -> (&mut Vec<F>, &mut Vec<F>) {
        (&mut self.m, &mut self.v)
    }
}

/// The update rule on one stretch of the buffers (Adam's `v` is empty for SGD).
fn update_stretch<F: Float>(
    cfg: &OptimizerConfig,
    step: u64,
    params: &mut [F],
    grads: &[F],
    m: &mut [F],
    v: &mut [F],
    lr: f64,
) {
    let wd = F::of(cfg.weight_decay);
    let grad = |p: F, g: F| g + wd * p;
    match cfg.kind {
        OptimizerKind::Adam => {
            let (b1, b2) = cfg.betas;
            let t = step as i32;
            let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
            let step_size = F::of(lr / bc1);
            let bc2_sqrt = F::of(bc2.sqrt());
            let (b1, b2, eps) = (F::of(b1), F::of(b2), F::of(cfg.eps));
            for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(m).zip(v) {
                let g = grad(*p, g);
                *m = b1 * *m + (F::one() - b1) * g;
                *v = b2 * *v + (F::one() - b2) * g * g;
                *p -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
            }
        }
        OptimizerKind::Sgd => {
            let (mu, lr) = (F::of(cfg.momentum), F::of(lr));
            let first = step == 1;
            for ((p, &g), buf) in params.iter_mut().zip(grads).zip(m) {
                let g = grad(*p, g);
                *buf = if first { g } else { mu * *buf + g };
                *p -= lr * *buf;
            }
        }
    }
}

/// Scales `grads` so their global norm is at most `max_norm` (as `clip_grad_norm_`); returns the norm before.
pub fn clip_grad_norm<F: Float>(grads: &mut Params<F>, max_norm: f64) -> f64 {
    let norm = grads.norm();
    if norm > max_norm {
        let k = F::of(max_norm / (norm + 1e-6));
        grads.data.iter_mut().for_each(|g| *g *= k);
    }
    norm
}

/// Learning rate of 0-based `epoch`: `lr0 · decay^k`, `k` the listed epochs strictly before it.
/// The authors decay after the epoch whose 0-based index is listed, so `[90]` changes epochs 91.. .
pub fn lr_at(epoch: usize, lr0: f64, decay: f64, decay_epochs: &[usize]) -> f64 {
    let k = decay_epochs.iter().filter(|&&e| e < epoch).count();
    lr0 * decay.powi(k as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_decays_after_the_listed_epoch() {
        assert_eq!(lr_at(90, 1.0, 0.1, &[90]), 1.0);
        assert!((lr_at(91, 1.0, 0.1, &[90]) - 0.1).abs() < 1e-12);
        assert!((lr_at(99, 1.0, 0.5, &[30, 60]) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn lr_scale_steps_each_tensor_at_its_own_rate() {
        use crate::net::params::Init;
        use std::sync::Arc;
        let mut layout = Layout::default();
        layout.add("a", &[3], Init::Constant(1.0));
        layout.add("b", &[2], Init::Constant(1.0));
        let layout = Arc::new(layout);
        let grads = Params::<f64> {
            layout: layout.clone(),
            data: vec![0.5, -1.0, 2.0, 0.25, -3.0],
        };
        for kind in [OptimizerKind::Adam, OptimizerKind::Sgd] {
            let cfg = OptimizerConfig {
                kind,
                momentum: 0.9,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.0,
            };
            let run = |factors: &[(&str, f64)], lr: f64| {
                let mut opt = Optimizer::<f64>::new(cfg.clone(), 5);
                let map = factors.iter().map(|(k, f)| (k.to_string(), *f)).collect();
                opt.scale_lr(&layout, &map);
                let mut p = Params::zeros(layout.clone());
                for _ in 0..3 {
                    opt.update(&mut p, &grads, lr);
                }
                p.data
            };
            let plain = run(&[], 0.1);
            let scaled = run(&[("b", 0.25)], 0.1);
            let slow = run(&[], 0.025);
            // "a" as without factors, bit for bit; "b" as at a quarter of the rate.
            assert_eq!(scaled[..3], plain[..3], "{kind:?}");
            assert_eq!(scaled[3..], slow[3..], "{kind:?}");
            assert!(
                scaled[3..]
                    .iter()
                    .zip(&plain[3..])
                    .all(|(s, p)| s.abs() < p.abs())
            );
        }
    }
}
