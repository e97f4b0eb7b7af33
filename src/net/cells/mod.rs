//! Recurrent cells. Each cell is one file holding its config (the `[model]` keys of a spec),
//! its forward recurrence and its hand-written BPTT side by side, with the update equation
//! at the top. The time loop's surroundings — input projection, decoder, loss, optimiser —
//! are shared (`model.rs`), so a new cell is one new file plus one line in [`registry!`].
//!
//! Shapes: sequences are time-major and flattened, `[T·B, W]`, step `t` being rows
//! `t·B .. (t+1)·B`; the hidden state is a row vector per example, updated as `h·A`.

use std::any::Any;
use std::fmt::Debug;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, parse_config};
use crate::kernels::float::Float;
use crate::net::nn::{Linear, flat, flat_mut};
use crate::net::params::{Layout, Params};

pub mod antisymmetric;
pub mod cayley;
pub mod cornn;
pub mod gated;
pub mod gru;
pub mod lipschitz;
pub mod lstm;
pub mod residual;
pub mod tanh_rnn;
pub mod vanilla;

/// The gradient arriving at a cell's outputs `h_1..h_T`.
#[derive(Clone, Copy)]
pub enum OutGrad<'a, F> {
    /// Only the last state is read out (classification): dL/dh_T, `[B, N]`.
    Last(ArrayView2<'a, F>),
    /// Every state is read out (language modelling, speech): dL/dh_{t+1} for step `t`, `[T·B, N]`.
    Every(ArrayView2<'a, F>),
}

impl<'a, F: Float> OutGrad<'a, F> {
    /// The gradient with respect to the output of step `t` (the state `h_{t+1}`), if any.
    pub fn at(&self, t: usize, steps: usize) -> Option<ArrayView2<'a, F>> {
        match *self {
            OutGrad::Last(d) => (t + 1 == steps).then_some(d),
            OutGrad::Every(d) => {
                let b = d.nrows() / steps;
                Some(d.slice_move(ndarray::s![t * b..(t + 1) * b, ..]))
            }
        }
    }
}

/// The projected inputs `z_t = x_t·Uᵀ + b` a recurrence reads, a step at a time: views of a
/// `[T·B, K]` matrix projected in one GEMM, or, for narrow inputs ([`Linear::narrow`]), `z_t`
/// computed when the step asks for it into a `[B, K]` buffer that stays in cache. A pixel
/// sequence (1 channel) thus never writes and re-reads the whole `[T·B, K]` z in the forward
/// pass: for the LSTM (K = 4N) that is 2 × 205 MB of memory traffic a batch of 128.
pub struct Inputs<'a, F> {
    source: Source<'a, F>,
    batch: usize,
}

enum Source<'a, F> {
    Projected(ArrayView2<'a, F>),
    PerStep {
        x: ArrayView2<'a, F>,
        /// `Uᵀ` `[p, K]` and `b` (zeros without a bias).
        u_t: Array2<F>,
        bias: Vec<F>,
        buf: ArrayViewMut2<'a, F>,
    },
}

impl<'a, F: Float> Inputs<'a, F> {
    /// Inputs already projected, `z [T·B, K]` for batches of `batch`.
    pub fn projected(z: ArrayView2<'a, F>, batch: usize) -> Self {
        Inputs {
            source: Source::Projected(z),
            batch,
        }
    }

    /// Inputs `x [T·B, p]` projected by `proj` a step at a time into `buf [B, K]`.
    pub fn per_step(
        p: &Params<F>,
        proj: &Linear,
        x: ArrayView2<'a, F>,
        buf: ArrayViewMut2<'a, F>,
    ) -> Self {
        let (u_t, bias) = proj.row_weights(p);
        Inputs {
            batch: buf.nrows(),
            source: Source::PerStep { x, u_t, bias, buf },
        }
    }

    /// Steps T.
    pub fn steps(&self) -> usize {
        match &self.source {
            Source::Projected(z) => z.nrows() / self.batch,
            Source::PerStep { x, .. } => x.nrows() / self.batch,
        }
    }

    /// `z_t`, `[B, K]`.
    pub fn at(&mut self, t: usize) -> ArrayView2<'_, F> {
        let rows = t * self.batch..(t + 1) * self.batch;
        match &mut self.source {
            Source::Projected(z) => z.slice(ndarray::s![rows, ..]),
            Source::PerStep { x, u_t, bias, buf } => {
                let xt = x.slice(ndarray::s![rows, ..]);
                crate::net::nn::linear::project_rows(flat(&xt), u_t, bias, flat_mut(buf));
                buf.view()
            }
        }
    }
}

