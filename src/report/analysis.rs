//! What a trained checkpoint says beyond its loss: the eigenvalues of the recurrent matrices,
//! whose real parts the Lipschitz parametrisation confines (the paper's stability argument).

use std::path::Path;

use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::experiment::checkpoint;
use crate::experiment::spec::Spec;
use crate::kernels::linalg;
use crate::net::cells::ModelConfig;
use crate::net::cells::lipschitz::{M_A, M_W};
use crate::net::params::Params;
use crate::net::stability::Certificate;
use crate::report::plot::Series;

/// Named eigenvalue sets `(name, [(re, im); N])` of the recurrent matrices in `checkpoint`:
/// `[("A", eig A), ("W", eig W)]` for `kind = "lipschitz"`. Other cells are an
/// [`Error::Analysis`]: their recurrent weights have no common meaning to compare yet.
pub fn recurrent_spectra(spec: &Spec, checkpoint: &Path) -> Result<Vec<Series>> {
    let fail = |msg: String| Error::Analysis {
        path: checkpoint.to_path_buf(),
        msg,
    };
    let ModelConfig::Lipschitz(cfg) = &spec.model else {
        return Err(fail(format!(
            "recurrent spectra are defined for kind = \"lipschitz\" only, the spec's model is `{}`",
            spec.model.kind()
        )));
    };
    spectra_of(cfg, &load_f64(spec, checkpoint)?, &fail)
}

/// The checkpoint's parameters in f64, laid out by `spec`'s model.
fn load_f64(spec: &Spec, checkpoint: &Path) -> Result<Params<f64>> {
    let model = spec.build_model();
    let mut params = Params::<f64>::zeros(model.layout.clone());
    checkpoint::load_into(checkpoint, &mut params)?;
    Ok(params)
}

/// `[("A", eig A), ("W", eig W)]` of Lipschitz parameters.
fn spectra_of(
    cfg: &crate::net::cells::lipschitz::LipschitzConfig,
    params: &Params<f64>,
    fail: &dyn Fn(String) -> Error,
) -> Result<Vec<Series>> {
    let matrix = |name: &str| {
        let id = params
            .layout
            .find(name)
            .expect("a Lipschitz layout declares M_A and M_W");
        params.matrix(id)
    };
    let (a, w) = cfg.matrices(matrix(M_A), matrix(M_W));
    let eig = |name: &str, m: ArrayView2<f64>| {
        linalg::eigenvalues(m)
            .map(|e| (name.to_string(), e))
            .map_err(|e| fail(format!("eigenvalues of {name}: {e}")))
    };
    Ok(vec![eig("A", a.view())?, eig("W", w.view())?])
}

/// The stability certificate of a Lipschitz checkpoint ([`crate::net::stability`]), with the
/// eigenvalues of `A`, `W` and `A^sym` for a figure.
pub fn stability(spec: &Spec, checkpoint: &Path) -> Result<(Certificate, Vec<Series>)> {
    let fail = |msg: String| Error::Analysis {
        path: checkpoint.to_path_buf(),
        msg,
    };
    let ModelConfig::Lipschitz(cfg) = &spec.model else {
        return Err(fail(format!(
            "the stability certificate is defined for kind = \"lipschitz\", the spec's model is `{}`",
            spec.model.kind()
        )));
    };
    let params = load_f64(spec, checkpoint)?;
    let cert = crate::net::stability::of_params(&spec.model, &params)
        .expect("a Lipschitz model")
        .map_err(|e| fail(e.to_string()))?;
    let mut sets = spectra_of(cfg, &params, &fail)?;
    let m = |name: &str| params.matrix(params.layout.find(name).expect("declared"));
    let (a, _) = cfg.matrices(m(M_A), m(M_W));
    let a_sym = (&a + &a.t()) * 0.5;
    let eig = linalg::eigenvalues(a_sym.view()).map_err(|e| fail(e.to_string()))?;
    sets.push(("A_sym".into(), eig));
    Ok((cert, sets))
}

/// The largest Lyapunov exponent of a checkpoint's hidden dynamics along its first `samples`
/// test sequences ([`crate::net::lyapunov`]): their mean, sample std and count.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Lyapunov {
    pub lyapunov_max: f64,
    pub lyapunov_std: f64,
    pub lyapunov_samples: usize,
}

pub fn lyapunov(
    spec: &Spec,
    checkpoint: &Path,
    data_dir: Option<&Path>,
    samples: usize,
) -> Result<Lyapunov> {
    let (model, params) = crate::report::hessian::load(spec, checkpoint)?;
    let batch = spec.train.eval_batch_size.min(samples.max(1));
    let (batches, _) = crate::report::robustness::test_batches(spec, data_dir, samples, batch)?;
    let all: Vec<f64> = batches
        .iter()
        .flat_map(|b| crate::net::lyapunov::largest_exponents(&model, &params, &b.cast()))
        .collect();
    let (mean, std) = crate::kernels::stats::mean_std(&all);
    Ok(Lyapunov {
        lyapunov_max: mean,
        lyapunov_std: std,
        lyapunov_samples: all.len(),
    })
}

