//! What every spec section shares, whichever layer declares it (`[model]` in `net::cells`,
//! `[task]` in `data`, `[train]` in `experiment::spec`): reading a TOML table into a config
//! and naming the key that is wrong. A leaf: it imports nothing of the crate.

use serde::de::DeserializeOwned;

/// A key of a spec section and what is wrong with it; the spec adds the file and section.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {msg}")]
pub struct ConfigError {
    /// Dotted path inside the section (`eps`, `adam_betas[1]`); empty for the section itself.
    pub key: String,
    pub msg: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, msg: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            msg: msg.into(),
        }
    }

    /// The same error with its key under `section` (`eps` → `model.eps`).
    pub fn within(self, section: &str) -> Self {
        ConfigError {
            key: dotted(section, &self.key),
            msg: self.msg,
        }
    }
}

/// Deserialises a section's table into `C`, naming the key serde stopped at.
pub fn parse_config<C: DeserializeOwned>(table: toml::Table) -> Result<C, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let msg = first_line(&e.into_inner().to_string());
        ConfigError::new(path, with_suggestion(msg))
    })
}

/// `Ok` if `value` is finite and positive.
pub fn check_positive(key: &str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("must be positive, found {value}"),
        ))
    }
}

/// `Ok` if `value` is finite and at least zero.
pub fn check_non_negative(key: &str, value: f64) -> Result<(), ConfigError> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("must be finite and at least 0, found {value}"),
        ))
    }
}

/// `Ok` if `value` is finite (any sign).
pub fn check_finite(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("must be finite, found {value}"),
        ))
    }
}

/// `Ok` if `0 ≤ value < 1` (a momentum, Adam's betas).
pub fn check_unit_open(key: &str, value: f64) -> Result<(), ConfigError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("must lie in [0, 1), found {value}"),
        ))
    }
}

/// `Ok` if `value ≥ min` (counts: `bptt ≥ 1`, `seq_len ≥ 2`).
pub fn check_at_least(key: &str, value: usize, min: usize) -> Result<(), ConfigError> {
    if value >= min {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("must be at least {min}, found {value}"),
        ))
    }
}

/// `Ok` if `path` names a file inside the data directory: relative, without `..`, so a
/// spec cannot point a reader at a file elsewhere.
pub fn check_inside(key: &str, path: &std::path::Path) -> Result<(), ConfigError> {
    use std::path::Component;
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!(
                "must be a path inside the data directory (relative, no `..`), found {}",
                path.display()
            ),
        ))
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" with the nearest expected name.
fn with_suggestion(msg: String) -> String {
    let Some(rest) = msg.strip_prefix("unknown field `") else {
        return msg;
    };
    let Some((typed, expected)) = rest.split_once("`, expected") else {
        return msg;
    };
    let nearest = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| (edit_distance(typed, name), name))
        .min();
    match nearest {
        Some((d, name)) if d <= 2.max(typed.len() / 3) => format!("{msg}; did you mean `{name}`?"),
        _ => msg,
    }
}

/// Levenshtein distance of two short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// serde's message without the location lines the TOML deserializer appends (the key says it).
pub fn first_line(msg: &str) -> String {
    msg.lines().next().unwrap_or_default().to_string()
}

/// `prefix.key`, with serde's `.` (the root) and empty keys read as the prefix itself.
pub fn dotted(prefix: &str, key: &str) -> String {
    match (prefix, key) {
        ("", ".") | ("", "") => "(top level)".to_string(),
        ("", k) => k.to_string(),
        (p, ".") | (p, "") => p.to_string(),
        (p, k) => format!("{p}.{k}"),
    }
}
