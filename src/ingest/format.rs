//! Log formats as data: the built-in format files (`formats/*.toml`, embedded), their
//! validation, and the per-source line parser a format becomes.
//!
//! A format says how a line splits into raw fields and where its timestamp is; it knows nothing
//! of roles (that is a preset's job). Every format file carries sample lines with the timestamp
//! and fields they must give; `all_format_samples_parse` checks them all.

use std::collections::BTreeMap;

use regex::{CaptureLocations, Regex};
use serde::Deserialize;

use super::record::{Record, RegexSet, parse_delimited, parse_json, parse_logfmt};
use crate::error::{ConfigError, unknown_value};

/// How a format splits a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormatKind {
    Jsonl,
    Csv,
    Tsv,
    Logfmt,
    Regex,
    Parquet,
    Ipc,
}

impl FormatKind {
    /// Binary formats are read whole by Polars, not line by line.
    pub fn is_binary(self) -> bool {
        matches!(self, FormatKind::Parquet | FormatKind::Ipc)
    }
}

/// One sample line of a format file and what it must give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FormatSample {
    pub line: String,
    /// The UTC time the line must parse to (RFC 3339).
    pub ts: String,
    /// The year assumed for yearless stamps.
    pub year: Option<i32>,
    /// The source's zone for local stamps.
    pub tz: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// A format file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FormatDef {
    pub name: String,
    pub title: String,
    pub kind: FormatKind,
    #[serde(default)]
    pub patterns: Vec<String>,
    pub timestamp_field: Option<String>,
    pub timestamp_format: Option<String>,
    /// Lines that carry no event and are skipped, not rejected (journalctl's `-- Boot ... --`).
    #[serde(default)]
    pub skip: Vec<String>,
    #[serde(default)]
    pub sample: Vec<FormatSample>,
}

/// A format ready to use: its definition and compiled patterns.
#[derive(Debug, Clone)]
pub struct Format {
    pub def: FormatDef,
    /// The patterns, compiled when the format is read from a user's file (its errors are
    /// the user's to see) and, for a built-in one, when first used ([`Format::compiled`]).
    compiled: std::sync::OnceLock<Compiled>,
}

/// A format's line patterns and skip patterns, compiled.
#[derive(Debug, Clone)]
struct Compiled {
    regex: Option<RegexSet>,
    skip: Option<regex::RegexSet>,
}

/// The built-in files (`src/ingest/formats/*.toml`) by name, embedded in the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("parquet.toml", include_str!("formats/parquet.toml")),
    ("ipc.toml", include_str!("formats/ipc.toml")),
    ("jsonl.toml", include_str!("formats/jsonl.toml")),
    ("syslog_iso.toml", include_str!("formats/syslog_iso.toml")),
    ("syslog5424.toml", include_str!("formats/syslog5424.toml")),
    ("syslog.toml", include_str!("formats/syslog.toml")),
    ("windows_cbs.toml", include_str!("formats/windows_cbs.toml")),
    ("dpkg.toml", include_str!("formats/dpkg.toml")),
    ("bgl.toml", include_str!("formats/bgl.toml")),
    ("hpc.toml", include_str!("formats/hpc.toml")),
    ("apache_error.toml", include_str!("formats/apache_error.toml")),
    ("access_log.toml", include_str!("formats/access_log.toml")),
    ("android.toml", include_str!("formats/android.toml")),
    ("hdfs.toml", include_str!("formats/hdfs.toml")),
    ("spark.toml", include_str!("formats/spark.toml")),
    ("openstack.toml", include_str!("formats/openstack.toml")),
    ("proxifier.toml", include_str!("formats/proxifier.toml")),
    ("healthapp.toml", include_str!("formats/healthapp.toml")),
    ("logfmt.toml", include_str!("formats/logfmt.toml")),
    ("csv.toml", include_str!("formats/csv.toml")),
    ("tsv.toml", include_str!("formats/tsv.toml")),
    ("iso_text.toml", include_str!("formats/iso_text.toml")),
    ("epoch_text.toml", include_str!("formats/epoch_text.toml")),
];

impl Format {
    /// Parses and checks one format file: kebab-case keys only, regex formats need patterns
    /// with a `ts` group named by `timestamp-field`, and line formats need samples.
    pub fn from_toml(file: &str, text: &str) -> Result<Format, ConfigError> {
        let f = Format::unchecked(file, text)?;
        let compiled = f.compile(file)?;
        Ok(Format { compiled: compiled.into(), ..f })
    }

