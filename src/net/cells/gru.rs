//! GRU, as PyTorch's `nn.GRU` (one layer, gate order r, z, n), in the row convention
//! (`h` is `[B, N]`, weights `[3N, ·]` as PyTorch stores them):
//!
//! ```text
//! z_t = x_t·W_ihᵀ + b_ih = [z_r | z_u | z_n]      q_t = h_t·W_hhᵀ + b_hh = [q_r | q_u | q_n]
//! r = σ(z_r + q_r)    u = σ(z_u + q_u)    n = tanh(z_n + r⊙q_n)
//! h_{t+1} = (1 − u)⊙n + u⊙h_t
//! ```
//!
//! (`u` is PyTorch's update gate `z`, renamed to keep `z` for the projected input.) The
//! hidden bias `b_hn` sits inside `r⊙(…)`, so the hidden-side `q_n` is kept per step.
//! Parameters: `cell/weight_ih [3N,p]`, `cell/bias_ih [3N]` (the input projection),
//! `cell/weight_hh [3N,N]`, `cell/bias_hh [3N]`, all U(±1/√N) as PyTorch's `reset_parameters`.
//!
//! Per step one GEMM `h·W_hhᵀ`; backward ends each step and chunk with the gated cells'
//! shared tail ([`super::gated`]) on `dQ`, which differs from `dZ` only in the `n` block
//! (`dQ_n = dZ_n⊙r`). Backward flushes vanishing gradients below
//! ~1e-31 to zero ([`flush_tiny`]): subnormals slow GEMMs ~10×.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

use super::gated::{Gated, GatedWeights};
use super::{AnyCell, Cell, CellConfig, Inputs, Step};
use crate::kernels::float::Float;
use crate::net::nn::act::{flush_tiny, sigmoid, sigmoid_grad, tanh_grad};
use crate::net::nn::{Linear, Steps, blocks, blocks_mut, flat, flat_mut};
use crate::net::params::{Layout, Params};

/// `[model]` keys for `kind = "gru"`: PyTorch's `nn.GRU` defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GruConfig {
    /// Hidden width N.
    pub hidden: usize,
}

impl CellConfig for GruConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        Box::new(Gru(Gated::declare(layout, input_size, self.hidden, 3)))
    }
}

/// The cell: `input` maps `x [p] → z [3N]`, `recurrent` maps `h [N] → q [3N]`.
pub struct Gru(Gated);

/// What a forward pass records.
pub struct GruTape<F> {
    /// States `h_0..h_T`.
    h: Steps<F>,
    /// Gate activations `[r | u | n]`, `[B, 3N]` a step. Backward reads step t once, then
    /// overwrites it with dL/dq_t (the gradient at the hidden-side pre-activations), which
    /// the per-step product and `dW_hh` read: no separate gradient buffer.
    act: Steps<F>,
    /// The hidden side of the candidate, `q_n = h·W_hnᵀ + b_hn`, `[B, N]` a step.
    qn: Steps<F>,
    /// Per-step scratch `q = h·W_hhᵀ` (the bias is added in the gate loop), `[B, 3N]`.
    q: Array2<F>,
    /// Running dL/dh_t, `[B, N]`.
    dh: Array2<F>,
    /// `W_hh` packed both ways, and the `db_hh` sum.
    w: GatedWeights<F>,
}

impl<F: Float> Cell<F> for Gru {
    type Tape = GruTape<F>;

    fn input(&self) -> &Linear {
        &self.0.input
    }

    fn hidden(&self) -> usize {
        self.0.hidden
    }

