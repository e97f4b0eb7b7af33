//! Softmax cross-entropy, the classification loss (PyTorch's `cross_entropy`, mean over rows).

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::kernels::float::Float;

/// Summary of a batch under the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    /// Sum of per-row losses (nats), accumulated in f64.
    pub sum: f64,
    /// Rows whose arg-max logit is the label.
    pub correct: usize,
    pub rows: usize,
}

impl LossStats {
    /// Mean loss a row; NaN over no rows (a mean of nothing is not a perfect score).
    pub fn mean(&self) -> f64 {
        if self.rows == 0 {
            return f64::NAN;
        }
        self.sum / self.rows as f64
    }

    /// Fraction of rows classified correctly; NaN over no rows.
    pub fn accuracy(&self) -> f64 {
        if self.rows == 0 {
            return f64::NAN;
        }
        self.correct as f64 / self.rows as f64
    }

    pub fn merge(&mut self, other: LossStats) {
        self.sum += other.sum;
        self.correct += other.correct;
        self.rows += other.rows;
    }
}

/// Cross-entropy of `logits [R, q]` against `labels`; if `grad` is given, writes
/// d(mean loss)/d(logits) scaled by `scale / R` (scale 1 for a plain mean).
pub fn cross_entropy<F: Float>(
    logits: ArrayView2<F>,
    labels: &[usize],
    mut grad: Option<ArrayViewMut2<F>>,
    scale: f64,
) -> LossStats {
    let rows = logits.nrows();
    assert_eq!(rows, labels.len(), "one label a row");
    let mut stats = LossStats {
        rows,
        ..LossStats::default()
    };
    for (r, (row, &y)) in logits.rows().into_iter().zip(labels).enumerate() {
        let (arg, max) = row
            .iter()
            .enumerate()
            .fold(
                (0, F::neg_infinity()),
                |(i, m), (j, &v)| if v > m { (j, v) } else { (i, m) },
            );
        let sum_exp: F = row.iter().map(|&v| (v - max).exp()).sum();
        let log_z = max + sum_exp.ln();
        stats.sum += (log_z - row[y]).f64();
        stats.correct += usize::from(arg == y);
        if let Some(g) = grad.as_mut() {
            let k = F::of(scale / rows as f64);
            for (j, (gv, &v)) in g.row_mut(r).iter_mut().zip(row).enumerate() {
                let p = (v - log_z).exp();
                *gv = k * (p - if j == y { F::one() } else { F::zero() });
            }
        }
    }
    stats
}

/// Squared error of `pred [R, q]` against `target [R, q]` over the rows whose `mask` is 1
/// (real frames; `None` = all rows). The loss is the mean over real elements (PyTorch's
/// `MSELoss()` on the masked-selected elements, as expRNN's TIMIT code); if `grad` is given,
/// writes d(loss)/d(pred) (zero on masked rows).
pub fn mse<F: Float>(
    pred: ArrayView2<F>,
    target: ArrayView2<F>,
    mask: Option<&[F]>,
    mut grad: Option<ArrayViewMut2<F>>,
) -> LossStats {
    let q = pred.ncols();
    let real_rows = mask.map_or(pred.nrows(), |m| {
        m.iter().filter(|&&v| v > F::zero()).count()
    });
    let count = real_rows * q;
    let k = F::of(2.0 / count.max(1) as f64);
    let mut sum = 0.0;
    for (r, (p_row, t_row)) in pred.rows().into_iter().zip(target.rows()).enumerate() {
        let w = mask.map_or(F::one(), |m| m[r]);
        for (j, (&p, &t)) in p_row.iter().zip(t_row).enumerate() {
            let d = (p - t) * w;
            sum += (d * d).f64();
            if let Some(g) = grad.as_mut() {
                g[[r, j]] = k * d * w;
            }
        }
    }
    LossStats {
        sum,
        correct: 0,
        rows: count,
    }
}
