//! Speech prediction in the TIMIT protocol of Wisdom et al. / expRNN: audio at 8 kHz, STFT
//! magnitudes (window 256, hop 128, 129 bins), optionally log-compressed; the model reads
//! frame t and predicts frame t + 1 at every step, scored by the mean squared error over the
//! real (unpadded) frames. TIMIT (`timit/TRAIN`, `timit/TEST`, NIST SPHERE at 16 kHz) is
//! licensed; where it is absent the Free Spoken Digit Dataset (`fsdd/recordings`, 8 kHz WAV,
//! `{digit}_{speaker}_{index}.wav`) stands in, split by speaker. Every report says which.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::audio::{read_audio, resample};
use super::stft::{log_magnitude, stft_magnitude};
use super::{Metric, SplitName, Task, TaskInfo, TaskSpec, need_dir};
use crate::error::{Error, Result};
use crate::net::batch::{Batch, Target};

/// `[task]` keys for `speech`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechConfig {
    /// Compress magnitudes with `log1p` (see `stft::log_magnitude`).
    #[serde(default = "yes")]
    pub log_magnitude: bool,
    /// FSDD speakers held out for validation and for test (speaker-disjoint split).
    #[serde(default = "default_val_speakers")]
    pub val_speakers: Vec<String>,
    #[serde(default = "default_test_speakers")]
    pub test_speakers: Vec<String>,
}

fn yes() -> bool {
    true
}

fn default_val_speakers() -> Vec<String> {
    vec!["nicolas".into()]
}

fn default_test_speakers() -> Vec<String> {
    vec!["theo".into()]
}

const RATE: u32 = 8000;
const WINDOW: usize = 256;
const HOP: usize = 128;
pub const BINS: usize = WINDOW / 2 + 1;

/// Utterances as frame matrices `[F, 129]`.
pub struct Speech {
    info: TaskInfo,
    train: Vec<Array2<f32>>,
    val: Vec<Array2<f32>>,
    test: Vec<Array2<f32>>,
}

fn frames(path: &Path, log: bool) -> Result<Array2<f32>> {
    let mut audio = read_audio(path)?;
    if audio.rate != RATE {
        audio = resample(&audio, RATE);
    }
    let mut m = stft_magnitude(&audio.samples, WINDOW, HOP);
    if log {
        log_magnitude(&mut m);
    }
    if m.nrows() < 2 {
        return Err(Error::format(
            path,
            "shorter than two STFT frames: nothing to predict",
        ));
    }
    Ok(m)
}

