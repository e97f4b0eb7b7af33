//! Coupled oscillatory RNN, coRNN (Rusch & Mishra, ICLR 2021), as its published code
//! (`tk-rusch/coRNN`), row convention; state `(y, z)`, hidden output `y`:
//!
//! ```text
//! u_t     = x_t·Vᵀ + b                                        (the model's input projection)
//! z_{t+1} = z_t + Δt·(tanh(y_t·Wᵀ + z_t·𝒲ᵀ + u_t) − γ·y_t − ε·z_t)
//! y_{t+1} = y_t + Δt·z_{t+1}                                   (the NEW z: IMEX)
//! ```
//!
//! Verified against `psMNIST/network.py` and `sMNIST/network.py` of `tk-rusch/coRNN` (stored
//! copies at commits 3295813 and 41df5b1, identical cells): `coRNNCell.forward(x, hy, hz)` does
//! `hz = hz + dt·(tanh(i2h(cat(x, hz, hy))) − gamma·hy − epsilon·hz)`, then `hy = hy + dt·hz`
//! with the updated `hz`; both states start at zero and `readout(hy)` decodes the last `y`.
//! `i2h = nn.Linear(p + 2N, N)` is ONE affine map with one bias over `[x | z | y]`, so
//!
//! ```text
//! i2h.weight = [V | 𝒲 | W]  ([N, p+2N]),  i2h.bias = b
//! ```
//!
//! Parameters: `cell/W [N,N]` (W, acting on y), `cell/W_z [N,N]` (𝒲, acting on z),
//! `encoder/weight [N,p]` (V), `encoder/bias [N]` (b): the column blocks of `i2h.weight` at
//! `p+N..`, `p..p+N`, `..p`, and `i2h.bias`. All four are drawn U(±1/√(p+2N)), `nn.Linear`'s
//! default for that single layer (not the model's usual 1/√p encoder bound).
//!
//! The carried state is `[y | z]`, `[B, 2N]`, so one GEMM a step applies both matrices:
//! `[y | z]·[Wᵀ; 𝒲ᵀ]`. Backward, with `(dy, dz)` the running dL/d(y_{t+1}, z_{t+1}) and
//! `a = tanh(·)`:
//!
//! ```text
//! d̃z = dz + Δt·dy                 (z_{t+1} feeds y_{t+1})
//! δ  = Δt·d̃z⊙(1 − a²)              (= dL/du_t)
//! dL/dy_t = dy − Δt·γ·d̃z + δ·W     dL/dz_t = (1 − Δt·ε)·d̃z + δ·𝒲
//! d[Wᵀ; 𝒲ᵀ] = Σ_t [y_t | z_t]ᵀ·δ_t   (one GEMM a chunk of steps)
//! ```
//!
//! δ and the running gradient are flushed to zero below ~1e-31 ([`flush_tiny`]): subnormals slow
//! the GEMMs several-fold.

use crate::kernels::gemm::Packed;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use serde::{Deserialize, Serialize};

use super::{AnyCell, Cell, CellConfig, Inputs, Step};
use crate::kernels::float::Float;
use crate::net::nn::act::{flush_all, flush_tiny, tanh_grad, tanh_sum, weight_grad};
use crate::net::nn::{Linear, Steps, blocks, blocks_mut, flat, flat_mut};
use crate::net::params::{Init, Layout, ParamId, Params};

/// `[model]` keys for `kind = "cornn"`; defaults are the published psMNIST settings
/// (`tk-rusch/coRNN` `psMNIST/psMNIST_task.py` argparse defaults: dt 0.076, gamma 0.4,
/// epsilon 8.0, with N = 256; sMNIST's are dt 0.042, gamma 2.7, epsilon 4.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CornnConfig {
    /// Hidden width N (the state is `2N` wide: `y` and `z`).
    pub hidden: usize,
    /// Time step Δt.
    #[serde(default = "defaults::dt")]
    pub dt: f64,
    /// Restoring force γ on `y`.
    #[serde(default = "defaults::gamma")]
    pub gamma: f64,
    /// Damping ε on `z`.
    #[serde(default = "defaults::epsilon")]
    pub epsilon: f64,
}

mod defaults {
    pub fn dt() -> f64 {
        0.076
    }
    pub fn gamma() -> f64 {
        0.4
    }
    pub fn epsilon() -> f64 {
        8.0
    }
}

