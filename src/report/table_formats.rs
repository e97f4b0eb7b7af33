//! A paper table's layouts beyond the long one of `reproduce` (a line a row and task): the
//! paper's wide layout (a line a model, a column group a task, ours beside published),
//! pivoted from the long comparison frame, as CSV, Markdown and a LaTeX (booktabs) table; and
//! the Markdown rendering both layouts share.

use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};

/// An accuracy table in the wide layout, and what each task column group holds.
#[derive(Clone, Debug)]
pub struct Wide {
    /// `row`, then for each task `<task>` (ours), `<task>_std` (with seeds), `<task>_published`.
    pub frame: DataFrame,
    /// The tasks in table order, each with its metric column name (`test_acc`, …) if known.
    pub tasks: Vec<(String, Option<String>)>,
}

impl Wide {
    /// Pivots the long comparison frame (`row`, `task`, `metric`, `ours`, `ours_std`,
    /// `published`): rows and tasks in order of first appearance; `with_std` keeps
    /// `<task>_std` (the table was run with `--seeds`). A (row, task) twice is an error.
    pub fn pivot(long: &DataFrame, with_std: bool) -> Result<Wide> {
        let (rows, tasks) = (strings(long, "row")?, strings(long, "task")?);
        let metrics = strings(long, "metric")?;
        let (ours, std, published) = (
            floats(long, "ours")?,
            floats(long, "ours_std")?,
            floats(long, "published")?,
        );
        let labels = first_seen(&rows);
        let names = first_seen(&tasks);
        // The long line of each (label, task) cell.
        let mut at = vec![vec![None; names.len()]; labels.len()];
        for (i, (r, t)) in rows.iter().zip(&tasks).enumerate() {
            let (r, t) = (position(&labels, r), position(&names, t));
            if at[r][t].replace(i).is_some() {
                return Err(Error::Data(format!(
                    "table rows `{}` on task `{}` twice: the wide layout has one cell for them",
                    labels[r], names[t]
                )));
            }
        }
        let cell = |v: &[Option<f64>], t: usize| -> Vec<Option<f64>> {
            at.iter().map(|r| r[t].and_then(|i| v[i])).collect()
        };
        let mut columns = vec![Column::new("row".into(), labels.clone())];
        for (t, task) in names.iter().enumerate() {
            columns.push(Column::new(task.as_str().into(), cell(&ours, t)));
            if with_std {
                columns.push(Column::new(format!("{task}_std").into(), cell(&std, t)));
            }
            columns.push(Column::new(
                format!("{task}_published").into(),
                cell(&published, t),
            ));
        }
        let frame = DataFrame::new_infer_height(columns)
            .map_err(|e| Error::format("wide table", format!("polars: {e}")))?;
        let tasks = names
            .iter()
            .map(|task| {
                let metric = tasks
                    .iter()
                    .zip(&metrics)
                    .find_map(|(t, m)| (t == task).then(|| m.clone()).filter(|m| !m.is_empty()));
                (task.clone(), metric)
            })
            .collect();
        Ok(Wide { frame, tasks })
    }

    /// The columns the Markdown shows: `row`, then each task's ours and published (a
    /// `<task>_std` is shown beside its mean by [`markdown_table`]).
    pub fn shown(&self) -> Vec<String> {
        let mut cols = vec!["row".to_string()];
        for (task, _) in &self.tasks {
            cols.push(task.clone());
            cols.push(format!("{task}_published"));
        }
        cols
    }

    /// Writes `<stem>-wide.csv`, `<stem>-wide.md` and `<stem>.tex` (label `tab:<name>`, `name`
    /// the stem's file name) and returns the wide Markdown table for the console.
    pub fn write(&self, stem: &Path, title: &str, header: &[String]) -> Result<String> {
        let name = stem
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let with = |suffix: &str| stem.with_file_name(format!("{name}{suffix}"));
        crate::report::results::write_csv(&self.frame, &with("-wide.csv"))?;
        let shown = self.shown();
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        let md = markdown(title, header, &self.frame, &shown);
        crate::io::write_atomic(&with("-wide.md"), md.as_bytes())?;
        let tex = self.latex(title, header, &name);
        crate::io::write_atomic(&with(".tex"), tex.as_bytes())?;
        Ok(markdown_table(&self.frame, &shown))
    }

    /// The table as a LaTeX `table` of a `booktabs` `tabular`: the header lines as `%`
    /// comments above it, a column pair (ours, published) a task, accuracies in percent.
    pub fn latex(&self, title: &str, header: &[String], name: &str) -> String {
        let mut tex = String::new();
        for h in header {
            let _ = writeln!(tex, "% {h}");
        }
        let _ = writeln!(tex, "\\begin{{table}}[ht]\n  \\centering");
        let _ = writeln!(tex, "  \\caption{{{}}}", self.caption(title));
        let _ = writeln!(tex, "  \\label{{tab:{name}}}");
        let _ = writeln!(
            tex,
            "  \\begin{{tabular}}{{l{}}}",
            "rr".repeat(self.tasks.len())
        );
        tex.push_str(&self.column_heads());
        for i in 0..self.frame.height() {
            let _ = writeln!(tex, "    {} \\\\", self.latex_row(i).join(" & "));
        }
        tex.push_str("    \\bottomrule\n  \\end{tabular}\n\\end{table}\n");
        tex
    }

