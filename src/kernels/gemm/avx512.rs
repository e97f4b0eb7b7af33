//! An AVX-512 f32 GEMM for the products a recurrence repeats every step, `C ← α·A·P + β·C`
//! with the same right-hand `P` (a recurrent weight) for all T steps. `P` is packed once a
//! pass into 32-column panels, so a step packs nothing; the microkernel holds a 12×32 tile of
//! `C` in 24 zmm registers and reads `A` in place (rows of `h_t`), one broadcast a row and
//! two panel loads per `k`: 24 FMAs to 14 loads, where `matrixmultiply`'s 16×16 kernel
//! issues 16 FMAs to 17 loads and packs both operands on every call.

use std::arch::x86_64::*;

/// Columns of a packed panel (two zmm registers).
pub const NR: usize = 32;
/// Rows of `C` a full microkernel tile covers.
const MR: usize = 12;

/// One cache line of a panel.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A `[k, n]` matrix as `⌈n/32⌉` panels, each `[k][32]` row-major (the last one's columns
/// past `n` hold whatever was there: the kernel masks them out).
#[derive(Default)]
pub struct Panels {
    k: usize,
    n: usize,
    lines: Vec<Line>,
}

impl Panels {
    pub fn dim(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    /// Repacks from `b` (`b[i][j]` at `b + i·rs + j·cs`); allocates only when the shape grows.
    /// Columns past `n` in the last panel are left as they were: the kernel masks them out.
    ///
    /// # Safety
    /// [`available`] must hold, `k > 0`, and `b`, `rs`, `cs` must describe a valid `[k, n]`
    /// matrix of f32.
    pub unsafe fn pack(&mut self, b: *const f32, k: usize, n: usize, rs: isize, cs: isize) {
        let panels = n.div_ceil(NR);
        (self.k, self.n) = (k, n);
        if self.lines.len() < panels * k * 2 {
            self.lines.resize(panels * k * 2, Line::default());
        }
        for (panel, chunk) in self.lines.chunks_exact_mut(2 * k).take(panels).enumerate() {
            let (j0, cols) = (panel * NR, (n - panel * NR).min(NR));
            for (i, pair) in chunk.chunks_exact_mut(2).enumerate() {
                // SAFETY: a line pair is 32 contiguous f32.
                let dst =
                    unsafe { std::slice::from_raw_parts_mut(pair.as_mut_ptr() as *mut f32, NR) };
                // SAFETY: i < k and j0 + j < n, inside the caller's matrix.
                let src = unsafe { b.offset(i as isize * rs + j0 as isize * cs) };
                if cs == 1 {
                    // SAFETY: `cols` floats from `src` are one row of the caller's strip.
                    unsafe { copy_short(src, dst.as_mut_ptr(), cols) };
                } else {
                    for (j, d) in dst[..cols].iter_mut().enumerate() {
                        *d = unsafe { *src.offset(j as isize * cs) };
                    }
                }
            }
        }
    }
}

/// Copies `len ≤ 32` floats with two masked moves: `copy_from_slice` calls `memmove` for
/// these short rows, which was a tenth of a training step.
///
/// # Safety
/// [`available`] must hold; `len` floats must be readable at `src` and writable at `dst`.
#[target_feature(enable = "avx512f")]
unsafe fn copy_short(src: *const f32, dst: *mut f32, len: usize) {
    debug_assert!(len <= NR);
    for half in 0..2 {
        let mask = ((1u32 << len.saturating_sub(16 * half).min(16)) - 1) as __mmask16;
        // SAFETY: the mask covers only the `len` floats the caller vouches for.
        unsafe {
            let v = _mm512_maskz_loadu_ps(mask, src.add(16 * half));
            _mm512_mask_storeu_ps(dst.add(16 * half), mask, v);
        }
    }
}

/// Whether this CPU runs the kernel (checked once; `is_x86_feature_detected` caches).
pub fn available() -> bool {
    is_x86_feature_detected!("avx512f")
}

/// A matrix operand as the kernels read it: element `(i, j)` at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub struct Strided {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

/// `C ← α·A·P + β·C` for `A [m, k]` with unit column stride (row stride `lda`) and `C [m, n]`
/// with unit column stride (row stride `ldc`); `C` is not read when `β = 0`.
///
/// # Safety
/// [`available`] must hold; the pointers must describe valid matrices of those shapes with
/// `C` aliasing neither input.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed(
    m: usize,
    alpha: f32,
    a: *const f32,
    lda: isize,
    p: &Panels,
    beta: f32,
    c: *mut f32,
    ldc: isize,
) {
    let a = Strided {
        ptr: a,
        rs: lda,
        cs: 1,
    };
    for panel in 0..p.n.div_ceil(NR) {
        // SAFETY: the panel lies inside the packed buffer; the rest is the caller's contract.
        unsafe {
            let b = (p.lines.as_ptr() as *const f32).add(panel * p.k * NR);
            let cols = (p.n - panel * NR).min(NR);
            let c = (c.add(panel * NR), ldc);
            panel_rows(
                m,
                p.k,
                (a, MR as isize * lda),
                (b, NR as isize),
                cols,
                alpha,
                beta,
                c,
            );
        }
    }
}

