//! Numerical kernels, the bottom layer: the float trait, SIMD dispatch, BLAS threads, small
//! dense linear algebra, Lanczos spectra of implicit operators and the GEMM backends. Nothing here knows of cells, data or runs.

pub mod blas;
pub mod float;
pub mod gemm;
pub mod lanczos;
pub mod linalg;
pub mod simd;
pub mod stats;