    /// The title, then what the numbers are: ours at the best-validation epoch (mean ± std
    /// with seeds) beside the published one, accuracies in percent.
    fn caption(&self, title: &str) -> String {
        let seeds = self
            .tasks
            .iter()
            .any(|(t, _)| self.column(&format!("{t}_std")).is_some());
        let percent = self.tasks.iter().any(|(_, m)| is_accuracy(m.as_deref()));
        format!(
            "{}. Ours: test metric at the epoch of best validation metric{}, beside the published number{}.",
            latex_escape(title.trim_end_matches('.')),
            if seeds {
                ", mean $\\pm$ std over seeds"
            } else {
                ""
            },
            if percent {
                "; accuracies in percent"
            } else {
                ""
            },
        )
    }

    /// `\toprule`, a task name over each column pair, `ours` and `published` under it, `\midrule`.
    fn column_heads(&self) -> String {
        let groups: Vec<String> = self
            .tasks
            .iter()
            .map(|(t, _)| format!("\\multicolumn{{2}}{{c}}{{{}}}", latex_escape(t)))
            .collect();
        let rules: Vec<String> = (0..self.tasks.len())
            .map(|k| format!("\\cmidrule(lr){{{}-{}}}", 2 + 2 * k, 3 + 2 * k))
            .collect();
        format!(
            "    \\toprule\n    & {} \\\\\n    {}\n    Model{} \\\\\n    \\midrule\n",
            groups.join(" & "),
            rules.join(" "),
            " & ours & published".repeat(self.tasks.len())
        )
    }

    /// Line `i` of the tabular: the escaped label, then each task's ours and published.
    fn latex_row(&self, i: usize) -> Vec<String> {
        let label = self
            .frame
            .column("row")
            .ok()
            .and_then(|c| c.get(i).ok()?.get_str().map(latex_escape))
            .unwrap_or_default();
        let mut cells = vec![label];
        for (task, metric) in &self.tasks {
            let scale = if is_accuracy(metric.as_deref()) {
                100.0
            } else {
                1.0
            };
            let value = |c: &str| self.column(c).and_then(|v| v[i]).map(|v| v * scale);
            let ours = value(task);
            cells.push(match (ours, value(&format!("{task}_std"))) {
                (Some(m), Some(s)) => format!("${} \\pm {}$", number(m, scale), number(s, scale)),
                (m, _) => m.map_or("--".into(), |m| number(m, scale)),
            });
            let published = value(&format!("{task}_published"));
            cells.push(published.map_or("--".into(), |p| number(p, scale)));
        }
        cells
    }

    /// A float column of the frame by name, if it has one.
    fn column(&self, name: &str) -> Option<Vec<Option<f64>>> {
        floats(&self.frame, name).ok()
    }
}

/// Whether a metric column (`test_acc`) is an accuracy, which the paper prints in percent.
fn is_accuracy(metric: Option<&str>) -> bool {
    metric.is_some_and(|m| m.trim_start_matches("test_") == crate::data::Metric::Acc.as_str())
}

/// A number as the tables print it: two decimals of a percentage (the markdown's four of a
/// fraction), four of anything else.
fn number(v: f64, scale: f64) -> String {
    if scale == 100.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// `text` with LaTeX's special characters escaped, for text mode.
pub fn latex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '_' | '&' | '%' | '#' | '$' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '\\' => out.push_str("\\textbackslash{}"),
            _ => out.push(c),
        }
    }
    out
}

