//! Paper tables from one command. `experiments/tables/<table>.toml` names a table's rows (one
//! spec each, and the published number it is compared with) and its profiles (`smoke`,
//! `quick`, `full`: `--set` overrides that shorten the schedule). `reproduce` trains every row
//! whose run folder is not done, as child `lrnn run` processes (`--jobs` at a time, each a
//! share of the cores), then writes `tables/<table>-<profile>.{csv,h5,md}`, an accuracy table's
//! wide layout (`-wide.{csv,md}`, `.tex`; [`crate::report::table_formats`]) and its figures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::experiment::runs::{self, RunInfo, RunRecord, State};
use crate::experiment::spec::Spec;
use crate::report::children::{Job, run_jobs};
use crate::report::table_formats::{Wide, markdown};

/// `experiments/tables/<table>.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    /// The paper's table, as its header reads.
    pub title: String,
    /// What the reader must know about the rows (stand-in data, rows without specs yet).
    #[serde(default)]
    pub notes: Vec<String>,
    pub profiles: BTreeMap<String, Profile>,
    pub rows: Vec<RowDef>,
    /// What the table compares: `accuracy` (ours beside the published numbers, the default)
    /// or `robustness` (perturbed metrics and Hessian curvature of each trained row).
    #[serde(default)]
    pub kind: TableKind,
    /// A robustness table's protocol (a profile's `analysis` replaces it).
    #[serde(default)]
    pub analysis: Option<crate::report::robustness_table::AnalysisDef>,
}

/// See [`TableDef::kind`].
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    #[default]
    Accuracy,
    Robustness,
}

impl TableDef {
    /// `experiments/tables/<name>.toml` under `root`, and its path.
    pub fn load(root: &Path, name: &str) -> Result<(PathBuf, TableDef)> {
        // A table is named, not a path: `reproduce ../../x` reads no file outside the tables.
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !plain {
            return Err(Error::Data(format!(
                "`{name}` is not a table name; tables: {}",
                table_names(root).join(", ")
            )));
        }
        let path = root.join(format!("experiments/tables/{name}.toml"));
        if !path.exists() {
            return Err(Error::Data(format!(
                "no table `{name}`; tables: {}",
                table_names(root).join(", ")
            )));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let def = toml::from_str(&text)
            .map_err(|e| Error::spec(&path, "", crate::config::first_line(&e.to_string())))?;
        Ok((path, def))
    }
}

/// A schedule for every row of a table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// One line for the table's header: what the schedule is and what it is good for.
    pub about: String,
    /// `--set` overrides applied to every row's spec.
    #[serde(default)]
    pub set: Vec<String>,
    /// A robustness table's protocol at this profile.
    #[serde(default)]
    pub analysis: Option<crate::report::robustness_table::AnalysisDef>,
}

/// One row: a spec (relative to the table file) and the published number beside it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowDef {
    pub spec: PathBuf,
    pub label: String,
    /// The `model` of the `baselines/*.csv` row to compare with (same table and task).
    #[serde(default)]
    pub published: Option<String>,
    /// `--set` overrides of this row, applied after the profile's.
    #[serde(default)]
    pub set: Vec<String>,
}

/// A published number from `baselines/*.csv`.
#[derive(Clone, Debug, Deserialize)]
pub struct Published {
    pub table: String,
    pub task: String,
    pub model: String,
    pub hidden: Option<usize>,
    pub params: Option<String>,
    pub metric: String,
    pub value: f64,
    pub confirmed: String,
    pub source: String,
}

/// Every row of every CSV file in `dir`.
pub fn read_published(dir: &Path) -> Result<Vec<Published>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let mut r = csv::Reader::from_path(&f).map_err(|e| Error::format(&f, e.to_string()))?;
        for row in r.deserialize() {
            out.push(row.map_err(|e| Error::format(&f, e.to_string()))?);
        }
    }
    Ok(out)
}

