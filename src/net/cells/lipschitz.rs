//! Lipschitz RNN (Erichson, Azencot, Queiruga, Hodgkinson, Mahoney; ICLR 2021), in the
//! row convention of the authors' code (`h` is `[B, N]`, products read `h·A`):
//!
//! ```text
//! A = (1-β)(M_A + M_Aᵀ) + β(M_A − M_Aᵀ) − γ_A I      W likewise with M_W, γ_W
//! f(h, z) = α·h·A + tanh(h·W + z)                      z_t = x_t·Uᵀ + b
//! euler:  h_{t+1} = h_t + ε·f(h_t, z_t)
//! rk2:    k1 = f(h_t, z_t);  k2 = f(h_t + ε/2·k1, z_t);  h_{t+1} = h_t + ε·k2
//! ```
//!
//! RK2 is the explicit midpoint rule with the input held over the step (torchdiffeq's
//! `midpoint`, as `LipschitzRNN_ODE` uses it). α = 0 drops the linear term (the authors'
//! ablation switch). Parameters: `cell/M_A [N,N]`, `cell/M_W [N,N]`, `encoder/weight [N,p]`,
//! `encoder/bias [N]`; `M ~ Normal(0, (init_std/N)²)` as the authors' `gaussian_init_`.
//!
//! Both matrices are applied in one GEMM per stage, `h·[W | A]`, packed once a pass. Backward
//! writes the first stage's gradient at `h·W + z` straight to dL/dz, and keeps the other
//! stage gradients only for a chunk of steps: `d[W | A] += Hᵀ·[δ | γ]` runs once a chunk,
//! while the chunk's gradients are still in cache, and reads `H` once for both matrices.
//! `d[W | A]` is mapped back to `M` once per batch.

use crate::kernels::gemm::Packed;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip, s};
use serde::{Deserialize, Serialize};

use super::{AnyCell, Cell, CellConfig, Inputs, Step};
use crate::kernels::float::Float;
use crate::net::nn::act::weight_grads;
use crate::net::nn::{Linear, Steps, blocks, flat, flat_mut};
use crate::net::params::{Init, Layout, ParamId, Params};

/// Checkpoint name of `M_A [N, N]`.
pub const M_A: &str = "cell/M_A";
/// Checkpoint name of `M_W [N, N]`.
pub const M_W: &str = "cell/M_W";

/// Time discretisation of `h' = A h + tanh(W h + U x + b)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Forward Euler, one evaluation of `f` a step.
    #[default]
    Euler,
    /// Explicit midpoint (two-stage Runge–Kutta), two evaluations a step.
    Rk2,
}

/// `[model]` keys for `kind = "lipschitz"`; defaults are the authors' README recipe for pixel MNIST.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LipschitzConfig {
    /// Hidden width N.
    pub hidden: usize,
    /// `euler` or `rk2`.
    #[serde(default)]
    pub scheme: Scheme,
    /// Step size ε.
    #[serde(default = "defaults::eps")]
    pub eps: f64,
    /// Skew level β ∈ [0, 1] shared by A and W (1 = antisymmetric part only).
    #[serde(default = "defaults::beta")]
    pub beta: f64,
    /// Diffusion γ_A subtracted on the diagonal of A.
    #[serde(default = "defaults::gamma")]
    pub gamma_a: f64,
    /// Diffusion γ_W subtracted on the diagonal of W.
    #[serde(default = "defaults::gamma")]
    pub gamma_w: f64,
    /// M entries are drawn with standard deviation `init_std / N` (divided by N, not √N, as the code does).
    #[serde(default = "defaults::init_std")]
    pub init_std: f64,
    /// Weight α of the linear term `h·A` (0 for the ablation without it).
    #[serde(default = "defaults::alpha")]
    pub alpha: f64,
}

mod defaults {
    pub fn eps() -> f64 {
        0.03
    }
    pub fn beta() -> f64 {
        0.75
    }
    pub fn gamma() -> f64 {
        0.001
    }
    pub fn init_std() -> f64 {
        0.1
    }
    pub fn alpha() -> f64 {
        1.0
    }
}

