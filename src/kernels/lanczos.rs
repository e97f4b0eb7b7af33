//! Spectra of a symmetric operator known only by its products `v ↦ A v` (a Hessian): Lanczos
//! with full reorthogonalisation, the top eigenvalues from its Ritz values, Hutchinson's
//! trace estimator and stochastic Lanczos quadrature (SLQ) for the eigenvalue density, as
//! PyHessian (Yao et al., 2020) computes them. Everything is f64; vectors are flat slices.
//!
//! Lanczos builds an orthonormal basis `Q` of the Krylov space of a start vector and the
//! tridiagonal `T = Qᵀ A Q` (diagonal `alpha`, off-diagonal `beta`); the eigenvalues of `T`
//! (Ritz values) converge to the extreme eigenvalues of `A` first. Full reorthogonalisation
//! (twice, against every earlier basis vector) keeps `Q` orthonormal in floating point,
//! so no eigenvalue is found twice.

use rand::{Rng, SeedableRng};

/// A symmetric operator: `x ↦ A x`.
pub type MatVec<'a> = dyn FnMut(&[f64]) -> Vec<f64> + 'a;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// A vector of independent ±1 entries, deterministic in `rng`.
pub fn rademacher(n: usize, rng: &mut impl Rng) -> Vec<f64> {
    (0..n)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// The Lanczos recurrence from `start`, one step at a time.
pub struct Lanczos {
    basis: Vec<Vec<f64>>,
    pub alpha: Vec<f64>,
    pub beta: Vec<f64>,
    /// The Krylov space is invariant: `T` holds every eigenvalue it can reach.
    pub exhausted: bool,
}

impl Lanczos {
    pub fn new(start: &[f64]) -> Self {
        let s = norm(start);
        assert!(
            s > 0.0 && s.is_finite(),
            "a Lanczos start vector is non-zero"
        );
        Lanczos {
            basis: vec![start.iter().map(|v| v / s).collect()],
            alpha: Vec::new(),
            beta: Vec::new(),
            exhausted: false,
        }
    }

    /// Steps taken (the order of `T`).
    pub fn steps(&self) -> usize {
        self.alpha.len()
    }

    /// One step: one product with `A`, then `alpha_j`, `beta_j` and the next basis vector.
    pub fn step(&mut self, matvec: &mut MatVec) {
        if self.exhausted {
            return;
        }
        let j = self.alpha.len();
        let q = &self.basis[j];
        let mut w = matvec(q);
        let a = dot(q, &w);
        self.alpha.push(a);
        // Classical Gram-Schmidt against the whole basis, twice ("twice is enough").
        for _ in 0..2 {
            for b in &self.basis {
                let c = dot(b, &w);
                w.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
            }
        }
        let b = norm(&w);
        let scale = self
            .alpha
            .iter()
            .map(|a| a.abs())
            .fold(0.0, f64::max)
            .max(1e-300);
        if b <= 1e-12 * scale || self.basis.len() == w.len() {
            self.exhausted = true;
            return;
        }
        self.beta.push(b);
        self.basis.push(w.iter().map(|x| x / b).collect());
    }

    /// `T` of the steps so far, and its eigenvalues (ascending) with their eigenvectors'
    /// first components (the SLQ weights are their squares) and the residual bound of each:
    /// `‖A y − θ y‖ = β_m |s_m|` (`s_m` the eigenvector's last component), so `A` has an
    /// eigenvalue within that distance of the Ritz value `θ` (zero once exhausted).
    pub fn ritz(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let m = self.alpha.len();
        let mut t = ndarray::Array2::<f64>::zeros((m, m));
        for i in 0..m {
            t[[i, i]] = self.alpha[i];
            if i + 1 < m {
                t[[i, i + 1]] = self.beta[i];
                t[[i + 1, i]] = self.beta[i];
            }
        }
        let (values, vectors) = symmetric_eigen(t);
        let first = (0..m).map(|k| vectors[[0, k]]).collect();
        let beta = if self.exhausted {
            0.0
        } else {
            self.beta.last().copied().unwrap_or(0.0)
        };
        let bounds = (0..m).map(|k| (beta * vectors[[m - 1, k]]).abs()).collect();
        (values, first, bounds)
    }
}

/// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix by cyclic Jacobi
/// rotations: slow for large matrices, exact to rounding for the small `T` of Lanczos.
pub fn symmetric_eigen(mut a: ndarray::Array2<f64>) -> (Vec<f64>, ndarray::Array2<f64>) {
    let n = a.nrows();
    let mut v = ndarray::Array2::<f64>::eye(n);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[[i, j]] * a[[i, j]])
            .sum();
        let diag: f64 = (0..n).map(|i| a[[i, i]] * a[[i, i]]).sum();
        if off <= 1e-30 * diag.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[[p, q]];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[[k, p]], a[[k, q]]);
                    a[[k, p]] = c * akp - s * akq;
                    a[[k, q]] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[[p, k]], a[[q, k]]);
                    a[[p, k]] = c * apk - s * aqk;
                    a[[q, k]] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[[k, p]], v[[k, q]]);
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[[i, i]].total_cmp(&a[[j, j]]));
    let values = order.iter().map(|&i| a[[i, i]]).collect();
    let vectors = ndarray::Array2::from_shape_fn((n, n), |(r, c)| v[[r, order[c]]]);
    (values, vectors)
}

