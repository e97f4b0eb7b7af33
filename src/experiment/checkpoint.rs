//! HDF5 checkpoints: each parameter an f32 dataset at its layout name (`cell/M_A`,
//! `decoder/bias`, …), so h5py and PyTorch state dicts map onto them one to one.
//! Files are written to a temporary name and renamed, so a reader never sees half a file.

use std::path::Path;

use crate::error::{Error, Result};
use crate::kernels::float::Float;
use crate::net::params::Params;

/// Creates the groups on the way to `name` (`a/b/c` needs `a` and `a/b`).
fn ensure_groups(file: &hdf5::File, name: &str) -> hdf5::Result<()> {
    let parts: Vec<&str> = name.split('/').collect();
    for i in 1..parts.len() {
        let group = parts[..i].join("/");
        if file.group(&group).is_err() {
            file.create_group(&group)?;
        }
    }
    Ok(())
}

/// Writes `values` (`shape`) as an f32 dataset `name`, with HDF5's Fletcher-32 checksum
/// (one chunk the whole tensor), so damage from outside is an error on reading.
pub fn write_f32(
    file: &hdf5::File,
    name: &str,
    shape: &[usize],
    values: impl Iterator<Item = f64>,
) -> hdf5::Result<()> {
    ensure_groups(file, name)?;
    let data: Vec<f32> = values.map(|v| v as f32).collect();
    let arr =
        ndarray::ArrayD::from_shape_vec(shape.to_vec(), data).expect("shape matches the data");
    if arr.is_empty() {
        file.new_dataset_builder().with_data(&arr).create(name)?;
    } else {
        file.new_dataset_builder()
            .with_data(&arr)
            .chunk(shape.to_vec())
            .fletcher32()
            .create(name)?;
    }
    Ok(())
}

/// Writes a scalar f64 dataset.
pub fn write_scalar(file: &hdf5::File, name: &str, value: f64) -> hdf5::Result<()> {
    ensure_groups(file, name)?;
    file.new_dataset::<f64>().create(name)?.write_scalar(&value)
}

/// Runs `write` on a fresh HDF5 file at a temporary path, then renames it over `path`
/// ([`crate::io::replace_with`]).
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&hdf5::File) -> hdf5::Result<()>,
) -> Result<()> {
    crate::io::replace_with(path, |tmp| {
        let file = hdf5::File::create(tmp).map_err(|e| Error::hdf5(tmp, e))?;
        write(&file).map_err(|e| Error::hdf5(tmp, e))?;
        file.close().map_err(|e| Error::hdf5(tmp, e))
    })
}

/// Writes every tensor of `params` (plus `extra` f32 tensors, e.g. optimiser moments) to `path`.
pub fn save<F: Float>(path: &Path, params: &Params<F>, extra: &[(&str, &[F])]) -> Result<()> {
    write_atomic(path, |file| {
        for e in params.layout.entries() {
            let values = params.data[e.range.clone()].iter().map(|v| v.f64());
            write_f32(file, &e.name, &e.shape, values)?;
        }
        for (name, values) in extra {
            write_f32(file, name, &[values.len()], values.iter().map(|v| v.f64()))?;
        }
        Ok(())
    })
}

/// Reads every tensor of `params`' layout from `path`, checking names and shapes.
pub fn load_into<F: Float>(path: &Path, params: &mut Params<F>) -> Result<()> {
    let file = hdf5::File::open(path).map_err(|e| Error::hdf5(path, e))?;
    let layout = params.layout.clone();
    for e in layout.entries() {
        let ds = file.dataset(&e.name).map_err(|_| {
            Error::format(
                path,
                format!("no dataset `{}` (a checkpoint of another model?)", e.name),
            )
        })?;
        if ds.shape() != e.shape {
            return Err(Error::Shape {
                what: format!("{}: {}", path.display(), e.name),
                expected: e.shape.clone(),
                found: ds.shape(),
            });
        }
        let values: Vec<f64> = ds.read_raw::<f64>().map_err(|err| Error::hdf5(path, err))?;
        check_finite(path, &e.name, &values)?;
        params.data[e.range.clone()]
            .iter_mut()
            .zip(values)
            .for_each(|(p, v)| *p = F::of(v));
    }
    Ok(())
}

/// Reads a float dataset as f64 with its shape; a non-finite value is an error.
pub fn read_f64(path: &Path, file: &hdf5::File, name: &str) -> Result<(Vec<usize>, Vec<f64>)> {
    let ds = file
        .dataset(name)
        .map_err(|_| Error::format(path, format!("no dataset `{name}`")))?;
    let values = ds.read_raw::<f64>().map_err(|e| Error::hdf5(path, e))?;
    check_finite(path, name, &values)?;
    Ok((ds.shape(), values))
}

/// `Ok` if every value of dataset `name` is finite: a checkpoint holds a trained state, never
/// a diverged one, so a NaN is damage (or another program's file), not a model.
pub fn check_finite(path: &Path, name: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::format(
            path,
            format!(
                "dataset `{name}` holds a non-finite value ({}) at index {i}",
                values[i]
            ),
        )),
    }
}
