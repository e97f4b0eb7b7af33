//! The stability certificate against numpy, on a committed fixture made by
//! `scripts/analysis/make_stability_fixture.py`, which computes (column convention, f64 of
//! the checkpoint's f32 matrices):
//!
//! ```python
//! a, w = compose(m_a, GAMMA_A), compose(m_w, GAMMA_W)   # (1-b)(M+M^T) + b(M-M^T) - g I
//! eig_a = np.linalg.eigvals(a)
//! a_sym = np.linalg.eigvalsh((a + a.T) / 2)
//! sigma_w = np.linalg.svd(w, compute_uv=False)
//! amplification = np.abs(r(EPS * ALPHA * eig_a)).max()  # r = 1 + z, or 1 + z + z^2/2
//! ```
//!
//! and the per-epoch columns of a Lipschitz run against the same command on its checkpoint.

mod common;

use std::path::Path;

use common::lrnn_ok;

#[test]
fn the_certificate_matches_numpy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stability");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("expected.json")).unwrap())
            .unwrap();
    for scheme in ["euler", "rk2"] {
        let spec = root.join(format!("spec-{scheme}.toml"));
        let out = lrnn_ok(
            &root,
            &[
                "analyze",
                "stability",
                "--spec",
                spec.to_str().unwrap(),
                "--checkpoint",
                root.join("checkpoint.h5").to_str().unwrap(),
                "--json",
            ],
        );
        let got: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        for (key, want) in expected[scheme].as_object().unwrap() {
            let (g, w) = (got[key].as_f64().unwrap(), want.as_f64().unwrap());
            assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                "{scheme} {key}: {g} vs numpy {w}"
            );
        }
        // This fixture's A^sym has a positive eigenvalue: condition (a) cannot hold.
        assert_eq!(got["stable"], false);
    }
}

#[test]
fn every_epoch_records_the_certificate_of_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "[model]\nkind = \"lipschitz\"\nhidden = 10\nscheme = \"rk2\"\ngamma_a = 0.5\n[task]\nname = \"adding\"\nseq_len = 20\ntrain_size = 64\nval_size = 32\ntest_size = 32\n[train]\nepochs = 2\nbatch_size = 32\nlr = 0.001\n";
    std::fs::write(dir.path().join("s.toml"), spec).unwrap();
    lrnn_ok(dir.path(), &["run", "s.toml", "--out", "run"]);
    let m =
        lrnn::experiment::metrics::MetricsTable::read(&dir.path().join("run/metrics.csv")).unwrap();
    let out = lrnn_ok(
        dir.path(),
        &["analyze", "stability", "--run", "run", "--json"],
    );
    let c: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    for key in [
        "max_re_eig_a",
        "max_re_eig_w",
        "lambda_max_a_sym",
        "lambda_min_a_sym",
        "sigma_max_w",
        "stability_margin",
        "amplification",
    ] {
        let col = m.column(key);
        assert_eq!(col.len(), 2, "{key}");
        // LAPACK's last bits depend on the buffers' alignment, hence a tolerance of ulps.
        let want = c[key].as_f64().unwrap();
        assert!(
            (col[1] - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{key}: last epoch {} vs its checkpoint {want}",
            col[1]
        );
    }
    // M starts near 0 and moves by about lr a step, so A ≈ −γ_A·I stays negative definite.
    assert!(m.column("lambda_max_a_sym")[0] < 0.0);
}

/// Every cell gets one comparable number: `analyze stability` of a non-Lipschitz run is its
/// largest Lyapunov exponent along test sequences; a Lipschitz run adds it on `--lyapunov`.
#[test]
fn stability_of_any_cell_reports_its_largest_lyapunov_exponent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = |kind: &str| {
        format!(
            "[model]\nkind = \"{kind}\"\nhidden = 8\n[task]\nname = \"adding\"\nseq_len = 20\ntrain_size = 64\nval_size = 32\ntest_size = 32\n[train]\nepochs = 1\nbatch_size = 32\nlr = 0.01\n"
        )
    };
    for kind in ["gru", "lipschitz"] {
        std::fs::write(d.join(format!("{kind}.toml")), spec(kind)).unwrap();
        common::lrnn_ok(d, &["run", &format!("{kind}.toml"), "--out", kind]);
    }
    let out = common::lrnn_ok(
        d,
        &[
            "analyze",
            "stability",
            "--run",
            "gru",
            "--json",
            "--samples",
            "16",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["kind"], "gru");
    assert_eq!(v["lyapunov_samples"], 16);
    assert!(v["lyapunov_max"].as_f64().unwrap().is_finite(), "{v}");
    assert!(v.get("max_re_eig_a").is_none());
    let out = common::lrnn_ok(
        d,
        &[
            "analyze",
            "stability",
            "--run",
            "lipschitz",
            "--json",
            "--lyapunov",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert!(
        v["max_re_eig_a"].is_f64() && v["lyapunov_max"].is_f64(),
        "{v}"
    );
}
