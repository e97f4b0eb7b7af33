//! Short-time Fourier magnitudes for the speech-prediction task (the expRNN / Wisdom et al.
//! protocol: 8 kHz audio, 256-sample periodic Hann window, hop 128 → 129 bins a frame).
//!
//! Framing follows `scipy.signal.stft(..., boundary=None, padded=True)`: frames start at 0,
//! `hop`, `2·hop`, …, with no centring pad, and the end is zero-padded just enough that every
//! sample lies in some frame (so the last, partly silent frame is still a prediction target,
//! and a clip shorter than one window still gives one frame). Where the signal already fits
//! exactly this equals `torch.stft(center=False)`. Magnitudes are unscaled, `|rfft(w · frame)|`
//! as numpy and torch return them (scipy would divide by `sum(w)`).

use ndarray::Array2;
use rustfft::{FftPlanner, num_complex::Complex};

/// Number of frames [`stft_magnitude`] returns for `len` samples: `0` if empty, else
/// `1 + ceil((len − window) / hop)` (at least 1).
pub fn frame_count(len: usize, window: usize, hop: usize) -> usize {
    match len {
        0 => 0,
        _ if len <= window => 1,
        _ => 1 + (len - window).div_ceil(hop),
    }
}

/// Periodic Hann window of `n` samples, `0.5 − 0.5·cos(2πk/n)` (scipy's `get_window('hann', n)`,
/// `torch.hann_window(n)`): the periodic form tiles exactly at 50 % overlap.
pub fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|k| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / n as f64).cos()) as f32)
        .collect()
}

/// STFT magnitudes: frames of `window` samples (periodic Hann) every `hop`, `window/2 + 1` bins a frame, row-major [frames, bins].
pub fn stft_magnitude(samples: &[f32], window: usize, hop: usize) -> Array2<f32> {
    assert!(
        window > 0 && hop > 0,
        "STFT window and hop must be positive"
    );
    let bins = window / 2 + 1;
    let frames = frame_count(samples.len(), window, hop);
    let mut out = Array2::zeros((frames, bins));
    if frames == 0 {
        return out;
    }
    let w = hann(window);
    // All frames in one buffer: rustfft transforms consecutive `window`-long chunks in one call.
    let mut buf = vec![Complex::new(0.0f32, 0.0); frames * window];
    for (f, frame) in buf.chunks_exact_mut(window).enumerate() {
        let start = (f * hop).min(samples.len()); // hop > window can step past the end
        let end = (start + window).min(samples.len());
        for ((c, &x), &wk) in frame.iter_mut().zip(&samples[start..end]).zip(&w) {
            c.re = x * wk;
        }
    }
    let fft = FftPlanner::<f32>::new().plan_fft_forward(window);
    fft.process(&mut buf);
    for (row, frame) in out.rows_mut().into_iter().zip(buf.chunks_exact(window)) {
        for (o, c) in row.into_iter().zip(frame) {
            *o = c.norm();
        }
    }
    out
}

/// log(1 + x) compression in place: finite and 0 at silence (zero-padded frames, digital
/// silence) without a floor to tune, ≈ x for quiet bins and logarithmic for loud ones, so the
/// MSE is not dominated either by a few loud bins (raw magnitudes) or by silent bins diving to
/// log(floor).
pub fn log_magnitude(m: &mut Array2<f32>) {
    m.mapv_inplace(f32::ln_1p);
}
