//! The Lipschitz RNN's stability certificate, from its matrices alone (no data):
//!
//! ```text
//! A^sym = (A + Aᵀ)/2 = (1−β)(M_A + M_Aᵀ) − γ_A I           (W^sym likewise)
//! condition (a):  A^sym ≺ 0  and  σ_min(A^sym) > L·σ_max(W)      (tanh: L = 1)
//! margin      = σ_min(A^sym) − σ_max(W) = −λ_max(A^sym) − σ_max(W)   when A^sym ≺ 0
//! amplification = max_i |R(ε·α·λ_i(A))|,  R(z) = 1 + z (Euler), 1 + z + z²/2 (midpoint)
//! ```
//!
//! The statement implemented is the sufficient condition (a) for global exponential
//! stability of the continuous-time unit `h' = A h + tanh(W h + U x + b)` as recalled in
//! `paper-digest.md` §2.1 (Erichson et al., ICLR 2021, Theorem 1; the wording there is from
//! memory, not the PDF): A's symmetric part negative definite and its smallest singular value
//! above the Lipschitz constant of tanh (1) times σ_max(W). Condition (b) (W + Wᵀ ≺ 0 and
//! AᵀW + WᵀA ≻ 0) is not checked. `amplification` is the linear part's growth a step under
//! the scheme: below 1 the discretised linear part contracts. The authors' training loop
//! logs max Re λ(A) and max Re λ(W) every epoch; those are here too. Eigenvalues and
//! symmetric parts are the same for the row convention's `Aᵀ` as for `A`.

use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use crate::kernels::linalg::{self, EigenError};
use crate::net::cells::ModelConfig;
use crate::net::cells::lipschitz::{LipschitzConfig, M_A, M_W, Scheme};
use crate::net::params::Params;

/// The certificate of one `(A, W)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Certificate {
    pub max_re_eig_a: f64,
    pub max_re_eig_w: f64,
    pub lambda_max_a_sym: f64,
    pub lambda_min_a_sym: f64,
    pub sigma_max_w: f64,
    pub lambda_max_w_sym: f64,
    /// `σ_min(A^sym) − σ_max(W)` when `A^sym ≺ 0` (condition (a) holds when positive);
    /// `λ_max(A^sym)`'s distance below zero counts against it otherwise, as a negative margin.
    pub stability_margin: f64,
    /// Whether condition (a) holds: `A^sym ≺ 0` and `margin > 0`.
    pub stable: bool,
    /// `max_i |R(ε·α·λ_i(A))|` of the scheme's stability function.
    pub amplification: f64,
}

