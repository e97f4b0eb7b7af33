//! CIFAR-10 readers: the official binary batches (loose, or inside `cifar-10-binary.tar.gz`) and
//! image folders (`train/<class>/*.{png,jpg,jpeg}`, `test/<class>/…`, loose or inside a
//! `.tar.gz`), decoded to channel-major bytes `[n, 3, 32, 32]` as the binary batches store them.
//!
//! Image folders lose the original order: examples come by class (label order, which for
//! CIFAR-10 is alphabetical), then by file name in byte order (so `10.png` before `2.png`).
//!
//! Decoding 60,000 JPEGs (or gunzipping 160 MB) takes seconds, so archives and folders are
//! decoded once into [`CACHE_FILE`]: a 48-byte header (magic, layout, counts, a fingerprint of
//! the sources' paths, sizes and mtimes, a CRC-32 of the payload), then train images, train
//! labels, test images, test labels. Any mismatch makes the cache stale, never an error.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;

use crate::error::{Error, Result};

/// Class names in label order (CIFAR's `batches.meta.txt`; alphabetical).
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Bytes of one image `[3, 32, 32]`: 1024 R, then 1024 G, then 1024 B, rows top to bottom.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;

/// File name of the decoded cache; the version bumps whenever decoding changes.
pub const CACHE_FILE: &str = "cifar10-decoded-v1.bin";

/// One binary-batch record: the label byte, then the image.
const RECORD: usize = 1 + IMAGE_BYTES;
const TRAIN_BATCHES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST_BATCH: &str = "test_batch.bin";
const BATCH_FOLDER: &str = "cifar-10-batches-bin";
const BINARY_ARCHIVE: &str = "cifar-10-binary.tar.gz";
const SPLITS: [&str; 2] = ["train", "test"];
const CACHE_MAGIC: &[u8; 8] = b"LRNNC10\x01";
const CACHE_HEADER: usize = 48;

/// CIFAR-10 decoded: images u8 channel-major `[n, 3, 32, 32]` (the binary batches' layout:
/// 1024 R, 1024 G, 1024 B), labels 0..=9.
#[derive(Clone, Debug)]
pub struct Cifar10 {
    /// `[50_000 · 3072]` for the full set.
    pub train_images: Vec<u8>,
    /// `[50_000]`, each in 0..=9 (index into [`CLASSES`]).
    pub train_labels: Vec<u8>,
    /// `[10_000 · 3072]` for the full set.
    pub test_images: Vec<u8>,
    /// `[10_000]`, each in 0..=9.
    pub test_labels: Vec<u8>,
    /// Files (or, for a loose image folder, its `train/` and `test/` folders) the data came from.
    pub sources: Vec<PathBuf>,
    /// `"binary"` (official batches) or `"image-folder"` (class folders of PNG/JPEG).
    pub layout: &'static str,
}

impl Cifar10 {
    /// Number of training examples.
    pub fn train_len(&self) -> usize {
        self.train_labels.len()
    }

    /// Number of test examples.
    pub fn test_len(&self) -> usize {
        self.test_labels.len()
    }
}

/// Where the data was found, in order of preference.
enum Source {
    /// Loose batches: `data_batch_1..5.bin`, then `test_batch.bin`.
    Batches(Vec<PathBuf>),
    /// `cifar-10-binary.tar.gz` as downloaded.
    BatchArchive(PathBuf),
    /// A folder holding `train/<class>/…` and `test/<class>/…`.
    ImageDir(PathBuf),
    /// A `.tar.gz` of such folders, possibly under a top-level prefix folder.
    ImageArchive(PathBuf),
}

