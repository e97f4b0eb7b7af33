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
//! transposed (the same distribution at initialisation). `w_init = "orthogonal"` starts `W`
//! orthogonal instead, and `encoder_bound` shrinks the encoder's draws: together they keep the
//! state small and its Jacobian near an isometry, which ordered pixels need (below).
//! The loop and its BPTT are the shared [`TanhRnn`] (`Update::Replace`).

use ndarray::{ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

use super::{AnyCell, Cell, CellConfig, Inputs, Step};
use crate::kernels::float::Float;
use crate::net::cells::tanh_rnn::{TanhRnn, Update, check_encoder_bound, declare_encoder};
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
    /// How `W` starts: `"normal"` (default, the authors' Gaussian with `init_std`) or
    /// `"orthogonal"`, the polar factor of a Gaussian matrix (every singular value 1; `init_std`
    /// is then unused), after Saxe et al. 2014 and the orthogonal-RNN literature.
    #[serde(default, skip_serializing_if = "RecurrentInit::is_normal")]
    pub w_init: RecurrentInit,
    /// Encoder weight and bias drawn U(±bound) instead of PyTorch's U(±1/√p) (±1 for one pixel a
    /// step). A small bound keeps `tanh` in its linear range, where the state neither saturates
    /// nor loses gradient over hundreds of steps; unset (PyTorch's init) by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_bound: Option<f64>,
}

/// The initial recurrent matrix of a free-`W` tanh RNN.
#[derive(Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecurrentInit {
    /// i.i.d. Normal(0, (init_std/N)²).
    #[default]
    Normal,
    /// The orthogonal polar factor of an i.i.d. Gaussian matrix.
    Orthogonal,
}

/// Debug as its spec spelling: `lrnn spec show --all` reads a default left out of the
/// resolved spec from the config's Debug text.
impl std::fmt::Debug for RecurrentInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecurrentInit::Normal => "normal",
            RecurrentInit::Orthogonal => "orthogonal",
        })
    }
}

impl RecurrentInit {
    fn is_normal(&self) -> bool {
        *self == RecurrentInit::Normal
    }
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
        crate::config::check_non_negative("init_std", self.init_std)?;
        check_encoder_bound(self.encoder_bound)
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        let w_init = match self.w_init {
            RecurrentInit::Normal => Init::Normal {
                std: self.init_std / self.hidden as f64,
            },
            RecurrentInit::Orthogonal => Init::Polar,
        };
        Box::new(Vanilla::declare(
            layout,
            input_size,
            self.hidden,
            w_init,
            self.encoder_bound,
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
    /// Declares `cell/W [N,N]` (drawn by `w_init`) and the encoder `[N,p]`, in that order.
    pub(super) fn declare(
        layout: &mut Layout,
        input_size: usize,
        n: usize,
        w_init: Init,
        encoder_bound: Option<f64>,
        update: Update,
    ) -> Self {
        let w = layout.add("cell/W", &[n, n], w_init);
        let input = declare_encoder(layout, input_size, n, encoder_bound);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::sync::Arc;

    fn draw(toml: &str) -> (Layout, Params<f64>) {
        let config: VanillaConfig = toml::from_str(toml).unwrap();
        config.validate().unwrap();
        let mut layout = Layout::default();
        config.build::<f64>(1, &mut layout);
        let layout = Arc::new(layout);
        let p = Params::init(layout.clone(), &mut rand_pcg::Pcg64::seed_from_u64(7));
        (Arc::unwrap_or_clone(layout), p)
    }

    #[test]
    fn orthogonal_w_and_a_narrow_encoder() {
        let (layout, p) = draw("hidden = 16\nw_init = 'orthogonal'\nencoder_bound = 0.01");
        let w = p.matrix(layout.find("cell/W").unwrap());
        let wtw = w.t().dot(&w);
        let err = (&wtw - &ndarray::Array2::<f64>::eye(16))
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err < 1e-12, "WᵀW differs from I by {err}");
        for name in ["encoder/weight", "encoder/bias"] {
            let v = p.slice(layout.find(name).unwrap());
            let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(max <= 0.01 && max > 0.001, "{name}: largest |entry| {max}");
        }
    }

    #[test]
    fn defaults_draw_as_before_and_serialize_unchanged() {
        // The default keys leave the spec's text (and so its run id) and the draws as they were.
        let (layout, p) = draw("hidden = 16");
        let config: VanillaConfig = toml::from_str("hidden = 16").unwrap();
        assert_eq!(
            toml::to_string(&config).unwrap(),
            "hidden = 16\ninit_std = 0.1\n"
        );
        let std = 0.1 / 16.0;
        let w = p.slice(layout.find("cell/W").unwrap());
        let rms = (w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64).sqrt();
        assert!((rms / std - 1.0).abs() < 0.15, "W rms {rms}, std {std}");
        let enc = p.slice(layout.find("encoder/weight").unwrap());
        assert!(
            enc.iter().any(|v| v.abs() > 0.5),
            "PyTorch's U(±1) for one input"
        );
        assert!(toml::from_str::<VanillaConfig>("hidden = 4\nw_init = 'identity'").is_err());
        let bad: VanillaConfig = toml::from_str("hidden = 4\nencoder_bound = 0").unwrap();
        assert!(bad.validate().is_err());
    }
}
