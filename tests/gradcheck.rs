//! Finite-difference gradient checks in f64 of every parameter, for every cell configuration:
//! once through the classifier (last-state readout, cross-entropy) and once through the cell
//! alone with a readout at every step (the path language models and speech use).

use lrnn::net::cells::{InputGrads, Inputs, ModelConfig, OutGrad};
use lrnn::net::model::Model;
use lrnn::net::params::Params;
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// Input width: narrow, so the model projects inputs a step at a time (`cells::Inputs`)...
const P: usize = 3;
/// ...and wide, so it projects the whole sequence in one GEMM first.
const P_WIDE: usize = 6;
const Q: usize = 4;
const B: usize = 3;
const T: usize = 7;

fn config(toml: &str) -> ModelConfig {
    let mut t: toml::Table = toml.parse().unwrap();
    let kind = t.remove("kind").unwrap();
    ModelConfig::parse(kind.as_str().unwrap(), t).unwrap()
}

/// The configurations checked: both schemes, with and without the linear term, β at both ends;
/// the LSTM and GRU baselines; vanilla, residual, antisymmetric (plain and gated), Cayley, coRNN.
fn configs() -> Vec<(&'static str, ModelConfig)> {
    sized(5)
}

/// [`configs`] with `n` hidden units (`n − 1` for the two Lipschitz variants that check an
/// odd size).
fn sized(n: usize) -> Vec<(&'static str, ModelConfig)> {
    let m = n - 1;
    vec![
        (
            "lipschitz euler",
            config(&format!(
                "kind='lipschitz'\nhidden={n}\nscheme='euler'\neps=0.2\nbeta=0.7\ngamma_a=0.05\ngamma_w=0.1"
            )),
        ),
        (
            "lipschitz rk2",
            config(&format!(
                "kind='lipschitz'\nhidden={n}\nscheme='rk2'\neps=0.2\nbeta=0.6\ngamma_a=0.05\ngamma_w=0.1"
            )),
        ),
        (
            "lipschitz rk2 alpha=0.5 beta=1",
            config(&format!(
                "kind='lipschitz'\nhidden={m}\nscheme='rk2'\neps=0.3\nbeta=1.0\nalpha=0.5"
            )),
        ),
        (
            "lipschitz euler alpha=0 beta=0",
            config(&format!(
                "kind='lipschitz'\nhidden={m}\nscheme='euler'\neps=0.3\nbeta=0.0\nalpha=0.0"
            )),
        ),
        ("lstm", config(&format!("kind='lstm'\nhidden={n}"))),
        ("gru", config(&format!("kind='gru'\nhidden={n}"))),
        ("vanilla", config(&format!("kind='vanilla'\nhidden={n}"))),
        (
            "residual",
            config(&format!("kind='residual'\nhidden={n}\neps=0.3")),
        ),
        (
            "antisymmetric",
            config(&format!(
                "kind='antisymmetric'\nhidden={n}\neps=0.3\ngamma=0.1"
            )),
        ),
        (
            "antisymmetric gated",
            config(&format!(
                "kind='antisymmetric'\nhidden={n}\neps=0.3\ngamma=0.1\ngated=true"
            )),
        ),
        ("cayley", config(&format!("kind='cayley'\nhidden={n}"))),
        (
            "cornn",
            config(&format!(
                "kind='cornn'\nhidden={n}\ndt=0.3\ngamma=0.8\nepsilon=1.5"
            )),
        ),
    ]
}

/// The cases cover every cell a spec can name: a new cell in the registry needs its case here.
#[test]
fn every_registered_cell_kind_is_checked() {
    let mut kinds: Vec<&str> = configs().iter().map(|(_, c)| c.kind()).collect();
    kinds.sort();
    kinds.dedup();
    let mut registered = ModelConfig::KINDS.to_vec();
    registered.sort();
    assert_eq!(kinds, registered);
}

