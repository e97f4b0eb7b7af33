//! Runs as child processes (`lrnn run`), several at once with the cores split between
//! them: what `reproduce` and `sweep run` train with. Each child runs in its own process
//! group and logs to its folder's `log.txt`; a signal that stops the parent is passed on.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::experiment::runs::{self, RunRecord};

/// One run to train: its spec, overrides and folder.
pub struct Job {
    /// How progress lines name it.
    pub label: String,
    pub spec_path: PathBuf,
    pub overrides: Vec<String>,
    pub dir: PathBuf,
}

/// Trains `jobs` as child processes, `parallel` at a time, each logging to its folder's
/// `log.txt`, and prints a line as each ends.
pub fn run_jobs(jobs: &[Job], parallel: usize, data_dir: Option<&Path>) {
    let rows = jobs;
    let threads = threads_each(parallel);
    crate::experiment::train::catch_stop_signals();
    let next = AtomicUsize::new(0);
    let exe = std::env::current_exe().expect("the running binary has a path");
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1).min(rows.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(p) = rows.get(i) else { break };
                    let started = Instant::now();
                    if crate::experiment::train::stop_requested().is_some() {
                        break;
                    }
                    let status = run_child(&exe, p, threads, data_dir);
                    let secs = started.elapsed().as_secs_f64();
                    let what = match (&status, RunRecord::read(&p.dir)) {
                        (Ok(ChildEnd::Done), Ok(r)) => {
                            let m = r.metrics.metric_name().unwrap_or("loss").to_string();
                            format!("done, test_{m} {:.4}", r.final_test().unwrap_or(f64::NAN))
                        }
                        (Ok(ChildEnd::Busy), _) => {
                            "in progress in another process; left alone".into()
                        }
                        (Ok(ChildEnd::Interrupted), _) => "interrupted; checkpoint written".into(),
                        (Err(e), _) => format!("could not start: {e}"),
                        _ => format!("FAILED, see {}", p.dir.join(runs::LOG_FILE).display()),
                    };
                    println!(
                        "[{}/{}] {}: {what} ({secs:.0} s)",
                        i + 1,
                        rows.len(),
                        p.label
                    );
                }
            });
        }
    });
}

/// The cores each of `parallel` runs at once trains on: this machine's, split between them.
pub fn threads_each(parallel: usize) -> usize {
    (crate::kernels::blas::cores(None) / parallel.max(1)).max(1)
}

/// How a child run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildEnd {
    Done,
    Failed,
    /// Stopped by a signal sent to `reproduce` and forwarded to it (checkpoint written).
    Interrupted,
    /// Another process trains the row's folder: it was left alone, log and all.
    Busy,
}

/// Trains one run as a child `lrnn run` in its own process group, appending to its
/// `log.txt` (an attempt after an interruption keeps the earlier attempts' lines). A signal
/// that stops this process (SIGINT, SIGTERM, SIGUSR1; the caller catches them) is passed on
/// to the child, which writes its checkpoint and stops; a folder another process trains is
/// not touched.
pub fn run_child(exe: &Path, p: &Job, threads: usize, data_dir: Option<&Path>) -> Result<ChildEnd> {
    use std::os::unix::process::CommandExt;
    // Probe the row's lock before truncating its log: a live run elsewhere keeps both.
    match runs::try_lock(&p.dir)? {
        Some(lock) => drop(lock),
        None => return Ok(ChildEnd::Busy),
    }
    let log_path = p.dir.join(runs::LOG_FILE);
    std::fs::create_dir_all(&p.dir).map_err(|e| Error::io(&p.dir, e))?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io(&log_path, e))?;
    {
        use std::io::Write as _;
        writeln!(log, "== {} {}: {} threads", runs::now(), p.label, threads)
            .map_err(|e| Error::io(&log_path, e))?;
    }
    let err = log.try_clone().map_err(|e| Error::io(&log_path, e))?;
    let mut cmd = Command::new(exe);
    cmd.arg("run").arg(&p.spec_path).arg("--out").arg(&p.dir);
    cmd.arg("--threads").arg(threads.to_string());
    for o in &p.overrides {
        cmd.arg("--set").arg(o);
    }
    if let Some(d) = data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // Its own group: a terminal's Ctrl-C reaches `reproduce`, which decides for it.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(exe, e))?;
    let mut forwarded = false;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::io(exe, e))? {
            break status;
        }
        if let (Some(sig), false) = (crate::experiment::train::stop_requested(), forwarded) {
            // SAFETY: `kill` on the child's process group id; no memory is involved.
            unsafe { libc::kill(-(child.id() as i32), sig) };
            forwarded = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // A signal can also reach the child straight from its sender (Slurm signals every
    // process of a job): its record then says interrupted.
    let interrupted = forwarded
        || runs::RunInfo::read(&p.dir).is_ok_and(|i| i.status == runs::Status::Interrupted);
    Ok(match (status.success(), interrupted) {
        (true, _) => ChildEnd::Done,
        (false, true) => ChildEnd::Interrupted,
        (false, false) => ChildEnd::Failed,
    })
}
