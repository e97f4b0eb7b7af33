//! Element-wise loops at the CPU's full vector width. The crate is built for baseline x86-64
//! (SSE2, 4 floats a vector) so one binary runs on any cluster node; [`wide`] runs a closure
//! compiled for AVX-512 where the CPU has it, so the loops over contiguous slices inside it
//! vectorise 16 floats wide (the per-step tanh and gradient loops of the cells).

/// Runs `f`, compiled for AVX-512F/VL/DQ/BW with FMA when the CPU has them (checked once and
/// cached by `is_x86_feature_detected`), else as built. Only code inlined into the
/// feature-enabled frame is compiled for it, so pass `#[inline(always)] || { ... }` and keep
/// the hot loops in its body or in `#[inline(always)]` functions: a plain closure was left
/// out of line and ran 4 wide. Loops that write several `&mut` slices vectorise only when
/// those slices arrive as parameters of a row function (`gates_row` in the LSTM), which
/// tells LLVM they cannot overlap, and when `wide` is called once a row with that function
/// as its body: with the loop over rows inside the frame, LLVM still emitted the vector
/// loop but guarded it with overlap checks that failed, and the LSTM gates ran scalar (a
/// third of its step). Gate blocks come as separate slices ([`crate::net::nn::blocks`]).
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU supports every enabled feature (checked just above).
        return unsafe { avx512_frame(f) };
    }
    f()
}

/// Whether [`wide`] takes its AVX-512 path.
pub fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
unsafe fn avx512_frame<R>(f: impl FnOnce() -> R) -> R {
    f()
}
