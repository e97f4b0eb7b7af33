//! f32 products on the AMX tile unit as three bf16 products ("bf16x3", what PyTorch calls
//! float32 matmul precision "high"):
//!
//! `x = hi + lo`, `hi = bf16(x)`, `lo = bf16(x − hi)`;
//! `A·B ≈ A_hi·B_hi + A_lo·B_hi + A_hi·B_lo`,
//!
//! three bf16 products with f32 accumulation, each operand kept as a plane of `hi` and a
//! plane of `lo`. Sixteen of each operand's 24 mantissa bits take part and the dropped
//! `A_lo·B_lo` is below 2⁻¹⁶ of each term: the error measured ~2·10⁻⁶ of `Σ|a·b|` (the
//! tests bound it at 10⁻⁵), and training gradients 4–42× f32's own error.
//!
//! A `tdpbf16ps` adds a 16×32 by 32×16 bf16 product into a 16×16 f32 tile. The kernel holds
//! a 2×2 block of `C` tiles in tmm0–3 and loads operands into tmm4–7: ten tile loads to
//! twelve products a k-step, as the `B_hi` tiles serve two products each. On this machine a
//! tile load took ~25 ns wherever its rows lay and a product 6–14 ns, so the loads set the
//! pace: the 64×128×256 step product ran 1.2–2.3× faster than the f32 kernel on one core,
//! not the unit's nominal 16×, and whole training steps 0.8–1.3× (README).

use std::arch::asm;
use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::avx512::Strided;

/// bf16 along `k` in one tile row: a k-step of the kernel.
const KSTEP: usize = 32;
/// Rows and columns of `C` that one 2×2 block of 16×16 tiles covers.
const BLOCK: usize = 32;
/// Bytes of one 16×64-byte tile.
const TILE: usize = 1024;

/// `k` padded to whole k-steps: the depth of each of an operand's hi and lo planes.
fn depth(k: usize) -> usize {
    k.div_ceil(KSTEP) * KSTEP
}

/// Whether this CPU and OS run the kernel: AMX-TILE and AMX-BF16, AVX-512 BF16 for the
/// splitting, and the kernel's permission to use tile state (checked once a process).
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let edx = __cpuid_count(7, 0).edx;
        let (tile, bf16) = ((edx >> 24) & 1 == 1, (edx >> 22) & 1 == 1);
        tile && bf16
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bf16")
            && request_tile_state()
    })
}

/// Linux gives the 8 KiB of tile registers only to processes that ask, once
/// (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`); before that a tile instruction faults.
fn request_tile_state() -> bool {
    #[cfg(target_os = "linux")]
    {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: a plain system call with integer arguments.
        unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            ) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// The tile configuration: palette 1, all eight tiles 16 rows of 64 bytes.
#[repr(C, align(64))]
struct Config([u8; 64]);

const CONFIG: Config = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64;
        c[48 + t] = 16;
        t += 1;
    }
    Config(c)
};

/// One 64-byte row of a packed tile: 16 columns × a pair along `k`.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([u16; 32]);

/// A `[k, n]` right-hand operand split into `hi` and `lo` planes in the tile unit's
/// pair-interleaved layout, padded with zeros to whole k-steps and to whole pairs of
/// 16-column panels. Tile `(panel p, plane g, k-step s)` is 1 KiB at index `(2p + g)·steps + s`;
/// its row `r` holds, for each of the panel's 16 columns, rows `32s + 2r` and `32s + 2r + 1`.
#[derive(Default)]
pub struct Tiles {
    k: usize,
    n: usize,
    lines: Vec<Line>,
}

