//! Source -> plan: choose how to read one source from what it asks for and, where it leaves a
//! choice open, from its first lines (format, timestamp layout, preset or role).
//!
//! Detection scores every candidate on the same sample and keeps the best; ties go to the
//! earlier (more specific) format, and to a direct column mapping over a preset.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::format::{Format, FormatKind, Formats, LineParser};
use super::preset::{DirectMap, Mapped, Mapper, Preset, field_template};
use super::record::Record;
use super::time::{TimeState, TsFormat, TsParser, Zone};
use crate::error::{ConfigError, unknown_value};
use crate::schema::{Role, TS_ALIASES};

/// What the user says about one source; everything left `None` is detected. This is also a
/// `[[source]]` entry of incident.toml as written (there `path` may be a glob, which
/// [`crate::config::IncidentConfig::specs`] expands); the command line's flags map onto it in
/// `cli::args`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceSpec {
    pub path: PathBuf,
    pub role: Option<Role>,
    pub format: Option<String>,
    pub preset: Option<String>,
    /// The zone of timestamps without an offset: UTC, `+02:00` or an IANA name.
    #[serde(default, deserialize_with = "zone_from_text")]
    pub tz: Option<Zone>,
    pub year: Option<i32>,
    /// A regex with named groups, for a layout no built-in format knows.
    pub pattern: Option<String>,
    /// How the timestamp is written (`iso`, `epoch_ms`, a strftime pattern...).
    pub ts_format: Option<String>,
    /// Raw field name -> table column.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Raw value -> table value, per column (see [`super::preset::ValueMap`]).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Lines are kept only when these raw fields match these regexes (`path = '^/login'`);
    /// the rest are skipped.
    #[serde(default)]
    pub keep: BTreeMap<String, String>,
    /// Where these settings were written, for messages: `incident.toml: source[1]`; `None`
    /// for command-line flags.
    #[serde(skip)]
    pub origin: Option<String>,
}

fn zone_from_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Zone>, D::Error> {
    let text: Option<String> = serde::Deserialize::deserialize(d)?;
    text.map(|t| t.parse().map_err(serde::de::Error::custom)).transpose()
}

impl SourceSpec {
    /// How a message names one of this source's settings: `incident.toml: source[1].format`
    /// when it came from a config, `--format` when from the command line.
    pub fn key(&self, key: &str) -> String {
        match &self.origin {
            Some(o) => format!("{o}.{key}"),
            None if key == "fields" => "--field".to_string(),
            None => format!("--{key}"),
        }
    }
}

/// Checks what a source asks for before any file is read, so that a typo in the last source
/// is found before the first is ingested; the message names the setting and the fix.
pub fn check_spec(spec: &SourceSpec, registry: &Registry) -> Result<(), ConfigError> {
    let bad = |key: &str, msg: String| ConfigError::Invalid(format!("{}: {msg}", spec.key(key)));
    if let Some(f) = spec.format.as_deref().filter(|f| *f != "auto") {
        registry.format(f).map_err(|e| bad("format", e.to_string()))?;
    }
    if let Some(p) = spec.preset.as_deref().filter(|p| *p != "auto") {
        registry.preset(p).map_err(|e| bad("preset", e.to_string()))?;
    }
    if let Some(t) = &spec.ts_format {
        t.parse::<TsFormat>().map_err(|e| bad("ts-format", e))?;
    }
    if let Some(p) = &spec.pattern {
        Formats::custom_regex(p).map_err(|e| bad("pattern", e.to_string()))?;
    }
    for (k, re) in &spec.keep {
        regex::Regex::new(re).map_err(|e| bad("keep", format!("{k}: {e}")))?;
    }
    if let Some(y) = spec.year
        && !(1..=9999).contains(&y)
    {
        return Err(bad("year", format!("{y} is out of range; give a year from 1 to 9999")));
    }
    let roles = match spec.role {
        Some(r) => vec![r],
        None => Role::ALL.to_vec(),
    };
    for (col, map) in &spec.values {
        let known = roles.iter().any(|r| r.columns().iter().any(|c| c.name == col));
        if !known {
            return Err(bad("values", format!("no role has a column \"{col}\"")));
        }
        super::preset::ValueMap::new(map).map_err(|e| bad("values", e))?;
    }
    for col in spec.fields.values() {
        let known = col == "ts" || roles.iter().any(|r| r.columns().iter().any(|c| c.name == col));
        if !known {
            let mut valid: Vec<&str> = vec!["ts"];
            for r in &roles {
                for c in r.columns() {
                    if !valid.contains(&c.name) {
                        valid.push(c.name);
                    }
                }
            }
            return Err(bad("fields", unknown_value("column", col, valid)));
        }
    }
    Ok(())
}

