//! A sequence model: input projection → recurrent cell → linear decoder, read out either at
//! the last state (sequence classification, the adding task) or at every step (character
//! language modelling, frame prediction), with the loss its target calls for. This is the
//! part every cell shares.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2, s};
use rand::SeedableRng;
use rayon::prelude::*;

use crate::kernels::float::Float;
pub use crate::net::batch::{Batch, Target};
use crate::net::cells::{AnyCell, InputGrads, Inputs, ModelConfig, OutGrad, Tape, chunk_steps};
use crate::net::nn::Linear;
use crate::net::nn::loss::{LossStats, cross_entropy, mse};
use crate::net::params::{Layout, Params};

/// One data-parallel worker's buffers: its workspace (and carried state) and its gradient.
pub struct Shard<F: Float> {
    pub ws: Workspace<F>,
    pub grads: Params<F>,
}

/// The network: its parameter layout and the modules that read it.
pub struct Model<F: Float> {
    pub config: ModelConfig,
    pub layout: Arc<Layout>,
    pub cell: Box<dyn AnyCell<F>>,
    /// `decoder/weight [q, N]`, `decoder/bias [q]`.
    pub decoder: Linear,
    pub input_size: usize,
    /// Classes, vocabulary size or output features q.
    pub output_size: usize,
}

/// Buffers for one batch shape, reused from batch to batch; holds the carried state.
pub struct Workspace<F> {
    steps: usize,
    batch: usize,
    keep: bool,
    every: bool,
    tape: Tape,
    /// Projected inputs `[T·B, K]`, which backward overwrites with dL/dz. Narrow inputs are
    /// projected a step at a time into `z_step`, `[B, K]`, and `z` holds only a chunk of
    /// dL/dz ([`InputGrads`]), or nothing (0 rows) when no tape is kept.
    z: Array2<F>,
    z_step: Array2<F>,
    /// Carried state `[B, S]`.
    state: Array2<F>,
    /// Decoder outputs and their gradient, `[B, q]` or `[T·B, q]`.
    out: Array2<F>,
    dout: Array2<F>,
    /// Gradient at the read-out states, `[B, N]` or `[T·B, N]`.
    dh: Array2<F>,
    /// A carried state restored from a checkpoint, consumed by the next carrying batch.
    restored: Option<Array2<F>>,
}

impl<F: Float> Workspace<F> {
    /// The state the last batch ended in, `[B, S]` (what a carrying next batch starts from).
    pub fn state(&self) -> ArrayView2<'_, F> {
        self.state.view()
    }

    /// Makes the next carrying batch start from `state` (`[B, S]`), as after a resume.
    pub fn restore_state(&mut self, state: Array2<F>) {
        self.restored = Some(state);
    }
}

impl<F: Float> Model<F> {
    /// Builds the cell named by `config` for inputs of width `input_size` and `output_size` outputs.
    pub fn new(config: &ModelConfig, input_size: usize, output_size: usize) -> Self {
        let mut layout = Layout::default();
        let cell = config.build::<F>(input_size, &mut layout);
        let decoder = Linear::declare(
            &mut layout,
            "decoder/weight",
            Some("decoder/bias"),
            cell.hidden(),
            output_size,
        );
        Model {
            config: config.clone(),
            layout: Arc::new(layout),
            cell,
            decoder,
            input_size,
            output_size,
        }
    }

    /// Parameters drawn from the initialisers, deterministic in `seed`.
    pub fn init(&self, seed: u64) -> Params<F> {
        Params::init(
            self.layout.clone(),
            &mut rand_pcg::Pcg64::seed_from_u64(seed),
        )
    }

    /// Number of trainable scalars.
    pub fn num_params(&self) -> usize {
        self.layout.len()
    }

    /// Buffers for `batch` sequences of `steps` read out at the last state; `keep` records the
    /// tape. Any workspace will do: [`Model::forward_backward`] refits it to the batch it gets.
    pub fn workspace(&self, steps: usize, batch: usize, keep: bool) -> Workspace<F> {
        self.alloc(steps, batch, keep, false)
    }

