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

/// What `lrnn spec show --all` says of one key of a section.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyInfo {
    pub key: String,
    pub default: KeyDefault,
    /// The field's doc comment on one line (from the source, at build time).
    pub doc: &'static str,
}

/// A key's default: a value, none (the spec must set it), or unset (an optional key).
#[derive(Clone, Debug, PartialEq)]
pub enum KeyDefault {
    Value(toml::Value),
    Required,
    Unset,
}

/// Every key of a section deserialised into `C`, in declaration order, with its default and
/// doc. Generic over the config type, so a new cell's or task's keys are listed with no code:
/// serde names every key when asked for an unknown one, and its defaults are what an empty
/// section deserialises to (a required key gets a placeholder of the first type it accepts),
/// serialised, or for a key left out of the serialisation at its default (so that it leaves
/// run ids alone) read from `C`'s `Debug` text.
pub fn describe<C: DeserializeOwned + serde::Serialize + std::fmt::Debug>() -> Vec<KeyInfo> {
    const PROBE: &str = "__lrnn_every_key__";
    let parse = |t: &toml::Table| toml::Value::Table(t.clone()).try_into::<C>();
    let mut probe = toml::Table::new();
    probe.insert(PROBE.into(), toml::Value::Boolean(true));
    let keys: Vec<String> = match parse(&probe) {
        Err(e) => e
            .to_string()
            .lines()
            .next()
            .and_then(|l| l.split_once("expected").map(|(_, rest)| rest.to_string()))
            .map(|rest| {
                rest.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        Ok(_) => Vec::new(),
    };
    let placeholders = [
        toml::Value::Integer(1),
        toml::Value::Float(1.0),
        toml::Value::String(String::new()),
        toml::Value::Boolean(false),
    ];
    let mut table = toml::Table::new();
    let mut required = Vec::new();
    let (defaults, debug) = loop {
        match parse(&table) {
            Ok(c) => {
                break (
                    toml::Table::try_from(&c).unwrap_or_default(),
                    format!("{c:?}"),
                );
            }
            Err(e) => {
                let msg = e.to_string();
                let Some(key) = msg
                    .strip_prefix("missing field `")
                    .and_then(|r| r.split('`').next())
                    .map(String::from)
                    .filter(|k| !required.contains(k))
                else {
                    break (toml::Table::new(), String::new());
                };
                let fits = placeholders.iter().find(|v| {
                    let mut t = table.clone();
                    t.insert(key.clone(), (*v).clone());
                    parse(&t).map_or_else(|e| !e.to_string().contains(&key), |_| true)
                });
                table.insert(key.clone(), fits.unwrap_or(&placeholders[0]).clone());
                required.push(key);
            }
        }
    };
    let owner = std::any::type_name::<C>()
        .rsplit("::")
        .next()
        .unwrap_or_default();
    keys.into_iter()
        .map(|key| KeyInfo {
            default: if required.contains(&key) {
                KeyDefault::Required
            } else if let Some(v) = defaults.get(&key) {
                KeyDefault::Value(v.clone())
            } else {
                match debug_field(&debug, &key) {
                    None | Some("None") => KeyDefault::Unset,
                    Some(text) => KeyDefault::Value(
                        text.parse::<toml::Value>()
                            .unwrap_or_else(|_| toml::Value::String(text.to_string())),
                    ),
                }
            },
            doc: field_doc(owner, &key),
            key,
        })
        .collect()
}

/// The text of field `key` in a derived `Debug` rendering (`Cfg { a: 1, b: None }`, or
/// `Newtype(Cfg { … })`): a field of the first braced struct.
fn debug_field<'a>(debug: &'a str, key: &str) -> Option<&'a str> {
    let (mut depth, bytes) = (0usize, debug.as_bytes());
    let base = debug
        .find('{')
        .map(|i| debug[..=i].matches(['(', '[', '{']).count())?;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ if depth == base && debug[i..].starts_with(key) => {
                let before = debug[..i].chars().next_back();
                let rest = debug[i + key.len()..].strip_prefix(": ");
                if let (Some(' '), Some(rest)) = (before, rest) {
                    let mut d = 0usize;
                    let end = rest
                        .char_indices()
                        .find(|&(_, c)| {
                            match c {
                                '{' | '(' | '[' => d += 1,
                                '}' | ')' | ']' if d == 0 => return true,
                                '}' | ')' | ']' => d -= 1,
                                ',' if d == 0 => return true,
                                _ => {}
                            }
                            false
                        })
                        .map_or(rest.len(), |(j, _)| j);
                    return Some(rest[..end].trim());
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `(struct, field, doc comment)` of every documented struct field in `src/`, and
/// `(newtype, inner)` for `struct A(pub B);`, written by build.rs.
mod docs {
    include!(concat!(env!("OUT_DIR"), "/field_docs.rs"));
}

/// The doc line of `owner.field`, looking through newtypes (`Ordered(MnistConfig)`).
fn field_doc(owner: &str, field: &str) -> &'static str {
    let mut owner = owner;
    for _ in 0..4 {
        if let Some(&(_, _, doc)) = docs::FIELDS
            .iter()
            .find(|(s, f, _)| *s == owner && *f == field)
        {
            return doc;
        }
        match docs::NEWTYPES.iter().find(|(s, _)| *s == owner) {
            Some(&(_, inner)) => owner = inner,
            None => break,
        }
    }
    ""
}

/// A key's default as `lrnn spec show --all` prints it.
impl std::fmt::Display for KeyDefault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDefault::Value(v) => write!(f, "{v}"),
            KeyDefault::Required => f.write_str("(required)"),
            KeyDefault::Unset => f.write_str("(unset)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config like a cell's: a required key, a default, an optional key, a default left
    /// out of the serialisation (as `forget_bias` is, so run ids stand).
    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        width: usize,
        #[serde(default = "three")]
        rate: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cap: Option<usize>,
        #[serde(default, skip_serializing_if = "is_zero")]
        offset: f64,
        #[serde(default = "pair")]
        pair: [u8; 2],
    }
    fn three() -> f64 {
        3.0
    }
    fn pair() -> [u8; 2] {
        [1, 2]
    }
    fn is_zero(v: &f64) -> bool {
        *v == 0.0
    }

    #[test]
    fn describe_names_every_key_with_its_default() {
        let keys = describe::<Probe>();
        let got: Vec<(&str, String)> = keys
            .iter()
            .map(|k| (k.key.as_str(), k.default.to_string()))
            .collect();
        let want = [
            ("width", "(required)"),
            ("rate", "3.0"),
            ("cap", "(unset)"),
            ("offset", "0.0"),
            ("pair", "[1, 2]"),
        ];
        let want: Vec<(&str, String)> = want.iter().map(|(k, v)| (*k, v.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn debug_fields_are_read_at_the_struct_level() {
        let text = "Outer(Inner { a: Some([1, 2]), b: 0.5, ab: X { a: 3 } })";
        assert_eq!(debug_field(text, "a"), Some("Some([1, 2])"));
        assert_eq!(debug_field(text, "b"), Some("0.5"));
        assert_eq!(debug_field(text, "ab"), Some("X { a: 3 }"));
        assert_eq!(debug_field(text, "c"), None);
    }
}
