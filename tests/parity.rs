//! `lrnn grads` against PyTorch. Each folder of `tests/fixtures/parity/` holds `spec.toml`,
//! `checkpoint.h5`, `batch.h5` and `expected.h5` (loss and gradients in float64 from an
//! independent PyTorch implementation, made by a script in `scripts/parity/`); lrnn computes
//! in f32 and must agree with every gradient of the model's layout to ~1e-4 relative.

mod common;

use std::path::Path;

fn read(path: &Path, name: &str) -> Vec<f64> {
    let f = hdf5::File::open(path).unwrap();
    f.dataset(name).unwrap().read_raw::<f64>().unwrap()
}

fn check_case(case: &str) {
    check_case_with(case, "");
}

/// Runs a case with `train_keys` appended to its spec's `[train]` (e.g. another GEMM backend).
fn check_case_with(case: &str, train_keys: &str) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(case);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(case);
    std::fs::create_dir(&dir).unwrap();
    for f in ["checkpoint.h5", "batch.h5", "expected.h5"] {
        std::fs::copy(fixture.join(f), dir.join(f)).unwrap();
    }
    let spec = std::fs::read_to_string(fixture.join("spec.toml")).unwrap();
    std::fs::write(dir.join("spec.toml"), format!("{spec}\n{train_keys}\n")).unwrap();
    let out = tmp.path().join("G.h5");
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let run = common::lrnn(
        tmp.path(),
        &[
            "grads",
            "--spec",
            &path("spec.toml"),
            "--checkpoint",
            &path("checkpoint.h5"),
            "--batch",
            &path("batch.h5"),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let expected = dir.join("expected.h5");
    let (ours, theirs) = (read(&out, "loss")[0], read(&expected, "loss")[0]);
    assert!(
        (ours - theirs).abs() <= 1e-5 * theirs.abs(),
        "{case} loss: {ours} vs {theirs}"
    );
    let spec = lrnn::experiment::spec::Spec::load(&dir.join("spec.toml"), &[]).unwrap();
    let model = spec.build_model();
    for entry in model.layout.entries() {
        let name = entry.name.as_str();
        let (a, b) = (read(&out, name), read(&expected, name));
        assert_eq!(a.len(), b.len(), "{case} {name}");
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let err = a
            .iter()
            .zip(&b)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(scale > 0.0, "{case} {name}: the reference gradient is zero");
        assert!(
            err <= 1e-4 * scale,
            "{case} {name}: max error {err:e} against max |grad| {scale:e}"
        );
    }
}

#[test]
fn lipschitz_euler_matches_pytorch() {
    check_case("lipschitz_euler");
}

#[test]
fn both_gemm_backends_match_pytorch() {
    check_case_with("lipschitz_rk2", "gemm = \"openblas\"");
    check_case_with("lstm", "gemm = \"openblas\"");
    check_case_with("lipschitz_rk2", "gemm = \"matrixmultiply\"");
    check_case_with("lstm", "gemm = \"matrixmultiply\"");
}

/// The opt-in `amx` backend (bf16x3; on CPUs without AMX-BF16 it runs as `avx512`) on
/// every fixture there is, within the same 10⁻⁴ of the largest gradient.
#[test]
fn amx_backend_matches_pytorch() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    let mut cases: Vec<String> = std::fs::read_dir(fixtures)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 8, "one fixture a cell: {cases:?}");
    for case in &cases {
        check_case_with(case, "gemm = \"amx\"");
    }
}

#[test]
fn lipschitz_rk2_matches_pytorch() {
    check_case("lipschitz_rk2");
}

#[test]
fn lstm_matches_pytorch() {
    check_case("lstm");
}

#[test]
fn gru_matches_pytorch() {
    check_case("gru");
}

#[test]
fn antisymmetric_matches_pytorch() {
    check_case("antisymmetric");
}

#[test]
fn antisymmetric_gated_matches_pytorch() {
    check_case("antisymmetric_gated");
}

#[test]
fn cayley_matches_pytorch() {
    check_case("cayley");
}

#[test]
fn cornn_matches_pytorch() {
    check_case("cornn");
}
