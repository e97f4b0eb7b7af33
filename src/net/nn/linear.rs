//! Affine map `y = x·Wᵀ + b` with PyTorch's `nn.Linear` layout (`W` is `[out, in]`) and
//! default initialisation, used as the encoder `U, b` and the decoder `D, c`.

use crate::kernels::gemm::gemm;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

use crate::kernels::float::Float;
use crate::net::params::{Init, Layout, ParamId, Params};

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
        if let (true, Some(xs), Some(ys)) = (self.narrow(), x.as_slice(), y.as_slice_mut()) {
            return self.forward_narrow(p, xs, ys);
        }
        gemm(F::one(), &x, &p.matrix(self.weight).t(), F::zero(), &mut y);
        self.add_bias(p, y);
    }

    /// Accumulates `dW += dyᵀ·x` and `db += Σ_rows dy` for `x [R, in]`, `dy [R, out]`.
    pub fn backward<F: Float>(&self, x: ArrayView2<F>, dy: ArrayView2<F>, grads: &mut Params<F>) {
        if let (true, Some(xs), Some(dys)) = (self.narrow(), x.as_slice(), dy.as_slice()) {
            return self.backward_narrow(xs, dys, grads);
        }
        self.backward_weight(x, dy, grads);
        if let Some(b) = self.bias {
            let mut db = grads.vector_mut(b);
            match (dy.as_slice(), db.as_slice_mut()) {
                // Row by row into one accumulator, at full vector width: `sum_axis` was 4% of
                // an LSTM step over a `[T·B, 4N]` gradient.
                (Some(dy), Some(db)) => sum_rows(db, dy),
                _ => db += &dy.sum_axis(Axis(0)),
            }
        }
    }

    /// `db += sum`, a bias gradient its caller summed itself ([`Linear::backward_weight`]).
    pub fn add_bias_grad<F: Float>(&self, grads: &mut Params<F>, sum: &[F]) {
        let mut db = grads.vector_mut(self.bias.expect("a layer with a bias"));
        db += &ndarray::ArrayView1::from(sum);
    }

    /// The weight part of [`Linear::backward`], `dW += dyᵀ·x`, for callers that sum the bias
    /// gradient themselves while `dy` is in cache (the LSTM and GRU, a step at a time), and
    /// add it with [`Linear::add_bias_grad`].
    pub fn backward_weight<F: Float>(
        &self,
        x: ArrayView2<F>,
        dy: ArrayView2<F>,
        grads: &mut Params<F>,
    ) {
        gemm(
            F::one(),
            &dy.t(),
            &x,
            F::one(),
            &mut grads.matrix_mut(self.weight),
        );
    }

    /// Whether the input is narrow enough (pixel sequences have 1 or 3 channels) that a GEMM
    /// of depth `in` is a memory-bound outer product better done row by row: one pass over
    /// `y` (or `dy`) instead of matrixmultiply's packing plus a pass for the bias.
    pub fn narrow(&self) -> bool {
        self.fan_in <= NARROW
    }

    /// `Wᵀ` `[in, out]` and the bias (zeros without one), as [`project_rows`] takes them.
    pub fn row_weights<F: Float>(&self, p: &Params<F>) -> (Array2<F>, Vec<F>) {
        let w_t = p.matrix(self.weight).t().as_standard_layout().into_owned();
        let bias = match self.bias {
            Some(b) => p.vector(b).to_vec(),
            None => vec![F::zero(); self.fan_out],
        };
        (w_t, bias)
    }

    /// [`Linear::forward`] for a narrow input, row by row.
    fn forward_narrow<F: Float>(&self, p: &Params<F>, x: &[F], y: &mut [F]) {
        let (w_t, bias) = self.row_weights(p);
        project_rows(x, &w_t, &bias, y);
    }

    /// [`Linear::backward`] for a narrow input: `dW` and `db` from one pass over `dy`,
    /// summed in blocks of rows so that no sum runs over more than a block plus the blocks.
    fn backward_narrow<F: Float>(&self, x: &[F], dy: &[F], grads: &mut Params<F>) {
        const BLOCK: usize = 256;
        let (fan_in, fan_out) = (self.fan_in, self.fan_out);
        // Rows `0..in` of the two accumulators are dWᵀ, row `in` is db.
        let width = (fan_in + 1) * fan_out;
        let (mut total, mut part) = (vec![F::zero(); width], vec![F::zero(); width]);
        let rows = dy
            .chunks_exact(fan_out * BLOCK)
            .zip(x.chunks_exact(fan_in * BLOCK));
        let tail = (
            dy.chunks_exact(fan_out * BLOCK).remainder(),
            x.chunks_exact(fan_in * BLOCK).remainder(),
        );
        for (dy, x) in rows.chain(std::iter::once(tail)) {
            part.fill(F::zero());
            for (d, x) in dy.chunks_exact(fan_out).zip(x.chunks_exact(fan_in)) {
                let (dw, db) = part.split_at_mut(fan_in * fan_out);
                crate::kernels::simd::wide(
                    #[inline(always)]
                    || {
                        for (&xk, acc) in x.iter().zip(dw.chunks_exact_mut(fan_out)) {
                            axpy(acc, xk, d);
                        }
                        add_row(db, d);
                    },
                );
            }
            crate::kernels::simd::wide(
                #[inline(always)]
                || add_row(&mut total, &part),
            );
        }
        let (dw_t, db) = total.split_at(fan_in * fan_out);
        let dw_t = ndarray::ArrayView2::from_shape((fan_in, fan_out), dw_t).expect("in × out");
        let mut dw = grads.matrix_mut(self.weight);
        dw += &dw_t.t();
        if self.bias.is_some() {
            self.add_bias_grad(grads, db);
        }
    }

    fn add_bias<F: Float>(&self, p: &Params<F>, mut y: ArrayViewMut2<F>) {
        if let Some(b) = self.bias {
            let b = p.vector(b);
            match (y.as_slice_mut(), b.as_slice()) {
                (Some(y), Some(b)) => crate::kernels::simd::wide(
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

/// `y_r = b + Σ_k x_rk·w_t[k]` for the rows of `x [R, in]` and `y [R, out]` (flattened), with
/// `w_t = Wᵀ [in, out]`: an affine map of narrow inputs row by row.
pub fn project_rows<F: Float>(x: &[F], w_t: &Array2<F>, bias: &[F], y: &mut [F]) {
    let (fan_in, fan_out) = w_t.dim();
    let w_t = w_t.as_slice().expect("standard layout");
    for (y, x) in y.chunks_exact_mut(fan_out).zip(x.chunks_exact(fan_in)) {
        crate::kernels::simd::wide(
            #[inline(always)]
            || {
                y.copy_from_slice(bias);
                for (&xk, w) in x.iter().zip(w_t.chunks_exact(fan_out)) {
                    axpy(y, xk, w);
                }
            },
        );
    }
}

/// `acc += Σ_r rows[r]` over the rows of a flattened `[R, acc.len()]` block, at full vector
/// width: a bias gradient.
pub fn sum_rows<F: Float>(acc: &mut [F], rows: &[F]) {
    crate::kernels::simd::wide(
        #[inline(always)]
        || {
            for row in rows.chunks_exact(acc.len()) {
                add_row(acc, row);
            }
        },
    );
}

/// Inputs up to this width take [`Linear`]'s row-by-row path instead of a GEMM.
const NARROW: usize = 4;

/// `acc += a·x`, for equal-length slices.
#[inline(always)]
fn axpy<F: Float>(acc: &mut [F], a: F, x: &[F]) {
    for (s, &v) in acc.iter_mut().zip(x) {
        *s += a * v;
    }
}

/// `acc += row`, for equal-length slices (a separate function so the two cannot alias).
#[inline(always)]
fn add_row<F: Float>(acc: &mut [F], row: &[F]) {
    for (a, &r) in acc.iter_mut().zip(row) {
        *a += r;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    /// The narrow path against the sums written out in f64, over a row count that leaves a
    /// partial block (300 = 256 + 44), with gradients accumulated onto nonzero values.
    #[test]
    fn narrow_inputs_match_the_written_out_sums() {
        let (rows, fan_in, fan_out) = (300, 3, 5);
        assert!(fan_in <= NARROW);
        let mut layout = Layout::default();
        let lin = Linear::declare(&mut layout, "w", Some("b"), fan_in, fan_out);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let layout = Arc::new(layout);
        let p = Params::<f32>::init(layout.clone(), &mut rng);
        let mut grads = Params::<f32>::init(layout, &mut rng);
        let (w0, b0) = (
            grads.matrix(lin.weight).to_owned(),
            grads.vector(lin.bias.unwrap()).to_owned(),
        );
        let x = Array2::from_shape_fn((rows, fan_in), |_| rng.random_range(-1.0f32..1.0));
        let dy = Array2::from_shape_fn((rows, fan_out), |_| rng.random_range(-1.0f32..1.0));

        let mut y = Array2::zeros((rows, fan_out));
        lin.forward(&p, x.view(), y.view_mut());
        lin.backward(x.view(), dy.view(), &mut grads);

        let (w, b) = (p.matrix(lin.weight), p.vector(lin.bias.unwrap()));
        let f = |v: f32| f64::from(v);
        for r in 0..rows {
            for o in 0..fan_out {
                let want = f(b[o])
                    + (0..fan_in)
                        .map(|k| f(x[[r, k]]) * f(w[[o, k]]))
                        .sum::<f64>();
                assert!((f(y[[r, o]]) - want).abs() < 1e-6, "y[{r},{o}]");
            }
        }
        for o in 0..fan_out {
            let db = (0..rows).map(|r| f(dy[[r, o]])).sum::<f64>();
            let got = f(grads.vector(lin.bias.unwrap())[o]) - f(b0[o]);
            assert!((got - db).abs() < 1e-4, "db[{o}]: {got} vs {db}");
            for k in 0..fan_in {
                let dw = (0..rows).map(|r| f(dy[[r, o]]) * f(x[[r, k]])).sum::<f64>();
                let got = f(grads.matrix(lin.weight)[[o, k]]) - f(w0[[o, k]]);
                assert!((got - dw).abs() < 1e-4, "dW[{o},{k}]: {got} vs {dw}");
            }
        }
    }
}
