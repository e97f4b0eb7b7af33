//! Residual RNN, the authors' `resRNN` baseline (`erichson/LipschitzRNN`, `models.py`): a forward
//! Euler step of `h' = tanh(h·W + z)` with an unconstrained `W`, in the row convention:
//!
//! ```text
//! h_{t+1} = h_t + ε·tanh(h_t·W + z_t)        z_t = x_t·Uᵀ + b
//! ```
//!
//! Parameters: `cell/W [N,N]`, `encoder/weight [N,p]` (U), `encoder/bias [N]` (b).
//! `W ~ Normal(0, (init_std/N)²)` as the authors' `gaussian_init_`; their `W` is an
//! `nn.Linear(N, N, bias=False)` applied as `h·Wᵀ`, so their `W.weight` is our `cell/W`
//! transposed. The loop and its BPTT are the shared [`TanhRnn`] (`Update::Residual(ε)`).

use ndarray::{ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

use super::{Cell, CellConfig, OutGrad, Tape, tape_of, tape_ref};
use crate::float::Float;
use crate::nn::Linear;
use crate::nn::tanh_rnn::{TanhRnn, Update};
use crate::params::{Init, Layout, ParamId, Params};

/// `[model]` keys for `kind = "residual"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidualConfig {
    /// Hidden width N.
    pub hidden: usize,
    /// Step size ε. Default 0.03, the authors' README step for the Lipschitz RNN (their
    /// `driver.py` default is 0.1; no published command runs `resRNN`).
    #[serde(default = "defaults::eps")]
    pub eps: f64,
    /// W entries are drawn with standard deviation `init_std / N` (the authors' default 0.1).
    #[serde(default = "defaults::init_std")]
    pub init_std: f64,
}

mod defaults {
    pub fn eps() -> f64 {
        0.03
    }
    pub fn init_std() -> f64 {
        0.1
    }
}

impl CellConfig for ResidualConfig {
    fn hidden(&self) -> usize {
        self.hidden
    }

    fn validate(&self) -> Result<(), (String, String)> {
        super::check_positive("eps", self.eps)?;
        Ok(())
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn Cell<F>> {
        let n = self.hidden;
        let std = self.init_std / n as f64;
        let w = layout.add("cell/W", &[n, n], Init::Normal { std });
        let input = Linear::declare(
            layout,
            "encoder/weight",
            Some("encoder/bias"),
            input_size,
            n,
        );
        Box::new(Residual {
            cfg: self.clone(),
            w,
            input,
        })
    }
}

/// The cell: parameter ids and its config.
pub struct Residual {
    cfg: ResidualConfig,
    w: ParamId,
    input: Linear,
}

impl<F: Float> Cell<F> for Residual {
    fn input(&self) -> &Linear {
        &self.input
    }

    fn hidden(&self) -> usize {
        self.cfg.hidden
    }

    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> Tape {
        let update = Update::Residual(self.cfg.eps);
        Box::new(TanhRnn::<F>::new(
            update,
            steps,
            batch,
            self.cfg.hidden,
            keep,
        ))
    }

    fn activation_bytes(&self, tape: &Tape) -> Option<usize> {
        Some(tape_ref::<TanhRnn<F>>(tape).activation_bytes())
    }

    fn forward(&self, p: &Params<F>, z: ArrayView2<F>, state: ArrayViewMut2<F>, tape: &mut Tape) {
        tape_of::<TanhRnn<F>>(tape).forward(p.matrix(self.w), z, state);
    }

    fn outputs<'t>(&self, tape: &'t Tape) -> ArrayView2<'t, F> {
        tape_ref::<TanhRnn<F>>(tape).outputs()
    }

    fn backward<'t>(
        &self,
        p: &Params<F>,
        tape: &'t mut Tape,
        d_out: OutGrad<'_, F>,
        grads: &mut Params<F>,
    ) -> ArrayView2<'t, F> {
        tape_of::<TanhRnn<F>>(tape).backward(p.matrix(self.w), d_out, grads.matrix_mut(self.w))
    }
}