/// Rows of per-step gradients a backward pass holds before summing them into weight
/// gradients: two of `gemm_long`'s k-blocks, 256 KiB a buffer at width 128, so a chunk's
/// gradients and the states they pair with are summed from L2, not re-read from memory.
const CHUNK_ROWS: usize = 512;

/// Steps of a chunk for batches of `batch` over `steps` steps (see [`InputGrads`]).
pub fn chunk_steps(steps: usize, batch: usize) -> usize {
    (CHUNK_ROWS / batch.max(1)).clamp(1, steps.max(1))
}

/// In chunks of `chunk` steps from each multiple of it (the last one ending at `steps`), the
/// chunk that starts at step `t`, if one does: what a backward pass, running `t` down,
/// completes at `t`.
pub fn chunk_from(t: usize, chunk: usize, steps: usize) -> Option<std::ops::Range<usize>> {
    t.is_multiple_of(chunk).then(|| t..(t + chunk).min(steps))
}

/// Where a backward pass writes dL/dz_t, the gradient at the projected input, and what sums
/// it into the input layer's gradient (`dU += Σ_t dz_tᵀ·x_t`, `db += Σ_t dz_t`). The buffer
/// holds `s` steps, step `t` in slot `t mod s`; wide inputs pass the `[T·B, K]` buffer the
/// forward pass projected into (`s = T`, summed in one GEMM at the end), narrow ones a chunk
/// of [`chunk_steps`], summed as each chunk is done, so no `[T·B, K]` gradient is held: for
/// the vanilla RNN that would be as large as all its states.
///
/// A backward pass runs `t = T−1 … 0`: it writes [`InputGrads::at_mut`]`(t)`, may read steps
/// back with [`InputGrads::span`] to sum its own weight gradients a [`InputGrads::chunk`] at
/// a time, and calls [`InputGrads::done`]`(t)` once it is finished with step `t`.
pub struct InputGrads<'a, F> {
    input: &'a Linear,
    x: ArrayView2<'a, F>,
    buf: ArrayViewMut2<'a, F>,
    batch: usize,
    /// Steps the buffer holds.
    slots: usize,
}

impl<'a, F: Float> InputGrads<'a, F> {
    /// Gradients for inputs `x [T·B, p]` of `input`, `batch` rows a step, held in `buf`
    /// (`[s·B, K]` for `s` steps).
    pub fn new(
        input: &'a Linear,
        x: ArrayView2<'a, F>,
        buf: ArrayViewMut2<'a, F>,
        batch: usize,
    ) -> Self {
        let slots = buf.nrows() / batch;
        assert!(
            slots > 0 && slots * batch == buf.nrows(),
            "a whole number of steps"
        );
        InputGrads {
            input,
            x,
            buf,
            batch,
            slots,
        }
    }

    /// Steps T.
    pub fn steps(&self) -> usize {
        self.x.nrows() / self.batch
    }

    /// Steps a cell sums its weight gradients over at a time, from a multiple of it: a
    /// [`chunk_steps`] when the buffer holds the whole sequence, else the steps it holds.
    pub fn chunk(&self) -> usize {
        let steps = self.steps();
        if self.slots == steps {
            chunk_steps(steps, self.batch)
        } else {
            self.slots
        }
    }

    /// The chunk of [`chunk`](Self::chunk) steps that starts at step `t`, if one does
    /// ([`chunk_from`]).
    pub fn chunk_from(&self, t: usize) -> Option<std::ops::Range<usize>> {
        chunk_from(t, self.chunk(), self.steps())
    }

    fn rows(&self, ts: &std::ops::Range<usize>) -> std::ops::Range<usize> {
        let slot = ts.start % self.slots;
        assert!(
            slot + ts.len() <= self.slots,
            "steps {ts:?} run past the {} the buffer holds",
            self.slots
        );
        slot * self.batch..(slot + ts.len()) * self.batch
    }