impl Tiles {
    pub fn dim(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    fn steps(&self) -> usize {
        depth(self.k) / KSTEP
    }

    fn panels(&self) -> usize {
        self.n.div_ceil(BLOCK) * 2
    }

    /// Splits and packs `b` (`[k, n]`, any strides); allocates only when the shape grows.
    ///
    /// # Safety
    /// [`available`] must hold and `b` must describe a valid `[k, n]` matrix of f32.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub unsafe fn pack(&mut self, b: Strided, k: usize, n: usize) {
        (self.k, self.n) = (k, n);
        let (steps, panels) = (self.steps(), self.panels());
        self.lines.resize(panels * 2 * steps * 16, Line::default());
        // Row `q`'s 16 columns from `j0`, split (zero past k or n).
        let row = |q: usize, j0: usize| {
            let cols = n.saturating_sub(j0).min(16);
            if q >= k || cols == 0 {
                return (_mm256_setzero_si256(), _mm256_setzero_si256());
            }
            // SAFETY: row q, columns j0..j0 + cols lie inside the caller's matrix.
            split(unsafe {
                load16(
                    b.ptr.offset(q as isize * b.rs + j0 as isize * b.cs),
                    b.cs,
                    cols,
                )
            })
        };
        let pairs = _mm512_set_epi16(
            31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20,
            4, 19, 3, 18, 2, 17, 1, 16, 0,
        );
        let interleave = |x: __m256i, y: __m256i| {
            _mm512_permutexvar_epi16(pairs, _mm512_inserti64x4::<1>(_mm512_castsi256_si512(x), y))
        };
        let lines = self.lines.as_mut_ptr();
        for p in 0..panels {
            for s in 0..steps {
                for r in 0..16 {
                    let q = s * KSTEP + 2 * r;
                    let ((hi0, lo0), (hi1, lo1)) = (row(q, 16 * p), row(q + 1, 16 * p));
                    let at = |g: usize| ((2 * p + g) * steps + s) * 16 + r;
                    // SAFETY: both lines lie inside the buffer sized above.
                    unsafe {
                        _mm512_store_si512(lines.add(at(0)) as *mut _, interleave(hi0, hi1));
                        _mm512_store_si512(lines.add(at(1)) as *mut _, interleave(lo0, lo1));
                    }
                }
            }
        }
    }
}

/// Up to 16 floats `stride` apart from `p`, zero past `count`.
///
/// # Safety
/// The `count` elements must be readable.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load16(p: *const f32, stride: isize, count: usize) -> __m512 {
    let mask = ((1u32 << count) - 1) as __mmask16;
    if stride == 1 {
        // SAFETY: the mask covers the readable elements only.
        unsafe { _mm512_maskz_loadu_ps(mask, p) }
    } else {
        let at = _mm512_mullo_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(stride as i32),
        );
        // SAFETY: as above; the strides of these matrices fit in i32.
        unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, at, p) }
    }
}

/// `(hi, lo)` of 16 floats: `hi = bf16(x)`, `lo = bf16(x − hi)`, both rounded to nearest even.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
fn split(x: __m512) -> (__m256i, __m256i) {
    // SAFETY: both are 256 bits of plain data.
    let bits = |v: __m256bh| unsafe { std::mem::transmute::<__m256bh, __m256i>(v) };
    let hi = bits(_mm512_cvtneps_pbh(x));
    let back = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(hi)));
    (hi, bits(_mm512_cvtneps_pbh(_mm512_sub_ps(x, back))))
}

