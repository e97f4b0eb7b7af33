//! Affine map `y = x·Wᵀ + b` with PyTorch's `nn.Linear` layout (`W` is `[out, in]`) and
//! default initialisation, used as the encoder `U, b` and the decoder `D, c`.

use crate::gemm::gemm;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::float::Float;
use crate::params::{Init, Layout, ParamId, Params};

/// A linear layer's parameter ids and sizes.
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
    pub fan_in: usize,
    pub fan_out: usize,
}

impl Linear {
    /// Declares `weight` `[fan_out, fan_in]` and `bias` `[fan_out]`, both U(±1/√fan_in) as `nn.Linear`.
    pub fn declare(
        layout: &mut Layout,
        weight: &str,
        bias: Option<&str>,
        fan_in: usize,
        fan_out: usize,
    ) -> Self {
        let bound = 1.0 / (fan_in as f64).sqrt();
        Self::declare_uniform(layout, weight, bias, fan_in, fan_out, bound)
    }

    /// [`Linear::declare`] with another U(±bound) (PyTorch's RNNs use 1/√hidden for every tensor).
    pub fn declare_uniform(
        layout: &mut Layout,
        weight: &str,
        bias: Option<&str>,
        fan_in: usize,
        fan_out: usize,
        bound: f64,
    ) -> Self {
        let weight = layout.add(weight, &[fan_out, fan_in], Init::Uniform { bound });
        let bias = bias.map(|b| layout.add(b, &[fan_out], Init::Uniform { bound }));
        Linear {
            weight,
            bias,
            fan_in,
            fan_out,
        }
    }

    /// The two projections of a PyTorch gated RNN with `gates` gate blocks: `cell/weight_ih
    /// [gates·N, p]`, `cell/bias_ih`, `cell/weight_hh [gates·N, N]`, `cell/bias_hh`, all
    /// U(±1/√N) as `reset_parameters`, declared in PyTorch's order; returns (input, recurrent).
    pub fn declare_torch_rnn(
        layout: &mut Layout,
        input_size: usize,
        hidden: usize,
        gates: usize,
    ) -> (Self, Self) {
        let bound = 1.0 / (hidden as f64).sqrt();
        let mut proj = |name: &str, fan_in| {
            let (w, b) = (format!("cell/weight_{name}"), format!("cell/bias_{name}"));
            Linear::declare_uniform(layout, &w, Some(&b), fan_in, gates * hidden, bound)
        };
        (proj("ih", input_size), proj("hh", hidden))
    }

    /// `y [R, out] ← x [R, in]·Wᵀ + b`.
    pub fn forward<F: Float>(&self, p: &Params<F>, x: ArrayView2<F>, mut y: ArrayViewMut2<F>) {
        gemm(F::one(), &x, &p.matrix(self.weight).t(), F::zero(), &mut y);
        self.add_bias(p, y);
    }

    /// Accumulates `dW += dyᵀ·x` and `db += Σ_rows dy` for `x [R, in]`, `dy [R, out]`.
    pub fn backward<F: Float>(&self, x: ArrayView2<F>, dy: ArrayView2<F>, grads: &mut Params<F>) {
        gemm(
            F::one(),
            &dy.t(),
            &x,
            F::one(),
            &mut grads.matrix_mut(self.weight),
        );
        if let Some(b) = self.bias {
            let mut db = grads.vector_mut(b);
            match (dy.as_slice(), db.as_slice_mut()) {
                // Row by row into one accumulator, at full vector width: `sum_axis` was 4% of
                // an LSTM step over a `[T·B, 4N]` gradient.
                (Some(dy), Some(db)) => crate::simd::wide(
                    #[inline(always)]
                    || {
                        for row in dy.chunks_exact(db.len()) {
                            add_row(db, row);
                        }
                    },
                ),
                _ => db += &dy.sum_axis(Axis(0)),
            }
        }
    }

    fn add_bias<F: Float>(&self, p: &Params<F>, mut y: ArrayViewMut2<F>) {
        if let Some(b) = self.bias {
            let b = p.vector(b);
            match (y.as_slice_mut(), b.as_slice()) {
                (Some(y), Some(b)) => crate::simd::wide(
                    #[inline(always)]
                    || {
                        for row in y.chunks_exact_mut(b.len()) {
                            add_row(row, b);
                        }
                    },
                ),
                _ => y.rows_mut().into_iter().for_each(|mut row| row += &b),
            }
        }
    }

    /// `dx [R, in] ← dy [R, out]·W`.
    pub fn backward_input<F: Float>(
        &self,
        p: &Params<F>,
        dy: ArrayView2<F>,
        mut dx: ArrayViewMut2<F>,
    ) {
        gemm(F::one(), &dy, &p.matrix(self.weight), F::zero(), &mut dx);
    }
}

/// `acc += row`, for equal-length slices (a separate function so the two cannot alias).
#[inline(always)]
fn add_row<F: Float>(acc: &mut [F], row: &[F]) {
    for (a, &r) in acc.iter_mut().zip(row) {
        *a += r;
    }
}
