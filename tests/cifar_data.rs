//! The CIFAR-10 readers on small generated files in each real format (binary batches, loose and
//! in `cifar-10-binary.tar.gz`; PNG/JPEG class folders, loose and in a `.tar.gz`), the decoded
//! cache, broken files, and — when `LRNN_DATA_DIR` points at it — the real image archive.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use lrnn::data::cifar::{self, CACHE_FILE, CLASSES, Cifar10, IMAGE_BYTES};

const RECORD: usize = 1 + IMAGE_BYTES;
const BATCHES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

// ---------------------------------------------------------------------------------------------
// Generators.

/// Batch `b` (0..5 train, 5 test): `n` records whose label and pixels depend on `(b, i)`.
fn batch_bytes(b: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * RECORD);
    for i in 0..n {
        out.push(((b * 3 + i) % 10) as u8);
        out.extend((0..IMAGE_BYTES).map(|j| ((b * 31 + i * 7 + j) % 251) as u8));
    }
    out
}

/// Five train batches of 3 records and a test batch of 2, as `(file name, bytes)`.
fn batches() -> Vec<(&'static str, Vec<u8>)> {
    BATCHES
        .iter()
        .enumerate()
        .map(|(b, name)| (*name, batch_bytes(b, if b < 5 { 3 } else { 2 })))
        .collect()
}

fn write_batches(folder: &Path) {
    fs::create_dir_all(folder).unwrap();
    for (name, bytes) in batches() {
        fs::write(folder.join(name), bytes).unwrap();
    }
}

