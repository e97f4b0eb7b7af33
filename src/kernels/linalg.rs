//! Small dense linear algebra the cells need once per pass, not per step: LU factorisation with
//! partial pivoting, solves and inverses from it (the Cayley cell's `(I + S)⁻¹`), and the
//! orthogonal polar factor by Newton's iteration (the Cayley cell's initialisation); and the
//! eigenvalues of a general matrix by LAPACK (spectra of trained recurrent matrices).
//! Matrices are row-major `Array2` in standard layout; row operations are contiguous slices.

use std::ffi::{c_char, c_int};

use ndarray::{Array2, ArrayView2, Zip};

use crate::kernels::float::Float;

/// A zero (or non-finite) pivot: the matrix is singular to working precision, or holds NaN/∞.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Singular {
    /// Elimination step at which no usable pivot was found.
    pub step: usize,
}

impl std::fmt::Display for Singular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "singular matrix (no usable pivot at step {})", self.step)
    }
}

impl std::error::Error for Singular {}

/// Factors `a [n, n]` in place as `P·a = L·U` (Doolittle, partial pivoting): on return `a` holds
/// `U` on and above the diagonal and the unit-lower `L` below it; `piv[k]` is the row swapped
/// with row `k` at step `k`.
pub fn lu_factor<F: Float>(a: &mut Array2<F>, piv: &mut [usize]) -> Result<(), Singular> {
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "lu_factor needs a square matrix");
    assert_eq!(piv.len(), n, "one pivot a row");
    let data = a.as_slice_mut().expect("standard layout");
    for k in 0..n {
        let (mut p, mut best) = (k, data[k * n + k].abs());
        for i in k + 1..n {
            let v = data[i * n + k].abs();
            if v > best {
                (p, best) = (i, v);
            }
        }
        if best == F::zero() || !best.is_finite() {
            return Err(Singular { step: k });
        }
        piv[k] = p;
        if p != k {
            let (top, bottom) = data.split_at_mut(p * n);
            top[k * n..(k + 1) * n].swap_with_slice(&mut bottom[..n]);
        }
        let (top, bottom) = data.split_at_mut((k + 1) * n);
        let row_k = &top[k * n..];
        let inv_pivot = F::one() / row_k[k];
        for row in bottom.chunks_exact_mut(n) {
            let l = row[k] * inv_pivot;
            row[k] = l;
            if l != F::zero() {
                for (x, &u) in row[k + 1..].iter_mut().zip(&row_k[k + 1..]) {
                    *x -= l * u;
                }
            }
        }
    }
    Ok(())
}

/// Solves `A·X = B` in place (`b [n, m]` becomes `X`), `lu` and `piv` from [`lu_factor`] of `A`.
pub fn lu_solve<F: Float>(lu: &Array2<F>, piv: &[usize], b: &mut Array2<F>) {
    let n = lu.nrows();
    assert_eq!(b.nrows(), n, "right-hand side rows");
    let m = b.ncols();
    let l = lu.as_slice().expect("standard layout");
    let x = b.as_slice_mut().expect("standard layout");
    for (k, &p) in piv.iter().enumerate() {
        if p != k {
            let (top, bottom) = x.split_at_mut(p * m);
            top[k * m..(k + 1) * m].swap_with_slice(&mut bottom[..m]);
        }
    }
    // L·Y = P·B, top down: row i −= L[i,k]·row k.
    for i in 1..n {
        let (done, rest) = x.split_at_mut(i * m);
        let row = &mut rest[..m];
        for (k, done_row) in done.chunks_exact(m).enumerate() {
            let c = l[i * n + k];
            if c != F::zero() {
                row.iter_mut().zip(done_row).for_each(|(r, &y)| *r -= c * y);
            }
        }
    }
    // U·X = Y, bottom up.
    for i in (0..n).rev() {
        let (head, done) = x.split_at_mut((i + 1) * m);
        let row = &mut head[i * m..];
        for (j, done_row) in done.chunks_exact(m).enumerate() {
            let c = l[i * n + i + 1 + j];
            if c != F::zero() {
                row.iter_mut().zip(done_row).for_each(|(r, &y)| *r -= c * y);
            }
        }
        let d = F::one() / l[i * n + i];
        row.iter_mut().for_each(|r| *r *= d);
    }
}