/// The formats and presets rootline knows. The built-in presets are compiled when first
/// asked for: a source that names its own preset file never needs them, and their regexes
/// held up each run's start (an ingest of 1000 lines: 49.9 ms with them, 39.5 ms without).
/// So is each built-in format's pattern ([`super::format::Format`]).
#[derive(Debug, Clone)]
pub struct Registry {
    pub formats: Formats,
    presets: std::sync::OnceLock<Vec<Preset>>,
}

impl Registry {
    pub fn builtin() -> Registry {
        Registry { formats: Formats::builtin(), presets: std::sync::OnceLock::new() }
    }

    /// The built-in presets.
    pub fn presets(&self) -> &[Preset] {
        self.presets.get_or_init(super::preset::builtin_presets)
    }

    /// A preset by name, or read from a file when the name is a path to a `.toml` file (a
    /// user's own preset, its samples checked as it loads).
    pub fn preset(&self, name: &str) -> Result<Cow<'_, Preset>, ConfigError> {
        if let Some(path) = user_file(name) {
            return Preset::from_file(path, &self.formats).map(Cow::Owned);
        }
        let found =
            self.presets().iter().find(|p| p.name == name || p.aliases.iter().any(|a| a == name));
        found.map(Cow::Borrowed).ok_or_else(|| {
            ConfigError::Invalid(unknown_value(
                "preset",
                name,
                self.presets().iter().map(|p| &p.name),
            ))
        })
    }

    /// A format by name, or read from a file when the name is a path to a `.toml` file.
    pub fn format(&self, name: &str) -> Result<Cow<'_, Format>, ConfigError> {
        if let Some(path) = user_file(name) {
            return Format::from_file(path).map(Cow::Owned);
        }
        self.formats.get(name).map(Cow::Borrowed)
    }
}

/// A setting that names a file of the user's (`mine.toml`) rather than a built-in.
pub(crate) fn user_file(name: &str) -> Option<&std::path::Path> {
    let path = std::path::Path::new(name);
    let is_file = name.ends_with(".toml") || name.contains('/') || name.contains('\\');
    is_file.then_some(path)
}

/// How one source is read, decided.
#[derive(Debug, Clone)]
pub struct SourcePlan {
    pub format: String,
    pub parser: LineParser,
    pub ts: TsParser,
    pub mapper: Mapper,
    pub year: i32,
    /// What was detected rather than given, for the user to check.
    pub notes: Vec<String>,
    /// The source's `keep` filter: a line whose fields do not all match is skipped.
    pub keep: Vec<(Vec<String>, regex::Regex)>,
    /// Rows outside `[since, until)` are skipped.
    pub range: (Option<i64>, Option<i64>),
    /// The columns to build (see [`super::IngestOptions::columns`]).
    pub columns: Option<crate::schema::Columns>,
    /// Table column -> the raw field it is read from (for a direct mapping).
    pub mapping: BTreeMap<String, String>,
}

impl SourcePlan {
    pub fn role(&self) -> Option<Role> {
        self.mapper.role()
    }

    pub fn preset(&self) -> Option<&str> {
        match &self.mapper {
            Mapper::Preset { preset, .. } => Some(&preset.name),
            _ => None,
        }
    }

    pub fn with_range(mut self, since: Option<i64>, until: Option<i64>) -> SourcePlan {
        self.range = (since, until);
        self
    }

    pub fn with_columns(mut self, columns: Option<crate::schema::Columns>) -> SourcePlan {
        self.columns = columns;
        self
    }