/// Writes the split rows `0..m` of `a` over columns `k0..k0 + kc`: row `i` is
/// `[hi | 0… | lo | 0…]`, each plane `depth(kc)` long, and rows up to the next whole block
/// are zero. A transposed `a` (unit row stride, as `Hᵀ` in a weight gradient) is read 16×16
/// at a time and transposed in registers: with a gather an element instead, this function
/// took 13.7% of an amx Lipschitz Euler step in `perf`, against 9.6–11.9% now.
///
/// # Safety
/// [`available`] must hold and `a` must cover those rows and columns.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
unsafe fn split_rows(a: Strided, m: usize, (k0, kc): (usize, usize), out: &mut Vec<u16>) {
    let kp = depth(kc);
    out.resize(m.div_ceil(BLOCK) * BLOCK * 2 * kp, 0);
    // Writes 16 floats of row i from column j (`cols` of them valid) as hi and lo.
    let mut put = |i: usize, j: usize, cols: usize, x: __m512| {
        let mask = ((1u32 << cols) - 1) as __mmask16;
        let (hi, lo) = split(x);
        // SAFETY: row i < m is inside `out`, and j + cols ≤ kc ≤ kp.
        unsafe {
            let dst = out.as_mut_ptr().add(i * 2 * kp + j) as *mut i16;
            _mm256_mask_storeu_epi16(dst, mask, hi);
            _mm256_mask_storeu_epi16(dst.add(kp), mask, lo);
        }
    };
    let at = |i: usize, j: usize| {
        // SAFETY: callers pass i < m, j < kc, inside the caller's matrix.
        unsafe { a.ptr.offset(i as isize * a.rs + (k0 + j) as isize * a.cs) }
    };
    if a.rs == 1 && a.cs != 1 {
        // Sixteen whole rows of `aᵀ` at a time, read in order.
        for j0 in (0..kc).step_by(16) {
            let cols = (kc - j0).min(16);
            for i0 in (0..m).step_by(16) {
                let rows = (m - i0).min(16);
                let mut v = [_mm512_setzero_ps(); 16];
                for (j, v) in v.iter_mut().enumerate().take(cols) {
                    // SAFETY: `rows` consecutive floats of column j0 + j of `a`.
                    *v = unsafe { load16(at(i0, j0 + j), 1, rows) };
                }
                transpose(&mut v);
                for (i, &v) in v.iter().enumerate().take(rows) {
                    put(i0 + i, j0, cols, v);
                }
            }
        }
    } else {
        for i in 0..m {
            for j in (0..kc).step_by(16) {
                let cols = (kc - j).min(16);
                // SAFETY: `cols` elements of row i from column j, `a.cs` apart.
                put(i, j, cols, unsafe { load16(at(i, j), a.cs, cols) });
            }
        }
    }
    for (i, row) in out.chunks_exact_mut(2 * kp).enumerate() {
        if i < m {
            row[kc..kp].fill(0);
            row[kp + kc..].fill(0);
        } else {
            row.fill(0);
        }
    }
}

/// Transposes 16×16 floats in registers: `v[j][i]` becomes `v[i][j]`.
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose(v: &mut [__m512; 16]) {
    // Pairs of rows interleave their elements, then their pairs, then 128-bit lanes twice.
    let mut t = [_mm512_setzero_ps(); 16];
    for j in 0..8 {
        t[2 * j] = _mm512_unpacklo_ps(v[2 * j], v[2 * j + 1]);
        t[2 * j + 1] = _mm512_unpackhi_ps(v[2 * j], v[2 * j + 1]);
    }
    for j in 0..4 {
        let b = 4 * j;
        v[b] = _mm512_shuffle_ps::<0x44>(t[b], t[b + 2]);
        v[b + 1] = _mm512_shuffle_ps::<0xEE>(t[b], t[b + 2]);
        v[b + 2] = _mm512_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
        v[b + 3] = _mm512_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
    }
    for j in 0..4 {
        t[j] = _mm512_shuffle_f32x4::<0x88>(v[j], v[j + 4]);
        t[j + 4] = _mm512_shuffle_f32x4::<0xDD>(v[j], v[j + 4]);
        t[j + 8] = _mm512_shuffle_f32x4::<0x88>(v[j + 8], v[j + 12]);
        t[j + 12] = _mm512_shuffle_f32x4::<0xDD>(v[j + 8], v[j + 12]);
    }
    for j in 0..8 {
        v[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[j + 8]);
        v[j + 8] = _mm512_shuffle_f32x4::<0xDD>(t[j], t[j + 8]);
    }
}

