//! `lrnn list`: the runs under a results directory as a table with a header, or as JSON,
//! filtered by any summary or spec key and sorted by one. A run is one flat JSON object: its
//! [`Summary`] and its flattened spec (`train.lr`, `model.hidden`, ...), so a filter, a sort
//! key and a JSON consumer all name the same keys.

use std::cmp::Ordering;
use std::path::Path;

use serde_json::{Map, Value};

use crate::experiment::runs;
use crate::report::results::Summary;

/// What to show: `key=value` filters (all must hold), a sort key, and its direction.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// `(key, value)`: a run passes when its `key` renders as `value` (numbers compare as
    /// numbers, `tags` holds when any tag equals it).
    pub filters: Vec<(String, String)>,
    /// A key to sort by (ascending; runs lacking it last), else the run id.
    pub sort: Option<String>,
    pub descending: bool,
}

impl Query {
    /// Parses a `--where KEY=VALUE` argument (a clap value parser).
    pub fn filter(arg: &str) -> std::result::Result<(String, String), String> {
        arg.split_once('=')
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .ok_or_else(|| format!("{arg}: expected KEY=VALUE"))
    }
}

/// Every readable run as one flat object, and the folders that did not read.
pub fn rows(results: &Path) -> (Vec<Map<String, Value>>, Vec<String>) {
    let (mut rows, mut unreadable) = (Vec::new(), Vec::new());
    for r in runs::discover(results) {
        match r {
            Ok(r) => {
                let Value::Object(mut row) =
                    serde_json::to_value(Summary::of(&r)).expect("a summary serialises")
                else {
                    unreachable!("a summary serialises as an object")
                };
                row.extend(r.spec.flattened());
                rows.push(row);
            }
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    (rows, unreadable)
}

/// The rows `q` selects, in its order.
pub fn select(mut rows: Vec<Map<String, Value>>, q: &Query) -> Vec<Map<String, Value>> {
    rows.retain(|r| q.filters.iter().all(|(k, v)| matches(r.get(k), v)));
    let key = q.sort.as_deref().unwrap_or("id");
    rows.sort_by(|a, b| {
        let o = match (
            a.get(key).filter(|v| !v.is_null()),
            b.get(key).filter(|v| !v.is_null()),
        ) {
            (Some(x), Some(y)) => compare(x, y),
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if q.descending { o.reverse() } else { o }
    });
    rows
}

fn matches(v: Option<&Value>, want: &str) -> bool {
    match v {
        Some(Value::Array(items)) => items.iter().any(|i| matches(Some(i), want)),
        Some(Value::Number(n)) => want
            .parse::<f64>()
            .is_ok_and(|w| n.as_f64().is_some_and(|x| x == w)),
        Some(Value::String(s)) => s == want,
        Some(other) => other.to_string() == want,
        None => false,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => text(a).cmp(&text(b)),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The table `lrnn list` prints: a header, then one line a run with its state, progress,
/// test metric at the last and at the best-validation epoch, the key hyperparameters (N, lr,
/// the step size where the cell has one), step time, name and tags, and id.
pub fn table(rows: &[Map<String, Value>]) -> String {
    let header = [
        "STATE",
        "EPOCHS",
        "METRIC",
        "FINAL",
        "AT BEST VAL",
        "N",
        "LR",
        "EPS",
        "MS/STEP",
        "NAME/TAGS",
        "RUN",
    ];
    let num = |r: &Map<String, Value>, k: &str, digits: usize| {
        r.get(k)
            .and_then(Value::as_f64)
            .map_or("—".to_string(), |v| format!("{v:.digits$}"))
    };
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        let get = |k: &str| r.get(k).map(text).unwrap_or_default();
        let best = match (
            r.get("test_at_best_val").and_then(Value::as_f64),
            r.get("best_epoch"),
        ) {
            (Some(v), Some(e)) => format!("{v:.4} (ep {})", text(e)),
            _ => "—".into(),
        };
        let eps = ["model.eps", "model.dt"]
            .iter()
            .find_map(|k| r.get(*k).and_then(Value::as_f64))
            .map_or("—".into(), |v| format!("{v}"));
        let labels = [get("name"), get("tags")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        lines.push(vec![
            get("state"),
            format!("{}/{}", get("epochs_done"), get("epochs")),
            format!("test_{}", get("metric")),
            num(r, "final_test", 4),
            best,
            get("hidden"),
            r.get("train.lr")
                .and_then(Value::as_f64)
                .map_or("—".into(), |v| format!("{v:e}")),
            eps,
            num(r, "step_ms", 1),
            if labels.is_empty() {
                "—".into()
            } else {
                labels
            },
            get("id"),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn filters_compare_numbers_as_numbers_and_tags_by_member() {
        let rows = vec![
            row(json!({"id": "a", "train.lr": 0.001, "tags": ["mnist-quick"], "task": "smnist"})),
            row(json!({"id": "b", "train.lr": 0.003, "tags": [], "task": "psmnist"})),
        ];
        let q = |f: &[(&str, &str)]| Query {
            filters: f
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Query::default()
        };
        let ids = |q: &Query| -> Vec<String> {
            select(rows.clone(), q)
                .iter()
                .map(|r| text(&r["id"]))
                .collect()
        };
        assert_eq!(ids(&q(&[("train.lr", "1e-3")])), ["a"]);
        assert_eq!(ids(&q(&[("tags", "mnist-quick")])), ["a"]);
        assert_eq!(ids(&q(&[("task", "psmnist")])), ["b"]);
        assert!(ids(&q(&[("task", "smnist"), ("train.lr", "0.003")])).is_empty());
        assert!(ids(&q(&[("no.such.key", "1")])).is_empty());
    }

    #[test]
    fn sorts_numerically_either_way_with_missing_keys_last() {
        let rows = vec![
            row(json!({"id": "a", "final_test": 0.5})),
            row(json!({"id": "b", "final_test": null})),
            row(json!({"id": "c", "final_test": 0.9})),
            row(json!({"id": "d", "final_test": 0.10})),
        ];
        let order = |descending| -> Vec<String> {
            let q = Query {
                sort: Some("final_test".into()),
                descending,
                ..Query::default()
            };
            select(rows.clone(), &q)
                .iter()
                .map(|r| text(&r["id"]))
                .collect()
        };
        assert_eq!(order(false), ["d", "a", "c", "b"]);
        assert_eq!(order(true), ["c", "a", "d", "b"]);
    }

    #[test]
    fn the_table_has_a_header_and_one_aligned_line_a_run() {
        let rows = vec![row(json!({
            "id": "smnist/x-s1-abcd", "state": "done", "epochs_done": 3, "epochs": 3,
            "metric": "acc", "final_test": 0.61, "test_at_best_val": 0.62, "best_epoch": 2,
            "hidden": 128, "train.lr": 0.003, "model.eps": 0.03, "step_ms": 250.0,
            "name": null, "tags": ["mnist-quick"],
        }))];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(
            lines[0].starts_with("STATE") && lines[0].contains("RUN"),
            "{t}"
        );
        for want in [
            "done",
            "3/3",
            "0.6100",
            "0.6200 (ep 2)",
            "128",
            "3e-3",
            "0.03",
            "mnist-quick",
            "smnist/x-s1-abcd",
        ] {
            assert!(lines[1].contains(want), "{want} missing: {t}");
        }
        assert_eq!(lines[0].find("RUN"), lines[1].find("smnist/"), "{t}");
    }
}
