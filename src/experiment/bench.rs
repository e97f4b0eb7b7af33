//! `lrnn bench`: median time of full training steps (forward, BPTT, Adam) of one model on
//! random data, with the GEMM work counted, so cells and backends compare as numbers; and
//! what a step costs in memory against the activations BPTT has to keep.

use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::kernels::float::Float;
use crate::kernels::gemm::Backend;
use crate::net::cells::{AnyCell, ModelConfig};
use crate::net::model::{Batch, Model};
use crate::net::optim::{Optimizer, OptimizerConfig, OptimizerKind};
use crate::net::params::Params;

/// What to time.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub model: ModelConfig,
    pub batch: usize,
    pub seq: usize,
    pub input: usize,
    pub classes: usize,
    pub warmup: usize,
    pub steps: usize,
    /// Data-parallel shards over the batch (1 = one worker, BLAS threads as set).
    pub shards: usize,
}

/// The measurement, printed as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// [`ModelConfig::label`], e.g. `lipschitz-euler`.
    pub model: String,
    pub batch: usize,
    pub seq: usize,
    pub hidden: usize,
    pub steps_timed: usize,
    pub median_step_s: f64,
    pub min_step_s: f64,
    pub max_step_s: f64,
    /// Interquartile range of the step times.
    pub iqr_step_s: f64,
    /// Recurrent GEMM work of a training step, counted as three forward passes (forward,
    /// and the two products of backward: input gradients and weight gradients).
    pub gflop: f64,
    pub gflop_per_s: f64,
    /// Cores the step runs on: the shards, or OpenBLAS's threads for one OpenBLAS shard.
    pub threads: usize,
    pub shards: usize,
    pub backend: String,
    /// MiB (2^20 bytes) of per-step activations the tapes hold for BPTT after the steps,
    /// summed over shards: the cells' own count of the `Steps` buffers their forward pass
    /// writes and backward reads ([`Cell::activation_bytes`]), as allocated. Backward's
    /// per-step gradient buffers, the projected inputs and the batch are not in it. Null if
    /// the cell does not say.
    pub activations_mib: Option<f64>,
    /// MiB the process's peak resident memory grew by over the warm-up and timed steps:
    /// `VmHWM` after them minus `VmRSS` before the shards' workspaces were allocated (the
    /// high-water mark is reset there through `/proc/self/clear_refs`, so nothing earlier
    /// counts), both from `/proc/self/status`. It covers everything a step touches: tapes
    /// with their gradient buffers, projected inputs, decoder buffers, per-shard copies of the
    /// batch and gradients, BLAS scratch. Model, parameters, Adam state and the batch exist
    /// before. Null off Linux or where the reset is refused.
    pub peak_step_mib: Option<f64>,
    /// `peak_step_mib / activations_mib`: how many times the activations a step costs.
    pub peak_over_activations: Option<f64>,
}

