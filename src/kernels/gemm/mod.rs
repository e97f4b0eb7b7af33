//! The GEMM every cell calls, `C ← α·A·B + β·C` on 2-D views of any strides, dispatched at
//! run time to OpenBLAS (through ndarray) or to the pure-Rust `matrixmultiply` kernels
//! (AVX-512/AVX2/FMA detected at run time), and [`Packed`], a right-hand operand that a
//! recurrence multiplies by once a step, which the `avx512` backend packs once a pass for its
//! own kernel ([`avx512`]). Which is faster depends on the machine: the OpenBLAS 0.3.21 of
//! Debian 12 picks its SSE3 "Prescott" kernel on this CPU unless `OPENBLAS_CORETYPE` names
//! it, so `lrnn bench` measures all three.

use std::any::TypeId;
use std::sync::atomic::{AtomicU8, Ordering};

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayBase, ArrayView2, ArrayViewMut2, Data, DataMut, Ix2, s};
use serde::{Deserialize, Serialize};

use crate::kernels::float::Float;

#[cfg(target_arch = "x86_64")]
pub mod amx;
#[cfg(target_arch = "x86_64")]
pub mod avx512;

/// A GEMM implementation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The system OpenBLAS (multithreaded; see `blas::set_threads`).
    #[default]
    Openblas,
    /// `matrixmultiply`, single-threaded here (parallelism comes from batch shards).
    Matrixmultiply,
    /// `matrixmultiply`, except that f32 products by a [`Packed`] recurrent weight, and long
    /// weight-gradient products (see `long_avx512`), run this crate's AVX-512 kernel (where
    /// the CPU has AVX-512F; else `matrixmultiply` throughout).
    Avx512,
    /// `avx512`, except that those f32 products run on the AMX tile unit as three bf16
    /// products with f32 accumulation (PyTorch's float32 matmul precision "high"; error
    /// ~10⁻⁶ of `Σ|a·b|`, see [`amx`]), where the CPU has AMX-BF16; else as `avx512`.
    Amx,
}

impl Backend {
    /// Every backend, in declaration order: the process-wide choice is stored as an index here.
    pub const ALL: [Backend; 4] = [
        Backend::Openblas,
        Backend::Matrixmultiply,
        Backend::Avx512,
        Backend::Amx,
    ];
}

/// Index into [`Backend::ALL`] of the process-wide backend (0, OpenBLAS, by default).
static BACKEND: AtomicU8 = AtomicU8::new(0);

/// Selects the backend for every later GEMM in the process.
pub fn set_backend(b: Backend) {
    let i = Backend::ALL
        .iter()
        .position(|&x| x == b)
        .expect("listed in Backend::ALL");
    BACKEND.store(i as u8, Ordering::Relaxed);
}