    /// A format file read, its patterns left to compile when first used: a built-in one,
    /// whose patterns the tests check. A source whose format is given needs only its own
    /// (and a preset's samples the first format that reads them): an ingest of W1's first
    /// 1000 CSV lines took 26.4 ms with every built-in format compiled at the start, 12.6 ms
    /// without (hyperfine, 30 runs each).
    fn unchecked(file: &str, text: &str) -> Result<Format, ConfigError> {
        let def: FormatDef = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: file.into(),
            message: e.message().to_string(),
        })?;
        if !def.kind.is_binary() && def.sample.is_empty() {
            let m = "every line format needs at least one [[sample]]";
            return Err(ConfigError::Invalid(format!("format file {file}: {m}")));
        }
        Ok(Format { def, compiled: std::sync::OnceLock::new() })
    }

    /// Compiles the patterns, or says which is wrong.
    fn compile(&self, file: &str) -> Result<Compiled, ConfigError> {
        let def = &self.def;
        let bad = |m: String| ConfigError::Invalid(format!("format file {file}: {m}"));
        let regex = if def.kind == FormatKind::Regex {
            if def.patterns.is_empty() {
                return Err(bad("a regex format needs `patterns`".into()));
            }
            let ts = def.timestamp_field.as_deref().unwrap_or("ts");
            let mut patterns = Vec::new();
            for p in &def.patterns {
                let re = Regex::new(p).map_err(|e| bad(format!("bad pattern: {e}")))?;
                if !re.capture_names().any(|n| n == Some(ts)) {
                    return Err(bad(format!("pattern has no (?P<{ts}>...) group: {p}")));
                }
                patterns.push(re);
            }
            Some(RegexSet::new(patterns))
        } else {
            None
        };
        let skip = if def.skip.is_empty() {
            None
        } else {
            Some(
                regex::RegexSet::new(&def.skip)
                    .map_err(|e| bad(format!("bad skip pattern: {e}")))?,
            )
        };
        Ok(Compiled { regex, skip })
    }

    /// The compiled patterns (compiled now if they were not yet: a built-in format's).
    fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| {
            self.compile(&format!("{}.toml", self.def.name))
                .expect("built-in format files are checked by tests")
        })
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Reads a user's format file (`format = "mine.toml"`) and checks its samples.
    pub fn from_file(path: &std::path::Path) -> Result<Format, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let f = Format::from_toml(&path.display().to_string(), &text)?;
        f.check_samples()
            .map_err(|message| ConfigError::Parse { path: path.to_path_buf(), message })?;
        Ok(f)
    }

    /// Every sample must parse, give its fields, and its timestamp must read as the UTC time
    /// the sample states; the first that does not is the error.
    pub fn check_samples(&self) -> Result<(), String> {
        use super::time::{TimeState, TsFormat, TsParser, Zone};
        for s in &self.def.sample {
            let sample = |m: String| format!("format {}: sample \"{}\": {m}", self.name(), s.line);
            let parser = LineParser::new(self).with_first_line(&s.line);
            let mut locs = parser.locations();
            let mut rec = Record::default();
            parser.parse(&s.line, &mut locs, &mut rec).map_err(sample)?;
            let mut names: Vec<String> = match &self.def.timestamp_field {
                Some(n) => vec![n.clone()],
                None => crate::schema::TS_ALIASES.iter().map(|s| s.to_string()).collect(),
            };
            names.push("column_1".into());
            let raw = names
                .iter()
                .find_map(|n| rec.get(n))
                .ok_or_else(|| sample("no timestamp field".into()))?;
            let format: TsFormat =
                self.def.timestamp_format.as_deref().unwrap_or("auto").parse().map_err(sample)?;
            let zone: Zone = s.tz.as_deref().unwrap_or("UTC").parse().map_err(sample)?;
            let ms = TsParser::new(format, zone)
                .parse(raw, &mut TimeState::new(s.year.unwrap_or(2000)))
                .map_err(|e| sample(format!("timestamp \"{raw}\": {e}")))?;
            let got = crate::units::rfc3339_millis(ms);
            if got != s.ts {
                return Err(sample(format!("gave the time {got}, not {}", s.ts)));
            }
            for (k, v) in &s.fields {
                if rec.get(k) != Some(v.as_str()) {
                    return Err(sample(format!("gave {k} = {:?}, not \"{v}\"", rec.get(k))));
                }
            }
        }
        Ok(())
    }
}

/// The known formats, in detection order (most specific first).
#[derive(Debug, Clone)]
pub struct Formats {
    pub list: Vec<Format>,
}

impl Formats {
    /// The formats built into the binary.
    pub fn builtin() -> Formats {
        let list = BUILTIN
            .iter()
            .map(|(file, text)| {
                Format::unchecked(file, text).expect("built-in format files are checked by tests")
            })
            .collect();
        Formats { list }
    }

    pub fn get(&self, name: &str) -> Result<&Format, ConfigError> {
        self.list.iter().find(|f| f.def.name == name).ok_or_else(|| {
            ConfigError::Invalid(unknown_value("format", name, self.list.iter().map(Format::name)))
        })
    }

