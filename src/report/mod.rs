//! Reports across runs, the layer below the command line: run tables and exports
//! (`results`), the run list (`list`), figures (`plot`), spectra of trained weights (`analysis`) and the paper's
//! tables (`reproduce`; their wide, Markdown and LaTeX layouts in `table_formats`), sweeps (`sweep`) and their Slurm arrays (`slurm`).

pub mod analysis;
pub mod children;
pub mod hessian;
pub mod list;
pub mod plot;
pub mod reproduce;
pub mod results;
pub mod robustness;
pub mod robustness_table;
pub mod slurm;
pub mod sweep;
pub mod table_formats;
