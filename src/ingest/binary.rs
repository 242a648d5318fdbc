//! Parquet and Arrow IPC files read as JSON lines, so that their rows go through the same
//! mapping and accounting as text: a slice of rows at a time, as the lines are read.
//!
//! The whole file as JSON text at once took memory in proportion to the file, several times
//! its size: a 30 MB Parquet file of W1's 2M lines made 577 MB of peak RSS. Here a Parquet
//! file is decoded [`SLICE_ROWS`] rows at a time, and each slice's JSON is made only when the
//! reader has used up the last. (An IPC file is read whole, as Polars reads it, and written
//! out a slice at a time.)

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use polars::prelude::*;

use crate::error::IngestError;

/// Rows decoded and written as JSON at a time.
const SLICE_ROWS: usize = 1 << 16;

/// What a binary file's columns had to become to be JSON (see [`json_ready`]), one note each
/// in column order; shared with the ingest that reads the lines, which reports them.
pub type Notes = Arc<Mutex<Vec<String>>>;

/// The end of a binary column's note when some value was not UTF-8 (written as hex).
const HEX: &str = " (hex where not UTF-8)";

/// A Parquet or IPC file's rows as JSON lines (times as epoch milliseconds), made a slice at
/// a time as they are read.
pub struct BinaryLines {
    source: Source,
    rows: usize,
    next: usize,
    json: Vec<u8>,
    at: usize,
    notes: Notes,
}

enum Source {
    Parquet { path: PathBuf, metadata: polars::io::parquet::metadata::FileMetadataRef },
    Ipc(DataFrame),
}

/// The notes taken so far, in order (none without a binary file).
pub fn take(notes: Option<Notes>) -> Vec<String> {
    let Some(notes) = notes else { return Vec::new() };
    std::mem::take(&mut *notes.lock().unwrap_or_else(|e| e.into_inner()))
}

impl BinaryLines {
    /// Opens `path`; also whether its columns hold times (written as epoch milliseconds), and
    /// the notes of what its columns became, which grow as the rows are read.
    pub fn open(path: &Path, parquet: bool) -> Result<(BinaryLines, bool, Notes), IngestError> {
        let read_err = |e| IngestError::Read { path: path.to_path_buf(), source: e };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let (source, rows, times) = if parquet {
            let mut reader = ParquetReader::new(file);
            let rows = reader.num_rows()?;
            let times = reader.schema()?.iter_values().any(|f| {
                use polars_arrow::datatypes::ArrowDataType as A;
                matches!(f.dtype(), A::Timestamp(..) | A::Date32 | A::Date64)
            });
            let metadata = reader.get_metadata()?.clone();
            (Source::Parquet { path: path.to_path_buf(), metadata }, rows, times)
        } else {
            let df = IpcReader::new(file).finish()?;
            let times =
                df.dtypes().iter().any(|t| matches!(t, DataType::Datetime(..) | DataType::Date));
            let rows = df.height();
            (Source::Ipc(df), rows, times)
        };
        let notes = Notes::default();
        let lines =
            BinaryLines { source, rows, next: 0, json: Vec::new(), at: 0, notes: notes.clone() };
        Ok((lines, times, notes))
    }

    /// The next slice's rows as JSON lines, in place of the last.
    fn next_slice(&mut self) -> PolarsResult<()> {
        let len = SLICE_ROWS.min(self.rows - self.next);
        let df = match &self.source {
            Source::Parquet { path, metadata } => {
                let file = std::fs::File::open(path)?;
                let mut reader = ParquetReader::new(file);
                reader.set_metadata(metadata.clone());
                reader.with_slice(Some((self.next, len))).finish()?
            }
            Source::Ipc(df) => df.slice(self.next as i64, len),
        };
        self.next += len;
        let mut keep = Vec::with_capacity(df.width());
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        for c in df.columns() {
            let name = c.name().to_string();
            match json_ready(c) {
                Ok((c, note)) => {
                    if let Some(n) = note {
                        note_once(&mut notes, format!("column {name}: {n}"));
                    }
                    keep.push(c);
                }
                Err(why) => note_once(&mut notes, format!("column {name} left out: {why}")),
            }
        }
        drop(notes);
        let mut df = DataFrame::new(df.height(), keep)?;
        self.json.clear();
        self.at = 0;
        JsonWriter::new(&mut self.json).with_json_format(JsonFormat::JsonLines).finish(&mut df)
    }
}