    /// Whether a row at `ms` is in the range asked for.
    pub fn in_range(&self, ms: i64) -> bool {
        self.range.0.is_none_or(|s| ms >= s) && self.range.1.is_none_or(|u| ms < u)
    }

    /// Whether a parsed line passes the source's `keep` filter.
    pub fn keeps(&self, rec: &Record) -> bool {
        self.keep.iter().all(|(names, re)| {
            names.iter().find_map(|n| rec.get(n)).is_some_and(|v| re.is_match(v))
        })
    }

    /// Whether lines must be read in order (yearless stamps, or a zone with DST).
    pub fn is_stateful(&self) -> bool {
        self.ts.zone.is_stateful()
            || match &self.ts.format {
                TsFormat::Syslog | TsFormat::Auto => true,
                TsFormat::Strftime(f) => {
                    !(f.contains("%Y") || f.contains("%y") || f.contains("%s"))
                }
                _ => false,
            }
    }
}

/// Recycles a vector's allocation for a vector of the same shape with another lifetime.
/// Inlined, and without the standard library's in-place collect: ingest calls it four times
/// a line, and the collect's call handed the vector back through memory, where the next
/// 16-byte load stalled on its 8-byte stores (perf: 1-2% of a W1 CSV ingest).
#[inline(always)]
pub fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    const { assert!(size_of::<T>() == size_of::<U>() && align_of::<T>() == align_of::<U>()) };
    v.clear();
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: the allocation holds no element, and `U` has `T`'s size and alignment (checked
    // above when compiled), so it is a valid allocation of `v.capacity()` slots of `U`.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<U>(), 0, v.capacity()) }
}

fn ts_names(
    format: &Format,
    parser: &LineParser,
    first: Option<&Record>,
    presets: &[String],
) -> Vec<String> {
    if let Some(f) = &format.def.timestamp_field {
        return vec![f.clone()];
    }
    let mut names: Vec<String> = TS_ALIASES.iter().map(|s| s.to_string()).collect();
    // The time fields presets of this format read (`lastTimestamp` of Kubernetes events).
    names.extend(presets.iter().filter(|n| !names.contains(n)).cloned().collect::<Vec<_>>());
    // A headerless table: the first column that holds a time.
    if let Some(rec) = first {
        let probe = TsParser::new(TsFormat::Auto, Zone::Utc);
        for c in &parser.columns {
            if rec.get(c).is_some_and(|v| probe.parse(v, &mut TimeState::new(2000)).is_ok()) {
                names.push(c.clone());
                break;
            }
        }
    }
    names
}

/// Picks a concrete timestamp layout from sample values, so the hot loop need not guess.
fn refine_ts_format(values: &[String]) -> TsFormat {
    let candidates = [TsFormat::Iso, TsFormat::Epoch(None), TsFormat::Syslog];
    for f in candidates {
        let p = TsParser::new(f.clone(), Zone::Utc);
        let st = &mut TimeState::new(2000);
        if !values.is_empty() && values.iter().all(|v| p.parse(v, st).is_ok()) {
            return f;
        }
    }
    TsFormat::Auto
}

/// Whether a time `value` read with `format` says its own zone (an epoch number is UTC).
fn names_its_zone(format: &TsFormat, value: &str) -> bool {
    let v = value.trim();
    let numeric = !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    match format {
        TsFormat::Epoch(_) => true,
        TsFormat::Syslog => false,
        TsFormat::Strftime(f) => ["%z", "%Z", "%:z", "%#z", "%s"].iter().any(|z| f.contains(z)),
        TsFormat::Iso | TsFormat::Auto => {
            numeric || v.starts_with("/Date(") || {
                // After the time: `Z`, or an offset `+hh:mm` / `-hhmm`.
                let tail = v.get(v.len().saturating_sub(6)..).unwrap_or(v);
                v.ends_with('Z') || v.ends_with('z') || tail.contains('+') || {
                    let t = v.rfind('T').or_else(|| v.rfind(' ')).unwrap_or(0);
                    v[t..].contains('-')
                }
            }
        }
    }
}

