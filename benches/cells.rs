//! Step-time benchmarks of every cell: `forward/<label>` (the recurrence over the sequence,
//! recording the tape as training does), `backward/<label>` (BPTT through that tape; the
//! forward that fills it runs untimed before each iteration) and `step/<label>` (a whole
//! `Model::forward_backward`: input projection, forward, decoder, loss, backward), so a
//! regression in one cell shows as one number.
//!
//! Paper size by default, B = 128, T = 784, N = 128, p = 1, 10 classes (pixel MNIST), shrunk
//! for a quick check by `LRNN_BENCH_BATCH`, `LRNN_BENCH_SEQ`, `LRNN_BENCH_HIDDEN`. One
//! thread: the `avx512` backend (the training default), OpenBLAS at one thread, one shard.
//! Throughput is reported as elements/s where an element is one FLOP of the recurrent GEMMs, counted as
//! `lrnn bench` counts them (backward twice the forward, a step three times), so `Gelem/s`
//! reads as GFLOP/s. An iteration takes 0.05–1 s at paper size, hence 10 samples (criterion's
//! minimum) with flat sampling.
//!
//! ```text
//! cargo bench --bench cells                                  # all, paper size (minutes)
//! cargo bench --bench cells -- 'backward/lstm'               # one benchmark (a regex)
//! LRNN_BENCH_SEQ=50 cargo bench --bench cells -- lipschitz   # a quick check at T = 50
//! cargo bench --bench cells -- --measurement-time 1 step/     # shorter sampling
//! ```
//!
//! Timings belong here, never in tests (tests check values; `lrnn bench` prints one
//! JSON object a configuration, with memory, for scripts).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};

use lrnn::experiment::bench::{forward_flop, random_batch};
use lrnn::net::cells::{InputGrads, Inputs, ModelConfig, OutGrad};
use lrnn::net::model::{Batch, Model};
use lrnn::net::params::Params;

/// Every configuration benchmarked: a registry `kind` and its `[model]` keys besides `hidden`.
const CELLS: &[(&str, &str)] = &[
    ("lipschitz", "scheme = 'euler'"),
    ("lipschitz", "scheme = 'rk2'"),
    ("lstm", ""),
    ("gru", ""),
    ("vanilla", ""),
    ("residual", ""),
    ("antisymmetric", ""),
    ("antisymmetric", "gated = true"),
    ("cayley", ""),
    ("cornn", ""),
];

const INPUT: usize = 1;
const CLASSES: usize = 10;

/// Batch B, sequence length T and hidden width N.
struct Size {
    batch: usize,
    seq: usize,
    hidden: usize,
}

impl Size {
    fn from_env() -> Self {
        let var = |name: &str, default: usize| match std::env::var(name) {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v}: expected a positive integer")),
            Err(_) => default,
        };
        Size {
            batch: var("LRNN_BENCH_BATCH", 128),
            seq: var("LRNN_BENCH_SEQ", 784),
            hidden: var("LRNN_BENCH_HIDDEN", 128),
        }
    }
}

/// One configuration's model, parameters and batch, as `lrnn bench` builds them.
struct Case {
    label: String,
    model: Model<f32>,
    params: Params<f32>,
    batch: Batch<f32>,
}

impl Case {
    fn new(kind: &str, keys: &str, size: &Size) -> Self {
        let mut table: toml::Table = keys.parse().expect("CELLS holds TOML");
        table.insert("hidden".into(), toml::Value::Integer(size.hidden as i64));
        let config = ModelConfig::parse(kind, table)
            .unwrap_or_else(|(key, msg)| panic!("{kind}: {key}: {msg}"));
        let model = Model::new(&config, INPUT, CLASSES);
        Case {
            label: config.label(),
            params: model.init(1),
            batch: random_batch(size.seq, size.batch, INPUT, CLASSES, 7),
            model,
        }
    }

    /// Recurrent GEMM FLOPs of one forward pass.
    fn forward_flop(&self) -> f64 {
        forward_flop(
            &*self.model.cell,
            self.batch.size,
            self.batch.x.nrows() / self.batch.size,
        )
    }
}