/// Where a table's inputs are and where its outputs go.
#[derive(Clone, Debug)]
pub struct Options {
    pub table: String,
    pub profile: String,
    pub jobs: usize,
    pub results: PathBuf,
    pub data_dir: Option<PathBuf>,
    /// The project root holding `experiments/tables` and `baselines`
    /// ([`crate::experiment::root::root`]).
    pub root: PathBuf,
    /// Train each row once a seed (`train.seed`) and report mean ± std and n; empty: the
    /// seed of each row's spec.
    pub seeds: Vec<u64>,
    /// Submit the rows not done to Slurm (the table is a sweep over its rows) instead of
    /// training them here; the table then shows what is done so far.
    pub slurm: Option<crate::report::slurm::SubmitOptions>,
    /// `--set` overrides applied to every row, after the profile's and the row's.
    pub set: Vec<String>,
    /// The rows to train and show, numbered from 1 in the table file's order (empty: all).
    pub rows: Vec<usize>,
}

/// The tables `root` defines.
pub fn table_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("experiments/tables"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            (p.extension()? == "toml").then_some(stem)
        })
        .collect();
    names.sort();
    names
}

/// A row resolved for a profile and a seed: its spec, run id and folder.
struct Planned {
    def: RowDef,
    /// The row's index in the table.
    row: usize,
    /// The seed `--seeds` gave it.
    seed: Option<u64>,
    spec_path: PathBuf,
    overrides: Vec<String>,
    spec: Spec,
    id: String,
    dir: PathBuf,
}

