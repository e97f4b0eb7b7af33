//! Summary statistics of repeated measurements (seeds, draws, probes).

/// The mean and the sample standard deviation (n − 1) of `values`: NaN mean for none, NaN
/// standard deviation for fewer than two (a single draw has no spread).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    (mean, std)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mean_and_sample_std() {
        let (m, s) = super::mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        let (m, s) = super::mean_std(&[7.0]);
        assert_eq!(m, 7.0);
        assert!(s.is_nan());
        assert!(super::mean_std(&[]).0.is_nan());
    }
}