    fn products_per_step(&self) -> usize {
        3 // h·W_hhᵀ, three gates
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> GruTape<F> {
        let n = self.0.hidden;
        GruTape {
            h: Steps::new(steps, batch, n, keep, true),
            act: Steps::new(steps, batch, 3 * n, keep, false),
            qn: Steps::new(steps, batch, n, keep, false),
            q: Array2::zeros((batch, 3 * n)),
            dh: Array2::zeros((batch, n)),
            w: GatedWeights::new(&self.0),
        }
    }

    fn activation_bytes(&self, tp: &GruTape<F>) -> Option<usize> {
        Some(tp.h.bytes() + tp.act.bytes() + tp.qn.bytes())
    }

    fn forward(
        &self,
        p: &Params<F>,
        z: &mut Inputs<F>,
        mut state: ArrayViewMut2<F>,
        tp: &mut GruTape<F>,
    ) {
        let n = self.0.hidden;
        let steps = z.steps();
        tp.w.begin_forward(&self.0, p);
        let b_hh = self.0.b_hh(p);
        tp.h.at_mut(0).assign(&state);
        for t in 0..steps {
            let zt = z.at(t);
            let (h, mut h_next) = tp.h.pair_mut(t);
            tp.w.product(&h.view(), &mut tp.q);
            let (mut act, mut qn, q, h) =
                (tp.act.at_mut(t), tp.qn.at_mut(t), tp.q.view(), h.view());
            let (act, qn) = (flat_mut(&mut act), flat_mut(&mut qn));
            let (z, q, h, h1) = (flat(&zt), flat(&q), flat(&h), flat_mut(&mut h_next));
            let rows = act.chunks_exact_mut(3 * n).zip(qn.chunks_exact_mut(n));
            let ins = z.chunks_exact(3 * n).zip(q.chunks_exact(3 * n));
            let states = h.chunks_exact(n).zip(h1.chunks_exact_mut(n));
            for (((act, qn), (z, q)), (h, h1)) in rows.zip(ins).zip(states) {
                crate::kernels::simd::wide(
                    #[inline(always)]
                    || gates_row(act, qn, z, q, b_hh, h, h1),
                );
            }
        }
        state.assign(&tp.h.at(steps));
    }

    fn outputs<'t>(&self, tp: &'t GruTape<F>) -> ArrayView2<'t, F> {
        tp.h.span(1, tp.h.slots() - 1)
    }

    fn backward_begin(&self, p: &Params<F>, tp: &mut GruTape<F>) {
        tp.w.begin_backward(&self.0, p);
        tp.dh.fill(F::zero());
    }

    fn backward_step(
        &self,
        _p: &Params<F>,
        tp: &mut GruTape<F>,
        step: Step<'_, F>,
        mut dz_t: ArrayViewMut2<'_, F>,
    ) {
        let (n, t) = (self.0.hidden, step.t);
        if let Some(d) = step.d_out {
            tp.dh += &d;
        }
        let (mut act, qn, h) = (tp.act.at_mut(t), tp.qn.at(t), tp.h.at(t));
        let (act, qn, h) = (flat_mut(&mut act), flat(&qn), flat(&h));
        let dz_t = flat_mut(&mut dz_t);
        let dh = tp.dh.as_slice_mut().expect("owned");
        let rows = act.chunks_exact_mut(3 * n).zip(qn.chunks_exact(n));
        let states = h.chunks_exact(n).zip(dh.chunks_exact_mut(n));
        for (((act, qn), (h, dh)), dz) in rows.zip(states).zip(dz_t.chunks_exact_mut(3 * n)) {
            crate::kernels::simd::wide(
                #[inline(always)]
                || gates_back_row(act, qn, h, dh, dz),
            );
        }
        // dL/dh_t = dL/dh_{t+1}⊙u (above) + dQ_t·W_hh.
        tp.w.step_tail(tp.act.at(t), F::one(), &mut tp.dh);
    }

    fn backward_chunk(
        &self,
        _p: &Params<F>,
        tp: &mut GruTape<F>,
        ts: std::ops::Range<usize>,
        _dz: ArrayViewMut2<'_, F>,
        grads: &mut Params<F>,
    ) {
        let (h, dq) = (
            tp.h.span(ts.start, ts.len()),
            tp.act.span(ts.start, ts.len()),
        );
        GatedWeights::chunk_tail(&self.0, h, dq, grads);
    }

    fn backward_end(&self, _p: &Params<F>, tp: &mut GruTape<F>, grads: &mut Params<F>) {
        tp.w.end(&self.0, grads);
    }
}