/// Finds and decodes CIFAR-10 under `dir` (in `dir/cifar10/` or `dir/`), using/creating a decoded cache.
///
/// Loose binary batches are read directly (they already are the decoded form, so caching them
/// would only double the disk use). Everything else is decoded once and cached in `cache_dir`
/// (created if missing; the results directory's `cache/` by default), never in the data
/// directory, which is the user's and may be shared. Failing to write the cache is an error:
/// silently re-decoding on every run would hide it.
pub fn load(dir: &Path, cache_dir: &Path) -> Result<Cifar10> {
    let source = find(dir)?;
    let (layout, root) = match &source {
        Source::Batches(files) => return read_batch_files(files),
        Source::BatchArchive(p) => ("binary", p.clone()),
        Source::ImageDir(p) | Source::ImageArchive(p) => ("image-folder", p.clone()),
    };
    let (sources, listing) = match &source {
        Source::ImageDir(_) => (
            SPLITS.iter().map(|s| root.join(s)).collect(),
            list_image_dir(&root)?,
        ),
        _ => (vec![root.clone()], Vec::new()),
    };
    let fp = fingerprint(layout, &root, &listing)?;

    if let Some(mut data) = read_cache(&cache_dir.join(CACHE_FILE), fp, layout) {
        data.sources = sources;
        return Ok(data);
    }

    let data = match &source {
        Source::BatchArchive(p) => read_batch_archive(p)?,
        Source::ImageArchive(p) => assemble(list_image_archive(p)?, p)?,
        _ => assemble(listing, &root)?,
    };
    fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
    write_cache(&cache_dir.join(CACHE_FILE), fp, &data)?;
    Ok(Cifar10 { sources, ..data })
}

/// Whether `dir` holds CIFAR-10 in some form [`find`] reads.
pub fn has_source(dir: &Path) -> bool {
    find(dir).is_ok()
}

/// Looks for each kind of source in `dir/cifar10/`, then `dir/`, before trying the next kind.
fn find(dir: &Path) -> Result<Source> {
    let places = [dir.join("cifar10"), dir.to_path_buf()];
    for d in &places {
        if let Some(files) = find_batches(d)? {
            return Ok(Source::Batches(files));
        }
    }
    if let Some(p) = places
        .iter()
        .map(|d| d.join(BINARY_ARCHIVE))
        .find(|p| p.is_file())
    {
        return Ok(Source::BatchArchive(p));
    }
    if let Some(d) = places
        .iter()
        .find(|d| SPLITS.iter().all(|s| d.join(s).is_dir()))
    {
        return Ok(Source::ImageDir(d.clone()));
    }
    for d in &places {
        if let Some(p) = find_image_archive(d)? {
            return Ok(Source::ImageArchive(p));
        }
    }
    Err(Error::Data(format!(
        "CIFAR-10 not found: looked in {} and {} for {BATCH_FOLDER}/ (or loose data_batch_1..5.bin \
         + {TEST_BATCH}), {BINARY_ARCHIVE}, train/ + test/ class folders of PNG/JPEG images, \
         or a cifar*.tar.gz / cifar*.tgz of such folders",
        places[0].display(),
        places[1].display()
    )))
}

/// The six batch files in `d/cifar-10-batches-bin/` or `d/`; a partial set is an error, not a miss.
fn find_batches(d: &Path) -> Result<Option<Vec<PathBuf>>> {
    for folder in [d.join(BATCH_FOLDER), d.to_path_buf()] {
        let files: Vec<PathBuf> = batch_names().map(|n| folder.join(n)).collect();
        let missing: Vec<String> = files
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        if missing.is_empty() {
            return Ok(Some(files));
        }
        if missing.len() < files.len() {
            return Err(Error::Data(format!(
                "{}: incomplete CIFAR-10 binary batches, missing {}",
                folder.display(),
                missing.join(", ")
            )));
        }
    }
    Ok(None)
}

/// The first (by name) `cifar*.tar.gz` / `cifar*.tgz` in `d` other than the binary archive.
fn find_image_archive(d: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = fs::read_dir(d) else {
        return Ok(None);
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(d, e))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        let gz = name.ends_with(".tar.gz") || name.ends_with(".tgz");
        if gz && name.starts_with("cifar") && name != BINARY_ARCHIVE && entry.path().is_file() {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found.into_iter().next())
}

