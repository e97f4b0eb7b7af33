//! Data sets fetched on first use, against an HTTP server this test starts on 127.0.0.1 (the
//! machine has no internet): a whole download, one cut off mid-file and resumed by a range
//! request, a corrupted one refused by its MD5, an unreachable server, `--no-download`, and
//! `lrnn run` fetching MNIST into a fresh data directory.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use lrnn::data::download::{self, Resource};

/// What the server does with a request for a file.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Whole,
    /// Announces the whole length, sends half, closes (then serves whole with ranges).
    CutOnce,
    /// Serves the file with a byte flipped.
    Corrupt,
}

/// A one-thread HTTP/1.1 server of `files` (name → bytes) with `Range: bytes=N-` support.
/// Returns its base URL and the log of `(path, range start)` requests.
fn serve(files: Vec<(String, Vec<u8>)>, mode: Mode) -> (String, Arc<Mutex<Vec<(String, u64)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        let mut cut = mode == Mode::CutOnce;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (path, start) = request(&stream);
            seen.lock().unwrap().push((path.clone(), start));
            let name = path.trim_start_matches('/');
            let Some((_, bytes)) = files.iter().find(|(n, _)| n == name) else {
                reply(stream, "404 Not Found", &[], b"");
                continue;
            };
            if start as usize >= bytes.len() {
                reply(stream, "416 Range Not Satisfiable", &[], b"");
                continue;
            }
            let mut body = bytes[start as usize..].to_vec();
            if mode == Mode::Corrupt {
                body[0] ^= 0xff;
            }
            let range = format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len());
            let status = if start > 0 {
                "206 Partial Content"
            } else {
                "200 OK"
            };
            let headers = [("Content-Range", range.as_str())];
            if cut {
                cut = false;
                let mut s = stream;
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body[..body.len() / 2]);
                continue; // dropped: the connection closes mid-body
            }
            reply(
                stream,
                status,
                if start > 0 { &headers[..] } else { &[] },
                &body,
            );
        }
    });
    (base, log)
}

/// The request's path and the start of its `Range: bytes=N-` (0 without one).
fn request(stream: &TcpStream) -> (String, u64) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut start = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            start = v.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    (path, start)
}

fn reply(mut s: TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let _ = s.flush();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

fn md5_of(bytes: &[u8], dir: &Path) -> String {
    let p = dir.join("md5-input");
    std::fs::write(&p, bytes).unwrap();
    download::md5_file(&p).unwrap()
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn resource(dir: &Path, base: &str, bytes: &[u8]) -> Resource {
    Resource {
        path: "set/file.bin".into(),
        url: format!("{base}/file.bin"),
        md5: md5_of(bytes, dir),
    }
}

#[test]
fn md5_is_the_published_kind() {
    let dir = tempfile::tempdir().unwrap();
    // RFC 1321's test vector.
    assert_eq!(
        md5_of(b"abc", dir.path()),
        "900150983cd24fb0d6963f7d28e17f72"
    );
}

#[test]
fn a_whole_download_lands_atomically_after_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = payload(300_000);
    let (base, _) = serve(vec![("file.bin".into(), bytes.clone())], Mode::Whole);
    let r = resource(dir.path(), &base, &bytes);
    let got = download::fetch(dir.path(), &r).unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), bytes);
    assert!(!dir.path().join("set/file.bin.part").exists());
}

#[test]
fn a_cut_download_keeps_its_part_and_resumes_with_a_range_request() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = payload(400_000);
    let (base, log) = serve(vec![("file.bin".into(), bytes.clone())], Mode::CutOnce);
    let r = resource(dir.path(), &base, &bytes);
    let err = download::fetch(dir.path(), &r).unwrap_err().to_string();
    assert!(
        err.contains("stopped after") && err.contains("run again to resume"),
        "{err}"
    );
    let part = dir.path().join("set/file.bin.part");
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < bytes.len() as u64, "{kept}");
    assert!(!dir.path().join("set/file.bin").exists());
    let got = download::fetch(dir.path(), &r).unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), bytes);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].1, kept, "the second request asks for the rest");
}

/// A part that is already whole (its writer died before the rename): the server has nothing
/// past its end (416), and the checksum lets it into place.
#[test]
fn a_whole_part_left_behind_is_checked_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = payload(20_000);
    let (base, log) = serve(vec![("file.bin".into(), bytes.clone())], Mode::Whole);
    let r = resource(dir.path(), &base, &bytes);
    std::fs::create_dir_all(dir.path().join("set")).unwrap();
    std::fs::write(dir.path().join("set/file.bin.part"), &bytes).unwrap();
    let got = download::fetch(dir.path(), &r).unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), bytes);
    assert_eq!(log.lock().unwrap()[0].1, bytes.len() as u64);
}

#[test]
fn a_corrupt_download_is_refused_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = payload(50_000);
    let (base, _) = serve(vec![("file.bin".into(), bytes.clone())], Mode::Corrupt);
    let r = resource(dir.path(), &base, &bytes);
    let err = download::fetch(dir.path(), &r).unwrap_err().to_string();
    assert!(
        err.contains("MD5") && err.contains(&r.md5) && err.contains("corrupt"),
        "{err}"
    );
    assert!(!dir.path().join("set/file.bin").exists());
    assert!(!dir.path().join("set/file.bin.part").exists());
}

#[test]
fn an_unreachable_server_is_one_line_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = Resource {
        path: "x.bin".into(),
        url: format!("http://127.0.0.1:{port}/x.bin"),
        md5: "0".repeat(32),
    };
    let err = download::fetch(dir.path(), &r).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("could not download http://127.0.0.1:{port}/x.bin")),
        "{err}"
    );
    assert!(!err.contains('\n') && err.contains("by hand"), "{err}");
}

/// End to end: `lrnn run` of an MNIST spec with a fresh, empty data directory fetches the
/// four files from the mirror (here: generated MNIST-format files, whose MD5 is not the
/// official one, so the run must stop at the first file, remove it and say so), and
/// `--no-download` refuses before any request.
#[test]
fn run_fetches_a_missing_data_set_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = common::write_fake_mnist(&d.join("src"), 64, 32, true);
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    assert_eq!(files.len(), 4);
    let (base, log) = serve(files, Mode::Whole);
    std::fs::write(d.join("s.toml"), common::tiny_spec("")).unwrap();
    std::fs::create_dir(d.join("empty")).unwrap();
    let run = |extra: &[&str]| {
        let args = [&["run", "s.toml", "--data-dir", "empty"], extra].concat();
        common::lrnn_command(d, &args)
            .env("LRNN_DOWNLOAD_MIRROR", &base)
            .env_remove("LRNN_NO_DOWNLOAD")
            .output()
            .unwrap()
    };
    let refused = run(&["--no-download"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        err.contains("downloads are off") && err.contains(&base),
        "{err}"
    );
    assert!(
        log.lock().unwrap().is_empty(),
        "--no-download made a request"
    );

    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("MD5") && err.contains("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "{err}"
    );
    assert_eq!(log.lock().unwrap()[0].0, "/train-images-idx3-ubyte.gz");
    let left: Vec<_> = std::fs::read_dir(d.join("empty/mnist")).unwrap().collect();
    assert!(left.is_empty(), "a corrupt download left files: {left:?}");
}
