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
//! Per step one GEMM `h·W_hhᵀ` into a scratch buffer, from which the gates write the tape;
//! backward keeps the gate activations and ends each step and chunk with the gated cells'
//! shared tail ([`super::gated`]) on dA = dL/dz, which is also dQ (`a = z + q + b_hh`). Backward flushes vanishing gradients below ~1e-31 to zero ([`flush_tiny`]):
//! subnormals slow the GEMMs ~10×.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use serde::{Deserialize, Serialize};

use super::gated::{Gated, GatedWeights};
use super::{AnyCell, Cell, CellConfig, Inputs, Step};
use crate::kernels::float::Float;
use crate::net::nn::act::{flush_tiny, sigmoid, sigmoid_grad, tanh_grad};
use crate::net::nn::{Linear, Steps, blocks, blocks_mut, flat, flat_mut};
use crate::net::params::{Layout, Params};

/// `[model]` keys for `kind = "lstm"`: PyTorch's `nn.LSTM` defaults unless `forget_bias` is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LstmConfig {
    /// Hidden width N (the cell state has the same width).
    pub hidden: usize,
    /// Added to the forget gate's `bias_hh` block after PyTorch's init (Jozefowicz et al. 2015;
    /// Keras' `unit_forget_bias` is 1): the cell starts remembering. 0, PyTorch's init, by
    /// default, and then left out of the spec, so earlier run ids stand.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub forget_bias: f64,
    /// Chrono initialisation with this `T_max` (Tallec & Ollivier, ICLR 2018, for
    /// dependencies up to about `T_max` steps): `bias_hh`'s forget block `ln u`, its input
    /// block `−ln u`, `u ~ U(1, T_max − 1)` a unit, replacing PyTorch's draws there (`bias_ih`
    /// keeps its small ones); unset (PyTorch's init) by default. Not with `forget_bias`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chrono: Option<f64>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl CellConfig for LstmConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        crate::config::check_finite("forget_bias", self.forget_bias)?;
        match self.chrono {
            Some(t) if !(t > 2.0 && t.is_finite()) => Err(crate::config::ConfigError::new(
                "chrono",
                format!("T_max must be finite and above 2, found {t}"),
            )),
            Some(_) if self.forget_bias != 0.0 => Err(crate::config::ConfigError::new(
                "chrono",
                "sets the forget-gate bias itself: leave forget_bias out",
            )),
            _ => Ok(()),
        }
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        let n = self.hidden;
        let g = Gated::declare(layout, input_size, n, 4);
        let b_hh = g.recurrent.bias.expect("a gated cell declares bias_hh");
        if self.forget_bias != 0.0 {
            layout.shift(b_hh, n..2 * n, self.forget_bias);
        }
        if let Some(t_max) = self.chrono {
            let chrono = crate::net::params::Adjust::Chrono {
                block: n..2 * n,
                negated: 0..n,
                t_max,
            };
            layout.adjust(b_hh, chrono);
        }
        Box::new(Lstm(g))
    }
}

/// The cell: `input` maps `x [p] → z [4N]`, `recurrent` maps `h [N] → [4N]`.
pub struct Lstm(Gated);

/// What a forward pass records; the gradient buffer stays empty without `keep`.
pub struct LstmTape<F> {
    /// States `h_t‖c_t`, `t = 0..T`, `[B, 2N]` a step.
    hc: Steps<F>,
    /// Gate activations `[i | f | g | o]`, `[B, 4N]` a step.
    act: Steps<F>,
    /// Running dL/dh_t and dL/dc_t, `[B, N]`.
    dh: Array2<F>,
    dc: Array2<F>,
    /// `W_hh` packed both ways, and the `db_hh` sum.
    w: GatedWeights<F>,
    /// `h_t·W_hhᵀ`, `[B, 4N]`: the product lands here, in cache, rather than in the tape's
    /// cold slot, which the gates then write once (interleaved A/B: 1–6% off a step).
    pre: Array2<F>,
}

