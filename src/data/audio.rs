//! Audio files for the speech-prediction task: RIFF WAV (the FSDD stand-in) and NIST SPHERE
//! (TIMIT), decoded to mono `f32`, and a windowed-sinc resampler to bring TIMIT's 16 kHz down
//! to the protocol's 8 kHz.
//!
//! WAV is parsed here rather than with `hound`: the format is a few chunks, and parsing it
//! ourselves keeps every failure a [`Error::Format`] naming the file (a truncated `data` chunk
//! is caught up front, not mid-read as an I/O error) with no extra dependency.

use std::path::Path;

use crate::error::{Error, Result};

/// Mono audio as f32 samples in [-1, 1) (float WAVs pass through unclipped).
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub rate: u32,
    pub samples: Vec<f32>,
}

impl Audio {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / self.rate as f64
    }
}

/// Reads RIFF WAV (PCM 8/16/24/32-bit int and 32/64-bit float, mono or multi-channel → averaged to mono; skip unknown chunks like LIST; WAVE_FORMAT_EXTENSIBLE) or NIST SPHERE, by magic.
pub fn read_audio(path: &Path) -> Result<Audio> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
        parse_wav(&bytes).map_err(|m| Error::format(path, m))
    } else if bytes.starts_with(b"NIST_1A") {
        parse_sphere(&bytes).map_err(|m| Error::format(path, m))
    } else {
        let head: String = bytes.iter().take(8).map(|&b| printable(b)).collect();
        Err(Error::format(
            path,
            format!("not an audio file: magic {head:?} is neither RIFF/WAVE nor NIST_1A (SPHERE)"),
        ))
    }
}

fn printable(b: u8) -> char {
    if b.is_ascii_graphic() || b == b' ' {
        b as char
    } else {
        '.'
    }
}

/// How interleaved sample bytes become numbers.
#[derive(Clone, Copy, Debug)]
enum Coding {
    /// 8-bit WAV: unsigned, offset 128.
    U8,
    /// Signed two's complement of `bytes` bytes, full-scale at 2^(8·bytes − 1).
    Int {
        bytes: usize,
        big_endian: bool,
    },
    F32,
    F64,
}

impl Coding {
    fn width(self) -> usize {
        match self {
            Coding::U8 => 1,
            Coding::Int { bytes, .. } => bytes,
            Coding::F32 => 4,
            Coding::F64 => 8,
        }
    }

    fn decode(self, b: &[u8]) -> f32 {
        match self {
            Coding::U8 => (b[0] as f32 - 128.0) / 128.0,
            Coding::Int { bytes, big_endian } => {
                // Sign-extend by placing the bytes at the top of an i32 (TIMIT's 2-byte samples
                // are exact in f32; 32-bit ones round, which f32 audio does anyway).
                let mut v: u32 = 0;
                for i in 0..bytes {
                    let byte = if big_endian { b[i] } else { b[bytes - 1 - i] };
                    v = (v << 8) | byte as u32;
                }
                let v = (v << (32 - 8 * bytes)) as i32;
                (v as f64 / 2f64.powi(31)) as f32
            }
            Coding::F32 => f32::from_le_bytes(b[..4].try_into().unwrap()),
            Coding::F64 => f64::from_le_bytes(b[..8].try_into().unwrap()) as f32,
        }
    }
}

/// Averages interleaved frames of `channels` samples to mono; a trailing partial frame is dropped.
fn decode_mono(data: &[u8], coding: Coding, channels: usize) -> Vec<f32> {
    let w = coding.width();
    let inv = 1.0 / channels as f32;
    data.chunks_exact(w * channels)
        .map(|frame| {
            if channels == 1 {
                coding.decode(frame)
            } else {
                frame.chunks_exact(w).map(|s| coding.decode(s)).sum::<f32>() * inv
            }
        })
        .collect()
}

fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
const WAVE_FORMAT_ALAW: u16 = 6;
const WAVE_FORMAT_MULAW: u16 = 7;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Parses a RIFF/WAVE file; the error is the message without the path.
fn parse_wav(b: &[u8]) -> std::result::Result<Audio, String> {
    // (format tag, channels, rate, block align, bits)
    let mut fmt: Option<(u16, usize, u32, usize, usize)> = None;
    let mut data: Option<&[u8]> = None;
    let mut at = 12;
    // The RIFF size field is often wrong (streamed writers), so walk chunks to the end of the file.
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let size = u32_le(b, at + 4) as usize;
        let body = at + 8;
        let end = body.checked_add(size).filter(|&e| e <= b.len());
        match id {
            b"fmt " => {
                end.ok_or("truncated: fmt chunk runs past the end of the file")?;
                if size < 16 {
                    return Err(format!("fmt chunk of {size} bytes, expected at least 16"));
                }
                let mut tag = u16_le(b, body);
                if tag == WAVE_FORMAT_EXTENSIBLE {
                    // cbSize (2) + valid bits (2) + channel mask (4) + SubFormat GUID, whose
                    // first two bytes are the real format tag.
                    if size < 40 {
                        return Err(format!(
                            "WAVE_FORMAT_EXTENSIBLE fmt chunk of {size} bytes, expected 40"
                        ));
                    }
                    tag = u16_le(b, body + 24);
                }
                fmt = Some((
                    tag,
                    u16_le(b, body + 2) as usize,
                    u32_le(b, body + 4),
                    u16_le(b, body + 12) as usize,
                    u16_le(b, body + 14) as usize,
                ));
            }
            b"data" => {
                let end = end.ok_or_else(|| {
                    format!(
                        "truncated: data chunk declares {size} bytes but only {} remain",
                        b.len() - body
                    )
                })?;
                data = Some(&b[body..end]);
                // Anything after the samples (LIST, id3, padding) is of no use to us.
                break;
            }
            _ => {
                // Unknown chunks (LIST, fact, cue, bext, …) are skipped, padded to even size.
                if end.is_none() {
                    return Err(format!(
                        "truncated: {:?} chunk of {size} bytes runs past the end of the file before any data chunk",
                        String::from_utf8_lossy(id)
                    ));
                }
            }
        }
        at = body + size + (size & 1);
    }
    let (tag, channels, rate, block_align, bits) = fmt.ok_or("no fmt chunk")?;
    let data = data.ok_or("no data chunk")?;
    if channels == 0 || rate == 0 {
        return Err(format!("fmt chunk says {channels} channels at {rate} Hz"));
    }
    // The container width comes from the block alignment: 24-bit samples in 32-bit slots
    // (WAVE_FORMAT_EXTENSIBLE) are left-justified, so scaling by the container is right.
    let width = if block_align % channels == 0 && block_align > 0 {
        block_align / channels
    } else {
        bits.div_ceil(8)
    };
    let coding = match (tag, width) {
        (WAVE_FORMAT_PCM, 1) => Coding::U8,
        (WAVE_FORMAT_PCM, 2..=4) => Coding::Int {
            bytes: width,
            big_endian: false,
        },
        (WAVE_FORMAT_IEEE_FLOAT, 4) => Coding::F32,
        (WAVE_FORMAT_IEEE_FLOAT, 8) => Coding::F64,
        (WAVE_FORMAT_ALAW, _) => return Err("unsupported coding: A-law WAV".into()),
        (WAVE_FORMAT_MULAW, _) => return Err("unsupported coding: mu-law WAV".into()),
        (WAVE_FORMAT_PCM | WAVE_FORMAT_IEEE_FLOAT, _) => {
            return Err(format!(
                "unsupported sample width: {width} bytes ({bits} bits) for format {tag}"
            ));
        }
        _ => return Err(format!("unsupported coding: WAV format tag {tag:#06x}")),
    };
    Ok(Audio {
        rate,
        samples: decode_mono(data, coding, channels),
    })
}

