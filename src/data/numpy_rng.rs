//! Bit-exact port of numpy's legacy `RandomState(seed).permutation(n)`.
//!
//! The reference code splits MNIST/CIFAR into train/validation with
//! `numpy.random.RandomState(1234).permutation(n_train)`; reproducing that permutation
//! exactly is what lets our splits match theirs sample for sample.

use rand_mt::Mt;

/// Bit-for-bit `numpy.random.RandomState(seed).permutation(n)` (the legacy MT19937 generator).
///
/// `RandomState(int)` seeds with `init_genrand(seed)`, which is exactly `Mt::new(seed)`.
/// `permutation(n)` shuffles `arange(n)` in place with numpy's `_shuffle_raw`:
/// `for i in (1..n).rev() { j = random_interval(i); swap(i, j) }`.
#[must_use]
pub fn legacy_permutation(seed: u32, n: usize) -> Vec<usize> {
    let mut rng = Mt::new(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        // usize -> u64 is lossless on every platform Rust supports (usize <= 64 bits).
        let max = u64::try_from(i).expect("usize fits in u64");
        let j = random_interval(&mut rng, max);
        // j <= i < n, so it indexes `perm` and fits in usize.
        let j = usize::try_from(j).expect("j <= i fits in usize");
        perm.swap(i, j);
    }
    perm
}

/// numpy's `random_interval(bitgen, max)` (distributions.c): a uniform integer in `[0, max]`.
///
/// Masked rejection sampling, not modulo or multiply-shift: every rejected draw still
/// consumes generator output, so any other method would desynchronise the stream.
/// For MT19937, numpy's `next_uint64` is `(next32 << 32) | next32`, which is what
/// `Mt::next_u64` does, so the (practically unreachable) > 32-bit branch matches too.
fn random_interval(rng: &mut Mt, max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    // Smallest all-ones mask >= max.
    let mask = u64::MAX >> max.leading_zeros();
    if max <= u64::from(u32::MAX) {
        loop {
            let value = u64::from(rng.next_u32()) & mask;
            if value <= max {
                return value;
            }
        }
    } else {
        loop {
            let value = rng.next_u64() & mask;
            if value <= max {
                return value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `p` holds each of `0..p.len()` exactly once.
    fn assert_is_permutation(p: &[usize]) {
        let mut seen = vec![false; p.len()];
        for &x in p {
            assert!(x < p.len(), "{x} out of range");
            assert!(!seen[x], "{x} appears twice");
            seen[x] = true;
        }
    }

    /// Position-weighted checksum: catches a swapped or shifted index that a plain sum misses.
    fn weighted_sum(p: &[usize]) -> u64 {
        p.iter()
            .enumerate()
            .map(|(k, &x)| k as u64 * x as u64)
            .sum()
    }

    #[test]
    fn seeding_matches_numpy_init_genrand() {
        // import numpy as np
        // np.random.RandomState(1234)._bit_generator.random_raw(4).tolist()
        // np.random.RandomState(5489)._bit_generator.random_raw(2).tolist()
        let mut mt = Mt::new(1234);
        let got: Vec<u32> = (0..4).map(|_| mt.next_u32()).collect();
        assert_eq!(got, [822569775, 2137449171, 2671936806, 3512589365]);
        let mut mt = Mt::new(5489);
        assert_eq!([mt.next_u32(), mt.next_u32()], [3499211612, 581869302]);
    }

    #[test]
    fn seed_1234_n_10() {
        // np.random.RandomState(1234).permutation(10).tolist()
        assert_eq!(legacy_permutation(1234, 10), [7, 2, 9, 1, 0, 8, 4, 5, 6, 3]);
    }

    #[test]
    fn seed_1234_n_60000_mnist_split() {
        // p = np.random.RandomState(1234).permutation(60000)
        // p[:8].tolist(), p[-8:].tolist()
        // int(p[:58000].sum()), int((p[:58000] * np.arange(58000)).sum())
        let p = legacy_permutation(1234, 60000);
        assert_eq!(p.len(), 60000);
        assert_eq!(
            p[..8],
            [30329, 44957, 30866, 40447, 25580, 6216, 26373, 9010]
        );
        assert_eq!(
            p[60000 - 8..],
            [32399, 55289, 17048, 23924, 56373, 34086, 58067, 27439]
        );
        let train = &p[..58000];
        assert_eq!(train.iter().map(|&x| x as u64).sum::<u64>(), 1739639911);
        assert_eq!(weighted_sum(train), 50398396608586);
        assert_is_permutation(&p);
    }

    #[test]
    fn seed_0_n_50000_cifar_split() {
        // q = np.random.RandomState(0).permutation(50000)
        // q[:8].tolist(), q[-8:].tolist(), int(q[:48000].sum())
        let q = legacy_permutation(0, 50000);
        assert_eq!(
            q[..8],
            [11841, 19602, 45519, 25747, 42642, 31902, 30346, 12363]
        );
        assert_eq!(
            q[50000 - 8..],
            [41993, 32103, 30403, 21243, 45891, 42613, 43567, 2732]
        );
        assert_eq!(
            q[..48000].iter().map(|&x| x as u64).sum::<u64>(),
            1200360727
        );
        assert_is_permutation(&q);
    }

    #[test]
    fn edge_sizes_and_max_seed() {
        // np.random.RandomState(42).permutation(0).tolist()
        // np.random.RandomState(42).permutation(1).tolist()
        // np.random.RandomState(7).permutation(2).tolist()
        // np.random.RandomState(4294967295).permutation(12).tolist()
        assert_eq!(legacy_permutation(42, 0), Vec::<usize>::new());
        assert_eq!(legacy_permutation(42, 1), [0]);
        assert_eq!(legacy_permutation(7, 2), [0, 1]);
        assert_eq!(
            legacy_permutation(u32::MAX, 12),
            [11, 8, 5, 9, 1, 10, 6, 0, 4, 7, 2, 3]
        );
    }

    #[test]
    fn mask_matches_numpy_shift_or() {
        // distributions.c: mask = max; mask |= mask >> 1; ... mask |= mask >> 32;
        let c_mask = |max: u64| [1, 2, 4, 8, 16, 32].iter().fold(max, |m, s| m | m >> s);
        let probes = (1..70_000u64).chain([u64::from(u32::MAX), 1 << 32, (1 << 40) + 3, u64::MAX]);
        for max in probes {
            assert_eq!(u64::MAX >> max.leading_zeros(), c_mask(max), "max = {max}");
        }
    }
}
