//! A single experiment, above the network and the data: the spec that describes it, its run
//! folder (provenance, metrics, checkpoints) and the training loop; the parity command
//! (`grads`) and the step benchmark (`bench`) that run one model.

pub mod bench;
pub mod checkpoint;
pub mod grads;
pub mod metrics;
pub mod root;
pub mod runs;
pub mod spec;
pub mod train;
