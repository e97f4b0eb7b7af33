//! The GEMM kernels alone, on the products a training step repeats, one thread, each backend:
//! `step/<product>/<backend>` is one per-step product by a packed recurrent weight
//! ([`Packed::mul`]) and `long/<product>/<backend>` one weight-gradient product over a chunk of
//! steps ([`gemm_cat`]). Shapes are those of a paper-size step (B = 128 on two shards, so 64 rows; N = 128;
//! chunks of 512 rows), read from the same strided buffers the cells use. Throughput reads
//! as GFLOP/s (`Gelem/s`, an element being one FLOP).
//!
//! Beside `benches/cells.rs`, this separates a kernel's speed from a cell's: on a shared
//! machine the same kernel's time moves with the load of the neighbours, so compare backends
//! within one run.
//!
//! ```text
//! cargo bench --bench gemm                  # all products and backends
//! cargo bench --bench gemm -- 'step/lstm'   # a regex
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};

use lrnn::kernels::gemm::{Backend, Packed, gemm_cat, with_backend};

/// Rows of a shard's step at B = 128 on two threads.
const ROWS: usize = 64;
/// Rows of a weight-gradient chunk (`CHUNK_ROWS` in `cells`).
const CHUNK: usize = 512;
const N: usize = 128;

/// `[A] · [P]` per step: a name, `k` (A's width, read from rows `lda` apart) and `n`.
const STEP: &[(&str, usize, usize, usize)] = &[
    ("lipschitz-euler/h·W", N, N, N),
    ("lstm/h·W_hhᵀ", N, 4 * N, 2 * N),
    ("lstm/dA·W_hh", 4 * N, N, 4 * N),
    ("gru/h·W_hhᵀ", N, 3 * N, N),
    ("gru/dA·W_hh", 3 * N, N, 3 * N),
];

/// `Aᵀ·[B_0 | B_1 | …]` over a chunk: a name, the width of `A`, the width of each `B_i`,
/// how many there are, and the row length of the buffer `B` is read from (an `h‖c` tape
/// for the LSTM). The Lipschitz cell sums `dW` and `dA` from the states and its two stage
/// gradients at once.
const LONG: &[(&str, usize, usize, usize, usize)] = &[
    ("lipschitz-euler/Hᵀ·[δ|γ]", N, N, 2, N),
    ("lstm/dAᵀ·h", 4 * N, N, 1, 2 * N),
];

fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Matrixmultiply, Backend::Avx512];
    if lrnn::kernels::gemm::amx::available() {
        b.push(Backend::Amx);
    } else {
        eprintln!("amx: skipped, this CPU has no AMX-BF16");
    }
    b
}

fn random(rows: usize, cols: usize, rng: &mut impl Rng) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0))
}

fn kernels(c: &mut Criterion) {
    lrnn::net::nn::act::flush_denormals();
    let rng = &mut rand_pcg::Pcg64::seed_from_u64(5);
    let mut group = c.benchmark_group("step");
    for &(name, k, n, lda) in STEP {
        let (a, w) = (random(ROWS, lda, rng), random(k, n, rng));
        let mut out = Array2::zeros((ROWS, n));
        group.throughput(Throughput::Elements((2 * ROWS * k * n) as u64));
        for be in backends() {
            with_backend(be, || {
                let mut p = Packed::zeros(k, n);
                p.assign(w.view());
                let a = a.slice(s![.., ..k]);
                group.bench_function(format!("{name}/{be:?}"), |b| {
                    b.iter(|| p.mul(1.0, black_box(&a), 0.0, &mut out))
                });
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("long");
    for &(name, m, n, blocks, ldb) in LONG {
        let a = random(CHUNK, m, rng);
        let bs: Vec<_> = (0..blocks).map(|_| random(CHUNK, ldb, rng)).collect();
        let bs: Vec<_> = bs.iter().map(|b| b.slice(s![.., ..n])).collect();
        let mut out = Array2::zeros((m, n * blocks));
        group.throughput(Throughput::Elements((2 * CHUNK * m * n * blocks) as u64));
        for be in backends() {
            with_backend(be, || {
                group.bench_function(format!("{name}/{be:?}"), |b| {
                    b.iter(|| gemm_cat(1.0, &black_box(&a).t(), &bs, 1.0, &mut out.view_mut()))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