/// The `k` largest eigenvalues (descending) of the `n`-dimensional operator, from Lanczos
/// started at a seeded Rademacher vector: stopped when each one's residual bound is below
/// `tol` relative (so each is within `tol` of an eigenvalue), or after `max_steps` products.
pub struct TopEigen {
    pub values: Vec<f64>,
    /// Each value's residual bound: an eigenvalue of the operator lies within it.
    pub bounds: Vec<f64>,
    /// Products with the operator it took.
    pub steps: usize,
    /// Whether the tolerance was met (else `max_steps` ended it).
    pub converged: bool,
}

pub fn top_eigenvalues(
    n: usize,
    k: usize,
    seed: u64,
    tol: f64,
    max_steps: usize,
    matvec: &mut MatVec,
) -> TopEigen {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut lz = Lanczos::new(&rademacher(n, &mut rng));
    let k = k.min(n).max(1);
    loop {
        lz.step(matvec);
        let (mut values, _, mut bounds) = lz.ritz();
        values.reverse();
        bounds.reverse();
        values.truncate(k);
        bounds.truncate(k);
        let converged = lz.exhausted
            || (values.len() == k
                && values
                    .iter()
                    .zip(&bounds)
                    .all(|(v, b)| *b <= tol * v.abs().max(1e-300)));
        if converged || lz.steps() >= max_steps {
            return TopEigen {
                values,
                bounds,
                steps: lz.steps(),
                converged,
            };
        }
    }
}

/// Hutchinson's estimate of the trace, `mean of vᵀ A v` over `probes` seeded Rademacher
/// vectors, with its standard error (sample std / √probes).
pub fn hutchinson(n: usize, probes: usize, seed: u64, matvec: &mut MatVec) -> (f64, f64) {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let samples: Vec<f64> = (0..probes)
        .map(|_| {
            let v = rademacher(n, &mut rng);
            dot(&v, &matvec(&v))
        })
        .collect();
    let (mean, std) = crate::kernels::stats::mean_std(&samples);
    (mean, std / (samples.len() as f64).sqrt())
}

/// Stochastic Lanczos quadrature: `runs` seeded Rademacher starts of `steps` Lanczos steps
/// each; every run's Ritz values are nodes with weights the squared first components of
/// their eigenvectors (summing to one), averaged over runs. The density is their Gaussian
/// smoothing, [`density`].
pub fn slq(n: usize, runs: usize, steps: usize, seed: u64, matvec: &mut MatVec) -> Vec<(f64, f64)> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut nodes = Vec::new();
    for _ in 0..runs {
        let mut lz = Lanczos::new(&rademacher(n, &mut rng));
        for _ in 0..steps.min(n) {
            lz.step(matvec);
        }
        let (values, first, _) = lz.ritz();
        nodes.extend(
            values
                .into_iter()
                .zip(first)
                .map(|(v, f)| (v, f * f / runs as f64)),
        );
    }
    nodes
}