/// Parses a NIST SPHERE file (uncompressed PCM); the error is the message without the path.
fn parse_sphere(b: &[u8]) -> std::result::Result<Audio, String> {
    // Line 1 `NIST_1A`, line 2 the header size in bytes (1024 in TIMIT), then `key -type value`.
    let second = b
        .iter()
        .skip(8)
        .take(32)
        .position(|&c| c == b'\n')
        .ok_or("SPHERE header: no header-size line")?;
    let size_text =
        std::str::from_utf8(&b[8..8 + second]).map_err(|_| "SPHERE header: bad header size")?;
    let header_len: usize = size_text
        .trim()
        .parse()
        .map_err(|_| format!("SPHERE header: bad header size {:?}", size_text.trim()))?;
    if b.len() < header_len {
        return Err(format!(
            "truncated: SPHERE header declares {header_len} bytes, file has {}",
            b.len()
        ));
    }
    let text = String::from_utf8_lossy(&b[8 + second + 1..header_len]);
    let (mut rate, mut count, mut channels, mut n_bytes) = (None, None, 1usize, 2usize);
    let (mut byte_format, mut coding) = (None::<String>, String::from("pcm"));
    let mut ended = false;
    for line in text.lines() {
        let line = line.trim();
        if line == "end_head" {
            ended = true;
            break;
        }
        let mut parts = line.splitn(3, char::is_whitespace);
        let (Some(key), Some(_ty), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            continue; // blank lines and comments
        };
        let value = value.trim();
        let int = || -> std::result::Result<usize, String> {
            value
                .parse()
                .map_err(|_| format!("SPHERE header: {key} = {value:?} is not an integer"))
        };
        match key {
            "sample_rate" => {
                // Usually `-i 16000`, occasionally a real `-r 16000.0`.
                let r: f64 = value.parse().map_err(|_| {
                    format!("SPHERE header: sample_rate = {value:?} is not a number")
                })?;
                rate = Some(r.round() as u32);
            }
            "sample_count" => count = Some(int()?),
            "channel_count" => channels = int()?,
            "sample_n_bytes" => n_bytes = int()?,
            "sample_byte_format" => byte_format = Some(value.to_string()),
            "sample_coding" => coding = value.to_ascii_lowercase(),
            _ => {}
        }
    }
    if !ended {
        return Err("SPHERE header: no end_head line".into());
    }
    if coding.contains("shorten") {
        return Err(format!(
            "unsupported coding: shorten-compressed SPHERE ({coding}); decompress with sph2pipe first"
        ));
    }
    if coding != "pcm" {
        return Err(format!(
            "unsupported coding: SPHERE sample_coding {coding:?}"
        ));
    }
    let rate = rate
        .filter(|&r| r > 0)
        .ok_or("SPHERE header: no sample_rate")?;
    if channels == 0 || !(1..=4).contains(&n_bytes) {
        return Err(format!(
            "SPHERE header: unsupported channel_count {channels} / sample_n_bytes {n_bytes}"
        ));
    }
    // `01`, `0123` little-endian; `10`, `3210` big-endian; `1` a single byte.
    let big_endian = match byte_format.as_deref() {
        None | Some("1") | Some("0") => false,
        Some(f) if n_bytes > 1 && f.len() == n_bytes && f.bytes().is_sorted() => false,
        Some(f) if n_bytes > 1 && f.len() == n_bytes && f.bytes().rev().is_sorted() => true,
        Some(f) => {
            return Err(format!(
                "SPHERE header: unsupported sample_byte_format {f:?} for {n_bytes}-byte samples"
            ));
        }
    };
    let body = &b[header_len..];
    let frame = n_bytes * channels;
    let count = count.unwrap_or(body.len() / frame);
    let need = count
        .checked_mul(frame)
        .ok_or("SPHERE header: sample_count overflows")?;
    if need > body.len() {
        return Err(format!(
            "truncated: sample_count {count} needs {need} bytes of samples, file has {}",
            body.len()
        ));
    }
    Ok(Audio {
        rate,
        samples: decode_mono(
            &body[..need],
            Coding::Int {
                bytes: n_bytes,
                big_endian,
            },
            channels,
        ),
    })
}