    /// dL/dz_t, `[B, K]`, to be written.
    pub fn at_mut(&mut self, t: usize) -> ArrayViewMut2<'_, F> {
        let rows = self.rows(&(t..t + 1));
        self.buf.slice_mut(ndarray::s![rows, ..])
    }

    /// dL/dz of steps `ts` (inside one [`chunk`](Self::chunk), none yet [`done`](Self::done)),
    /// `[len·B, K]`.
    pub fn span(&self, ts: std::ops::Range<usize>) -> ArrayView2<'_, F> {
        self.buf.slice(ndarray::s![self.rows(&ts), ..])
    }

    pub fn span_mut(&mut self, ts: std::ops::Range<usize>) -> ArrayViewMut2<'_, F> {
        let rows = self.rows(&ts);
        self.buf.slice_mut(ndarray::s![rows, ..])
    }

    /// Step `t` (and every later one) is final: when `t` is the first step the buffer holds,
    /// sums what it holds into the input layer's gradient in `grads`.
    pub fn done(&mut self, t: usize, grads: &mut Params<F>) {
        if let Some(ts) = chunk_from(t, self.slots, self.steps()) {
            let rows = ts.start * self.batch..ts.end * self.batch;
            let x = self.x.slice(ndarray::s![rows, ..]);
            self.input.backward(x, self.span(ts), grads);
        }
    }
}

/// A recurrence `h_{t+1} = Φ(h_t, z_t)` over projected inputs `z_t = x_t·Uᵀ + b`: its
/// forward pass, and its backward pass as its equations a step and a chunk of steps at a
/// time, which [`bptt`] runs in reverse time. [`AnyCell`] is what a model holds.
pub trait Cell<F: Float>: Send + Sync + 'static {
    /// Whatever the forward pass records for the backward pass, owned by the caller and
    /// reused across batches of the same shape (no allocation in the time loop).
    type Tape: Send + 'static;

    /// The input projection feeding the recurrence, `[p] → [input_width]`
    /// (N for the Lipschitz cell, 4N for the LSTM's four gates).
    fn input(&self) -> &Linear;

    /// Width N of the hidden output `h_t` that the decoder reads.
    fn hidden(&self) -> usize;

    /// Width of the carried state; the first `hidden()` columns are `h` (LSTM: `h‖c`).
    fn state_width(&self) -> usize {
        self.hidden()
    }

    /// `N×N` blocks multiplied a step in the forward pass, for FLOP counts: a forward step
    /// costs `2·B·N²·` this in GEMMs, a training step about three times the forward.
    fn products_per_step(&self) -> usize {
        1
    }

    /// Buffers for `steps × batch`; with `keep`, everything backward needs (else O(1) steps).
    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> Self::Tape;

    /// Bytes of the per-step activations `tape` holds for backward to read (its states, gate
    /// and tanh outputs: `Steps` buffers the forward pass writes), as allocated; backward's
    /// own per-step gradient buffers and per-pass `N×N` matrices are not counted. This is the
    /// memory BPTT cannot avoid without recomputation; `None` if the cell does not say.
    fn activation_bytes(&self, tape: &Self::Tape) -> Option<usize> {
        let _ = tape;
        None
    }

    /// Runs the recurrence over `z` (`[B, K]` a step) from `state [B, S]`, leaving the final
    /// state there.
    fn forward(
        &self,
        p: &Params<F>,
        z: &mut Inputs<F>,
        state: ArrayViewMut2<F>,
        tape: &mut Self::Tape,
    );

    /// The outputs `h_1..h_T` of the last kept forward pass, `[T·B, N]`.
    fn outputs<'t>(&self, tape: &'t Self::Tape) -> ArrayView2<'t, F>;

    /// Steps the cell's own per-chunk gradient buffers hold, if it keeps any: [`bptt`]'s
    /// chunks are no longer.
    fn chunk_limit(&self, tape: &Self::Tape) -> Option<usize> {
        let _ = tape;
        None
    }

    /// Before the reverse loop: pack the transposed weights, zero the running gradients.
    fn backward_begin(&self, p: &Params<F>, tape: &mut Self::Tape);

    /// Step `step.t`, in reverse time: takes the running dL/dh_{t+1} (plus `step.d_out`),
    /// writes dL/dz_t into `dz_t` (`[B, K]`) and leaves dL/dh_t running.
    fn backward_step(
        &self,
        p: &Params<F>,
        tape: &mut Self::Tape,
        step: Step<'_, F>,
        dz_t: ArrayViewMut2<'_, F>,
    );

    /// Steps `ts` are done: sums their weight gradients, one GEMM while they are in cache.
    /// `dz` is their dL/dz, which the cell may still add to before the input layer reads it.
    fn backward_chunk(
        &self,
        p: &Params<F>,
        tape: &mut Self::Tape,
        ts: std::ops::Range<usize>,
        dz: ArrayViewMut2<'_, F>,
        grads: &mut Params<F>,
    );

    /// After the loop: maps what was summed to the cell's parameters in `grads`.
    fn backward_end(&self, p: &Params<F>, tape: &mut Self::Tape, grads: &mut Params<F>) {
        let _ = (p, tape, grads);
    }
}