/// One row of the forward step: from `z`, `q = h·W_hhᵀ` and `b = b_hh` (`[3N]` each; the
/// bias is added here, as the LSTM's gates do, rather than in a pass of its own) writes
/// `act = [r | u | n]`, the hidden side of the candidate `qn = q_n + b_n`, and the new state
/// `h1`. Separate slices let the loop vectorise without runtime overlap checks.
#[inline(always)]
fn gates_row<F: Float>(
    act: &mut [F],
    qn: &mut [F],
    z: &[F],
    q: &[F],
    b: &[F],
    h: &[F],
    h1: &mut [F],
) {
    let n = h1.len();
    let [r, u, nn] = blocks_mut(act, n);
    let [z_r, z_u, z_n] = blocks(z, n);
    let [q_r, q_u, q_n] = blocks(q, n);
    let [b_r, b_u, b_n] = blocks(b, n);
    let (qn, h) = (&mut qn[..n], &h[..n]);
    for j in 0..n {
        let (rj, uj) = (
            sigmoid(z_r[j] + (q_r[j] + b_r[j])),
            sigmoid(z_u[j] + (q_u[j] + b_u[j])),
        );
        qn[j] = q_n[j] + b_n[j];
        let nj = (z_n[j] + rj * qn[j]).act_tanh();
        (r[j], u[j], nn[j]) = (rj, uj, nj);
        // h' = n + u⊙(h − n)
        h1[j] = nj + uj * (h[j] - nj);
    }
}

/// One row of the step's backward: from `act = [r | u | n]`, `qn` and `h`, turns the
/// running `dh` (dL/dh' in, its `u` part dL/dh'⊙u out) into dL/dz (`[3N]`) and dL/dq,
/// which it writes over `act`.
#[inline(always)]
fn gates_back_row<F: Float>(act: &mut [F], qn: &[F], h: &[F], dh: &mut [F], dz: &mut [F]) {
    let n = dh.len();
    let [r, u, nn] = blocks_mut(act, n);
    let [dz_r, dz_u, dz_n] = blocks_mut(dz, n);
    let (qn, h) = (&qn[..n], &h[..n]);
    for j in 0..n {
        let (rj, uj, nj) = (r[j], u[j], nn[j]);
        // h' = n + u⊙(h − n), n = tanh(z_n + r⊙q_n).
        let dn = flush_tiny(dh[j] * (F::one() - uj) * tanh_grad(nj));
        let dr = flush_tiny(dn * qn[j] * sigmoid_grad(rj));
        let du = flush_tiny(dh[j] * (h[j] - nj) * sigmoid_grad(uj));
        (dz_r[j], dz_u[j], dz_n[j]) = (dr, du, dn);
        (r[j], u[j], nn[j]) = (dr, du, dn * rj);
        dh[j] = flush_tiny(dh[j] * uj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::params::Init;

    #[test]
    fn parameters_have_pytorch_names_shapes_and_init() {
        let (n, p) = (16, 3);
        let mut layout = Layout::default();
        let cell = GruConfig { hidden: n }.build::<f32>(p, &mut layout);
        assert_eq!((cell.input().fan_out, cell.state_width()), (3 * n, n));
        let init = Init::Uniform { bound: 0.25 };
        for (name, shape) in [
            ("cell/weight_ih", vec![3 * n, p]),
            ("cell/bias_ih", vec![3 * n]),
            ("cell/weight_hh", vec![3 * n, n]),
            ("cell/bias_hh", vec![3 * n]),
        ] {
            let info = layout.info(layout.find(name).unwrap());
            assert_eq!((&info.shape, &info.init), (&shape, &init), "{name}");
        }
        assert_eq!(layout.entries().len(), 4);
    }
}