    fn alloc(&self, steps: usize, batch: usize, keep: bool, every: bool) -> Workspace<F> {
        let read = if every { steps * batch } else { batch };
        let (narrow, k) = (self.cell.input().narrow(), self.cell.input().fan_out);
        Workspace {
            steps,
            batch,
            keep,
            every,
            tape: self.cell.new_tape(steps, batch, keep),
            z: Array2::zeros((self.z_rows(steps, batch, keep), k)),
            z_step: Array2::zeros((if narrow { batch } else { 0 }, k)),
            state: Array2::zeros((batch, self.cell.state_width())),
            out: Array2::zeros((read, self.output_size)),
            dout: Array2::zeros((read, self.output_size)),
            dh: Array2::zeros((read, self.cell.hidden())),
            restored: None,
        }
    }

    /// Loss of `batch` against its target; with `grads`, also its gradient (overwriting
    /// `grads`). With `batch.carry`, the recurrence starts from the state the previous batch
    /// left in `ws` (truncated BPTT; no gradient flows into it), else from zero.
    pub fn forward_backward(
        &self,
        p: &Params<F>,
        batch: &Batch<F>,
        ws: &mut Workspace<F>,
        grads: Option<&mut Params<F>>,
    ) -> LossStats {
        // Row-wise input code reads rows as slices; batches are built in standard layout.
        let (x, target) = (batch.x.as_standard_layout(), &batch.target);
        let x = x.view();
        assert_eq!(x.ncols(), self.input_size, "input width");
        let steps = x.nrows() / batch.size;
        let every = target.every_step();
        // Every-step readouts need the outputs of all steps, so they keep the tape.
        let keep = grads.is_some() || every;
        let shape = (steps, batch.size, keep, every);
        let restored = ws.restored.take();
        if (ws.steps, ws.batch, ws.keep, ws.every) != shape {
            // Refitted to a new shape (the shorter last segment of a stream), a carrying
            // batch still starts from the state the last one left.
            let carried = std::mem::take(&mut ws.state);
            *ws = self.alloc(steps, batch.size, keep, every);
            if batch.carry && carried.dim() == ws.state.dim() {
                ws.state = carried;
            }
        } else if !batch.carry {
            ws.state.fill(F::zero());
        }
        if let Some(state) = restored.filter(|s| batch.carry && s.dim() == ws.state.dim()) {
            ws.state.assign(&state);
        }

        let input = self.cell.input();
        let mut z = if input.narrow() {
            Inputs::per_step(p, input, x, ws.z_step.view_mut())
        } else {
            input.forward(p, x, ws.z.view_mut());
            Inputs::projected(ws.z.view(), batch.size)
        };
        self.cell
            .forward(p, &mut z, ws.state.view_mut(), &mut ws.tape);
        let n = self.cell.hidden();
        let read: ArrayView2<F> = if every {
            self.cell.outputs(&ws.tape)
        } else {
            ws.state.slice(s![.., ..n])
        };
        self.decoder.forward(p, read, ws.out.view_mut());
        let dout = grads.is_some().then_some(ws.dout.view_mut());
        let stats = match target {
            Target::Class(y) | Target::Tokens(y) => cross_entropy(ws.out.view(), y, dout, 1.0),
            Target::Frames { values, mask } => mse(ws.out.view(), values.view(), Some(mask), dout),
            Target::Value(v) => mse(ws.out.view(), v.view(), None, dout),
        };
        let Some(grads) = grads else {
            return stats;
        };

        grads.fill_zero();
        self.decoder.backward(read, ws.dout.view(), grads);
        self.decoder
            .backward_input(p, ws.dout.view(), ws.dh.view_mut());
        let d_out = if every {
            OutGrad::Every(ws.dh.view())
        } else {
            OutGrad::Last(ws.dh.view())
        };
        // dL/dz goes into the z buffer, which the forward pass was the last to read.
        let mut dz = InputGrads::new(self.cell.input(), x, ws.z.view_mut(), batch.size);
        self.cell.backward(p, &mut ws.tape, d_out, &mut dz, grads);
        stats
    }

    /// Bytes of the activations `ws`'s tape holds for BPTT, as allocated for the last batch
    /// ([`Cell::activation_bytes`]); `None` if the cell does not say.
    pub fn activation_bytes(&self, ws: &Workspace<F>) -> Option<usize> {
        self.cell.activation_bytes(&ws.tape)
    }

