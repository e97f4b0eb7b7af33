//! The audio readers, resampler and STFT of the speech-prediction task, on small WAV and SPHERE
//! files generated here, broken files, a numpy reference, and — when `LRNN_DATA_DIR` holds
//! `fsdd/recordings` — the real Free Spoken Digit Dataset.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use lrnn::data::audio::{Audio, read_audio, resample};
use lrnn::data::stft::{frame_count, log_magnitude, stft_magnitude};
use lrnn::error::Error;

/// A RIFF/WAVE file: `fmt ` body, then `extra` chunks, then `data` (declared `declared` bytes).
fn wav_bytes(fmt: &[u8], extra: &[(&[u8; 4], &[u8])], data: &[u8], declared: usize) -> Vec<u8> {
    let mut chunks = Vec::new();
    let mut chunk = |id: &[u8], body: &[u8], size: usize| {
        chunks.extend_from_slice(id);
        chunks.extend_from_slice(&(size as u32).to_le_bytes());
        chunks.extend_from_slice(body);
        if body.len() % 2 == 1 && size == body.len() {
            chunks.push(0);
        }
    };
    chunk(b"fmt ", fmt, fmt.len());
    for (id, body) in extra {
        chunk(*id, body, body.len());
    }
    chunk(b"data", data, declared);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend(chunks);
    out
}

/// A plain 16-byte `fmt ` body.
fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits.div_ceil(8);
    let mut f = Vec::new();
    f.extend_from_slice(&tag.to_le_bytes());
    f.extend_from_slice(&channels.to_le_bytes());
    f.extend_from_slice(&rate.to_le_bytes());
    f.extend_from_slice(&(rate * align as u32).to_le_bytes());
    f.extend_from_slice(&align.to_le_bytes());
    f.extend_from_slice(&bits.to_le_bytes());
    f
}

fn i16_le(v: &[i16]) -> Vec<u8> {
    v.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// A NIST SPHERE file with a 1024-byte header of `lines` (each `key -type value`).
fn sphere_bytes(lines: &[String], end_head: bool, body: &[u8]) -> Vec<u8> {
    let mut h = String::from("NIST_1A\n   1024\n");
    for l in lines {
        h.push_str(l);
        h.push('\n');
    }
    if end_head {
        h.push_str("end_head\n");
    }
    let mut out = h.into_bytes();
    out.resize(1024, b' ');
    out.extend_from_slice(body);
    out
}

fn timit_header(count: usize, byte_format: &str) -> Vec<String> {
    [
        "database_id -s5 TIMIT".to_string(),
        "utterance_id -s8 aks0_sa1".into(),
        "channel_count -i 1".into(),
        format!("sample_count -i {count}"),
        "sample_rate -i 16000".into(),
        "sample_n_bytes -i 2".into(),
        format!("sample_byte_format -s2 {byte_format}"),
        "sample_sig_bits -i 16".into(),
    ]
    .into()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn wav_16_bit_mono_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let v: Vec<i16> = vec![0, 1, -1, 32767, -32768, 12345, -54, 7];
    let p = write(
        dir.path(),
        "a.wav",
        &wav_bytes(&fmt(1, 1, 8000, 16), &[], &i16_le(&v), 16),
    );
    let a = read_audio(&p).unwrap();
    assert_eq!(a.rate, 8000);
    let want: Vec<f32> = v.iter().map(|&s| s as f32 / 32768.0).collect();
    assert_eq!(a.samples, want);
}

#[test]
fn wav_stereo_is_averaged_and_list_chunks_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let lr: Vec<i16> = vec![1000, -2000, 32767, 32767, -32768, 0];
    // An odd-sized LIST chunk (padded to even) and a `fact` chunk before `data`.
    let extra: [(&[u8; 4], &[u8]); 2] = [(b"LIST", b"INFOx"), (b"fact", &[3, 0, 0, 0])];
    let p = write(
        dir.path(),
        "s.wav",
        &wav_bytes(&fmt(1, 2, 16000, 16), &extra, &i16_le(&lr), 12),
    );
    let a = read_audio(&p).unwrap();
    assert_eq!(a.rate, 16000);
    let want: Vec<f32> = lr
        .chunks(2)
        .map(|c| (c[0] as f32 / 32768.0 + c[1] as f32 / 32768.0) / 2.0)
        .collect();
    assert_eq!(a.samples, want);
}