impl<F: Float> Cell<F> for Lstm {
    type Tape = LstmTape<F>;

    fn input(&self) -> &Linear {
        &self.0.input
    }

    fn hidden(&self) -> usize {
        self.0.hidden
    }

    fn products_per_step(&self) -> usize {
        4 // h·W_hhᵀ, four gates
    }

    fn state_width(&self) -> usize {
        2 * self.0.hidden
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> LstmTape<F> {
        let n = self.0.hidden;
        LstmTape {
            hc: Steps::new(steps, batch, 2 * n, keep, true),
            act: Steps::new(steps, batch, 4 * n, keep, false),
            dh: Array2::zeros((batch, n)),
            dc: Array2::zeros((batch, n)),
            w: GatedWeights::new(&self.0),
            pre: Array2::zeros((batch, 4 * n)),
        }
    }

    fn activation_bytes(&self, tp: &LstmTape<F>) -> Option<usize> {
        Some(tp.hc.bytes() + tp.act.bytes())
    }

    fn forward(
        &self,
        p: &Params<F>,
        z: &mut Inputs<F>,
        mut state: ArrayViewMut2<F>,
        tp: &mut LstmTape<F>,
    ) {
        let n = self.0.hidden;
        let steps = z.steps();
        tp.w.begin_forward(&self.0, p);
        let b_hh = self.0.b_hh(p);
        tp.hc.at_mut(0).assign(&state);
        for t in 0..steps {
            let zt = z.at(t);
            let (hc, mut hc_next) = tp.hc.pair_mut(t);
            let mut a = tp.act.at_mut(t);
            tp.w.product(&hc.slice(s![.., ..n]), &mut tp.pre);
            let hc = hc.view();
            let (a, z, hc, hc_next) = (
                flat_mut(&mut a),
                flat(&zt),
                flat(&hc),
                flat_mut(&mut hc_next),
            );
            let pre = tp.pre.as_slice().expect("owned");
            let rows = a
                .chunks_exact_mut(4 * n)
                .zip(z.chunks_exact(4 * n))
                .zip(pre.chunks_exact(4 * n));
            let states = hc.chunks_exact(2 * n).zip(hc_next.chunks_exact_mut(2 * n));
            for (((a, z), pre), (hc, hc_next)) in rows.zip(states) {
                let [h1, c1] = blocks_mut(hc_next, n);
                crate::kernels::simd::wide(
                    #[inline(always)]
                    || {
                        gates_row(
                            blocks_mut(a, n),
                            blocks(pre, n),
                            blocks(z, n),
                            blocks(b_hh, n),
                            &hc[n..],
                            c1,
                            h1,
                        )
                    },
                );
            }
        }
        state.assign(&tp.hc.at(steps));
    }

    fn outputs<'t>(&self, tp: &'t LstmTape<F>) -> ArrayView2<'t, F> {
        tp.hc
            .span(1, tp.hc.slots() - 1)
            .slice_move(s![.., ..self.0.hidden])
    }

    fn backward_begin(&self, p: &Params<F>, tp: &mut LstmTape<F>) {
        tp.w.begin_backward(&self.0, p);
        tp.dh.fill(F::zero());
        tp.dc.fill(F::zero());
    }

    fn backward_step(
        &self,
        _p: &Params<F>,
        tp: &mut LstmTape<F>,
        step: Step<'_, F>,
        mut da_t: ArrayViewMut2<'_, F>,
    ) {
        let (n, t) = (self.0.hidden, step.t);
        if let Some(d) = step.d_out {
            tp.dh += &d;
        }
        let (act, hc, hc_next) = (tp.act.at(t), tp.hc.at(t), tp.hc.at(t + 1));
        let (act, hc, hc_next) = (flat(&act), flat(&hc), flat(&hc_next));
        let (dh, dc) = (
            tp.dh.as_slice().expect("owned"),
            tp.dc.as_slice_mut().expect("owned"),
        );
        let da = flat_mut(&mut da_t);
        let gates = act.chunks_exact(4 * n).zip(da.chunks_exact_mut(4 * n));
        let states = hc.chunks_exact(2 * n).zip(hc_next.chunks_exact(2 * n));
        let running = dh.chunks_exact(n).zip(dc.chunks_exact_mut(n));
        for (((act, da), (hc, hc_next)), (dh, dc)) in gates.zip(states).zip(running) {
            crate::kernels::simd::wide(
                #[inline(always)]
                || {
                    gates_back_row(
                        blocks(act, n),
                        blocks_mut(da, n),
                        &hc[n..],
                        &hc_next[n..],
                        dh,
                        dc,
                    )
                },
            );
        }
        // dL/dh_t = dA_t·W_hh (h_t reaches h_{t+1} only through the gates).
        tp.w.step_tail(da_t.view(), F::zero(), &mut tp.dh);
    }

    fn backward_chunk(
        &self,
        _p: &Params<F>,
        tp: &mut LstmTape<F>,
        ts: std::ops::Range<usize>,
        da: ArrayViewMut2<'_, F>,
        grads: &mut Params<F>,
    ) {
        let h = tp
            .hc
            .span(ts.start, ts.len())
            .slice_move(s![.., ..self.0.hidden]);
        GatedWeights::chunk_tail(&self.0, h, da.view(), grads);
    }

    fn backward_end(&self, _p: &Params<F>, tp: &mut LstmTape<F>, grads: &mut Params<F>) {
        tp.w.end(&self.0, grads);
    }
}

