//! Reader for the IDX format of the MNIST distribution (`train-images-idx3-ubyte`, gzipped
//! or not): a 4-byte magic `0 0 type ndim`, `ndim` big-endian u32 sizes, then the bytes.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// An unsigned-byte IDX tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes (type code 0x08), decompressing gzip by its magic.
pub fn read_idx(path: &Path) -> Result<Idx> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|msg| Error::format(path, msg))
}

/// Parses IDX bytes; the error says what is wrong with them.
pub fn parse_idx(bytes: &[u8]) -> Result<Idx, String> {
    let header = bytes.get(..4).ok_or_else(|| {
        format!(
            "not an IDX file: {} bytes, shorter than the 4-byte magic",
            bytes.len()
        )
    })?;
    if header[0] != 0 || header[1] != 0 {
        return Err(format!(
            "not an IDX file: magic {header:02x?} does not start with 00 00"
        ));
    }
    if header[2] != 0x08 {
        return Err(format!(
            "IDX type code {:#04x} is not unsigned bytes (0x08)",
            header[2]
        ));
    }
    let ndim = header[3] as usize;
    if ndim == 0 {
        return Err("IDX header declares 0 dimensions".into());
    }
    let dims_end = 4 + 4 * ndim;
    let dim_bytes = bytes.get(4..dims_end).ok_or_else(|| {
        format!(
            "truncated: header declares {ndim} dimensions but the file ends at byte {}",
            bytes.len()
        )
    })?;
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("IDX dimensions overflow")?;
    let data = &bytes[dims_end..];
    if data.len() < expected {
        return Err(format!(
            "truncated: dimensions {dims:?} need {expected} bytes of data, found {}",
            data.len()
        ));
    }
    if data.len() > expected {
        return Err(format!(
            "{} bytes of trailing data after the {expected} that dimensions {dims:?} need",
            data.len() - expected
        ));
    }
    Ok(Idx {
        dims,
        data: data.to_vec(),
    })
}

/// Encodes bytes as IDX (for tests and fixtures that need files in the real format).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_headers() {
        let data: Vec<u8> = (0..24).collect();
        let bytes = encode_idx(&[2, 3, 4], &data);
        let idx = parse_idx(&bytes).unwrap();
        assert_eq!(idx.dims, vec![2, 3, 4]);
        assert_eq!(idx.data, data);

        let mut bad = bytes.clone();
        bad[0] = 0x42;
        assert!(parse_idx(&bad).unwrap_err().contains("magic"));
        let mut float = bytes.clone();
        float[2] = 0x0d;
        assert!(parse_idx(&float).unwrap_err().contains("type code"));
        assert!(
            parse_idx(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(parse_idx(&bytes[..7]).unwrap_err().contains("truncated"));
        assert!(parse_idx(&[0, 0]).unwrap_err().contains("magic"));
    }
}