/// `out ← a⁻¹` through the caller's scratch `lu [n, n]` and `piv [n]` (no allocation).
pub fn invert_into<F: Float>(
    a: ArrayView2<F>,
    lu: &mut Array2<F>,
    piv: &mut [usize],
    out: &mut Array2<F>,
) -> Result<(), Singular> {
    lu.assign(&a);
    lu_factor(lu, piv)?;
    out.fill(F::zero());
    out.diag_mut().fill(F::one());
    lu_solve(lu, piv, out);
    Ok(())
}

/// `a⁻¹` (allocates).
pub fn inverse<F: Float>(a: ArrayView2<F>) -> Result<Array2<F>, Singular> {
    let n = a.nrows();
    let (mut lu, mut out) = (Array2::zeros((n, n)), Array2::zeros((n, n)));
    invert_into(a, &mut lu, &mut vec![0; n], &mut out)?;
    Ok(out)
}

/// The orthogonal polar factor `Q` of a square `a = Q·H` (`H` symmetric positive definite), the
/// `U·Vᵀ` of `a = U·Σ·Vᵀ`, by Newton's iteration `X ← (ζX + (ζX)⁻ᵀ)/2` from `X = a`, with
/// Higham's Frobenius-norm scaling `ζ = (‖X⁻¹‖/‖X‖)^{1/2}` while far from convergence
/// (N. J. Higham, *Functions of Matrices*, 2008, §8.6). Converges quadratically for every
/// invertible `a`; fails only if `a` is singular to working precision.
pub fn polar<F: Float>(a: ArrayView2<F>) -> Result<Array2<F>, Singular> {
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "polar needs a square matrix");
    let frob = |m: &Array2<F>| m.iter().fold(F::zero(), |s, &v| s + v * v).sqrt();
    let tol = F::epsilon() * F::of(10.0 * (n.max(1) as f64).sqrt());
    let mut x = a.to_owned();
    let (mut lu, mut inv) = (Array2::zeros((n, n)), Array2::zeros((n, n)));
    let mut piv = vec![0; n];
    let mut scale = true;
    for _ in 0..100 {
        invert_into(x.view(), &mut lu, &mut piv, &mut inv)?;
        let zeta = if scale {
            (frob(&inv) / frob(&x)).sqrt()
        } else {
            F::one()
        };
        let half = F::of(0.5);
        let mut change = F::zero();
        Zip::from(&mut x).and(&inv.t()).for_each(|x, &it| {
            let next = half * (zeta * *x + it / zeta);
            change += (next - *x) * (next - *x);
            *x = next;
        });
        let change = change.sqrt() / frob(&x);
        // Scaling only helps far from the solution; near it, it slows the quadratic phase.
        if change < F::of(1e-2) {
            scale = false;
        }
        if change <= tol {
            break;
        }
    }
    Ok(x)
}

unsafe extern "C" {
    /// LAPACK's general real eigensolver, from the system OpenBLAS (Debian's build exports
    /// LAPACK). Fortran ABI: every argument by pointer, column-major, and gfortran's hidden
    /// lengths of the two `CHARACTER` arguments last (omitting them is undefined behaviour).
    fn dgeev_(
        jobvl: *const c_char,
        jobvr: *const c_char,
        n: *const c_int,
        a: *mut f64,
        lda: *const c_int,
        wr: *mut f64,
        wi: *mut f64,
        vl: *mut f64,
        ldvl: *const c_int,
        vr: *mut f64,
        ldvr: *const c_int,
        work: *mut f64,
        lwork: *const c_int,
        info: *mut c_int,
        jobvl_len: usize,
        jobvr_len: usize,
    );
}

/// Why [`eigenvalues`] has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EigenError {
    /// The matrix holds NaN or ∞ (LAPACK's result would be meaningless).
    NonFinite,
    /// `dgeev` returned `info ≠ 0`: `< 0` an illegal argument `-info`, `> 0` the QR
    /// algorithm did not converge (only eigenvalues `info+1..n` were computed).
    Lapack { info: i32 },
}