/// A `.tar.gz` of `(member, bytes)`, with folder entries for the members' parents.
fn tar_gz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(enc);
    let mut dirs = std::collections::BTreeSet::new();
    for (path, bytes) in members {
        let parent = Path::new(path)
            .parent()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if !parent.is_empty() && dirs.insert(parent.clone()) {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_cksum();
            tar.append_data(&mut h, format!("{parent}/"), &[][..])
                .unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        h.set_cksum();
        tar.append_data(&mut h, path, &bytes[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The official archive's layout, members in a shuffled order plus the metadata file.
fn binary_archive() -> Vec<u8> {
    let mut members: Vec<(String, Vec<u8>)> = batches()
        .into_iter()
        .map(|(n, b)| (format!("cifar-10-batches-bin/{n}"), b))
        .collect();
    members.reverse();
    members.insert(
        2,
        (
            "cifar-10-batches-bin/batches.meta.txt".into(),
            CLASSES.join("\n").into_bytes(),
        ),
    );
    tar_gz(&members)
}

/// RGB pixels `[32, 32, 3]` of image `k`: a flat colour when `flat`, else a gradient.
fn pixels(k: usize, flat: bool) -> Vec<u8> {
    let mut px = Vec::with_capacity(IMAGE_BYTES);
    for y in 0..32 {
        for x in 0..32 {
            if flat {
                px.extend([
                    (k * 23 % 256) as u8,
                    (k * 57 % 256) as u8,
                    (k * 91 % 256) as u8,
                ]);
            } else {
                px.extend([(x * 8) as u8, (y * 8) as u8, ((x + y + k) % 256) as u8]);
            }
        }
    }
    px
}

/// `[32, 32, 3]` → `[3, 32, 32]`.
fn channel_major(px: &[u8]) -> Vec<u8> {
    (0..3)
        .flat_map(|c| (0..1024).map(move |i| px[i * 3 + c]))
        .collect()
}

fn encode(px: &[u8], w: u32, h: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_raw(w, h, px.to_vec()).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// One image of the fake folder set: where it goes, its file bytes, the expected `[3, 32, 32]`,
/// and whether it is lossy (JPEG).
struct Fake {
    rel: String,
    bytes: Vec<u8>,
    expect: Vec<u8>,
    lossy: bool,
}

/// Per class: train `a.png` (gradient), `b.jpg` (flat), `c.jpeg` (flat); test `t.png` (flat).
/// Returned in the reader's order: split, class, file name.
fn fake_images() -> Vec<Fake> {
    let mut out = Vec::new();
    for (split, names) in [
        ("train", &["a.png", "b.jpg", "c.jpeg"][..]),
        ("test", &["t.png"][..]),
    ] {
        for (c, class) in CLASSES.iter().enumerate() {
            for (j, name) in names.iter().enumerate() {
                let k = c * 4 + j + if split == "test" { 3 } else { 0 };
                let png = name.ends_with(".png");
                let px = pixels(k, split == "test" || !png);
                let format = if png {
                    image::ImageFormat::Png
                } else {
                    image::ImageFormat::Jpeg
                };
                out.push(Fake {
                    rel: format!("{split}/{class}/{name}"),
                    bytes: encode(&px, 32, 32, format),
                    expect: channel_major(&px),
                    lossy: !png,
                });
            }
        }
    }
    out
}

fn write_image_folder(root: &Path) {
    for f in fake_images() {
        let path = root.join(&f.rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, &f.bytes).unwrap();
    }
    // Not images: skipped.
    fs::write(root.join("train/README.txt"), "hello").unwrap();
    fs::write(root.join("train/cat/notes.txt"), "meow").unwrap();
    fs::create_dir_all(root.join("train/.cache")).unwrap();
}

fn image_archive(prefix: &str) -> Vec<u8> {
    let mut members: Vec<(String, Vec<u8>)> = fake_images()
        .into_iter()
        .map(|f| (format!("{prefix}{}", f.rel), f.bytes))
        .collect();
    members.reverse(); // the reader sorts; archive order must not matter
    members.push((format!("{prefix}train/dog/Thumbs.db"), vec![0; 10]));
    members.push((format!("{prefix}README.md"), b"readme".to_vec()));
    tar_gz(&members)
}

// ---------------------------------------------------------------------------------------------
// Checks.

fn check_binary(d: &Cifar10) {
    assert_eq!(d.layout, "binary");
    assert_eq!((d.train_len(), d.test_len()), (15, 2));
    assert_eq!(d.train_images.len(), 15 * IMAGE_BYTES);
    assert_eq!(d.test_images.len(), 2 * IMAGE_BYTES);
    let all = batches();
    for (i, (label, image)) in d
        .train_labels
        .iter()
        .zip(d.train_images.chunks(IMAGE_BYTES))
        .enumerate()
    {
        let rec = &all[i / 3].1[(i % 3) * RECORD..(i % 3 + 1) * RECORD];
        assert_eq!(*label, rec[0], "train label {i}");
        assert_eq!(image, &rec[1..], "train image {i}");
    }
    assert_eq!(d.test_labels, vec![all[5].1[0], all[5].1[RECORD]]);
    assert_eq!(
        &d.test_images[..],
        &[&all[5].1[1..RECORD], &all[5].1[RECORD + 1..]].concat()[..]
    );
}

fn check_images(d: &Cifar10) {
    assert_eq!(d.layout, "image-folder");
    assert_eq!((d.train_len(), d.test_len()), (30, 10));
    let expected: Vec<u8> = (0..10).flat_map(|c| [c; 3]).collect();
    assert_eq!(d.train_labels, expected);
    assert_eq!(d.test_labels, (0..10).collect::<Vec<u8>>());
    let fakes = fake_images();
    let got = d
        .train_images
        .chunks(IMAGE_BYTES)
        .chain(d.test_images.chunks(IMAGE_BYTES));
    for (f, img) in fakes.iter().zip(got) {
        if f.lossy {
            let worst = f
                .expect
                .iter()
                .zip(img)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            assert!(worst <= 4, "{}: JPEG off by {worst}", f.rel);
        } else {
            assert_eq!(img, &f.expect[..], "{}", f.rel);
        }
    }
}

fn err(r: lrnn::Result<Cifar10>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            println!("error: {e}");
            e.to_string()
        }
    }
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

/// Overwrites `path` with garbage of the same size and puts its mtime back.
fn corrupt_keeping_stamp(path: &Path) -> SystemTime {
    let t = mtime(path);
    let len = fs::metadata(path).unwrap().len() as usize;
    fs::write(path, vec![0x5a; len]).unwrap();
    set_mtime(path, t);
    t
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn binary_batches_loose_in_either_place() {
    for folder in [
        "cifar10/cifar-10-batches-bin",
        "cifar10",
        "cifar-10-batches-bin",
        "",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        write_batches(&tmp.path().join(folder));
        let d = cifar::load(tmp.path(), &cache).unwrap();
        check_binary(&d);
        assert_eq!(d.sources.len(), 6, "{folder}");
        assert!(d.sources[5].ends_with(Path::new(folder).join("test_batch.bin")));
        // Loose batches are their own decoded form: no cache.
        assert!(!cache.exists() && !tmp.path().join("cifar10").join(CACHE_FILE).exists());
    }
}

#[test]
fn binary_archive_reads_members_in_place_and_caches() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("cifar10/cifar-10-binary.tar.gz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    fs::write(&archive, binary_archive()).unwrap();
    let cache = tmp.path().join("cache");
    let d = cifar::load(tmp.path(), &cache).unwrap();
    check_binary(&d);
    assert_eq!(d.sources, vec![archive.clone()]);
    // Nothing extracted or cached beside the archive, though its folder is writable: the
    // data directory is the user's; the cache goes to cache_dir.
    let names: Vec<_> = fs::read_dir(archive.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(cache.join(CACHE_FILE).is_file());

    let again = cifar::load(tmp.path(), &cache).unwrap();
    check_binary(&again);
    assert_eq!(again.sources, d.sources);
}

#[test]
fn binary_archive_at_the_top_caches_in_cache_dir() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("cifar-10-binary.tar.gz"), binary_archive()).unwrap();
    let cache = tmp.path().join("results/cache"); // created on demand
    check_binary(&cifar::load(tmp.path(), &cache).unwrap());
    assert!(cache.join(CACHE_FILE).is_file());
    check_binary(&cifar::load(tmp.path(), &cache).unwrap());
}

#[test]
fn loose_batches_are_preferred_over_archives_and_folders() {
    let tmp = tempfile::tempdir().unwrap();
    write_image_folder(&tmp.path().join("cifar10"));
    fs::write(
        tmp.path().join("cifar10/cifar-10-binary.tar.gz"),
        binary_archive(),
    )
    .unwrap();
    let d = cifar::load(tmp.path(), &tmp.path().join("cache")).unwrap();
    assert!(
        d.sources[0].ends_with("cifar10/cifar-10-binary.tar.gz"),
        "{:?}",
        d.sources
    );
    write_batches(&tmp.path().join("cifar-10-batches-bin")); // at the top, still first
    let d = cifar::load(tmp.path(), &tmp.path().join("cache")).unwrap();
    assert!(d.sources[0].ends_with("cifar-10-batches-bin/data_batch_1.bin"));
}

#[test]
fn image_folder_of_png_and_jpeg() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cifar10");
    write_image_folder(&root);
    let d = cifar::load(tmp.path(), &tmp.path().join("cache")).unwrap();
    check_images(&d);
    assert_eq!(d.sources, vec![root.join("train"), root.join("test")]);
    assert!(tmp.path().join("cache").join(CACHE_FILE).is_file());
    assert!(
        !root.join(CACHE_FILE).exists(),
        "a cache in the data folder"
    );
    let again = cifar::load(tmp.path(), &tmp.path().join("cache")).unwrap();
    assert_eq!(
        (again.train_images, again.test_labels),
        (d.train_images, d.test_labels)
    );
}

#[test]
fn grey_and_rgba_pngs_become_rgb() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cifar10");
    write_image_folder(&root);
    let grey = image::GrayImage::from_pixel(32, 32, image::Luma([77]));
    grey.save(root.join("test/cat/t.png")).unwrap();
    let rgba = image::RgbaImage::from_pixel(32, 32, image::Rgba([1, 2, 3, 4]));
    rgba.save(root.join("test/dog/t.png")).unwrap();
    let d = cifar::load(tmp.path(), &tmp.path().join("cache")).unwrap();
    let img = |k: usize| &d.test_images[k * IMAGE_BYTES..(k + 1) * IMAGE_BYTES];
    assert!(img(3).iter().all(|&v| v == 77));
    assert!(img(5)[..1024].iter().all(|&v| v == 1) && img(5)[2048..].iter().all(|&v| v == 3));
}

#[test]
fn image_archive_with_and_without_prefix() {
    for (prefix, name) in [
        ("", "cifar10-images.tar.gz"),
        ("CIFAR-10-images/", "cifar10.tgz"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("cifar10").join(name);
        fs::create_dir_all(archive.parent().unwrap()).unwrap();
        fs::write(&archive, image_archive(prefix)).unwrap();
        let d = cifar::load(tmp.path(), &tmp.path().join("cache")).unwrap();
        check_images(&d);
        assert_eq!(d.sources, vec![archive.clone()]);
        let again = cifar::load(tmp.path(), &tmp.path().join("cache")).unwrap();
        check_images(&again);
    }
}

#[test]
fn cache_is_used_and_a_changed_source_invalidates_it() {
    // Loose folder: garbage in place of an image, size and mtime kept, is not even read.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cifar10");
    write_image_folder(&root);
    let cache = tmp.path().join("cache");
    let first = cifar::load(tmp.path(), &cache).unwrap();
    let victim = root.join("train/bird/b.jpg");
    let good = fs::read(&victim).unwrap();
    let t = corrupt_keeping_stamp(&victim);
    let cached = cifar::load(tmp.path(), &cache).unwrap();
    assert_eq!(cached.train_images, first.train_images);
    assert_eq!(cached.sources, first.sources);
    // A new mtime makes the cache stale: the garbage is decoded and refused.
    set_mtime(&victim, t + Duration::from_secs(5));
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(e.contains("train/bird/b.jpg"), "{e}");
    // So does an added image (the listing is part of the fingerprint).
    fs::write(&victim, &good).unwrap();
    check_images(&cifar::load(tmp.path(), &cache).unwrap());
    fs::copy(root.join("test/cat/t.png"), root.join("test/cat/u.png")).unwrap();
    assert_eq!(cifar::load(tmp.path(), &cache).unwrap().test_len(), 11);

    // Archive: the same, and a changed size alone invalidates too.
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("cifar10/cifar10-images.tar.gz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    fs::write(&archive, image_archive("")).unwrap();
    let first = cifar::load(tmp.path(), &cache).unwrap();
    let good = fs::read(&archive).unwrap();
    let t = corrupt_keeping_stamp(&archive);
    assert_eq!(
        cifar::load(tmp.path(), &cache).unwrap().test_images,
        first.test_images
    );
    fs::write(&archive, [&good[..], &[0u8; 1][..]].concat()).unwrap();
    set_mtime(&archive, t);
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(e.contains("cifar10-images.tar.gz"), "{e}");
}

#[test]
fn a_damaged_cache_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("cifar10/cifar-10-binary.tar.gz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    fs::write(&archive, binary_archive()).unwrap();
    let cache = tmp.path().join("cache");
    cifar::load(tmp.path(), &cache).unwrap();
    let file = cache.join(CACHE_FILE);
    let mut bytes = fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0xff; // a flipped payload byte: the CRC catches it
    fs::write(&file, &bytes).unwrap();
    check_binary(&cifar::load(tmp.path(), &cache).unwrap());
    assert_ne!(fs::read(&file).unwrap(), bytes, "rewritten");
    fs::write(&file, &bytes[..n / 2]).unwrap(); // truncated
    check_binary(&cifar::load(tmp.path(), &cache).unwrap());
    assert_eq!(fs::read(&file).unwrap().len(), n);
}

#[test]
fn a_read_only_data_folder_is_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("cifar10");
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("cifar10-images.tar.gz"), image_archive("x/")).unwrap();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o555)).unwrap();
    let cache = tmp.path().join("cache");
    let d = cifar::load(tmp.path(), &cache);
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
    check_images(&d.unwrap());
    // Even as root (who could write there), no write bit means no cache in the data folder.
    assert!(!folder.join(CACHE_FILE).exists());
    assert!(cache.join(CACHE_FILE).is_file());
    assert_eq!(
        fs::read_dir(&folder).unwrap().count(),
        1,
        "no stray temp files"
    );
}

