//! The `lrnn` command line: thin wrappers over the library.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::data;
use crate::experiment::spec::Spec;
use crate::experiment::{grads, runs, train};

#[derive(Parser)]
#[command(
    name = "lrnn",
    version = env!("LRNN_VERSION_LONG"),
    about = "Lipschitz RNNs and baselines on CPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one spec (a paper row) and write its run folder.
    Run {
        /// The experiment spec (TOML).
        spec: PathBuf,
        /// Override a spec key, e.g. `--set train.epochs=1` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Data directory (default: $LRNN_DATA_DIR, ./data, ../shared/data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Run folder (default: <results>/runs/<task>/<spec name>-s<seed>-<spec hash>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Results directory holding the run folders.
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
        /// Also checkpoint every this many steps (default: each epoch and every 60 s).
        #[arg(long, value_parser = at_least_one)]
        checkpoint_every: Option<usize>,
        /// Cores to train on (default: $SLURM_CPUS_PER_TASK, else all). A run-time resource:
        /// the numbers, and the run id, are the same on any number of cores.
        #[arg(long, value_parser = at_least_one)]
        threads: Option<usize>,
        /// Data-parallel shards, the same as `--set train.shards=K` (part of the numbers).
        #[arg(long, value_parser = at_least_one)]
        shards: Option<usize>,
        /// Train from scratch: remove the folder's checkpoint, metrics and run record first.
        /// Without it, a new run whose spec differs from a finished one's only by more
        /// `train.epochs` continues from that run's checkpoint (and says so).
        #[arg(long)]
        restart: bool,
        /// A label for `lrnn list` (recorded in run.json; not part of the run id).
        #[arg(long)]
        name: Option<String>,
        /// A tag for `lrnn list --tag` (repeatable; not part of the run id).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Never fetch a missing data set (MNIST, CIFAR-10): fail naming the file and its URL
        /// instead (also `LRNN_NO_DOWNLOAD=1`).
        #[arg(long)]
        no_download: bool,
        /// Also write TensorBoard event files (`tb/` in the run folder: the `steps.csv` values
        /// and each epoch's metrics); also `LRNN_TENSORBOARD=1`, which reaches the runs of
        /// `reproduce` and sweeps. Not part of the run id.
        #[arg(long)]
        tensorboard: bool,
    },
    /// Loss and parameter gradients of one batch (HDF5 in, HDF5 out), for parity checks.
    Grads {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long)]
        checkpoint: PathBuf,
        /// HDF5 with `x` f32 [batch, T, p] and `y` i64 [batch].
        #[arg(long)]
        batch: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Validation and test metrics of a checkpoint, over the whole splits.
    Eval {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Evaluate as a training epoch does: only the spec's `train.max_eval_batches` (a
        /// class-grouped split's seeded stratified subset), as in the run's metrics.csv.
        #[arg(long)]
        capped: bool,
    },
    /// Time full training steps of one model on random data; prints one JSON object.
    Bench {
        /// Cell kind (lipschitz, lstm, gru, ...); not needed with `--gemm-peak` or `--fma-peak`.
        #[arg(long, required_unless_present_any = ["gemm_peak", "fma_peak"])]
        model: Option<String>,
        /// Lipschitz discretisation (euler, rk2).
        #[arg(long)]
        scheme: Option<String>,
        /// Another `[model]` key of the cell, e.g. `--cell gated=true` (repeatable).
        #[arg(long = "cell", value_name = "KEY=VALUE")]
        cell: Vec<String>,
        /// Instead of a model, time single-precision GEMMs of shape `N` (N×N×N) or `MxKxN`
        /// (through a packed right-hand matrix, as a recurrence), one stream a shard: the
        /// roofline step times are compared with. `--steps` sets the repetitions.
        #[arg(long, value_name = "N|MxKxN", value_parser = parse_shape)]
        gemm_peak: Option<[usize; 3]>,
        /// Instead of a model, time the FMA units alone (16 register-only chains of 16-wide
        /// FMAs a shard): the arithmetic ceiling over any GEMM. Needs AVX-512F.
        #[arg(long, conflicts_with = "gemm_peak")]
        fma_peak: bool,
        #[arg(long, value_parser = at_least_one, default_value_t = 128)]
        batch: usize,
        #[arg(long, value_parser = at_least_one, default_value_t = 784)]
        seq: usize,
        #[arg(long, value_parser = at_least_one, default_value_t = 128)]
        hidden: usize,
        #[arg(long, value_parser = at_least_one, default_value_t = 1)]
        input: usize,
        #[arg(long, value_parser = at_least_one, default_value_t = 10)]
        classes: usize,
        /// Cores to use (default: all): data-parallel shards over the batch, or with
        /// `--gemm openblas` and `--shards 1`, OpenBLAS threads.
        #[arg(long, value_parser = at_least_one)]
        threads: Option<usize>,
        /// Data-parallel shards over the batch on the rayon pool, BLAS single-threaded
        /// (default: `--threads`, or 1 under openblas).
        #[arg(long, value_parser = at_least_one)]
        shards: Option<usize>,
        /// GEMM backend (the training default is avx512).
        #[arg(long, value_enum, default_value_t = crate::kernels::gemm::Backend::Avx512)]
        gemm: crate::kernels::gemm::Backend,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, value_parser = at_least_one, default_value_t = 10)]
        steps: usize,
    },
    /// Train every row of a paper table that is not done yet, then print ours beside the
    /// published numbers and write tables/TABLE.{csv,h5,md} and figures.
    Reproduce {
        /// mnist, cifar10, ptb or timit (experiments/tables/TABLE.toml).
        table: String,
        /// smoke (seconds a row, proves the pipeline; the default), quick (early-training
        /// numbers), medium (10 epochs, overnight), full (the paper's schedule).
        #[arg(long, default_value = "smoke")]
        profile: String,
        /// Train every row once a seed and report mean ± std and n (e.g. 1,2,3).
        #[arg(long, value_delimiter = ',')]
        seeds: Vec<u64>,
        /// An override applied to every row (repeatable), e.g. `--set train.lr=0.001`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// The folder holding experiments/ and baselines/ (default: $LRNN_ROOT, else the
        /// current directory if it has them, else the source tree, else the copy built into
        /// the binary).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Only these rows, numbered from 1 in the table file (e.g. 1,5).
        #[arg(long, value_delimiter = ',')]
        rows: Vec<usize>,
        /// Submit the rows not done to Slurm as job arrays (like `sweep submit`) instead of
        /// training here; run it again when they are done to write the full table.
        #[arg(long)]
        slurm: bool,
        #[command(flatten)]
        slurm_args: SlurmArgs,
        #[command(flatten)]
        pool: Pool,
    },
    /// Runs under the results directory: state, progress, test metric (last and at the
    /// best-validation epoch), key hyperparameters, name and tags.
    List {
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
        /// One JSON array of the runs: each run's summary and its flattened spec
        /// (`train.lr`, `model.hidden`, …) as keys of one object.
        #[arg(long)]
        json: bool,
        /// Only runs of this task.
        #[arg(long)]
        task: Option<String>,
        /// Only runs of this model (`lipschitz`, `lstm`, ...; the `model` key).
        #[arg(long)]
        model: Option<String>,
        /// Only runs in this state (done, running, interrupted, failed).
        #[arg(long)]
        state: Option<String>,
        /// Only runs with this tag (`lrnn run --tag`; `reproduce` tags its rows TABLE-PROFILE).
        #[arg(long)]
        tag: Option<String>,
        /// Only runs whose KEY (any `--json` key: `train.lr`, `model.hidden`, `seed`) is VALUE
        /// (repeatable; numbers compare as numbers).
        #[arg(long = "where", value_name = "KEY=VALUE", value_parser = crate::report::list::Query::filter)]
        filters: Vec<(String, String)>,
        /// Sort by this key (any `--json` key), ascending; runs lacking it come last.
        #[arg(long, value_name = "KEY")]
        sort: Option<String>,
        /// Sort descending.
        #[arg(long)]
        desc: bool,
    },
    /// Hyperparameter sweeps (experiments/sweeps/NAME.toml): a plan of points, each a run.
    Sweep {
        #[command(subcommand)]
        command: SweepCommand,
    },
    /// Analyses of a trained model (the paper's stability certificate).
    Analyze {
        #[command(subcommand)]
        command: AnalyzeCommand,
    },
    /// One run: its summary, provenance and resolved spec. RUN is a folder or a run id.
    Show {
        run: String,
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
    },
    /// Learning curves of runs: the metric by epoch on the train, validation and test splits,
    /// one line a run and split, as SVG, PNG (2x) and PDF.
    Plot {
        /// Run folders or run ids.
        #[arg(required = true)]
        runs: Vec<String>,
        /// The figure to write: F.svg, F.png and F.pdf, whichever of the three it names.
        #[arg(long)]
        out: PathBuf,
        /// Which splits to draw (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "train,val,test")]
        splits: Vec<String>,
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
    },
    /// Two runs side by side: the spec keys that differ, then their metrics.
    Diff {
        a: String,
        b: String,
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
    },
    /// Print a shell completion script: `lrnn completions bash > /etc/bash_completion.d/lrnn`.
    Completions { shell: clap_complete::Shell },
    /// Every run's summary and per-epoch metrics as results/{runs,epochs}.csv and results/results.h5.
    Export {
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
    },
    /// Experiment specs.
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// Data sets: what a task trains on.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Expand a sweep into its indexed points (results/sweeps/NAME/plan.json) and list them.
    Plan {
        sweep: PathBuf,
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
    },
    /// Train the points not done yet on this machine, N at a time.
    Run {
        sweep: PathBuf,
        #[command(flatten)]
        pool: Pool,
    },
    /// Submit the points not done, queued or running to Slurm as job arrays (one sbatch
    /// script, arrays split below the cluster's MaxArraySize); returns at once.
    Submit {
        sweep: PathBuf,
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        slurm: SlurmArgs,
    },
    /// One array task: train point INDEX (what the sbatch script of `submit` runs). SWEEP is
    /// the sweep file or its plan.json.
    RunPoint {
        sweep: PathBuf,
        #[arg(long)]
        index: usize,
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Done / running / queued / interrupted / failed / missing, in total and per point:
    /// the run folders first, then squeue for the points Slurm holds.
    Status {
        sweep: PathBuf,
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
        /// Print one JSON object (counts and points).
        #[arg(long)]
        json: bool,
    },
    /// Tables of the points and of each configuration over seeds (mean, std, n, min, max),
    /// and the best configuration: CSV, HDF5 and Markdown in results/sweeps/NAME/.
    Collect {
        sweep: PathBuf,
        #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
        results: PathBuf,
    },
}