impl CellConfig for CornnConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        crate::config::check_positive("dt", self.dt)?;
        crate::config::check_finite("gamma", self.gamma)?;
        crate::config::check_finite("epsilon", self.epsilon)
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        let n = self.hidden;
        // nn.Linear(p + 2N, N)'s default init, shared by all four blocks of i2h.
        let init = Init::Uniform {
            bound: 1.0 / ((input_size + 2 * n) as f64).sqrt(),
        };
        let w = layout.add("cell/W", &[n, n], init.clone());
        let w_z = layout.add("cell/W_z", &[n, n], init.clone());
        let input = Linear {
            weight: layout.add("encoder/weight", &[n, input_size], init.clone()),
            bias: Some(layout.add("encoder/bias", &[n], init)),
            fan_in: input_size,
            fan_out: n,
        };
        Box::new(Cornn {
            cfg: self.clone(),
            w,
            w_z,
            input,
        })
    }
}

/// The cell: parameter ids and its config.
pub struct Cornn {
    cfg: CornnConfig,
    w: ParamId,
    w_z: ParamId,
    input: Linear,
}

/// What a forward pass records (backward buffers only with `keep`).
pub struct CornnTape<F> {
    /// `[Wᵀ; 𝒲ᵀ]`, `[2N, N]`, built once a pass, its transpose for backward, and its gradient.
    wt: Packed<F>,
    wt_t: Packed<F>,
    dwt: Array2<F>,
    /// States `[y_t | z_t]`, `t = 0..T`, `[·, 2N]`.
    s: Steps<F>,
    /// `a_t = tanh([y_t | z_t]·[Wᵀ; 𝒲ᵀ] + u_t)`.
    a: Steps<F>,
    /// Running dL/d[y_t | z_t], `[B, 2N]`.
    ds: Array2<F>,
    /// Scratch `[y_t | z_t]·[Wᵀ; 𝒲ᵀ]`, `[B, N]`.
    prod: Array2<F>,
}

impl<F: Float> Cell<F> for Cornn {
    type Tape = CornnTape<F>;

    fn input(&self) -> &Linear {
        &self.input
    }

    fn hidden(&self) -> usize {
        self.cfg.hidden
    }

    fn products_per_step(&self) -> usize {
        2 // [y | z]·[W | 𝒲]ᵀ
    }