/// Depth of a block of `k` in [`gemm_long`]: a packed 32-column strip of `B` (32 KiB) and a
/// packed 12-row sliver of `A` (12 KiB) stay in L1 while a tile runs.
const KC: usize = 256;

std::thread_local! {
    /// [`gemm_long`]'s packing buffers, kept per thread (shards run on their own threads).
    static SCRATCH: std::cell::RefCell<(Vec<Panels>, Vec<f32>)> = Default::default();
}

/// `C ← α·A·[B_0 | B_1 | …] + β·C` for `A [m, k]` and each `B_i [k, n]` of any strides, and
/// `C [m, n·blocks]` with unit column stride (row stride `ldc`), for a small `C` over a long
/// `k`: weight gradients summed over many steps, `Hᵀ·[G_0 | G_1 | …]`, where several share
/// one `H` and read it once. Each 256-deep block of every operand is packed first, since their
/// rows are 0.5–1 KiB apart in the time-major buffers and would thrash L1's sets if read in place.
///
/// # Safety
/// As [`gemm_packed`], and `k > 0`.
#[target_feature(enable = "avx512f")]
pub unsafe fn gemm_long(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    a: Strided,
    bs: &[Strided],
    beta: f32,
    (c, ldc): (*mut f32, isize),
) {
    SCRATCH.with_borrow_mut(|(bps, ap)| {
        ap.resize(m.div_ceil(MR) * MR * KC, 0.0);
        bps.resize_with(bs.len(), Panels::default);
        let mut k0 = 0;
        while k0 < k {
            let kc = (k - k0).min(KC);
            // After the first block, each block adds to what the earlier ones left in C.
            let beta = if k0 == 0 { beta } else { 1.0 };
            // SAFETY: every offset stays inside the caller's matrices and the scratch buffers.
            unsafe {
                // A's rows i..i+12 as [kc][12], so a tile's broadcasts read consecutive floats.
                for (sliver, out) in ap.chunks_exact_mut(MR * KC).enumerate() {
                    let rows = MR.min(m - sliver * MR);
                    for (p, out) in out.chunks_exact_mut(MR).take(kc).enumerate() {
                        let (i, j) = ((sliver * MR) as isize, (k0 + p) as isize);
                        let src = a.ptr.offset(i * a.rs + j * a.cs);
                        if a.rs == 1 {
                            copy_short(src, out.as_mut_ptr(), rows);
                        } else {
                            for (r, o) in out[..rows].iter_mut().enumerate() {
                                *o = *src.offset(r as isize * a.rs);
                            }
                        }
                    }
                }
                let a = Strided {
                    ptr: ap.as_ptr(),
                    rs: 1,
                    cs: MR as isize,
                };
                let blocks = (MR * KC) as isize;
                for (block, (b, bp)) in bs.iter().zip(bps.iter_mut()).enumerate() {
                    bp.pack(b.ptr.offset(k0 as isize * b.rs), kc, n, b.rs, b.cs);
                    for panel in 0..n.div_ceil(NR) {
                        let strip = (bp.lines.as_ptr() as *const f32).add(panel * kc * NR);
                        let cols = (n - panel * NR).min(NR);
                        let c = (c.add(block * n + panel * NR), ldc);
                        panel_rows(
                            m,
                            kc,
                            (a, blocks),
                            (strip, NR as isize),
                            cols,
                            alpha,
                            beta,
                            c,
                        );
                    }
                }
            }
            k0 += kc;
        }
    });
}