#[derive(Subcommand)]
enum AnalyzeCommand {
    /// The test metric under input perturbations (additive and multiplicative Gaussian,
    /// salt-and-pepper) and parameter noise, each level averaged over seeded draws.
    Robustness {
        #[command(flatten)]
        target: Target,
        /// Test sequences evaluated (the first of the split).
        #[arg(long, default_value_t = 2000)]
        samples: usize,
        /// Draws a level.
        #[arg(long, default_value_t = 5, value_parser = at_least_one)]
        draws: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Levels σ of x + σ·std(x)·ξ (comma-separated; default 0.05,0.1,0.2,0.4).
        #[arg(long, value_delimiter = ',')]
        gaussian: Option<Vec<f64>>,
        /// Levels σ of x(1 + σξ) (default 0.1,0.2,0.4,0.8).
        #[arg(long, value_delimiter = ',')]
        multiplicative: Option<Vec<f64>>,
        /// Rates p of salt-and-pepper noise (default 0.01,0.05,0.1,0.2).
        #[arg(long, value_delimiter = ',')]
        salt_pepper: Option<Vec<f64>>,
        /// Levels s of parameter noise, s times each tensor's RMS (default 0.01,0.05,0.1,0.2).
        #[arg(long, value_delimiter = ',')]
        params: Option<Vec<f64>>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The Hessian of the training loss over all parameters (f64): top eigenvalues by
    /// Lanczos, the trace by Hutchinson's estimator, the density by stochastic Lanczos
    /// quadrature.
    Hessian {
        #[command(flatten)]
        target: Target,
        /// A batch file of `lrnn grads`: the Hessian of exactly its mean loss.
        #[arg(long, conflicts_with = "samples")]
        batch: Option<PathBuf>,
        /// Training sequences the loss averages over, drawn by --seed.
        #[arg(long, default_value_t = 4096)]
        samples: usize,
        /// How many of the largest eigenvalues.
        #[arg(long, default_value_t = 1, value_parser = at_least_one)]
        top: usize,
        /// Also estimate the trace (and its standard error).
        #[arg(long)]
        trace: bool,
        /// Rademacher probes of the trace estimate.
        #[arg(long, default_value_t = 100, value_parser = at_least_one)]
        probes: usize,
        /// Also estimate the eigenvalue density (written to --figure).
        #[arg(long)]
        density: bool,
        /// The density's figure, as F.svg, F.png and F.pdf whichever of the three it names
        /// (default: hessian-density.svg beside the checkpoint).
        #[arg(long)]
        figure: Option<PathBuf>,
        /// Seeds the probe vectors (Lanczos start, Hutchinson, SLQ).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Seeds which training sequences the loss averages over.
        #[arg(long, default_value_t = 0)]
        data_seed: u64,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print one JSON object as the last line (eigenvalues, trace, trace_stderr, ...).
        #[arg(long)]
        json: bool,
    },
    /// The Lipschitz RNN's stability certificate: max Re λ(A), max Re λ(W), λ_max and λ_min
    /// of A's symmetric part, σ_max(W), the margin of the sufficient condition, the scheme's
    /// amplification factor. Every other cell: the largest Lyapunov exponent of its hidden
    /// dynamics along test sequences.
    Stability {
        #[command(flatten)]
        target: Target,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Also draw the eigenvalues of A, W and A's symmetric part to this figure: F.svg, F.png
        /// and F.pdf, whichever of the three it names.
        #[arg(long)]
        figure: Option<PathBuf>,
        /// Also (for a Lipschitz cell) the largest Lyapunov exponent along test sequences.
        #[arg(long)]
        lyapunov: bool,
        /// Test sequences of the Lyapunov exponent.
        #[arg(long, default_value_t = 100, value_parser = at_least_one)]
        samples: usize,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// What `sweep submit` and `reproduce --slurm` ask the cluster for; unset flags take the
/// sweep file's `[slurm]` values.
#[derive(clap::Args)]
struct SlurmArgs {
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per point (sbatch --time, e.g. 01:00:00).
    #[arg(long)]
    time: Option<String>,
    #[arg(long, value_parser = at_least_one)]
    cpus_per_task: Option<usize>,
    /// Memory per point (sbatch --mem, e.g. 4G).
    #[arg(long)]
    mem: Option<String>,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    qos: Option<String>,
    /// Array tasks running at once (sbatch --array=...%K), per array.
    #[arg(long, value_parser = at_least_one)]
    max_running: Option<usize>,
    /// Seconds before the time limit that Slurm sends USR1 (the point checkpoints and
    /// requeues).
    #[arg(long)]
    grace_s: Option<u64>,
    /// Write the sbatch script and print the sbatch lines; submit nothing.
    #[arg(long)]
    dry_run: bool,
}

impl SlurmArgs {
    fn options(
        self,
        d: crate::report::sweep::SlurmDefaults,
        data_dir: Option<PathBuf>,
    ) -> crate::report::slurm::SubmitOptions {
        crate::report::slurm::SubmitOptions {
            slurm: crate::report::sweep::SlurmDefaults {
                partition: self.partition.or(d.partition),
                time: self.time.or(d.time),
                cpus_per_task: self.cpus_per_task.or(d.cpus_per_task),
                mem: self.mem.or(d.mem),
                account: self.account.or(d.account),
                qos: self.qos.or(d.qos),
                max_running: self.max_running.or(d.max_running),
                grace_s: self.grace_s.or(d.grace_s),
                extra: d.extra,
            },
            dry_run: self.dry_run,
            data_dir,
        }
    }
}

/// How `reproduce` and `sweep run` train their runs.
#[derive(clap::Args)]
struct Pool {
    /// Runs trained at once, the cores split between them (a run's numbers and id do not
    /// depend on its cores).
    #[arg(long, value_parser = at_least_one, default_value_t = 1)]
    jobs: usize,
    #[arg(long, env = "LRNN_RESULTS_DIR", default_value = "results")]
    results: PathBuf,
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Adds the keys of the object `extra` to the object `out`.
fn merge(out: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(o), serde_json::Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
}

/// What an analysis reads: a spec and a checkpoint, or a run folder holding both.
#[derive(clap::Args)]
struct Target {
    #[arg(long, required_unless_present = "run", requires = "checkpoint")]
    spec: Option<PathBuf>,
    #[arg(long, requires = "spec")]
    checkpoint: Option<PathBuf>,
    /// A run folder: its spec.toml and checkpoint.h5.
    #[arg(long, conflicts_with_all = ["spec", "checkpoint"])]
    run: Option<PathBuf>,
}

impl Target {
    fn paths(&self) -> (PathBuf, PathBuf) {
        match (&self.run, &self.spec, &self.checkpoint) {
            (Some(dir), _, _) => (dir.join(runs::SPEC_FILE), dir.join(runs::CHECKPOINT_FILE)),
            (None, Some(s), Some(c)) => (s.clone(), c.clone()),
            _ => unreachable!("clap requires --run or --spec with --checkpoint"),
        }
    }
}

#[derive(Subcommand)]
enum SpecCommand {
    /// Print the fully resolved spec (extends followed, overrides and defaults applied);
    /// `--all`: every key with its default and doc (of the spec's model kind and task when a
    /// SPEC is given, beside its values; of every kind and task otherwise).
    Show {
        #[arg(required_unless_present = "all")]
        spec: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Print split sizes, sequence length and width of a task as JSON.
    Inspect {
        /// Task name (smnist, psmnist, cifar10, ncifar10, ptb_char, speech, adding).
        task: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// Parses the command line and runs it.
pub fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            // Hydra's `key=value` as a bare argument: say how lrnn spells it.
            if let Some(kv) = hydra_override(&args) {
                eprintln!("hint: spec keys are set with --set, e.g. `--set {kv}`");
            }
            e.exit()
        }
    };
    match cli.command {
        Command::Run {
            spec,
            overrides,
            data_dir,
            out,
            results,
            checkpoint_every,
            threads,
            shards,
            restart,
            name,
            tags,
            no_download,
            tensorboard,
        } => {
            if no_download {
                crate::data::download::refuse();
            }
            let mut overrides = overrides;
            overrides.extend(shards.map(|k| format!("train.shards={k}")));
            let s = Spec::load(&spec, &overrides)?;
            crate::kernels::blas::use_cores(threads.or_else(crate::kernels::blas::slurm_cpus));
            let (spec_name, id, default_out) = runs::place(&results, &spec, &s);
            let out = out.unwrap_or(default_out);
            // A new folder whose spec differs from a finished run's only by more epochs
            // continues from that run; --restart trains from scratch.
            let fresh = !restart && !out.join(runs::RUN_FILE).exists();
            let opts = train::RunOptions {
                data_dir,
                id: Some(id),
                checkpoint_every,
                restart,
                name,
                tags,
                extend: fresh
                    .then(|| runs::extendable(&results, &s, &spec_name))
                    .flatten(),
                ..train::RunOptions::new(&out)
            };
            let opts = train::RunOptions {
                tensorboard: opts.tensorboard || tensorboard,
                ..opts
            };
            let outcome = train::run(&s, &opts)?;
            let m = outcome.metrics.metric_name().unwrap_or("loss").to_string();
            if let Some(v) = outcome.metrics.last(&format!("test_{m}")) {
                println!(
                    "done: test_{m} {v:.4} after {} epochs; run folder {}",
                    outcome.metrics.rows.len(),
                    out.display()
                );
            }
        }
        Command::Grads {
            spec,
            checkpoint,
            batch,
            out,
        } => {
            let s = Spec::load(&spec, &[])?;
            let loss = grads::grads(&s, &checkpoint, &batch, &out)?;
            println!("loss {loss:.9} written with gradients to {}", out.display());
        }
        Command::Eval {
            spec,
            checkpoint,
            data_dir,
            capped,
        } => {
            let s = Spec::load(&spec, &[])?;
            let (val, test, metric) =
                train::evaluate_checkpoint(&s, &checkpoint, data_dir.as_deref(), capped)?;
            let m = metric.as_str();
            println!(
                "val_{m} {:.4} val_loss {:.4} test_{m} {:.4} test_loss {:.4}",
                metric.of(&val),
                val.mean(),
                metric.of(&test),
                test.mean()
            );
        }
        Command::Bench {
            model,
            scheme,
            cell,
            gemm_peak,
            fma_peak,
            batch,
            seq,
            hidden,
            input,
            classes,
            threads,
            shards,
            gemm,
            warmup,
            steps,
        } => {
            let shards = crate::experiment::bench::configure(gemm, threads, shards);
            let mut table = toml::Table::new();
            table.insert("hidden".into(), toml::Value::Integer(hidden as i64));
            if let Some(s) = scheme {
                table.insert("scheme".into(), toml::Value::String(s));
            }
            if fma_peak {
                let r = crate::experiment::bench::fma_peak(shards)
                    .ok_or_else(|| anyhow::anyhow!("--fma-peak needs a CPU with AVX-512F"))?;
                println!("{}", serde_json::to_string(&r)?);
                return Ok(());
            }
            if let Some(n) = gemm_peak {
                let r = crate::experiment::bench::gemm_peak(n, shards, steps);
                println!("{}", serde_json::to_string(&r)?);
                return Ok(());
            }
            for kv in &cell {
                crate::experiment::spec::apply_override(&mut table, kv)
                    .map_err(|e| anyhow::anyhow!("--cell {kv}: {e}"))?;
            }
            let model = model.expect("clap requires --model without a peak flag");
            let model = crate::net::cells::ModelConfig::parse(&model, table)
                .and_then(|m| m.validate().map(|()| m))
                .map_err(|e| anyhow::anyhow!("--model/--scheme/--cell: {e}"))?;
            let r = crate::experiment::bench::run(&crate::experiment::bench::BenchConfig {
                model,
                batch,
                seq,
                input,
                classes,
                warmup,
                steps,
                shards,
            });
            println!("{}", serde_json::to_string(&r)?);
        }
        Command::Reproduce {
            table,
            profile,
            seeds,
            set,
            root,
            rows,
            slurm,
            slurm_args,
            pool:
                Pool {
                    jobs,
                    results,
                    data_dir,
                },
        } => {
            let failed = crate::report::reproduce::reproduce(&crate::report::reproduce::Options {
                table,
                profile,
                jobs,
                results,
                data_dir: data_dir.clone(),
                root: crate::experiment::root::root(root.as_deref())?,
                seeds,
                slurm: slurm.then(|| slurm_args.options(Default::default(), data_dir)),
                set,
                rows,
            })?;
            anyhow::ensure!(
                failed == 0,
                "{failed} row(s) did not finish; see their log.txt"
            );
        }
        Command::List {
            results,
            json,
            task,
            model,
            state,
            tag,
            mut filters,
            sort,
            desc,
        } => {
            for (k, v) in [
                ("task", task),
                ("model", model),
                ("state", state),
                ("tags", tag),
            ] {
                filters.extend(v.map(|v| (k.to_string(), v)));
            }
            let q = crate::report::list::Query {
                filters,
                sort,
                descending: desc,
            };
            list(&results, json, &q)?
        }
        Command::Analyze {
            command:
                AnalyzeCommand::Robustness {
                    target,
                    samples,
                    draws,
                    seed,
                    gaussian,
                    multiplicative,
                    salt_pepper,
                    params,
                    data_dir,
                    json,
                },
        } => {
            use crate::report::robustness;
            let (spec, checkpoint) = target.paths();
            let s = Spec::load(&spec, &[])?;
            let mut opts = robustness::Options {
                samples,
                draws,
                seed,
                batch: s.train.eval_batch_size,
                ..Default::default()
            };
            for (kind, given) in [
                ("gaussian", gaussian),
                ("multiplicative", multiplicative),
                ("salt_pepper", salt_pepper),
                ("params", params),
            ] {
                if let (Some(l), Some(slot)) =
                    (given, opts.levels.iter_mut().find(|(k, _)| k == kind))
                {
                    slot.1 = l;
                }
            }
            let r = robustness::of_checkpoint(&s, &checkpoint, data_dir.as_deref(), &opts)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "test_{} on {} sequences: clean {:.4}",
                    r.metric, r.samples, r.clean
                );
                for (kind, levels) in &r.perturbations {
                    for l in levels {
                        println!(
                            "{kind:<15} {:>8} {:.4} ± {:.4} ({} draws)",
                            l.level, l.mean, l.stderr, l.draws
                        );
                    }
                }
            }
        }
        Command::Analyze {
            command:
                AnalyzeCommand::Hessian {
                    target,
                    batch,
                    samples,
                    top,
                    trace,
                    probes,
                    density,
                    figure,
                    seed,
                    data_seed,
                    data_dir,
                    json,
                },
        } => {
            use crate::report::hessian;
            let (spec, checkpoint) = target.paths();
            let s = Spec::load(&spec, &[])?;
            let opts = hessian::Options {
                samples,
                batch: s.train.batch_size,
                seed,
                data_seed,
                top,
                trace,
                probes,
                density,
                ..Default::default()
            };
            let source = match &batch {
                Some(b) => hessian::Source::BatchFile(b),
                None => hessian::Source::Samples {
                    data_dir: data_dir.as_deref(),
                },
            };
            let r = hessian::of_checkpoint(&s, &checkpoint, source, &opts)?;
            println!(
                "{} parameters, loss {:.6} over {} rows, {} Hessian-vector products",
                r.params, r.loss, r.rows, r.hvps
            );
            println!(
                "top {} eigenvalue(s): {:?} ({} Lanczos steps, {}converged, {:.1} s)",
                top,
                r.eigenvalues,
                r.eigen_steps,
                if r.eigen_converged { "" } else { "not " },
                r.eigen_seconds
            );
            if let (Some(t), Some(se)) = (r.trace, r.trace_stderr) {
                println!(
                    "trace {t:.6} ± {se:.6} (Hutchinson, {probes} probes, {:.1} s)",
                    r.trace_seconds.unwrap_or(0.0)
                );
            }
            if let Some(nodes) = &r.density {
                let path = figure.unwrap_or_else(|| {
                    checkpoint
                        .parent()
                        .unwrap_or(std::path::Path::new("."))
                        .join("hessian-density.svg")
                });
                hessian::density_figure(
                    &path,
                    &format!("Hessian eigenvalue density: {}", checkpoint.display()),
                    nodes,
                )?;
                println!(
                    "density: {} SLQ nodes, figure {}",
                    nodes.len(),
                    crate::report::plot::written(&path)
                );
            }
            if json {
                println!("{}", serde_json::to_string(&r)?);
            }
        }
        Command::Analyze {
            command:
                AnalyzeCommand::Stability {
                    target,
                    json,
                    figure,
                    lyapunov,
                    samples,
                    data_dir,
                },
        } => {
            let (spec, checkpoint) = target.paths();
            let s = Spec::load(&spec, &[])?;
            let lipschitz = s.model.kind() == "lipschitz";
            let lyap = if lyapunov || !lipschitz {
                Some(crate::report::analysis::lyapunov(
                    &s,
                    &checkpoint,
                    data_dir.as_deref(),
                    samples,
                )?)
            } else {
                None
            };
            let mut out = serde_json::json!({ "kind": s.model.kind() });
            if lipschitz {
                let (cert, sets) = crate::report::analysis::stability(&s, &checkpoint)?;
                if let Some(path) = figure {
                    crate::report::plot::spectrum(
                        &path,
                        &format!("eigenvalues: {}", checkpoint.display()),
                        &sets,
                        crate::report::analysis::stability_region(&s).as_ref(),
                    )?;
                }
                if !json {
                    for (k, v) in cert.columns() {
                        println!("{k:<18} {v:.6}");
                    }
                    println!(
                        "condition (a), A_sym negative definite and sigma_min(A_sym) > sigma_max(W): {}",
                        if cert.stable {
                            "holds"
                        } else {
                            "does not hold"
                        }
                    );
                }
                merge(&mut out, serde_json::to_value(&cert)?);
            }
            if let Some(l) = &lyap {
                if !json {
                    println!(
                        "largest Lyapunov exponent {:.6} ± {:.6} (std over {} test sequences; per step)",
                        l.lyapunov_max, l.lyapunov_std, l.lyapunov_samples
                    );
                }
                merge(&mut out, serde_json::to_value(l)?);
            }
            if json {
                println!("{}", serde_json::to_string(&out)?);
            }
        }
        Command::Sweep {
            command:
                SweepCommand::Run {
                    sweep,
                    pool:
                        Pool {
                            jobs,
                            results,
                            data_dir,
                        },
                },
        } => {
            let left = crate::report::sweep::run(&sweep, &results, jobs, data_dir.as_deref())?;
            anyhow::ensure!(
                left == 0,
                "{left} point(s) did not finish; see their log.txt"
            );
        }
        Command::Sweep {
            command: SweepCommand::Collect { sweep, results },
        } => {
            let c = crate::report::sweep::collect(&sweep, &results)?;
            println!("{}", std::fs::read_to_string(c.dir.join("sweep.md"))?);
            println!(
                "{} point rows, {} configurations: {}/{{points.csv,grouped.csv,sweep.h5,sweep.md}}",
                c.points.height(),
                c.grouped.height(),
                c.dir.display()
            );
        }
        Command::Sweep {
            command:
                SweepCommand::Submit {
                    sweep,
                    results,
                    data_dir,
                    slurm,
                },
        } => {
            let file = crate::report::sweep::SweepFile::load(&sweep)?;
            let plan = crate::report::sweep::plan(&sweep, &results)?;
            let plan_path = crate::report::sweep::sweep_dir(&results, &sweep)
                .join(crate::report::sweep::PLAN_FILE);
            let opts = slurm.options(file.slurm, data_dir);
            crate::report::slurm::submit(&plan, &plan_path, &results, &opts)?;
        }
        Command::Sweep {
            command:
                SweepCommand::RunPoint {
                    sweep,
                    index,
                    results,
                    data_dir,
                },
        } => {
            let plan_path = if sweep.extension().is_some_and(|e| e == "json") {
                sweep
            } else {
                crate::report::sweep::sweep_dir(&results, &sweep)
                    .join(crate::report::sweep::PLAN_FILE)
            };
            let code =
                crate::report::slurm::run_point(&plan_path, &results, index, data_dir.as_deref())?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Command::Sweep {
            command:
                SweepCommand::Status {
                    sweep,
                    results,
                    json,
                },
        } => {
            let plan = crate::report::sweep::plan(&sweep, &results)?;
            let live =
                crate::report::slurm::live(&crate::report::sweep::sweep_dir(&results, &sweep));
            let states = crate::report::sweep::states_with(&plan, &results, &live);
            let mut counts = std::collections::BTreeMap::<&str, usize>::new();
            for s in &states {
                *counts.entry(s.state.as_str()).or_default() += 1;
            }
            if json {
                let v = serde_json::json!({
                    "sweep": sweep.display().to_string(),
                    "points": states.len(),
                    "counts": counts,
                    "states": states,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let total: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
            println!(
                "{}: {} point(s): {}",
                sweep.display(),
                states.len(),
                total.join(", ")
            );
            for s in &states {
                let err = s
                    .error
                    .as_deref()
                    .map_or(String::new(), |e| format!("  error: {e}"));
                let node = s
                    .node
                    .as_deref()
                    .map_or(String::new(), |n| format!(" [{n}]"));
                println!("{:>4}  {:<12} {}{node}{err}", s.index, s.state, s.id);
            }
        }
        Command::Sweep {
            command: SweepCommand::Plan { sweep, results },
        } => {
            let plan = crate::report::sweep::plan(&sweep, &results)?;
            let active = plan.active().count();
            println!(
                "{}: {active} point(s) of {} ({} retired), base {}",
                sweep.display(),
                plan.points.len(),
                plan.points.len() - active,
                plan.base.display()
            );
            for p in &plan.points {
                let state = runs::RunInfo::read(&runs::run_dir(&results, &p.id))
                    .map_or("missing".to_string(), |i| i.state().as_str().to_string());
                let state = if p.retired {
                    "retired".to_string()
                } else {
                    state
                };
                println!(
                    "{:>4}  {:<12} {}  {}",
                    p.index,
                    state,
                    p.id,
                    p.overrides.join(" ")
                );
            }
        }
        Command::Plot {
            runs: names,
            out,
            splits,
            results,
        } => {
            let found = names
                .iter()
                .map(|n| runs::RunRecord::read(&find_run(n, &results)))
                .collect::<crate::error::Result<Vec<_>>>()?;
            crate::report::results::plot_curves(&found, &splits, &out)?;
            println!("wrote {}", crate::report::plot::written(&out));
        }
        Command::Show { run, results } => {
            let r = runs::RunRecord::read(&find_run(&run, &results))?;
            let s = crate::report::results::Summary::of(&r);
            let i = &r.info;
            println!("{}  ({})", s.id, r.dir.display());
            println!(
                "state       {} after {}/{} epochs",
                s.state, s.epochs_done, s.epochs
            );
            let fmt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.4}"));
            println!(
                "test_{}    {} final, {} at the best validation epoch {}",
                s.metric,
                fmt(s.final_test),
                fmt(s.test_at_best_val),
                s.best_epoch.map_or("—".into(), |e| e.to_string())
            );
            println!(
                "time        {} s, {} ms a step",
                fmt(s.wall_s),
                fmt(s.step_ms)
            );
            println!(
                "built       {} (dirty: {}), gemm {}",
                i.build.git_commit, i.build.git_dirty, i.build.gemm
            );
            println!(
                "machine     {} — {}, {} cores, {} GiB",
                i.machine.host, i.machine.cpu, i.machine.cores, i.machine.memory_gib
            );
            println!(
                "started     {}{}",
                i.started,
                i.ended
                    .as_ref()
                    .map_or(String::new(), |e| format!(", ended {e}"))
            );
            if let Some(e) = &i.error {
                println!("error       {e}");
            }
            println!();
            print!("{}", r.spec.to_toml());
        }
        Command::Diff { a, b, results } => {
            let (ra, rb) = (
                runs::RunRecord::read(&find_run(&a, &results))?,
                runs::RunRecord::read(&find_run(&b, &results))?,
            );
            let (fa, fb) = (ra.spec.flattened(), rb.spec.flattened());
            let keys: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
            let show =
                |v: Option<&serde_json::Value>| v.map_or("—".to_string(), |v| v.to_string());
            println!("{:<28} {:<24} {}", "spec key", ra.info.id, rb.info.id);
            for k in keys.into_iter().filter(|k| fa.get(*k) != fb.get(*k)) {
                println!("{k:<28} {:<24} {}", show(fa.get(k)), show(fb.get(k)));
            }
            let (sa, sb) = (
                crate::report::results::Summary::of(&ra),
                crate::report::results::Summary::of(&rb),
            );
            let fmt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.4}"));
            println!();
            for (name, x, y) in [
                (
                    "epochs done",
                    Some(sa.epochs_done as f64),
                    Some(sb.epochs_done as f64),
                ),
                ("final test", sa.final_test, sb.final_test),
                ("test at best val", sa.test_at_best_val, sb.test_at_best_val),
                ("best val", sa.best_val, sb.best_val),
                ("ms a step", sa.step_ms, sb.step_ms),
            ] {
                println!("{name:<28} {:<24} {}", fmt(x), fmt(y));
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "lrnn", &mut std::io::stdout());
        }
        Command::Export { results } => {
            // One broken folder is reported and skipped, not fatal to the whole export.
            let mut found = Vec::new();
            for r in runs::discover(&results) {
                match r {
                    Ok(r) => found.push(r),
                    Err(e) => eprintln!("skipped: {e}"),
                }
            }
            let (summary, epochs) = (
                crate::report::results::summary_frame(&found)?,
                crate::report::results::epochs_frame(&found)?,
            );
            crate::report::results::write_csv(&summary, &results.join("runs.csv"))?;
            crate::report::results::write_csv(&epochs, &results.join("epochs.csv"))?;
            crate::report::results::write_h5(
                &results.join("results.h5"),
                &[("runs", &summary), ("epochs", &epochs)],
                &[],
            )?;
            println!(
                "{} runs, {} epoch rows: {}/{{runs.csv,epochs.csv,results.h5}}",
                summary.height(),
                epochs.height(),
                results.display()
            );
        }
        Command::Spec {
            command:
                SpecCommand::Show {
                    spec,
                    overrides,
                    all,
                },
        } => {
            let spec = spec.map(|s| Spec::load(&s, &overrides)).transpose()?;
            match (spec, all) {
                (spec, true) => print!("{}", crate::experiment::spec::describe_keys(spec.as_ref())),
                (Some(spec), false) => print!("{}", spec.to_toml()),
                (None, false) => unreachable!("clap requires SPEC without --all"),
            }
        }
        Command::Data {
            command: DataCommand::Inspect { task, data_dir },
        } => {
            let cfg = data::TaskConfig::named(&task).map_err(|e| anyhow::anyhow!(e.msg))?;
            let dir = if cfg.needs_data() {
                Some(data::resolve_data_dir(data_dir.as_deref())?)
            } else {
                None
            };
            let t = cfg
                .load(dir.as_deref())
                .with_context(|| format!("task {task}"))?;
            println!("{}", serde_json::to_string(t.info())?);
        }
    }
    Ok(())
}

/// Prints the runs `q` selects: a table with a header, or with `json` one JSON array of
/// their summaries and flattened specs.
fn list(results: &std::path::Path, json: bool, q: &crate::report::list::Query) -> Result<()> {
    use crate::report::list;
    let (rows, unreadable) = list::rows(results);
    let rows = list::select(rows, q);
    for e in &unreadable {
        eprintln!("unreadable: {e}");
    }
    if json {
        let rows = rows.into_iter().map(serde_json::Value::Object).collect();
        println!("{}", serde_json::Value::Array(rows));
    } else if rows.is_empty() {
        println!(
            "no runs under {}{}",
            results.join("runs").display(),
            if q.filters.is_empty() {
                ""
            } else {
                " match the filters"
            }
        );
    } else {
        print!("{}", list::table(&rows));
    }
    Ok(())
}

/// `N` as `[N, N, N]`, or `MxKxN`.
fn parse_shape(s: &str) -> std::result::Result<[usize; 3], String> {
    let dims: Vec<usize> = s
        .split('x')
        .map(|d| d.trim().parse::<usize>().map_err(|e| format!("{s}: {e}")))
        .collect::<std::result::Result<_, _>>()?;
    match dims[..] {
        [n] => Ok([n, n, n]),
        [m, k, n] => Ok([m, k, n]),
        _ => Err(format!("{s}: expected N or MxKxN")),
    }
}

/// A run named on the command line: a folder holding run.json, else a run id under `results`.
fn find_run(run: &str, results: &std::path::Path) -> PathBuf {
    let dir = PathBuf::from(run);
    if dir.join(runs::RUN_FILE).is_file() {
        dir
    } else {
        runs::run_dir(results, run)
    }
}

/// The first bare `section.key=value` argument (not the value of a `--set`), if any.
fn hydra_override(args: &[String]) -> Option<&str> {
    args.iter().enumerate().skip(1).find_map(|(i, a)| {
        let after_set = args[i - 1] == "--set";
        let (key, _) = a.split_once('=')?;
        let dotted = key.contains('.')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
        (dotted && !after_set && !a.starts_with('-')).then_some(a.as_str())
    })
}

/// A count flag: a whole number of at least 1 (zero steps, cores or batches is no work).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(e) => Err(e.to_string()),
    }
}