/// Runs the missing rows of `opts.table` and writes the table; returns the number of rows
/// whose runs failed (their cells read "failed").
pub fn reproduce(opts: &Options) -> Result<usize> {
    let (path, def) = TableDef::load(&opts.root, &opts.table)?;
    let profile = def.profiles.get(&opts.profile).ok_or_else(|| {
        Error::spec(
            &path,
            format!("profiles.{}", opts.profile),
            format!(
                "no such profile; profiles: {:?}",
                def.profiles.keys().collect::<Vec<_>>()
            ),
        )
    })?;
    let jobs = opts.jobs.max(1);
    let threads = crate::report::children::threads_each(jobs);

    let seeds: Vec<Option<u64>> = if opts.seeds.is_empty() {
        vec![None]
    } else {
        opts.seeds.iter().copied().map(Some).collect()
    };
    if let Some(bad) = opts.rows.iter().find(|&&r| r == 0 || r > def.rows.len()) {
        return Err(Error::spec(
            &path,
            "rows",
            format!("--rows {bad}: the table has rows 1 to {}", def.rows.len()),
        ));
    }
    let mut planned = Vec::new();
    for (i, row) in def.rows.iter().enumerate() {
        if !opts.rows.is_empty() && !opts.rows.contains(&(i + 1)) {
            continue;
        }
        let spec_path = path
            .parent()
            .expect("table file has a folder")
            .join(&row.spec);
        for seed in &seeds {
            let mut overrides = profile.set.clone();
            overrides.extend(row.set.iter().cloned());
            overrides.extend(opts.set.iter().cloned());
            overrides.extend(seed.map(|s| format!("train.seed={s}")));
            let spec = Spec::load(&spec_path, &overrides)?;
            let id = runs::run_id(&spec, &runs::spec_name(&spec_path));
            let dir = runs::run_dir(&opts.results, &id);
            planned.push(Planned {
                def: row.clone(),
                row: i,
                seed: *seed,
                spec_path: spec_path.clone(),
                overrides,
                spec,
                id,
                dir,
            });
        }
    }

    let pending: Vec<&Planned> = planned
        .iter()
        .filter(|p| !RunInfo::read(&p.dir).is_ok_and(|i| i.state() == State::Done))
        .collect();
    let selected = planned
        .iter()
        .map(|p| p.row)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let seeds_note = if opts.seeds.is_empty() {
        String::new()
    } else {
        format!(" × {} seeds", opts.seeds.len())
    };
    if let Some(slurm) = &opts.slurm {
        println!(
            "table {} ({} profile): {} rows{seeds_note}, {} not done: to Slurm",
            opts.table,
            opts.profile,
            selected,
            pending.len()
        );
        submit_rows(&path, opts, &planned, slurm)?;
    } else {
        println!(
            "table {} ({} profile): {} rows{seeds_note}, {} to run, {jobs} at a time on {threads} core(s) each",
            opts.table,
            opts.profile,
            selected,
            pending.len()
        );
        if !pending.is_empty() {
            run_rows(&pending, opts, jobs);
        }
    }

    let records: Vec<Option<RunRecord>> = planned
        .iter()
        .map(|p| RunRecord::read(&p.dir).ok())
        .collect();
    let out = opts.results.join("tables");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    // Named by profile: a smoke table never overwrites a quick or full one.
    let name = format!("{}-{}", opts.table, opts.profile);
    let mut header = header(&def, &opts.profile, profile, &records);
    header.push(sources_state(&path, &planned));
    if !opts.set.is_empty() {
        header.insert(
            1,
            format!(
                "Overrides of this call (`--set`, every row): `{}`",
                opts.set.join("`, `")
            ),
        );
    }
    let frame = match def.kind {
        TableKind::Accuracy => {
            let published = read_published(&opts.root.join("baselines"))?;
            let mut frame = comparison_frame(&opts.table, &planned, &records, &published)?;
            // A smoke profile's numbers mean nothing: no difference to the paper is shown.
            if opts.profile == "smoke" {
                let _ = frame.drop_in_place("diff");
            }
            frame
        }
        TableKind::Robustness => {
            let analysis = profile
                .analysis
                .as_ref()
                .or(def.analysis.as_ref())
                .ok_or_else(|| {
                    Error::spec(
                        &path,
                        "analysis",
                        "a robustness table needs [analysis] (or the profile's)",
                    )
                })?;
            header.insert(1, analysis.protocol());
            let rows: Vec<crate::report::robustness_table::Row> = planned
                .iter()
                .zip(&records)
                .map(|(p, r)| crate::report::robustness_table::Row {
                    label: &p.def.label,
                    record: r.as_ref(),
                })
                .collect();
            crate::report::robustness_table::frame(
                analysis,
                &rows,
                opts.data_dir.as_deref(),
                &out,
                &name,
            )?
        }
    };
    if !opts.seeds.is_empty() {
        header.insert(
            1,
            format!(
                "Seeds {:?}: `ours` and `ours_final` are the mean over the done seeds, `*_std` their sample std, `n` how many",
                opts.seeds
            ),
        );
    }
    // The paper's layout of an accuracy table: a line a model, a column group a task.
    let wide = (def.kind == TableKind::Accuracy)
        .then(|| Wide::pivot(&frame, !opts.seeds.is_empty()))
        .transpose()?;
    let stem = out.join(&name);
    crate::report::results::write_csv(&frame, &stem.with_extension("csv"))?;
    let done: Vec<RunRecord> = records.iter().flatten().cloned().collect();
    let runs_frame = crate::report::results::summary_frame(&done)?;
    let epochs_frame = crate::report::results::epochs_frame(&done)?;
    let mut frames = vec![
        ("table", &frame),
        ("runs", &runs_frame),
        ("epochs", &epochs_frame),
    ];
    frames.extend(wide.as_ref().map(|w| ("wide", &w.frame)));
    crate::report::results::write_h5(
        &stem.with_extension("h5"),
        &frames,
        &[
            ("title", def.title.clone()),
            ("profile", opts.profile.clone()),
            ("header", header.join("\n")),
        ],
    )?;
    let md = match def.kind {
        TableKind::Accuracy => {
            let shown: Vec<&str> = SHOWN
                .into_iter()
                .filter(|c| frame.column(c).is_ok())
                .collect();
            markdown(&def.title, &header, &frame, &shown)
        }
        TableKind::Robustness => {
            let cols: Vec<&str> = frame
                .get_column_names()
                .into_iter()
                .map(|c| c.as_str())
                .filter(|c| !c.ends_with("_se") && *c != "run_id" && *c != "trace_stderr")
                .collect();
            markdown(&def.title, &header, &frame, &cols)
        }
    };
    crate::io::write_atomic(&stem.with_extension("md"), md.as_bytes())?;
    println!("\n{md}");
    if let Some(w) = &wide {
        let table = w.write(&stem, &def.title, &header)?;
        println!("Wide layout ({name}-wide.md, {name}.tex):\n\n{table}");
    }
    if def.kind == TableKind::Accuracy {
        // Each row's published value by its label and task (a label repeats across tasks),
        // for the dashed reference lines.
        let column = |c: &str| frame.column(c).ok();
        let published: BTreeMap<(String, String), f64> =
            match (column("row"), column("task"), column("published")) {
                (Some(rows), Some(tasks), Some(values)) => (0..frame.height())
                    .filter_map(|i| {
                        let row = rows.get(i).ok()?.get_str()?.to_string();
                        let task = tasks.get(i).ok()?.get_str()?.to_string();
                        let v = values.get(i).ok()?.extract::<f64>()?;
                        Some(((row, task), v))
                    })
                    .collect(),
                _ => BTreeMap::new(),
            };
        figures(&out, (&name, &opts.profile), &planned, &records, &published)?;
    }
    println!(
        "written: {}.{{csv,h5,md}}{} and figures in {}",
        stem.display(),
        if wide.is_some() {
            ", -wide.{csv,md}, .tex"
        } else {
            ""
        },
        out.display()
    );
    // Under Slurm the rows not done yet are queued, not failed.
    let queued = opts.slurm.is_some();
    Ok(records
        .iter()
        .filter(|r| match r {
            Some(r) => {
                r.info.state() == State::Failed || (!queued && r.info.state() != State::Done)
            }
            None => !queued,
        })
        .count())
}