#[test]
fn wav_8_bit_float_and_extensible() {
    let dir = tempfile::tempdir().unwrap();
    // 8-bit is unsigned with 128 as zero.
    let p = write(
        dir.path(),
        "u8.wav",
        &wav_bytes(&fmt(1, 1, 8000, 8), &[], &[0, 128, 255], 3),
    );
    assert_eq!(
        read_audio(&p).unwrap().samples,
        vec![-1.0, 0.0, 127.0 / 128.0]
    );

    let f = [0.25f32, -0.75, 1.5];
    let data: Vec<u8> = f.iter().flat_map(|v| v.to_le_bytes()).collect();
    let p = write(
        dir.path(),
        "f.wav",
        &wav_bytes(&fmt(3, 1, 8000, 32), &[], &data, 12),
    );
    assert_eq!(read_audio(&p).unwrap().samples, f.to_vec());

    // WAVE_FORMAT_EXTENSIBLE, 24-bit PCM (subformat GUID starts with tag 1), two channels.
    let mut ext = fmt(0xFFFE, 2, 48000, 24);
    ext.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    ext.extend_from_slice(&24u16.to_le_bytes()); // valid bits
    ext.extend_from_slice(&3u32.to_le_bytes()); // channel mask
    ext.extend_from_slice(&[
        1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71,
    ]);
    let s24 = |v: i32| v.to_le_bytes()[..3].to_vec();
    let data: Vec<u8> = [4_194_304, -8_388_608, -1, 1]
        .into_iter()
        .flat_map(s24)
        .collect();
    let p = write(dir.path(), "x.wav", &wav_bytes(&ext, &[], &data, 12));
    let a = read_audio(&p).unwrap();
    assert_eq!(a.rate, 48000);
    assert_eq!(a.samples, vec![(0.5 - 1.0) / 2.0, 0.0]);
}

