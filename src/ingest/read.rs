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

/// Opens `path` (`-` is standard input), looking at its first bytes to choose how to read it.
pub fn open(path: &Path) -> io::Result<Opened> {
    if path.as_os_str() == "-" {
        return sniff(Box::new(io::stdin()), false);
    }
    sniff(Box::new(File::open(path)?), true)
}

/// Chooses how to read a stream from its first bytes; `seekable_file` streams can be Parquet
/// or Arrow IPC (read whole by Polars).
fn sniff(mut file: Box<dyn Read + Send>, seekable_file: bool) -> io::Result<Opened> {
    let mut magic = [0u8; 6];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let magic = &magic[..got];
    if seekable_file && magic.starts_with(b"PAR1") {
        return Ok(Opened::Parquet);
    }
    if seekable_file && magic.starts_with(b"ARROW1") {
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
    /// Set when the block is one line longer than the reader's line limit: `data` then holds
    /// only its first [`CLIP_BYTES`] bytes and this is the line's whole length. The rest was
    /// read and dropped, never held.
    pub oversized: Option<u64>,
}

/// Bytes looked at to tell lone-CR line ends.
pub const CR_WINDOW: usize = 4096;

/// Whether `head` (the start of a stream, no newline in it) is text with lone CR line ends:
/// a carriage return in UTF-8 text (binary data has CRs by chance, and stays one line).
pub fn lone_cr_text(head: &[u8]) -> bool {
    let head = &head[..head.len().min(CR_WINDOW)];
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut at the window's end is still text.
        Err(e) => e.error_len().is_none(),
    };
    text && memchr::memchr(b'\r', head).is_some()
}

fn translate_cr(data: &mut [u8]) {
    for b in data {
        if *b == b'\r' {
            *b = b'\n';
        }
    }
}

/// Bytes of an over-long line kept (in the block, and so in the rejects).
pub const CLIP_BYTES: usize = 4096;

const BOM: &[u8] = &[0xef, 0xbb, 0xbf];

/// The most the first block of a stream holds (see [`BlockReader`]'s `ramp`).
const FIRST_BLOCK: usize = 2 << 20;

/// Reads a stream in blocks of about `block_size` bytes that end on a line boundary.
///
/// Memory stays within about `block_size + max_line` whatever the input: a line longer than
/// `max_line` is not buffered but clipped and skipped to its end (see [`Block::oversized`]).
/// A UTF-8 byte order mark at the start is dropped. A file whose first 4 KiB hold carriage
/// returns and no newline uses lone CR line ends (classic Mac OS): each CR is read as a line end.
pub struct BlockReader {
    inner: Box<dyn Read + Send>,
    carry: Vec<u8>,
    /// A block's buffer handed back after parsing ([`BlockReader::give_back`]), for the next
    /// block: a fresh 16 MB buffer a block cost a page fault per 4 KiB and an munmap, about a
    /// sixth of the time of a fast parse.
    spare: Option<Vec<u8>>,
    next_line: u64,
    block_size: usize,
    /// The size of the next block: the first is at most [`FIRST_BLOCK`], each after it
    /// twice the one before, up to `block_size`. Nothing is parsed before the first block is
    /// read, so a smaller one starts the parse sooner (a whole 16 MB block took 13 ms to read
    /// on a W1 ingest, with the other core idle).
    ramp: usize,
    max_line: usize,
    eof: bool,
    started: bool,
    line_ends_unknown: bool,
    /// Lone CR line ends: every `\r` read becomes `\n`.
    pub cr_line_ends: bool,
    /// The read error that ended the stream early (a truncated gzip, say), if any.
    pub error: Option<io::Error>,
}

impl BlockReader {
    pub fn new(inner: Box<dyn Read + Send>, block_size: usize) -> BlockReader {
        BlockReader {
            inner,
            carry: Vec::new(),
            spare: None,
            next_line: 1,
            block_size,
            ramp: block_size.min(FIRST_BLOCK),
            max_line: super::MAX_LINE_BYTES,
            eof: false,
            started: false,
            line_ends_unknown: true,
            cr_line_ends: false,
            error: None,
        }
    }