/// The table as a sweep over its runs: a plan in `results/sweeps/table-<table>-<profile>/`
/// whose points carry their own spec, submitted like a sweep's.
fn submit_rows(
    table_path: &Path,
    opts: &Options,
    planned: &[Planned],
    slurm: &crate::report::slurm::SubmitOptions,
) -> Result<()> {
    use crate::report::sweep::{PLAN_FILE, Plan, index_points};
    let dir = opts
        .results
        .join("sweeps")
        .join(format!("table-{}-{}", opts.table, opts.profile));
    let old = Plan::read(&dir.join(PLAN_FILE)).ok();
    let resolved = planned
        .iter()
        .map(|p| {
            let spec = std::path::absolute(&p.spec_path).map_err(|e| Error::io(&p.spec_path, e))?;
            Ok((p.id.clone(), p.overrides.clone(), Some(spec)))
        })
        .collect::<Result<Vec<_>>>()?;
    let plan = Plan {
        sweep: table_path.to_path_buf(),
        base: table_path.to_path_buf(),
        set: Vec::new(),
        points: index_points(old.as_ref(), resolved),
    };
    plan.write(&dir)?;
    crate::report::slurm::submit(&plan, &dir.join(PLAN_FILE), &opts.results, slurm)?;
    Ok(())
}