/// `amp · sin(2π f t)` at `rate` for `secs` seconds, as 16-bit samples.
fn tone(rate: f64, secs: f64, parts: &[(f64, f64)]) -> Vec<i16> {
    (0..(rate * secs) as usize)
        .map(|n| {
            let t = n as f64 / rate;
            let v: f64 = parts
                .iter()
                .map(|&(f, a)| a * (2.0 * PI * f * t).sin())
                .sum();
            (v * 32768.0).round() as i16
        })
        .collect()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn sphere_16k_both_byte_orders_resampled_to_8k() {
    let dir = tempfile::tempdir().unwrap();
    // 1 kHz at 0.5 plus 5 kHz at 0.3: above the new 4 kHz Nyquist, it would alias to 3 kHz.
    let v = tone(16000.0, 1.0, &[(1000.0, 0.5), (5000.0, 0.3)]);
    let le = i16_le(&v);
    let be: Vec<u8> = v.iter().flat_map(|s| s.to_be_bytes()).collect();
    let a = read_audio(&write(
        dir.path(),
        "le.wav",
        &sphere_bytes(&timit_header(v.len(), "01"), true, &le),
    ))
    .unwrap();
    let b = read_audio(&write(
        dir.path(),
        "be.WAV",
        &sphere_bytes(&timit_header(v.len(), "10"), true, &be),
    ))
    .unwrap();
    assert_eq!(a.rate, 16000);
    assert_eq!(a, b);
    let want: Vec<f32> = v.iter().map(|&s| s as f32 / 32768.0).collect();
    assert_eq!(a.samples, want);

    let r = resample(&a, 8000);
    assert_eq!((r.rate, r.samples.len()), (8000, 8000));
    let m = stft_magnitude(&r.samples, 256, 128);
    assert_eq!(m.dim(), (frame_count(8000, 256, 128), 129));
    // Middle frames (away from the zero-padded edges): 1 kHz is bin 1000/8000·256 = 32; a
    // periodic-Hann frame of a sine of amplitude A peaks at A·sum(w)/2 = 64·A.
    for f in 5..m.nrows() - 5 {
        let row = m.row(f);
        let peak = (0..129).max_by(|&i, &j| row[i].total_cmp(&row[j])).unwrap();
        assert_eq!(peak, 32, "frame {f}");
        assert!(
            (row[32] / (64.0 * 0.5) - 1.0).abs() < 0.03,
            "frame {f}: {}",
            row[32]
        );
        // The alias bin (3 kHz = bin 96) stays ≥ 40 dB below what 5 kHz at 0.3 would give.
        assert!(row[96] < 0.01 * 64.0 * 0.3, "frame {f}: alias {}", row[96]);
    }

    // The 5 kHz tone alone comes out ≥ 40 dB down (RMS, away from the edges).
    let hi = Audio {
        rate: 16000,
        samples: tone(16000.0, 1.0, &[(5000.0, 0.3)])
            .iter()
            .map(|&s| s as f32 / 32768.0)
            .collect(),
    };
    let out = resample(&hi, 8000);
    let db = 20.0 * (rms(&out.samples[400..7600]) / rms(&hi.samples)).log10();
    println!("5 kHz → 8 kHz: attenuated by {:.1} dB", -db);
    assert!(db < -40.0, "5 kHz attenuated by only {:.1} dB", -db);
    // And 2 kHz, well inside the new band, passes at unit gain.
    let mid = Audio {
        rate: 16000,
        samples: tone(16000.0, 1.0, &[(2000.0, 0.3)])
            .iter()
            .map(|&s| s as f32 / 32768.0)
            .collect(),
    };
    let out = resample(&mid, 8000);
    let ratio = rms(&out.samples[400..7600]) / rms(&mid.samples);
    assert!((ratio - 1.0).abs() < 0.01, "2 kHz gain {ratio}");
}

#[test]
fn resample_other_ratios_keep_a_tone() {
    // 44.1 kHz → 8 kHz (80 phases) and 8 kHz → 16 kHz (upsampling).
    for (from, to) in [(44100u32, 8000u32), (8000, 16000), (16000, 16000)] {
        let a = Audio {
            rate: from,
            samples: tone(from as f64, 0.5, &[(1000.0, 0.5)])
                .iter()
                .map(|&s| s as f32 / 32768.0)
                .collect(),
        };
        let r = resample(&a, to);
        assert_eq!(r.rate, to);
        assert_eq!(
            r.samples.len(),
            (a.samples.len() as u64 * to as u64).div_ceil(from as u64) as usize
        );
        let n = r.samples.len();
        let ratio = rms(&r.samples[n / 10..n - n / 10]) / (0.5 / 2f64.sqrt());
        assert!((ratio - 1.0).abs() < 0.01, "{from} → {to}: gain {ratio}");
        // Sample at time t equals the tone at t (delay-free filter).
        let k = n / 2;
        let t = k as f64 / to as f64;
        assert!((r.samples[k] as f64 - 0.5 * (2.0 * PI * 1000.0 * t).sin()).abs() < 0.01);
    }
}

#[test]
fn stft_matches_numpy() {
    // Reference (numpy 2.x, float64 after an f32 round trip of the signal):
    //
    //     n = np.arange(1000)
    //     x = 0.5 * np.sin(2 * np.pi * (0.01 * n + 0.0002 * n**2)) \
    //         + 0.2 * (((n * 1103515245 + 12345) % 2**31) / 2**31 - 0.5)
    //     x = x.astype(np.float32).astype(np.float64)
    //     win, hop = 256, 128
    //     frames = 1 + -(-(len(x) - win) // hop)            # 7: the end is zero-padded
    //     x = np.pad(x, (0, (frames - 1) * hop + win - len(x)))
    //     w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)   # periodic Hann
    //     m = np.abs(np.stack([np.fft.rfft(w * x[f*hop:f*hop+win]) for f in range(frames)]))
    //     m.shape, m.sum(), m[0,0], m[0,5], m[3,40], m[6,128], m[6,10], m[6].sum(), m.argmax(1)
    let x: Vec<f32> = (0..1000u64)
        .map(|n| {
            let nf = n as f64;
            let noise =
                ((n * 1_103_515_245 + 12_345) % (1 << 31)) as f64 / (1u64 << 31) as f64 - 0.5;
            (0.5 * (2.0 * PI * (0.01 * nf + 0.0002 * nf * nf)).sin() + 0.2 * noise) as f32
        })
        .collect();
    let m = stft_magnitude(&x, 256, 128);
    assert_eq!(m.dim(), (7, 129));
    let close = |got: f32, want: f64, tol: f64| {
        assert!(
            (got as f64 - want).abs() <= tol * want.abs().max(1.0),
            "{got} vs {want}"
        );
    };
    close(m.sum(), 1393.9567531236182, 1e-5);
    close(m[[0, 0]], 0.04644927766378343, 1e-5);
    close(m[[0, 5]], 1.3341080229179192, 1e-5);
    close(m[[3, 40]], 0.053958329750698746, 1e-5);
    close(m[[6, 128]], 0.1541989016185228, 1e-5);
    close(m[[6, 10]], 0.11917972200674534, 1e-5);
    close(m.row(6).sum(), 198.6456273762305, 1e-5);
    let argmax: Vec<usize> = m
        .rows()
        .into_iter()
        .map(|r| (0..129).max_by(|&i, &j| r[i].total_cmp(&r[j])).unwrap())
        .collect();
    assert_eq!(argmax, vec![15, 29, 42, 55, 68, 81, 94]);

    // Framing edge cases: empty, shorter than a window, an exact fit.
    assert_eq!(stft_magnitude(&[], 256, 128).dim(), (0, 129));
    assert_eq!(stft_magnitude(&[0.5; 100], 256, 128).dim(), (1, 129));
    assert_eq!(frame_count(256 + 128 * 3, 256, 128), 4);
    assert_eq!(frame_count(256 + 128 * 3 + 1, 256, 128), 5);

    let mut l = m.clone();
    log_magnitude(&mut l);
    assert_eq!(l[[0, 5]], m[[0, 5]].ln_1p());
}

/// The `Format` error's message, checking it names `path`.
fn format_error(path: &Path) -> String {
    match read_audio(path) {
        Err(Error::Format { path: p, msg }) => {
            assert_eq!(p, path);
            msg
        }
        other => panic!("{}: expected a format error, got {other:?}", path.display()),
    }
}

#[test]
fn broken_files_are_format_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pcm = i16_le(&[1, 2, 3, 4]);

    let p = write(
        d,
        "trunc.wav",
        &wav_bytes(&fmt(1, 1, 8000, 16), &[], &pcm, 800),
    );
    assert!(format_error(&p).contains("truncated"));

    let p = write(d, "junk.wav", b"ID3\x04\x00 this is an mp3, honest");
    assert!(format_error(&p).contains("magic"));
    let p = write(d, "empty.wav", b"");
    assert!(format_error(&p).contains("magic"));

    let p = write(
        d,
        "alaw.wav",
        &wav_bytes(&fmt(6, 1, 8000, 8), &[], &[1, 2], 2),
    );
    assert!(format_error(&p).contains("A-law"));

    let p = write(d, "nofmt.wav", &{
        let mut b = wav_bytes(&fmt(1, 1, 8000, 16), &[], &pcm, 8);
        b[12..16].copy_from_slice(b"junk");
        b
    });
    assert!(format_error(&p).contains("no fmt"));

    let mut shorten = timit_header(4, "01");
    shorten.push("sample_coding -s26 pcm,embedded-shorten-v2.00".into());
    let p = write(d, "shorten.wav", &sphere_bytes(&shorten, true, &pcm));
    assert!(format_error(&p).contains("shorten"));

    let p = write(
        d,
        "nohead.wav",
        &sphere_bytes(&timit_header(4, "01"), false, &pcm),
    );
    assert!(format_error(&p).contains("end_head"));

    let p = write(
        d,
        "count.wav",
        &sphere_bytes(&timit_header(5000, "01"), true, &pcm),
    );
    assert!(format_error(&p).contains("sample_count"));

    let p = write(d, "short.wav", b"NIST_1A\n   1024\nsample_rate -i 16000\n");
    assert!(format_error(&p).contains("truncated"));

    // A missing file is an I/O error naming it, not a panic.
    let missing = d.join("missing.wav");
    assert!(matches!(read_audio(&missing), Err(Error::Io { path, .. }) if path == missing));
}