/// The boundary of the spec's scheme's stability region in the plane of A's eigenvalues
/// (`|R(ε·α·λ)| = 1`), named for a figure's legend; `None` for other cells.
pub fn stability_region(spec: &Spec) -> Option<Series> {
    let ModelConfig::Lipschitz(cfg) = &spec.model else {
        return None;
    };
    let step = cfg.eps * cfg.alpha;
    let name = match cfg.scheme {
        crate::net::cells::lipschitz::Scheme::Euler => "Euler region |1 + εαλ| ≤ 1",
        crate::net::cells::lipschitz::Scheme::Rk2 => "midpoint region |1 + z + z²/2| ≤ 1, z = εαλ",
    };
    Some((
        name.to_string(),
        crate::net::stability::region_boundary(cfg.scheme, step, 720),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Lipschitz spec for sMNIST sizes (no data is read) with `[model]` keys `extra`.
    fn spec(kind: &str, extra: &str) -> Spec {
        let text = format!(
            "[model]\nkind = \"{kind}\"\nhidden = 24\n{extra}\n[task]\nname = \"smnist\"\n[train]\nepochs = 1\nlr = 0.001\n"
        );
        Spec::from_table(Path::new("s.toml"), text.parse().unwrap()).unwrap()
    }

    /// Writes a freshly initialised checkpoint of `spec` (M at 10x the default scale) and
    /// returns its spectra and its `M_A, M_W` in f64.
    fn spectra(spec: &Spec, dir: &Path) -> (Vec<Series>, [ndarray::Array2<f64>; 2]) {
        let path = dir.join("checkpoint.h5");
        let model = spec.build_model();
        checkpoint::save(&path, &model.init(3), &[]).unwrap();
        let mut p = Params::<f64>::zeros(model.layout.clone());
        checkpoint::load_into(&path, &mut p).unwrap();
        let m = |name| p.matrix(p.layout.find(name).unwrap()).to_owned();
        (recurrent_spectra(spec, &path).unwrap(), [m(M_A), m(M_W)])
    }

    fn scale(e: &[(f64, f64)]) -> f64 {
        e.iter().fold(0.0f64, |s, &(re, im)| s.max(re.hypot(im)))
    }

    #[test]
    fn skew_matrices_have_imaginary_spectra() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(
            "lipschitz",
            "beta = 1.0\ngamma_a = 0.0\ngamma_w = 0.0\ninit_std = 1.0",
        );
        let (sets, _) = spectra(&s, dir.path());
        assert_eq!(
            sets.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["A", "W"]
        );
        for (name, e) in &sets {
            assert_eq!(e.len(), 24);
            let tol = 1e-9 * scale(e);
            assert!(scale(e) > 0.0);
            assert!(e.iter().all(|&(re, _)| re.abs() < tol), "{name}: {e:?}");
        }
    }

    #[test]
    fn real_parts_lie_in_the_papers_bound() {
        // Re λ(A) ∈ (1-β)·[λ_min(M+Mᵀ), λ_max(M+Mᵀ)] − γ, since Re(x*Ax)/x*x only sees the
        // symmetric part (1-β)(M+Mᵀ) − γI.
        let dir = tempfile::tempdir().unwrap();
        let (beta, gamma) = (0.75, 0.001);
        let s = spec(
            "lipschitz",
            "beta = 0.75\ngamma_a = 0.001\ngamma_w = 0.001\ninit_std = 1.0",
        );
        let (sets, ms) = spectra(&s, dir.path());
        for ((name, e), m) in sets.iter().zip(ms) {
            let sym = linalg::eigenvalues((&m + &m.t()).view()).unwrap();
            let (lo, hi) = sym
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(re, _)| {
                    (lo.min(re), hi.max(re))
                });
            let (lo, hi) = ((1.0 - beta) * lo - gamma, (1.0 - beta) * hi - gamma);
            let tol = 1e-9 * scale(e);
            for &(re, im) in e {
                assert!(
                    lo - tol <= re && re <= hi + tol,
                    "{name}: {re}+{im}i outside [{lo}, {hi}]"
                );
            }
            // Not vacuous: the eigenvalues are complex and the interval is narrower than them.
            assert!(e.iter().any(|&(_, im)| im.abs() > hi - lo), "{name}: {e:?}");
        }
    }

    #[test]
    fn other_cells_are_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec("lstm", "");
        let path = dir.path().join("checkpoint.h5");
        let err = recurrent_spectra(&s, &path).unwrap_err().to_string();
        assert!(err.contains("lipschitz") && err.contains("lstm"), "{err}");
    }
}