/// The distinct values of `values` in order of first appearance (nulls read as empty).
fn first_seen(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

fn position(values: &[String], v: &str) -> usize {
    values.iter().position(|x| x == v).expect("a value seen")
}

/// A string column's values, nulls as empty strings.
fn strings(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let c = df.column(name).map_err(polars_err)?;
    let s = c.str().map_err(polars_err)?;
    Ok(s.iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

/// A numeric column's values as f64.
fn floats(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let c = df.column(name).map_err(polars_err)?;
    let c = c.cast(&DataType::Float64).map_err(polars_err)?;
    Ok(c.f64().map_err(polars_err)?.iter().collect())
}

fn polars_err(e: PolarsError) -> Error {
    Error::format("table", format!("polars: {e}"))
}

/// One cell as the Markdown tables print it: `—` for nothing, four decimals (`step_ms`: none).
fn fmt_cell(c: &Column, i: usize) -> String {
    match c.get(i) {
        Ok(AnyValue::Null) | Err(_) => "—".into(),
        Ok(AnyValue::Float64(v)) if c.name().as_str() == "step_ms" => format!("{v:.0}"),
        Ok(AnyValue::Float64(v)) => format!("{v:.4}"),
        Ok(AnyValue::String(s)) => s.to_string(),
        Ok(v) => v.to_string(),
    }
}

/// The table as Markdown: title, header lines, then the `shown` columns ([`markdown_table`]).
pub fn markdown(title: &str, header: &[String], df: &DataFrame, shown: &[&str]) -> String {
    let mut md = format!("# {title}\n\n");
    for h in header {
        let _ = writeln!(md, "- {h}");
    }
    md.push('\n');
    md.push_str(&markdown_table(df, shown));
    md
}

/// The `shown` columns of `df` as a Markdown table; a column `c` with a `c_std` beside it
/// reads `mean ± std`.
pub fn markdown_table(df: &DataFrame, shown: &[&str]) -> String {
    let mut md = format!("| {} |\n", shown.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(shown.len()));
    for i in 0..df.height() {
        let cells: Vec<String> = shown
            .iter()
            .map(|c| {
                let cell = df.column(c).map(|col| fmt_cell(col, i)).unwrap_or_default();
                // Over several seeds: mean ± std.
                match df.column(&format!("{c}_std")).map(|col| fmt_cell(col, i)) {
                    Ok(std) if std != "—" => format!("{cell} ± {std}"),
                    _ => cell,
                }
            })
            .collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long frame as `comparison_frame` makes it (the columns the pivot reads).
    fn long() -> DataFrame {
        df!(
            "row" => ["A_1", "B", "A_1"],
            "task" => ["smnist", "smnist", "adding"],
            "metric" => ["test_acc", "test_acc", "test_mse"],
            "ours" => [Some(0.5), Some(0.25), None],
            "ours_std" => [Some(0.01), None, None],
            "published" => [Some(0.994), None, Some(0.1)],
        )
        .unwrap()
    }

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            latex_escape(r"a_b & 5% #1 $x$ {y} ~z^2 \w"),
            r"a\_b \& 5\% \#1 \$x\$ \{y\} \textasciitilde{}z\textasciicircum{}2 \textbackslash{}w"
        );
        assert_eq!(
            latex_escape("LSTM, N=128 (Arjovsky)"),
            "LSTM, N=128 (Arjovsky)"
        );
    }

    #[test]
    fn pivots_a_line_a_row_and_a_column_group_a_task() {
        let w = Wide::pivot(&long(), true).unwrap();
        let names: Vec<&str> = w
            .frame
            .get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "row",
                "smnist",
                "smnist_std",
                "smnist_published",
                "adding",
                "adding_std",
                "adding_published"
            ]
        );
        assert_eq!(strings(&w.frame, "row").unwrap(), ["A_1", "B"]);
        assert_eq!(floats(&w.frame, "smnist").unwrap(), [Some(0.5), Some(0.25)]);
        assert_eq!(floats(&w.frame, "smnist_std").unwrap(), [Some(0.01), None]);
        assert_eq!(
            floats(&w.frame, "smnist_published").unwrap(),
            [Some(0.994), None]
        );
        // B has no adding row: its cells are empty.
        assert_eq!(
            floats(&w.frame, "adding_published").unwrap(),
            [Some(0.1), None]
        );
        assert_eq!(w.tasks[1], ("adding".into(), Some("test_mse".into())));
        let plain = Wide::pivot(&long(), false).unwrap();
        assert!(plain.frame.column("smnist_std").is_err());
    }

    #[test]
    fn a_cell_twice_is_an_error() {
        let mut df = long();
        df.vstack_mut(&long().head(Some(1))).unwrap();
        let e = Wide::pivot(&df, false).unwrap_err().to_string();
        assert!(e.contains("`A_1` on task `smnist` twice"), "{e}");
    }

    #[test]
    fn latex_has_booktabs_percentages_and_escaped_labels() {
        let w = Wide::pivot(&long(), true).unwrap();
        let tex = w.latex(
            "Pixel MNIST",
            &["Profile `quick`: 3 epochs".into()],
            "t-quick",
        );
        assert!(tex.starts_with("% Profile `quick`: 3 epochs\n"), "{tex}");
        for part in [
            "\\begin{tabular}{lrrrr}",
            "\\toprule",
            "\\multicolumn{2}{c}{smnist} & \\multicolumn{2}{c}{adding}",
            "\\label{tab:t-quick}",
            "accuracies in percent",
            "A\\_1 & $50.00 \\pm 1.00$ & 99.40 & -- & 0.1000 \\\\",
            "B & 25.00 & -- & -- & -- \\\\",
            "\\bottomrule",
        ] {
            assert!(tex.contains(part), "no {part} in\n{tex}");
        }
    }

    #[test]
    fn markdown_shows_mean_and_std_together() {
        let w = Wide::pivot(&long(), true).unwrap();
        let shown = w.shown();
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        let md = markdown_table(&w.frame, &shown);
        assert!(
            md.contains("| A_1 | 0.5000 ± 0.0100 | 0.9940 | — | 0.1000 |"),
            "{md}"
        );
    }
}