/// What training the rows will take, before it starts: each row's steps left times the mean
/// step time of the latest earlier run here of the same model, width, batch and task config
/// (the steps an epoch from the spec's cap or from that run). Evaluation is not counted.
/// Runs in `also` (the default results folder, when `--results` names another) time a model
/// that `results` has never run, as a medium table's first call after the quick one.
fn estimate(rows: &[&Planned], results: &Path, also: Option<&Path>) -> String {
    use crate::report::results::Summary;
    // The task's whole config: its sequence length (PTB's bptt, the adding problem's T) sets
    // both the step time and the steps an epoch.
    let key = |s: &crate::experiment::spec::Spec| {
        let task = serde_json::to_string(&s.task).expect("a task config serialises");
        (task, s.model.label(), s.model.hidden(), s.train.batch_size)
    };
    // (step ms, steps an epoch) of earlier runs, by key; later folders overwrite earlier.
    let mut known = std::collections::HashMap::new();
    let folders = also.into_iter().chain([results]);
    for r in folders.flat_map(runs::discover).flatten() {
        let per_epoch = r.metrics.column("steps").first().copied();
        if let (Some(ms), Some(spe)) = (Summary::of(&r).step_ms, per_epoch) {
            let capped = r.spec.train.max_steps_per_epoch.is_some();
            let entry = known.entry(key(&r.spec)).or_insert((ms, None));
            entry.0 = ms;
            if !capped {
                entry.1 = Some(spe);
            }
        }
    }
    let (mut secs, mut steps, mut unknown) = (0.0, 0.0, Vec::new());
    for p in rows {
        // The step time, and the steps an epoch: the spec's cap, or the earlier run's count.
        let timed = known.get(&key(&p.spec)).and_then(|&(ms, full)| {
            let cap = p.spec.train.max_steps_per_epoch.map(|c| c as f64);
            let spe = match (cap, full) {
                (Some(c), Some(f)) => Some(c.min(f)),
                (c, f) => c.or(f),
            };
            spe.map(|spe| (ms, spe))
        });
        let Some((ms, spe)) = timed else {
            unknown.push(format!("{} ({})", p.def.label, p.spec.task.name()));
            continue;
        };
        let tr = &p.spec.train;
        let done = crate::experiment::metrics::MetricsTable::read(&p.dir.join(runs::METRICS_FILE))
            .map_or(0, |m| m.rows.len());
        let left = tr.epochs.saturating_sub(done) as f64 * spe;
        steps += left;
        secs += left * ms / 1e3;
    }
    let counted = rows.len() - unknown.len();
    let mut s = format!(
        "estimate: {} of training for {counted} row(s), {steps:.0} steps (step times of earlier runs of the same models; evaluation not counted)",
        duration(secs)
    );
    if !unknown.is_empty() {
        s.push_str(&format!(
            "; no earlier run to time for {}",
            unknown.join(", ")
        ));
    }
    s
}

/// Whether two paths name one folder (either may not exist yet).
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `42 s`, `12 min`, `3 h 05 min`.
fn duration(secs: f64) -> String {
    let m = (secs / 60.0).round() as u64;
    match secs {
        s if s < 60.0 => format!("{s:.0} s"),
        _ if m < 60 => format!("{m} min"),
        _ => format!("{} h {:02} min", m / 60, m % 60),
    }
}

/// Trains `rows` as child processes, `jobs` at a time, each logging to its folder's `log.txt`.
fn run_rows(rows: &[&Planned], opts: &Options, jobs: usize) {
    let jobs_list: Vec<Job> = rows
        .iter()
        .map(|p| Job {
            label: format!("{} ({})", p.def.label, p.spec.task.name()),
            spec_path: p.spec_path.clone(),
            overrides: p.overrides.clone(),
            dir: p.dir.clone(),
            tags: vec![format!("{}-{}", opts.table, opts.profile)],
        })
        .collect();
    let default = opts.root.join("results");
    let also = (!same_folder(&default, &opts.results)).then_some(default.as_path());
    println!("{}", estimate(rows, &opts.results, also));
    run_jobs(&jobs_list, jobs, opts.data_dir.as_deref());
}

/// The published row for `row`: same table, task and model name; the one with the row's
/// hidden size when several match.
fn find_published<'a>(
    table: &str,
    p: &Planned,
    published: &'a [Published],
) -> Option<&'a Published> {
    let model = p.def.published.as_deref()?;
    let task = p.spec.task.name();
    let matches: Vec<&Published> = published
        .iter()
        .filter(|b| b.table == table && b.task == task && b.model == model)
        .collect();
    matches
        .iter()
        .find(|b| b.hidden == Some(p.spec.model.hidden()))
        .or(matches.first())
        .copied()
}

