//! Antisymmetric RNN (Chang, Chen, Chi, Haber; ICLR 2019), as the authors' `asymRNN` baseline
//! (`erichson/LipschitzRNN`, `models.py`: `h + ε·tanh(h·(C − Cᵀ − γI) + E x)`), row convention:
//!
//! ```text
//! W = M − Mᵀ − γI                                           z_t = x_t·Uᵀ + b
//! plain:  h_{t+1} = h_t + ε·tanh(h_t·W + z_t)
//! gated:  g_t = σ(h_t·W + x_t·V_zᵀ + b_z)
//!         h_{t+1} = h_t + ε·g_t⊙tanh(h_t·W + z_t)
//! ```
//!
//! The gated form is Chang et al.'s gated variant: its gate shares the recurrent matrix W and
//! has its own input map `V_z, b_z`. (Chang et al. write column vectors, `(W_h − W_hᵀ − γI)h`;
//! our `M` is their `W_hᵀ`, as the authors' row-form `C`.)
//!
//! Parameters: `cell/M [N,N]`, `M ~ Normal(0, (init_std/N)²)` (`gaussian_init_`);
//! `encoder/weight [N,p]` (U), `encoder/bias [N]` (b) — and when `gated`, the gate's input map
//! is stacked under the tanh branch's: `encoder/weight [2N,p] = [U; V_z]`,
//! `encoder/bias [2N] = [b; b_z]` (rows `..N` the tanh branch, rows `N..` the gate).
//!
//! W is built once a pass; its gradient, summed in GEMMs `Hᵀ·G` over many steps, is mapped
//! back once: `dM = dW − dWᵀ`. The plain loop is the shared [`TanhRnn`]. Backward gradients are
//! flushed to zero below ~1e-31 ([`flush_tiny`]): subnormals slow the GEMMs several-fold.

use crate::kernels::gemm::Packed;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

use super::{AnyCell, Cell, CellConfig, Inputs, Step};
use crate::kernels::float::Float;
use crate::net::cells::tanh_rnn::{TanhRnn, Update};
use crate::net::nn::act::{flush_all, flush_tiny, sigmoid, sigmoid_grad, tanh_grad, weight_grad};
use crate::net::nn::{Linear, Steps, blocks, blocks_mut, flat, flat_mut};
use crate::net::params::{Init, Layout, ParamId, Params};

/// `[model]` keys for `kind = "antisymmetric"`; defaults are the "Reproduce Antisymmetric RNN"
/// line of `erichson/NoisyRNN` `tuning_robust.txt` (`--beta 1.0 --alpha 0 --eps 0.01
/// --gamma_A 0.0001 --gamma_W 0.0001`, `--init_std` at its default 0.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AntisymmetricConfig {
    /// Hidden width N.
    pub hidden: usize,
    /// Step size ε.
    #[serde(default = "defaults::eps")]
    pub eps: f64,
    /// Diffusion γ subtracted on the diagonal of W.
    #[serde(default = "defaults::gamma")]
    pub gamma: f64,
    /// M entries are drawn with standard deviation `init_std / N`.
    #[serde(default = "defaults::init_std")]
    pub init_std: f64,
    /// Chang et al.'s gated variant (input projection of width 2N).
    #[serde(default)]
    pub gated: bool,
}

mod defaults {
    pub fn eps() -> f64 {
        0.01
    }
    pub fn gamma() -> f64 {
        0.0001
    }
    pub fn init_std() -> f64 {
        0.1
    }
}

impl CellConfig for AntisymmetricConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn variant(&self) -> Option<&'static str> {
        self.gated.then_some("gated")
    }

    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        crate::config::check_positive("eps", self.eps)?;
        crate::config::check_non_negative("gamma", self.gamma)?;
        crate::config::check_non_negative("init_std", self.init_std)?;
        Ok(())
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        let n = self.hidden;
        let std = self.init_std / n as f64;
        let m = layout.add("cell/M", &[n, n], Init::Normal { std });
        let width = if self.gated { 2 * n } else { n };
        let input = Linear::declare(
            layout,
            "encoder/weight",
            Some("encoder/bias"),
            input_size,
            width,
        );
        Box::new(Antisymmetric {
            cfg: self.clone(),
            m,
            input,
        })
    }
}

/// The cell: parameter ids and its config.
pub struct Antisymmetric {
    cfg: AntisymmetricConfig,
    m: ParamId,
    input: Linear,
}

/// What a forward pass records.
pub struct AntisymmetricTape<F> {
    /// `W = M − Mᵀ − γI`, built once a pass.
    w: Array2<F>,
    run: Run<F>,
}

enum Run<F> {
    Plain(TanhRnn<F>),
    Gated(GatedTape<F>),
}

