//! The repository's own contracts: every spec and table row resolves, every published label a
//! table names exists in `baselines/`, and the committed reference runs keep their run ids.

use std::path::{Path, PathBuf};

use lrnn::experiment::runs;
use lrnn::experiment::spec::Spec;
use lrnn::report::reproduce::{RowDef, TableDef, read_published, table_names};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

/// Calls `f` with each table's name, each profile and row, the row's spec path and its spec
/// resolved as `reproduce` resolves it (the profile's overrides, then the row's).
fn each_table_row(mut f: impl FnMut(&str, &str, &RowDef, &Path, Spec)) {
    for name in table_names(&root()) {
        let (path, def) = TableDef::load(&root(), &name).unwrap();
        assert!(!def.rows.is_empty(), "{name}: no rows");
        for (profile, p) in &def.profiles {
            for row in &def.rows {
                let spec_path = path.parent().unwrap().join(&row.spec);
                let mut set = p.set.clone();
                set.extend(row.set.iter().cloned());
                let spec = Spec::load(&spec_path, &set)
                    .unwrap_or_else(|e| panic!("{name} {profile} {}: {e}", row.label));
                f(&name, profile, row, &spec_path, spec);
            }
        }
    }
}

#[test]
fn every_spec_parses_and_resolves() {
    let mut files = Vec::new();
    toml_files(&root().join("experiments"), &mut files);
    let specs: Vec<_> = files
        .iter()
        .filter(|p| {
            !p.starts_with(root().join("experiments/tables"))
                && !p.starts_with(root().join("experiments/sweeps"))
        })
        .collect();
    assert!(specs.len() >= 25, "found only {} specs", specs.len());
    for p in specs {
        let spec = Spec::load(p, &[]).unwrap_or_else(|e| panic!("{e}"));
        // The resolved spec reads back to itself, so a run folder's spec.toml is this spec.
        let again = Spec::from_table(p, spec.to_toml().parse().unwrap()).unwrap();
        assert_eq!(again, spec, "{}", p.display());
    }
}

#[test]
fn every_sweep_plans() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    toml_files(&root().join("experiments/sweeps"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let plan = lrnn::report::sweep::plan(&f, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.active().count() > 0, "{}", f.display());
    }
}

#[test]
fn every_table_row_resolves_under_every_profile_and_its_published_label_exists() {
    let published = read_published(&root().join("baselines")).unwrap();
    let tables = table_names(&root());
    assert!(tables.len() >= 4, "tables: {tables:?}");
    each_table_row(|name, _profile, row, _path, spec| {
        if let Some(model) = &row.published {
            let task = spec.task.name();
            assert!(
                published
                    .iter()
                    .any(|b| b.table == name && b.task == task && &b.model == model),
                "{name}: row {} names `{model}` ({task}), which no baselines/*.csv row has",
                row.label
            );
        }
    });
}

/// A full-schedule run under `results/reference/<task>/<run>/` resumes only if its spec still
/// hashes to its folder's id: code changes that keep the numerics must keep these ids.
#[test]
fn reference_runs_keep_their_run_ids() {
    let reference = root().join("results/reference");
    let Ok(tasks) = std::fs::read_dir(&reference) else {
        println!("skipped: no results/reference");
        return;
    };
    let mut checked = 0;
    for task in tasks.flatten() {
        // Beside the run folders: tables and sweeps copied there as measured (no run.json).
        let Ok(entries) = std::fs::read_dir(task.path()) else {
            continue;
        };
        for run in entries
            .flatten()
            .filter(|r| r.path().join(runs::RUN_FILE).is_file())
        {
            let name = run.file_name().to_string_lossy().into_owned();
            let task_name = task.file_name().to_string_lossy().into_owned();
            // `<spec name>-s<seed>-<hash>`: the spec is experiments/<task>/<spec name>.toml.
            let stem = name.rsplitn(3, '-').nth(2).expect("<spec>-s<seed>-<hash>");
            let spec_path = root().join(format!("experiments/{task_name}/{stem}.toml"));
            let spec = Spec::load(&spec_path, &[]).unwrap();
            assert_eq!(
                runs::run_id(&spec, stem),
                format!("{task_name}/{name}"),
                "{} no longer hashes to its reference run",
                spec_path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 0 || std::fs::read_dir(&reference).unwrap().next().is_none());
}

/// A table's runs committed under `results/reference/<profile>/runs/<task>/<run>/` (the medium
/// tables, resumed across sessions by `reproduce --results results/reference/<profile>`) resume
/// only if some row of some table, at that profile, still hashes to the folder's id.
#[test]
fn reference_profile_runs_keep_their_run_ids() {
    let mut expected = std::collections::HashSet::new();
    each_table_row(|_name, profile, _row, spec_path, spec| {
        let stem = runs::spec_name(spec_path);
        expected.insert(format!("{profile}/{}", runs::run_id(&spec, &stem)));
    });
    let mut checked = 0;
    for profile in ["smoke", "quick", "medium", "full"] {
        let Ok(tasks) =
            std::fs::read_dir(root().join("results/reference").join(profile).join("runs"))
        else {
            continue;
        };
        for task in tasks.flatten() {
            for run in std::fs::read_dir(task.path()).unwrap().flatten() {
                if !run.path().join(runs::RUN_FILE).is_file() {
                    continue;
                }
                let id = format!(
                    "{profile}/{}/{}",
                    task.file_name().to_string_lossy(),
                    run.file_name().to_string_lossy()
                );
                assert!(
                    expected.contains(&id),
                    "{id}: no table row at this profile hashes to it any more"
                );
                checked += 1;
            }
        }
    }
    println!("{checked} profile run folder(s) checked");
}
