//! TensorBoard event files of a run (`lrnn run --tensorboard`, or `LRNN_TENSORBOARD=1`, which
//! `reproduce` and sweeps pass on to their runs): the rows of `steps.csv` as `train/loss`,
//! `train/grad_norm`, `train/lr`, `train/step_s`, and each epoch's `metrics.csv` columns as
//! `epoch/<column>`, at the global step, in `tb/` of the run folder, so
//! `tensorboard --logdir results/runs` shows every run. Written with the `tfrecord` crate.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use tfrecord::EventWriter;
use tfrecord::protobuf::event::What;
use tfrecord::protobuf::session_log::SessionStatus;
use tfrecord::protobuf::{Event, SessionLog};

use crate::error::{Error, Result};

/// The folder of a run's event files.
pub const TB_DIR: &str = "tb";

/// Whether runs write event files without `--tensorboard`: `LRNN_TENSORBOARD` set to
/// anything but empty or `0`.
pub fn from_env() -> bool {
    std::env::var("LRNN_TENSORBOARD").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// One event file, opened by one training process.
pub struct Board {
    path: PathBuf,
    writer: EventWriter<BufWriter<File>>,
}

impl Board {
    /// A new event file in `run_dir/tb/`. A resumed run (`resumed_at`: the global step of its
    /// checkpoint) starts with a START session marker there, on which TensorBoard drops the
    /// events an interrupted process wrote after the checkpoint; they are recomputed.
    pub fn open(run_dir: &Path, resumed_at: Option<i64>) -> Result<Board> {
        let dir = run_dir.join(TB_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // TensorBoard reads files named `*tfevents*`, in name order: seconds, then pid.
        let path = dir.join(format!(
            "events.out.tfevents.{:010}.lrnn.{}",
            now.as_secs(),
            std::process::id()
        ));
        let writer =
            EventWriter::create(&path, Default::default()).map_err(|e| tb_err(&path, e))?;
        let mut board = Board { path, writer };
        board.event(0, What::FileVersion("brain.Event:2".into()))?;
        if let Some(step) = resumed_at {
            let log = SessionLog {
                status: SessionStatus::Start as i32,
                ..Default::default()
            };
            board.event(step, What::SessionLog(log))?;
        }
        Ok(board)
    }

    /// `value` of `tag` at global step `step`.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<()> {
        let meta = tfrecord::EventMeta::new(step, wall_time());
        self.writer
            .write_scalar(tag, meta, value as f32)
            .map_err(|e| tb_err(&self.path, e))
    }

    fn event(&mut self, step: i64, what: What) -> Result<()> {
        let event = Event {
            wall_time: wall_time(),
            step,
            what: Some(what),
            ..Default::default()
        };
        self.writer
            .write_event(event)
            .map_err(|e| tb_err(&self.path, e))
    }
}

/// Seconds since the Unix epoch, as TensorBoard's wall time.
fn wall_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn tb_err(path: &Path, e: tfrecord::Error) -> Error {
    Error::format(path, format!("TensorBoard event file: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scalars written come back from the file through the crate's own reader, after the
    /// file-version event, and a resumed board opens with a START marker at its step.
    #[test]
    fn scalars_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Board::open(dir.path(), Some(40)).unwrap();
        b.scalar("train/loss", 41, 2.5).unwrap();
        b.scalar("epoch/val_acc", 50, 0.75).unwrap();
        let path = b.path.clone();
        drop(b);
        let events: Vec<Event> = tfrecord::EventIter::open(&path, Default::default())
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert!(matches!(&events[0].what, Some(What::FileVersion(v)) if v == "brain.Event:2"));
        assert!(
            matches!(&events[1].what, Some(What::SessionLog(l)) if l.status == SessionStatus::Start as i32)
        );
        assert_eq!(events[1].step, 40);
        let scalars: Vec<(String, i64, f32)> = events[2..]
            .iter()
            .map(|e| match &e.what {
                Some(What::Summary(s)) => {
                    let v = &s.value[0];
                    let x = match v.value {
                        Some(tfrecord::protobuf::summary::value::Value::SimpleValue(x)) => x,
                        _ => panic!("not a scalar: {v:?}"),
                    };
                    (v.tag.clone(), e.step, x)
                }
                other => panic!("not a summary: {other:?}"),
            })
            .collect();
        assert_eq!(
            scalars,
            vec![
                ("train/loss".to_string(), 41, 2.5),
                ("epoch/val_acc".to_string(), 50, 0.75)
            ]
        );
    }
}
