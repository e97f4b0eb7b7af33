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
//! Per step one GEMM `h·W_hhᵀ`; backward sums `dW_hh = Σ_t dQ_tᵀ·h_t` over all steps in one
//! GEMM at the end, `dQ` differing from `dZ` only in the `n` block (`dQ_n = dZ_n⊙r`). Backward
//! flushes vanishing gradients below ~1e-31 to zero ([`flush_tiny`]): subnormals slow GEMMs ~10×.

use crate::gemm::Packed;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, Zip, s};
use serde::{Deserialize, Serialize};

use super::{Cell, CellConfig, OutGrad, Tape, tape_of, tape_ref};
use crate::float::Float;
use crate::nn::act::{flush_tiny, sigmoid, sigmoid_grad, tanh_grad};
use crate::nn::{Linear, Steps};
use crate::params::{Layout, Params};

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

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn Cell<F>> {
        let n = self.hidden;
        let (input, recurrent) = Linear::declare_torch_rnn(layout, input_size, n, 3);
        Box::new(Gru {
            hidden: n,
            input,
            recurrent,
        })
    }
}

/// The cell: `input` maps `x [p] → z [3N]`, `recurrent` maps `h [N] → q [3N]`.
pub struct Gru {
    hidden: usize,
    input: Linear,
    recurrent: Linear,
}

/// What a forward pass records; gradient buffers stay empty without `keep`.
struct GruTape<F> {
    /// States `h_0..h_T`.
    h: Steps<F>,
    /// Gate activations `[r | u | n]`, `[B, 3N]` a step.
    act: Steps<F>,
    /// The hidden side of the candidate, `q_n = h·W_hnᵀ + b_hn`, `[B, N]` a step.
    qn: Steps<F>,
    /// Per-step scratch `q = h·W_hhᵀ + b_hh`, `[B, 3N]`.
    q: Array2<F>,
    /// dL/dq (the hidden-side ones), `[T·B, 3N]`.
    dq: Steps<F>,
    /// Running dL/dh_t, `[B, N]`.
    dh: Array2<F>,
    /// `W_hhᵀ [N, 3N]` for forward and `W_hh [3N, N]` for backward, packed once a pass.
    w_t: Packed<F>,
    w: Packed<F>,
}

impl<F: Float> Cell<F> for Gru {
    fn input(&self) -> &Linear {
        &self.input
    }

    fn hidden(&self) -> usize {
        self.hidden
    }

