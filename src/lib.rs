//! `lrnn`: Lipschitz recurrent neural networks (Erichson et al., ICLR 2021) and their
//! baselines, trained on CPU with hand-written forward and backward passes.
//!
//! Layers, bottom to top; a module imports only from its own layer and those below it
//! (`tests/layers.rs` checks this):
//!
//! | layer | modules |
//! |---|---|
//! | foundation | [`error`], [`config`] (spec-section helpers), [`io`] (atomic writes) |
//! | [`kernels`] | float, simd, blas, linalg, gemm |
//! | [`net`] | params, nn, cells, batch, model, optim |
//! | [`data`] | one file a data source or task |
//! | [`experiment`] | checkpoint, metrics, spec, runs, train, grads, bench |
//! | [`report`] | results, plot, analysis, reproduce |
//! | [`cli`] | the command line (`main.rs` calls [`cli::main`]) |

// Links the system OpenBLAS that ndarray's BLAS path calls.
use blas_src as _;

pub mod config;
pub mod error;
pub mod io;

pub mod kernels;

pub mod net;

pub mod data;

pub mod experiment;

pub mod report;

pub mod cli;

pub use error::{Error, Result};
