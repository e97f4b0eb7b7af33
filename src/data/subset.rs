//! Fair evaluation subsets of a classification split whose order would bias a prefix: a split
//! grouped by class (CIFAR-10's image folders list `test/<class>/…` class by class, so its first
//! 2,000 images are two classes) is sampled stratified, the same number of each class, drawn
//! from a seed.

use rand::seq::SliceRandom;

/// Whether `labels` come grouped by class (each class one contiguous run) with more than one
/// class, so that a prefix of them is no sample of the split.
pub fn grouped_by_class(labels: &[u8]) -> bool {
    let runs = 1 + labels.windows(2).filter(|w| w[0] != w[1]).count();
    let mut classes = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    classes.len() > 1 && runs == classes.len()
}

/// The random stream of [`stratified`] for one split (`purpose`), derived from a run's
/// `train.seed` and independent of every batch's stream.
pub fn rng(seed: u64, purpose: u64) -> rand_pcg::Pcg64 {
    rand_pcg::Pcg64::new(
        seed as u128 ^ 0x5742_a71f_1ed5_0b5e,
        (0xE7A1 << 8) | purpose as u128,
    )
}

/// `n` indices into `labels` (all of them if fewer), ascending, with each class's share as
/// equal as the counts allow: classes too small for an equal share give all they have, and the
/// remainder goes one each to classes picked by `rng`; which examples of a class, likewise.
pub fn stratified(labels: &[u8], n: usize, rng: &mut rand_pcg::Pcg64) -> Vec<usize> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        members[l as usize].push(i);
    }
    members.retain(|m| !m.is_empty());
    let quota = shares(
        &members.iter().map(Vec::len).collect::<Vec<_>>(),
        n.min(labels.len()),
        rng,
    );
    let mut out = Vec::with_capacity(n);
    for (mut m, q) in members.into_iter().zip(quota) {
        m.shuffle(rng);
        out.extend_from_slice(&m[..q]);
    }
    out.sort_unstable();
    out
}

/// Water-filling of `n ≤ Σ counts` over classes of `counts` examples: equal shares, capped
/// at each count, the last `< open classes` one each to open classes in a seeded order.
fn shares(counts: &[usize], n: usize, rng: &mut rand_pcg::Pcg64) -> Vec<usize> {
    let mut quota = vec![0; counts.len()];
    let mut left = n;
    loop {
        let open: Vec<usize> = (0..counts.len())
            .filter(|&c| quota[c] < counts[c])
            .collect();
        if open.is_empty() || left < open.len() {
            let mut open = open;
            open.shuffle(rng);
            for &c in &open[..left.min(open.len())] {
                quota[c] += 1;
            }
            return quota;
        }
        let share = left / open.len();
        for c in open {
            let add = share.min(counts[c] - quota[c]);
            quota[c] += add;
            left -= add;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_class(labels: &[u8], ids: &[usize]) -> Vec<usize> {
        let mut n = vec![0; 10];
        for &i in ids {
            n[labels[i] as usize] += 1;
        }
        n
    }

    #[test]
    fn grouping_is_one_run_a_class() {
        assert!(grouped_by_class(&[0, 0, 1, 1, 2]));
        assert!(grouped_by_class(&[2, 2, 0, 1, 1]), "any class order");
        assert!(!grouped_by_class(&[0, 1, 0, 1]));
        assert!(
            !grouped_by_class(&[3, 3, 3]),
            "one class: a prefix is as good"
        );
        assert!(!grouped_by_class(&[]));
    }

    #[test]
    fn equal_shares_and_the_remainder_one_each() {
        let labels: Vec<u8> = (0..10).flat_map(|c| [c; 30]).collect();
        let ids = stratified(&labels, 100, &mut rng(1, 2));
        assert_eq!(per_class(&labels, &ids), vec![10; 10]);
        assert!(ids.is_sorted() && ids.windows(2).all(|w| w[0] != w[1]));
        let ids = stratified(&labels, 25, &mut rng(1, 2));
        let n = per_class(&labels, &ids);
        assert_eq!(n.iter().sum::<usize>(), 25);
        assert!(n.iter().all(|&k| k == 2 || k == 3), "{n:?}");
        // The same seed draws the same subset; another seed another.
        assert_eq!(ids, stratified(&labels, 25, &mut rng(1, 2)));
        assert_ne!(ids, stratified(&labels, 25, &mut rng(2, 2)));
    }

    #[test]
    fn small_classes_give_all_they_have() {
        // Class 0 has 2 examples, class 1 has 20: a cap of 10 takes both of 0 and 8 of 1.
        let labels: Vec<u8> = [vec![0; 2], vec![1; 20]].concat();
        let ids = stratified(&labels, 10, &mut rng(7, 1));
        assert_eq!(per_class(&labels, &ids)[..2], [2, 8]);
        assert_eq!(stratified(&labels, 99, &mut rng(7, 1)).len(), 22);
    }
}