    /// A user format from `--pattern` / `pattern = "..."`: one regex with named groups.
    pub fn custom_regex(pattern: &str) -> Result<Format, ConfigError> {
        let re = Regex::new(pattern)
            .map_err(|e| ConfigError::Invalid(format!("bad pattern \"{pattern}\": {e}")))?;
        let ts = ["ts", "timestamp", "time"]
            .into_iter()
            .find(|n| re.capture_names().any(|c| c == Some(*n)))
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "pattern \"{pattern}\" has no timestamp group; name one (?P<ts>...)"
                ))
            })?;
        Ok(Format {
            def: FormatDef {
                name: "regex".into(),
                title: "user pattern".into(),
                kind: FormatKind::Regex,
                patterns: vec![pattern.into()],
                timestamp_field: Some(ts.into()),
                timestamp_format: None,
                skip: vec![],
                sample: vec![],
            },
            compiled: Compiled { regex: Some(RegexSet::new(vec![re])), skip: None }.into(),
        })
    }
}

/// Turns lines of one source into records: a format plus what the source's first lines told
/// (a CSV header).
#[derive(Debug, Clone)]
pub struct LineParser {
    pub kind: FormatKind,
    regex: Option<RegexSet>,
    skip: Option<regex::RegexSet>,
    /// Column names of a delimited source (its header, or `column_1`, `column_2`, ...).
    pub columns: Vec<String>,
    /// Whether the first line of the file is a header (and so is skipped).
    pub has_header: bool,
    /// The keys of a JSON source's first line, in order: lines with just these keys in this
    /// order are read by position ([`Record::unbound`]).
    keys: Vec<String>,
}

impl LineParser {
    pub fn new(format: &Format) -> LineParser {
        let Compiled { regex, skip } = format.compiled().clone();
        LineParser {
            kind: format.def.kind,
            regex,
            skip,
            columns: vec![],
            has_header: false,
            keys: vec![],
        }
    }

    /// Sets up a delimited parser from the source's first line: it is a header when none of
    /// its fields looks like a number or a timestamp.
    pub fn with_first_line(mut self, first: &str) -> LineParser {
        if self.kind == FormatKind::Jsonl {
            self.keys = super::record::json_keys(first).unwrap_or_default();
            return self;
        }
        let delim = self.delimiter();
        if delim == 0 {
            return self;
        }
        let fields = super::record::split_delimited(first, delim).unwrap_or_default();
        let is_header = !fields.is_empty()
            && fields.iter().all(|f| {
                let f = f.trim();
                !f.is_empty() && !f.as_bytes()[0].is_ascii_digit() && f.parse::<f64>().is_err()
            });
        if is_header {
            self.columns = fields.iter().map(|f| f.trim().to_string()).collect();
            self.has_header = true;
        } else {
            self.columns = (1..=fields.len().max(1)).map(|i| format!("column_{i}")).collect();
        }
        self
    }

    /// The fields every record of this parser has, in order, when that is fixed: a delimited
    /// source's columns, or the groups of a format with one pattern the byte scan reads (each
    /// of its groups takes part in every match). `None` for the rest (JSON, logfmt, ...).
    pub fn layout(&self) -> Option<Vec<&str>> {
        match self.kind {
            FormatKind::Csv | FormatKind::Tsv => {
                Some(self.columns.iter().map(String::as_str).collect())
            }
            FormatKind::Regex => self.regex.as_ref()?.layout(),
            FormatKind::Jsonl if !self.keys.is_empty() => {
                Some(self.keys.iter().map(String::as_str).collect())
            }
            _ => None,
        }
    }

    fn delimiter(&self) -> u8 {
        match self.kind {
            FormatKind::Csv => b',',
            FormatKind::Tsv => b'\t',
            _ => 0,
        }
    }

    pub fn locations(&self) -> Vec<CaptureLocations> {
        self.regex.as_ref().map(RegexSet::locations).unwrap_or_default()
    }

    /// Whether the format says this line carries no event (it is then skipped).
    pub fn skips(&self, line: &str) -> bool {
        self.skip.as_ref().is_some_and(|s| s.is_match(line))
    }

    /// Splits one line (without its line ending) into `rec`.
    pub fn parse<'a>(
        &'a self,
        line: &'a str,
        locs: &mut [CaptureLocations],
        rec: &mut Record<'a>,
    ) -> Result<(), String> {
        match self.kind {
            FormatKind::Jsonl => parse_json(line, rec, &self.keys),
            FormatKind::Logfmt => parse_logfmt(line, rec),
            FormatKind::Csv | FormatKind::Tsv => {
                parse_delimited(line, self.delimiter(), &self.columns, rec)
            }
            FormatKind::Regex => match &self.regex {
                Some(set) => set.parse(line, locs, rec),
                None => Err("regex format without patterns".into()),
            },
            FormatKind::Parquet | FormatKind::Ipc => Err("binary format has no lines".into()),
        }
    }
}
