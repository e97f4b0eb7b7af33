//! `lrnn analyze hessian` against PyTorch: a dense Hessian by double-backward of every cell's
//! loss on one small batch (tests/fixtures/hessian, made by
//! `scripts/analysis/make_hessian_fixtures.py`). Hessian-vector products must match it to
//! 1e-6 relative; the top eigenvalues and the trace must match its exact values within the
//! estimators' stated errors.

mod common;

use std::path::{Path, PathBuf};

use lrnn::experiment::grads::read_batch;
use lrnn::experiment::spec::Spec;
use lrnn::net::batch::Batch;
use lrnn::net::hessian::LossSurface;

const CASES: [&str; 10] = [
    "lipschitz_euler",
    "lipschitz_rk2",
    "lstm",
    "gru",
    "antisymmetric",
    "antisymmetric_gated",
    "cayley",
    "cornn",
    "vanilla",
    "residual",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Where a case's spec, checkpoint and batch are (the parity fixture's, or its own).
fn source(case: &str) -> PathBuf {
    let f = hdf5::File::open(fixtures().join("hessian").join(case).join("hessian.h5")).unwrap();
    let s: hdf5::types::VarLenUnicode = f.attr("source").unwrap().read_scalar().unwrap();
    Path::new(env!("CARGO_MANIFEST_DIR")).join(s.as_str())
}

fn read(f: &hdf5::File, name: &str) -> Vec<f64> {
    f.dataset(name).unwrap().read_raw().unwrap()
}

#[test]
fn hessian_vector_products_match_pytorch_double_backward_for_every_cell() {
    for case in CASES {
        let src = source(case);
        let spec = Spec::load(&src.join("spec.toml"), &[]).unwrap();
        let (model, params) =
            lrnn::report::hessian::load(&spec, &src.join("checkpoint.h5")).unwrap();
        let b = read_batch(&src.join("batch.h5")).unwrap();
        let batches = vec![Batch::classes(b.x, b.y).cast::<f64>()];
        let surface = LossSurface::new(&model, &params, &batches);
        let f = hdf5::File::open(fixtures().join("hessian").join(case).join("hessian.h5")).unwrap();
        let loss = f.dataset("loss").unwrap().read_scalar::<f64>().unwrap();
        let ((ours, _), _) = surface.loss_grad(&params);
        assert_eq!(surface.loss().0, ours, "{case}: the forward-only loss");
        assert!(
            (ours - loss).abs() <= 1e-12 * loss.abs(),
            "{case}: loss {ours} vs {loss}"
        );
        for k in 0..2 {
            // The probe and PyTorch's H v, tensor by tensor, laid out as our parameters.
            let mut v = vec![0.0; surface.dim()];
            let mut want = vec![0.0; surface.dim()];
            for e in params.layout.entries() {
                v[e.range.clone()].copy_from_slice(&read(&f, &format!("v{k}/{}", e.name)));
                want[e.range.clone()].copy_from_slice(&read(&f, &format!("hv{k}/{}", e.name)));
            }
            let got = surface.hvp(&v);
            let err = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            let scale = want.iter().map(|b| b * b).sum::<f64>().sqrt();
            assert!(
                err <= 1e-6 * scale,
                "{case}, probe {k}: |Hv - H_torch v| / |H_torch v| = {:.2e}",
                err / scale
            );
        }
    }
}

#[test]
fn top_eigenvalues_and_trace_match_the_dense_hessian() {
    for case in ["lipschitz_euler", "lstm", "cornn", "vanilla"] {
        let src = source(case);
        let dir = fixtures().join("hessian").join(case);
        let out = common::lrnn_ok(
            &dir,
            &[
                "analyze",
                "hessian",
                "--spec",
                src.join("spec.toml").to_str().unwrap(),
                "--checkpoint",
                src.join("checkpoint.h5").to_str().unwrap(),
                "--batch",
                src.join("batch.h5").to_str().unwrap(),
                "--top",
                "3",
                "--trace",
                "--probes",
                "200",
                "--json",
            ],
        );
        let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        let f = hdf5::File::open(dir.join("hessian.h5")).unwrap();
        let exact = read(&f, "eigenvalues");
        let got: Vec<f64> = r["eigenvalues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), 3);
        let bounds: Vec<f64> = r["eigenvalue_bounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for ((g, e), b) in got.iter().zip(&exact).zip(&bounds) {
            // Lanczos stops once each residual bound, its stated error, is below 1e-3 relative.
            assert!(*b <= 1e-3 * g.abs(), "{case}: bounds {bounds:?}");
            // Within its bound of an eigenvalue of our products, which are within 1e-6 of H's.
            assert!(
                (g - e).abs() <= b + 1e-6 * exact[0].abs(),
                "{case}: eigenvalues {got:?} ± {bounds:?} vs {:?}",
                &exact[..3]
            );
        }
        let trace = f.dataset("trace").unwrap().read_scalar::<f64>().unwrap();
        let (t, se) = (
            r["trace"].as_f64().unwrap(),
            r["trace_stderr"].as_f64().unwrap(),
        );
        assert!(
            (t - trace).abs() <= 3.0 * se,
            "{case}: trace {t} ± {se} vs {trace}"
        );
        assert!(
            se < trace.abs(),
            "{case}: a standard error of {se} says nothing"
        );
    }
}