/// Parameters with entries of order one, so every path through the recurrence matters.
fn random_params(model: &Model<f64>, rng: &mut Pcg64) -> Params<f64> {
    let mut p = Params::zeros(model.layout.clone());
    p.data
        .iter_mut()
        .for_each(|v| *v = rng.random_range(-0.6..0.6));
    p
}

fn random(rows: usize, cols: usize, rng: &mut Pcg64) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0))
}

/// Fourth-order central differences of `loss` at every entry of `p`, compared with `analytic`.
fn compare(
    name: &str,
    p: &Params<f64>,
    analytic: &Params<f64>,
    loss: impl Fn(&Params<f64>) -> f64,
) {
    // Fourth-order central differences: at h = 1e-3 truncation (~h⁴) and roundoff (~ε/h) both
    // stay near 1e-12, whereas the two-point rule at h = 1e-6 has ~1e-10 of roundoff, the size
    // of the tolerance on small gradients (worst errors are now ~3e-9 relative, cells included).
    let h = 1e-3;
    let mut worst = (0.0f64, String::new());
    for e in p.layout.entries() {
        for i in e.range.clone() {
            let at = |d: f64| {
                let mut q = p.clone();
                q.data[i] += d;
                loss(&q)
            };
            let numeric = (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h);
            let a = analytic.data[i];
            let err = (a - numeric).abs() / (1e-4 + numeric.abs().max(a.abs()));
            if err > worst.0 {
                worst = (
                    err,
                    format!(
                        "{} [{}]: analytic {a:e}, numeric {numeric:e}",
                        e.name,
                        i - e.range.start
                    ),
                );
            }
        }
    }
    assert!(
        worst.0 < 1e-6,
        "{name}: worst relative error {:e} at {}",
        worst.0,
        worst.1
    );
}

#[test]
fn classifier_gradients_match_finite_differences() {
    for ((name, cfg), width) in configs()
        .into_iter()
        .flat_map(|c| [(c.clone(), P), (c, P_WIDE)])
    {
        let name = &format!("{name}, p = {width}");
        let mut rng = Pcg64::seed_from_u64(7);
        let model = Model::<f64>::new(&cfg, width, Q);
        assert_eq!(
            model.cell.input().narrow(),
            width == P,
            "{name}: input path"
        );
        let p = random_params(&model, &mut rng);
        let x = random(T * B, width, &mut rng);
        let y: Vec<usize> = (0..B).map(|i| i % Q).collect();
        let mut ws = model.workspace(T, B, true);
        let mut grads = Params::zeros(model.layout.clone());
        model.loss_and_grad(&p, x.view(), &y, &mut ws, &mut grads);
        compare(name, &p, &grads, |q| {
            model
                .evaluate(q, x.view(), &y, &mut model.workspace(T, B, false))
                .mean()
        });
        // The inference path (rotating buffers) computes the same loss as the kept tape.
        let kept = model
            .loss_and_grad(&p, x.view(), &y, &mut ws, &mut grads)
            .mean();
        let rolled = model
            .evaluate(&p, x.view(), &y, &mut model.workspace(T, B, false))
            .mean();
        assert!((kept - rolled).abs() < 1e-12, "{name}: {kept} vs {rolled}");
    }
}