impl CellConfig for LipschitzConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn variant(&self) -> Option<&'static str> {
        Some(match self.scheme {
            Scheme::Euler => "euler",
            Scheme::Rk2 => "rk2",
        })
    }

    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        crate::config::check_positive("eps", self.eps)?;
        crate::config::check_non_negative("gamma_a", self.gamma_a)?;
        crate::config::check_non_negative("gamma_w", self.gamma_w)?;
        crate::config::check_non_negative("init_std", self.init_std)?;
        crate::config::check_finite("alpha", self.alpha)?;
        if !(0.0..=1.0).contains(&self.beta) {
            return Err(crate::config::ConfigError::new(
                "beta",
                format!("must lie in [0, 1], found {}", self.beta),
            ));
        }
        Ok(())
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        Box::new(self.declare(input_size, layout))
    }
}

impl LipschitzConfig {
    /// The cell, its parameters added to `layout`.
    fn declare(&self, input_size: usize, layout: &mut Layout) -> Lipschitz {
        let n = self.hidden;
        let std = self.init_std / n as f64;
        let m_a = layout.add(M_A, &[n, n], Init::Normal { std });
        let m_w = layout.add(M_W, &[n, n], Init::Normal { std });
        let input = Linear::declare(
            layout,
            "encoder/weight",
            Some("encoder/bias"),
            input_size,
            n,
        );
        Lipschitz {
            cfg: self.clone(),
            m_a,
            m_w,
            input,
        }
    }
}

/// The cell: parameter ids and its config.
pub struct Lipschitz {
    cfg: LipschitzConfig,
    m_a: ParamId,
    m_w: ParamId,
    input: Linear,
}

/// What a forward pass records; RK2 buffers stay empty under Euler, backward ones without `keep`.
pub struct LipschitzTape<F> {
    /// `[W | A]`, `[N, 2N]`, built once a pass; `Wᵀ` and `Aᵀ` for backward.
    wa: Packed<F>,
    w_t: Packed<F>,
    a_t: Packed<F>,
    /// States `h_0..h_T`.
    h: Steps<F>,
    /// `tanh(h_t·W + z_t)` (first stage).
    a1: Steps<F>,
    /// RK2 midpoints `h_t + ε/2·k1`.
    hm: Steps<F>,
    /// `tanh(hm_t·W + z_t)` (second stage).
    a2: Steps<F>,
    /// Per-stage scratch `h·[W | A]`, `[B, 2N]`.
    prod: Array2<F>,
    /// Backward's stage gradients for a chunk of steps (step `t` in slot `t mod chunk`): at `h_t·A`,
    /// `γ1 = α·ε·d`; and RK2's at `hm_t·W + z_t` (`δ2`, added to dL/dz once `dW` has used it)
    /// and at `hm_t·A` (`γ2`). The first stage's gradient at `h_t·W + z_t` is dL/dz itself.
    g1: Steps<F>,
    d2: Steps<F>,
    g2: Steps<F>,
    /// Running dL/dh_t and the midpoint's dL/dhm, `[B, N]`.
    dh: Array2<F>,
    dhm: Array2<F>,
    /// `d[W | A]`, `[N, 2N]`, summed over the pass and mapped to `M` at its end.
    dwa: Array2<F>,
}

impl<F: Float> LipschitzTape<F> {
    /// `d[W | A] += Σ_t h_tᵀ·[δ1_t | γ1_t] (+ hm_tᵀ·[δ2_t | γ2_t])` over the chunk of steps
    /// `ts` (slots `0..len` of the gradient buffers, `dz` its dL/dz), then RK2's `δ2` into dL/dz.
    fn sum_weight_grads(
        &self,
        ts: std::ops::Range<usize>,
        rk2: bool,
        mut dz: ArrayViewMut2<F>,
        dwa: &mut ArrayViewMut2<F>,
    ) {
        let len = ts.len();
        let one = F::one();
        let g1 = [dz.view(), self.g1.span(0, len)];
        weight_grads(self.h.span(ts.start, len), &g1, one, dwa);
        if rk2 {
            let d2 = self.d2.span(0, len);
            let g2 = [d2, self.g2.span(0, len)];
            weight_grads(self.hm.span(ts.start, len), &g2, one, dwa);
            dz += &d2;
        }
    }
}