/// The buffers of a bare cell pass: projected inputs, state, tape, gradients.
struct Pass {
    z: Array2<f32>,
    /// dL/dz, written by backward.
    dz: Array2<f32>,
    state: Array2<f32>,
    tape: lrnn::net::cells::Tape,
    grads: Params<f32>,
    /// dL/dh_T, `[B, N]`, what a last-state readout feeds backward.
    d_last: Array2<f32>,
}

impl Pass {
    fn new(case: &Case) -> Self {
        let (cell, b) = (&*case.model.cell, case.batch.size);
        let steps = case.batch.x.nrows() / b;
        let mut z = Array2::zeros((steps * b, cell.input().fan_out));
        cell.input()
            .forward(&case.params, case.batch.x.view(), z.view_mut());
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        Pass {
            dz: z.clone(),
            z,
            state: Array2::zeros((b, cell.state_width())),
            tape: cell.new_tape(steps, b, true),
            grads: Params::zeros(case.model.layout.clone()),
            d_last: Array2::from_shape_fn((b, cell.hidden()), |_| {
                rng.random_range(-1.0..1.0) / b as f32
            }),
        }
    }

    /// The recurrence from a zero state, recording the tape.
    fn forward(&mut self, case: &Case) {
        self.state.fill(0.0);
        let mut z = Inputs::projected(self.z.view(), case.batch.size);
        case.model
            .cell
            .forward(&case.params, &mut z, self.state.view_mut(), &mut self.tape);
    }

    /// BPTT through the tape of the last [`Pass::forward`], input layer included.
    fn backward(&mut self, case: &Case) {
        let d_out = OutGrad::Last(self.d_last.view());
        // Into a buffer of its own: the next forward reads z again.
        let (cell, x) = (&case.model.cell, case.batch.x.view());
        let mut dz = InputGrads::new(cell.input(), x, self.dz.view_mut(), case.batch.size);
        cell.backward(
            &case.params,
            &mut self.tape,
            d_out,
            &mut dz,
            &mut self.grads,
        );
        black_box(&self.dz);
    }
}

fn cells(c: &mut Criterion) {
    for kind in ModelConfig::KINDS {
        assert!(
            CELLS.iter().any(|(k, _)| k == kind),
            "add `{kind}` to CELLS in benches/cells.rs"
        );
    }
    lrnn::kernels::gemm::set_backend(lrnn::kernels::gemm::Backend::Avx512);
    lrnn::kernels::blas::set_threads(1);
    let size = Size::from_env();
    let cases = || {
        CELLS
            .iter()
            .map(|(kind, keys)| Case::new(kind, keys, &size))
    };
    let flop = |f: f64| Throughput::Elements(f.round() as u64);

    let mut group = flat_group(c, "forward");
    for case in cases() {
        let mut pass = Pass::new(&case);
        group.throughput(flop(case.forward_flop()));
        group.bench_function(&case.label, |b| b.iter(|| pass.forward(&case)));
    }
    group.finish();

    let mut group = flat_group(c, "backward");
    for case in cases() {
        let mut pass = Pass::new(&case);
        group.throughput(flop(2.0 * case.forward_flop()));
        group.bench_function(&case.label, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        pass.forward(&case);
                        let t0 = Instant::now();
                        pass.backward(&case);
                        t0.elapsed()
                    })
                    .sum()
            })
        });
    }
    group.finish();

    let mut group = flat_group(c, "step");
    for case in cases() {
        let (model, batch) = (&case.model, &case.batch);
        let mut ws = model.workspace(batch.x.nrows() / batch.size, batch.size, true);
        let mut grads = Params::zeros(model.layout.clone());
        group.throughput(flop(3.0 * case.forward_flop()));
        group.bench_function(&case.label, |b| {
            b.iter(|| model.forward_backward(&case.params, batch, &mut ws, Some(&mut grads)))
        });
    }
    group.finish();
}

/// A group whose samples all run the same number of iterations, as suits iterations this long.
fn flat_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    group
}

criterion_group! {
    name = benches;
    // Few, long iterations; command-line flags (`--measurement-time 1`) override these.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .without_plots();
    targets = cells
}
criterion_main!(benches);