#[test]
fn every_step_readout_gradients_match_finite_differences() {
    for (name, cfg) in configs() {
        let mut rng = Pcg64::seed_from_u64(11);
        let model = Model::<f64>::new(&cfg, P, Q);
        let cell = &model.cell;
        let n = cell.hidden();
        let p = random_params(&model, &mut rng);
        let x = random(T * B, P, &mut rng);
        let r = random(T * B, n, &mut rng);
        // L = Σ_t ⟨R_t, h_{t+1}⟩ from a non-zero initial state.
        let h0 = random(B, cell.state_width(), &mut rng);
        let k = cell.input().fan_out;
        let loss = |q: &Params<f64>| {
            let mut tape = cell.new_tape(T, B, true);
            let mut z = Array2::zeros((T * B, k));
            cell.input().forward(q, x.view(), z.view_mut());
            let mut state = h0.clone();
            cell.forward(
                q,
                &mut Inputs::projected(z.view(), B),
                state.view_mut(),
                &mut tape,
            );
            let out = cell.outputs(&tape);
            assert_eq!(out.slice(s![(T - 1) * B.., ..]), state.slice(s![.., ..n]));
            (&out * &r).sum()
        };
        let mut tape = cell.new_tape(T, B, true);
        let mut z = Array2::zeros((T * B, k));
        cell.input().forward(&p, x.view(), z.view_mut());
        let mut state = h0.clone();
        cell.forward(
            &p,
            &mut Inputs::projected(z.view(), B),
            state.view_mut(),
            &mut tape,
        );
        let mut grads = Params::zeros(model.layout.clone());
        // dL/dz in a ring of 3 steps (chunks [6, 7), [3, 6), [0, 3)), as narrow inputs hold it.
        let mut ring = Array2::zeros((3 * B, k));
        let mut dz = InputGrads::new(cell.input(), x.view(), ring.view_mut(), B);
        cell.backward(&p, &mut tape, OutGrad::Every(r.view()), &mut dz, &mut grads);
        // The decoder is not on this path: its gradient stays zero, as does the numeric one.
        compare(name, &p, &grads, loss);
    }
}

/// The `amx` backend (three bf16 products a GEMM, `gemm::amx`) and f32 under `avx512`, both
/// against f64, for every cell at N = 40 over 100 steps. bf16x3 keeps 16 of f32's 24
/// mantissa bits: its gradients measured 4–42× f32's relative error (2·10⁻⁶ to 2·10⁻⁴, the
/// residual cell worst), where a single bf16 product measured 2,000–12,000×.
#[cfg(target_arch = "x86_64")]
#[test]
fn amx_gradients_keep_bf16x3_accuracy() {
    use lrnn::kernels::gemm::{Backend, with_backend};
    if !lrnn::kernels::gemm::amx::available() {
        eprintln!("skipped: this CPU has no AMX-BF16 (or the OS does not allow tiles)");
        return;
    }
    let (t, b, width) = (100, 8, 2);
    for (name, cfg) in sized(40) {
        let mut rng = Pcg64::seed_from_u64(13);
        let model = Model::<f64>::new(&cfg, width, Q);
        let mut p = random_params(&model, &mut rng);
        // Entries of order 1/√N keep a recurrence of N = 40 stable over 100 steps.
        p.data.iter_mut().for_each(|v| *v /= 4.0);
        let x = random(t * b, width, &mut rng);
        let y: Vec<usize> = (0..b).map(|i| i % Q).collect();
        let mut want = Params::zeros(model.layout.clone());
        model.loss_and_grad(
            &p,
            x.view(),
            &y,
            &mut model.workspace(t, b, true),
            &mut want,
        );
        let model32 = Model::<f32>::new(&cfg, width, Q);
        let (p32, x32) = (p.cast::<f32>(), x.mapv(|v| v as f32));
        let error = |backend| {
            let mut g = Params::zeros(model32.layout.clone());
            let mut ws = model32.workspace(t, b, true);
            with_backend(backend, || {
                model32.loss_and_grad(&p32, x32.view(), &y, &mut ws, &mut g)
            });
            let diff: f64 = g
                .data
                .iter()
                .zip(&want.data)
                .map(|(&a, &w)| (f64::from(a) - w).powi(2))
                .sum();
            let norm: f64 = want.data.iter().map(|w| w * w).sum();
            (diff / norm).sqrt()
        };
        let (f32_err, amx_err) = (error(Backend::Avx512), error(Backend::Amx));
        assert!(
            amx_err < 1e-3 && amx_err < 60.0 * f32_err,
            "{name}: relative gradient error {amx_err:.2e} under amx, {f32_err:.2e} in f32"
        );
    }
}
