//! Flat parameter buffers, as llm.c keeps them: every tensor of a model lives in one
//! contiguous `Vec`, so the optimiser, gradient clipping and zeroing are single loops,
//! and a `Layout` maps each checkpoint name (`cell/M_A`, `decoder/bias`, …) to its slice.

use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Ix2};
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::kernels::float::Float;

/// Index of a tensor in a [`Layout`].
pub type ParamId = usize;

/// How a tensor is initialised (the authors' choices, named).
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// i.i.d. Normal(0, std²).
    Normal { std: f64 },
    /// i.i.d. Uniform(−bound, bound); PyTorch's `nn.Linear` default uses bound = 1/√fan_in.
    Uniform { bound: f64 },
    /// A fixed value (biases, forget-gate offsets).
    Constant(f64),
    /// The orthogonal polar factor `U·Vᵀ` of a square matrix of i.i.d. Normal(0, 1) entries
    /// (the authors' calRNN init; the factor is scale-free, so their `gaussian_init_` std is moot).
    Polar,
}

/// One named tensor: its checkpoint path, shape, slice of the flat buffer, and initialiser.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub range: Range<usize>,
    pub init: Init,
    /// What is done to the drawn values right after the draw (gate-bias inits of the LSTM).
    pub adjust: Option<Adjust>,
}

/// A change to a tensor's drawn values, applied right after its draw.
#[derive(Clone, Debug, PartialEq)]
pub enum Adjust {
    /// A constant added to a block (the LSTM's forget-gate bias offset, `bias_hh[N..2N] += c`
    /// after PyTorch's init); the draws themselves are unchanged.
    Add { block: Range<usize>, by: f64 },
    /// Chrono initialisation (Tallec & Ollivier, ICLR 2018): `block[k] = ln u_k` and
    /// `negated[k] = −ln u_k`, `u_k ~ U(1, t_max − 1)`, so gate `k` starts with a memory of
    /// about `u_k` steps; drawn after the tensor's own values, which it replaces there.
    Chrono {
        block: Range<usize>,
        negated: Range<usize>,
        t_max: f64,
    },
}

/// The named tensors of a model, in declaration (and initialisation) order.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    entries: Vec<ParamInfo>,
}

impl Layout {
    /// Appends a tensor and returns its id; names are checkpoint paths and must be unique.
    pub fn add(&mut self, name: &str, shape: &[usize], init: Init) -> ParamId {
        assert!(self.find(name).is_none(), "parameter {name} declared twice");
        let start = self.len();
        let len: usize = shape.iter().product();
        self.entries.push(ParamInfo {
            name: name.to_string(),
            shape: shape.to_vec(),
            range: start..start + len,
            init,
            adjust: None,
        });
        self.entries.len() - 1
    }

    /// Adds `by` to elements `block` of tensor `id` after its initialiser has drawn them.
    pub fn shift(&mut self, id: ParamId, block: Range<usize>, by: f64) {
        self.adjust(id, Adjust::Add { block, by });
    }

    /// Sets an [`Adjust`] of tensor `id` (one a tensor).
    pub fn adjust(&mut self, id: ParamId, adjust: Adjust) {
        let e = &mut self.entries[id];
        let end = match &adjust {
            Adjust::Add { block, .. } => block.end,
            Adjust::Chrono { block, negated, .. } => block.end.max(negated.end),
        };
        assert!(
            end <= e.range.len(),
            "{}: adjusted block out of range",
            e.name
        );
        assert!(e.adjust.is_none(), "{}: adjusted twice", e.name);
        e.adjust = Some(adjust);
    }

    /// Total number of scalars.
    pub fn len(&self) -> usize {
        self.entries.last().map_or(0, |e| e.range.end)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn entries(&self) -> &[ParamInfo] {
        &self.entries
    }

    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.entries.iter().position(|e| e.name == name)
    }

    pub fn info(&self, id: ParamId) -> &ParamInfo {
        &self.entries[id]
    }
}

/// A flat buffer laid out by a shared [`Layout`]; used for parameters, gradients and optimiser moments.
#[derive(Clone, Debug)]
pub struct Params<F> {
    pub layout: Arc<Layout>,
    pub data: Vec<F>,
}