/// Decides how to read a text source from `spec` and its first lines.
pub fn plan_text(
    spec: &SourceSpec,
    registry: &Registry,
    sample: &[&str],
    default_year: i32,
    source_stem: &str,
) -> Result<SourcePlan, ConfigError> {
    let year = spec.year.unwrap_or(default_year);
    let zone = spec.tz.unwrap_or(Zone::Utc);
    let mut notes = Vec::new();
    // `auto` (the default) means: detect it.
    let format_given = spec.format.as_deref().filter(|f| *f != "auto");
    let preset_given = spec.preset.as_deref().filter(|p| *p != "auto");
    let preset_given = preset_given.map(|n| registry.preset(n)).transpose()?;

    // Candidate formats: the one given, the user's pattern, the preset's, or all.
    let custom;
    let given;
    let any_format = || registry.formats.list.iter().filter(|f| !f.def.kind.is_binary()).collect();
    let candidates: Vec<&Format> = if let Some(p) = &spec.pattern {
        custom = Formats::custom_regex(p)?;
        vec![&custom]
    } else if let Some(name) = format_given {
        given = registry.format(name)?;
        vec![given.as_ref()]
    } else if let Some(p) = preset_given.as_deref().filter(|p| !p.formats.is_empty()) {
        p.formats.iter().map(|f| registry.formats.get(f)).collect::<Result<_, _>>()?
    } else {
        any_format()
    };

    let user_ts = spec
        .ts_format
        .as_deref()
        .map(str::parse::<TsFormat>)
        .transpose()
        .map_err(ConfigError::Invalid)?;
    // Score: lines that give a readable time (a header counts), then fields per line, so a
    // layout that splits lines finer wins over a looser one that also matches.
    struct Best<'f> {
        score: (usize, usize),
        fmt: &'f Format,
        parser: LineParser,
        ts_field: Vec<String>,
        ts_format: TsFormat,
        /// A time as the lines write it, to tell whether it names its zone.
        ts_value: Option<String>,
    }
    // Time fields the presets that could read a format name (the one given, or the built-ins
    // for that format).
    let preset_ts_fields = |fmt: &Format| -> Vec<String> {
        let from = |p: &Preset| -> Vec<String> {
            p.timestamp_field.iter().flat_map(|f| f.split('|').map(str::to_string)).collect()
        };
        match preset_given.as_deref() {
            Some(p) => from(p),
            None => registry
                .presets()
                .iter()
                .filter(|p| p.formats.iter().any(|f| f == fmt.name()))
                .flat_map(from)
                .collect(),
        }
    };
    let mut best: Option<Best> = None;
    let mut near_miss: Option<(String, String, usize)> = None;
    for fmt in &candidates {
        let first = sample.first().copied().unwrap_or("");
        let parser = LineParser::new(fmt).with_first_line(first);
        let lines = if parser.has_header { &sample[sample.len().min(1)..] } else { sample };
        let mut locs = parser.locations();
        let mut found: Vec<(String, usize)> = Vec::new();
        let mut names = None;
        for line in lines {
            let mut rec = Record::default();
            if parser.parse(line, &mut locs, &mut rec).is_err() {
                continue;
            }
            let names = names
                .get_or_insert_with(|| ts_names(fmt, &parser, Some(&rec), &preset_ts_fields(fmt)));
            if let Some(v) = names.iter().find_map(|n| rec.get(n)) {
                found.push((v.to_string(), rec.fields.len()));
            }
        }
        let ts_format = user_ts.clone().unwrap_or_else(|| match &fmt.def.timestamp_format {
            Some(f) => f.parse().unwrap_or(TsFormat::Auto),
            None => {
                let values: Vec<String> = found.iter().map(|(v, _)| v.clone()).collect();
                refine_ts_format(&values)
            }
        });
        let probe = TsParser::new(ts_format.clone(), zone);
        let st = &mut TimeState::new(year);
        let ok: Vec<usize> =
            found.iter().filter(|(v, _)| probe.parse(v, st).is_ok()).map(|(_, n)| *n).collect();
        let score = (ok.len() + usize::from(parser.has_header), ok.iter().sum::<usize>());
        if ok.is_empty()
            && let Some((v, _)) = found.first()
            && near_miss.is_none()
        {
            // The lines fit this format; only their time did not read.
            near_miss = Some((fmt.name().to_string(), v.clone(), found.len()));
        }
        if !ok.is_empty() && best.as_ref().is_none_or(|b| score > b.score) {
            let ts_field =
                names.unwrap_or_else(|| ts_names(fmt, &parser, None, &preset_ts_fields(fmt)));
            let ts_value = found.first().map(|(v, _)| v.clone());
            best = Some(Best { score, fmt, parser, ts_field, ts_format, ts_value });
        }
    }
    let Some(Best { fmt, parser, ts_field, ts_format, ts_value, .. }) = best else {
        if let Some((name, value, n)) = near_miss {
            return Err(ConfigError::NoFormat(format!(
                "{n} of the first {} fit the format {name}, but their time (\"{}\") does \
                 not read as {}; give --ts-format (or ts-format = ...), e.g. \
                 %d/%b/%Y:%H:%M:%S %z",
                crate::units::plural(sample.len() as u64, "line"),
                super::table::clip(&value),
                user_ts
                    .as_ref()
                    .map_or("an ISO, epoch or syslog time".to_string(), |f| format!("{f:?}"))
            )));
        }
        let tried: Vec<&str> = candidates.iter().map(|f| f.name()).collect();
        if let [only] = sample {
            return Err(ConfigError::NoFormat(format!(
                "the file's only line (\"{}\") is no event in any format: a header with no rows \
                 under it? (tried {})",
                super::table::clip(only),
                tried.join(", ")
            )));
        }
        return Err(ConfigError::NoFormat(format!(
            "no format matched the first {}; tried {}",
            crate::units::plural(sample.len() as u64, "line"),
            tried.join(", ")
        )));
    };
    if format_given.is_none() && spec.pattern.is_none() {
        notes.push(format!("format {} (detected)", fmt.name()));
    }
    if spec.tz.is_none() && ts_value.as_deref().is_some_and(|v| !names_its_zone(&ts_format, v)) {
        notes.push(
            "times without a zone (as the lines write them) read as UTC; pass --tz (or tz = ...) if they are local"
                .into(),
        );
    }
    let ts = TsParser::new(ts_format, zone);

    // Role mapping: a preset or direct columns, scored on the same sample.
    let presets: Vec<&Preset> = match &preset_given {
        Some(p) => vec![p.as_ref()],
        None => registry
            .presets()
            .iter()
            .filter(|p| p.formats.iter().any(|f| f == fmt.name()))
            .filter(|p| spec.role.is_none_or(|r| r == p.role))
            .collect(),
    };
    let mut fields = spec.fields.clone();
    if !fields.values().any(|c| c == "ts") {
        for n in &ts_field {
            fields.entry(n.clone()).or_insert_with(|| "ts".into());
        }
    }
    let mut mappers: Vec<Mapper> = Vec::new();
    if preset_given.is_none() {
        // Field names of a line format are its author's, not table columns: a role is only
        // guessed from them for self-describing formats (JSON, CSV, logfmt).
        let roles: Vec<Role> = match spec.role {
            Some(r) => vec![r],
            None if fmt.def.kind == FormatKind::Regex => vec![],
            None => Role::ALL.to_vec(),
        };
        for r in roles {
            mappers.push(Mapper::Direct(DirectMap::new(r, &fields)?));
        }
    }
    let n_presets = presets.len();
    for p in presets {
        let ts_names = match &p.timestamp_field {
            Some(f) => f.split('|').map(str::to_string).collect(),
            None => ts_field.clone(),
        };
        mappers.push(Mapper::Preset {
            preset: Box::new(p.clone()),
            source_stem: source_stem.to_string(),
            ts: field_template(&ts_names),
        });
    }
    // On a tie, a preset written for a line format beats column names; for self-describing
    // formats (JSON, CSV, logfmt), columns named as the table's beat a preset.
    if fmt.def.kind == FormatKind::Regex {
        let directs = mappers.len() - n_presets;
        mappers.rotate_left(directs);
    }
    let lines = if parser.has_header { &sample[sample.len().min(1)..] } else { sample };
    // Score: rows with a readable time; failing any, lines a preset claims as its own
    // (its `when` filter matched and no rule rejected them), which beats no mapping at all.
    // On a tie, the mapping that fills more columns: a change log's `status` can pass for a
    // login's `outcome`, but `kind`, `target` and `item` only fit a change.
    let mut best_map: Option<((usize, usize, usize), usize)> = None;
    for (i, m) in mappers.iter().enumerate() {
        let mut score = (0, 0, 0);
        let st = &mut TimeState::new(year);
        let mut locs = parser.locations();
        for line in lines {
            let mut out: Vec<Option<Cow<str>>> = Vec::new();
            let mut rec = Record::default();
            if parser.parse(line, &mut locs, &mut rec).is_err() {
                continue;
            }
            match m.map(&rec, &mut out) {
                Mapped::Rows { ts: Some(t), .. } => {
                    let required_ok = m.role().is_some_and(|r| {
                        r.columns().iter().zip(out.iter()).all(|(c, v)| !c.required || v.is_some())
                    });
                    if required_ok && ts.parse(&t, st).is_ok() {
                        score.0 += 1;
                        score.2 += out.iter().filter(|v| v.is_some()).count();
                    }
                }
                Mapped::Skip if matches!(m, Mapper::Preset { .. }) => score.1 += 1,
                _ => {}
            }
        }
        if score > best_map.map_or((0, 0, 0), |b| b.0) {
            best_map = Some((score, i));
        }
    }
    let given = preset_given.is_some();
    let mut mapper = match (best_map, given, spec.role) {
        (Some((_, i)), _, _) => mappers.swap_remove(i),
        // Asked for explicitly: use it even if the sample gave no row (it may later).
        (None, true, _) => mappers.swap_remove(0),
        (None, false, Some(_)) => {
            let i = mappers.iter().position(|m| matches!(m, Mapper::Direct(_))).unwrap_or(0);
            mappers.swap_remove(i)
        }
        (None, false, None) => Mapper::Unmapped,
    };
    // The source's own value maps, over the preset's.
    if let Some(role) = mapper.role()
        && !spec.values.is_empty()
    {
        let values = super::preset::value_maps(role, &spec.values)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", spec.key("values"))))?;
        match &mut mapper {
            Mapper::Preset { preset, .. } => {
                **preset = preset.as_ref().clone().with_values(&values)
            }
            Mapper::Direct(d) => d.values = values,
            Mapper::Unmapped => {}
        }
    }
    if let Some(layout) = parser.layout() {
        mapper.bind(&layout);
    }
    match (&mapper, given, spec.role) {
        (Mapper::Preset { preset, .. }, false, _) => {
            notes.push(format!("preset {} (detected)", preset.name))
        }
        (Mapper::Direct(d), _, None) => notes.push(format!("role {} (detected)", d.role)),
        (Mapper::Unmapped, _, _) => notes.push(
            "no preset or role fits these lines: all are skipped; pass --role or --preset".into(),
        ),
        _ => {}
    }
    // What went where, from the first line the mapping reads.
    let mut mapping = BTreeMap::new();
    if let Mapper::Direct(d) = &mapper {
        let mut locs = parser.locations();
        for line in lines {
            let mut rec = Record::default();
            if parser.parse(line, &mut locs, &mut rec).is_ok() && d.fit(&rec).is_some() {
                mapping = d.found(&rec);
                break;
            }
        }
    }
    let keep = spec
        .keep
        .iter()
        .map(|(k, re)| {
            let names = k.split('|').map(str::to_string).collect();
            regex::Regex::new(re)
                .map(|r| (names, r))
                .map_err(|e| ConfigError::Invalid(format!("{}: {k}: {e}", spec.key("keep"))))
        })
        .collect::<Result<_, _>>()?;
    Ok(SourcePlan {
        format: fmt.name().to_string(),
        parser,
        ts,
        mapper,
        year,
        notes,
        keep,
        range: (None, None),
        columns: None,
        mapping,
    })
}
