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
//! transposed. The cell is the vanilla one with `Update::Residual(ε)`: the shared
//! [`crate::net::cells::tanh_rnn::TanhRnn`] loop and its BPTT.

use serde::{Deserialize, Serialize};

use super::vanilla::Vanilla;
use super::{AnyCell, CellConfig};
use crate::kernels::float::Float;
use crate::net::cells::tanh_rnn::Update;
use crate::net::params::{Init, Layout};

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

    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        crate::config::check_positive("eps", self.eps)?;
        crate::config::check_non_negative("init_std", self.init_std)?;
        Ok(())
    }

    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
        Box::new(Vanilla::declare(
            layout,
            input_size,
            self.hidden,
            Init::Normal {
                std: self.init_std / self.hidden as f64,
            },
            None,
            Update::Residual(self.eps),
        ))
    }
}