/// `C ← A·B (+ C when `accumulate`)` for `m` rows and `n` columns of `C` (row stride `ldc`),
/// `A` split as [`split_rows`] writes it, `B` packed.
///
/// # Safety
/// [`available`] must hold; `C` must cover `m × n` and alias neither operand; `a` must hold
/// whole blocks of split rows of `B`'s depth.
unsafe fn multiply(
    m: usize,
    n: usize,
    a: &[u16],
    b: &Tiles,
    c: (*mut f32, isize),
    accumulate: bool,
) {
    let steps = b.steps();
    let row = 2 * steps * KSTEP;
    debug_assert!(a.len() >= m.div_ceil(BLOCK) * BLOCK * row);
    let (c, ldc) = c;
    // SAFETY: the configuration is a valid palette-1 layout.
    unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG as *const Config, options(nostack, readonly)) };
    let mut edge = [0f32; BLOCK * BLOCK];
    for i in (0..m).step_by(BLOCK) {
        for j in (0..n).step_by(BLOCK) {
            let (rows, cols) = ((m - i).min(BLOCK), (n - j).min(BLOCK));
            let whole = rows == BLOCK && cols == BLOCK;
            // SAFETY: rows i.., columns j.. of C lie inside the caller's matrix.
            let corner = unsafe { c.offset(i as isize * ldc + j as isize) };
            let (dst, ld) = if whole {
                (corner, ldc)
            } else {
                // A partial block runs on `edge` and copies its valid part back.
                if accumulate {
                    for r in 0..rows {
                        for q in 0..cols {
                            edge[r * BLOCK + q] =
                                unsafe { *corner.offset(r as isize * ldc + q as isize) };
                        }
                    }
                }
                (edge.as_mut_ptr(), BLOCK as isize)
            };
            // SAFETY: `a` holds block i/32's rows, the tiles hold panel pair j/32, and `dst`
            // covers a 32×32 block of f32 rows `ld` apart.
            unsafe {
                block(
                    (a.as_ptr().add(i * row) as *const u8, 2 * row),
                    b.lines.as_ptr().add((j / 16) * 2 * steps * 16) as *const u8,
                    steps,
                    (dst, ld),
                    accumulate,
                )
            };
            if !whole {
                for r in 0..rows {
                    for q in 0..cols {
                        unsafe {
                            *corner.offset(r as isize * ldc + q as isize) = edge[r * BLOCK + q]
                        };
                    }
                }
            }
        }
    }
    // SAFETY: releasing tile state is always allowed; it lets context switches skip saving it.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// One 32×32 block of `C`: split rows of `A` `sa` bytes apart (their lo plane half a row
