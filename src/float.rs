//! The scalar types the numerical core is generic over: f32 for training, f64 for gradient checks.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::{Float as NumFloat, FromPrimitive, ToPrimitive};

/// A real scalar with BLAS GEMM support (`general_mat_mul` dispatches f32/f64 to OpenBLAS).
pub trait Float:
    NumFloat
    + LinalgScalar
    + ScalarOperand
    + FromPrimitive
    + ToPrimitive
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + hdf5::H5Type
    + 'static
{
    /// Converts a hyperparameter or constant written in f64.
    fn of(x: f64) -> Self {
        Self::from_f64(x).expect("every f64 converts to f32 or f64")
    }

    /// Widens to f64 for accumulating losses and reporting.
    fn f64(self) -> f64 {
        self.to_f64().expect("f32 and f64 widen to f64")
    }
}

impl Float for f32 {}
impl Float for f64 {}