/// One row a table row: ours (test metric at the best validation epoch, and after the last
/// epoch) beside the published value and the difference.
fn comparison_frame(
    table: &str,
    planned: &[Planned],
    records: &[Option<RunRecord>],
    published: &[Published],
) -> Result<DataFrame> {
    let mut cols: BTreeMap<&str, Vec<Option<String>>> = BTreeMap::new();
    let mut nums: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    let mut ints: BTreeMap<&str, Vec<Option<i64>>> = BTreeMap::new();
    // One table row a row of the table: its runs (one a seed) side by side.
    let mut groups: Vec<Vec<(&Planned, Option<&RunRecord>)>> = Vec::new();
    for (p, r) in planned.iter().zip(records) {
        match groups.last_mut() {
            Some(g) if g[0].0.row == p.row => g.push((p, r.as_ref())),
            _ => groups.push(vec![(p, r.as_ref())]),
        }
    }
    for g in &groups {
        let p = g[0].0;
        let sums: Vec<crate::report::results::Summary> = g
            .iter()
            .filter_map(|(_, r)| r.map(crate::report::results::Summary::of))
            .collect();
        let done: Vec<&crate::report::results::Summary> =
            sums.iter().filter(|s| s.state == "done").collect();
        // The done seeds; before any is done, what the runs so far reached.
        let pool: Vec<&crate::report::results::Summary> = if done.is_empty() {
            sums.iter().collect()
        } else {
            done.clone()
        };
        let first = sums.first();
        let b = find_published(table, p, published);
        let (ours, ours_std) = mean_std(pool.iter().filter_map(|s| s.test_at_best_val));
        let (fin, fin_std) = mean_std(pool.iter().filter_map(|s| s.final_test));
        let text = |v: &str| Some(v.to_string());
        cols.entry("row").or_default().push(text(&p.def.label));
        cols.entry("task")
            .or_default()
            .push(text(p.spec.task.name()));
        cols.entry("model")
            .or_default()
            .push(text(&p.spec.model.label()));
        let mut states: Vec<String> = g
            .iter()
            .map(|(_, r)| r.map_or("failed".into(), |r| r.info.state().as_str().to_string()))
            .collect();
        states.sort();
        states.dedup();
        let state = if states.len() == 1 {
            states.remove(0)
        } else {
            format!("{} of {} done", done.len(), g.len())
        };
        cols.entry("state").or_default().push(Some(state));
        cols.entry("metric")
            .or_default()
            .push(first.map(|s| format!("test_{}", s.metric)));
        cols.entry("published_model")
            .or_default()
            .push(b.map(|b| b.model.clone()));
        cols.entry("confirmed")
            .or_default()
            .push(b.map(|b| b.confirmed.clone()));
        cols.entry("source")
            .or_default()
            .push(b.map(|b| b.source.clone()));
        let ids: Vec<&str> = g.iter().map(|(p, _)| p.id.as_str()).collect();
        cols.entry("run_id").or_default().push(text(&ids.join(" ")));
        ints.entry("hidden")
            .or_default()
            .push(Some(p.spec.model.hidden() as i64));
        ints.entry("params")
            .or_default()
            .push(first.map(|s| s.params as i64));
        ints.entry("epochs")
            .or_default()
            .push(pool.iter().map(|s| s.epochs_done as i64).min());
        ints.entry("n").or_default().push(Some(done.len() as i64));
        // The best epoch is one run's: with several seeds there is no single one.
        ints.entry("best_epoch").or_default().push(
            (g.len() == 1)
                .then(|| first.and_then(|s| s.best_epoch.map(|e| e as i64)))
                .flatten(),
        );
        nums.entry("ours").or_default().push(ours);
        nums.entry("ours_std").or_default().push(ours_std);
        nums.entry("ours_final").or_default().push(fin);
        nums.entry("ours_final_std").or_default().push(fin_std);
        nums.entry("published")
            .or_default()
            .push(b.map(|b| b.value));
        nums.entry("diff")
            .or_default()
            .push(ours.zip(b).map(|(o, b)| o - b.value));
        nums.entry("step_ms")
            .or_default()
            .push(mean_std(pool.iter().filter_map(|s| s.step_ms)).0);
    }
    let order = [
        "row",
        "task",
        "model",
        "hidden",
        "params",
        "state",
        "epochs",
        "metric",
        "ours",
        "ours_std",
        "n",
        "best_epoch",
        "ours_final",
        "ours_final_std",
        "published",
        "diff",
        "published_model",
        "confirmed",
        "source",
        "step_ms",
        "run_id",
    ];
    let columns = order
        .iter()
        .map(|&c| {
            if let Some(v) = cols.remove(c) {
                Column::new(c.into(), v)
            } else if let Some(v) = nums.remove(c) {
                Column::new(c.into(), v)
            } else {
                Column::new(c.into(), ints.remove(c).expect("every column is filled"))
            }
        })
        .collect();
    DataFrame::new_infer_height(columns).map_err(|e| Error::format(table, format!("polars: {e}")))
}