impl Lipschitz {
    fn rk2(&self) -> bool {
        self.cfg.scheme == Scheme::Rk2
    }

    /// Buffers as [`Cell::new_tape`], with backward's stage gradients kept `chunk` steps at a time.
    fn tape<F: Float>(
        &self,
        steps: usize,
        batch: usize,
        keep: bool,
        chunk: usize,
    ) -> LipschitzTape<F> {
        let n = self.cfg.hidden;
        let rk2 = self.rk2();
        let stage_buf = |used: bool| {
            if used {
                Steps::new(steps, batch, n, keep, false)
            } else {
                Steps::unused()
            }
        };
        let grad_buf = |used: bool| {
            if used && keep {
                Steps::new(chunk, batch, n, true, false)
            } else {
                Steps::unused()
            }
        };
        LipschitzTape {
            wa: Packed::zeros(n, 2 * n),
            w_t: Packed::zeros(n, n),
            a_t: Packed::zeros(n, n),
            h: Steps::new(steps, batch, n, keep, true),
            a1: stage_buf(true),
            hm: stage_buf(rk2),
            a2: stage_buf(rk2),
            prod: Array2::zeros((batch, 2 * n)),
            g1: grad_buf(true),
            d2: grad_buf(rk2),
            g2: grad_buf(rk2),
            dh: Array2::zeros((batch, n)),
            dhm: Array2::zeros((batch, n)),
            dwa: Array2::zeros((n, 2 * n)),
        }
    }

    /// `[W | A]` from `M_W, M_A`, each half by [`compose`].
    fn build_wa<F: Float>(&self, p: &Params<F>, wa: &mut Packed<F>) {
        let n = self.cfg.hidden;
        wa.build(|mut wa| {
            for (m, gamma, cols) in [
                (self.m_w, self.cfg.gamma_w, 0..n),
                (self.m_a, self.cfg.gamma_a, n..2 * n),
            ] {
                compose(
                    p.matrix(m),
                    self.cfg.beta,
                    gamma,
                    wa.slice_mut(s![.., cols]),
                );
            }
        });
    }

    /// Maps `d[W | A]` back to the free matrices: `dM = (1-β)(dX + dXᵀ) + β(dX − dXᵀ) = dX + (1−2β)dXᵀ`.
    fn accumulate_dm<F: Float>(&self, dwa: ArrayView2<F>, grads: &mut Params<F>) {
        let n = self.cfg.hidden;
        let skew = F::of(1.0 - 2.0 * self.cfg.beta);
        for (m, cols) in [(self.m_w, 0..n), (self.m_a, n..2 * n)] {
            let d = dwa.slice(s![.., cols]);
            Zip::from(&mut grads.matrix_mut(m))
                .and(&d)
                .and(&d.t())
                .for_each(|g, &dij, &dji| *g += dij + skew * dji);
        }
    }
}

/// `out = (1-β)(M + Mᵀ) + β(M − Mᵀ) − γI = M + (1−2β)Mᵀ − γI`, all `[N, N]`: the one place
/// the free matrices become `A` (from `M_A`, γ_A) or `W` (from `M_W`, γ_W).
fn compose<F: Float>(m: ArrayView2<F>, beta: f64, gamma: f64, mut out: ArrayViewMut2<F>) {
    let skew = F::of(1.0 - 2.0 * beta);
    Zip::from(&mut out)
        .and(&m)
        .and(&m.t())
        .for_each(|o, &mij, &mji| *o = mij + skew * mji);
    out.diag_mut().iter_mut().for_each(|d| *d -= F::of(gamma));
}

impl LipschitzConfig {
    /// `(A, W)`, each `[N, N]`, from `M_A, M_W [N, N]` with this config's β, γ_A, γ_W
    /// (what a forward pass applies; for analysing a checkpoint).
    pub fn matrices(
        &self,
        m_a: ArrayView2<f64>,
        m_w: ArrayView2<f64>,
    ) -> (Array2<f64>, Array2<f64>) {
        let n = self.hidden;
        for m in [&m_a, &m_w] {
            assert_eq!(m.dim(), (n, n), "M_A and M_W are [hidden, hidden]");
        }
        let (mut a, mut w) = (Array2::zeros((n, n)), Array2::zeros((n, n)));
        compose(m_a, self.beta, self.gamma_a, a.view_mut());
        compose(m_w, self.beta, self.gamma_w, w.view_mut());
        (a, w)
    }
}