#[test]
fn broken_binary_files_give_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("cifar10/cifar-10-batches-bin");
    write_batches(&folder);
    let cache = tmp.path().join("cache");
    let b3 = folder.join("data_batch_3.bin");
    let good = fs::read(&b3).unwrap();

    fs::write(&b3, &good[..good.len() - 1]).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("data_batch_3.bin") && e.contains("3073-byte records"),
        "{e}"
    );

    fs::write(&b3, []).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("data_batch_3.bin") && e.contains("0 bytes"),
        "{e}"
    );

    let mut bad = good.clone();
    bad[RECORD] = 10;
    fs::write(&b3, &bad).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("data_batch_3.bin") && e.contains("record 1: label 10"),
        "{e}"
    );

    fs::write(&b3, &good).unwrap();
    fs::remove_file(folder.join("test_batch.bin")).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("cifar-10-batches-bin") && e.contains("missing test_batch.bin"),
        "{e}"
    );
}

#[test]
fn broken_archives_give_errors_naming_archive_and_member() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("cifar10/cifar-10-binary.tar.gz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let cache = tmp.path().join("cache");
    let good = binary_archive();

    // Cut short at several points: mid-stream, and within the gzip trailer.
    for cut in [good.len() / 2, good.len() - 4] {
        fs::write(&archive, &good[..cut]).unwrap();
        let e = err(cifar::load(tmp.path(), &cache));
        assert!(
            e.contains("cifar-10-binary.tar.gz") && e.contains("truncated"),
            "cut {cut}: {e}"
        );
    }
    fs::write(&archive, b"not gzip at all").unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(e.contains("cifar-10-binary.tar.gz"), "{e}");
    let mut flipped = good.clone();
    let mid = flipped.len() / 3;
    flipped[mid..mid + 64].iter_mut().for_each(|b| *b ^= 0xa5);
    fs::write(&archive, &flipped).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(e.contains("cifar-10-binary.tar.gz"), "{e}");

    // A member of the wrong length, and a missing member.
    let mut members: Vec<(String, Vec<u8>)> = batches()
        .into_iter()
        .map(|(n, b)| (format!("cifar-10-batches-bin/{n}"), b))
        .collect();
    members[1].1.truncate(RECORD + 5);
    fs::write(&archive, tar_gz(&members)).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("cifar-10-binary.tar.gz")
            && e.contains("member cifar-10-batches-bin/data_batch_2.bin")
            && e.contains("3078 bytes"),
        "{e}"
    );
    members.remove(1);
    fs::write(&archive, tar_gz(&members)).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(e.contains("no member named data_batch_2.bin"), "{e}");

    // An image archive cut short.
    fs::remove_file(&archive).unwrap();
    let images = image_archive("");
    let archive = tmp.path().join("cifar10/cifar10-images.tar.gz");
    fs::write(&archive, &images[..images.len() * 2 / 3]).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("cifar10-images.tar.gz") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn broken_images_give_errors_naming_the_file_or_member() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cifar10");
    write_image_folder(&root);
    let cache = tmp.path().join("cache");

    let victim = root.join("train/frog/a.png");
    let good = fs::read(&victim).unwrap();
    fs::write(&victim, &good[..good.len() / 2]).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("train/frog/a.png") && e.contains("not a readable"),
        "{e}"
    );
    fs::write(&victim, b"\x89PNG garbage").unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(e.contains("train/frog/a.png"), "{e}");

    let odd = pixels(0, false);
    fs::write(
        &victim,
        encode(&odd[..31 * 32 * 3], 31, 32, image::ImageFormat::Png),
    )
    .unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("train/frog/a.png") && e.contains("31×32, expected 32×32"),
        "{e}"
    );
    fs::write(&victim, &good).unwrap();

    // In an archive: the member is named.
    let mut members: Vec<(String, Vec<u8>)> = fake_images()
        .into_iter()
        .map(|f| (format!("p/{}", f.rel), f.bytes))
        .collect();
    members[7].1 = b"JFIF? no".to_vec();
    let archive_dir = tempfile::tempdir().unwrap();
    fs::write(
        archive_dir.path().join("cifar10-images.tar.gz"),
        tar_gz(&members),
    )
    .unwrap();
    let e = err(cifar::load(archive_dir.path(), &cache));
    assert!(
        e.contains("cifar10-images.tar.gz") && e.contains(&format!("member {}", members[7].0)),
        "{e}"
    );

    // Two top-level folders in one archive are ambiguous.
    members[7].1 = members[6].1.clone();
    members[7].0 = members[7].0.replacen("p/", "q/", 1);
    fs::write(
        archive_dir.path().join("cifar10-images.tar.gz"),
        tar_gz(&members),
    )
    .unwrap();
    let e = err(cifar::load(archive_dir.path(), &cache));
    assert!(e.contains("different top-level folders"), "{e}");
}

