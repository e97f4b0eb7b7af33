//! Building blocks shared by every model: the linear encoder/decoder, the loss,
//! and the per-step activation buffers the cells record for BPTT.

pub mod act;
pub mod linear;
pub mod loss;
pub mod steps;

pub use linear::Linear;
pub use steps::{Steps, blocks, blocks_mut, flat, flat_mut};
