//! `lrnn`: Lipschitz recurrent neural networks (Erichson et al., ICLR 2021) and their
//! baselines, trained on CPU with hand-written forward and backward passes.
//!
//! Layout: `cells/` holds one file a recurrent cell; `model` wraps a cell with the shared
//! encoder/decoder and loss; `train` is the loop; `data/` one file a data source; `spec`
//! reads the TOML experiment files; `checkpoint` and `grads` are the HDF5 contracts;
//! `analysis` reads trained weights (eigenvalue spectra) and `plot` draws SVG figures.

// Links the system OpenBLAS that ndarray's BLAS path calls.
use blas_src as _;

pub mod analysis;
pub mod bench;
pub mod blas;
pub mod cells;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod error;
pub mod float;
pub mod gemm;
pub mod grads;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod optim;
pub mod params;
pub mod plot;
pub mod reproduce;
pub mod results;
pub mod runs;
pub mod simd;
pub mod spec;
pub mod train;

pub use error::{Error, Result};