/// The channel count in a WAV's `fmt ` chunk (the reader mixes to mono, so ask the header).
fn wav_channels(bytes: &[u8]) -> u16 {
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if &bytes[at..at + 4] == b"fmt " {
            return u16::from_le_bytes([bytes[at + 10], bytes[at + 11]]);
        }
        at += 8 + size + (size & 1);
    }
    panic!("no fmt chunk");
}

#[test]
fn real_fsdd_recordings() {
    let Some(root) = std::env::var_os("LRNN_DATA_DIR").map(PathBuf::from) else {
        println!("skipped: LRNN_DATA_DIR is not set");
        return;
    };
    let dir = root.join("fsdd/recordings");
    if !dir.is_dir() {
        println!("skipped: {} does not exist", dir.display());
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3000);

    let start = std::time::Instant::now();
    let (mut seconds, mut frames) = (0.0, 0);
    for p in &files {
        let a = read_audio(p).unwrap();
        assert_eq!(a.rate, 8000, "{}", p.display());
        let mut m = stft_magnitude(&a.samples, 256, 128);
        log_magnitude(&mut m);
        assert!(m.iter().all(|v| v.is_finite()));
        seconds += a.duration();
        frames += m.nrows();
    }
    let elapsed = start.elapsed();
    for p in &files {
        assert_eq!(
            wav_channels(&std::fs::read(p).unwrap()),
            1,
            "{}",
            p.display()
        );
    }
    println!(
        "FSDD: {} files, {seconds:.1} s of audio, {frames} STFT frames; read + STFT in {:.2} s",
        files.len(),
        elapsed.as_secs_f64()
    );
    assert!((seconds - 1312.0).abs() < 1.0, "total duration {seconds} s");
}