/// Zero crossings of the sinc on each side of the filter centre (at the output rate).
const ZERO_CROSSINGS: usize = 32;
/// Cutoff as a fraction of the lower Nyquist: the transition band sits just below it, so
/// content above the new Nyquist is in the stopband and cannot alias.
const ROLLOFF: f64 = 0.9;
/// Kaiser β ≈ 8: about 80 dB stopband, well past the ≥ 40 dB the task needs.
const KAISER_BETA: f64 = 8.0;
/// Above this many phases × taps the filter is evaluated per output sample instead of tabled.
const MAX_TABLE: usize = 1 << 22;

/// Resamples to `to` Hz with a windowed-sinc low-pass (anti-aliasing), e.g. 16 kHz TIMIT → 8 kHz.
///
/// A Kaiser-windowed sinc with its cutoff at 0.9 × the lower Nyquist, evaluated at the exact
/// rational positions `n · from / to` (polyphase: one tap table per distinct fractional phase).
/// Samples outside the signal are zero; the output has `ceil(len · to / from)` samples.
pub fn resample(audio: &Audio, to: u32) -> Audio {
    let from = audio.rate;
    if from == to || audio.samples.is_empty() || to == 0 || from == 0 {
        return Audio {
            rate: to,
            samples: if from == to {
                audio.samples.clone()
            } else {
                Vec::new()
            },
        };
    }
    let g = gcd(from as u64, to as u64);
    let (up, down) = (to as u64 / g, from as u64 / g); // output n sits at input n·down/up
    let fc = ROLLOFF * (to as f64 / from as f64).min(1.0); // cycles per input sample × 2
    let half = (ZERO_CROSSINGS as f64 / fc).ceil() as usize + 1;
    let taps = 2 * half;
    let x = &audio.samples;
    // Taps for fractional position `frac` ∈ [0, 1): input k = i − half + 1 + j weights
    // h(i + frac − k), normalised so each phase passes DC with gain exactly 1.
    let kernel = |frac: f64, out: &mut [f32]| {
        let h: Vec<f64> = (0..taps)
            .map(|j| {
                let tau = frac + half as f64 - 1.0 - j as f64;
                fc * sinc(fc * tau) * kaiser(tau * fc / ZERO_CROSSINGS as f64, KAISER_BETA)
            })
            .collect();
        let sum: f64 = h.iter().sum();
        for (o, v) in out.iter_mut().zip(h) {
            *o = (v / sum) as f32;
        }
    };
    let n_out = (x.len() as u64 * up).div_ceil(down) as usize;
    let table: Option<Vec<f32>> = (up as usize * taps <= MAX_TABLE).then(|| {
        let mut t = vec![0.0; up as usize * taps];
        for (p, row) in t.chunks_exact_mut(taps).enumerate() {
            kernel(p as f64 / up as f64, row);
        }
        t
    });
    let mut scratch = vec![0.0f32; taps];
    let mut samples = Vec::with_capacity(n_out);
    for n in 0..n_out as u64 {
        let pos = n * down;
        let (i, phase) = ((pos / up) as usize, (pos % up) as usize);
        let h: &[f32] = match &table {
            Some(t) => &t[phase * taps..(phase + 1) * taps],
            None => {
                kernel(phase as f64 / up as f64, &mut scratch);
                &scratch
            }
        };
        // Input index of tap 0, clipped to the signal.
        let start = i as isize + 1 - half as isize;
        let lo = (-start).max(0) as usize;
        let hi = (x.len() as isize - start).clamp(0, taps as isize) as usize;
        let mut acc = 0.0f32;
        if lo < hi {
            let xs = &x[(start + lo as isize) as usize..(start + hi as isize) as usize];
            acc = xs.iter().zip(&h[lo..hi]).map(|(a, b)| a * b).sum();
        }
        samples.push(acc);
    }
    Audio { rate: to, samples }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Kaiser window at `x` ∈ [-1, 1] (zero outside).
fn kaiser(x: f64, beta: f64) -> f64 {
    if x.abs() > 1.0 {
        0.0
    } else {
        bessel_i0(beta * (1.0 - x * x).sqrt()) / bessel_i0(beta)
    }
}

/// Modified Bessel function I₀ by its power series (converges fast for the β used here).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, q) = (1.0, 1.0, x * x / 4.0);
    for k in 1..64 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}