    /// Lines longer than this many bytes are clipped and skipped (default
    /// [`super::MAX_LINE_BYTES`]).
    pub fn with_max_line(mut self, bytes: usize) -> BlockReader {
        self.max_line = bytes.max(CLIP_BYTES);
        self
    }

    /// The number the next line read would have.
    pub fn next_line(&self) -> u64 {
        self.next_line
    }

    /// Reads up to a block into `data` after its current end; false at the end of the stream.
    fn fill(&mut self, data: &mut Vec<u8>) -> bool {
        let start = data.len();
        let want = self.ramp.clamp(64 * 1024, 16 << 20);
        // Up to `want` bytes into the spare room, which is not zeroed first (a memset of every
        // block was 4% of a W1 ingest); a short read from a pipe waits for the rest or its end.
        data.reserve(want);
        let got = match self.inner.by_ref().take(want as u64).read_to_end(data) {
            Ok(n) => n,
            Err(e) => {
                // What came before the error is kept (a truncated gzip's whole members).
                self.error = Some(e);
                data.len() - start
            }
        };
        data.truncate(start + got);
        if got == 0 {
            self.eof = true;
            if self.line_ends_unknown && self.decide_line_ends(data, true) {
                translate_cr(data);
            }
            return false;
        }
        if !self.started {
            self.started = true;
            if data.starts_with(BOM) {
                data.drain(..BOM.len());
            }
        }
        let mut from = start.min(data.len());
        if self.line_ends_unknown && self.decide_line_ends(data, false) {
            from = 0;
        }
        if self.cr_line_ends {
            translate_cr(&mut data[from..]);
        }
        true
    }

    /// Decides whether lines end in lone CRs, once there is enough to tell: a newline read
    /// means no; 4 KiB (or the whole stream, at its end) of text without a newline but with a
    /// CR means yes ([`lone_cr_text`]). Returns true when it has just decided yes.
    fn decide_line_ends(&mut self, data: &[u8], at_end: bool) -> bool {
        if memchr::memchr(b'\n', data).is_some() {
            self.line_ends_unknown = false;
        } else if data.len() >= CR_WINDOW || at_end {
            self.line_ends_unknown = false;
            self.cr_line_ends = lone_cr_text(data);
        }
        self.cr_line_ends
    }

    /// Takes back a block's buffer once its lines are parsed, to read the next block into.
    pub fn give_back(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() >= self.block_size && self.spare.is_none() {
            buf.clear();
            self.spare = Some(buf);
        }
    }

    /// The next block, or `None` at the end. A final line without `\n` is still a line.
    pub fn next_block(&mut self) -> Option<Block> {
        let mut data = match self.spare.take() {
            Some(mut buf) => {
                buf.extend_from_slice(&self.carry);
                self.carry.clear();
                buf
            }
            None => std::mem::take(&mut self.carry),
        };
        // Where the line that is not yet complete starts (after the last `\n` seen).
        let mut tail = memchr::memrchr(b'\n', &data).map_or(0, |p| p + 1);
        loop {
            if self.eof {
                break;
            }
            if data.len() >= self.ramp && tail > 0 {
                self.carry = data.split_off(tail);
                break;
            }
            if data.len() - tail > self.max_line {
                if tail > 0 {
                    // Hand out the whole lines first; the long one starts the next block.
                    self.carry = data.split_off(tail);
                    break;
                }
                return Some(self.skip_long_line(data));
            }
            let before = data.len();
            if self.fill(&mut data)
                && let Some(p) = memchr::memrchr(b'\n', &data[before..])
            {
                tail = before + p + 1;
            }
        }
        if data.is_empty() {
            return None;
        }
        self.ramp = (self.ramp * 2).min(self.block_size);
        let first_line = self.next_line;
        let newlines = memchr::memchr_iter(b'\n', &data).count() as u64;
        let ends_with_newline = data.last() == Some(&b'\n');
        self.next_line += newlines + u64::from(!ends_with_newline);
        Some(Block { data, first_line, oversized: None })
    }