/// The density of SLQ `nodes` on `points` evenly spaced values spanning them (padded by
/// 5%), each node a Gaussian of standard deviation `sigma` carrying its weight.
pub fn density(nodes: &[(f64, f64)], sigma: f64, points: usize) -> Vec<(f64, f64)> {
    let lo = nodes.iter().map(|n| n.0).fold(f64::INFINITY, f64::min);
    let hi = nodes.iter().map(|n| n.0).fold(f64::NEG_INFINITY, f64::max);
    let pad = 0.05 * (hi - lo).max(1e-12) + 3.0 * sigma;
    let (lo, hi) = (lo - pad, hi + pad);
    let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
    (0..points)
        .map(|i| {
            let x = lo + (hi - lo) * i as f64 / (points - 1).max(1) as f64;
            let d = nodes
                .iter()
                .map(|(v, w)| w * norm * (-0.5 * ((x - v) / sigma).powi(2)).exp())
                .sum();
            (x, d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// A seeded symmetric matrix with known spectrum: Q diag(λ) Qᵀ.
    fn known(n: usize, lambdas: &[f64]) -> Array2<f64> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let g = Array2::from_shape_fn((n, n), |_| rng.random::<f64>() - 0.5);
        let q = crate::kernels::linalg::polar(g.view()).unwrap();
        let d = Array2::from_diag(&ndarray::Array1::from(lambdas.to_vec()));
        q.dot(&d).dot(&q.t())
    }

    #[test]
    fn jacobi_finds_a_known_spectrum() {
        let l = [-2.0, -0.5, 0.0, 1.0, 3.0, 7.5];
        let (values, vectors) = symmetric_eigen(known(6, &l));
        for (a, b) in values.iter().zip(&l) {
            assert!((a - b).abs() < 1e-12, "{values:?}");
        }
        let a = known(6, &l);
        let av = a.dot(&vectors.column(5));
        for i in 0..6 {
            assert!((av[i] - 7.5 * vectors[[i, 5]]).abs() < 1e-10);
        }
    }

    #[test]
    fn lanczos_top_eigenvalues_trace_and_slq_weights() {
        let n = 60;
        let l: Vec<f64> = (0..n)
            .map(|i| {
                if i < 57 {
                    (i as f64) * 0.01 - 0.2
                } else {
                    (i - 55) as f64
                }
            })
            .collect();
        let a = known(n, &l);
        let mut mv = |v: &[f64]| a.dot(&ndarray::ArrayView1::from(v)).to_vec();
        let top = top_eigenvalues(n, 3, 1, 1e-10, 100, &mut mv);
        for ((got, want), bound) in top.values.iter().zip([4.0, 3.0, 2.0]).zip(&top.bounds) {
            assert!(
                (got - want).abs() <= bound.max(1e-12),
                "{:?} ± {:?}",
                top.values,
                top.bounds
            );
            assert!(*bound <= 1e-10 * want);
        }
        assert!(top.converged && top.steps < n, "{} steps", top.steps);
        let exact: f64 = l.iter().sum();
        let (tr, se) = hutchinson(n, 400, 2, &mut mv);
        assert!((tr - exact).abs() < 4.0 * se, "{tr} ± {se} vs {exact}");
        let nodes = slq(n, 2, n, 5, &mut mv);
        let total: f64 = nodes.iter().map(|n| n.1).sum();
        assert!((total - 1.0).abs() < 1e-10);
        // With a full Krylov space the weighted nodes integrate A's spectrum: mean λ = tr/n.
        let mean: f64 = nodes.iter().map(|(v, w)| v * w).sum();
        assert!((mean - exact / n as f64).abs() < 0.5, "{mean}");
    }
}
