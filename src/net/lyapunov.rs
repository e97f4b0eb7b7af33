//! The largest Lyapunov exponent of a trained cell's hidden dynamics along input sequences:
//! one number that compares the stability of every cell, the Lipschitz RNN's certificate
//! being defined for it alone.
//!
//! Benettin's method with the Jacobian applied by finite differences: a tangent direction
//! `u_t` (unit, per sequence) is carried along the state `s_t` as `s_t + δ u_t`; after each
//! step of the cell, `g_t = ‖Φ(s_t + δ u_t, z_t) − Φ(s_t, z_t)‖ / δ ≈ ‖J_t u_t‖` and
//! `u_{t+1}` is the renormalised difference (the one-vector case of QR re-orthonormalisation).
//! The exponent is `λ = (1/T) Σ_t ln g_t`, per step (divide by the step size ε for a
//! continuous-time rate); λ < 0 means nearby states converge along the sequence. The state is
//! the cell's whole carried state (`h‖c` for the LSTM, `hy‖hz` for coRNN). f64, with
//! `δ = 1e-7` (one-sided: the error is O(δ) relative).

use ndarray::{Array2, Axis, s};

use crate::net::batch::Batch;
use crate::net::cells::Inputs;
use crate::net::model::Model;
use crate::net::params::Params;

/// The largest exponent of each sequence of `batch` (per step), from a zero start.
pub fn largest_exponents(model: &Model<f64>, p: &Params<f64>, batch: &Batch<f64>) -> Vec<f64> {
    let delta = 1e-7;
    let b = batch.size;
    let steps = batch.x.nrows() / b;
    let x = batch.x.as_standard_layout();
    let cell = &model.cell;
    let width = cell.state_width();
    let k = cell.input().fan_out;
    // Rows 0..b the reference states, rows b..2b the perturbed ones: one forward a step.
    let mut state = Array2::<f64>::zeros((2 * b, width));
    let mut rng = rand_pcg::Pcg64::new(0x6c79_6170, 0x756e_6f76);
    let mut u: Array2<f64> = Array2::from_shape_fn((b, width), |_| {
        rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng)
    });
    normalise_rows(&mut u);
    let mut tape = cell.new_tape(1, 2 * b, false);
    let mut z = Array2::<f64>::zeros((2 * b, k));
    let mut sum = vec![0.0; b];
    for t in 0..steps {
        let xt = x.slice(s![t * b..(t + 1) * b, ..]);
        cell.input().forward(p, xt, z.slice_mut(s![..b, ..]));
        let (top, mut bottom) = z.view_mut().split_at(Axis(0), b);
        bottom.assign(&top);
        {
            let (reference, mut perturbed) = state.view_mut().split_at(Axis(0), b);
            perturbed.assign(&(&reference + &(&u * delta)));
        }
        let mut inputs = Inputs::projected(z.view(), 2 * b);
        cell.forward(p, &mut inputs, state.view_mut(), &mut tape);
        let diff = &state.slice(s![b.., ..]) - &state.slice(s![..b, ..]);
        for (i, row) in diff.outer_iter().enumerate() {
            let g = row.iter().map(|v| v * v).sum::<f64>().sqrt() / delta;
            sum[i] += g.max(f64::MIN_POSITIVE).ln();
        }
        u.assign(&diff);
        normalise_rows(&mut u);
    }
    sum.into_iter().map(|s| s / steps as f64).collect()
}

fn normalise_rows(u: &mut Array2<f64>) {
    for mut row in u.outer_iter_mut() {
        let n = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        if n > 0.0 {
            row.mapv_inplace(|v| v / n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::cells::ModelConfig;

    fn model(kind: &str, text: &str) -> (Model<f64>, Params<f64>) {
        let cfg = ModelConfig::parse(kind, text.parse().unwrap()).unwrap();
        let m = Model::<f64>::new(&cfg, 1, 2);
        let p = m.init(1);
        (m, p)
    }

    fn zero(p: &mut Params<f64>, name: &str) {
        let id = p.layout.find(name).unwrap();
        p.slice_mut(id).iter_mut().for_each(|v| *v = 0.0);
    }

    /// At the fixed point h = 0 (zero inputs and biases) the Jacobian is constant, so the
    /// exponent is exact: ln(1 − ε(γ_A + γ_W)) for the Lipschitz cell with M_A = M_W = 0,
    /// ln 3 for a vanilla RNN with W = 3 I.
    #[test]
    fn exponents_at_a_fixed_point_are_the_log_of_the_jacobian() {
        let x = Array2::<f64>::zeros((50 * 3, 1));
        let batch = Batch::classes(x, vec![0, 1, 0]);
        let (m, mut p) = model(
            "lipschitz",
            "hidden = 8\neps = 0.1\ngamma_a = 2.0\ngamma_w = 2.0",
        );
        for name in ["cell/M_A", "cell/M_W", "encoder/bias"] {
            zero(&mut p, name);
        }
        for l in largest_exponents(&m, &p, &batch) {
            assert!((l - 0.6f64.ln()).abs() < 1e-6, "{l}");
        }
        let (m, mut p) = model("vanilla", "hidden = 8");
        zero(&mut p, "encoder/bias");
        let w = p.layout.find("cell/W").unwrap();
        p.slice_mut(w)
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = if i % 9 == 0 { 3.0 } else { 0.0 });
        for l in largest_exponents(&m, &p, &batch) {
            assert!((l - 3f64.ln()).abs() < 1e-6, "{l}");
        }
    }
}