    /// `data` is the start of a line longer than the limit: keep its first bytes, read on to
    /// its end without keeping the rest, and hand it out as a block of its own.
    fn skip_long_line(&mut self, mut data: Vec<u8>) -> Block {
        let mut len = data.len() as u64;
        data.truncate(CLIP_BYTES);
        let mut scratch = Vec::new();
        loop {
            scratch.clear();
            if !self.fill(&mut scratch) {
                break;
            }
            if let Some(p) = memchr::memchr(b'\n', &scratch) {
                len += p as u64;
                self.carry = scratch.split_off(p + 1);
                break;
            }
            len += scratch.len() as u64;
        }
        let first_line = self.next_line;
        self.next_line += 1;
        Block { data, first_line, oversized: Some(len) }
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

/// A piece of a block: its bytes, its first line's number and how many lines it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub range: std::ops::Range<usize>,
    pub first_line: u64,
    /// Lines in the piece (a last line without a newline counts): what its table may hold.
    pub lines: usize,
}

/// Splits a block into about `parts` pieces at line boundaries.
pub fn split_block(block: &Block, parts: usize) -> Vec<Piece> {
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
        let newlines = memchr::memchr_iter(b'\n', &data[start..end]).count();
        let lines = newlines + usize::from(data[end - 1] != b'\n');
        out.push(Piece { range: start..end, first_line: line, lines });
        line += newlines as u64;
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

    fn reader(text: &[u8], size: usize, max_line: usize) -> BlockReader {
        BlockReader::new(Box::new(io::Cursor::new(text.to_vec())), size).with_max_line(max_line)
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        let mut r = reader(b"\xef\xbb\xbf{\"a\":1}\n{\"a\":2}\n", 1 << 20, 1 << 20);
        let b = r.next_block().unwrap();
        assert_eq!(b.data, b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(b.first_line, 1);
    }

    #[test]
    fn lone_carriage_returns_end_lines() {
        let mut r = reader(b"a=1\rb=2\rc=3\r", 1 << 20, 1 << 20);
        let b = r.next_block().unwrap();
        assert!(r.cr_line_ends);
        assert_eq!(lines(&b.data).collect::<Vec<_>>(), [&b"a=1"[..], b"b=2", b"c=3"]);
        assert_eq!(r.next_line(), 4);
        // CRLF is not lone CR.
        let mut r = reader(b"a=1\r\nb=2\r\n", 1 << 20, 1 << 20);
        r.next_block().unwrap();
        assert!(!r.cr_line_ends);
    }

    #[test]
    fn a_line_over_the_limit_is_clipped_and_skipped_without_being_held() {
        let mut text = b"first\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 300_000));
        text.extend(b"\nlast\n");
        let mut r = reader(&text, 1024, 8192);
        let mut got = Vec::new();
        while let Some(b) = r.next_block() {
            assert!(b.data.len() <= 64 * 1024 + 8192, "a block held {} bytes", b.data.len());
            got.push((b.first_line, b.oversized, b.data.len()));
        }
        assert_eq!(got[0], (1, None, 6));
        assert_eq!(got[1], (2, Some(300_000), CLIP_BYTES));
        assert_eq!(got[2], (3, None, 5));
        assert_eq!(got.len(), 3);
        // A last line without its newline, over the limit, ends the stream.
        let mut r = reader(&vec![0u8; 200_000], 1024, 8192);
        let b = r.next_block().unwrap();
        assert_eq!((b.first_line, b.oversized), (1, Some(200_000)));
        assert!(r.next_block().is_none());
        assert_eq!(r.next_line(), 2);
    }

    #[test]
    fn split_block_numbers_pieces() {
        let block = Block { data: b"1\n2\n3\n4\n5\n".to_vec(), first_line: 10, oversized: None };
        let parts = split_block(&block, 2);
        assert_eq!(parts[0].first_line, 10);
        for (p, next) in parts.iter().zip(&parts[1..]) {
            assert_eq!(p.first_line + p.lines as u64, next.first_line);
            assert_eq!(p.range.end, next.range.start);
        }
        for p in &parts {
            assert_eq!(p.lines, lines(&block.data[p.range.clone()]).count());
        }
        assert_eq!(parts.iter().map(|p| p.lines).sum::<usize>(), 5);
        assert_eq!(parts.last().unwrap().range.end, block.data.len());
        // A last line without a newline is a line of its piece.
        let block = Block { data: b"1\n2\n3".to_vec(), first_line: 1, oversized: None };
        let parts = split_block(&block, 1);
        assert_eq!((parts.len(), parts[0].lines), (1, 3));
    }
}
