//! The Parquet pages of a dictionary-encoded column, written from the keys of its valid rows
//! and from its validity's bytes.
//!
//! Polars' writer, given a dictionary array, walks the validity bit by bit through its
//! generic run-length encoder for the definition levels, then zips the keys with the validity
//! again to drop the null rows, takes their greatest, and runs them through the same encoder
//! (together 5% of a W1 CSV ingest's CPU, most of it on the columns that are often null:
//! `reason`, `client`). Here:
//! - a bitmap's bytes already are the bit-packed form of its definition levels (both put the
//!   first row in the lowest bit), so runs of all-set or all-clear bytes are written as runs
//!   and the bytes between them are copied;
//! - the keys come without the null rows and with their width known (every value of the
//!   dictionary is some valid row's), runs of 8 equal keys or more are written as runs and the
//!   rest packed through a 64-bit word.
//!
//! The pages are those Polars' writer makes of the same dictionary: a dictionary page of the
//! values (PLAIN), then data pages of up to [`ROWS_PER_PAGE`] rows with version 1 headers and
//! the same statistics, with two differences: a text's least and greatest value are kept
//! whole (Polars cuts long ones short; both are valid bounds), and each page states its own
//! nulls (Polars' state the whole chunk's on every page, which a reader adds up).

use polars_arrow::bitmap::Bitmap;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::encoding::uleb128;
use polars_parquet::parquet::page::{DataPage, DataPageHeader, DataPageHeaderV1, DictPage};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::schema::types::PrimitiveType;
use polars_parquet::parquet::statistics::ParquetStatistics;
use polars_parquet::write::{Descriptor, Encoding, Page, Version, WriteOptions};

/// Rows per data page: Polars' choice for 4-byte keys (its 1 MiB page over 4 bytes a row plus
/// one).
const ROWS_PER_PAGE: usize = (1 << 20) / 5;

/// A column as a dictionary: its distinct values, and per valid row the number of its value.
pub(super) struct Dictionary {
    /// The key of each valid row, in row order; each is below `len`.
    pub keys: Vec<u32>,
    /// How many values the dictionary holds.
    pub len: usize,
    /// The values, PLAIN-encoded (the dictionary page).
    pub plain: Vec<u8>,
    /// The least and the greatest value as statistics hold them; `None` when there are none.
    pub min: Option<Vec<u8>>,
    pub max: Option<Vec<u8>>,
}

impl Dictionary {
    /// A dictionary of texts: PLAIN is each text's length (4 bytes, little-endian), then it.
    pub fn of_texts(keys: Vec<u32>, values: &[&str]) -> Dictionary {
        let mut plain = Vec::with_capacity(values.iter().map(|v| v.len() + 4).sum());
        for v in values {
            plain.extend_from_slice(&(v.len() as u32).to_le_bytes());
            plain.extend_from_slice(v.as_bytes());
        }
        let bytes = |v: Option<&&str>| v.map(|v| v.as_bytes().to_vec());
        Dictionary {
            keys,
            len: values.len(),
            plain,
            min: bytes(values.iter().min()),
            max: bytes(values.iter().max()),
        }
    }

    /// A dictionary of numbers in ascending order. As Parquet asks, a least value of zero is
    /// stated as -0.0 and a greatest as +0.0.
    pub fn of_ascending_numbers(keys: Vec<u32>, values: &[f64]) -> Dictionary {
        let plain = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let min = values.first().map(|&v| if v == 0.0 { -0.0f64 } else { v });
        let max = values.last().map(|&v| if v == 0.0 { 0.0f64 } else { v });
        Dictionary {
            keys,
            len: values.len(),
            plain,
            min: min.map(|v| v.to_le_bytes().to_vec()),
            max: max.map(|v| v.to_le_bytes().to_vec()),
        }
    }