/// One step of [`bptt`]'s reverse loop, as a cell's [`Cell::backward_step`] sees it.
pub struct Step<'a, F> {
    /// The step, `T−1 … 0`.
    pub t: usize,
    /// `t` modulo the chunk length: where step `t` lives in buffers a cell keeps a chunk at a time.
    pub slot: usize,
    /// dL/dh_{t+1} from the readout, `[B, N]`, where the decoder reads this step.
    pub d_out: Option<ArrayView2<'a, F>>,
}

/// Backpropagation through time, the loop every cell shares: for `t = T−1 … 0`, the cell's
/// step, then, at the first step of each chunk, the chunk's weight gradients and the input
/// layer's (see [`InputGrads`] for the order of its calls).
pub fn bptt<F: Float, C: Cell<F> + ?Sized>(
    cell: &C,
    p: &Params<F>,
    tape: &mut C::Tape,
    d_out: OutGrad<'_, F>,
    dz: &mut InputGrads<F>,
    grads: &mut Params<F>,
) {
    let steps = dz.steps();
    let chunk = cell
        .chunk_limit(tape)
        .map_or(dz.chunk(), |c| dz.chunk().min(c));
    cell.backward_begin(p, tape);
    for t in (0..steps).rev() {
        let step = Step {
            t,
            slot: t % chunk,
            d_out: d_out.at(t, steps),
        };
        cell.backward_step(p, tape, step, dz.at_mut(t));
        if let Some(ts) = chunk_from(t, chunk, steps) {
            cell.backward_chunk(p, tape, ts.clone(), dz.span_mut(ts), grads);
        }
        dz.done(t, grads);
    }
    cell.backward_end(p, tape, grads);
}

/// A cell's tape behind the object-safe [`AnyCell`].
pub type Tape = Box<dyn Any + Send>;

/// A [`Cell`] with its tape type erased, what a model holds: every method is the cell's,
/// after the one downcast of the tape, and `backward` is [`bptt`].
pub trait AnyCell<F: Float>: Send + Sync {
    fn input(&self) -> &Linear;
    fn hidden(&self) -> usize;
    fn state_width(&self) -> usize;
    fn products_per_step(&self) -> usize;
    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> Tape;
    fn activation_bytes(&self, tape: &Tape) -> Option<usize>;
    fn forward(&self, p: &Params<F>, z: &mut Inputs<F>, state: ArrayViewMut2<F>, tape: &mut Tape);
    fn outputs<'t>(&self, tape: &'t Tape) -> ArrayView2<'t, F>;
    /// BPTT through the last kept forward pass: accumulates the cell's parameter gradients
    /// into `grads`, and the input layer's through `dz`.
    fn backward(
        &self,
        p: &Params<F>,
        tape: &mut Tape,
        d_out: OutGrad<'_, F>,
        dz: &mut InputGrads<F>,
        grads: &mut Params<F>,
    );
}

fn downcast<T: 'static>(tape: &Tape) -> &T {
    tape.downcast_ref::<T>()
        .expect("tape made by another cell's new_tape")
}

fn downcast_mut<T: 'static>(tape: &mut Tape) -> &mut T {
    tape.downcast_mut::<T>()
        .expect("tape made by another cell's new_tape")
}