/// The gated loop's buffers.
struct GatedTape<F> {
    /// States `h_0..h_T`.
    h: Steps<F>,
    /// `a_t = tanh(h_t·W + z_t)` and the gate `g_t`. Backward reads step t of `a` once,
    /// then overwrites it with the gradient at `h_t·W` (the sum of the tanh branch's and the
    /// gate's pre-activation gradients, which go to dL/dz_t), which `dW` reads.
    a: Steps<F>,
    g: Steps<F>,
    /// Scratch `h_t·W`, `[B, N]`.
    prod: Array2<F>,
    /// Running dL/dh_t, `[B, N]`.
    dh: Array2<F>,
    /// `W` (forward) and `Wᵀ` (backward), packed once a pass, and backward's `dW`.
    w: Packed<F>,
    w_t: Packed<F>,
    dw: Array2<F>,
}

impl Antisymmetric {
    /// `W = M − Mᵀ − γI`.
    fn build_w<F: Float>(&self, p: &Params<F>, w: &mut Array2<F>) {
        let m = p.matrix(self.m);
        Zip::from(&mut *w)
            .and(&m)
            .and(&m.t())
            .for_each(|w, &mij, &mji| *w = mij - mji);
        w.diag_mut()
            .iter_mut()
            .for_each(|d| *d -= F::of(self.cfg.gamma));
    }
}

impl<F: Float> Cell<F> for Antisymmetric {
    type Tape = AntisymmetricTape<F>;

    fn input(&self) -> &Linear {
        &self.input
    }