// ---------------------------------------------------------------------------------------------
// Binary batches.

/// Appends the records of one batch file; `err` names the file (and archive member).
fn parse_batch(
    bytes: &[u8],
    images: &mut Vec<u8>,
    labels: &mut Vec<u8>,
    err: impl Fn(String) -> Error,
) -> Result<()> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(err(format!(
            "{} bytes is not a positive whole number of {RECORD}-byte records (truncated?)",
            bytes.len()
        )));
    }
    images.reserve(bytes.len() / RECORD * IMAGE_BYTES);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(err(format!("record {i}: label {} outside 0..=9", rec[0])));
        }
        labels.push(rec[0]);
        images.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

/// Error constructor naming a batch file (and the archive member).
type NameErr<'a> = &'a dyn Fn(String) -> Error;

/// Splits the six batches (train 1..5, then test) into train and test sets.
fn from_batches(batches: &[(&[u8], NameErr<'_>)]) -> Result<Cifar10> {
    let mut data = Cifar10 {
        train_images: Vec::new(),
        train_labels: Vec::new(),
        test_images: Vec::new(),
        test_labels: Vec::new(),
        sources: Vec::new(),
        layout: "binary",
    };
    for (i, (bytes, err)) in batches.iter().enumerate() {
        let (images, labels) = if i < TRAIN_BATCHES.len() {
            (&mut data.train_images, &mut data.train_labels)
        } else {
            (&mut data.test_images, &mut data.test_labels)
        };
        parse_batch(bytes, images, labels, err)?;
    }
    Ok(data)
}

fn read_batch_files(files: &[PathBuf]) -> Result<Cifar10> {
    let contents = files
        .iter()
        .map(|p| fs::read(p).map_err(|e| Error::io(p, e)))
        .collect::<Result<Vec<_>>>()?;
    let errs: Vec<_> = files
        .iter()
        .map(|p| move |m: String| Error::format(p, m))
        .collect();
    let batches: Vec<(&[u8], NameErr<'_>)> = contents
        .iter()
        .zip(&errs)
        .map(|(b, e)| (b.as_slice(), e as NameErr<'_>))
        .collect();
    let data = from_batches(&batches)?;
    Ok(Cifar10 {
        sources: files.to_vec(),
        ..data
    })
}

/// Reads the six batches from inside `cifar-10-binary.tar.gz`, matched by file name.
fn read_batch_archive(archive: &Path) -> Result<Cifar10> {
    let mut found: BTreeMap<&'static str, (String, Vec<u8>)> = BTreeMap::new();
    for_each_member(archive, |member, reader| {
        let base = member.rsplit('/').next().unwrap_or(member);
        let Some(name) = batch_names().find(|n| *n == base) else {
            return Ok(());
        };
        let bytes = read_member(archive, member, reader)?;
        if let Some((first, _)) = found.insert(name, (member.to_string(), bytes)) {
            return Err(Error::format(
                archive,
                format!("members {first} and {member} are both {name}"),
            ));
        }
        Ok(())
    })?;
    let mut parts = Vec::new();
    for name in batch_names() {
        let (member, bytes) = found
            .get(name)
            .ok_or_else(|| Error::format(archive, format!("no member named {name}")))?;
        parts.push((member.as_str(), bytes.as_slice()));
    }
    let errs: Vec<_> = parts
        .iter()
        .map(|(member, _)| move |m: String| Error::format(archive, format!("member {member}: {m}")))
        .collect();
    let batches: Vec<(&[u8], NameErr<'_>)> = parts
        .iter()
        .zip(&errs)
        .map(|((_, b), e)| (*b, e as NameErr<'_>))
        .collect();
    from_batches(&batches)
}

/// The six batch names in reading order: train 1..5, then test.
fn batch_names() -> impl Iterator<Item = &'static str> {
    TRAIN_BATCHES.into_iter().chain([TEST_BATCH])
}

// ---------------------------------------------------------------------------------------------
// Archives.

/// Streams the regular files of a `.tar.gz`, calling `f(member name, contents)`, then reads the
/// gzip stream to its end so a truncated or corrupt trailer is caught too.
fn for_each_member(
    archive: &Path,
    mut f: impl FnMut(&str, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file));
    let mut tar = tar::Archive::new(gz);
    let mut last = String::from("(none)");
    let broken = |last: &str, e: io::Error| {
        Error::format(
            archive,
            format!("corrupt or truncated archive (after member {last}): {e}"),
        )
    };
    let entries = tar.entries().map_err(|e| broken(&last, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| broken(&last, e))?;
        let member = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if entry.header().entry_type().is_file() {
            f(&member, &mut entry)?;
        }
        last = member;
    }
    io::copy(tar.into_inner().by_ref(), &mut io::sink()).map_err(|e| broken(&last, e))?;
    Ok(())
}

fn read_member(archive: &Path, member: &str, reader: &mut dyn Read) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| {
        Error::format(
            archive,
            format!("member {member}: {e} (corrupt or truncated archive)"),
        )
    })?;
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// Image folders.

/// One image of an image folder, before decoding.
struct Image {
    /// 0 train, 1 test.
    split: usize,
    class: String,
    name: String,
    data: ImageData,
}

enum ImageData {
    File(PathBuf),
    Member { member: String, bytes: Vec<u8> },
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.starts_with('.')
        && [".png", ".jpg", ".jpeg"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

/// The image files of `root/{train,test}/<class>/`; hidden entries and other files are skipped.
fn list_image_dir(root: &Path) -> Result<Vec<Image>> {
    let read_dir = |d: &Path| -> Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(d).map_err(|e| Error::io(d, e))? {
            let entry = entry.map_err(|e| Error::io(d, e))?;
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
        Ok(out)
    };
    let mut images = Vec::new();
    for (split, split_name) in SPLITS.iter().enumerate() {
        for (class, class_dir) in read_dir(&root.join(split_name))? {
            if class.starts_with('.') || !class_dir.is_dir() {
                continue;
            }
            for (name, path) in read_dir(&class_dir)? {
                if is_image_name(&name) && path.is_file() {
                    images.push(Image {
                        split,
                        class: class.clone(),
                        name,
                        data: ImageData::File(path),
                    });
                }
            }
        }
    }
    sort_images(&mut images);
    Ok(images)
}

/// Members `[prefix/]{train,test}/<class>/<file>.{png,jpg,jpeg}` of a `.tar.gz`; one prefix only.
fn list_image_archive(archive: &Path) -> Result<Vec<Image>> {
    let mut images = Vec::new();
    let mut prefix: Option<(String, String)> = None; // (prefix, first member under it)
    for_each_member(archive, |member, reader| {
        let parts: Vec<&str> = member
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        let n = parts.len();
        if n < 3 || !is_image_name(parts[n - 1]) || parts[n - 2].starts_with('.') {
            return Ok(());
        }
        let Some(split) = SPLITS.iter().position(|s| *s == parts[n - 3]) else {
            return Ok(());
        };
        let here = parts[..n - 3].join("/");
        match &prefix {
            None => prefix = Some((here, member.to_string())),
            Some((p, first)) if *p != here => {
                return Err(Error::format(
                    archive,
                    format!("members {first} and {member} lie under different top-level folders"),
                ));
            }
            Some(_) => {}
        }
        images.push(Image {
            split,
            class: parts[n - 2].to_string(),
            name: parts[n - 1].to_string(),
            data: ImageData::Member {
                member: member.to_string(),
                bytes: read_member(archive, member, reader)?,
            },
        });
        Ok(())
    })?;
    sort_images(&mut images);
    Ok(images)
}

/// Split, then class name, then file name: the documented example order.
fn sort_images(images: &mut [Image]) {
    images.sort_unstable_by(|a, b| (a.split, &a.class, &a.name).cmp(&(b.split, &b.class, &b.name)));
}

/// Checks the classes of each split and decodes the (sorted) images in parallel.
fn assemble(images: Vec<Image>, origin: &Path) -> Result<Cifar10> {
    let mut sets: [Vec<Image>; 2] = [Vec::new(), Vec::new()];
    for img in images {
        sets[img.split].push(img);
    }
    let mut decoded = Vec::new();
    for (split_name, set) in SPLITS.iter().zip(&sets) {
        if set.is_empty() {
            return Err(Error::format(
                origin,
                format!("no images in {split_name}/<class>/*.{{png,jpg,jpeg}}"),
            ));
        }
        let mut classes: Vec<&str> = set.iter().map(|i| i.class.as_str()).collect();
        classes.dedup(); // sorted by class already
        if classes != CLASSES {
            return Err(Error::format(
                origin,
                format!(
                    "{split_name}/ has {} classes [{}], expected the 10 CIFAR-10 classes [{}]",
                    classes.len(),
                    classes.join(", "),
                    CLASSES.join(", ")
                ),
            ));
        }
        if let Some(w) = set
            .windows(2)
            .find(|w| w[0].class == w[1].class && w[0].name == w[1].name)
        {
            return Err(Error::format(
                origin,
                format!("{split_name}/{}/{} appears twice", w[0].class, w[0].name),
            ));
        }
        let labels: Vec<u8> = set
            .iter()
            .map(|i| CLASSES.iter().position(|c| *c == i.class).unwrap_or(0) as u8)
            .collect();
        let mut pixels = vec![0u8; set.len() * IMAGE_BYTES];
        pixels
            .par_chunks_mut(IMAGE_BYTES)
            .zip(set.par_iter())
            .try_for_each(|(dst, img)| decode_image(img, origin, dst))?;
        decoded.push((pixels, labels));
    }
    let (test_images, test_labels) = decoded.pop().unwrap_or_default();
    let (train_images, train_labels) = decoded.pop().unwrap_or_default();
    Ok(Cifar10 {
        train_images,
        train_labels,
        test_images,
        test_labels,
        sources: Vec::new(),
        layout: "image-folder",
    })
}

/// Decodes one image into `dst` `[3, 32, 32]`; errors name the file, or the archive and member.
fn decode_image(img: &Image, archive: &Path, dst: &mut [u8]) -> Result<()> {
    match &img.data {
        ImageData::File(path) => {
            let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
            decode_rgb(&bytes, dst).map_err(|m| Error::format(path, m))
        }
        ImageData::Member { member, bytes } => decode_rgb(bytes, dst)
            .map_err(|m| Error::format(archive, format!("member {member}: {m}"))),
    }
}

/// PNG or JPEG (told by content, not name) of exactly 32×32, to RGB channel-major.
fn decode_rgb(bytes: &[u8], dst: &mut [u8]) -> std::result::Result<(), String> {
    let reader = || {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())
    };
    // The header alone first, so a huge or odd-sized image is refused before it is decoded.
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| format!("not a readable PNG or JPEG image: {e}"))?;
    if (w, h) != (32, 32) {
        return Err(format!("image is {w}×{h}, expected 32×32"));
    }
    let rgb = reader()?
        .decode()
        .map_err(|e| format!("not a readable PNG or JPEG image: {e}"))?
        .to_rgb8();
    let raw = rgb.as_raw();
    if raw.len() != IMAGE_BYTES {
        return Err(format!(
            "decoded to {} bytes, expected {IMAGE_BYTES}",
            raw.len()
        ));
    }
    let (r, rest) = dst.split_at_mut(1024);
    let (g, b) = rest.split_at_mut(1024);
    for (i, px) in raw.chunks_exact(3).enumerate() {
        r[i] = px[0];
        g[i] = px[1];
        b[i] = px[2];
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The decoded cache.

/// FNV-1a 64: stable across Rust versions, unlike `DefaultHasher`; inputs here are small.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn stamp(&mut self, path: &Path) -> Result<()> {
        let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        self.write(&meta.len().to_le_bytes());
        self.write(&mtime.as_secs().to_le_bytes());
        self.write(&mtime.subsec_nanos().to_le_bytes());
        Ok(())
    }
}

/// Hash of the layout, the source's absolute path, and the size + mtime of the archive or, for
/// a loose folder, of every image in it.
fn fingerprint(layout: &str, source: &Path, images: &[Image]) -> Result<u64> {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(CACHE_FILE.as_bytes());
    h.write(layout.as_bytes());
    let abs = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    h.write(abs.as_os_str().as_encoded_bytes());
    if images.is_empty() {
        h.stamp(source)?;
    }
    for img in images {
        if let ImageData::File(path) = &img.data {
            h.write(path.as_os_str().as_encoded_bytes());
            h.write(&[0]);
            h.stamp(path)?;
        }
    }
    Ok(h.0)
}

fn payload_crc(data: &Cifar10) -> u32 {
    let mut crc = flate2::Crc::new();
    for part in [
        &data.train_images,
        &data.train_labels,
        &data.test_images,
        &data.test_labels,
    ] {
        crc.update(part);
    }
    crc.sum()
}

fn layout_code(layout: &str) -> u32 {
    u32::from(layout == "image-folder")
}

/// Writes the cache via a temporary file and a rename, so readers never see half a cache.
fn write_cache(path: &Path, fp: u64, data: &Cifar10) -> Result<()> {
    // Unique per process and call, so concurrent loads never share a temporary file.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!("{CACHE_FILE}.tmp{}-{call}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        let mut header = Vec::with_capacity(CACHE_HEADER);
        header.extend_from_slice(CACHE_MAGIC);
        header.extend_from_slice(&layout_code(data.layout).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&(data.train_len() as u64).to_le_bytes());
        header.extend_from_slice(&(data.test_len() as u64).to_le_bytes());
        header.extend_from_slice(&fp.to_le_bytes());
        header.extend_from_slice(&payload_crc(data).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        w.write_all(&header)?;
        w.write_all(&data.train_images)?;
        w.write_all(&data.train_labels)?;
        w.write_all(&data.test_images)?;
        w.write_all(&data.test_labels)?;
        // No fsync: a cache torn by a crash fails its length or CRC check and is rebuilt.
        w.into_inner().map_err(|e| e.into_error())?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The cached data if `path` holds a complete, intact cache for this fingerprint; else `None`.
fn read_cache(path: &Path, fp: u64, layout: &'static str) -> Option<Cifar10> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut header = [0u8; CACHE_HEADER];
    file.read_exact(&mut header).ok()?;
    let u32_at = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().unwrap_or_default());
    let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().unwrap_or_default());
    let (n_train, n_test) = (u64_at(16), u64_at(24));
    let expected_len = n_train
        .checked_add(n_test)?
        .checked_mul(RECORD as u64)?
        .checked_add(CACHE_HEADER as u64)?;
    if &header[..8] != CACHE_MAGIC
        || u32_at(8) != layout_code(layout)
        || u64_at(32) != fp
        || expected_len != len
    {
        return None;
    }
    let (n_train, n_test) = (n_train as usize, n_test as usize);
    let mut read = |n: usize| -> Option<Vec<u8>> {
        let mut v = vec![0u8; n];
        file.read_exact(&mut v).ok()?;
        Some(v)
    };
    let data = Cifar10 {
        train_images: read(n_train * IMAGE_BYTES)?,
        train_labels: read(n_train)?,
        test_images: read(n_test * IMAGE_BYTES)?,
        test_labels: read(n_test)?,
        sources: Vec::new(),
        layout,
    };
    let labels_ok = data
        .train_labels
        .iter()
        .chain(&data.test_labels)
        .all(|&l| l < 10);
    (labels_ok && payload_crc(&data) == u32_at(40)).then_some(data)
}
