//! Element-wise pieces the recurrent cells share (fused tanh steps and their backward, the
//! logistic gate) and the weight gradient of a recurrence summed over many steps as one GEMM.
//! Every `[B, N]` argument is one step of a time-major buffer; nothing here allocates.

use crate::kernels::gemm::{gemm, gemm_cat};
use ndarray::{ArrayView2, ArrayViewMut2};

use crate::kernels::float::Float;
use crate::net::nn::{flat, flat_mut};

/// The logistic function `σ(x) = 1 / (1 + e^{−x}) = (1 + tanh(x/2)) / 2`: the tanh form
/// never overflows and shares the fast f32 tanh.
#[inline]
pub fn sigmoid<F: Float>(x: F) -> F {
    let half = F::of(0.5);
    half * (F::one() + (half * x).act_tanh())
}

/// `σ'` in terms of the output: `s·(1 − s)` for `s = σ(x)`.
#[inline]
pub fn sigmoid_grad<F: Float>(s: F) -> F {
    s * (F::one() - s)
}

/// `tanh'` in terms of the output: `1 − t²` for `t = tanh(x)`.
#[inline]
pub fn tanh_grad<F: Float>(t: F) -> F {
    F::one() - t * t
}

/// `x`, or 0 when `|x|` is below 2²⁴ × the smallest normal float (≈2e-31 in f32). Gradients
/// that vanish over a long BPTT otherwise decay into subnormals, which slow every GEMM reading
/// them ~10× (an LSTM backward at N = 128, T = 784: 20 s → 3.5 s); the flush keeps GEMM inputs
/// and their products with weights ≥ 2⁻²⁴ normal, and is far below any gradient that matters.
#[inline]
pub fn flush_tiny<F: Float>(x: F) -> F {
    if x.abs() < F::min_positive_value() * F::of(16_777_216.0) {
        F::zero()
    } else {
        x
    }
}

/// Sets flush-to-zero and denormals-are-zero on the calling thread (x86-64), so subnormal
/// intermediates cost nothing; the training threads call it, OpenBLAS's own threads (started
/// before `main`) are covered by [`flush_tiny`] on the GEMM inputs instead.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(deprecated)]
        // SAFETY: only sets the FTZ (bit 15) and DAZ (bit 6) bits of this thread's MXCSR.
        unsafe {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            _mm_setcsr(_mm_getcsr() | 0x8040);
        }
    }
}

/// [`flush_tiny`] of every entry, `[B, N]`.
pub fn flush_all<F: Float>(mut x: ArrayViewMut2<F>) {
    let x = flat_mut(&mut x);
    crate::kernels::simd::wide(
        #[inline(always)]
        || x.iter_mut().for_each(|v| *v = flush_tiny(*v)),
    );
}

/// One residual tanh step once `pre = h·W` is computed: `a = tanh(pre + z)`, `out = base + step·a`
/// (`h_{t+1} = h_t + ε·tanh(h_t·W + z_t)` with `base = h_t`); all `[B, N]`.
pub fn tanh_step<F: Float>(
    base: ArrayView2<F>,
    pre: ArrayView2<F>,
    z: ArrayView2<F>,
    mut a: ArrayViewMut2<F>,
    mut out: ArrayViewMut2<F>,
    step: F,
) {
    let (base, pre, z) = (flat(&base), flat(&pre), flat(&z));
    let (a, out) = (flat_mut(&mut a), flat_mut(&mut out));
    crate::kernels::simd::wide(
        #[inline(always)]
        || tanh_step_flat(base, pre, z, a, out, step),
    );
}

#[inline(always)]
fn tanh_step_flat<F: Float>(base: &[F], pre: &[F], z: &[F], a: &mut [F], out: &mut [F], step: F) {
    let n = out.len();
    let (base, pre, z, a) = (&base[..n], &pre[..n], &z[..n], &mut a[..n]);
    for j in 0..n {
        let t = (pre[j] + z[j]).act_tanh();
        a[j] = t;
        out[j] = base[j] + step * t;
    }
}

