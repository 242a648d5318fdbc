//! The simulator's log writers: one line per event, streamed, in text (key=value with a
//! leading timestamp), JSON lines or CSV, optionally gzipped.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::unknown_value;

/// The layout of simulated logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFormat {
    Text,
    Jsonl,
    Csv,
}

impl SimFormat {
    pub const ALL: [SimFormat; 3] = [SimFormat::Text, SimFormat::Jsonl, SimFormat::Csv];

    pub fn as_str(self) -> &'static str {
        match self {
            SimFormat::Text => "text",
            SimFormat::Jsonl => "jsonl",
            SimFormat::Csv => "csv",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            SimFormat::Text => "log",
            SimFormat::Jsonl => "jsonl",
            SimFormat::Csv => "csv",
        }
    }

    /// The `rootline ingest` format that reads it.
    pub fn ingest_format(self) -> &'static str {
        match self {
            SimFormat::Text => "logfmt",
            SimFormat::Jsonl => "jsonl",
            SimFormat::Csv => "csv",
        }
    }
}

impl fmt::Display for SimFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SimFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SimFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| unknown_value("format", s, SimFormat::ALL.map(SimFormat::as_str)))
    }
}

/// A value of one field: text, a whole number, or absent.
#[derive(Clone, Copy)]
pub enum V<'a> {
    S(&'a str),
    N(u64),
    F(f64),
    None,
}

struct LogFile {
    path: PathBuf,
    out: Box<dyn Write>,
    lines: u64,
    names: &'static [&'static str],
    buf: String,
}

/// RFC 3339 UTC with milliseconds, caching the part up to the seconds.
#[derive(Default)]
struct TsCache {
    second: i64,
    prefix: String,
}

impl TsCache {
    fn write(&mut self, ms: i64, out: &mut String) {
        let second = ms.div_euclid(1000);
        if second != self.second || self.prefix.is_empty() {
            self.second = second;
            self.prefix = chrono::DateTime::from_timestamp(second, 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
                .unwrap_or_default();
        }
        out.push_str(&self.prefix);
        let _ = fmt::Write::write_fmt(out, format_args!(".{:03}Z", ms.rem_euclid(1000)));
    }
}

impl LogFile {
    fn create(
        path: PathBuf,
        gzip: bool,
        names: &'static [&'static str],
        format: SimFormat,
    ) -> io::Result<LogFile> {
        let file = File::create(&path)?;
        let out: Box<dyn Write> = if gzip {
            Box::new(BufWriter::with_capacity(
                1 << 20,
                flate2::write::GzEncoder::new(file, flate2::Compression::default()),
            ))
        } else {
            Box::new(BufWriter::with_capacity(1 << 20, file))
        };
        let mut f = LogFile { path, out, lines: 0, names, buf: String::with_capacity(256) };
        if format == SimFormat::Csv {
            let header =
                std::iter::once("ts").chain(names.iter().copied()).collect::<Vec<_>>().join(",");
            writeln!(f.out, "{header}")?;
        }
        Ok(f)
    }

    fn line(
        &mut self,
        format: SimFormat,
        ts: &mut TsCache,
        ms: i64,
        values: &[V],
    ) -> io::Result<()> {
        use fmt::Write as _;
        let b = &mut self.buf;
        b.clear();
        match format {
            SimFormat::Text => ts.write(ms, b),
            SimFormat::Jsonl => {
                b.push_str("{\"ts\":\"");
                ts.write(ms, b);
                b.push('"');
            }
            SimFormat::Csv => ts.write(ms, b),
        }
        for (name, v) in self.names.iter().zip(values) {
            match (format, v) {
                (SimFormat::Text, V::None) | (SimFormat::Jsonl, V::None) => {}
                (SimFormat::Csv, V::None) => b.push(','),
                (SimFormat::Text, _) => {
                    let _ = write!(b, " {name}=");
                    push_value(b, v, false);
                }
                (SimFormat::Jsonl, _) => {
                    let _ = write!(b, ",\"{name}\":");
                    push_value(b, v, true);
                }
                (SimFormat::Csv, _) => {
                    b.push(',');
                    push_value(b, v, false);
                }
            }
        }
        if format == SimFormat::Jsonl {
            b.push('}');
        }
        b.push('\n');
        self.lines += 1;
        self.out.write_all(b.as_bytes())
    }
}

fn push_value(b: &mut String, v: &V, json: bool) {
    use fmt::Write as _;
    match v {
        V::S(s) if json => {
            b.push('"');
            b.push_str(s);
            b.push('"');
        }
        V::S(s) => b.push_str(s),
        V::N(n) => {
            let _ = write!(b, "{n}");
        }
        V::F(x) => {
            let _ = write!(b, "{x:.1}");
        }
        V::None => {}
    }
}

pub const LOGIN_FIELDS: &[&str] = &["host", "user", "client", "outcome", "reason", "latency_ms"];
pub const NODE_FIELDS: &[&str] = &["node", "event", "load", "capacity", "cpu", "mem", "reason"];
pub const CHANGE_FIELDS: &[&str] = &["kind", "target", "item", "status"];

/// The three logs of a run.
pub struct Writers {
    format: SimFormat,
    ts: TsCache,
    login: LogFile,
    node: LogFile,
    change: LogFile,
}

impl Writers {
    pub fn create(dir: &Path, format: SimFormat, gzip: bool) -> io::Result<Writers> {
        let path = |n| super::log_path(dir, n, format, gzip);
        Ok(Writers {
            format,
            ts: TsCache::default(),
            login: LogFile::create(path("login"), gzip, LOGIN_FIELDS, format)?,
            node: LogFile::create(path("supernodes"), gzip, NODE_FIELDS, format)?,
            change: LogFile::create(path("patches"), gzip, CHANGE_FIELDS, format)?,
        })
    }

    pub fn login(&mut self, ms: i64, v: &[V]) -> io::Result<()> {
        self.login.line(self.format, &mut self.ts, ms, v)
    }
    pub fn node(&mut self, ms: i64, v: &[V]) -> io::Result<()> {
        self.node.line(self.format, &mut self.ts, ms, v)
    }
    pub fn change(&mut self, ms: i64, v: &[V]) -> io::Result<()> {
        self.change.line(self.format, &mut self.ts, ms, v)
    }

    /// Flushes and closes the files; returns each path with its line count.
    pub fn finish(self) -> io::Result<Vec<(PathBuf, u64)>> {
        let mut out = Vec::new();
        for mut f in [self.login, self.node, self.change] {
            f.out.flush()?;
            drop(f.out);
            out.push((f.path, f.lines));
        }
        Ok(out)
    }
}