    /// The column's pages: the dictionary page, then its data pages. `validity` is the
    /// column's (`None`: no row is null) and `rows` its length; the pages are version 1
    /// (`options.version` must be [`Version::V1`], which [`super::sink`] writes).
    pub fn pages(
        &self,
        validity: Option<&Bitmap>,
        rows: usize,
        type_: &PrimitiveType,
        options: WriteOptions,
    ) -> Vec<Page> {
        debug_assert!(matches!(options.version, Version::V1));
        let validity = validity.filter(|v| v.unset_bits() > 0);
        debug_assert_eq!(self.keys.len() + validity.map_or(0, Bitmap::unset_bits), rows);
        let stats = &options.statistics;
        let statistics = |nulls: usize| {
            options.has_statistics().then(|| ParquetStatistics {
                null_count: stats.null_count.then_some(nulls as i64),
                distinct_count: None,
                max_value: self.max.clone().filter(|_| stats.max_value),
                min_value: self.min.clone().filter(|_| stats.min_value),
                max: None,
                min: None,
                is_max_value_exact: None,
                is_min_value_exact: None,
            })
        };
        let optional = type_.field_info.repetition == Repetition::Optional;
        let width = match self.len {
            0 | 1 => 0,
            n => 32 - (n as u32 - 1).leading_zeros(),
        };
        let mut pages =
            vec![Page::Dict(DictPage::new(CowBuffer::Owned(self.plain.clone()), self.len, false))];
        let mut key = 0;
        for start in (0..rows).step_by(ROWS_PER_PAGE) {
            let n = ROWS_PER_PAGE.min(rows - start);
            let page_validity = validity.map(|v| v.clone().sliced(start, n));
            let valid = n - page_validity.as_ref().map_or(0, Bitmap::unset_bits);
            let mut buffer = Vec::with_capacity(n / 4 + valid * width as usize / 8 + 16);
            if optional {
                // Version 1: the levels' length, then the levels (all defined, or the bitmap).
                buffer.extend_from_slice(&[0; 4]);
                match &page_validity {
                    Some(v) => put_bits(&mut buffer, v),
                    None if n > 0 => put_run(&mut buffer, n, 1, 1),
                    None => {}
                }
                let length = (buffer.len() - 4) as u32;
                buffer[..4].copy_from_slice(&length.to_le_bytes());
            }
            buffer.push(width as u8);
            put_keys(&mut buffer, &self.keys[key..key + valid], width);
            key += valid;
            let header = DataPageHeaderV1 {
                num_values: n as i32,
                encoding: Encoding::RleDictionary.into(),
                definition_level_encoding: Encoding::Rle.into(),
                repetition_level_encoding: Encoding::Rle.into(),
                statistics: statistics(n - valid),
            };
            let descriptor =
                Descriptor { primitive_type: type_.clone(), max_def_level: 0, max_rep_level: 0 };
            pages.push(Page::Data(DataPage::new(
                DataPageHeader::V1(header),
                CowBuffer::Owned(buffer),
                descriptor,
                n,
            )));
        }
        pages
    }
}

/// A run of `n` copies of `value`, `width` bits wide (in as many whole bytes).
fn put_run(out: &mut Vec<u8>, n: usize, value: u32, width: u32) {
    put_uleb(out, (n as u64) << 1);
    out.extend_from_slice(&value.to_le_bytes()[..width.div_ceil(8) as usize]);
}

/// The header of a bit-packed run of `groups` groups of 8 values.
fn put_packed_header(out: &mut Vec<u8>, groups: usize) {
    put_uleb(out, ((groups as u64) << 1) | 1);
}

fn put_uleb(out: &mut Vec<u8>, value: u64) {
    let mut bytes = [0; 10];
    let used = uleb128::encode(value, &mut bytes);
    out.extend_from_slice(&bytes[..used]);
}

/// A bitmap as 1-bit-wide levels: two or more whole bytes all set or all clear as a run, the
/// bytes between them as they are (a bit-packed run is the bitmap's own layout). The last
/// byte may hold fewer than 8 rows: readers stop at the page's count.
fn put_bits(out: &mut Vec<u8>, bits: &Bitmap) {
    // A page that starts inside a byte of the column's validity is copied to start on one.
    let bits = bits.to_aligned_bitmap();
    let (bytes, offset, len) = bits.as_slice();
    let bytes = &bytes[offset / 8..offset / 8 + len.div_ceil(8)];
    let whole = len / 8;
    let (mut literal, mut i) = (0, 0);
    while i < whole {
        let b = bytes[i];
        if b == 0 || b == 0xFF {
            let mut end = i + 1;
            while end < whole && bytes[end] == b {
                end += 1;
            }
            if end - i >= 2 {
                put_literal_bytes(out, &bytes[literal..i]);
                put_run(out, (end - i) * 8, u32::from(b & 1), 1);
                literal = end;
            }
            i = end;
        } else {
            i += 1;
        }
    }
    put_literal_bytes(out, &bytes[literal..]);
}

fn put_literal_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_packed_header(out, bytes.len());
        out.extend_from_slice(bytes);
    }
}

