//! The paper's robustness comparison as a table (`kind = "robustness"` in a table file): for
//! each trained row, the test metric at every perturbation level of
//! [`crate::report::robustness`] and the Hessian's largest eigenvalue and trace of
//! [`crate::report::hessian`], with a figure of metric against level per perturbation kind.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::experiment::runs::{self, RunRecord, State};
use crate::report::{hessian, robustness};

/// `[analysis]` of a robustness table (or of one of its profiles, replacing the table's).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisDef {
    /// Test sequences the perturbed metric is measured on.
    pub samples: usize,
    /// Seeded draws a level.
    pub draws: usize,
    pub gaussian: Vec<f64>,
    pub multiplicative: Vec<f64>,
    pub salt_pepper: Vec<f64>,
    pub params: Vec<f64>,
    /// Training sequences of the Hessian's loss.
    pub hessian_samples: usize,
    /// Rademacher probes of its trace.
    pub probes: usize,
}

impl AnalysisDef {
    /// The table's header line stating the protocol.
    pub fn protocol(&self) -> String {
        format!(
            "Protocol: test metric on the first {} test sequences, {} seeded draws a level (mean ± stderr in the CSV); \
             levels gaussian σ {:?} (× the inputs' std), multiplicative σ {:?}, salt-and-pepper p {:?}, parameter noise s·RMS {:?}; \
             Hessian of the training loss over {} seeded training sequences in f64: λmax by Lanczos (residual bound 1e-3), trace by Hutchinson with {} probes",
            self.samples,
            self.draws,
            self.gaussian,
            self.multiplicative,
            self.salt_pepper,
            self.params,
            self.hessian_samples,
            self.probes
        )
    }
}

/// A trained row: its label and run record.
pub struct Row<'a> {
    pub label: &'a str,
    pub record: Option<&'a RunRecord>,
}

/// Where a run keeps its analyses: `<run>/analysis/robustness-<key>.json`.
pub const ANALYSIS_DIR: &str = "analysis";

/// One row's analysis, kept in its run folder so that a stopped table resumes row by row
/// (an analysis of a long-trained model takes as long as a few epochs of its training).
#[derive(Serialize, Deserialize)]
struct RowAnalysis {
    robustness: robustness::Report,
    hessian: hessian::Report,
    robustness_seconds: f64,
    hessian_seconds: f64,
    /// Read back rather than measured now (not stored).
    #[serde(skip)]
    cached: bool,
}

/// The file of `run`'s analysis under protocol `a`: keyed by the protocol and the checkpoint's
/// bytes, so a run trained further, or another protocol, is analysed afresh.
pub fn analysis_file(a: &AnalysisDef, run: &Path) -> Result<std::path::PathBuf> {
    let ckpt = run.join(runs::CHECKPOINT_FILE);
    let bytes = std::fs::read(&ckpt).map_err(|e| Error::io(&ckpt, e))?;
    let mut hash = Sha256::new();
    hash.update(serde_json::to_string(a).expect("plain numbers").as_bytes());
    hash.update(&bytes);
    let hex = crate::io::hex(&hash.finalize()[..6]);
    Ok(run
        .join(ANALYSIS_DIR)
        .join(format!("robustness-{hex}.json")))
}

/// `r`'s analysis under `a`: read from its run folder when there, else measured and written.
fn analyse(
    a: &AnalysisDef,
    r: &RunRecord,
    data_dir: Option<&Path>,
    ropts: &robustness::Options,
) -> Result<RowAnalysis> {
    let file = analysis_file(a, &r.dir)?;
    if let Ok(text) = std::fs::read_to_string(&file) {
        let mut kept: RowAnalysis = serde_json::from_str(&text)
            .map_err(|e| Error::Data(format!("{}: {e}", file.display())))?;
        kept.cached = true;
        return Ok(kept);
    }
    let ckpt = r.dir.join(runs::CHECKPOINT_FILE);
    let started = std::time::Instant::now();
    let robustness = robustness::of_checkpoint(&r.spec, &ckpt, data_dir, ropts)?;
    let robustness_seconds = started.elapsed().as_secs_f64();
    let hopts = hessian::Options {
        samples: a.hessian_samples,
        batch: r.spec.train.batch_size.min(a.hessian_samples),
        trace: true,
        probes: a.probes,
        ..Default::default()
    };
    let hessian = hessian::of_checkpoint(
        &r.spec,
        &ckpt,
        hessian::Source::Samples { data_dir },
        &hopts,
    )?;
    let row = RowAnalysis {
        robustness,
        hessian,
        robustness_seconds,
        hessian_seconds: started.elapsed().as_secs_f64() - robustness_seconds,
        cached: false,
    };
    std::fs::create_dir_all(file.parent().expect("in the run folder"))
        .map_err(|e| Error::io(&file, e))?;
    let json = serde_json::to_string_pretty(&row).expect("plain numbers");
    crate::io::write_atomic(&file, json.as_bytes())?;
    Ok(row)
}

