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
    /// `--tag`s for its run.json (`reproduce` tags its rows `TABLE-PROFILE`).
    pub tags: Vec<String>,
}

/// Where a child's progress goes: the epoch and step lines of its `log.txt`, live.
enum Progress {
    /// A spinner a running job on a terminal, its message the job's latest line.
    Bars(indicatif::MultiProgress),
    /// Each line printed as `  LABEL: line` (a pipe, a log file).
    Lines,
}

impl Progress {
    /// Bars on a terminal, plain lines otherwise.
    fn for_stdout() -> Self {
        use std::io::IsTerminal as _;
        if std::io::stdout().is_terminal() {
            Progress::Bars(indicatif::MultiProgress::new())
        } else {
            Progress::Lines
        }
    }

    /// A handle for one job's lines.
    fn start(&self, label: &str) -> Option<indicatif::ProgressBar> {
        match self {
            Progress::Bars(m) => {
                let bar = m.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {prefix}: {msg} ({elapsed})",
                    )
                    .expect("a valid template"),
                );
                bar.set_prefix(label.to_string());
                bar.enable_steady_tick(std::time::Duration::from_millis(200));
                Some(bar)
            }
            Progress::Lines => None,
        }
    }

    fn line(&self, bar: Option<&indicatif::ProgressBar>, label: &str, line: &str) {
        match (self, bar) {
            (Progress::Bars(_), Some(bar)) => bar.set_message(line.to_string()),
            (Progress::Bars(_), None) => {}
            (Progress::Lines, _) => println!("  {label}: {line}"),
        }
    }

    /// A line that stays (a job's end), printed above any bars.
    fn println(&self, text: &str) {
        match self {
            Progress::Bars(m) => {
                let _ = m.println(text);
            }
            Progress::Lines => println!("{text}"),
        }
    }
}

/// Trains `jobs` as child processes, `parallel` at a time, each logging to its folder's
/// `log.txt`, shows their epoch and step lines live, and prints a line as each ends.
pub fn run_jobs(jobs: &[Job], parallel: usize, data_dir: Option<&Path>) {
    let rows = jobs;
    let threads = threads_each(parallel);
    let progress = Progress::for_stdout();
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
                    let bar = progress.start(&p.label);
                    let status = run_child(&exe, p, threads, data_dir, &|line: &str| {
                        progress.line(bar.as_ref(), &p.label, line)
                    });
                    if let Some(bar) = bar {
                        bar.finish_and_clear();
                    }
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
                    progress.println(&format!(
                        "[{}/{}] {}: {what} ({secs:.0} s)",
                        i + 1,
                        rows.len(),
                        p.label
                    ));
                }
            });
        }
    });
}

/// The cores each of `parallel` runs at once trains on: this machine's, split between them.
pub fn threads_each(parallel: usize) -> usize {
    (crate::kernels::blas::cores(None) / parallel.max(1)).max(1)
}

/// The lines appended to a file since the last look (a child's `log.txt`).
struct Tail {
    path: PathBuf,
    pos: u64,
    partial: String,
}

impl Tail {
    fn at_end(path: &Path) -> Self {
        let pos = std::fs::metadata(path).map_or(0, |m| m.len());
        Tail {
            path: path.to_path_buf(),
            pos,
            partial: String::new(),
        }
    }

    /// Complete lines written since the last call; a line still being written waits.
    fn new_lines(&mut self) -> Vec<String> {
        use std::io::{Read as _, Seek as _};
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut buf = Vec::new();
        if f.seek(std::io::SeekFrom::Start(self.pos)).is_err() || f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.pos += buf.len() as u64;
        // Progress bars rewrite a line with `\r`; each piece is a line of its own here.
        self.partial
            .push_str(&String::from_utf8_lossy(&buf).replace('\r', "\n"));
        let mut lines: Vec<String> = self.partial.split('\n').map(str::to_string).collect();
        self.partial = lines.pop().unwrap_or_default();
        lines.retain(|l| !l.trim().is_empty());
        lines
    }
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
/// not touched. `on_line` gets each epoch or step line the child logs, as it comes.
pub fn run_child(
    exe: &Path,
    p: &Job,
    threads: usize,
    data_dir: Option<&Path>,
    on_line: &dyn Fn(&str),
) -> Result<ChildEnd> {
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
    for t in &p.tags {
        cmd.arg("--tag").arg(t);
    }
    let mut tail = Tail::at_end(&log_path);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // Its own group: a terminal's Ctrl-C reaches `reproduce`, which decides for it.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(exe, e))?;
    let mut forwarded = false;
    let mut polls = 0usize;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::io(exe, e))? {
            break status;
        }
        polls += 1;
        if polls % 10 == 0 {
            for line in tail.new_lines() {
                let line = line.trim();
                if line.starts_with("epoch ")
                    || line.starts_with("resuming")
                    || line.starts_with("extending")
                {
                    on_line(line);
                }
            }
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