    fn state_width(&self) -> usize {
        2 * self.cfg.hidden
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> CornnTape<F> {
        let n = self.cfg.hidden;
        CornnTape {
            wt: Packed::zeros(2 * n, n),
            wt_t: Packed::zeros(n, 2 * n),
            dwt: Array2::zeros((2 * n, n)),
            s: Steps::new(steps, batch, 2 * n, keep, true),
            a: Steps::new(steps, batch, n, keep, false),
            ds: Array2::zeros((batch, 2 * n)),
            prod: Array2::zeros((batch, n)),
        }
    }

    fn activation_bytes(&self, tp: &CornnTape<F>) -> Option<usize> {
        Some(tp.s.bytes() + tp.a.bytes())
    }

    fn forward(
        &self,
        p: &Params<F>,
        u: &mut Inputs<F>,
        mut state: ArrayViewMut2<F>,
        tp: &mut CornnTape<F>,
    ) {
        let n = self.cfg.hidden;
        let steps = u.steps();
        let dt = F::of(self.cfg.dt);
        let (dt_gamma, damp) = (
            dt * F::of(self.cfg.gamma),
            F::one() - dt * F::of(self.cfg.epsilon),
        );
        tp.wt.build(|mut wt| {
            wt.slice_mut(s![..n, ..]).assign(&p.matrix(self.w).t());
            wt.slice_mut(s![n.., ..]).assign(&p.matrix(self.w_z).t());
        });
        tp.s.at_mut(0).assign(&state);
        for t in 0..steps {
            let ut = u.at(t);
            let (st, mut s_next) = tp.s.pair_mut(t);
            let mut a = tp.a.at_mut(t);
            tp.wt.mul(F::one(), &st, F::zero(), &mut tp.prod);
            tanh_sum(tp.prod.view(), ut, a.view_mut());
            let (st, a) = (st.view(), a.view());
            let (st, a, s1) = (flat(&st), flat(&a), flat_mut(&mut s_next));
            let rows = st.chunks_exact(2 * n).zip(s1.chunks_exact_mut(2 * n));
            for ((s, s1), a) in rows.zip(a.chunks_exact(n)) {
                let [y1, z1] = blocks_mut(s1, n);
                crate::kernels::simd::wide(
                    #[inline(always)]
                    || step_row(blocks(s, n), a, y1, z1, dt, dt_gamma, damp),
                );
            }
        }
        state.assign(&tp.s.at(steps));
    }

    fn outputs<'t>(&self, tp: &'t CornnTape<F>) -> ArrayView2<'t, F> {
        tp.s.span(1, tp.s.slots() - 1)
            .slice_move(s![.., ..self.cfg.hidden])
    }

    fn backward_begin(&self, _p: &Params<F>, tp: &mut CornnTape<F>) {
        tp.wt_t.assign(tp.wt.matrix().t());
        tp.ds.fill(F::zero());
        tp.dwt.fill(F::zero());
    }

    fn backward_step(
        &self,
        _p: &Params<F>,
        tp: &mut CornnTape<F>,
        step: Step<'_, F>,
        mut delta_t: ArrayViewMut2<'_, F>,
    ) {
        let n = self.cfg.hidden;
        let dt = F::of(self.cfg.dt);
        let (dt_gamma, damp) = (
            dt * F::of(self.cfg.gamma),
            F::one() - dt * F::of(self.cfg.epsilon),
        );
        if let Some(d) = step.d_out {
            let mut dy = tp.ds.slice_mut(s![.., ..n]);
            dy += &d;
        }
        let a = tp.a.at(step.t);
        let (ds, a, dl) = (
            tp.ds.as_slice_mut().expect("owned"),
            flat(&a),
            flat_mut(&mut delta_t),
        );
        let rows = ds.chunks_exact_mut(2 * n).zip(dl.chunks_exact_mut(n));
        for ((ds, dl), a) in rows.zip(a.chunks_exact(n)) {
            let [dy, dz] = blocks_mut(ds, n);
            crate::kernels::simd::wide(
                #[inline(always)]
                || step_back_row(dy, dz, dl, a, dt, dt_gamma, damp),
            );
        }
        tp.wt_t.mul(F::one(), &delta_t, F::one(), &mut tp.ds);
        flush_all(tp.ds.view_mut());
    }

    fn backward_chunk(
        &self,
        _p: &Params<F>,
        tp: &mut CornnTape<F>,
        ts: std::ops::Range<usize>,
        delta: ArrayViewMut2<'_, F>,
        _grads: &mut Params<F>,
    ) {
        // d[Wᵀ; 𝒲ᵀ] += Σ s_tᵀ·δ_t, one GEMM over the chunk.
        let s_t = tp.s.span(ts.start, ts.len());
        weight_grad(s_t, delta.view(), F::one(), &mut tp.dwt.view_mut());
    }

    fn backward_end(&self, _p: &Params<F>, tp: &mut CornnTape<F>, grads: &mut Params<F>) {
        // d[Wᵀ; 𝒲ᵀ] back to W and 𝒲.
        let n = self.cfg.hidden;
        for (id, rows) in [(self.w, 0..n), (self.w_z, n..2 * n)] {
            let mut g = grads.matrix_mut(id);
            g += &tp.dwt.slice(s![rows, ..]).t();
        }
    }
}
/// One row of the step once `a = tanh(·)` is computed, from `s = [y, z]`:
/// `z' = (1 − Δtε)·z + Δt·a − Δtγ·y` and `y' = y + Δt·z'`.
#[inline(always)]
fn step_row<F: Float>(
    s: [&[F]; 2],
    a: &[F],
    y1: &mut [F],
    z1: &mut [F],
    dt: F,
    dt_gamma: F,
    damp: F,
) {
    let n = a.len();
    let [y, z] = s.map(|x| &x[..n]);
    let (y1, z1) = (&mut y1[..n], &mut z1[..n]);
    for j in 0..n {
        let zn = damp * z[j] + dt * a[j] - dt_gamma * y[j];
        z1[j] = zn;
        y1[j] = y[j] + dt * zn;
    }
}

/// One row of its backward: the running `dy`, `dz` (dL/d(y', z') in, their parts that bypass
/// the tanh out) and `delta`, the gradient at the tanh's pre-activation.
#[inline(always)]
fn step_back_row<F: Float>(
    dy: &mut [F],
    dz: &mut [F],
    delta: &mut [F],
    a: &[F],
    dt: F,
    dt_gamma: F,
    damp: F,
) {
    let n = a.len();
    let (dy, dz, delta) = (&mut dy[..n], &mut dz[..n], &mut delta[..n]);
    for j in 0..n {
        let dzt = dz[j] + dt * dy[j];
        delta[j] = flush_tiny(dt * dzt * tanh_grad(a[j]));
        dy[j] -= dt_gamma * dzt;
        dz[j] = damp * dzt;
    }
}
