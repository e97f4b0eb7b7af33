//! Vanilla (Elman) RNN, the authors' `simpleRNN` baseline (`erichson/LipschitzRNN`,
//! `models.py`), in the row convention:
//!
//! ```text
//! h_{t+1} = tanh(h_t·W + z_t)        z_t = x_t·Uᵀ + b
//! ```
//!
//! Parameters: `cell/W [N,N]`, `encoder/weight [N,p]` (U), `encoder/bias [N]` (b).
//! `W ~ Normal(0, (init_std/N)²)` as the authors' `gaussian_init_`. Their `W` is an
//! `nn.Linear(N, N, bias=False)` applied as `h·Wᵀ`, so their `W.weight` is our `cell/W`
//! transposed (the same distribution at initialisation).
//! The loop and its BPTT are the shared [`TanhRnn`] (`Update::Replace`).

use ndarray::{ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

use super::{AnyCell, Cell, CellConfig, Inputs, Step};
use crate::kernels::float::Float;
use crate::net::cells::tanh_rnn::{TanhRnn, Update};
use crate::net::nn::Linear;
use crate::net::params::{Init, Layout, ParamId, Params};

/// `[model]` keys for `kind = "vanilla"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VanillaConfig {
    /// Hidden width N.
    pub hidden: usize,
    /// W entries are drawn with standard deviation `init_std / N`. Default 0.1, the authors'
    /// `driver.py` default that every model of theirs (this baseline included) runs with: it
    /// starts W ≈ 0, i.e. an almost memoryless RNN. `init_std = √N` gives the classic
    /// 1/√N scaling (spectral radius ≈ 1).
    #[serde(default = "defaults::init_std")]
    pub init_std: f64,
}

mod defaults {
    pub fn init_std() -> f64 {
        0.1
    }
}

impl CellConfig for VanillaConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        crate::config::check_non_negative("init_std", self.init_std)
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        Box::new(Vanilla::declare(
            layout,
            input_size,
            self.hidden,
            self.init_std,
            Update::Replace,
        ))
    }
}

/// A tanh RNN with a free `W`: this cell, and the residual cell with `Update::Residual(ε)`.
pub struct Vanilla {
    n: usize,
    w: ParamId,
    input: Linear,
    update: Update,
}

impl Vanilla {
    /// Declares `cell/W [N,N] ~ Normal(0, (init_std/N)²)` and the encoder `[N,p]`, in that order.
    pub(super) fn declare(
        layout: &mut Layout,
        input_size: usize,
        n: usize,
        init_std: f64,
        update: Update,
    ) -> Self {
        let std = init_std / n as f64;
        let w = layout.add("cell/W", &[n, n], Init::Normal { std });
        let input = Linear::declare(
            layout,
            "encoder/weight",
            Some("encoder/bias"),
            input_size,
            n,
        );
        Vanilla {
            n,
            w,
            input,
            update,
        }
    }
}

impl<F: Float> Cell<F> for Vanilla {
    type Tape = TanhRnn<F>;

    fn input(&self) -> &Linear {
        &self.input
    }

    fn hidden(&self) -> usize {
        self.n
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> TanhRnn<F> {
        TanhRnn::new(self.update, steps, batch, self.n, keep)
    }

    fn activation_bytes(&self, tape: &TanhRnn<F>) -> Option<usize> {
        Some(tape.activation_bytes())
    }

    fn forward(
        &self,
        p: &Params<F>,
        z: &mut Inputs<F>,
        state: ArrayViewMut2<F>,
        tape: &mut TanhRnn<F>,
    ) {
        tape.forward(p.matrix(self.w), z, state);
    }

    fn outputs<'t>(&self, tape: &'t TanhRnn<F>) -> ArrayView2<'t, F> {
        tape.outputs()
    }

    fn backward_begin(&self, p: &Params<F>, tape: &mut TanhRnn<F>) {
        // W is the parameter itself.
        tape.backward_begin(p.matrix(self.w));
    }

    fn backward_step(
        &self,
        _p: &Params<F>,
        tape: &mut TanhRnn<F>,
        step: Step<'_, F>,
        dz_t: ArrayViewMut2<'_, F>,
    ) {
        tape.backward_step(step, dz_t);
    }

    fn backward_chunk(
        &self,
        _p: &Params<F>,
        tape: &mut TanhRnn<F>,
        ts: std::ops::Range<usize>,
        dz: ArrayViewMut2<'_, F>,
        _grads: &mut Params<F>,
    ) {
        tape.backward_chunk(ts, dz.view());
    }

    fn backward_end(&self, _p: &Params<F>, tape: &mut TanhRnn<F>, grads: &mut Params<F>) {
        let mut g = grads.matrix_mut(self.w);
        g += &tape.dw();
    }
}
