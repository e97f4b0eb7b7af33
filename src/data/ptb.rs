//! Character-level Penn Treebank (Mikolov's split, the nnRNN/expRNN protocol): the character
//! files hold one symbol per whitespace-separated token with `_` for spaces, and each line
//! ends in a newline symbol (50 symbols, 5,017,482 training symbols). Training cuts each split
//! into B parallel streams read in segments of `bptt` steps, the hidden state carried from
//! segment to segment (truncated BPTT); the loss is the next symbol's cross-entropy at every
//! step, reported in bits per character.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{Metric, SplitName, Task, TaskInfo, TaskSpec, need_dir};
use crate::error::{Error, Result};
use crate::net::batch::{Batch, Target};

/// `[task]` keys for `ptb_char`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtbConfig {
    /// Truncated-BPTT segment length T (the paper reports 150 and 300).
    #[serde(default = "default_bptt")]
    pub bptt: usize,
    /// Symbols, fixing the one-hot input and output widths (50 for PTB).
    #[serde(default = "default_vocab")]
    pub vocab: usize,
    /// Train on the first `n` training symbols only (smoke runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_subset: Option<usize>,
}

fn default_bptt() -> usize {
    150
}

fn default_vocab() -> usize {
    50
}

/// The newline symbol's name in the vocabulary.
const NEWLINE: &str = "\n";

/// Symbols of a character file: its tokens, plus a newline symbol a line.
pub fn tokenize_char_file(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 2);
    for line in text.split_inclusive('\n') {
        out.extend(line.split_whitespace());
        if line.ends_with('\n') {
            out.push(NEWLINE);
        }
    }
    out
}

/// The standard recipe from word-level to character-level text: each line stripped, spaces as
/// `_`, characters joined by spaces, newline kept.
pub fn chars_from_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        let chars: Vec<String> = line
            .trim()
            .chars()
            .map(|c| if c == ' ' { "_".into() } else { c.to_string() })
            .collect();
        out.push_str(&chars.join(" "));
        out.push('\n');
    }
    out
}

/// Reads `ptb.char.<split>.txt`, or derives it from `ptb.<split>.txt`, in `dir/ptb` or `dir`.
fn read_split(dir: &Path, split: &str) -> Result<(String, PathBuf)> {
    for d in [dir.join("ptb"), dir.to_path_buf()] {
        let chars = d.join(format!("ptb.char.{split}.txt"));
        if chars.is_file() {
            return Ok((
                std::fs::read_to_string(&chars).map_err(|e| Error::io(&chars, e))?,
                chars,
            ));
        }
        let words = d.join(format!("ptb.{split}.txt"));
        if words.is_file() {
            let text = std::fs::read_to_string(&words).map_err(|e| Error::io(&words, e))?;
            return Ok((chars_from_words(&text), words));
        }
    }
    Err(Error::Data(format!(
        "PTB file ptb.char.{split}.txt (or ptb.{split}.txt) not found in {} (looked in ptb/ and at the top)",
        dir.display()
    )))
}

/// PTB characters as symbol ids, split into streams at batch time.
pub struct Ptb {
    info: TaskInfo,
    bptt: usize,
    vocab: usize,
    train: Vec<u16>,
    val: Vec<u16>,
    test: Vec<u16>,
}

/// `[task] name = "ptb_char"`: one symbol a step in and out, `vocab` wide.
impl TaskSpec for PtbConfig {
    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        crate::config::check_at_least("bptt", self.bptt, 1)?;
        crate::config::check_at_least("vocab", self.vocab, 1)
    }
    fn dims(&self) -> (usize, usize) {
        (self.vocab, self.vocab)
    }
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>> {
        Ok(Box::new(load(self, need_dir(dir)?)?))
    }
}

pub fn load(cfg: &PtbConfig, dir: &Path) -> Result<Ptb> {
    let (train_text, train_path) = read_split(dir, "train")?;
    let train_tokens = tokenize_char_file(&train_text);
    // Ids in sorted symbol order, so they do not depend on where a symbol first appears.
    let symbols: BTreeMap<&str, u16> = {
        let mut set: Vec<&str> = train_tokens.clone();
        set.sort_unstable();
        set.dedup();
        set.into_iter()
            .enumerate()
            .map(|(i, s)| (s, i as u16))
            .collect()
    };
    if symbols.len() != cfg.vocab {
        return Err(Error::format(
            &train_path,
            format!(
                "{} distinct symbols, task.vocab says {}",
                symbols.len(),
                cfg.vocab
            ),
        ));
    }
    let encode = |tokens: &[&str], path: &Path| -> Result<Vec<u16>> {
        tokens
            .iter()
            .map(|t| {
                symbols.get(t).copied().ok_or_else(|| {
                    Error::format(path, format!("symbol {t:?} not in the training vocabulary"))
                })
            })
            .collect()
    };
    let mut train = encode(&train_tokens, &train_path)?;
    if let Some(k) = cfg.train_subset {
        train.truncate(k);
    }
    let (val_text, val_path) = read_split(dir, "valid")?;
    let val = encode(&tokenize_char_file(&val_text), &val_path)?;
    let (test_text, test_path) = read_split(dir, "test")?;
    let test = encode(&tokenize_char_file(&test_text), &test_path)?;
    Ok(Ptb {
        info: TaskInfo {
            task: "ptb_char".into(),
            train: train.len(),
            val: val.len(),
            test: test.len(),
            seq_len: cfg.bptt,
            input_size: cfg.vocab,
            classes: None,
            vocab: Some(cfg.vocab),
            output_size: cfg.vocab,
            metric: Metric::Bpc,
            sources: vec![train_path, val_path, test_path],
            notes: vec!["counts are symbols; one-hot input; state carried across segments".into()],
        },
        bptt: cfg.bptt,
        vocab: cfg.vocab,
        train,
        val,
        test,
    })
}

impl Ptb {
    fn symbols(&self, split: SplitName) -> &[u16] {
        match split {
            SplitName::Train => &self.train,
            SplitName::Val => &self.val,
            SplitName::Test => &self.test,
        }
    }

    /// Streams B and their length L (the tail that does not divide evenly is dropped).
    fn streams(&self, split: SplitName, batch_size: usize) -> (usize, usize) {
        let n = self.symbols(split).len();
        let b = batch_size.min(n.saturating_sub(1)).max(1);
        (b, n / b)
    }
}

impl Task for Ptb {
    fn info(&self) -> &TaskInfo {
        &self.info
    }

    fn num_batches(&self, split: SplitName, batch_size: usize) -> usize {
        let (_, len) = self.streams(split, batch_size);
        len.saturating_sub(1).div_ceil(self.bptt)
    }

    fn batch(
        &self,
        split: SplitName,
        batch_size: usize,
        _seed: u64,
        _epoch: usize,
        index: usize,
    ) -> Batch<f32> {
        let data = self.symbols(split);
        let (b, len) = self.streams(split, batch_size);
        let start = index * self.bptt;
        let t = self.bptt.min(len - 1 - start);
        let mut x = Array2::<f32>::zeros((t * b, self.vocab));
        let mut y = vec![0usize; t * b];
        for s in 0..b {
            let stream = &data[s * len..(s + 1) * len];
            for step in 0..t {
                x[[step * b + s, stream[start + step] as usize]] = 1.0;
                y[step * b + s] = stream[start + step + 1] as usize;
            }
        }
        Batch {
            x,
            size: b,
            target: Target::Tokens(y),
            carry: index > 0,
        }
    }
}
