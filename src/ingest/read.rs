//! Bytes in: open a source, see through gzip and zstd by their magic bytes (not the file
//! name), tell Parquet and Arrow IPC apart, and hand out newline-aligned blocks of lines.
//!
//! Blocks keep memory flat whatever the file size: the caller parses one block (in parallel)
//! while the next is not yet read. Line numbers are 1-based and count every `\n`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// What a file turned out to be once opened.
pub enum Opened {
    /// Lines of text (maybe decompressed), with the compression found.
    Text {
        reader: Box<dyn Read + Send>,
        compression: Option<&'static str>,
    },
    Parquet,
    Ipc,
}

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Opens `path`, looking at its first bytes to choose how to read it.
pub fn open(path: &Path) -> io::Result<Opened> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 6];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let magic = &magic[..got];
    if magic.starts_with(b"PAR1") {
        return Ok(Opened::Parquet);
    }
    if magic.starts_with(b"ARROW1") {
        return Ok(Opened::Ipc);
    }
    let head = io::Cursor::new(magic.to_vec());
    let stream = head.chain(file);
    let (reader, compression): (Box<dyn Read + Send>, _) = if magic.starts_with(GZIP) {
        (
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, stream))),
            Some("gzip"),
        )
    } else if magic.starts_with(ZSTD) {
        (Box::new(zstd::stream::read::Decoder::new(stream)?), Some("zstd"))
    } else {
        (Box::new(stream), None)
    };
    Ok(Opened::Text { reader, compression })
}

/// A run of whole lines and the number of the first.
pub struct Block {
    pub data: Vec<u8>,
    pub first_line: u64,
}

/// Reads a stream in blocks of about `block_size` bytes that end on a line boundary.
pub struct BlockReader {
    inner: Box<dyn Read + Send>,
    carry: Vec<u8>,
    next_line: u64,
    block_size: usize,
    eof: bool,
    /// The read error that ended the stream early (a truncated gzip, say), if any.
    pub error: Option<io::Error>,
}

impl BlockReader {
    pub fn new(inner: Box<dyn Read + Send>, block_size: usize) -> BlockReader {
        BlockReader { inner, carry: Vec::new(), next_line: 1, block_size, eof: false, error: None }
    }

    /// The number the next line read would have.
    pub fn next_line(&self) -> u64 {
        self.next_line
    }

    /// The next block, or `None` at the end. A final line without `\n` is still a line.
    pub fn next_block(&mut self) -> Option<Block> {
        let mut data = std::mem::take(&mut self.carry);
        let mut scanned = 0;
        loop {
            if data.len() >= self.block_size || self.eof {
                if let Some(pos) = memchr::memrchr(b'\n', &data[scanned.min(data.len())..]) {
                    let cut = scanned.min(data.len()) + pos + 1;
                    if !self.eof || cut == data.len() {
                        self.carry = data.split_off(cut);
                        break;
                    }
                }
                if self.eof {
                    break;
                }
                // No newline yet in this (long) line: read on.
                scanned = data.len();
            }
            let start = data.len();
            let want = self.block_size.max(64 * 1024);
            data.resize(start + want, 0);
            match self.inner.read(&mut data[start..]) {
                Ok(0) => {
                    data.truncate(start);
                    self.eof = true;
                }
                Ok(n) => data.truncate(start + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => data.truncate(start),
                Err(e) => {
                    data.truncate(start);
                    self.eof = true;
                    self.error = Some(e);
                }
            }
        }
        if data.is_empty() {
            return None;
        }
        let first_line = self.next_line;
        let newlines = memchr::memchr_iter(b'\n', &data).count() as u64;
        let ends_with_newline = data.last() == Some(&b'\n');
        self.next_line += newlines + u64::from(!ends_with_newline);
        Some(Block { data, first_line })
    }
}

/// The lines of a block without their `\n` or `\r\n`.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    line_ranges(data).map(move |r| &data[r])
}

/// Where the lines of a block are (without their `\n` or `\r\n`), found with memchr.
pub fn line_ranges(data: &[u8]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let end = data.len() - usize::from(data.last() == Some(&b'\n'));
    let mut start = (!data.is_empty()).then_some(0);
    std::iter::from_fn(move || {
        let s = start?;
        let e = match memchr::memchr(b'\n', &data[s..end]) {
            Some(i) => {
                start = Some(s + i + 1);
                s + i
            }
            None => {
                start = None;
                end
            }
        };
        Some(s..e - usize::from(e > s && data[e - 1] == b'\r'))
    })
}

/// Splits a block into about `parts` pieces at line boundaries: (byte range, first line).
pub fn split_block(block: &Block, parts: usize) -> Vec<(std::ops::Range<usize>, u64)> {
    let data = &block.data;
    let mut out = Vec::with_capacity(parts);
    let step = (data.len() / parts.max(1)).max(1);
    let mut start = 0;
    let mut line = block.first_line;
    while start < data.len() {
        let target = (start + step).min(data.len());
        let end = if target >= data.len() {
            data.len()
        } else {
            match memchr::memchr(b'\n', &data[target..]) {
                Some(p) => target + p + 1,
                None => data.len(),
            }
        };
        out.push((start..end, line));
        line += memchr::memchr_iter(b'\n', &data[start..end]).count() as u64;
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(text: &[u8], size: usize) -> Vec<(Vec<u8>, u64)> {
        let mut r = BlockReader::new(Box::new(io::Cursor::new(text.to_vec())), size);
        std::iter::from_fn(|| r.next_block()).map(|b| (b.data, b.first_line)).collect()
    }

    #[test]
    fn blocks_end_on_line_boundaries_and_count_lines() {
        let b = blocks(b"a\nbb\nccc\nd", 3);
        let joined: Vec<u8> = b.iter().flat_map(|(d, _)| d.clone()).collect();
        assert_eq!(joined, b"a\nbb\nccc\nd");
        for (d, _) in &b[..b.len() - 1] {
            assert_eq!(d.last(), Some(&b'\n'));
        }
        let firsts: Vec<u64> = b.iter().map(|(_, l)| *l).collect();
        let counted: Vec<u64> = b
            .iter()
            .scan(1, |n, (d, _)| {
                let first = *n;
                *n += lines(d).count() as u64;
                Some(first)
            })
            .collect();
        assert_eq!(firsts, counted);
    }

    #[test]
    fn lines_strip_crlf_and_keep_a_last_line_without_newline() {
        let l: Vec<&[u8]> = lines(b"a\r\n\r\nb").collect();
        assert_eq!(l, vec![&b"a"[..], b"", b"b"]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").count(), 1);
        // The same lines as splitting on every byte.
        for text in [&b"a\nb\n"[..], b"\r\n", b"\n\n", b"x\ry\r\r\nz\r", b"\r", b"one"] {
            let body = text.strip_suffix(b"\n").unwrap_or(text);
            let split: Vec<&[u8]> =
                body.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect();
            assert_eq!(lines(text).collect::<Vec<_>>(), split, "{text:?}");
        }
    }

    #[test]
    fn split_block_numbers_pieces() {
        let block = Block { data: b"1\n2\n3\n4\n5\n".to_vec(), first_line: 10 };
        let parts = split_block(&block, 2);
        let firsts: Vec<u64> = parts.iter().map(|p| p.1).collect();
        assert_eq!(firsts[0], 10);
        let total: usize = parts.iter().map(|p| lines(&block.data[p.0.clone()]).count()).sum();
        assert_eq!(total, 5);
        assert_eq!(parts.last().unwrap().0.end, block.data.len());
    }
}