impl std::fmt::Display for EigenError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            EigenError::NonFinite => write!(f, "matrix has non-finite entries"),
            EigenError::Lapack { info } if *info < 0 => {
                write!(f, "LAPACK dgeev: illegal argument {}", -info)
            }
            EigenError::Lapack { info } => {
                write!(
                    f,
                    "LAPACK dgeev: QR algorithm did not converge (info = {info})"
                )
            }
        }
    }
}

impl std::error::Error for EigenError {}

/// Eigenvalues `(re, im)` of a square real `a [n, n]`, in LAPACK's order (conjugate pairs
/// adjacent, positive imaginary part first).
pub fn eigenvalues(a: ArrayView2<f64>) -> Result<Vec<(f64, f64)>, EigenError> {
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "eigenvalues needs a square matrix");
    if !a.iter().all(|v| v.is_finite()) {
        return Err(EigenError::NonFinite);
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    // Row-major `a` read column-major is `aᵀ`, which has the same eigenvalues.
    let mut data: Vec<f64> = a.iter().copied().collect();
    let (mut wr, mut wi) = (vec![0.0; n], vec![0.0; n]);
    let no = b'N' as c_char;
    let n_int = c_int::try_from(n).expect("matrix order fits LAPACK's 32-bit integers");
    let one: c_int = 1;
    let mut info: c_int = 0;
    let mut dgeev = |work: &mut [f64], lwork: c_int, data: &mut [f64]| {
        // SAFETY: `data` holds n·n values with leading dimension n, `wr`/`wi` n each, `work`
        // at least `max(1, lwork)`; no eigenvectors are asked for, so `vl`/`vr` (leading
        // dimension 1) are never touched.
        unsafe {
            dgeev_(
                &no,
                &no,
                &n_int,
                data.as_mut_ptr(),
                &n_int,
                wr.as_mut_ptr(),
                wi.as_mut_ptr(),
                std::ptr::null_mut(),
                &one,
                std::ptr::null_mut(),
                &one,
                work.as_mut_ptr(),
                &lwork,
                &mut info,
                1,
                1,
            )
        }
        info
    };
    // Workspace query: with lwork = -1, dgeev only writes the optimal size to work[0].
    let mut size = [0.0];
    match dgeev(&mut size, -1, &mut data) {
        0 => {}
        info => return Err(EigenError::Lapack { info }),
    }
    let lwork = (size[0] as usize).max(3 * n);
    let mut work = vec![0.0; lwork];
    let lwork = c_int::try_from(lwork).expect("workspace fits LAPACK's 32-bit integers");
    match dgeev(&mut work, lwork, &mut data) {
        0 => Ok(wr.into_iter().zip(wi).collect()),
        info => Err(EigenError::Lapack { info }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::gemm;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, m: usize, seed: u64) -> Array2<f64> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        Array2::from_shape_fn((n, m), |_| rng.random_range(-1.0..1.0))
    }

    fn max_abs(a: &Array2<f64>) -> f64 {
        a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
    }

    #[test]
    fn lu_solve_inverts_a_pivoting_system() {
        // A zero leading entry forces a row swap at the first step.
        let mut a = random(7, 7, 1);
        a[[0, 0]] = 0.0;
        let x = random(7, 3, 2);
        let b = a.dot(&x);
        let mut lu = a.clone();
        let mut piv = vec![0; 7];
        lu_factor(&mut lu, &mut piv).unwrap();
        let mut sol = b.clone();
        lu_solve(&lu, &piv, &mut sol);
        assert!(max_abs(&(&sol - &x)) < 1e-12, "{sol} vs {x}");
        let inv = inverse(a.view()).unwrap();
        let mut id = Array2::zeros((7, 7));
        gemm(1.0, &a, &inv, 0.0, &mut id);
        assert!(max_abs(&(&id - &Array2::<f64>::eye(7))) < 1e-12);
    }

    #[test]
    fn singular_matrices_are_reported() {
        let mut a = random(4, 4, 3);
        let r = a.row(1).to_owned();
        a.row_mut(2).assign(&(&r * 2.0));
        a.row_mut(3).fill(0.0);
        assert!(inverse(a.view()).is_err());
        assert!(inverse(Array2::<f64>::from_elem((2, 2), f64::NAN).view()).is_err());
    }

    #[test]
    fn polar_factor_is_orthogonal_with_a_positive_symmetric_cofactor() {
        // A Gaussian-like matrix with a wide singular spread, as the Cayley init draws.
        let mut a = random(40, 40, 4);
        a.row_mut(0).mapv_inplace(|v| v * 1e-4);
        let q = polar(a.view()).unwrap();
        assert!(max_abs(&(&q.t().dot(&q) - &Array2::<f64>::eye(40))) < 1e-12);
        // a = Q·H with H = Qᵀ·a symmetric positive definite characterises the polar factor.
        let h = q.t().dot(&a);
        assert!(max_abs(&(&h - &h.t())) < 1e-10);
        // Positive definite: a Cholesky factorisation of its symmetric part exists.
        let h = (&h + &h.t()) * 0.5;
        let mut l = Array2::<f64>::zeros((40, 40));
        for j in 0..40 {
            let d = h[[j, j]] - (0..j).map(|k| l[[j, k]] * l[[j, k]]).sum::<f64>();
            assert!(d > 0.0, "H is not positive definite (pivot {j}: {d})");
            l[[j, j]] = d.sqrt();
            for i in j + 1..40 {
                let s = h[[i, j]] - (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum::<f64>();
                l[[i, j]] = s / l[[j, j]];
            }
        }
        // Scale-free: the factor of c·a is that of a.
        let q2 = polar((&a * 37.0).view()).unwrap();
        assert!(max_abs(&(&q2 - &q)) < 1e-12);
    }

    /// Sorted by real, then imaginary part, for comparisons that ignore LAPACK's order.
    fn sorted(mut v: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    }

    #[test]
    fn eigenvalues_of_a_rotation_generator_are_imaginary() {
        let a = ndarray::array![[0.0, -2.0], [2.0, 0.0]];
        let e = sorted(eigenvalues(a.view()).unwrap());
        assert_eq!(e.len(), 2);
        for ((re, im), want) in e.into_iter().zip([-2.0, 2.0]) {
            assert!(
                re.abs() < 1e-12 && (im - want).abs() < 1e-12,
                "{re} + {im}i"
            );
        }
    }

    #[test]
    fn eigenvalues_of_a_triangular_matrix_are_its_diagonal() {
        let mut a = random(6, 6, 5);
        for i in 0..6 {
            a.row_mut(i).slice_mut(ndarray::s![..i]).fill(0.0);
        }
        let e = sorted(eigenvalues(a.view()).unwrap());
        let mut diag: Vec<f64> = a.diag().to_vec();
        diag.sort_by(|x, y| x.partial_cmp(y).unwrap());
        for ((re, im), d) in e.into_iter().zip(diag) {
            assert!(
                (re - d).abs() < 1e-12 && im.abs() < 1e-12,
                "{re} + {im}i vs {d}"
            );
        }
    }

    #[test]
    fn eigenvalues_of_a_symmetric_matrix_are_real_and_sum_to_the_trace() {
        let r = random(30, 30, 6);
        let a = &r + &r.t();
        let e = eigenvalues(a.view()).unwrap();
        assert_eq!(e.len(), 30);
        assert!(e.iter().all(|&(_, im)| im.abs() < 1e-10), "{e:?}");
        let sum: f64 = e.iter().map(|&(re, _)| re).sum();
        assert!(
            (sum - a.diag().sum()).abs() < 1e-10,
            "{sum} vs {}",
            a.diag().sum()
        );
    }

    #[test]
    fn eigenvalues_reject_non_finite_and_accept_empty() {
        let a = Array2::from_elem((2, 2), f64::NAN);
        assert_eq!(eigenvalues(a.view()), Err(EigenError::NonFinite));
        assert_eq!(eigenvalues(Array2::zeros((0, 0)).view()), Ok(vec![]));
    }
}