#[test]
fn wrong_classes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cifar10");
    write_image_folder(&root);
    let cache = tmp.path().join("cache");

    fs::remove_dir_all(root.join("test/truck")).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("test/ has 9 classes") && e.contains(&root.display().to_string()),
        "{e}"
    );

    fs::create_dir_all(root.join("test/truck")).unwrap(); // empty: still missing
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(e.contains("test/ has 9 classes"), "{e}");

    fs::copy(root.join("test/ship/t.png"), root.join("test/truck/t.png")).unwrap();
    fs::rename(root.join("train/airplane"), root.join("train/aeroplane")).unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(
        e.contains("train/ has 10 classes [aeroplane, automobile"),
        "{e}"
    );

    fs::rename(root.join("train/aeroplane"), root.join("train/airplane")).unwrap();
    fs::create_dir_all(root.join("train/unicorn")).unwrap();
    fs::copy(
        root.join("test/ship/t.png"),
        root.join("train/unicorn/t.png"),
    )
    .unwrap();
    let e = err(cifar::load(tmp.path(), &cache));
    assert!(e.contains("train/ has 11 classes"), "{e}");
}

#[test]
fn nothing_found_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("simple-examples.tgz"), b"ptb, not cifar").unwrap();
    let e = err(cifar::load(tmp.path(), &tmp.path().join("cache")));
    assert!(
        e.contains("CIFAR-10 not found") && e.contains("cifar10"),
        "{e}"
    );
}