/// One row of the forward gates, per gate block: `a` receives `[i | f | g | o]` from
/// `pre = h·W_hhᵀ`, `z` and `b`, the projected input and `b_hh`; `c` is the old cell state,
/// `c1` and `h1` the new state. Separate slices (`&mut` ones cannot alias) let the loop vectorise
/// without runtime overlap checks.
#[inline(always)]
fn gates_row<F: Float>(
    a: [&mut [F]; 4],
    pre: [&[F]; 4],
    z: [&[F]; 4],
    b: [&[F]; 4],
    c: &[F],
    c1: &mut [F],
    h1: &mut [F],
) {
    let [a_i, a_f, a_g, a_o] = a;
    let n = a_i.len();
    let (c, c1, h1) = (&c[..n], &mut c1[..n], &mut h1[..n]);
    let (a_f, a_g, a_o) = (&mut a_f[..n], &mut a_g[..n], &mut a_o[..n]);
    let (pre, z, b) = (pre.map(|x| &x[..n]), z.map(|x| &x[..n]), b.map(|x| &x[..n]));
    let arg = |k: usize, j: usize| pre[k][j] + (z[k][j] + b[k][j]);
    for j in 0..n {
        let (i, f) = (sigmoid(arg(0, j)), sigmoid(arg(1, j)));
        let (g, o) = (arg(2, j).act_tanh(), sigmoid(arg(3, j)));
        (a_i[j], a_f[j], a_g[j], a_o[j]) = (i, f, g, o);
        c1[j] = f * c[j] + i * g;
        h1[j] = o * c1[j].act_tanh();
    }
}