/// One evaluation of `f` and its update: `out = base + step·(α·prod_A + a)`, `a = tanh(prod_W + z)`,
/// where `prod = h_in·[W | A]` has already been computed. All step blocks are contiguous.
fn stage<F: Float>(
    base: ArrayView2<F>,
    prod: &Array2<F>,
    z: ArrayView2<F>,
    mut a: ArrayViewMut2<F>,
    mut out: ArrayViewMut2<F>,
    step: F,
    alpha: F,
) {
    let n = base.ncols();
    let prod = prod.view();
    let (base, prod, z) = (flat(&base), flat(&prod), flat(&z));
    let (a, out) = (flat_mut(&mut a), flat_mut(&mut out));
    let rows = out.chunks_exact_mut(n).zip(a.chunks_exact_mut(n));
    let ins = base.chunks_exact(n).zip(z.chunks_exact(n));
    for (((out, a), (base, z)), prod) in rows.zip(ins).zip(prod.chunks_exact(2 * n)) {
        crate::kernels::simd::wide(
            #[inline(always)]
            || stage_row(out, a, base, z, blocks(prod, n), step, alpha),
        );
    }
}

/// One row of [`stage`], `prod = [h_in·W, h_in·A]`.
#[inline(always)]
fn stage_row<F: Float>(
    out: &mut [F],
    a: &mut [F],
    base: &[F],
    z: &[F],
    prod: [&[F]; 2],
    step: F,
    alpha: F,
) {
    let n = out.len();
    let (a, base, z) = (&mut a[..n], &base[..n], &z[..n]);
    let [pw, pa] = prod.map(|x| &x[..n]);
    for j in 0..n {
        let t = (pw[j] + z[j]).act_tanh();
        a[j] = t;
        out[j] = base[j] + step * (alpha * pa[j] + t);
    }
}

/// Backward of [`stage`] for dL/d(out) `d`, with `a` its tanh output: writes the gradient at
/// `h_in·W + z`, `δ = step·d⊙(1−a²)`, to `delta`, and the one at `h_in·A`, `γ = α·step·d`,
/// to `gamma`. The caller adds `d` to the base and `δ·Wᵀ + γ·Aᵀ` to `h_in`.
fn stage_back<F: Float>(
    d: ArrayView2<F>,
    a: ArrayView2<F>,
    mut delta: ArrayViewMut2<F>,
    mut gamma: ArrayViewMut2<F>,
    step: F,
    alpha: F,
) {
    let (d, a) = (flat(&d), flat(&a));
    let (delta, gamma) = (flat_mut(&mut delta), flat_mut(&mut gamma));
    crate::kernels::simd::wide(
        #[inline(always)]
        || stage_back_flat(d, a, delta, gamma, step, alpha),
    );
}

#[inline(always)]
fn stage_back_flat<F: Float>(
    d: &[F],
    a: &[F],
    delta: &mut [F],
    gamma: &mut [F],
    step: F,
    alpha: F,
) {
    let n = a.len();
    let (d, delta, gamma) = (&d[..n], &mut delta[..n], &mut gamma[..n]);
    for j in 0..n {
        let sd = step * d[j];
        delta[j] = sd * (F::one() - a[j] * a[j]);
        gamma[j] = alpha * sd;
    }
}

impl<F: Float> Cell<F> for Lipschitz {
    type Tape = LipschitzTape<F>;

    fn input(&self) -> &Linear {
        &self.input
    }

    fn hidden(&self) -> usize {
        self.cfg.hidden
    }