/// `out = tanh(pre + z)`, `[B, N]`: the step `h_{t+1} = tanh(h_t·W + z_t)` once `h_t·W` is in
/// `pre`, a scratch buffer in cache; a product written straight into the tape's fresh slot
/// stalls on that memory, and the tanh would then rewrite it.
pub fn tanh_sum<F: Float>(pre: ArrayView2<F>, z: ArrayView2<F>, mut out: ArrayViewMut2<F>) {
    let (pre, z, out) = (flat(&pre), flat(&z), flat_mut(&mut out));
    crate::kernels::simd::wide(
        #[inline(always)]
        || tanh_sum_flat(pre, z, out),
    );
}

#[inline(always)]
fn tanh_sum_flat<F: Float>(pre: &[F], z: &[F], out: &mut [F]) {
    let n = out.len();
    let (pre, z) = (&pre[..n], &z[..n]);
    for j in 0..n {
        out[j] = (pre[j] + z[j]).act_tanh();
    }
}

/// Backward of [`tanh_step`] / [`tanh_sum`] for dL/d(out) `d`: the gradient at the
/// pre-activation `h·W + z`, `g = step·d⊙(1 − a²)` (`step = 1` for `tanh_sum`, `a` its output),
/// [`flush_tiny`]-ed.
pub fn tanh_back<F: Float>(d: ArrayView2<F>, a: ArrayView2<F>, mut g: ArrayViewMut2<F>, step: F) {
    let (d, a, g) = (flat(&d), flat(&a), flat_mut(&mut g));
    crate::kernels::simd::wide(
        #[inline(always)]
        || {
            for ((g, &d), &a) in g.iter_mut().zip(d).zip(a) {
                *g = flush_tiny(step * d * tanh_grad(a));
            }
        },
    );
}

/// `dW ← β·dW + Σ_t x_tᵀ·g_t`, the gradient of every step's product `x_t·W`, as one GEMM over
/// the whole sequence: `xs [T·B, K]` the left operands, `gs [T·B, M]` the gradients at the
/// products, `dw [K, M]`.
pub fn weight_grad<F: Float>(
    xs: ArrayView2<F>,
    gs: ArrayView2<F>,
    beta: F,
    dw: &mut ArrayViewMut2<F>,
) {
    gemm(F::one(), &xs.t(), &gs, beta, dw);
}

/// [`weight_grad`] for several products of the same `xs`, `x_t·[W_0 | W_1 | …]`:
/// `dw [K, M·blocks]` gets `Σ_t x_tᵀ·[g_0 | g_1 | …]_t` and `xs` is read once.
pub fn weight_grads<F: Float>(
    xs: ArrayView2<F>,
    gs: &[ArrayView2<F>],
    beta: F,
    dw: &mut ArrayViewMut2<F>,
) {
    gemm_cat(F::one(), &xs.t(), gs, beta, dw);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_at_both_ends() {
        assert_eq!(sigmoid(0.0f64), 0.5);
        assert!((sigmoid(2.0f64) - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
        assert!((sigmoid(-2.0f64) + sigmoid(2.0f64) - 1.0).abs() < 1e-15);
        assert_eq!(sigmoid(-1000.0f32), 0.0);
        assert_eq!(sigmoid(1000.0f32), 1.0);
    }

    #[test]
    fn derivatives_from_outputs_match_finite_differences() {
        let h = 1e-6;
        for x in [-3.0f64, -0.4, 0.0, 0.7, 2.5] {
            let ds = (sigmoid(x + h) - sigmoid(x - h)) / (2.0 * h);
            let dt = ((x + h).tanh() - (x - h).tanh()) / (2.0 * h);
            assert!((sigmoid_grad(sigmoid(x)) - ds).abs() < 1e-9);
            assert!((tanh_grad(x.tanh()) - dt).abs() < 1e-9);
        }
    }
}