impl Certificate {
    /// `(column, value)` pairs for `metrics.csv` (`stable` as 1 or 0).
    pub fn columns(&self) -> Vec<(String, f64)> {
        [
            ("max_re_eig_a", self.max_re_eig_a),
            ("max_re_eig_w", self.max_re_eig_w),
            ("lambda_max_a_sym", self.lambda_max_a_sym),
            ("lambda_min_a_sym", self.lambda_min_a_sym),
            ("sigma_max_w", self.sigma_max_w),
            ("stability_margin", self.stability_margin),
            ("stable", f64::from(u8::from(self.stable))),
            ("amplification", self.amplification),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// The certificate of a Lipschitz model's parameters, `None` for other cells.
pub fn of_params<F: crate::kernels::float::Float>(
    config: &ModelConfig,
    params: &Params<F>,
) -> Option<Result<Certificate, EigenError>> {
    let ModelConfig::Lipschitz(cfg) = config else {
        return None;
    };
    let matrix = |name: &str| {
        let id = params
            .layout
            .find(name)
            .expect("a Lipschitz layout declares M_A and M_W");
        params.matrix(id).mapv(|v| v.f64())
    };
    let (a, w) = cfg.matrices(matrix(M_A).view(), matrix(M_W).view());
    Some(certificate(cfg, a.view(), w.view()))
}

/// The boundary of the scheme's region of absolute stability, `|R(step·λ)| = 1`, in the λ
/// plane: `points` points ordered around its centre. Euler's is the circle of radius
/// `1/step` about `−1/step`; the midpoint rule's (`R(z) = 1 + z + z²/2`) is the oval through
/// `z = 1 + z + z²/2 = e^{iθ}`, i.e. `z = −1 ± √(2e^{iθ} − 1)`.
pub fn region_boundary(scheme: Scheme, step: f64, points: usize) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(2 * points);
    for k in 0..points {
        let th = 2.0 * std::f64::consts::PI * k as f64 / points as f64;
        match scheme {
            Scheme::Euler => out.push((th.cos() - 1.0, th.sin())),
            Scheme::Rk2 => {
                // √(w) of w = 2e^{iθ} − 1, principal branch.
                let (wr, wi) = (2.0 * th.cos() - 1.0, 2.0 * th.sin());
                let m = wr.hypot(wi);
                let (sr, si) = (
                    ((m + wr) / 2.0).sqrt(),
                    ((m - wr) / 2.0).sqrt().copysign(wi),
                );
                out.push((-1.0 + sr, si));
                out.push((-1.0 - sr, -si));
            }
        }
    }
    out.sort_by(|a, b| a.1.atan2(a.0 + 1.0).total_cmp(&b.1.atan2(b.0 + 1.0)));
    if let Some(&first) = out.first() {
        out.push(first);
    }
    out.into_iter().map(|(r, i)| (r / step, i / step)).collect()
}

/// The certificate of `A` and `W` (either convention) under `cfg`'s scheme, ε and α.
pub fn certificate(
    cfg: &LipschitzConfig,
    a: ArrayView2<f64>,
    w: ArrayView2<f64>,
) -> Result<Certificate, EigenError> {
    let eig_a = linalg::eigenvalues(a)?;
    let eig_w = linalg::eigenvalues(w)?;
    let max_re = |e: &[(f64, f64)]| e.iter().map(|z| z.0).fold(f64::NEG_INFINITY, f64::max);
    let sym = |m: ArrayView2<f64>| -> Array2<f64> { (&m + &m.t()) * 0.5 };
    let real = |m: ArrayView2<f64>| -> Result<Vec<f64>, EigenError> {
        Ok(linalg::eigenvalues(m)?.into_iter().map(|z| z.0).collect())
    };
    let a_sym = real(sym(a).view())?;
    let w_sym = real(sym(w).view())?;
    let wtw = real(w.t().dot(&w).view())?;
    let (lambda_max_a_sym, lambda_min_a_sym) = (
        a_sym.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        a_sym.iter().copied().fold(f64::INFINITY, f64::min),
    );
    let sigma_max_w = wtw.iter().copied().fold(0.0, f64::max).max(0.0).sqrt();
    // A^sym ≺ 0: its singular values are |λ|, the smallest −λ_max.
    let margin = -lambda_max_a_sym - sigma_max_w;
    let step = cfg.eps * cfg.alpha;
    let amplification = eig_a
        .iter()
        .map(|&(re, im)| {
            let (zr, zi) = (step * re, step * im);
            let (r, i) = match cfg.scheme {
                Scheme::Euler => (1.0 + zr, zi),
                // 1 + z + z²/2, z² = (zr² − zi²) + 2·zr·zi·i
                Scheme::Rk2 => (1.0 + zr + 0.5 * (zr * zr - zi * zi), zi + zr * zi),
            };
            r.hypot(i)
        })
        .fold(0.0, f64::max);
    Ok(Certificate {
        max_re_eig_a: max_re(&eig_a),
        max_re_eig_w: max_re(&eig_w),
        lambda_max_a_sym,
        lambda_min_a_sym,
        sigma_max_w,
        lambda_max_w_sym: w_sym.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        stability_margin: margin,
        stable: lambda_max_a_sym < 0.0 && margin > 0.0,
        amplification,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_boundaries_have_unit_amplification() {
        for scheme in [Scheme::Euler, Scheme::Rk2] {
            let b = region_boundary(scheme, 0.1, 64);
            assert!(b.len() > 64);
            for &(re, im) in &b {
                let (zr, zi) = (0.1 * re, 0.1 * im);
                let (r, i) = match scheme {
                    Scheme::Euler => (1.0 + zr, zi),
                    Scheme::Rk2 => (1.0 + zr + 0.5 * (zr * zr - zi * zi), zi + zr * zi),
                };
                assert!(
                    (r.hypot(i) - 1.0).abs() < 1e-9,
                    "{scheme:?}: |R| = {}",
                    r.hypot(i)
                );
            }
        }
    }

    fn cfg(scheme: Scheme) -> LipschitzConfig {
        let mut t = toml::Table::new();
        t.insert("hidden".into(), toml::Value::Integer(2));
        let ModelConfig::Lipschitz(mut c) = ModelConfig::parse("lipschitz", t).unwrap() else {
            unreachable!()
        };
        c.scheme = scheme;
        c.eps = 0.5;
        c
    }

    /// A = −I + skew rotation by 2, W = 0.3·I: by hand.
    #[test]
    fn a_rotation_with_damping_by_hand() {
        let a = ndarray::arr2(&[[-1.0, 2.0], [-2.0, -1.0]]);
        let w = ndarray::arr2(&[[0.3, 0.0], [0.0, 0.3]]);
        let c = certificate(&cfg(Scheme::Euler), a.view(), w.view()).unwrap();
        assert!((c.max_re_eig_a + 1.0).abs() < 1e-12);
        assert!(
            (c.lambda_max_a_sym + 1.0).abs() < 1e-12 && (c.lambda_min_a_sym + 1.0).abs() < 1e-12
        );
        assert!((c.sigma_max_w - 0.3).abs() < 1e-12);
        assert!((c.stability_margin - 0.7).abs() < 1e-12 && c.stable);
        // Euler: |1 + 0.5·(−1 ± 2i)| = |0.5 ± i| = √1.25.
        assert!((c.amplification - 1.25f64.sqrt()).abs() < 1e-12);
        // Midpoint: 1 + z + z²/2 at z = −0.5 + i: 0.5 + i + (−0.75 − i)/2 = 0.125 + 0.5i.
        let c = certificate(&cfg(Scheme::Rk2), a.view(), w.view()).unwrap();
        assert!((c.amplification - 0.125f64.hypot(0.5)).abs() < 1e-12);
    }
}
