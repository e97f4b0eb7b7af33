//! The batch contract between data and model: a task produces [`Batch`]es, the model
//! consumes them. A leaf of the network layer, so data depends on it and not on the model.

use ndarray::{Array2, Axis};

use crate::kernels::float::Float;

/// What a batch is trained against; it decides the readout and the loss.
#[derive(Clone, Debug)]
pub enum Target<F> {
    /// A class a sequence, `[B]`, from the last state; cross-entropy.
    Class(Vec<usize>),
    /// A token a step, `[T·B]` time-major, from every state; cross-entropy (nats a token).
    Tokens(Vec<usize>),
    /// A vector a step, `[T·B, q]`, from every state, with `mask [T·B]` (1 = real step); mean squared error.
    Frames { values: Array2<F>, mask: Vec<F> },
    /// A vector a sequence, `[B, q]`, from the last state; mean squared error.
    Value(Array2<F>),
}

impl<F> Target<F> {
    /// Whether the decoder reads every state rather than the last.
    pub fn every_step(&self) -> bool {
        matches!(self, Target::Tokens(_) | Target::Frames { .. })
    }
}

/// A batch of sequences as the model consumes them.
#[derive(Clone, Debug)]
pub struct Batch<F> {
    /// Inputs, time-major `[T·B, p]`.
    pub x: Array2<F>,
    /// Sequences B.
    pub size: usize,
    pub target: Target<F>,
    /// Start from the state the previous batch left (truncated BPTT over a stream).
    pub carry: bool,
}

impl<F: Float> Batch<F> {
    /// Sequences `range` of the batch (for data-parallel shards), keeping time-major order.
    pub fn shard(&self, range: std::ops::Range<usize>) -> Batch<F> {
        let (b, steps) = (self.size, self.x.nrows() / self.size);
        let rows: Vec<usize> = (0..steps)
            .flat_map(|t| range.clone().map(move |s| t * b + s))
            .collect();
        let target = match &self.target {
            Target::Class(y) => Target::Class(y[range.clone()].to_vec()),
            Target::Value(v) => {
                Target::Value(v.select(Axis(0), &range.clone().collect::<Vec<_>>()))
            }
            Target::Tokens(y) => Target::Tokens(rows.iter().map(|&r| y[r]).collect()),
            Target::Frames { values, mask } => Target::Frames {
                values: values.select(Axis(0), &rows),
                mask: rows.iter().map(|&r| mask[r]).collect(),
            },
        };
        Batch {
            x: self.x.select(Axis(0), &rows),
            size: range.len(),
            target,
            carry: self.carry,
        }
    }
}

impl<F: Float> Batch<F> {
    /// The same batch in another float type (f64 curvature of f32 data).
    pub fn cast<G: Float>(&self) -> Batch<G> {
        let c = |a: &Array2<F>| a.mapv(|v| G::of(v.f64()));
        Batch {
            x: c(&self.x),
            size: self.size,
            target: match &self.target {
                Target::Class(y) => Target::Class(y.clone()),
                Target::Tokens(y) => Target::Tokens(y.clone()),
                Target::Frames { values, mask } => Target::Frames {
                    values: c(values),
                    mask: mask.iter().map(|v| G::of(v.f64())).collect(),
                },
                Target::Value(v) => Target::Value(c(v)),
            },
            carry: self.carry,
        }
    }
}

impl<F> Batch<F> {
    /// A classification batch: one label a sequence, fresh state.
    pub fn classes(x: Array2<F>, labels: Vec<usize>) -> Self {
        Batch {
            x,
            size: labels.len(),
            target: Target::Class(labels),
            carry: false,
        }
    }
}
