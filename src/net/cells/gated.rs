//! What the PyTorch-style gated cells share (LSTM, GRU): the declaration of `nn.LSTM` /
//! `nn.GRU` parameters, the per-step product `q_t = h_t·W_hhᵀ` through a packed weight,
//! and the backward tail every step and chunk ends with, whatever the gates are:
//!
//! ```text
//! dL/dh_t = β·dL/dh_t + dQ_t·W_hh     (β = 0 for the LSTM, 1 for the GRU's u⊙ part)
//! db_hh  += Σ_rows dQ_t               (a step at a time, while dQ_t is in cache)
//! dW_hh  += Σ_t dQ_tᵀ·h_t             (one GEMM a chunk of steps)
//! ```
//!
//! with `dQ_t` the gradient at the hidden-side pre-activations `q_t + b_hh`.

use ndarray::{Array2, ArrayView2};

use crate::kernels::float::Float;
use crate::kernels::gemm::Packed;
use crate::net::nn::Linear;
use crate::net::nn::flat;
use crate::net::nn::linear::sum_rows;
use crate::net::params::{Layout, Params};

/// A gated cell's projections: `input` maps `x [p] → z [G·N]` (`cell/weight_ih`,
/// `cell/bias_ih`), `recurrent` maps `h [N] → q [G·N]` (`cell/weight_hh`, `cell/bias_hh`),
/// all U(±1/√N) as PyTorch's `reset_parameters`, for `G` gate blocks.
pub struct Gated {
    pub hidden: usize,
    pub gates: usize,
    pub input: Linear,
    pub recurrent: Linear,
}

impl Gated {
    /// Declares the four tensors in PyTorch's order.
    pub fn declare(layout: &mut Layout, input_size: usize, hidden: usize, gates: usize) -> Self {
        let (input, recurrent) = Linear::declare_torch_rnn(layout, input_size, hidden, gates);
        Gated {
            hidden,
            gates,
            input,
            recurrent,
        }
    }

    /// `b_hh`, `[G·N]`.
    pub fn b_hh<'p, F: Float>(&self, p: &'p Params<F>) -> &'p [F] {
        let b = self.recurrent.bias.expect("a gated cell declares bias_hh");
        p.slice(b)
    }
}

/// The recurrent weight packed for the pass (`W_hhᵀ [N, G·N]` forward, `W_hh [G·N, N]`
/// backward) and the step-by-step sum of `db_hh`: the part of a tape every gated cell has.
pub struct GatedWeights<F> {
    w_t: Packed<F>,
    w: Packed<F>,
    db: Vec<F>,
}

impl<F: Float> GatedWeights<F> {
    pub fn new(g: &Gated) -> Self {
        let (n, k) = (g.hidden, g.gates * g.hidden);
        GatedWeights {
            w_t: Packed::zeros(n, k),
            w: Packed::zeros(k, n),
            db: vec![F::zero(); k],
        }
    }

    /// Packs `W_hhᵀ` for a forward pass.
    pub fn begin_forward(&mut self, g: &Gated, p: &Params<F>) {
        self.w_t.assign(p.matrix(g.recurrent.weight).t());
    }

    /// `q = h·W_hhᵀ`, `[B, G·N]` (the bias is the gates' to add).
    pub fn product(&self, h: &ArrayView2<F>, q: &mut Array2<F>) {
        self.w_t.mul(F::one(), h, F::zero(), q);
    }

    /// Packs `W_hh` for a backward pass and zeroes the `db_hh` sum.
    pub fn begin_backward(&mut self, g: &Gated, p: &Params<F>) {
        self.w.assign(p.matrix(g.recurrent.weight));
        self.db.fill(F::zero());
    }

    /// A step's tail: `dh ← β·dh + dQ_t·W_hh`, `db_hh += Σ_rows dQ_t`.
    pub fn step_tail(&mut self, dq_t: ArrayView2<F>, beta: F, dh: &mut Array2<F>) {
        self.w.mul(F::one(), &dq_t, beta, dh);
        sum_rows(&mut self.db, flat(&dq_t));
    }

    /// A chunk's tail: `dW_hh += Σ_t dQ_tᵀ·h_t` over the chunk's `h [L·B, N]`, `dq [L·B, G·N]`.
    pub fn chunk_tail(g: &Gated, h: ArrayView2<F>, dq: ArrayView2<F>, grads: &mut Params<F>) {
        g.recurrent.backward_weight(h, dq, grads);
    }

    /// The pass's tail: the summed `db_hh` into `grads`.
    pub fn end(&self, g: &Gated, grads: &mut Params<F>) {
        g.recurrent.add_bias_grad(grads, &self.db);
    }
}