impl<F: Float> Params<F> {
    /// All zeros.
    pub fn zeros(layout: Arc<Layout>) -> Self {
        let data = vec![F::zero(); layout.len()];
        Params { layout, data }
    }

    /// Draws every tensor from its initialiser, in declaration order, from one RNG stream.
    pub fn init(layout: Arc<Layout>, rng: &mut impl Rng) -> Self {
        let mut p = Self::zeros(layout.clone());
        for e in layout.entries() {
            let out = &mut p.data[e.range.clone()];
            match e.init {
                Init::Normal { std } => {
                    let d = Normal::new(0.0, std).expect("std is finite and non-negative");
                    out.iter_mut().for_each(|v| *v = F::of(d.sample(rng)));
                }
                Init::Uniform { bound } => {
                    let d = Uniform::new_inclusive(-bound, bound).expect("bound is finite");
                    out.iter_mut().for_each(|v| *v = F::of(d.sample(rng)));
                }
                Init::Constant(c) => out.iter_mut().for_each(|v| *v = F::of(c)),
                Init::Polar => {
                    let n = e.shape[0];
                    assert_eq!(e.shape, [n, n], "{}: a polar factor is square", e.name);
                    let d = Normal::new(0.0, 1.0).expect("unit normal");
                    let g = ndarray::Array2::from_shape_fn((n, n), |_| d.sample(rng));
                    let q = crate::kernels::linalg::polar(g.view())
                        .expect("a Gaussian matrix is invertible with probability one");
                    out.iter_mut().zip(&q).for_each(|(v, &x)| *v = F::of(x));
                }
            }
            match &e.adjust {
                None => {}
                Some(Adjust::Add { block, by }) => out[block.clone()]
                    .iter_mut()
                    .for_each(|v| *v = F::of(v.f64() + by)),
                Some(Adjust::Chrono {
                    block,
                    negated,
                    t_max,
                }) => {
                    let d = Uniform::new(1.0, t_max - 1.0).expect("t_max > 2");
                    for (a, b) in block.clone().zip(negated.clone()) {
                        let log = d.sample(rng).ln();
                        out[a] = F::of(log);
                        out[b] = F::of(-log);
                    }
                }
            }
        }
        p
    }

    pub fn slice(&self, id: ParamId) -> &[F] {
        &self.data[self.layout.info(id).range.clone()]
    }

    pub fn slice_mut(&mut self, id: ParamId) -> &mut [F] {
        let r = self.layout.info(id).range.clone();
        &mut self.data[r]
    }

    /// A 1-D tensor (a bias).
    pub fn vector(&self, id: ParamId) -> ArrayView1<'_, F> {
        ArrayView1::from(self.slice(id))
    }

    pub fn vector_mut(&mut self, id: ParamId) -> ArrayViewMut1<'_, F> {
        ArrayViewMut1::from(self.slice_mut(id))
    }

    /// A row-major matrix, shaped as declared.
    pub fn matrix(&self, id: ParamId) -> ArrayView2<'_, F> {
        let shape = self.shape2(id);
        ArrayView2::from_shape(shape, self.slice(id)).expect("layout slice matches its shape")
    }

    pub fn matrix_mut(&mut self, id: ParamId) -> ArrayViewMut2<'_, F> {
        let shape = self.shape2(id);
        ArrayViewMut2::from_shape(shape, self.slice_mut(id))
            .expect("layout slice matches its shape")
    }

    fn shape2(&self, id: ParamId) -> Ix2 {
        let info = self.layout.info(id);
        match info.shape[..] {
            [r, c] => Ix2(r, c),
            _ => panic!("{} is not a matrix: {:?}", info.name, info.shape),
        }
    }

    pub fn fill_zero(&mut self) {
        self.data.iter_mut().for_each(|v| *v = F::zero());
    }

    /// Euclidean norm of the whole buffer (accumulated in f64).
    pub fn norm(&self) -> f64 {
        self.data
            .iter()
            .map(|v| v.f64() * v.f64())
            .sum::<f64>()
            .sqrt()
    }

    /// Converts to another float type (f64 gradient checks of f32 checkpoints).
    pub fn cast<G: Float>(&self) -> Params<G> {
        Params {
            layout: self.layout.clone(),
            data: self.data.iter().map(|v| G::of(v.f64())).collect(),
        }
    }
}