std::thread_local! {
    /// A backend for this thread alone, set by [`with_backend`].
    static SCOPED: std::cell::Cell<Option<Backend>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with `b` as this thread's backend, whatever the process-wide one is: tests of
/// one backend, without changing the GEMMs of tests that run beside them.
pub fn with_backend<R>(b: Backend, f: impl FnOnce() -> R) -> R {
    let before = SCOPED.replace(Some(b));
    let out = f();
    SCOPED.set(before);
    out
}

pub fn backend() -> Backend {
    if let Some(b) = SCOPED.get() {
        return b;
    }
    Backend::ALL[BACKEND.load(Ordering::Relaxed) as usize]
}

/// A description of the backend in use, for run records and benchmarks.
pub fn describe() -> String {
    match backend() {
        Backend::Openblas => format!(
            "openblas ({}; {} threads)",
            crate::kernels::blas::config(),
            crate::kernels::blas::threads()
        ),
        Backend::Matrixmultiply => MATRIXMULTIPLY.into(),
        Backend::Avx512 if avx512_kernel() => {
            format!("lrnn avx512 kernel for packed recurrent weights, else {MATRIXMULTIPLY}")
        }
        Backend::Amx if amx_kernel() => format!(
            "lrnn amx bf16x3 kernel for packed recurrent weights and weight gradients, else {MATRIXMULTIPLY}"
        ),
        Backend::Amx if avx512_kernel() => format!(
            "lrnn avx512 kernel (no AMX-BF16 on this CPU) for packed recurrent weights, else {MATRIXMULTIPLY}"
        ),
        Backend::Avx512 | Backend::Amx => {
            format!("{MATRIXMULTIPLY}; no AVX-512F on this CPU for lrnn's kernel")
        }
    }
}

const MATRIXMULTIPLY: &str = "matrixmultiply 0.3 (avx512 feature, runtime SIMD detection)";

/// Whether [`Packed`] products of f32 run the AVX-512 kernel: the backend asks for it and the CPU has it.
fn avx512_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        matches!(backend(), Backend::Avx512 | Backend::Amx) && avx512::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether those products run on AMX tiles instead: the backend asks for it and the CPU has it.
fn amx_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        backend() == Backend::Amx && amx::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `c ← alpha·a·b + beta·c`; `c` need not be initialised when `beta` is zero.
pub fn gemm<F, S1, S2, S3>(
    alpha: F,
    a: &ArrayBase<S1, Ix2>,
    b: &ArrayBase<S2, Ix2>,
    beta: F,
    c: &mut ArrayBase<S3, Ix2>,
) where
    F: Float,
    S1: Data<Elem = F>,
    S2: Data<Elem = F>,
    S3: DataMut<Elem = F>,
{
    match backend() {
        Backend::Openblas => general_mat_mul(alpha, a, b, beta, c),
        Backend::Avx512 | Backend::Amx if long_avx512(a, b, c) => {
            long(alpha, a, &[b.view()], beta, c)
        }
        Backend::Matrixmultiply | Backend::Avx512 | Backend::Amx => {
            let ((m, k), (k2, n)) = (a.dim(), b.dim());
            assert!(
                k == k2 && c.dim() == (m, n),
                "gemm shapes {:?}·{:?} → {:?}",
                a.dim(),
                b.dim(),
                c.dim()
            );
            let (sa, sb) = (a.strides(), b.strides());
            let (sc0, sc1) = (c.strides()[0], c.strides()[1]);
            // SAFETY: the pointers and strides describe live ndarray views of the stated shapes,
            // and `c` is borrowed mutably, so it aliases neither input.
            unsafe {
                F::raw_gemm(
                    m,
                    k,
                    n,
                    alpha,
                    (a.as_ptr(), sa[0], sa[1]),
                    (b.as_ptr(), sb[0], sb[1]),
                    beta,
                    (c.as_mut_ptr(), sc0, sc1),
                );
            }
        }
    }
}

/// `c ← alpha·a·[b_0 | b_1 | …] + beta·c` for `b_i [k, n]` and `c [m, n·blocks]`: products
/// that share their left operand, like the weight gradients `Hᵀ·G_i` of one state sequence.
/// The `avx512` and `amx` backends pack (or split) each block of `a` once for all of them;
/// the others run one [`gemm`] a block.
pub fn gemm_cat<F: Float>(
    alpha: F,
    a: &ArrayView2<F>,
    bs: &[ArrayView2<F>],
    beta: F,
    c: &mut ArrayViewMut2<F>,
) {
    let n = bs.first().map_or(0, |b| b.ncols());
    assert!(
        bs.iter().all(|b| b.dim() == bs[0].dim()) && c.ncols() == n * bs.len(),
        "gemm_cat shapes {:?}·{:?} → {:?}",
        a.dim(),
        bs.iter().map(|b| b.dim()).collect::<Vec<_>>(),
        c.dim()
    );
    if long_avx512(a, &bs[0], &c.slice(s![.., ..n])) {
        return long(alpha, a, bs, beta, c);
    }
    for (i, b) in bs.iter().enumerate() {
        gemm(
            alpha,
            a,
            b,
            beta,
            &mut c.slice_mut(s![.., i * n..(i + 1) * n]),
        );
    }
}

/// [`amx::gemm_long`] (when the backend asks for it and α = 1, β ∈ {0, 1}) or
/// [`avx512::gemm_long`] on ndarray operands that [`long_avx512`] accepted (for each block).
fn long<F: Float, S1, S3>(
    alpha: F,
    a: &ArrayBase<S1, Ix2>,
    bs: &[ArrayView2<F>],
    beta: F,
    c: &mut ArrayBase<S3, Ix2>,
) where
    S1: Data<Elem = F>,
    S3: DataMut<Elem = F>,
{
    let ((m, k), n) = (a.dim(), bs[0].ncols());
    let f = |x: F| x.to_f32().expect("F is f32");
    let bs: Vec<_> = bs.iter().map(strided).collect();
    let (a, c) = (strided(a), (c.as_mut_ptr() as *mut f32, c.strides()[0]));
    if amx_kernel() && amx_scales(alpha, beta) {
        // SAFETY: as below.
        return unsafe { amx::gemm_long((m, k, n), a, &bs, beta == F::one(), c) };
    }
    // SAFETY: long_avx512 checked F = f32, the CPU, the shapes and the unit column stride of
    // `c`, and the caller that every block has the first one's shape; `c` is borrowed
    // mutably, so it aliases no input.
    unsafe { avx512::gemm_long((m, k, n), f(alpha), a, &bs, f(beta), c) }
}

/// Whether the AMX kernels take these scales: they compute `A·B` or `A·B + C` only.
fn amx_scales<F: Float>(alpha: F, beta: F) -> bool {
    alpha == F::one() && (beta == F::zero() || beta == F::one())
}

/// A view as the x86 kernels read it (they run only where `F` is f32).
#[cfg(target_arch = "x86_64")]
fn strided<F: Float, S: Data<Elem = F>>(v: &ArrayBase<S, Ix2>) -> avx512::Strided {
    let s = v.strides();
    avx512::Strided {
        ptr: v.as_ptr() as *const f32,
        rs: s[0],
        cs: s[1],
    }
}

/// Whether [`gemm`] sends this product to [`long`]: f32 under the `avx512` or `amx`
/// backend, `c` with unit column stride, and a `c` of at most 1024×1024 that is small next
/// to the depth (a weight gradient over all steps), which the kernel blocks only along `k`.
fn long_avx512<F: Float, S1, S2, S3>(
    a: &ArrayBase<S1, Ix2>,
    b: &ArrayBase<S2, Ix2>,
    c: &ArrayBase<S3, Ix2>,
) -> bool
where
    S1: Data<Elem = F>,
    S2: Data<Elem = F>,
    S3: Data<Elem = F>,
{
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    TypeId::of::<F>() == TypeId::of::<f32>()
        && avx512_kernel()
        && k == k2
        && k > 0
        && c.dim() == (m, n)
        && c.strides()[1] == 1
        && m <= 1024
        && n <= 1024
        && k >= m.max(n)
}

/// A right-hand operand `P [k, n]` that a recurrence multiplies by once a step (`h_t·W`,
/// `g_t·Wᵀ`): set once a pass, then [`Packed::mul`] T times. Under the `avx512` backend an f32
/// matrix is also kept packed in the kernel's panel layout, so no step repacks it.
pub struct Packed<F> {
    plain: Array2<F>,
    #[cfg(target_arch = "x86_64")]
    panels: Option<avx512::Panels>,
    #[cfg(target_arch = "x86_64")]
    tiles: Option<amx::Tiles>,
}

impl<F: Float> Packed<F> {
    pub fn zeros(k: usize, n: usize) -> Self {
        Packed {
            plain: Array2::zeros((k, n)),
            #[cfg(target_arch = "x86_64")]
            panels: None,
            #[cfg(target_arch = "x86_64")]
            tiles: None,
        }
    }

    /// The matrix as last set.
    pub fn matrix(&self) -> ArrayView2<'_, F> {
        self.plain.view()
    }

    /// Sets the matrix to `b` (any strides, e.g. a transposed view).
    pub fn assign(&mut self, b: ArrayView2<F>) {
        self.plain.assign(&b);
        self.repack();
    }

    /// Sets the matrix by writing it in place: `build` gets the `[k, n]` buffer.
    pub fn build(&mut self, build: impl FnOnce(ArrayViewMut2<F>)) {
        build(self.plain.view_mut());
        self.repack();
    }

    /// Packs for whichever kernel runs the products: AMX tiles or AVX-512 panels, not both
    /// (the few products the tiles do not take, α ≠ 1 or β ∉ {0, 1}, fall back to [`gemm`]).
    fn repack(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            let f32_kernel = TypeId::of::<F>() == TypeId::of::<f32>() && !self.plain.is_empty();
            let (k, n) = self.plain.dim();
            let b = strided(&self.plain);
            if f32_kernel && amx_kernel() {
                self.panels = None;
                // SAFETY: F is f32 and the CPU has AMX-BF16 (checked above); `plain` is
                // non-empty and `b` describes it.
                unsafe { self.tiles.get_or_insert_default().pack(b, k, n) };
            } else if f32_kernel && avx512_kernel() {
                self.tiles = None;
                // SAFETY: F is f32 and the CPU has AVX-512F; as above.
                unsafe {
                    self.panels
                        .get_or_insert_default()
                        .pack(b.ptr, k, n, b.rs, b.cs)
                };
            } else {
                (self.panels, self.tiles) = (None, None);
            }
        }
    }

    /// `c ← alpha·a·P + beta·c`; `c` need not be initialised when `beta` is zero.
    pub fn mul<S1, S3>(&self, alpha: F, a: &ArrayBase<S1, Ix2>, beta: F, c: &mut ArrayBase<S3, Ix2>)
    where
        S1: Data<Elem = F>,
        S3: DataMut<Elem = F>,
    {
        let (m, k) = a.dim();
        assert!(
            (k, c.dim()) == (self.plain.nrows(), (m, self.plain.ncols())),
            "gemm shapes {:?}·{:?} → {:?}",
            a.dim(),
            self.plain.dim(),
            c.dim()
        );
        #[cfg(target_arch = "x86_64")]
        if let Some(tiles) = self.tiles.as_ref().filter(|_| amx_kernel())
            && amx_scales(alpha, beta)
            && c.strides()[1] == 1
        {
            let c = (c.as_mut_ptr() as *mut f32, c.strides()[0]);
            // SAFETY: tiles exist only for F = f32 on a CPU with AMX-BF16; the views have the
            // checked shapes and `c` is borrowed mutably.
            return unsafe { amx::gemm_packed(m, strided(a), tiles, beta == F::one(), c) };
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(panels) = self.panels.as_ref().filter(|_| avx512_kernel())
            && (a.strides()[1], c.strides()[1]) == (1, 1)
        {
            let to_f32 = |x: F| x.to_f32().expect("F is f32");
            let (lda, ldc) = (a.strides()[0], c.strides()[0]);
            // SAFETY: panels exist only for F = f32, on a CPU with AVX-512F; the views have
            // unit column stride and the checked shapes; `c` is borrowed mutably.
            return unsafe {
                avx512::gemm_packed(
                    m,
                    to_f32(alpha),
                    a.as_ptr() as *const f32,
                    lda,
                    panels,
                    to_f32(beta),
                    c.as_mut_ptr() as *mut f32,
                    ldc,
                )
            };
        }
        gemm(alpha, a, &self.plain, beta, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};
    use rand::{Rng, SeedableRng};

    /// `Backend::ALL` lists every variant once, so the stored index names each backend.
    #[test]
    fn all_lists_every_backend() {
        use clap::ValueEnum;
        assert_eq!(Backend::ALL.as_slice(), Backend::value_variants());
    }

    fn random(rows: usize, cols: usize, rng: &mut impl Rng) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0))
    }

    /// `C` as a product finds it: `c0` where β ≠ 0, else NaN, which a product must not read.
    fn initial_c(c0: &Array2<f32>, beta: f32) -> Array2<f32> {
        if beta == 0.0 {
            Array2::from_elem(c0.dim(), f32::NAN)
        } else {
            c0.clone()
        }
    }

    /// `[c | c]` in row-major order, which `gemm_cat`'s long path needs: `concatenate!` along
    /// columns returns column-major, and the tests silently ran the one-GEMM-a-block fallback.
    fn side_by_side(c: &Array2<f32>) -> Array2<f32> {
        let n = c.ncols();
        let mut cat = Array2::zeros((c.nrows(), 2 * n));
        cat.slice_mut(s![.., ..n]).assign(c);
        cat.slice_mut(s![.., n..]).assign(c);
        cat
    }

    fn max_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
        (a - b).iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    /// The AVX-512 kernels against `matrixmultiply` in f64 on shapes with partial tiles and
    /// partial panels, strided and transposed operands, and β ∈ {0, 1, ½} (β = 0 over NaN).
    #[test]
    fn avx512_kernels_match_a_reference_product() {
        if !avx512::available() {
            eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let mut long = 0;
        for &(m, k, n) in &[
            (1, 1, 1),
            (13, 7, 33),
            (64, 128, 256),
            (25, 600, 47),
            (12, 300, 32),
        ] {
            for &beta in &[0.0f32, 1.0, 0.5] {
                // A as a column slice of a wider matrix (row stride ≠ k), P as a transpose.
                let wide = random(m, k + 5, &mut rng);
                let a = wide.slice(s![.., 2..k + 2]);
                let pt = random(n, k, &mut rng);
                let c0 = random(m, n, &mut rng);
                // 0.7·A·P + β·C0 in f64.
                let reference = |p: ArrayView2<f32>| {
                    let (a, p, c) = (a.mapv(f64::from), p.mapv(f64::from), c0.mapv(f64::from));
                    (a.dot(&p) * 0.7 + c * f64::from(beta)).mapv(|v| v as f32)
                };
                let want = reference(pt.t());
                let start = initial_c(&c0, beta);

                with_backend(Backend::Avx512, || {
                    let mut packed = Packed::zeros(k, n);
                    packed.assign(pt.t());
                    assert!(packed.panels.is_some(), "the avx512 backend packs f32");
                    let mut got = start.clone();
                    packed.mul(0.7, &a, beta, &mut got);
                    let tol = 1e-5 * k as f32;
                    assert!(max_diff(&got, &want) < tol, "packed {m}x{k}x{n} β={beta}");

                    // Long: A given transposed (unit row stride), as Hᵀ in a weight gradient.
                    let at = a.t().to_owned();
                    let p = pt.t().as_standard_layout().into_owned();
                    let mut got = start.clone();
                    if long_avx512(&at.t(), &p, &got) {
                        gemm(0.7, &at.t(), &p, beta, &mut got);
                        assert!(max_diff(&got, &want) < tol, "long {m}x{k}x{n} β={beta}");
                        long += 1;
                        // Two products sharing A, `[P | P reversed along n]`, as one.
                        let p2 = p.slice(s![.., ..;-1]);
                        let mut cat = side_by_side(&start);
                        gemm_cat(0.7, &at.t(), &[p.view(), p2], beta, &mut cat.view_mut());
                        let want2 = reference(p2);
                        for (got, want, half) in
                            [(s![.., ..n], &want, "left"), (s![.., n..], &want2, "right")]
                        {
                            let got = cat.slice(got).to_owned();
                            assert!(
                                max_diff(&got, want) < tol,
                                "cat {half} {m}x{k}x{n} β={beta}"
                            );
                        }
                    }
                });
            }
        }
        assert_eq!(long, 9, "three shapes have k ≥ m, n: three βs each");
    }

    /// The AMX bf16x3 kernels against f64, elementwise within 10⁻⁵ of `Σ_k |a·p|`: a plain
    /// bf16 product (8 mantissa bits) measured 2.8·10⁻³. Shapes with partial blocks, `k`
    /// over several 512-deep blocks and not a whole k-step, strided and reversed operands.
    #[test]
    fn amx_kernels_match_a_reference_product() {
        if !amx::available() {
            eprintln!("skipped: this CPU has no AMX-BF16 (or the OS does not allow tiles)");
            return;
        }
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        for &(m, k, n) in &[
            (1, 1, 1),
            (13, 7, 33),
            (64, 128, 256),
            (40, 1100, 70),
            (3, 600, 5),
        ] {
            for &beta in &[0.0f32, 1.0] {
                let wide = random(m, k + 5, &mut rng);
                let a = wide.slice(s![.., 2..k + 2]);
                let pt = random(n, k, &mut rng);
                let c0 = random(m, n, &mut rng);
                let check = |got: &Array2<f32>, p: ArrayView2<f32>, what: &str| {
                    let (a, p) = (a.mapv(f64::from), p.mapv(f64::from));
                    let want = a.dot(&p) + c0.mapv(f64::from) * f64::from(beta);
                    let scale = a.mapv(f64::abs).dot(&p.mapv(f64::abs));
                    let worst = ndarray::Zip::from(got)
                        .and(&want)
                        .and(&scale)
                        .fold(0f64, |w, &g, &r, &s| w.max((f64::from(g) - r).abs() / s));
                    assert!(
                        worst < 1e-5,
                        "{what} {m}x{k}x{n} β={beta}: error {worst:.2e} of Σ|a·p|"
                    );
                };
                let start = initial_c(&c0, beta);

                with_backend(Backend::Amx, || {
                    let mut packed = Packed::zeros(k, n);
                    packed.assign(pt.t());
                    assert!(
                        packed.tiles.is_some(),
                        "the amx backend packs f32 into tiles"
                    );
                    let mut got = start.clone();
                    packed.mul(1.0, &a, beta, &mut got);
                    check(&got, pt.t(), "packed");

                    let at = a.t().to_owned();
                    let p = pt.t().as_standard_layout().into_owned();
                    if long_avx512(&at.t(), &p, &got) {
                        let p2 = p.slice(s![.., ..;-1]);
                        let mut cat = side_by_side(&start);
                        gemm_cat(1.0, &at.t(), &[p.view(), p2], beta, &mut cat.view_mut());
                        check(&cat.slice(s![.., ..n]).to_owned(), p.view(), "long left");
                        check(&cat.slice(s![.., n..]).to_owned(), p2, "long right");
                    }
                });
            }
        }
    }
}