/// Times `cfg.steps` training steps after `cfg.warmup` untimed ones.
pub fn run(cfg: &BenchConfig) -> BenchResult {
    let model = Model::<f32>::new(&cfg.model, cfg.input, cfg.classes);
    let mut params = model.init(1);
    let mut grads = Params::zeros(model.layout.clone());
    let mut opt = Optimizer::new(
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            momentum: 0.9,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        },
        model.num_params(),
    );
    let batch = random_batch(cfg.seq, cfg.batch, cfg.input, cfg.classes, 7);
    let before = peak::reset().then(|| peak::status_kib("VmRSS")).flatten();
    let mut shards = model.shards(cfg.shards.max(1));
    let mut times = Vec::with_capacity(cfg.steps);
    for i in 0..cfg.warmup + cfg.steps {
        let t0 = Instant::now();
        model.forward_backward_sharded(&params, &batch, &mut shards, &mut grads);
        opt.update(&mut params, &grads, 1e-3);
        if i >= cfg.warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let after = peak::status_kib("VmHWM");
    let mib = |bytes: f64| bytes / (1 << 20) as f64;
    let activations_mib = shards
        .iter()
        .map(|s| model.activation_bytes(&s.ws))
        .sum::<Option<usize>>()
        .map(|b| mib(b as f64));
    let peak_step_mib = before
        .zip(after)
        .map(|(b, a)| mib(a.saturating_sub(b) as f64 * 1024.0));

    times.sort_by(f64::total_cmp);
    let q = |f: f64| times[((times.len() - 1) as f64 * f).round() as usize];
    let gflop = 3.0 * forward_flop(&*model.cell, cfg.batch, cfg.seq) / 1e9;
    BenchResult {
        model: cfg.model.label(),
        batch: cfg.batch,
        seq: cfg.seq,
        hidden: model.cell.hidden(),
        steps_timed: times.len(),
        median_step_s: q(0.5),
        min_step_s: q(0.0),
        max_step_s: q(1.0),
        iqr_step_s: q(0.75) - q(0.25),
        gflop,
        gflop_per_s: gflop / q(0.5),
        threads: if crate::kernels::gemm::backend() == crate::kernels::gemm::Backend::Openblas
            && cfg.shards <= 1
        {
            crate::kernels::blas::threads()
        } else {
            cfg.shards.max(1)
        },
        shards: cfg.shards.max(1),
        backend: crate::kernels::gemm::describe(),
        activations_mib,
        peak_step_mib,
        peak_over_activations: peak_step_mib.zip(activations_mib).map(|(p, a)| p / a),
    }
}

/// Sets up the process for a bench on `threads` cores (default: all) with `gemm`, and
/// returns the shard count: `shards`, else one a core, except OpenBLAS, which threads
/// itself in one shard.
pub fn configure(gemm: Backend, threads: Option<usize>, shards: Option<usize>) -> usize {
    crate::kernels::gemm::set_backend(gemm);
    let threads = crate::kernels::blas::cores(threads);
    let shards = shards
        .unwrap_or(if gemm == Backend::Openblas {
            1
        } else {
            threads
        })
        .max(1);
    crate::kernels::blas::one_level(shards, Some(threads));
    shards
}

/// Throughput of the selected GEMM backend: `workers` threads at once, each multiplying its
/// own single-precision `[m, k]·[k, n]` matrices `reps` times (the data-parallel shape of
/// training). A square shape goes through [`crate::kernels::gemm::gemm`]; any other through
/// [`crate::kernels::gemm::Packed`] with the right-hand matrix packed once, as a recurrence runs its
/// per-step product (`64x128x256` is a Lipschitz step of one of two shards at N = 128).
#[derive(Clone, Debug, Serialize)]
pub struct GemmPeak {
    /// `[m, k, n]`.
    pub shape: [usize; 3],
    pub workers: usize,
    pub reps: usize,
    pub seconds: f64,
    pub gflop_per_s: f64,
    pub backend: String,
}

/// Measures [`GemmPeak`] after one untimed round a worker.
pub fn gemm_peak([m, k, n]: [usize; 3], workers: usize, reps: usize) -> GemmPeak {
    use rayon::prelude::*;
    let workers = workers.max(1);
    let square = m == k && k == n;
    let mut mats: Vec<(Array2<f32>, crate::kernels::gemm::Packed<f32>, Array2<f32>)> = (0..workers)
        .map(|w| {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(w as u64);
            let mut rand = |r, c| Array2::from_shape_fn((r, c), |_| rng.random::<f32>() - 0.5);
            let (a, b) = (rand(m, k), rand(k, n));
            let mut packed = crate::kernels::gemm::Packed::zeros(k, n);
            packed.assign(b.view());
            (a, packed, Array2::zeros((m, n)))
        })
        .collect();
    let run = |mats: &mut Vec<(Array2<f32>, crate::kernels::gemm::Packed<f32>, Array2<f32>)>,
               reps| {
        mats.par_iter_mut().for_each(|(a, b, c)| {
            crate::net::nn::act::flush_denormals();
            for _ in 0..reps {
                if square {
                    crate::kernels::gemm::gemm(1.0, &*a, &b.matrix(), 0.0, c);
                } else {
                    b.mul(1.0, &*a, 0.0, c);
                }
            }
        })
    };
    run(&mut mats, 1);
    let t0 = Instant::now();
    run(&mut mats, reps.max(1));
    let seconds = t0.elapsed().as_secs_f64();
    let flop = 2.0 * (m * k * n) as f64 * (workers * reps.max(1)) as f64;
    GemmPeak {
        shape: [m, k, n],
        workers,
        reps: reps.max(1),
        seconds,
        gflop_per_s: flop / seconds / 1e9,
        backend: crate::kernels::gemm::describe(),
    }
}