/// Files under `dir` (recursively) whose extension is `ext` (case-insensitive), sorted.
fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            files_with_ext(&path, ext, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(ext))
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// A directory `name` inside `dir`, in any letter case.
fn child_ci(dir: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

/// `[task] name = "speech"`: a 129-bin STFT frame a step in, the next frame out.
impl TaskSpec for SpeechConfig {
    fn dims(&self) -> (usize, usize) {
        (BINS, BINS)
    }
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>> {
        Ok(Box::new(load(self, need_dir(dir)?)?))
    }
}

pub fn load(cfg: &SpeechConfig, dir: &Path) -> Result<Speech> {
    let log = cfg.log_magnitude;
    let read_all = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| frames(p, log))
            .collect::<Result<Vec<_>>>()
    };
    let timit = child_ci(dir, "timit");
    let (train, val, test, sources, note) = if let Some(t) =
        timit.filter(|t| child_ci(t, "train").is_some())
    {
        let (mut train_files, mut test_files) = (Vec::new(), Vec::new());
        files_with_ext(
            &child_ci(&t, "train").expect("checked"),
            "wav",
            &mut train_files,
        )?;
        if let Some(test_dir) = child_ci(&t, "test") {
            files_with_ext(&test_dir, "wav", &mut test_files)?;
        }
        // Every tenth training speaker (by sorted directory name) is held out for validation.
        let mut speakers: Vec<PathBuf> = train_files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        speakers.dedup();
        let held: Vec<&PathBuf> = speakers.iter().step_by(10).collect();
        let (val_files, train_files): (Vec<PathBuf>, Vec<PathBuf>) = train_files
            .into_iter()
            .partition(|f| f.parent().is_some_and(|p| held.iter().any(|h| *h == p)));
        (
            read_all(&train_files)?,
            read_all(&val_files)?,
            read_all(&test_files)?,
            vec![t],
            "TIMIT (SPHERE, resampled to 8 kHz); validation = every tenth training speaker"
                .to_string(),
        )
    } else {
        let rec = [dir.join("fsdd/recordings"), dir.join("recordings")]
            .into_iter()
            .find(|d| d.is_dir())
            .ok_or_else(|| {
                Error::Data(format!(
                    "speech: neither timit/TRAIN nor fsdd/recordings found in {}",
                    dir.display()
                ))
            })?;
        let mut files = Vec::new();
        files_with_ext(&rec, "wav", &mut files)?;
        let speaker = |f: &Path| -> String {
            let stem = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            stem.split('_').nth(1).unwrap_or_default().to_string()
        };
        let mut split = [Vec::new(), Vec::new(), Vec::new()];
        for f in files {
            let s = speaker(&f);
            let k = if cfg.test_speakers.contains(&s) {
                2
            } else if cfg.val_speakers.contains(&s) {
                1
            } else {
                0
            };
            split[k].push(f);
        }
        let [tr, va, te] = split;
        (
            read_all(&tr)?,
            read_all(&va)?,
            read_all(&te)?,
            vec![rec],
            format!(
                "STAND-IN for TIMIT: Free Spoken Digit Dataset, speaker-disjoint (val {:?}, test {:?})",
                cfg.val_speakers, cfg.test_speakers
            ),
        )
    };
    if train.is_empty() || val.is_empty() || test.is_empty() {
        return Err(Error::Data(format!(
            "speech: empty split ({} train / {} val / {} test utterances)",
            train.len(),
            val.len(),
            test.len()
        )));
    }
    let longest = train
        .iter()
        .chain(&val)
        .chain(&test)
        .map(|m| m.nrows() - 1)
        .max()
        .unwrap_or(0);
    Ok(Speech {
        info: TaskInfo {
            task: "speech".into(),
            train: train.len(),
            val: val.len(),
            test: test.len(),
            seq_len: longest,
            input_size: BINS,
            classes: None,
            vocab: None,
            output_size: BINS,
            metric: Metric::Mse,
            sources,
            notes: vec![
                note,
                format!(
                    "log-magnitude: {log}; seq_len is the longest utterance, batches pad to their own longest"
                ),
            ],
        },
        train,
        val,
        test,
    })
}

impl Speech {
    fn utterances(&self, split: SplitName) -> &[Array2<f32>] {
        match split {
            SplitName::Train => &self.train,
            SplitName::Val => &self.val,
            SplitName::Test => &self.test,
        }
    }
}

impl Task for Speech {
    fn info(&self) -> &TaskInfo {
        &self.info
    }

    fn num_batches(&self, split: SplitName, batch_size: usize) -> usize {
        self.utterances(split).len().div_ceil(batch_size)
    }

    fn batch(
        &self,
        split: SplitName,
        batch_size: usize,
        seed: u64,
        epoch: usize,
        index: usize,
    ) -> Batch<f32> {
        let utts = self.utterances(split);
        let range = index * batch_size..((index + 1) * batch_size).min(utts.len());
        let ids: Vec<usize> = if split == SplitName::Train {
            let mut order: Vec<usize> = (0..utts.len()).collect();
            order.shuffle(&mut rand_pcg::Pcg64::new(seed as u128, epoch as u128));
            order[range].to_vec()
        } else {
            range.collect()
        };
        let b = ids.len();
        let t = ids.iter().map(|&i| utts[i].nrows() - 1).max().unwrap_or(1);
        let mut x = Array2::<f32>::zeros((t * b, BINS));
        let mut values = Array2::<f32>::zeros((t * b, BINS));
        let mut mask = vec![0.0f32; t * b];
        for (s, &i) in ids.iter().enumerate() {
            let u = &utts[i];
            for step in 0..u.nrows() - 1 {
                x.row_mut(step * b + s).assign(&u.row(step));
                values.row_mut(step * b + s).assign(&u.row(step + 1));
                mask[step * b + s] = 1.0;
            }
        }
        Batch {
            x,
            size: b,
            target: Target::Frames { values, mask },
            carry: false,
        }
    }
}