/// The real image archive, when `LRNN_DATA_DIR` holds `cifar10/cifar10-images.tar.gz`.
#[test]
fn real_image_archive() {
    let Some(dir) = std::env::var_os("LRNN_DATA_DIR").map(PathBuf::from) else {
        println!("skipped: LRNN_DATA_DIR is not set");
        return;
    };
    let archive = dir.join("cifar10/cifar10-images.tar.gz");
    if !archive.is_file() {
        println!("skipped: {} does not exist", archive.display());
        return;
    }
    // A persistent cache, so later runs show the cached load; the data folder is read-only.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cifar-cache");
    let stale = cache.join(CACHE_FILE).is_file();
    let t = Instant::now();
    let d = cifar::load(&dir, &cache).unwrap();
    println!(
        "first load ({}): {:.2} s",
        if stale { "cache present" } else { "decode" },
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let again = cifar::load(&dir, &cache).unwrap();
    let cached = t.elapsed().as_secs_f64();
    println!("cached load: {cached:.3} s");
    assert!(cache.join(CACHE_FILE).is_file());

    assert_eq!(d.layout, "image-folder");
    assert_eq!(d.sources, vec![archive]);
    assert_eq!((d.train_len(), d.test_len()), (50_000, 10_000));
    assert_eq!(d.train_images.len(), 50_000 * IMAGE_BYTES);
    assert_eq!(d.test_images.len(), 10_000 * IMAGE_BYTES);
    for c in 0..10u8 {
        assert_eq!(d.train_labels.iter().filter(|&&l| l == c).count(), 5_000);
        assert_eq!(d.test_labels.iter().filter(|&&l| l == c).count(), 1_000);
    }
    assert!(d.train_labels.is_sorted() && d.test_labels.is_sorted());
    // Real photos: not flat, not saturated on average.
    let mean =
        d.train_images.iter().map(|&v| v as u64).sum::<u64>() as f64 / d.train_images.len() as f64;
    assert!((80.0..180.0).contains(&mean), "mean pixel {mean}");
    assert_eq!(again.train_images, d.train_images);
    assert_eq!(again.test_labels, d.test_labels);
    assert!(cached < 5.0, "cached load took {cached} s");
    let _ = std::io::stdout().flush();
}

// ---------------------------------------------------------------------------------------------
// Capped evaluation of a class-sorted split.

/// Loose binary batches whose test batch is sorted by class, as the image folders give it:
/// five train batches of 6 records (labels mixed) and 5 test records a class.
fn write_class_sorted(folder: &Path) {
    fs::create_dir_all(folder).unwrap();
    for (b, name) in BATCHES[..5].iter().enumerate() {
        fs::write(folder.join(name), batch_bytes(b, 6)).unwrap();
    }
    let mut test = Vec::new();
    for i in 0..50 {
        test.push((i / 5) as u8);
        test.extend((0..IMAGE_BYTES).map(|j| ((i * 13 + j) % 251) as u8));
    }
    fs::write(folder.join(BATCHES[5]), test).unwrap();
}

/// Ordered CIFAR-10 from `dir`, 10 training images held out.
fn cifar_task(dir: &Path) -> lrnn::data::pixels::PixelTask {
    let cfg = toml::from_str("val_size = 10").unwrap();
    lrnn::data::pixels::load_cifar(&cfg, false, dir).unwrap()
}

/// The labels a pass over `split` in batches of 10 reads, counted by class.
fn class_counts(t: &dyn lrnn::data::Task, split: lrnn::data::SplitName) -> Vec<usize> {
    let mut n = vec![0; 10];
    for i in 0..t.num_batches(split, 10) {
        let b = t.batch(split, 10, 0, 0, i);
        let lrnn::net::model::Target::Class(y) = &b.target else {
            panic!("class targets")
        };
        y.iter().for_each(|&c| n[c] += 1);
    }
    n
}

/// A capped evaluation of a split sorted by class reads every class equally, the same examples
/// for the same seed; a split in mixed order (validation, a random tail) keeps its prefix.
#[test]
fn a_capped_evaluation_of_a_class_sorted_split_is_stratified_and_seeded() {
    use lrnn::data::{SplitName, Task};
    let tmp = tempfile::tempdir().unwrap();
    write_class_sorted(&tmp.path().join("cifar10"));
    let mut t = cifar_task(tmp.path());
    assert!(t.test.labels.is_sorted() && t.test.len == 50);
    // Without the cap, the first 20 would be classes 0 to 3.
    let prefix: Vec<u8> = t.test.labels[..20].to_vec();
    assert_eq!(prefix.iter().max(), Some(&3));
    let val = (t.val.labels.clone(), t.val.inputs.clone());
    t.cap_evaluation(20, 1);
    assert_eq!(t.test.len, 20);
    assert_eq!(class_counts(&t, SplitName::Test), vec![2; 10]);
    assert_eq!((t.val.labels.clone(), t.val.inputs.clone()), val);
    let note = t.info().notes.last().unwrap();
    assert!(
        note.contains("test split grouped by class")
            && note.contains("stratified subset of 20 of its 50 examples (2 a class)"),
        "{note}"
    );
    // The same seed draws the same subset, another seed another.
    let mut again = cifar_task(tmp.path());
    again.cap_evaluation(20, 1);
    assert_eq!(
        (&again.test.inputs, &again.test.labels),
        (&t.test.inputs, &t.test.labels)
    );
    let mut other = cifar_task(tmp.path());
    other.cap_evaluation(20, 2);
    assert_ne!(other.test.inputs, t.test.inputs);
    // A cap that is no multiple of the classes: shares differ by one at most.
    let mut odd = cifar_task(tmp.path());
    odd.cap_evaluation(25, 1);
    let n = class_counts(&odd, SplitName::Test);
    assert!(
        n.iter().all(|&k| k == 2 || k == 3) && n.iter().sum::<usize>() == 25,
        "{n:?}"
    );
    // A cap of the whole split or more reads it all, in its order.
    let mut all = cifar_task(tmp.path());
    all.cap_evaluation(50, 1);
    assert_eq!(all.test.labels, cifar_task(tmp.path()).test.labels);
}

/// `lrnn run` with `train.max_eval_batches` on a class-sorted test split: the test metric of
/// each epoch is the stratified subset's, and `run.json` says which subset it was.
#[test]
fn a_capped_run_evaluates_the_stratified_subset() {
    use lrnn::data::{Metric, SplitName, Task};
    let tmp = tempfile::tempdir().unwrap();
    write_class_sorted(&tmp.path().join("data/cifar10"));
    let spec = tmp.path().join("c.toml");
    fs::write(
        &spec,
        "[model]\nkind = \"lipschitz\"\nhidden = 8\n\
         [task]\nname = \"cifar10\"\nval_size = 10\n\
         [train]\nepochs = 1\nbatch_size = 10\nlr = 0.01\nseed = 3\neval_batch_size = 10\n\
         max_eval_batches = 2\nmax_steps_per_epoch = 1\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lrnn"))
        .args([
            "run",
            "c.toml",
            "--data-dir",
            "data",
            "--out",
            "run",
            "--no-download",
        ])
        .current_dir(tmp.path())
        .env_remove("LRNN_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = tmp.path().join("run");
    let info = fs::read_to_string(run.join("run.json")).unwrap();
    assert!(
        info.contains("stratified subset of 20 of its 50 examples"),
        "{info}"
    );
    // The recorded test accuracy is the subset's under the run's own parameters.
    let spec = lrnn::experiment::spec::Spec::load(&spec, &[]).unwrap();
    let mut task = spec.load_task(Some(&tmp.path().join("data"))).unwrap();
    task.cap_evaluation(20, 3);
    let model = spec.build_model();
    let mut params = lrnn::net::params::Params::zeros(model.layout.clone());
    lrnn::experiment::checkpoint::load_into(&run.join("best.h5"), &mut params).unwrap();
    let stats = lrnn::experiment::train::evaluate_split(
        &model,
        &params,
        task.as_ref(),
        SplitName::Test,
        10,
        Some(2),
    );
    let metrics = lrnn::experiment::metrics::MetricsTable::read(&run.join("metrics.csv")).unwrap();
    assert_eq!(metrics.column("test_acc"), vec![Metric::Acc.of(&stats)]);
}

/// The analysis commands' test sequences (`analyze robustness`, `stability --lyapunov`) of a
/// class-sorted split are its stratified subset too, not its first classes.
#[test]
fn analysis_test_sequences_of_a_class_sorted_split_cover_every_class() {
    let tmp = tempfile::tempdir().unwrap();
    write_class_sorted(&tmp.path().join("cifar10"));
    let spec: lrnn::experiment::spec::Spec = lrnn::experiment::spec::Spec::from_table(
        Path::new("c.toml"),
        toml::from_str(
            "[model]\nkind = \"lipschitz\"\nhidden = 8\n[task]\nname = \"cifar10\"\nval_size = 10\n[train]\nepochs = 1\nlr = 0.01\n",
        )
        .unwrap(),
    )
    .unwrap();
    let (batches, _) =
        lrnn::report::robustness::test_batches(&spec, Some(tmp.path()), 20, 10).unwrap();
    let mut n = vec![0; 10];
    for b in &batches {
        let lrnn::net::model::Target::Class(y) = &b.target else {
            panic!("class targets")
        };
        y.iter().for_each(|&c| n[c] += 1);
    }
    assert_eq!(n, vec![2; 10], "the first 20 would be classes 0 to 3");
}
