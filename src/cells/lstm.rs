//! LSTM, as PyTorch's `nn.LSTM` (one layer, gate order i, f, g, o), in the row convention
//! (`h`, `c` are `[B, N]`, weights `[4N, ·]` as PyTorch stores them):
//!
//! ```text
//! a_t = z_t + h_t·W_hhᵀ + b_hh              z_t = x_t·W_ihᵀ + b_ih,  a = [a_i | a_f | a_g | a_o]
//! i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
//! c_{t+1} = f⊙c_t + i⊙g                     h_{t+1} = o⊙tanh(c_{t+1})
//! ```
//!
//! The carried state is `h‖c` (`[B, 2N]`, h first); the decoder reads `h`. Parameters:
//! `cell/weight_ih [4N,p]`, `cell/bias_ih [4N]` (the input projection), `cell/weight_hh [4N,N]`,
//! `cell/bias_hh [4N]`, all U(±1/√N) as PyTorch's `reset_parameters`.
//!
//! Per step one GEMM `h·W_hhᵀ` into the gate buffer; backward keeps the gate activations and
//! sums `dW_hh = Σ_t dA_tᵀ·h_t` over all steps in one GEMM at the end. Backward flushes
//! vanishing gradients below ~1e-31 to zero ([`flush_tiny`]): subnormals slow the GEMMs ~10×.

use crate::gemm::gemm;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip, s};
use serde::{Deserialize, Serialize};

use super::{Cell, CellConfig, OutGrad, Tape, tape_of, tape_ref};
use crate::float::Float;
use crate::nn::act::{flush_tiny, sigmoid, sigmoid_grad, tanh_grad};
use crate::nn::{Linear, Steps};
use crate::params::{Layout, Params};

/// `[model]` keys for `kind = "lstm"`: PyTorch's `nn.LSTM` defaults (no forget-gate offset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LstmConfig {
    /// Hidden width N (the cell state has the same width).
    pub hidden: usize,
}

impl CellConfig for LstmConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn Cell<F>> {
        let n = self.hidden;
        let (input, recurrent) = Linear::declare_torch_rnn(layout, input_size, n, 4);
        Box::new(Lstm {
            hidden: n,
            input,
            recurrent,
        })
    }
}

/// The cell: `input` maps `x [p] → z [4N]`, `recurrent` maps `h [N] → [4N]`.
pub struct Lstm {
    hidden: usize,
    input: Linear,
    recurrent: Linear,
}

/// What a forward pass records; the gradient buffer stays empty without `keep`.
struct LstmTape<F> {
    /// States `h_t‖c_t`, `t = 0..T`, `[B, 2N]` a step.
    hc: Steps<F>,
    /// Gate activations `[i | f | g | o]`, `[B, 4N]` a step.
    act: Steps<F>,
    /// dL/da_t, the gradient at the gate pre-activations, `[T·B, 4N]`; also dL/dz.
    da: Steps<F>,
    /// Running dL/dh_t and dL/dc_t, `[B, N]`.
    dh: Array2<F>,
    dc: Array2<F>,
}

impl<F: Float> Cell<F> for Lstm {
    fn input(&self) -> &Linear {
        &self.input
    }

    fn hidden(&self) -> usize {
        self.hidden
    }

    fn products_per_step(&self) -> usize {
        4 // h·W_hhᵀ, four gates
    }