/// One row of the gates' backward: from `act = [i | f | g | o]`, the cell states `c`, `c1`
/// and the running `dh`, `dc` (dL/dc' in, dL/dc out), writes dL/da per gate.
#[inline(always)]
fn gates_back_row<F: Float>(
    act: [&[F]; 4],
    da: [&mut [F]; 4],
    c: &[F],
    c1: &[F],
    dh: &[F],
    dc: &mut [F],
) {
    let [i, f, g, o] = act;
    let [da_i, da_f, da_g, da_o] = da;
    let n = dc.len();
    let (i, f, g, o) = (&i[..n], &f[..n], &g[..n], &o[..n]);
    let (c, c1, dh) = (&c[..n], &c1[..n], &dh[..n]);
    let (da_i, da_f, da_g, da_o) = (
        &mut da_i[..n],
        &mut da_f[..n],
        &mut da_g[..n],
        &mut da_o[..n],
    );
    for j in 0..n {
        // h' = o⊙tanh(c'): to o, and into the running dL/dc'.
        let tc = c1[j].act_tanh();
        let d_c1 = dc[j] + dh[j] * o[j] * tanh_grad(tc);
        // c' = f⊙c + i⊙g: to i, f, g, and dL/dc = dL/dc'⊙f.
        da_i[j] = flush_tiny(d_c1 * g[j] * sigmoid_grad(i[j]));
        da_f[j] = flush_tiny(d_c1 * c[j] * sigmoid_grad(f[j]));
        da_g[j] = flush_tiny(d_c1 * i[j] * tanh_grad(g[j]));
        da_o[j] = flush_tiny(dh[j] * tc * sigmoid_grad(o[j]));
        dc[j] = flush_tiny(d_c1 * f[j]);
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
        let config = LstmConfig {
            hidden: n,
            forget_bias: 0.0,
            chrono: None,
        };
        let cell = config.build::<f32>(p, &mut layout);
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

    /// `forget_bias = c` is PyTorch's draw plus `c` on `bias_hh[N..2N]` only, as
    /// `lstm.bias_hh_l0.data[N:2*N] += c` after `nn.LSTM(p, N)`.
    #[test]
    fn forget_bias_shifts_only_the_forget_block_of_the_same_draws() {
        use rand::SeedableRng;
        use std::sync::Arc;
        let (n, p) = (8, 2);
        let init = |forget_bias| {
            let mut layout = Layout::default();
            LstmConfig {
                hidden: n,
                forget_bias,
                chrono: None,
            }
            .build::<f64>(p, &mut layout);
            let layout = Arc::new(layout);
            let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
            (layout.clone(), Params::<f64>::init(layout, &mut rng))
        };
        let ((layout, plain), (_, shifted)) = (init(0.0), init(1.5));
        for (id, e) in layout.entries().iter().enumerate() {
            let (a, b) = (plain.slice(id), shifted.slice(id));
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                let forget = e.name == "cell/bias_hh" && (n..2 * n).contains(&k);
                let want = if forget { x + 1.5 } else { *x };
                assert!((y - want).abs() < 1e-12, "{}[{k}]: {y} vs {want}", e.name);
            }
        }
    }

    /// Chrono: `bias_hh`'s forget block is `ln u` with `u` in [1, T_max − 1], its input block
    /// the negation, unit by unit; the other gates' biases and tensors drawn before it as
    /// PyTorch's init.
    #[test]
    fn chrono_sets_forget_and_input_biases_from_one_draw() {
        use rand::SeedableRng;
        use std::sync::Arc;
        let (n, p, t_max) = (32, 2, 784.0);
        let init = |chrono| {
            let mut layout = Layout::default();
            let config = LstmConfig {
                hidden: n,
                forget_bias: 0.0,
                chrono,
            };
            config.build::<f64>(p, &mut layout);
            let layout = Arc::new(layout);
            let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
            (layout.clone(), Params::<f64>::init(layout, &mut rng))
        };
        let ((layout, plain), (_, chrono)) = (init(None), init(Some(t_max)));
        let b_hh = layout.find("cell/bias_hh").unwrap();
        let (a, b) = (plain.slice(b_hh), chrono.slice(b_hh));
        for k in 0..n {
            let f = b[n + k];
            assert!(f >= 0.0 && f <= (t_max - 1.0).ln(), "forget bias {f}");
            assert_eq!(b[k], -f, "input bias of unit {k}");
        }
        assert_eq!(
            &a[2 * n..],
            &b[2 * n..],
            "g and o blocks keep PyTorch's draws"
        );
        let spread = b[n..2 * n].iter().cloned().fold(0.0f64, f64::max);
        assert!(spread > 4.0, "memories up to ~T_max: largest ln u {spread}");
        for name in ["cell/weight_ih", "cell/bias_ih", "cell/weight_hh"] {
            let id = layout.find(name).unwrap();
            assert_eq!(plain.slice(id), chrono.slice(id), "{name}");
        }
    }
}
