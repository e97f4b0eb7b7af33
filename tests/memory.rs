//! The activation bytes a tape reports (`Model::activation_bytes`, what `lrnn bench` prints
//! as `activations_mib`), held against what the cells' code stores.

use lrnn::experiment::bench::random_batch;
use lrnn::net::cells::ModelConfig;
use lrnn::net::model::Model;
use lrnn::net::params::Params;

const F32: usize = std::mem::size_of::<f32>();

/// A model of `kind` with hidden width `n` and the extra `[model]` keys in `extra` (TOML).
fn model(kind: &str, extra: &str, n: usize) -> Model<f32> {
    let mut table: toml::Table = extra.parse().unwrap();
    table.insert("hidden".into(), toml::Value::Integer(n as i64));
    Model::new(&ModelConfig::parse(kind, table).unwrap(), 1, 10)
}

/// Activation bytes of `m`'s workspace after a training step (`train`) or an evaluation on
/// `t` steps of `b` sequences.
fn bytes_after(m: &Model<f32>, t: usize, b: usize, train: bool) -> Option<usize> {
    let (p, batch) = (m.init(1), random_batch(t, b, 1, 10, 7));
    let mut ws = m.workspace(1, 1, false);
    let mut grads = Params::zeros(m.layout.clone());
    m.forward_backward(&p, &batch, &mut ws, train.then_some(&mut grads));
    m.activation_bytes(&ws)
}

#[test]
fn lipschitz_tape_holds_its_states_and_stage_outputs() {
    let (t, b, n) = (7, 3, 5);
    // Kept: states h_0..h_T (T + 1 slots) and a1_t = tanh(h_t·W + z_t) for t < T; RK2 adds the
    // midpoints hm_t and their a2_t. Inference keeps h_t, h_{t+1} and one slot of each stage.
    for (scheme, kept_slots, inference_slots) in [("euler", 2 * t + 1, 3), ("rk2", 4 * t + 1, 5)] {
        let m = model("lipschitz", &format!("scheme = '{scheme}'"), n);
        let step = b * n * F32;
        assert_eq!(
            bytes_after(&m, t, b, true),
            Some(kept_slots * step),
            "{scheme}"
        );
        assert_eq!(
            bytes_after(&m, t, b, false),
            Some(inference_slots * step),
            "{scheme}"
        );
    }
}

#[test]
fn every_cell_counts_at_least_its_outputs_and_grows_with_the_sequence() {
    let (t, b, n) = (6, 2, 4);
    for &kind in ModelConfig::KINDS {
        let m = model(kind, "", n);
        let short = bytes_after(&m, t, b, true).unwrap_or_else(|| panic!("{kind} says nothing"));
        let long = bytes_after(&m, 2 * t, b, true).unwrap();
        // h_1..h_T is the least any BPTT keeps; every kept buffer is T (+1) steps long.
        assert!(short >= t * b * n * F32, "{kind}: {short} bytes");
        assert!(
            long > short && long < 2 * short + 1,
            "{kind}: {short} then {long} bytes"
        );
    }
}