/// The mean and the sample standard deviation (n − 1; none for one value) of `values`.
fn mean_std(values: impl Iterator<Item = f64>) -> (Option<f64>, Option<f64>) {
    let v: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    let (m, std) = crate::kernels::stats::mean_std(&v);
    (
        Some(m).filter(|_| !v.is_empty()),
        Some(std).filter(|_| v.len() > 1),
    )
}

/// The lines above a table: profile, schedule, data, provenance.
fn header(
    def: &TableDef,
    name: &str,
    profile: &Profile,
    records: &[Option<RunRecord>],
) -> Vec<String> {
    let mut lines = vec![format!("Profile `{name}`: {}", profile.about)];
    if !profile.set.is_empty() {
        lines.push(format!("Overrides: `{}`", profile.set.join("`, `")));
    }
    let mut sources: Vec<String> = Vec::new();
    let mut commits: Vec<String> = Vec::new();
    for r in records.iter().flatten() {
        let data = &r.info.data;
        for s in data["sources"].as_array().into_iter().flatten() {
            let dir = Path::new(s.as_str().unwrap_or_default())
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if !sources.contains(&dir) {
                sources.push(dir);
            }
        }
        for n in data["notes"].as_array().into_iter().flatten() {
            let n = format!("{}: {}", r.spec.task.name(), n.as_str().unwrap_or_default());
            if !def.notes.contains(&n) && !lines.contains(&n) {
                lines.push(n);
            }
        }
        let c = format!(
            "{} (dirty: {})",
            &r.info.build.git_commit, r.info.build.git_dirty
        );
        if !commits.contains(&c) {
            commits.push(c);
        }
    }
    lines.push(format!(
        "Data: {}",
        if sources.is_empty() {
            "generated".into()
        } else {
            sources.join(", ")
        }
    ));
    lines.extend(def.notes.iter().cloned());
    lines.push(format!(
        "lrnn {} at commit {}",
        env!("CARGO_PKG_VERSION"),
        commits.join(", ")
    ));
    lines.push(if name == "smoke" {
        "`ours` is the test metric at the epoch of best validation metric; `ours_final` after the last epoch; no `diff` to the published numbers at the smoke profile.".into()
    } else {
        "`ours` is the test metric at the epoch of best validation metric; `ours_final` after the last epoch; `diff` = ours − published.".into()
    });
    lines
}

