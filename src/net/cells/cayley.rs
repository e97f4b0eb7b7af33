//! Cayley orthogonal RNN, the authors' `calRNN` baseline (`erichson/LipschitzRNN`, `models.py`),
//! row convention:
//!
//! ```text
//! S = M − Mᵀ       W = (I + S)⁻¹(I − S)  (orthogonal: the Cayley transform of a skew S)
//! h_{t+1} = tanh(h_t·W + z_t)            z_t = x_t·Uᵀ + b
//! ```
//!
//! Parameters: `cell/M [N,N]`, `encoder/weight [N,p]` (U), `encoder/bias [N]` (b). M starts as
//! the orthogonal polar factor `U·Vᵀ` of a Gaussian matrix ([`Init::Polar`]), as the authors'
//! `torch.svd(gaussian_init_(N))` (the factor does not depend on the Gaussian's scale).
//!
//! W is built once a pass by an LU solve ([`crate::kernels::linalg`]): with `A = I + S`,
//! `A⁻¹(I − S) = A⁻¹(2I − A)`, so `W = 2A⁻¹ − I`. Its gradient is summed in one GEMM a chunk
//! of steps (`dW = Σ_t h_tᵀ·g_t`) and mapped back exactly once a pass:
//!
//! ```text
//! dW = −2A⁻¹·dS·A⁻¹  ⇒  dL/dS = −2·A⁻ᵀ·(dL/dW)·A⁻ᵀ      dL/dM = dL/dS − (dL/dS)ᵀ
//! ```
//!
//! The loop and its BPTT are the shared [`TanhRnn`] (`Update::Replace`).

use crate::kernels::gemm::gemm;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

use super::{AnyCell, Cell, CellConfig, Inputs, Step};
use crate::kernels::float::Float;
use crate::kernels::linalg::invert_into;
use crate::net::cells::tanh_rnn::{TanhRnn, Update, check_encoder_bound, declare_encoder};
use crate::net::nn::Linear;
use crate::net::params::{Init, Layout, ParamId, Params};

/// `[model]` keys for `kind = "cayley"` (the authors' calRNN has no other hyperparameter:
/// its `init_std` only scales the Gaussian whose polar factor is taken).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CayleyConfig {
    /// Hidden width N.
    pub hidden: usize,
    /// Encoder weight and bias drawn U(±bound) instead of PyTorch's U(±1/√p) (±1 for one pixel a
    /// step). An orthogonal `W` keeps the state's norm, so the encoder's scale sets how far
    /// `tanh` saturates; unset (PyTorch's init, the authors' calRNN) by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_bound: Option<f64>,
}

impl CellConfig for CayleyConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        check_encoder_bound(self.encoder_bound)
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        let n = self.hidden;
        let m = layout.add("cell/M", &[n, n], Init::Polar);
        let input = declare_encoder(layout, input_size, n, self.encoder_bound);
        Box::new(Cayley { n, m, input })
    }
}

/// The cell: parameter ids.
pub struct Cayley {
    n: usize,
    m: ParamId,
    input: Linear,
}

/// What a forward pass records: `A⁻¹` and `W`, plus scratch for building and mapping them.
pub struct CayleyTape<F> {
    /// Forward: the LU factors of `A = I + S`; backward: scratch `A⁻ᵀ·dL/dW`.
    lu: Array2<F>,
    piv: Vec<usize>,
    /// `A⁻¹`.
    inv: Array2<F>,
    /// `A` while it is being inverted, then `W`.
    w: Array2<F>,
    /// dL/dS.
    ds: Array2<F>,
    run: TanhRnn<F>,
}

impl<F: Float> Cell<F> for Cayley {
    type Tape = CayleyTape<F>;

    fn input(&self) -> &Linear {
        &self.input
    }

    fn hidden(&self) -> usize {
        self.n
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> CayleyTape<F> {
        let n = self.n;
        CayleyTape {
            lu: Array2::zeros((n, n)),
            piv: vec![0; n],
            inv: Array2::zeros((n, n)),
            w: Array2::zeros((n, n)),
            ds: Array2::zeros((n, n)),
            run: TanhRnn::new(Update::Replace, steps, batch, n, keep),
        }
    }

    fn activation_bytes(&self, tp: &CayleyTape<F>) -> Option<usize> {
        Some(tp.run.activation_bytes())
    }

    fn forward(
        &self,
        p: &Params<F>,
        z: &mut Inputs<F>,
        state: ArrayViewMut2<F>,
        tp: &mut CayleyTape<F>,
    ) {
        // A = I + M − Mᵀ (kept in `w` for invert_into, which copies it into `lu`).
        let m = p.matrix(self.m);
        Zip::from(&mut tp.w)
            .and(&m)
            .and(&m.t())
            .for_each(|a, &mij, &mji| *a = mij - mji);
        tp.w.diag_mut().iter_mut().for_each(|d| *d += F::one());
        match invert_into(tp.w.view(), &mut tp.lu, &mut tp.piv, &mut tp.inv) {
            Ok(()) => {
                // W = 2A⁻¹ − I.
                Zip::from(&mut tp.w)
                    .and(&tp.inv)
                    .for_each(|w, &i| *w = i + i);
                tp.w.diag_mut().iter_mut().for_each(|d| *d -= F::one());
            }
            // I + S is invertible for every finite skew S; only non-finite M gets here, and
            // a NaN W lets the trainer report the divergence.
            Err(_) => tp.w.fill(F::nan()),
        }
        tp.run.forward(tp.w.view(), z, state);
    }

    fn outputs<'t>(&self, tp: &'t CayleyTape<F>) -> ArrayView2<'t, F> {
        tp.run.outputs()
    }

    fn backward_begin(&self, _p: &Params<F>, tp: &mut CayleyTape<F>) {
        tp.run.backward_begin(tp.w.view());
    }

    fn backward_step(
        &self,
        _p: &Params<F>,
        tp: &mut CayleyTape<F>,
        step: Step<'_, F>,
        dz_t: ArrayViewMut2<'_, F>,
    ) {
        tp.run.backward_step(step, dz_t);
    }

    fn backward_chunk(
        &self,
        _p: &Params<F>,
        tp: &mut CayleyTape<F>,
        ts: std::ops::Range<usize>,
        dz: ArrayViewMut2<'_, F>,
        _grads: &mut Params<F>,
    ) {
        tp.run.backward_chunk(ts, dz.view());
    }

    fn backward_end(&self, _p: &Params<F>, tp: &mut CayleyTape<F>, grads: &mut Params<F>) {
        let dw = tp.run.dw();
        // dL/dS = −2·A⁻ᵀ·dW·A⁻ᵀ, in two GEMMs (through `lu` as scratch).
        let inv_t = tp.inv.t();
        gemm(F::one(), &inv_t, &dw, F::zero(), &mut tp.lu);
        gemm(F::of(-2.0), &tp.lu, &inv_t, F::zero(), &mut tp.ds);
        Zip::from(&mut grads.matrix_mut(self.m))
            .and(&tp.ds)
            .and(&tp.ds.t())
            .for_each(|g, &dij, &dji| *g += dij - dji);
    }
}
