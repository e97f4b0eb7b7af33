//! The time loop the tanh-family cells share, for a recurrent matrix `W [N, N]` that the cell
//! builds from its own parameters (and to which it maps the gradient `dW` back):
//!
//! ```text
//! replace:   h_{t+1} = tanh(h_t·W + z_t)              (vanilla, Cayley)
//! residual:  h_{t+1} = h_t + ε·tanh(h_t·W + z_t)      (residual, antisymmetric)
//! ```
//!
//! Backward, with `d` the running dL/dh_{t+1} (plus any read-out at step t), `a_t` the tanh:
//!
//! ```text
//! replace:   g_t = d⊙(1 − h_{t+1}²)    dL/dh_t = g_t·Wᵀ
//! residual:  g_t = ε·d⊙(1 − a_t²)      dL/dh_t = d + g_t·Wᵀ
//! both:      dL/dz_t = g_t             dW = Σ_t h_tᵀ·g_t   (one GEMM a chunk of steps)
//! ```
//!
//! `g_t` and dL/dh_t are flushed to zero below ~1e-31 (f32; see [`flush_tiny`](crate::net::nn::act::flush_tiny)):
//! subnormals slow the GEMMs several-fold, and an orthogonal W (Cayley) decays right through them.

use crate::kernels::gemm::Packed;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::kernels::float::Float;
use crate::net::cells::{Inputs, Step};
use crate::net::nn::act::{flush_all, tanh_back, tanh_step, tanh_sum, weight_grad};
use crate::net::nn::{Linear, Steps};
use crate::net::params::Layout;

/// Validates an `encoder_bound` key (vanilla, Cayley).
pub(super) fn check_encoder_bound(bound: Option<f64>) -> Result<(), crate::config::ConfigError> {
    match bound {
        Some(b) => crate::config::check_positive("encoder_bound", b),
        None => Ok(()),
    }
}

/// Declares the encoder `[N,p]` and its bias: PyTorch's U(±1/√p), or U(±bound) when given.
pub(super) fn declare_encoder(
    layout: &mut Layout,
    input_size: usize,
    n: usize,
    bound: Option<f64>,
) -> Linear {
    let (w, b) = ("encoder/weight", Some("encoder/bias"));
    match bound {
        Some(bound) => Linear::declare_uniform(layout, w, b, input_size, n, bound),
        None => Linear::declare(layout, w, b, input_size, n),
    }
}

/// How a step combines the previous state with the tanh branch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Update {
    /// `h_{t+1} = tanh(h_t·W + z_t)`.
    Replace,
    /// `h_{t+1} = h_t + ε·tanh(h_t·W + z_t)` with step ε.
    Residual(f64),
}

/// Buffers of one run of the loop (a cell's tape, or part of it).
pub struct TanhRnn<F> {
    update: Update,
    /// States `h_0..h_T`, `[·, N]`.
    h: Steps<F>,
    /// `a_t = tanh(h_t·W + z_t)` (residual only; under `Replace` it is `h_{t+1}`).
    a: Steps<F>,
    /// Scratch `h_t·W`, `[B, N]`.
    prod: Array2<F>,
    /// Running dL/dh_t, `[B, N]`.
    dh: Array2<F>,
    /// `W` for forward and `Wᵀ` for backward, packed once a pass.
    w: Packed<F>,
    w_t: Packed<F>,
    /// Backward's `dW`, `[N, N]`, which the cell maps to its parameters.
    dw: Array2<F>,
}

impl<F: Float> TanhRnn<F> {
    /// Buffers for `steps × batch` of width `n`; with `keep`, everything backward needs.
    pub fn new(update: Update, steps: usize, batch: usize, n: usize, keep: bool) -> Self {
        let residual = matches!(update, Update::Residual(_));
        TanhRnn {
            update,
            h: Steps::new(steps, batch, n, keep, true),
            a: if residual {
                Steps::new(steps, batch, n, keep, false)
            } else {
                Steps::unused()
            },
            prod: Array2::zeros((batch, n)),
            dh: Array2::zeros(if keep { (batch, n) } else { (0, 0) }),
            w: Packed::zeros(n, n),
            w_t: Packed::zeros(n, n),
            dw: Array2::zeros((n, n)),
        }
    }

    /// Runs the recurrence with `w [N, N]` over `z [T·B, N]` from `state [B, N]`, leaving the
    /// final state there.
    pub fn forward(&mut self, w: ArrayView2<F>, z: &mut Inputs<F>, mut state: ArrayViewMut2<F>) {
        let steps = z.steps();
        self.w.assign(w);
        self.h.at_mut(0).assign(&state);
        for t in 0..steps {
            let zt = z.at(t);
            let (h, h_next) = self.h.pair_mut(t);
            match self.update {
                Update::Replace => {
                    self.w.mul(F::one(), &h, F::zero(), &mut self.prod);
                    tanh_sum(self.prod.view(), zt, h_next);
                }
                Update::Residual(eps) => {
                    self.w.mul(F::one(), &h, F::zero(), &mut self.prod);
                    let a = self.a.at_mut(t);
                    tanh_step(h.view(), self.prod.view(), zt, a, h_next, F::of(eps));
                }
            }
        }
        state.assign(&self.h.at(steps));
    }

    /// Bytes of the states `h` and (residual) tanh outputs `a`, what backward reads.
    pub fn activation_bytes(&self) -> usize {
        self.h.bytes() + self.a.bytes()
    }

    /// The outputs `h_1..h_T` of the last kept forward pass, `[T·B, N]`.
    pub fn outputs(&self) -> ArrayView2<'_, F> {
        self.h.span(1, self.h.slots() - 1)
    }

    /// Packs `Wᵀ` of the same `w` the forward pass ran with and zeroes the running
    /// gradients: [`Cell::backward_begin`](super::Cell::backward_begin) of a cell on this loop.
    pub fn backward_begin(&mut self, w: ArrayView2<F>) {
        self.w_t.assign(w.t());
        self.dh.fill(F::zero());
        self.dw.fill(F::zero());
    }

    /// Step `step.t`: writes `g_t` = dL/dz_t into `g` and leaves dL/dh_t running.
    pub fn backward_step(&mut self, step: Step<'_, F>, mut g: ArrayViewMut2<'_, F>) {
        let t = step.t;
        if let Some(d) = step.d_out {
            self.dh += &d;
        }
        // dL/dh_t: through g_t·Wᵀ, plus the skip connection's identity when residual.
        let keep_dh = match self.update {
            Update::Replace => {
                tanh_back(self.dh.view(), self.h.at(t + 1), g.view_mut(), F::one());
                F::zero()
            }
            Update::Residual(eps) => {
                tanh_back(self.dh.view(), self.a.at(t), g.view_mut(), F::of(eps));
                F::one()
            }
        };
        self.w_t.mul(F::one(), &g, keep_dh, &mut self.dh);
        flush_all(self.dh.view_mut());
    }

    /// Steps `ts` done: `dW += Σ h_tᵀ·g_t`, one GEMM over the chunk.
    pub fn backward_chunk(&mut self, ts: std::ops::Range<usize>, g: ArrayView2<F>) {
        let h = self.h.span(ts.start, ts.len());
        weight_grad(h, g, F::one(), &mut self.dw.view_mut());
    }

    /// `dW = Σ_t h_tᵀ·g_t` of the pass, for the cell to map to its parameters.
    pub fn dw(&self) -> ArrayView2<'_, F> {
        self.dw.view()
    }
}