    fn products_per_step(&self) -> usize {
        3 // h·W_hhᵀ, three gates
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> Tape {
        let n = self.hidden;
        let grad_buf = || {
            if keep {
                Steps::new(steps, batch, 3 * n, true, false)
            } else {
                Steps::unused()
            }
        };
        Box::new(GruTape::<F> {
            h: Steps::new(steps, batch, n, keep, true),
            act: Steps::new(steps, batch, 3 * n, keep, false),
            qn: Steps::new(steps, batch, n, keep, false),
            q: Array2::zeros((batch, 3 * n)),
            dq: grad_buf(),
            dh: Array2::zeros((batch, n)),
            w_t: Packed::zeros(n, 3 * n),
            w: Packed::zeros(3 * n, n),
        })
    }

    fn activation_bytes(&self, tape: &Tape) -> Option<usize> {
        let tp = tape_ref::<GruTape<F>>(tape);
        Some(tp.h.bytes() + tp.act.bytes() + tp.qn.bytes())
    }

    fn forward(
        &self,
        p: &Params<F>,
        z: ArrayView2<F>,
        mut state: ArrayViewMut2<F>,
        tape: &mut Tape,
    ) {
        let tp = tape_of::<GruTape<F>>(tape);
        let n = self.hidden;
        let batch = state.nrows();
        let steps = z.nrows() / batch;
        tp.w_t.assign(p.matrix(self.recurrent.weight).t());
        tp.h.at_mut(0).assign(&state);
        for t in 0..steps {
            let zt = z.slice(s![t * batch..(t + 1) * batch, ..]);
            let (h, mut h_next) = tp.h.pair_mut(t);
            self.recurrent
                .forward_packed(p, &tp.w_t, h.view(), tp.q.view_mut());
            let mut a = tp.act.at_mut(t);
            let (mut a_ru, mut a_n) = a.view_mut().split_at(Axis(1), 2 * n);
            Zip::from(&mut a_ru)
                .and(zt.slice(s![.., ..2 * n]))
                .and(tp.q.slice(s![.., ..2 * n]))
                .for_each(|a, &z, &q| *a = sigmoid(z + q));
            let qn = tp.q.slice(s![.., 2 * n..]);
            tp.qn.at_mut(t).assign(&qn);
            Zip::from(&mut a_n)
                .and(zt.slice(s![.., 2 * n..]))
                .and(a_ru.slice(s![.., ..n]))
                .and(&qn)
                .for_each(|a, &z, &r, &q| *a = (z + r * q).act_tanh());
            Zip::from(&mut h_next)
                .and(&h)
                .and(a_ru.slice(s![.., n..]))
                .and(&a_n)
                .for_each(|h1, &h, &u, &nn| *h1 = nn + u * (h - nn));
        }
        state.assign(&tp.h.at(steps));
    }

    fn outputs<'t>(&self, tape: &'t Tape) -> ArrayView2<'t, F> {
        let tp = tape_ref::<GruTape<F>>(tape);
        tp.h.span(1, tp.h.slots() - 1)
    }

    fn backward(
        &self,
        p: &Params<F>,
        tape: &mut Tape,
        d_out: OutGrad<'_, F>,
        mut dz: ArrayViewMut2<F>,
        grads: &mut Params<F>,
    ) {
        let tp = tape_of::<GruTape<F>>(tape);
        let n = self.hidden;
        let steps = tp.h.slots() - 1;
        let batch = dz.nrows() / steps;
        tp.w.assign(p.matrix(self.recurrent.weight));

        tp.dh.fill(F::zero());
        for t in (0..steps).rev() {
            if let Some(d) = d_out.at(t, steps) {
                tp.dh += &d;
            }
            let a = tp.act.at(t);
            let (r, u, nn) = (
                a.slice(s![.., ..n]),
                a.slice(s![.., n..2 * n]),
                a.slice(s![.., 2 * n..]),
            );
            let h = tp.h.at(t);
            let mut dz = dz.slice_mut(s![t * batch..(t + 1) * batch, ..]);
            let (mut dz_r, mut dz_u, mut dz_n) =
                dz.multi_slice_mut((s![.., ..n], s![.., n..2 * n], s![.., 2 * n..]));
            let mut dq = tp.dq.at_mut(t);
            let (mut dq_r, mut dq_u, mut dq_n) =
                dq.multi_slice_mut((s![.., ..n], s![.., n..2 * n], s![.., 2 * n..]));
            // h' = n + u⊙(h − n), n = tanh(z_n + r⊙q_n).
            Zip::from(&mut dz_n)
                .and(&mut dq_n)
                .and(&tp.dh)
                .and(&u)
                .and(&nn)
                .and(&r)
                .for_each(|dz, dq, &dh, &u, &nn, &r| {
                    let d = flush_tiny(dh * (F::one() - u) * tanh_grad(nn));
                    *dz = d;
                    *dq = d * r;
                });
            Zip::from(&mut dz_r)
                .and(&mut dq_r)
                .and(&dz_n)
                .and(tp.qn.at(t))
                .and(&r)
                .for_each(|dz, dq, &dn, &qn, &r| {
                    *dz = flush_tiny(dn * qn * sigmoid_grad(r));
                    *dq = *dz;
                });
            Zip::from(&mut dz_u)
                .and(&mut dq_u)
                .and(&tp.dh)
                .and(&h)
                .and(&nn)
                .and(&u)
                .for_each(|dz, dq, &dh, &h, &nn, &u| {
                    *dz = flush_tiny(dh * (h - nn) * sigmoid_grad(u));
                    *dq = *dz;
                });
            // dL/dh_t = dL/dh_{t+1}⊙u + dQ_t·W_hh.
            Zip::from(&mut tp.dh)
                .and(&u)
                .for_each(|dh, &u| *dh = flush_tiny(*dh * u));
            tp.w.mul(F::one(), &tp.dq.at(t), F::one(), &mut tp.dh);
        }

        // dW_hh += Σ_t dQ_tᵀ·h_t and db_hh += Σ_t dQ_t, one GEMM over all steps.
        self.recurrent
            .backward(tp.h.span(0, steps), tp.dq.span(0, steps), grads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Init;

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