/// All `m` rows of `C` against one strip of `B` (`cols ≤ 32` columns, rows `ldb` apart):
/// tiles of `MR` rows, each `block` floats further into `A`, then one tile of the rest.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn panel_rows(
    m: usize,
    k: usize,
    (a, block): (Strided, isize),
    (b, ldb): (*const f32, isize),
    cols: usize,
    alpha: f32,
    beta: f32,
    (c, ldc): (*mut f32, isize),
) {
    let masks = [
        ((1u32 << cols.min(16)) - 1) as __mmask16,
        ((1u32 << cols.saturating_sub(16)) - 1) as __mmask16,
    ];
    let at = |i: usize| {
        // SAFETY: row block i/MR of A and rows i.. of C lie inside the caller's matrices.
        let (ai, ci) = unsafe {
            (
                a.ptr.offset((i / MR) as isize * block),
                c.offset(i as isize * ldc),
            )
        };
        (Strided { ptr: ai, ..a }, ci)
    };
    let mut i = 0;
    while i + MR <= m {
        let (ai, ci) = at(i);
        // SAFETY: as above, for a full tile.
        unsafe { tile::<MR>(k, ai, b, ldb, masks, alpha, beta, ci, ldc) };
        i += MR;
    }
    let (ai, ci) = at(i);
    macro_rules! rest {
        ($($r:literal)*) => {
            match m - i {
                0 => {}
                // SAFETY: as above, for the remaining rows.
                $($r => unsafe { tile::<$r>(k, ai, b, ldb, masks, alpha, beta, ci, ldc) },)*
                _ => unreachable!("fewer than MR rows remain"),
            }
        };
    }
    rest!(1 2 3 4 5 6 7 8 9 10 11);
}

/// One `R×32` tile of `C` over depth `k`: `R` rows of `A` against a strip of `B`, whose
/// columns beyond `masks` are neither read nor written.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize>(
    k: usize,
    a: Strided,
    b: *const f32,
    ldb: isize,
    masks: [__mmask16; 2],
    alpha: f32,
    beta: f32,
    c: *mut f32,
    ldc: isize,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    for p in 0..k {
        // SAFETY: row p of the strip and elements (r, p) of A are inside the caller's matrices.
        let (b0, b1) = unsafe {
            let row = b.offset(p as isize * ldb);
            (
                _mm512_maskz_loadu_ps(masks[0], row),
                _mm512_maskz_loadu_ps(masks[1], row.add(16)),
            )
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = unsafe { *a.ptr.offset(r as isize * a.rs + p as isize * a.cs) };
            let x = _mm512_set1_ps(x);
            acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
            acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
        }
    }
    let (va, vb) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
    for (r, acc) in acc.iter().enumerate() {
        for half in 0..2 {
            // SAFETY: the masks cover only the tile's valid columns of row r.
            unsafe {
                let dst = c.offset(r as isize * ldc).add(16 * half);
                let mut v = _mm512_mul_ps(acc[half], va);
                if beta != 0.0 {
                    v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(masks[half], dst), vb, v);
                }
                _mm512_mask_storeu_ps(dst, masks[half], v);
            }
        }
    }
}
