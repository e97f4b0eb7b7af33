//! The network, above the kernels: flat parameter buffers, the shared layers (`nn`), one file
//! a recurrent cell (`cells`), the batch contract data produces (`batch`), the model that
//! wraps a cell with its encoder, decoder and loss, the optimisers, and the loss's curvature
//! (`hessian`).

pub mod batch;
pub mod cells;
pub mod hessian;
pub mod lyapunov;
pub mod model;
pub mod nn;
pub mod optim;
pub mod params;
pub mod stability;