    fn products_per_step(&self) -> usize {
        // h·[W | A] once a stage
        if self.rk2() { 4 } else { 2 }
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> LipschitzTape<F> {
        self.tape(steps, batch, keep, super::chunk_steps(steps, batch))
    }

    fn activation_bytes(&self, tp: &LipschitzTape<F>) -> Option<usize> {
        Some(tp.h.bytes() + tp.a1.bytes() + tp.hm.bytes() + tp.a2.bytes())
    }

    fn forward(
        &self,
        p: &Params<F>,
        z: &mut Inputs<F>,
        mut state: ArrayViewMut2<F>,
        tp: &mut LipschitzTape<F>,
    ) {
        let steps = z.steps();
        let (eps, alpha) = (F::of(self.cfg.eps), F::of(self.cfg.alpha));
        self.build_wa(p, &mut tp.wa);
        tp.h.at_mut(0).assign(&state);
        for t in 0..steps {
            let zt = z.at(t);
            let (h, h_next) = tp.h.pair_mut(t);
            let h = h.view();
            tp.wa.mul(F::one(), &h, F::zero(), &mut tp.prod);
            if self.rk2() {
                let mut hm = tp.hm.at_mut(t);
                stage(
                    h,
                    &tp.prod,
                    zt,
                    tp.a1.at_mut(t),
                    hm.view_mut(),
                    eps / F::of(2.0),
                    alpha,
                );
                tp.wa.mul(F::one(), &hm, F::zero(), &mut tp.prod);
                stage(h, &tp.prod, zt, tp.a2.at_mut(t), h_next, eps, alpha);
            } else {
                stage(h, &tp.prod, zt, tp.a1.at_mut(t), h_next, eps, alpha);
            }
        }
        state.assign(&tp.h.at(steps));
    }

    fn outputs<'t>(&self, tp: &'t LipschitzTape<F>) -> ArrayView2<'t, F> {
        tp.h.span(1, tp.h.slots() - 1)
    }

    fn chunk_limit(&self, tp: &LipschitzTape<F>) -> Option<usize> {
        // Stage gradients are summed a chunk at a time: dz's, or fewer steps if the tape's
        // buffers hold fewer (`InputGrads::span` checks that a chunk stays inside what dz holds).
        Some(tp.g1.slots())
    }

    fn backward_begin(&self, _p: &Params<F>, tp: &mut LipschitzTape<F>) {
        let n = self.cfg.hidden;
        let wa = tp.wa.matrix();
        tp.w_t.assign(wa.slice(s![.., ..n]).t());
        tp.a_t.assign(wa.slice(s![.., n..]).t());
        tp.dh.fill(F::zero());
        tp.dwa.fill(F::zero());
    }

    fn backward_step(
        &self,
        _p: &Params<F>,
        tp: &mut LipschitzTape<F>,
        step: Step<'_, F>,
        mut dz_t: ArrayViewMut2<'_, F>,
    ) {
        let (t, slot) = (step.t, step.slot);
        let (eps, alpha) = (F::of(self.cfg.eps), F::of(self.cfg.alpha));
        if let Some(d) = step.d_out {
            tp.dh += &d;
        }
        // The first stage's δ is dL/dz_t (RK2 adds the second's once dW has used it).
        if self.rk2() {
            // h_{t+1} = h_t + ε·k2(hm_t): dhm = δ2·Wᵀ + γ2·Aᵀ, then through hm_t = h_t + ε/2·k1(h_t).
            let half = eps / F::of(2.0);
            let (d2, g2) = (tp.d2.at_mut(slot), tp.g2.at_mut(slot));
            stage_back(tp.dh.view(), tp.a2.at(t), d2, g2, eps, alpha);
            tp.w_t
                .mul(F::one(), &tp.d2.at(slot), F::zero(), &mut tp.dhm);
            tp.a_t.mul(F::one(), &tp.g2.at(slot), F::one(), &mut tp.dhm);
            let g1 = tp.g1.at_mut(slot);
            stage_back(tp.dhm.view(), tp.a1.at(t), dz_t.view_mut(), g1, half, alpha);
            tp.dh += &tp.dhm;
        } else {
            let g1 = tp.g1.at_mut(slot);
            stage_back(tp.dh.view(), tp.a1.at(t), dz_t.view_mut(), g1, eps, alpha);
        }
        tp.w_t.mul(F::one(), &dz_t, F::one(), &mut tp.dh);
        tp.a_t.mul(F::one(), &tp.g1.at(slot), F::one(), &mut tp.dh);
    }

    fn backward_chunk(
        &self,
        _p: &Params<F>,
        tp: &mut LipschitzTape<F>,
        ts: std::ops::Range<usize>,
        dz: ArrayViewMut2<'_, F>,
        _grads: &mut Params<F>,
    ) {
        let mut dwa = std::mem::take(&mut tp.dwa);
        tp.sum_weight_grads(ts, self.rk2(), dz, &mut dwa.view_mut());
        tp.dwa = dwa;
    }

    fn backward_end(&self, _p: &Params<F>, tp: &mut LipschitzTape<F>, grads: &mut Params<F>) {
        self.accumulate_dm(tp.dwa.view(), grads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::cells::{InputGrads, Inputs, OutGrad};
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    /// Backward sums the weight gradients a chunk of steps at a time; any chunk length, a
    /// ragged first chunk included, gives the one-chunk gradients (and the same dL/dz).
    #[test]
    fn chunked_weight_gradients_match_one_chunk() {
        let (steps, batch, p) = (7, 3, 2);
        for scheme in [Scheme::Euler, Scheme::Rk2] {
            let cfg = LipschitzConfig {
                hidden: 5,
                scheme,
                eps: 0.1,
                beta: 0.6,
                gamma_a: 0.01,
                gamma_w: 0.02,
                init_std: 3.0,
                alpha: 0.8,
            };
            let mut layout = Layout::default();
            let cell = cfg.declare(p, &mut layout);
            let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
            let params = Params::<f64>::init(Arc::new(layout.clone()), &mut rng);
            let mut random = |r, c| Array2::from_shape_fn((r, c), |_| rng.random_range(-1.0..1.0));
            let (x, d_out) = (random(steps * batch, p), random(steps * batch, 5));
            let grads = |chunk: usize| {
                let mut tape = cell.tape::<f64>(steps, batch, true, chunk);
                let mut z = Array2::zeros((steps * batch, 5));
                cell.input.forward(&params, x.view(), z.view_mut());
                let mut state = Array2::zeros((batch, 5));
                let mut inputs = Inputs::projected(z.view(), batch);
                Cell::forward(&cell, &params, &mut inputs, state.view_mut(), &mut tape);
                let mut g = Params::zeros(Arc::new(layout.clone()));
                let d = OutGrad::Every(d_out.view());
                let mut dz = InputGrads::new(&cell.input, x.view(), z.view_mut(), batch);
                crate::net::cells::bptt(&cell, &params, &mut tape, d, &mut dz, &mut g);
                (g.data, z)
            };
            let (want, want_dz) = grads(steps);
            for chunk in [1, 2, 3] {
                let (got, dz) = grads(chunk);
                let err = |a: &[f64], b: &[f64]| {
                    a.iter()
                        .zip(b)
                        .fold(0.0f64, |e, (a, b)| e.max((a - b).abs()))
                };
                let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                assert!(scale > 1e-3, "gradients are not all vanishing");
                assert!(
                    err(&got, &want) < 1e-13 * scale,
                    "{scheme:?}, chunk {chunk}: dM"
                );
                let (dz, want_dz) = (dz.as_slice().unwrap(), want_dz.as_slice().unwrap());
                assert!(err(dz, want_dz) < 1e-13, "{scheme:?}, chunk {chunk}: dL/dz");
            }
        }
    }

    #[test]
    fn matrices_follow_the_papers_definition() {
        let cfg = LipschitzConfig {
            hidden: 5,
            scheme: Scheme::Euler,
            eps: 0.03,
            beta: 0.75,
            gamma_a: 0.001,
            gamma_w: 0.02,
            init_std: 0.1,
            alpha: 1.0,
        };
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut m = || Array2::from_shape_fn((5, 5), |_| rng.random_range(-1.0..1.0));
        let (m_a, m_w) = (m(), m());
        let (a, w) = cfg.matrices(m_a.view(), m_w.view());
        let eye = Array2::<f64>::eye(5);
        for (got, m, gamma) in [(a, m_a, cfg.gamma_a), (w, m_w, cfg.gamma_w)] {
            let want = (&m + &m.t()) * (1.0 - cfg.beta) + (&m - &m.t()) * cfg.beta - &eye * gamma;
            let err = (&got - &want).iter().fold(0.0f64, |e, v| e.max(v.abs()));
            assert!(err < 1e-15, "{got} vs {want}");
        }
    }
}