/// Whether the table file and the rows' spec files are as
/// committed: the binary's commit alone does not say that a table was made from edited specs.
fn sources_state(table: &Path, planned: &[Planned]) -> String {
    let mut files = vec![table.to_path_buf()];
    for p in planned {
        if !files.contains(&p.spec_path) {
            files.push(p.spec_path.clone());
        }
    }
    let mut changed = Vec::new();
    for f in &files {
        match git_state(f) {
            Some(GitState::Committed) => {}
            Some(state) => changed.push(format!("{} ({})", f.display(), state.as_str())),
            None => {
                return format!(
                    "Table and spec files: not in a git checkout, so whether they match commit {} is unknown",
                    env!("LRNN_GIT_COMMIT")
                );
            }
        }
    }
    if changed.is_empty() {
        format!("Table and spec files: as committed ({} files)", files.len())
    } else {
        format!(
            "Table and spec files that differ from the commit: {}",
            changed.join(", ")
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GitState {
    Committed,
    Modified,
    Untracked,
}

impl GitState {
    fn as_str(self) -> &'static str {
        match self {
            GitState::Committed => "as committed",
            GitState::Modified => "modified",
            GitState::Untracked => "not committed",
        }
    }
}

/// `git status` of one file, run in its folder; `None` outside a checkout or without git.
fn git_state(file: &Path) -> Option<GitState> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = file.file_name()?;
    let out = std::process::Command::new("git")
        .args(["status", "--porcelain", "--"])
        .arg(name)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(match text.get(..2) {
        None => GitState::Committed,
        Some("??") => GitState::Untracked,
        Some(_) => GitState::Modified,
    })
}

/// The columns of an accuracy table a reader compares.
const SHOWN: [&str; 13] = [
    "row",
    "task",
    "epochs",
    "metric",
    "ours",
    "best_epoch",
    "ours_final",
    "n",
    "published",
    "diff",
    "confirmed",
    "step_ms",
    "state",
];

/// Learning curves (test metric by epoch, one figure a task: the Lipschitz rows solid, the
/// baselines dashed, published values as thin dashed lines) and one figure of the spectra of
/// `A` and `W`, a panel for every Lipschitz row with a checkpoint (its first seed's), in table
/// order. `table` is the `TABLE-PROFILE` name and the profile.
fn figures(
    out: &Path,
    (table, profile): (&str, &str),
    planned: &[Planned],
    records: &[Option<RunRecord>],
    published: &BTreeMap<(String, String), f64>,
) -> Result<()> {
    use crate::report::plot::TableLine;
    let mut by_task: BTreeMap<&str, Vec<TableLine>> = BTreeMap::new();
    let mut panels = Vec::new();
    for (i, (p, r)) in planned.iter().zip(records).enumerate() {
        let Some(r) = r else { continue };
        let Some(m) = r.metrics.metric_name() else {
            continue;
        };
        let label = match p.seed {
            Some(s) => format!("{} s{s}", p.def.label),
            None => p.def.label.clone(),
        };
        let first_of_row = planned.iter().position(|q| q.row == p.row) == Some(i);
        let points = r
            .metrics
            .column("epoch")
            .into_iter()
            .zip(r.metrics.column(&format!("test_{m}")))
            .collect();
        // One published line a row, on its first seed's curve.
        by_task
            .entry(p.spec.task.name())
            .or_default()
            .push(TableLine {
                name: label,
                points,
                dashed: p.spec.model.kind() != "lipschitz",
                published: published
                    .get(&(p.def.label.clone(), p.spec.task.name().to_string()))
                    .copied()
                    .filter(|_| first_of_row),
            });
        if first_of_row && p.spec.model.kind() == "lipschitz" {
            panels.extend(spectrum_panel(p, r)?);
        }
    }
    crate::report::plot::spectra(&out.join(format!("{table}-spectra.svg")), &panels)?;
    for (task, series) in by_task {
        let metric = records
            .iter()
            .flatten()
            .find(|r| r.spec.task.name() == task)
            .and_then(|r| r.metrics.metric_name().map(String::from))
            .unwrap_or_default();
        crate::report::plot::table_curves(
            &out.join(format!("{table}-curves-{task}.svg")),
            &format!(
                "{} ({profile} profile): {task}",
                table.trim_end_matches(&format!("-{profile}"))
            ),
            &format!("test {metric}"),
            &series,
        )?;
    }
    Ok(())
}

/// The spectra panel of a Lipschitz row's run `r`, titled with the row's label and task; `None`
/// without a checkpoint.
fn spectrum_panel(
    p: &Planned,
    r: &RunRecord,
) -> Result<Option<crate::report::plot::SpectrumPanel>> {
    let checkpoint = r.dir.join(runs::CHECKPOINT_FILE);
    if !checkpoint.exists() {
        return Ok(None);
    }
    Ok(Some(crate::report::plot::SpectrumPanel {
        title: format!("{} ({})", p.def.label, p.spec.task.name()),
        sets: crate::report::analysis::stability(&p.spec, &checkpoint)?.1,
        region: crate::report::analysis::stability_region(&p.spec),
    }))
}