impl<F: Float, C: Cell<F>> AnyCell<F> for C {
    fn input(&self) -> &Linear {
        Cell::input(self)
    }
    fn hidden(&self) -> usize {
        Cell::hidden(self)
    }
    fn state_width(&self) -> usize {
        Cell::state_width(self)
    }
    fn products_per_step(&self) -> usize {
        Cell::products_per_step(self)
    }
    fn new_tape(&self, steps: usize, batch: usize, keep: bool) -> Tape {
        Box::new(Cell::new_tape(self, steps, batch, keep))
    }
    fn activation_bytes(&self, tape: &Tape) -> Option<usize> {
        Cell::activation_bytes(self, downcast::<C::Tape>(tape))
    }
    fn forward(&self, p: &Params<F>, z: &mut Inputs<F>, state: ArrayViewMut2<F>, tape: &mut Tape) {
        Cell::forward(self, p, z, state, downcast_mut::<C::Tape>(tape))
    }
    fn outputs<'t>(&self, tape: &'t Tape) -> ArrayView2<'t, F> {
        Cell::outputs(self, downcast::<C::Tape>(tape))
    }
    fn backward(
        &self,
        p: &Params<F>,
        tape: &mut Tape,
        d_out: OutGrad<'_, F>,
        dz: &mut InputGrads<F>,
        grads: &mut Params<F>,
    ) {
        bptt(self, p, downcast_mut::<C::Tape>(tape), d_out, dz, grads)
    }
}

/// A cell's `[model]` section: documented fields with the defaults of its paper or code.
pub trait CellConfig: Serialize + DeserializeOwned + Clone + Debug + PartialEq {
    /// Hidden width N.
    fn hidden(&self) -> usize;

    /// What tells configurations of one kind apart in tables (`rk2`, `gated`); none by default.
    fn variant(&self) -> Option<&'static str> {
        None
    }

    /// Range checks beyond types: the first violated one.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Declares the cell's parameters (checkpoint names) in `layout` and builds the cell.
    fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>>;
}

/// Declares [`ModelConfig`], one variant per cell, from `"kind" => Variant(module::Config)` lines.
macro_rules! registry {
    ($($kind:literal => $variant:ident($config:ty)),* $(,)?) => {
        /// The `[model]` section of a spec: `kind` selects the cell, the other keys are its config.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(tag = "kind")]
        pub enum ModelConfig {
            $(#[serde(rename = $kind)] $variant($config),)*
        }

        impl ModelConfig {
            /// Every `kind` a spec may name.
            pub const KINDS: &[&str] = &[$($kind),*];

            /// Parses the keys of `[model]` other than `kind`; errors carry the key path.
            pub fn parse(kind: &str, table: toml::Table) -> Result<Self, ConfigError> {
                match kind {
                    $($kind => parse_config(table).map(ModelConfig::$variant),)*
                    other => Err(ConfigError::new(
                        "kind",
                        format!("unknown model kind `{other}`, expected one of {:?}", Self::KINDS),
                    )),
                }
            }

            pub fn kind(&self) -> &'static str {
                match self { $(ModelConfig::$variant(_) => $kind,)* }
            }

            /// Every key of `[model]` for `kind`, with its default and doc (`spec show --all`).
            pub fn keys(kind: &str) -> Option<Vec<crate::config::KeyInfo>> {
                match kind {
                    $($kind => Some(crate::config::describe::<$config>()),)*
                    _ => None,
                }
            }

            pub fn validate(&self) -> Result<(), ConfigError> {
                match self { $(ModelConfig::$variant(c) => c.validate(),)* }
            }

            pub fn hidden(&self) -> usize {
                match self { $(ModelConfig::$variant(c) => c.hidden(),)* }
            }

            /// `kind` with its variant (`lipschitz-rk2`, `antisymmetric-gated`), as tables name models.
            pub fn label(&self) -> String {
                let variant = match self { $(ModelConfig::$variant(c) => c.variant(),)* };
                variant.map_or_else(|| self.kind().to_string(), |v| format!("{}-{v}", self.kind()))
            }

            pub fn build<F: Float>(&self, input_size: usize, layout: &mut Layout) -> Box<dyn AnyCell<F>> {
                match self { $(ModelConfig::$variant(c) => c.build(input_size, layout),)* }
            }
        }
    };
}

registry! {
    "lipschitz" => Lipschitz(lipschitz::LipschitzConfig),
    "lstm" => Lstm(lstm::LstmConfig),
    "gru" => Gru(gru::GruConfig),
    "vanilla" => Vanilla(vanilla::VanillaConfig),
    "residual" => Residual(residual::ResidualConfig),
    "antisymmetric" => Antisymmetric(antisymmetric::AntisymmetricConfig),
    "cayley" => Cayley(cayley::CayleyConfig),
    "cornn" => Cornn(cornn::CornnConfig),
}