    fn state_width(&self) -> usize {
        2 * self.hidden
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> Tape {
        let n = self.hidden;
        Box::new(LstmTape::<F> {
            hc: Steps::new(steps, batch, 2 * n, keep, true),
            act: Steps::new(steps, batch, 4 * n, keep, false),
            da: if keep {
                Steps::new(steps, batch, 4 * n, true, false)
            } else {
                Steps::unused()
            },
            dh: Array2::zeros((batch, n)),
            dc: Array2::zeros((batch, n)),
        })
    }

    fn activation_bytes(&self, tape: &Tape) -> Option<usize> {
        let tp = tape_ref::<LstmTape<F>>(tape);
        Some(tp.hc.bytes() + tp.act.bytes())
    }

    fn forward(
        &self,
        p: &Params<F>,
        z: ArrayView2<F>,
        mut state: ArrayViewMut2<F>,
        tape: &mut Tape,
    ) {
        let tp = tape_of::<LstmTape<F>>(tape);
        let n = self.hidden;
        let batch = state.nrows();
        let steps = z.nrows() / batch;
        tp.hc.at_mut(0).assign(&state);
        for t in 0..steps {
            let zt = z.slice(s![t * batch..(t + 1) * batch, ..]);
            let (hc, mut hc_next) = tp.hc.pair_mut(t);
            let mut a = tp.act.at_mut(t);
            self.recurrent
                .forward(p, hc.slice(s![.., ..n]), a.view_mut());
            let (mut a_if, mut a_g, mut a_o) =
                a.multi_slice_mut((s![.., ..2 * n], s![.., 2 * n..3 * n], s![.., 3 * n..]));
            Zip::from(&mut a_if)
                .and(zt.slice(s![.., ..2 * n]))
                .for_each(|a, &z| *a = sigmoid(*a + z));
            Zip::from(&mut a_g)
                .and(zt.slice(s![.., 2 * n..3 * n]))
                .for_each(|a, &z| *a = (*a + z).act_tanh());
            Zip::from(&mut a_o)
                .and(zt.slice(s![.., 3 * n..]))
                .for_each(|a, &z| *a = sigmoid(*a + z));
            let (mut h_next, mut c_next) = hc_next.multi_slice_mut((s![.., ..n], s![.., n..]));
            Zip::from(&mut c_next)
                .and(hc.slice(s![.., n..]))
                .and(a_if.slice(s![.., ..n]))
                .and(a_if.slice(s![.., n..]))
                .and(&a_g)
                .for_each(|c1, &c, &i, &f, &g| *c1 = f * c + i * g);
            Zip::from(&mut h_next)
                .and(&c_next)
                .and(&a_o)
                .for_each(|h1, &c1, &o| *h1 = o * c1.act_tanh());
        }
        state.assign(&tp.hc.at(steps));
    }

    fn outputs<'t>(&self, tape: &'t Tape) -> ArrayView2<'t, F> {
        let tp = tape_ref::<LstmTape<F>>(tape);
        tp.hc
            .span(1, tp.hc.slots() - 1)
            .slice_move(s![.., ..self.hidden])
    }

    fn backward<'t>(
        &self,
        p: &Params<F>,
        tape: &'t mut Tape,
        d_out: OutGrad<'_, F>,
        grads: &mut Params<F>,
    ) -> ArrayView2<'t, F> {
        let tp = tape_of::<LstmTape<F>>(tape);
        let n = self.hidden;
        let steps = tp.hc.slots() - 1;
        let w_hh = p.matrix(self.recurrent.weight);

        tp.dh.fill(F::zero());
        tp.dc.fill(F::zero());
        for t in (0..steps).rev() {
            if let Some(d) = d_out.at(t, steps) {
                tp.dh += &d;
            }
            let a = tp.act.at(t);
            let (i, f) = (a.slice(s![.., ..n]), a.slice(s![.., n..2 * n]));
            let (g, o) = (a.slice(s![.., 2 * n..3 * n]), a.slice(s![.., 3 * n..]));
            let (hc, hc_next) = (tp.hc.at(t), tp.hc.at(t + 1));
            let mut da = tp.da.at_mut(t);
            let (mut da_i, mut da_f, mut da_g, mut da_o) = da.multi_slice_mut((
                s![.., ..n],
                s![.., n..2 * n],
                s![.., 2 * n..3 * n],
                s![.., 3 * n..],
            ));
            // h' = o⊙tanh(c'): to o, and into the running dL/dc'.
            Zip::from(&mut da_o)
                .and(&mut tp.dc)
                .and(&tp.dh)
                .and(&o)
                .and(hc_next.slice(s![.., n..]))
                .for_each(|da, dc, &dh, &o, &c1| {
                    let tc = c1.act_tanh();
                    *da = flush_tiny(dh * tc * sigmoid_grad(o));
                    *dc += dh * o * tanh_grad(tc);
                });
            // c' = f⊙c + i⊙g: to i, g, f, and dL/dc = dL/dc'⊙f.
            Zip::from(&mut da_i)
                .and(&mut da_g)
                .and(&tp.dc)
                .and(&i)
                .and(&g)
                .for_each(|da_i, da_g, &dc, &i, &g| {
                    *da_i = flush_tiny(dc * g * sigmoid_grad(i));
                    *da_g = flush_tiny(dc * i * tanh_grad(g));
                });
            Zip::from(&mut da_f)
                .and(&mut tp.dc)
                .and(&f)
                .and(hc.slice(s![.., n..]))
                .for_each(|da, dc, &f, &c| {
                    *da = flush_tiny(*dc * c * sigmoid_grad(f));
                    *dc = flush_tiny(*dc * f);
                });
            // dL/dh_t = dA_t·W_hh (h_t reaches h_{t+1} only through the gates).
            gemm(F::one(), &tp.da.at(t), &w_hh, F::zero(), &mut tp.dh);
        }

        // dW_hh += Σ_t dA_tᵀ·h_t and db_hh += Σ_t dA_t, one GEMM over all steps.
        let h = tp.hc.span(0, steps).slice_move(s![.., ..n]);
        self.recurrent.backward(h, tp.da.span(0, steps), grads);
        tp.da.span(0, steps)
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
        let cell = LstmConfig { hidden: n }.build::<f32>(p, &mut layout);
        assert_eq!((cell.input().fan_out, cell.state_width()), (4 * n, 2 * n));
        let init = Init::Uniform { bound: 0.25 };
        for (name, shape) in [
            ("cell/weight_ih", vec![4 * n, p]),
            ("cell/bias_ih", vec![4 * n]),
            ("cell/weight_hh", vec![4 * n, n]),
            ("cell/bias_hh", vec![4 * n]),
        ] {
            let info = layout.info(layout.find(name).unwrap());
            assert_eq!((&info.shape, &info.init), (&shape, &init), "{name}");
        }
        assert_eq!(layout.entries().len(), 4);
    }
}
