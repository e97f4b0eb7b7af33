//! Evaluation: a model's loss statistics over a split, and a checkpoint's on validation and test.

use std::path::Path;

use crate::data::{Metric, SplitName, Task};
use crate::error::Result;
use crate::experiment::checkpoint;
use crate::experiment::spec::Spec;
use crate::net::model::Model;
use crate::net::nn::loss::LossStats;
use crate::net::params::Params;

/// Loss statistics of `model` over a split (its first `limit` batches if given), in batches of
/// `batch` (the state carried from batch to batch where the task streams, as PTB).
pub fn evaluate_split(
    model: &Model<f32>,
    params: &Params<f32>,
    task: &dyn Task,
    split: SplitName,
    batch: usize,
    limit: Option<usize>,
) -> LossStats {
    let mut ws = model.workspace(1, 1, false);
    let mut stats = LossStats::default();
    let n = task.num_batches(split, batch);
    let n = limit.map_or(n, |l| l.min(n));
    // Drawn on a terminal only (indicatif hides it otherwise), cleared when done.
    let bar = indicatif::ProgressBar::new(n as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "  eval {msg} {bar:30} {pos}/{len} batches, {eta} left",
        )
        .expect("a valid template"),
    );
    bar.set_message(split.as_str());
    for i in 0..n {
        let b = task.batch(split, batch, 0, 0, i);
        stats.merge(model.forward_backward(params, &b, &mut ws, None));
        bar.inc(1);
    }
    bar.finish_and_clear();
    stats
}

/// Loss statistics of a checkpoint on the validation and test splits, and the task's metric:
/// the whole splits, or with `capped` the part a training epoch evaluates under the spec's
/// `train.max_eval_batches` (so a run's recorded metrics can be checked).
pub fn evaluate_checkpoint(
    spec: &Spec,
    checkpoint: &Path,
    data_dir: Option<&Path>,
    capped: bool,
) -> Result<(LossStats, LossStats, Metric)> {
    let mut task = spec.load_task(data_dir)?;
    let b = spec.train.eval_batch_size;
    let limit = spec.train.max_eval_batches.filter(|_| capped);
    if let Some(batches) = limit {
        task.cap_evaluation(batches * b, spec.train.seed);
    }
    let model = spec.build_model();
    let mut params = Params::zeros(model.layout.clone());
    checkpoint::load_into(checkpoint, &mut params)?;
    Ok((
        evaluate_split(&model, &params, task.as_ref(), SplitName::Val, b, limit),
        evaluate_split(&model, &params, task.as_ref(), SplitName::Test, b, limit),
        task.info().metric,
    ))
}