/// The arithmetic peak: `workers` threads at once, each running 16 independent chains of
/// 16-wide f32 FMAs in registers, with no memory traffic. No GEMM can beat this ceiling; the
/// GEMM roofline of [`gemm_peak`] says how close a real product gets to it.
#[derive(Clone, Debug, Serialize)]
pub struct FmaPeak {
    pub workers: usize,
    /// FMA rounds a worker: 16 FMAs of 16 lanes each, 512 FLOP.
    pub rounds: usize,
    pub seconds: f64,
    pub gflop_per_s: f64,
}

/// Measures [`FmaPeak`] (about a third of a second at 150 GFLOP/s a core); `None` without
/// AVX-512F.
pub fn fma_peak(workers: usize) -> Option<FmaPeak> {
    use rayon::prelude::*;
    const ROUNDS: usize = 100_000_000;
    if !crate::kernels::gemm::avx512::available() {
        return None;
    }
    let workers = workers.max(1);
    let t0 = Instant::now();
    let sums: Vec<f32> = (0..workers)
        .into_par_iter()
        // SAFETY: AVX-512F is available (checked above).
        .map(|_| unsafe { fma_chains(ROUNDS) })
        .collect();
    let seconds = t0.elapsed().as_secs_f64();
    std::hint::black_box(sums);
    let flop = (512 * ROUNDS * workers) as f64;
    Some(FmaPeak {
        workers,
        rounds: ROUNDS,
        seconds,
        gflop_per_s: flop / seconds / 1e9,
    })
}

/// `rounds` rounds of 16 independent FMAs (each chain waits only on itself; 8 would cover
/// the 4-cycle latency of two FMA ports); returns a sum so the work is not optimised away.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn fma_chains(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(1.000_000_1), _mm512_set1_ps(1e-7));
    // Named locals with distinct starts: with an array of equal chains LLVM rotated them
    // through registers and the stack, at half the rate; 24 chains spilled some to the stack.
    let mut start = 0.0;
    macro_rules! chains {
        ($($v:ident)*) => {{
            $(let mut $v = { start += 1.0; _mm512_set1_ps(start) };)*
            for _ in 0..rounds {
                $($v = _mm512_fmadd_ps($v, a, b);)*
            }
            0.0 $(+ _mm512_reduce_add_ps($v))*
        }};
    }
    chains!(c0 c1 c2 c3 c4 c5 c6 c7 c8 c9 c10 c11 c12 c13 c14 c15)
}

/// Recurrent GEMM FLOPs of one forward pass over `seq` steps of `batch` sequences,
/// `2·B·T·N²·` [`Cell::products_per_step`]; backward is counted as twice this.
pub fn forward_flop<F: Float>(cell: &dyn AnyCell<F>, batch: usize, seq: usize) -> f64 {
    let n = cell.hidden() as f64;
    2.0 * (batch * seq) as f64 * n * n * cell.products_per_step() as f64
}

/// A classification batch of uniform `[0, 1)` inputs, `x [seq·batch, input]` time-major, and
/// uniform labels in `0..classes`, deterministic in `seed`.
pub fn random_batch(
    seq: usize,
    batch: usize,
    input: usize,
    classes: usize,
    seed: u64,
) -> Batch<f32> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let x = Array2::from_shape_fn((seq * batch, input), |_| rng.random::<f32>());
    let labels = (0..batch).map(|_| rng.random_range(0..classes)).collect();
    Batch::classes(x, labels)
}

/// The process's resident memory from `/proc/self/status` (Linux).
mod peak {
    /// Resets the peak resident set size (`VmHWM`) to the current one; false where refused.
    pub fn reset() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
    pub fn status_kib(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    }
}
