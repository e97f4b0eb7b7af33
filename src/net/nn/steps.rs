//! Time-major per-step buffers. Step `t` is the contiguous block of rows
//! `t·B .. (t+1)·B` of a `[slots·B, W]` matrix, so a whole sequence is one GEMM operand
//! (weight gradients summed over time are a single `Hᵀ·G`).

use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

use crate::kernels::float::Float;

/// Activations of one kind (states, tanh outputs, …) for every step of a batch.
///
/// With `keep`, slot `t` holds step `t` for the backward pass; without, slots rotate
/// so an inference pass holds one step (two for states, which read `t` and write `t + 1`).
pub struct Steps<F> {
    data: Array2<F>,
    batch: usize,
    slots: usize,
}

impl<F: Float> Steps<F> {
    /// Buffers for `steps` steps of width `width`; `states` adds the initial slot (h_0..h_T).
    pub fn new(steps: usize, batch: usize, width: usize, keep: bool, states: bool) -> Self {
        let slots = match (keep, states) {
            (true, true) => steps + 1,
            (true, false) => steps,
            (false, true) => 2,
            (false, false) => 1,
        };
        Steps {
            data: Array2::zeros((slots * batch, width)),
            batch,
            slots,
        }
    }

    /// An empty buffer, for activations a configuration does not use (e.g. RK2 stages under Euler).
    pub fn unused() -> Self {
        Steps {
            data: Array2::zeros((0, 0)),
            batch: 0,
            slots: 1,
        }
    }

    /// Bytes the buffer holds, `slots·B·W` elements (what a memory report counts).
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<F>()
    }

    /// Slots held: `T (+1)` when kept, else 1 or 2.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn rows(&self, t: usize) -> std::ops::Range<usize> {
        let slot = t % self.slots;
        slot * self.batch..(slot + 1) * self.batch
    }

    /// Step `t`, `[B, W]`.
    pub fn at(&self, t: usize) -> ArrayView2<'_, F> {
        self.data.slice(s![self.rows(t), ..])
    }

    pub fn at_mut(&mut self, t: usize) -> ArrayViewMut2<'_, F> {
        let r = self.rows(t);
        self.data.slice_mut(s![r, ..])
    }

    /// Steps `t` and `t + 1`, borrowed together (read the one, write the other).
    pub fn pair_mut(&mut self, t: usize) -> (ArrayViewMut2<'_, F>, ArrayViewMut2<'_, F>) {
        let (now, next) = (self.rows(t), self.rows(t + 1));
        self.data.multi_slice_mut((s![now, ..], s![next, ..]))
    }

    /// Steps `from .. from + n` as one `[n·B, W]` matrix (kept buffers only).
    pub fn span(&self, from: usize, n: usize) -> ArrayView2<'_, F> {
        assert!(from + n <= self.slots, "span of steps not kept");
        self.data
            .slice(s![from * self.batch..(from + n) * self.batch, ..])
    }

    /// Mutable view of the whole buffer as `[slots·B, W]`.
    pub fn all_mut(&mut self) -> ArrayViewMut2<'_, F> {
        self.data.view_mut()
    }
}

/// A step block's elements in row-major order, for loops over slices that vectorise (every
/// `Steps` block, and every whole-width scratch matrix, is one contiguous block).
pub fn flat<'a, F>(v: &'a ArrayView2<'_, F>) -> &'a [F] {
    v.as_slice().expect("a step block is contiguous")
}

/// Mutable [`flat`].
pub fn flat_mut<'a, F>(v: &'a mut ArrayViewMut2<'_, F>) -> &'a mut [F] {
    v.as_slice_mut().expect("a step block is contiguous")
}

/// A row `[x_0 | x_1 | … | x_{K−1}]` of `K` gate blocks as `K` slices of width `n`. Row
/// functions index each block from 0 rather than `x[k·n + j]`: the offset form keeps bounds
/// checks in the loop and LLVM falls back to its scalar version.
#[inline(always)]
pub fn blocks<const K: usize, F>(x: &[F], n: usize) -> [&[F]; K] {
    let mut it = x[..K * n].chunks_exact(n);
    std::array::from_fn(|_| it.next().expect("K blocks of n"))
}

/// Mutable [`blocks`].
#[inline(always)]
pub fn blocks_mut<const K: usize, F>(x: &mut [F], n: usize) -> [&mut [F]; K] {
    let mut it = x[..K * n].chunks_exact_mut(n);
    std::array::from_fn(|_| it.next().expect("K blocks of n"))
}
