//! The GEMM every cell calls, `C ← α·A·B + β·C` on 2-D views of any strides, dispatched at
//! run time to OpenBLAS (through ndarray) or to the pure-Rust `matrixmultiply` kernels
//! (AVX-512/AVX2/FMA detected at run time). Which is faster depends on the machine: the
//! OpenBLAS 0.3.21 of Debian 12 picks its SSE3 "Prescott" kernel on this CPU unless
//! `OPENBLAS_CORETYPE` names it, so `lrnn bench` measures both.

use std::sync::atomic::{AtomicU8, Ordering};

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayBase, Data, DataMut, Ix2};
use serde::{Deserialize, Serialize};

use crate::float::Float;

/// A GEMM implementation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The system OpenBLAS (multithreaded; see `blas::set_threads`).
    #[default]
    Openblas,
    /// `matrixmultiply`, single-threaded here (parallelism comes from batch shards).
    Matrixmultiply,
}

static BACKEND: AtomicU8 = AtomicU8::new(0);

/// Selects the backend for every later GEMM in the process.
pub fn set_backend(b: Backend) {
    BACKEND.store(b as u8, Ordering::Relaxed);
}

pub fn backend() -> Backend {
    match BACKEND.load(Ordering::Relaxed) {
        0 => Backend::Openblas,
        _ => Backend::Matrixmultiply,
    }
}

/// A description of the backend in use, for run records and benchmarks.
pub fn describe() -> String {
    match backend() {
        Backend::Openblas => format!(
            "openblas ({}; {} threads)",
            crate::blas::config(),
            crate::blas::threads()
        ),
        Backend::Matrixmultiply => {
            "matrixmultiply 0.3 (avx512 feature, runtime SIMD detection)".into()
        }
    }
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
        Backend::Matrixmultiply => {
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