/// in), a pair of packed panels of `B` from `b`, `C` rows `ldc` floats apart.
///
/// # Safety
/// As [`multiply`], with the tiles configured.
#[inline]
unsafe fn block(
    (a, sa): (*const u8, usize),
    b: *const u8,
    steps: usize,
    (c, ldc): (*mut f32, isize),
    accumulate: bool,
) {
    let (sc, lower) = (ldc as usize * 4, unsafe { c.offset(16 * ldc) });
    let (lo_a, plane, panel) = (sa / 2, steps * TILE, 2 * steps * TILE);
    unsafe {
        if accumulate {
            asm!(
                "tileloadd tmm0, [{c} + {s}*1]",
                "tileloadd tmm1, [{c} + {s}*1 + 64]",
                "tileloadd tmm2, [{d} + {s}*1]",
                "tileloadd tmm3, [{d} + {s}*1 + 64]",
                c = in(reg) c, d = in(reg) lower, s = in(reg) sc,
                options(nostack, readonly),
            );
        } else {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
        }
        for s in 0..steps {
            let (hi, b) = (a.add(s * 2 * KSTEP), b.add(s * TILE));
            // A_hi·B_hi and A_lo·B_hi share the B_hi tiles; then A_hi·B_lo.
            asm!(
                "tileloadd tmm4, [{hi} + {sa}*1]",
                "tileloadd tmm6, [{bh0} + {sb}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{bh1} + {sb}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{hi2} + {sa}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "tileloadd tmm4, [{lo} + {sa}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{lo2} + {sa}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "tileloadd tmm6, [{bl0} + {sb}*1]",
                "tileloadd tmm4, [{hi} + {sa}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm5, [{hi2} + {sa}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tileloadd tmm7, [{bl1} + {sb}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm3, tmm5, tmm7",
                hi = in(reg) hi, hi2 = in(reg) hi.add(16 * sa),
                lo = in(reg) hi.add(lo_a), lo2 = in(reg) hi.add(16 * sa + lo_a),
                bh0 = in(reg) b, bl0 = in(reg) b.add(plane),
                bh1 = in(reg) b.add(panel), bl1 = in(reg) b.add(panel + plane),
                sa = in(reg) sa, sb = in(reg) 64usize,
                options(nostack, readonly),
            );
        }
        asm!(
            "tilestored [{c} + {s}*1], tmm0",
            "tilestored [{c} + {s}*1 + 64], tmm1",
            "tilestored [{d} + {s}*1], tmm2",
            "tilestored [{d} + {s}*1 + 64], tmm3",
            c = in(reg) c, d = in(reg) lower, s = in(reg) sc,
            options(nostack),
        );
    }
}

std::thread_local! {
    /// Split rows of the left operand, and the packed right operands of [`gemm_long`], per
    /// thread (shards run on their own threads).
    static SCRATCH: std::cell::RefCell<(Vec<u16>, Vec<Tiles>)> = Default::default();
}

/// `C ← A·B + β·C`, `β ∈ {0, 1}`, for `A [m, k]` of any strides against packed `B`, `C [m, n]`
/// with row stride `ldc` and unit column stride; `C` is not read when `β = 0`.
///
/// # Safety
/// [`available`] must hold; the pointers must describe valid matrices of those shapes with
/// `C` aliasing neither input.
pub unsafe fn gemm_packed(m: usize, a: Strided, b: &Tiles, accumulate: bool, c: (*mut f32, isize)) {
    let (k, n) = b.dim();
    SCRATCH.with_borrow_mut(|(rows, _)| unsafe {
        split_rows(a, m, (0, k), rows);
        multiply(m, n, rows, b, c, accumulate);
    });
}

/// Depth of a block of `k` in [`gemm_long`].
const KC: usize = 512;

/// `C ← A·[B_0 | B_1 | …] + β·C`, `β ∈ {0, 1}`, for `A [m, k]` and each `B_i [k, n]` of any
/// strides, `C [m, n·blocks]` with unit column stride: weight gradients over all steps, as
/// [`super::avx512::gemm_long`], one 512-deep block of every operand split and packed at a time.
///
/// # Safety
/// As [`gemm_packed`], and `k > 0`.
pub unsafe fn gemm_long(
    (m, k, n): (usize, usize, usize),
    a: Strided,
    bs: &[Strided],
    accumulate: bool,
    (c, ldc): (*mut f32, isize),
) {
    SCRATCH.with_borrow_mut(|(rows, tiles)| {
        tiles.resize_with(bs.len(), Tiles::default);
        let mut k0 = 0;
        while k0 < k {
            let kc = (k - k0).min(KC);
            // SAFETY: every block lies inside the caller's matrices; C blocks are disjoint.
            unsafe {
                split_rows(a, m, (k0, kc), rows);
                for (i, (b, t)) in bs.iter().zip(tiles.iter_mut()).enumerate() {
                    t.pack(
                        Strided {
                            ptr: b.ptr.offset(k0 as isize * b.rs),
                            ..*b
                        },
                        kc,
                        n,
                    );
                    multiply(m, n, rows, t, (c.add(i * n), ldc), accumulate || k0 > 0);
                }
            }
            k0 += kc;
        }
    });
}
