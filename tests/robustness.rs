//! `lrnn analyze robustness` on a small trained model (adding, test MSE 0.055 after 4 epochs): a zero level reproduces the clean
//! metric exactly, noise grows the error, draws are seeded, and `--run` reads a run folder.

mod common;

const SPEC: &str = r#"
[model]
kind = "lipschitz"
hidden = 32
eps = 0.1
[task]
name = "adding"
seq_len = 10
train_size = 3200
val_size = 64
test_size = 256
[train]
epochs = 4
batch_size = 32
eval_batch_size = 64
lr = 0.01
"#;

/// Levels 0 and a large one of three kinds; the multiplicative kind keeps its defaults.
const LEVELS: &[&str] = &[
    "--gaussian",
    "0,0.5",
    "--params",
    "0,0.5",
    "--salt-pepper",
    "0,0.3",
];

fn report(dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "analyze",
        "robustness",
        "--run",
        "run",
        "--draws",
        "3",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = common::lrnn_ok(dir, &args);
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

#[test]
fn zero_noise_is_the_clean_metric_and_noise_hurts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    common::lrnn_ok(d, &["run", "spec.toml", "--out", "run"]);
    let r = report(d, LEVELS);
    assert_eq!(r["metric"], "mse");
    assert_eq!(r["samples"], 256);
    let clean = r["clean"].as_f64().unwrap();
    let kinds = r["perturbations"].as_array().unwrap();
    assert_eq!(kinds.len(), 4);
    for k in kinds {
        let name = k[0].as_str().unwrap();
        let levels = k[1].as_array().unwrap();
        if name == "multiplicative" {
            assert_eq!(levels.len(), 4, "the default levels");
            continue;
        }
        assert_eq!(
            levels[0]["mean"].as_f64().unwrap(),
            clean,
            "{name} at level 0"
        );
        assert_eq!(levels[0]["stderr"].as_f64().unwrap(), 0.0);
        let noisy = levels[1]["mean"].as_f64().unwrap();
        assert!(noisy > 1.2 * clean, "{name}: {noisy} vs clean {clean}");
        assert!(
            levels[1]["stderr"].as_f64().unwrap() > 0.0,
            "{name}: draws differ"
        );
    }
    // Seeded: the same command, the same numbers.
    let again = report(d, LEVELS);
    assert_eq!(again, r);
}