    /// Rows of the `z` buffer: the whole `[T·B, K]` projection for wide inputs; for narrow
    /// ones a chunk of dL/dz when a tape is kept, else nothing.
    fn z_rows(&self, steps: usize, batch: usize, keep: bool) -> usize {
        match (self.cell.input().narrow(), keep) {
            (false, _) => steps * batch,
            (true, true) => chunk_steps(steps, batch) * batch,
            (true, false) => 0,
        }
    }

    /// Bytes a training workspace for `steps × batch` holds (the tape's activations, the
    /// projected inputs and the readout buffers), computed without allocating it: the
    /// per-step buffers from workspaces of one and two steps, in which they grow linearly.
    pub fn workspace_bytes(&self, steps: usize, batch: usize, every: bool) -> usize {
        let bytes = |t: usize| {
            let ws = self.alloc(t, batch, true, every);
            let arrays = [&ws.z_step, &ws.state, &ws.out, &ws.dout, &ws.dh];
            let own: usize = arrays.iter().map(|a| a.len()).sum::<usize>() * size_of::<F>();
            own + self.cell.activation_bytes(&ws.tape).unwrap_or(0)
        };
        let (one, two) = (bytes(1), bytes(2));
        let per_step = two.saturating_sub(one);
        let z = self.z_rows(steps, batch, true) * self.cell.input().fan_out * size_of::<F>();
        one.saturating_sub(per_step) + per_step.saturating_mul(steps) + z
    }

    /// `n` data-parallel workers' buffers for [`Model::forward_backward_sharded`].
    pub fn shards(&self, n: usize) -> Vec<Shard<F>> {
        (0..n)
            .map(|_| Shard {
                ws: self.workspace(1, 1, false),
                grads: Params::zeros(self.layout.clone()),
            })
            .collect()
    }

    /// [`Model::forward_backward`] with the batch split over `shards` run on the rayon pool (one
    /// level of parallelism: BLAS should be single-threaded meanwhile). Shard `k` always gets the
    /// same sequences, so carried state stays with its stream; the gradient is the mean over all
    /// rows, each shard's weighted by its share of them.
    pub fn forward_backward_sharded(
        &self,
        p: &Params<F>,
        batch: &Batch<F>,
        shards: &mut [Shard<F>],
        grads: &mut Params<F>,
    ) -> LossStats {
        let n = shards.len().min(batch.size).max(1);
        if n == 1 {
            return self.forward_backward(p, batch, &mut shards[0].ws, Some(grads));
        }
        let parts: Vec<Batch<F>> = (0..n)
            .map(|k| batch.shard(k * batch.size / n..(k + 1) * batch.size / n))
            .collect();
        let stats: Vec<LossStats> = shards[..n]
            .par_iter_mut()
            .zip(parts.par_iter())
            .map(|(shard, part)| {
                crate::net::nn::act::flush_denormals();
                self.forward_backward(p, part, &mut shard.ws, Some(&mut shard.grads))
            })
            .collect();
        let total: usize = stats.iter().map(|s| s.rows).sum();
        grads.fill_zero();
        let mut merged = LossStats::default();
        for (shard, s) in shards.iter().zip(&stats) {
            let w = F::of(s.rows as f64 / total.max(1) as f64);
            grads
                .data
                .iter_mut()
                .zip(&shard.grads.data)
                .for_each(|(g, &d)| *g += w * d);
            merged.merge(*s);
        }
        merged
    }

    /// Mean cross-entropy of a classification batch and its gradient, written to `grads`.
    pub fn loss_and_grad(
        &self,
        p: &Params<F>,
        x: ArrayView2<F>,
        labels: &[usize],
        ws: &mut Workspace<F>,
        grads: &mut Params<F>,
    ) -> LossStats {
        self.forward_backward(
            p,
            &Batch::classes(x.to_owned(), labels.to_vec()),
            ws,
            Some(grads),
        )
    }

    /// Loss and accuracy of a classification batch without recording a tape.
    pub fn evaluate(
        &self,
        p: &Params<F>,
        x: ArrayView2<F>,
        labels: &[usize],
        ws: &mut Workspace<F>,
    ) -> LossStats {
        self.forward_backward(p, &Batch::classes(x.to_owned(), labels.to_vec()), ws, None)
    }

    /// Decoder outputs of the last pass, `[B, q]` (last-state readout) or `[T·B, q]`.
    pub fn outputs<'w>(&self, ws: &'w Workspace<F>) -> ArrayView2<'w, F> {
        ws.out.view()
    }
}