    fn hidden(&self) -> usize {
        self.cfg.hidden
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> AntisymmetricTape<F> {
        let n = self.cfg.hidden;
        let run = if self.cfg.gated {
            Run::Gated(GatedTape {
                h: Steps::new(steps, batch, n, keep, true),
                a: Steps::new(steps, batch, n, keep, false),
                g: Steps::new(steps, batch, n, keep, false),
                prod: Array2::zeros((batch, n)),
                dh: Array2::zeros((batch, n)),
                w: Packed::zeros(n, n),
                w_t: Packed::zeros(n, n),
                dw: Array2::zeros((n, n)),
            })
        } else {
            Run::Plain(TanhRnn::new(
                Update::Residual(self.cfg.eps),
                steps,
                batch,
                n,
                keep,
            ))
        };
        AntisymmetricTape {
            w: Array2::zeros((n, n)),
            run,
        }
    }

    fn activation_bytes(&self, tp: &AntisymmetricTape<F>) -> Option<usize> {
        Some(match &tp.run {
            Run::Plain(run) => run.activation_bytes(),
            Run::Gated(gt) => gt.h.bytes() + gt.a.bytes() + gt.g.bytes(),
        })
    }

    fn forward(
        &self,
        p: &Params<F>,
        z: &mut Inputs<F>,
        mut state: ArrayViewMut2<F>,
        tp: &mut AntisymmetricTape<F>,
    ) {
        self.build_w(p, &mut tp.w);
        let gt = match &mut tp.run {
            Run::Plain(run) => return run.forward(tp.w.view(), z, state),
            Run::Gated(gt) => gt,
        };
        let n = self.cfg.hidden;
        let steps = z.steps();
        let eps = F::of(self.cfg.eps);
        gt.w.assign(tp.w.view());
        gt.h.at_mut(0).assign(&state);
        for t in 0..steps {
            let zt = z.at(t);
            let (h, h_next) = gt.h.pair_mut(t);
            gt.w.mul(F::one(), &h, F::zero(), &mut gt.prod);
            let (mut a, mut g, prod, h) =
                (gt.a.at_mut(t), gt.g.at_mut(t), gt.prod.view(), h.view());
            let (a, g, mut h1) = (flat_mut(&mut a), flat_mut(&mut g), h_next);
            let (prod, z, h, h1) = (flat(&prod), flat(&zt), flat(&h), flat_mut(&mut h1));
            let rows = a.chunks_exact_mut(n).zip(g.chunks_exact_mut(n));
            let ins = prod.chunks_exact(n).zip(z.chunks_exact(2 * n));
            let states = h.chunks_exact(n).zip(h1.chunks_exact_mut(n));
            for (((a, g), (prod, z)), (h, h1)) in rows.zip(ins).zip(states) {
                crate::kernels::simd::wide(
                    #[inline(always)]
                    || gated_row(a, g, prod, blocks(z, n), h, h1, eps),
                );
            }
        }
        state.assign(&gt.h.at(steps));
    }

    fn outputs<'t>(&self, tp: &'t AntisymmetricTape<F>) -> ArrayView2<'t, F> {
        match &tp.run {
            Run::Plain(run) => run.outputs(),
            Run::Gated(gt) => gt.h.span(1, gt.h.slots() - 1),
        }
    }

    fn backward_begin(&self, _p: &Params<F>, tp: &mut AntisymmetricTape<F>) {
        match &mut tp.run {
            Run::Plain(run) => run.backward_begin(tp.w.view()),
            Run::Gated(gt) => {
                gt.w_t.assign(tp.w.t());
                gt.dh.fill(F::zero());
                gt.dw.fill(F::zero());
            }
        }
    }

    fn backward_step(
        &self,
        _p: &Params<F>,
        tp: &mut AntisymmetricTape<F>,
        step: Step<'_, F>,
        mut dz_t: ArrayViewMut2<'_, F>,
    ) {
        let gt = match &mut tp.run {
            Run::Plain(run) => return run.backward_step(step, dz_t),
            Run::Gated(gt) => gt,
        };
        let (n, t) = (self.cfg.hidden, step.t);
        let eps = F::of(self.cfg.eps);
        if let Some(d) = step.d_out {
            gt.dh += &d;
        }
        // h' = h + ε·g⊙a: δa = ε·d·g·(1−a²), δg = ε·d·a·g(1−g), both at h·W.
        let (mut a, g) = (gt.a.at_mut(t), gt.g.at(t));
        let (dz_t, a, g) = (flat_mut(&mut dz_t), flat_mut(&mut a), flat(&g));
        let d = gt.dh.as_slice().expect("owned");
        let rows = dz_t.chunks_exact_mut(2 * n).zip(a.chunks_exact_mut(n));
        for ((dz, a), (g, d)) in rows.zip(g.chunks_exact(n).zip(d.chunks_exact(n))) {
            crate::kernels::simd::wide(
                #[inline(always)]
                || gated_back_row(blocks_mut(dz, n), a, g, d, eps),
            );
        }
        gt.w_t.mul(F::one(), &gt.a.at(t), F::one(), &mut gt.dh);
        flush_all(gt.dh.view_mut());
    }

    fn backward_chunk(
        &self,
        _p: &Params<F>,
        tp: &mut AntisymmetricTape<F>,
        ts: std::ops::Range<usize>,
        dz: ArrayViewMut2<'_, F>,
        _grads: &mut Params<F>,
    ) {
        match &mut tp.run {
            Run::Plain(run) => run.backward_chunk(ts, dz.view()),
            Run::Gated(gt) => {
                // dW += Σ_t h_tᵀ·(δa + δg)_t, one GEMM over the chunk.
                let (h, g) = (gt.h.span(ts.start, ts.len()), gt.a.span(ts.start, ts.len()));
                weight_grad(h, g, F::one(), &mut gt.dw.view_mut());
            }
        }
    }

    fn backward_end(&self, _p: &Params<F>, tp: &mut AntisymmetricTape<F>, grads: &mut Params<F>) {
        let dw = match &tp.run {
            Run::Plain(run) => run.dw(),
            Run::Gated(gt) => gt.dw.view(),
        };
        // dM = dW − dWᵀ (γI is constant).
        Zip::from(&mut grads.matrix_mut(self.m))
            .and(&dw)
            .and(&dw.t())
            .for_each(|g, &dij, &dji| *g += dij - dji);
    }
}
/// One row of the gated step once `prod = h·W` is computed: `a = tanh(prod + z_a)`,
/// `g = σ(prod + z_g)`, `h1 = h + ε·g⊙a`, for `z = [z_a, z_g]`.
#[inline(always)]
fn gated_row<F: Float>(
    a: &mut [F],
    g: &mut [F],
    prod: &[F],
    z: [&[F]; 2],
    h: &[F],
    h1: &mut [F],
    eps: F,
) {
    let n = h1.len();
    let (a, g, prod, h) = (&mut a[..n], &mut g[..n], &prod[..n], &h[..n]);
    let [z_a, z_g] = z.map(|x| &x[..n]);
    for j in 0..n {
        a[j] = (prod[j] + z_a[j]).act_tanh();
        g[j] = sigmoid(prod[j] + z_g[j]);
        h1[j] = h[j] + eps * g[j] * a[j];
    }
}

/// One row of its backward for dL/dh' `d`: writes `dz = [δa, δg]`, `δa = ε·d⊙g⊙(1 − a²)`,
/// `δg = ε·d⊙a⊙g(1 − g)`, and their sum (the gradient at `h·W`) over `a`.
#[inline(always)]
fn gated_back_row<F: Float>(dz: [&mut [F]; 2], a: &mut [F], g: &[F], d: &[F], eps: F) {
    let [da, dg] = dz;
    let n = a.len();
    let (da, dg, g, d) = (&mut da[..n], &mut dg[..n], &g[..n], &d[..n]);
    for j in 0..n {
        let (sd, aj) = (eps * d[j], a[j]);
        da[j] = flush_tiny(sd * g[j] * tanh_grad(aj));
        dg[j] = flush_tiny(sd * aj * sigmoid_grad(g[j]));
        a[j] = flush_tiny(da[j] + dg[j]);
    }
}