/// The table: one row a model, `clean`, a column a kind and level (`gaussian_0.1`, with a
/// `_se` column beside), `lambda_max`, `trace`, `trace_stderr`; and the figures
/// `<name>-<task>-<kind>.svg` in `out`.
pub fn frame(
    a: &AnalysisDef,
    rows: &[Row],
    data_dir: Option<&Path>,
    out: &Path,
    name: &str,
) -> Result<DataFrame> {
    let ropts = robustness::Options {
        levels: vec![
            ("gaussian".into(), a.gaussian.clone()),
            ("multiplicative".into(), a.multiplicative.clone()),
            ("salt_pepper".into(), a.salt_pepper.clone()),
            ("params".into(), a.params.clone()),
        ],
        draws: a.draws,
        samples: a.samples,
        ..Default::default()
    };
    let mut nums: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let mut put = |col: String, i: usize, v: Option<f64>| {
        let at = match nums.iter().position(|(c, _)| *c == col) {
            Some(at) => at,
            None => {
                nums.push((col, vec![None; rows.len()]));
                nums.len() - 1
            }
        };
        nums[at].1[i] = v;
    };
    // (task, kind) → per model (label, [(level, mean)]).
    let mut curves: BTreeMap<(String, String), Vec<crate::report::plot::Series>> = BTreeMap::new();
    let mut metric_col: Vec<Option<String>> = vec![None; rows.len()];
    for (i, row) in rows.iter().enumerate() {
        let Some(r) = row.record.filter(|r| r.info.state() == State::Done) else {
            continue;
        };
        let RowAnalysis {
            robustness: report,
            hessian: h,
            robustness_seconds,
            hessian_seconds,
            cached,
        } = analyse(a, r, data_dir, &ropts)?;
        metric_col[i] = Some(format!("test_{}", report.metric));
        put("clean".into(), i, Some(report.clean));
        for (kind, levels) in &report.perturbations {
            for l in levels {
                put(format!("{kind}_{}", l.level), i, Some(l.mean));
                put(format!("{kind}_{}_se", l.level), i, Some(l.stderr));
            }
            let mut points = vec![(0.0, report.clean)];
            points.extend(levels.iter().map(|l| (l.level, l.mean)));
            curves
                .entry((r.spec.task.name().to_string(), kind.clone()))
                .or_default()
                .push((row.label.to_string(), points));
        }
        put("lambda_max".into(), i, h.eigenvalues.first().copied());
        put("trace".into(), i, h.trace);
        put("trace_stderr".into(), i, h.trace_stderr);
        println!(
            "[{}/{}] {} ({}): perturbed metrics in {robustness_seconds:.0} s; Hessian λmax {:.4}, trace {:.4} ± {:.4} in {hessian_seconds:.0} s{}",
            i + 1,
            rows.len(),
            row.label,
            r.spec.task.name(),
            h.eigenvalues.first().copied().unwrap_or(f64::NAN),
            h.trace.unwrap_or(f64::NAN),
            h.trace_stderr.unwrap_or(f64::NAN),
            if cached {
                " (earlier, from the run's analysis folder)"
            } else {
                ""
            },
        );
    }
    for ((task, kind), series) in &curves {
        crate::report::plot::lines(
            &out.join(format!("{name}-{task}-{kind}.svg")),
            &format!("{task}: {kind} noise"),
            &format!("{kind} level"),
            "test metric",
            series,
        )?;
    }
    let of_rows = |f: &dyn Fn(&Row) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(f).collect()
    };
    let mut cols = vec![
        Column::new("row".into(), of_rows(&|r| Some(r.label.to_string()))),
        Column::new(
            "task".into(),
            of_rows(&|r| r.record.map(|r| r.spec.task.name().to_string())),
        ),
        Column::new(
            "state".into(),
            of_rows(&|r| {
                Some(
                    r.record
                        .map_or("missing".into(), |r| r.info.state().as_str().to_string()),
                )
            }),
        ),
        Column::new("metric".into(), metric_col),
    ];
    for (c, v) in nums {
        cols.push(Column::new(c.as_str().into(), v));
    }
    cols.push(Column::new(
        "run_id".into(),
        of_rows(&|r| r.record.map(|r| r.info.id.clone())),
    ));
    DataFrame::new_infer_height(cols).map_err(|e| Error::Data(format!("robustness table: {e}")))
}