/// Keys `width` bits wide: 8 equal keys or more, starting a group, as a run, the rest
/// bit-packed (groups of 8, the last padded).
fn put_keys(out: &mut Vec<u8>, keys: &[u32], width: u32) {
    if keys.is_empty() {
        return;
    }
    if width == 0 {
        put_run(out, keys.len(), 0, 0);
        return;
    }
    let n = keys.len();
    let (mut literal, mut i) = (0, 0);
    while i + 8 <= n {
        let k = keys[i];
        if keys[i..i + 8] == [k; 8] {
            let mut end = i + 8;
            while end < n && keys[end] == k {
                end += 1;
            }
            pack(out, &keys[literal..i], width);
            put_run(out, end - i, k, width);
            (literal, i) = (end, end);
        } else {
            i += 8;
        }
    }
    pack(out, &keys[literal..], width);
}

/// A bit-packed run of `keys` (its length a multiple of 8, or the last run), lowest bits
/// first.
fn pack(out: &mut Vec<u8>, keys: &[u32], width: u32) {
    if keys.is_empty() {
        return;
    }
    let groups = keys.len().div_ceil(8);
    put_packed_header(out, groups);
    let end = out.len() + groups * width as usize;
    out.reserve(groups * width as usize);
    let (mut word, mut bits) = (0u64, 0u32);
    for &k in keys {
        word |= u64::from(k) << bits;
        bits += width;
        if bits >= 32 {
            out.extend_from_slice(&(word as u32).to_le_bytes());
            word >>= 32;
            bits -= 32;
        }
    }
    out.extend_from_slice(&word.to_le_bytes()[..bits.div_ceil(8) as usize]);
    out.resize(end, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads hybrid RLE/bit-packed values back, `width` bits wide, until `n` are read.
    fn unhybrid(mut bytes: &[u8], width: u32, n: usize) -> Vec<u32> {
        let mut out = Vec::new();
        while out.len() < n {
            let (header, used) = uleb128::decode(bytes);
            bytes = &bytes[used..];
            if header & 1 == 0 {
                let w = width.div_ceil(8) as usize;
                let mut v = [0u8; 4];
                v[..w].copy_from_slice(&bytes[..w]);
                bytes = &bytes[w..];
                out.extend(std::iter::repeat_n(u32::from_le_bytes(v), (header >> 1) as usize));
            } else {
                let count = (header >> 1) as usize * 8;
                let (mut word, mut bits, mut at) = (0u64, 0u32, 0);
                for _ in 0..count {
                    while bits < width {
                        word |= u64::from(bytes[at]) << bits;
                        at += 1;
                        bits += 8;
                    }
                    out.push((word & ((1u64 << width) - 1)) as u32);
                    word >>= width;
                    bits -= width;
                }
                assert_eq!(at, count / 8 * width as usize, "a run is whole bytes");
                bytes = &bytes[at..];
            }
        }
        assert!(bytes.is_empty(), "{} bytes left", bytes.len());
        out.truncate(n);
        out
    }

    #[test]
    fn keys_and_levels_read_back_as_written() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for width in [1u32, 2, 3, 7, 8, 13, 31, 32] {
            for n in [1usize, 7, 8, 9, 64, 1000, 4099] {
                let mask = if width == 32 { u32::MAX } else { (1 << width) - 1 };
                // Stretches of one key and stretches of varied keys.
                let keys: Vec<u32> = (0..n)
                    .map(|i| if (i / 37) % 2 == 0 { (i as u32 / 37) & mask } else { next() & mask })
                    .collect();
                let mut out = Vec::new();
                put_keys(&mut out, &keys, width);
                assert_eq!(unhybrid(&out, width, n), keys, "width {width}, {n} keys");
            }
        }
        for n in [1usize, 8, 15, 16, 17, 100, 1000, 4097] {
            for offset in [0usize, 3, 8] {
                let bits: Vec<bool> =
                    (0..n + offset).map(|i| (i / 40) % 3 == 0 || next() % 5 == 0).collect();
                let map: Bitmap = bits.iter().copied().collect();
                let map = map.sliced(offset, n);
                let mut out = Vec::new();
                put_bits(&mut out, &map);
                let want: Vec<u32> = bits[offset..].iter().map(|&b| u32::from(b)).collect();
                assert_eq!(unhybrid(&out, 1, n), want, "{n} bits from {offset}");
            }
        }
        let mut out = Vec::new();
        put_keys(&mut out, &[0; 20], 0);
        assert_eq!(unhybrid(&out, 0, 20), [0; 20]);
    }
}
