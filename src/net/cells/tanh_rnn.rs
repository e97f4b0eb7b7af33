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
use crate::net::cells::{InputGrads, Inputs, OutGrad};
use crate::net::nn::Steps;
use crate::net::nn::act::{flush_all, tanh_back, tanh_step, tanh_sum, weight_grad};
use crate::net::params::Params;

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

    /// BPTT through the last kept forward pass with the same `w`: writes `g_t` = dL/dz_t into
    /// `dz` (whose chunks go to the input layer's gradient in `grads`) and returns
    /// `dW = Σ_t h_tᵀ·g_t`.
    pub fn backward(
        &mut self,
        w: ArrayView2<F>,
        d_out: OutGrad<'_, F>,
        dz: &mut InputGrads<F>,
        grads: &mut Params<F>,
    ) -> ArrayView2<'_, F> {
        let steps = self.h.slots() - 1;
        self.w_t.assign(w.t());
        self.dh.fill(F::zero());
        self.dw.fill(F::zero());
        for t in (0..steps).rev() {
            if let Some(d) = d_out.at(t, steps) {
                self.dh += &d;
            }
            // dL/dh_t: through g_t·Wᵀ, plus the skip connection's identity when residual.
            let mut g = dz.at_mut(t);
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
            if let Some(ts) = dz.chunk_from(t) {
                // dW += Σ h_tᵀ·g_t, one GEMM over the chunk.
                let (h, g) = (self.h.span(ts.start, ts.len()), dz.span(ts));
                weight_grad(h, g, F::one(), &mut self.dw.view_mut());
            }
            dz.done(t, grads);
        }
        self.dw.view()
    }
}
