//! The training loss as a function of every parameter at once, in f64: its gradient (the
//! hand-written BPTT, the batches in parallel) and its Hessian-vector products.
//!
//! `L(θ) = Σ_b r_b L_b(θ) / Σ_b r_b`, the mean loss a row over a fixed set of batches (`r_b`
//! rows each; every batch starts from a zero state). Hessian-vector products are central
//! differences of exact gradients,
//!
//! ```text
//! H v ≈ (∇L(θ + t·u) − ∇L(θ − t·u)) / 2t · ‖v‖,   u = v / ‖v‖,
//! ```
//!
//! whose error is `O(t²)` from the third derivatives plus `O(ε_f64 / t)` from rounding; with
//! `t = 1e-4·(1 + ‖θ‖_∞)` both stay near 1e-8 relative on the cells here (tests/hessian.rs
//! holds them against PyTorch's double-backward to 1e-6). Two gradients a product, so a
//! product costs two training steps in f64.

use rayon::prelude::*;

use crate::net::batch::Batch;
use crate::net::model::Model;
use crate::net::params::Params;

/// The loss over `batches` at and around `theta`.
pub struct LossSurface<'a> {
    pub model: &'a Model<f64>,
    pub theta: &'a Params<f64>,
    pub batches: &'a [Batch<f64>],
    /// The finite-difference step along a unit direction.
    pub step: f64,
}

impl<'a> LossSurface<'a> {
    pub fn new(model: &'a Model<f64>, theta: &'a Params<f64>, batches: &'a [Batch<f64>]) -> Self {
        let max = theta.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        LossSurface {
            model,
            theta,
            batches,
            step: 1e-4 * (1.0 + max),
        }
    }

    /// Number of parameters (the Hessian's order).
    pub fn dim(&self) -> usize {
        self.theta.data.len()
    }

    /// The mean loss a row at `at` and its gradient, with the rows it averaged over.
    pub fn loss_grad(&self, at: &Params<f64>) -> ((f64, usize), Vec<f64>) {
        let parts: Vec<(f64, usize, Vec<f64>)> = self
            .batches
            .par_iter()
            .map_init(
                || {
                    (
                        self.model.workspace(1, 1, true),
                        Params::zeros(at.layout.clone()),
                    )
                },
                |(ws, g), b| {
                    let stats = self.model.forward_backward(at, b, ws, Some(g));
                    (stats.sum, stats.rows, g.data.clone())
                },
            )
            .collect();
        let rows: usize = parts.iter().map(|p| p.1).sum();
        let mut grad = vec![0.0; at.data.len()];
        let mut sum = 0.0;
        // Each batch's gradient is of its own mean: weight it by its share of the rows.
        for (s, r, g) in &parts {
            sum += s;
            let w = *r as f64 / rows as f64;
            grad.iter_mut().zip(g).for_each(|(a, b)| *a += w * b);
        }
        ((sum / rows as f64, rows), grad)
    }

    /// The mean loss a row at θ and the rows it averages over: forward passes only.
    pub fn loss(&self) -> (f64, usize) {
        let (sum, rows) = self
            .batches
            .par_iter()
            .map_init(
                || self.model.workspace(1, 1, false),
                |ws, b| {
                    let stats = self.model.forward_backward(self.theta, b, ws, None);
                    (stats.sum, stats.rows)
                },
            )
            .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        (sum / rows as f64, rows)
    }

    /// `H v` by a central difference of gradients along `v`.
    pub fn hvp(&self, v: &[f64]) -> Vec<f64> {
        let len = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if len == 0.0 {
            return vec![0.0; v.len()];
        }
        let t = self.step;
        let shifted = |sign: f64| {
            let mut p = self.theta.clone();
            p.data
                .iter_mut()
                .zip(v)
                .for_each(|(a, b)| *a += sign * t * b / len);
            self.loss_grad(&p).1
        };
        let (plus, minus) = (shifted(1.0), shifted(-1.0));
        plus.iter()
            .zip(&minus)
            .map(|(a, b)| (a - b) / (2.0 * t) * len)
            .collect()
    }
}
