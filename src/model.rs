//! A sequence classifier: input projection → recurrent cell → linear decoder of the last state,
//! trained with softmax cross-entropy. This is the part every cell shares.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2, s};
use rand::SeedableRng;

use crate::cells::{Cell, ModelConfig, OutGrad, Tape};
use crate::float::Float;
use crate::nn::Linear;
use crate::nn::loss::{LossStats, cross_entropy};
use crate::params::{Layout, Params};

/// The network: its parameter layout and the modules that read it.
pub struct Model<F: Float> {
    pub config: ModelConfig,
    pub layout: Arc<Layout>,
    pub cell: Box<dyn Cell<F>>,
    /// `decoder/weight [q, N]`, `decoder/bias [q]`.
    pub decoder: Linear,
    pub input_size: usize,
    pub classes: usize,
}

/// Buffers for one batch shape, reused from batch to batch.
pub struct Workspace<F> {
    steps: usize,
    batch: usize,
    keep: bool,
    tape: Tape,
    /// Projected inputs `[T·B, K]`.
    z: Array2<F>,
    /// Carried state `[B, S]`.
    state: Array2<F>,
    /// `[B, q]` and its gradient.
    logits: Array2<F>,
    dlogits: Array2<F>,
    /// dL/dh_T, `[B, N]`.
    dh: Array2<F>,
}

impl<F: Float> Model<F> {
    /// Builds the cell named by `config` for inputs of width `input_size` and `classes` outputs.
    pub fn new(config: &ModelConfig, input_size: usize, classes: usize) -> Self {
        let mut layout = Layout::default();
        let cell = config.build::<F>(input_size, &mut layout);
        let decoder = Linear::declare(
            &mut layout,
            "decoder/weight",
            Some("decoder/bias"),
            cell.hidden(),
            classes,
        );
        Model {
            config: config.clone(),
            layout: Arc::new(layout),
            cell,
            decoder,
            input_size,
            classes,
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

    /// Buffers for batches of `batch` sequences of `steps`; `keep` records the tape for BPTT.
    pub fn workspace(&self, steps: usize, batch: usize, keep: bool) -> Workspace<F> {
        Workspace {
            steps,
            batch,
            keep,
            tape: self.cell.new_tape(steps, batch, keep),
            z: Array2::zeros((steps * batch, self.cell.input().fan_out)),
            state: Array2::zeros((batch, self.cell.state_width())),
            logits: Array2::zeros((batch, self.classes)),
            dlogits: Array2::zeros((batch, self.classes)),
            dh: Array2::zeros((batch, self.cell.hidden())),
        }
    }

    fn fit(&self, ws: &mut Workspace<F>, steps: usize, batch: usize, keep: bool) {
        if (ws.steps, ws.batch, ws.keep) != (steps, batch, keep) {
            *ws = self.workspace(steps, batch, keep);
        }
    }

    /// Logits of the last state for `x [T·B, p]` (time-major), left in the workspace.
    fn forward(
        &self,
        p: &Params<F>,
        x: ArrayView2<F>,
        batch: usize,
        keep: bool,
        ws: &mut Workspace<F>,
    ) {
        assert_eq!(x.ncols(), self.input_size, "input width");
        let steps = x.nrows() / batch;
        self.fit(ws, steps, batch, keep);
        self.cell.input().forward(p, x, ws.z.view_mut());
        ws.state.fill(F::zero());
        self.cell
            .forward(p, ws.z.view(), ws.state.view_mut(), &mut ws.tape);
        let h = ws.state.slice(s![.., ..self.cell.hidden()]);
        self.decoder.forward(p, h, ws.logits.view_mut());
    }

    /// Mean cross-entropy of a batch and its gradient, written to `grads` (overwritten).
    pub fn loss_and_grad(
        &self,
        p: &Params<F>,
        x: ArrayView2<F>,
        labels: &[usize],
        ws: &mut Workspace<F>,
        grads: &mut Params<F>,
    ) -> LossStats {
        let batch = labels.len();
        self.forward(p, x, batch, true, ws);
        let stats = cross_entropy(ws.logits.view(), labels, Some(ws.dlogits.view_mut()), 1.0);
        grads.fill_zero();
        let h = ws.state.slice(s![.., ..self.cell.hidden()]);
        self.decoder.backward(h, ws.dlogits.view(), grads);
        self.decoder
            .backward_input(p, ws.dlogits.view(), ws.dh.view_mut());
        let dz = self
            .cell
            .backward(p, &mut ws.tape, OutGrad::Last(ws.dh.view()), grads);
        self.cell.input().backward(x, dz, grads);
        stats
    }

    /// Loss and accuracy of a batch without recording a tape.
    pub fn evaluate(
        &self,
        p: &Params<F>,
        x: ArrayView2<F>,
        labels: &[usize],
        ws: &mut Workspace<F>,
    ) -> LossStats {
        self.forward(p, x, labels.len(), false, ws);
        cross_entropy(ws.logits.view(), labels, None, 1.0)
    }

    /// Logits `[B, q]` of the last [`Model::evaluate`] or [`Model::loss_and_grad`].
    pub fn logits<'w>(&self, ws: &'w Workspace<F>) -> ArrayView2<'w, F> {
        ws.logits.view()
    }
}