impl Read for BinaryLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.json.len() {
            if self.next >= self.rows {
                return Ok(0);
            }
            self.next_slice().map_err(io::Error::other)?;
        }
        let n = out.len().min(self.json.len() - self.at);
        out[..n].copy_from_slice(&self.json[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Adds `note` unless it is there, or a fuller one of the same column: a binary column with
/// a value that is not UTF-8 in any slice says so once ([`json_ready`]'s two notes), in the
/// place of its first note.
fn note_once(notes: &mut Vec<String>, note: String) {
    let fuller = format!("{note}{HEX}");
    if notes.contains(&note) || notes.contains(&fuller) {
        return;
    }
    let plain = note.strip_suffix(HEX).and_then(|plain| notes.iter().position(|n| n == plain));
    match plain {
        Some(at) => notes[at] = note,
        None => notes.push(note),
    }
}

/// A column as JSON lines can carry it, and a note when it had to change. Columns JSON
/// cannot hold as they are become text or numbers (binary as UTF-8 text, else hex; decimals
/// as floats); what cannot be read at all is left out (an error says why).
fn json_ready(c: &Column) -> Result<(Column, Option<String>), String> {
    let as_ms = |c: &Column| {
        c.cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .and_then(|c| c.cast(&DataType::Int64))
            .map_err(|e| e.to_string())
    };
    match c.dtype() {
        DataType::Boolean
        | DataType::String
        | DataType::Null
        | DataType::Float32
        | DataType::Float64 => Ok((c.clone(), None)),
        dt if dt.is_integer() => Ok((c.clone(), None)),
        DataType::Datetime(..) | DataType::Date => Ok((as_ms(c)?, None)),
        DataType::Binary | DataType::BinaryOffset => {
            let bin = c.cast(&DataType::Binary).map_err(|e| e.to_string())?;
            let bin = bin.binary().map_err(|e| e.to_string())?;
            let mut hex = false;
            let text: StringChunked = bin
                .iter()
                .map(|v| {
                    v.map(|b| match std::str::from_utf8(b) {
                        Ok(s) => s.to_string(),
                        Err(_) => {
                            hex = true;
                            b.iter().map(|x| format!("{x:02x}")).collect()
                        }
                    })
                })
                .collect();
            let note = format!("binary, read as text{}", if hex { HEX } else { "" });
            Ok((text.with_name(c.name().clone()).into_column(), Some(note)))
        }
        dt if dt.is_decimal() => c
            .cast(&DataType::Float64)
            .map(|c| (c, Some("decimal, read as a float".into())))
            .map_err(|e| e.to_string()),
        DataType::Categorical(..) | DataType::Enum(..) | DataType::Time => {
            c.cast(&DataType::String).map(|c| (c, None)).map_err(|e| e.to_string())
        }
        DataType::Duration(_) => c
            .cast(&DataType::Int64)
            .map(|c| (c, Some("duration, read as a number in its unit".into())))
            .map_err(|e| e.to_string()),
        dt => match c.cast(&DataType::String) {
            Ok(t) => Ok((t, Some(format!("{dt}, read as text")))),
            Err(_) => Err(format!("type {dt} has no text form")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of `n` rows: times, text, and a binary column whose only value that is not
    /// UTF-8 lies in the last slice.
    fn frame(n: usize) -> DataFrame {
        let ts = Series::new(
            "ts".into(),
            (0..n as i64).map(|i| 1_187_000_000_000 + i).collect::<Vec<_>>(),
        )
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .unwrap();
        let user = Series::new("user".into(), (0..n).map(|i| format!("u{i}")).collect::<Vec<_>>());
        let blob: Vec<Vec<u8>> =
            (0..n).map(|i| if i == n - 1 { vec![0xff, 0] } else { b"text".to_vec() }).collect();
        let blob = Series::new("blob".into(), blob);
        DataFrame::new(n, vec![ts.into(), user.into(), blob.into()]).unwrap()
    }

    fn read_all(path: &Path, parquet: bool) -> (Vec<u8>, bool, Vec<String>) {
        let (mut lines, times, notes) = BinaryLines::open(path, parquet).unwrap();
        let mut out = Vec::new();
        lines.read_to_end(&mut out).unwrap();
        (out, times, take(Some(notes)))
    }

    /// Read a slice at a time, a file gives the lines the whole file gave at once, and one
    /// note per column (the fuller one when a later slice needs it).
    #[test]
    fn a_binary_file_reads_as_the_json_lines_of_all_its_rows() {
        let dir = std::env::temp_dir().join(format!("rootline-binary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = 2 * SLICE_ROWS + 5;
        let mut df = frame(n);
        let (pq, ipc) = (dir.join("f.parquet"), dir.join("f.arrow"));
        ParquetWriter::new(std::fs::File::create(&pq).unwrap()).finish(&mut df).unwrap();
        IpcWriter::new(std::fs::File::create(&ipc).unwrap()).finish(&mut df).unwrap();
        // The whole frame at once, as ingest wrote it before.
        let mut whole =
            DataFrame::new(n, df.columns().iter().map(|c| json_ready(c).unwrap().0).collect())
                .unwrap();
        let mut want = Vec::new();
        JsonWriter::new(&mut want)
            .with_json_format(JsonFormat::JsonLines)
            .finish(&mut whole)
            .unwrap();
        for (path, parquet) in [(&pq, true), (&ipc, false)] {
            let (got, times, notes) = read_all(path, parquet);
            assert_eq!(got.iter().filter(|&&b| b == b'\n').count(), n);
            assert!(got == want, "{path:?}: the same lines");
            assert!(times);
            assert_eq!(notes, ["column blob: binary, read as text (hex where not UTF-8)"]);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_binary_columns_note_is_its_fullest_once() {
        let mut notes = Vec::new();
        note_once(&mut notes, "column b: binary, read as text".into());
        note_once(&mut notes, "column b: binary, read as text (hex where not UTF-8)".into());
        note_once(&mut notes, "column b: binary, read as text".into());
        note_once(&mut notes, "column c: binary, read as text".into());
        // In the order the columns come, not sorted.
        note_once(&mut notes, "column a: decimal, read as a float".into());
        assert_eq!(
            notes,
            [
                "column b: binary, read as text (hex where not UTF-8)",
                "column c: binary, read as text",
                "column a: decimal, read as a float"
            ]
        );
    }
}
