//! `lrnn analyze hessian`: the curvature of a checkpoint's training loss, as PyHessian
//! (Yao et al., 2020) measures it: the top eigenvalues (Lanczos), the trace (Hutchinson) and
//! the eigenvalue density (stochastic Lanczos quadrature), from Hessian-vector products of
//! the f64 loss over a fixed, seeded set of training sequences ([`crate::net::hessian`]).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::SplitName;
use crate::error::{Error, Result};
use crate::experiment::checkpoint;
use crate::experiment::spec::Spec;
use crate::kernels::lanczos;
use crate::net::batch::Batch;
use crate::net::hessian::LossSurface;
use crate::net::model::Model;
use crate::net::params::Params;

/// What to estimate, and over which sequences.
#[derive(Clone, Debug)]
pub struct Options {
    /// Training sequences the loss averages over, in batches of `batch`.
    pub samples: usize,
    pub batch: usize,
    /// Draws the sequences: the training order of "epoch 0" under this seed.
    pub data_seed: u64,
    /// Draws the probe vectors (Lanczos start, Hutchinson, SLQ).
    pub seed: u64,
    pub top: usize,
    pub trace: bool,
    /// Rademacher probes of the trace estimate.
    pub probes: usize,
    pub density: bool,
    /// Lanczos steps of each SLQ run, and the runs.
    pub density_steps: usize,
    pub density_runs: usize,
    /// Relative residual bound that ends the eigenvalue iteration, and its cap on products.
    pub tol: f64,
    pub max_steps: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            samples: 4096,
            batch: 256,
            data_seed: 0,
            seed: 0,
            top: 1,
            trace: false,
            probes: 100,
            density: false,
            density_steps: 90,
            density_runs: 1,
            tol: 1e-3,
            max_steps: 100,
        }
    }
}

/// The report, as `--json` prints it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub params: usize,
    /// Rows the loss averages over (sequences; tokens or frames for every-step tasks).
    pub rows: usize,
    pub loss: f64,
    /// The top eigenvalues, descending.
    pub eigenvalues: Vec<f64>,
    /// Each eigenvalue's Lanczos residual bound: a true eigenvalue lies within it.
    pub eigenvalue_bounds: Vec<f64>,
    pub eigen_steps: usize,
    pub eigen_converged: bool,
    pub eigen_seconds: f64,
    pub trace: Option<f64>,
    pub trace_stderr: Option<f64>,
    pub trace_probes: Option<usize>,
    pub trace_seconds: Option<f64>,
    /// SLQ nodes `(eigenvalue, weight)`, the weights summing to one.
    pub density: Option<Vec<(f64, f64)>>,
    /// Hessian-vector products taken, in all.
    pub hvps: usize,
}

/// The f64 model and parameters of `checkpoint` under `spec`.
pub fn load(spec: &Spec, checkpoint: &Path) -> Result<(Model<f64>, Params<f64>)> {
    let (input, output) = spec.task.dims();
    let model = Model::<f64>::new(&spec.model, input, output);
    let mut params = Params::zeros(model.layout.clone());
    checkpoint::load_into(checkpoint, &mut params)?;
    Ok((model, params))
}

/// `samples` training sequences drawn by `seed`, in batches of `batch`, as f64; each batch
/// starts from a zero state (a streamed task's segments are taken one by one).
pub fn training_batches(
    spec: &Spec,
    data_dir: Option<&Path>,
    samples: usize,
    batch: usize,
    seed: u64,
) -> Result<Vec<Batch<f64>>> {
    let (batches, _) = crate::report::robustness::sequences(
        spec,
        data_dir,
        SplitName::Train,
        samples,
        batch,
        seed,
    )?;
    let got: usize = batches.iter().map(|b| b.size).sum();
    if got < samples {
        return Err(Error::Data(format!(
            "--samples {samples}: the training split has {got} sequences in batches of {batch}"
        )));
    }
    Ok(batches.iter().map(Batch::cast).collect())
}

/// Estimates what `opts` asks of the loss over `batches` at the checkpoint.
pub fn analyze(
    model: &Model<f64>,
    params: &Params<f64>,
    batches: &[Batch<f64>],
    opts: &Options,
) -> Report {
    let surface = LossSurface::new(model, params, batches);
    let (loss, rows) = surface.loss();
    let n = surface.dim();
    let mut hvps = 0usize;
    let mut mv = |v: &[f64]| {
        hvps += 1;
        surface.hvp(v)
    };
    let t = Instant::now();
    let top = lanczos::top_eigenvalues(n, opts.top, opts.seed, opts.tol, opts.max_steps, &mut mv);
    let eigen_seconds = t.elapsed().as_secs_f64();
    let (mut trace, mut trace_stderr, mut trace_seconds) = (None, None, None);
    if opts.trace {
        let t = Instant::now();
        let (tr, se) = lanczos::hutchinson(n, opts.probes, opts.seed ^ 0x7472, &mut mv);
        (trace, trace_stderr, trace_seconds) =
            (Some(tr), Some(se), Some(t.elapsed().as_secs_f64()));
    }
    let density = opts.density.then(|| {
        lanczos::slq(
            n,
            opts.density_runs,
            opts.density_steps,
            opts.seed ^ 0x736c71,
            &mut mv,
        )
    });
    Report {
        params: n,
        rows,
        loss,
        eigenvalues: top.values,
        eigenvalue_bounds: top.bounds,
        eigen_steps: top.steps,
        eigen_converged: top.converged,
        eigen_seconds,
        trace,
        trace_stderr,
        trace_probes: opts.trace.then_some(opts.probes),
        trace_seconds,
        density,
        hvps,
    }
}

/// Draws the SLQ density of `nodes` (Gaussian smoothing, σ 1% of the spectrum's span) to an
/// SVG at `path`, on a log10 density axis as PyHessian plots it.
pub fn density_figure(path: &Path, title: &str, nodes: &[(f64, f64)]) -> Result<()> {
    let lo = nodes.iter().map(|n| n.0).fold(f64::INFINITY, f64::min);
    let hi = nodes.iter().map(|n| n.0).fold(f64::NEG_INFINITY, f64::max);
    let sigma = 0.01 * (hi - lo).max(1e-9);
    let curve: Vec<(f64, f64)> = lanczos::density(nodes, sigma, 400)
        .into_iter()
        .map(|(x, d)| (x, (d + 1e-12).log10()))
        .collect();
    crate::report::plot::curve(
        path,
        title,
        "eigenvalue",
        "log10 density",
        &[("SLQ density".to_string(), curve)],
    )
}

/// Where the Hessian's loss comes from: one batch file of `lrnn grads` (exactly its mean
/// loss), or seeded training sequences.
pub enum Source<'a> {
    BatchFile(&'a Path),
    Samples { data_dir: Option<&'a Path> },
}

/// Loads the checkpoint and its batches and estimates what `opts` asks.
pub fn of_checkpoint(
    spec: &Spec,
    checkpoint: &Path,
    source: Source,
    opts: &Options,
) -> Result<Report> {
    spec.train.configure();
    let (model, params) = load(spec, checkpoint)?;
    let batches = match source {
        Source::BatchFile(path) => {
            let b = crate::experiment::grads::read_batch_for(
                path,
                model.input_size,
                model.output_size,
            )?;
            vec![Batch::classes(b.x, b.y).cast()]
        }
        Source::Samples { data_dir } => {
            training_batches(spec, data_dir, opts.samples, opts.batch, opts.data_seed)?
        }
    };
    Ok(analyze(&model, &params, &batches, opts))
}
