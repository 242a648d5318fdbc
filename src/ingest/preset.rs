//! Presets as data: rules that turn a parsed record into role rows (`presets/*.toml`,
//! embedded), and the direct field mapping used when a source needs no rules.
//!
//! A preset names its role, the formats its lines come in, an optional `when` filter (lines of
//! other programs are *skipped*: understood, but no event of the role), and ordered rules. The
//! first rule whose `match` regexes all match decides: `emit` a row (templates like `{user}`
//! read regex captures, then record fields; `{a|b}` takes the first that is present), `repeat`
//! it N times (syslog's `message repeated N times`), or `skip`. A line no rule takes is
//! rejected.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use regex::Regex;
use serde::Deserialize;

use super::record::Record;
use crate::error::{ConfigError, unknown_value};
use crate::schema::{Role, TS_ALIASES};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleDef {
    #[serde(rename = "match", default)]
    matches: BTreeMap<String, String>,
    #[serde(default)]
    emit: BTreeMap<String, String>,
    repeat: Option<String>,
    #[serde(default)]
    skip: bool,
}

/// One sample line of a preset file and what it must give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PresetSample {
    pub line: String,
    /// The format to parse the line with (the preset's first format when absent).
    pub format: Option<String>,
    pub year: Option<i32>,
    /// The UTC time of the rows (RFC 3339), when the line gives rows.
    pub ts: Option<String>,
    /// How many rows the line gives (1 when `emit` is given, else 0).
    pub rows: Option<usize>,
    #[serde(default)]
    pub emit: BTreeMap<String, String>,
    #[serde(default)]
    pub skip: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PresetDef {
    name: String,
    title: String,
    role: Role,
    formats: Vec<String>,
    timestamp_field: Option<String>,
    timestamp_format: Option<String>,
    #[serde(default)]
    when: BTreeMap<String, String>,
    rule: Vec<RuleDef>,
    #[serde(default)]
    sample: Vec<PresetSample>,
}

/// `{user}`, `{timestamp|column_1}` or literal text around them.
#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Var(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Template(Vec<Part>);

/// The template `{a|b|...}` that reads the first present field of `names`.
pub fn field_template(names: &[String]) -> Template {
    Template(vec![Part::Var(names.to_vec())])
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').ok_or_else(|| format!("unclosed {{ in \"{s}\""))?;
            let names = &rest[open + 1..open + close];
            parts.push(Part::Var(names.split('|').map(|n| n.trim().to_string()).collect()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template(parts))
    }

    /// Renders with `lookup`; an empty result is `None` (a null cell).
    fn render<'r>(&self, lookup: &dyn Fn(&str) -> Option<&'r str>) -> Option<Cow<'r, str>> {
        let var = |names: &[String]| names.iter().find_map(|n| lookup(n).filter(|v| !v.is_empty()));
        match self.0.as_slice() {
            [Part::Var(names)] => var(names).map(Cow::Borrowed),
            [Part::Lit(l)] => Some(Cow::Owned(l.clone())),
            parts => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        Part::Lit(l) => out.push_str(l),
                        Part::Var(names) => out.push_str(var(names).unwrap_or("")),
                    }
                }
                (!out.is_empty()).then_some(Cow::Owned(out))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    matches: Vec<(Vec<String>, Regex)>,
    emit: Vec<(usize, Template)>,
    repeat: Option<Template>,
    skip: bool,
}

/// A compiled preset.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: String,
    pub title: String,
    pub role: Role,
    pub formats: Vec<String>,
    pub timestamp_field: Option<String>,
    pub timestamp_format: Option<String>,
    when: Vec<(Vec<String>, Regex)>,
    rules: Vec<Rule>,
    pub samples: Vec<PresetSample>,
}

/// The built-in files (`src/ingest/presets/*.toml`) by name, embedded in the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("sshd.toml", include_str!("presets/sshd.toml")),
    ("windows_cbs.toml", include_str!("presets/windows_cbs.toml")),
    ("dpkg.toml", include_str!("presets/dpkg.toml")),
    ("boot.toml", include_str!("presets/boot.toml")),
    ("pam.toml", include_str!("presets/pam.toml")),
    ("metric_csv.toml", include_str!("presets/metric_csv.toml")),
];

fn field_names(key: &str) -> Vec<String> {
    key.split('|').map(str::to_string).collect()
}

impl Preset {
    pub fn from_toml(file: &str, text: &str) -> Result<Preset, ConfigError> {
        let def: PresetDef = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: file.into(),
            message: e.message().to_string(),
        })?;
        let bad = |m: String| ConfigError::Invalid(format!("preset file {file}: {m}"));
        let regex = |p: &str| Regex::new(p).map_err(|e| bad(format!("bad regex \"{p}\": {e}")));
        let columns: Vec<&str> = def.role.columns().iter().map(|c| c.name).collect();
        let mut rules = Vec::new();
        for r in &def.rule {
            let mut emit = Vec::new();
            for (col, t) in &r.emit {
                let idx = columns.iter().position(|c| c == col).ok_or_else(|| {
                    bad(unknown_value(&format!("{} column", def.role), col, &columns))
                })?;
                emit.push((idx, Template::parse(t).map_err(bad)?));
            }
            if r.skip != emit.is_empty() {
                return Err(bad("each rule needs either `emit` or `skip = true`".into()));
            }
            rules.push(Rule {
                matches: r
                    .matches
                    .iter()
                    .map(|(k, p)| Ok((field_names(k), regex(p)?)))
                    .collect::<Result<_, ConfigError>>()?,
                emit,
                repeat: r.repeat.as_deref().map(Template::parse).transpose().map_err(bad)?,
                skip: r.skip,
            });
        }
        if def.sample.is_empty() {
            return Err(bad("every preset needs at least one [[sample]]".into()));
        }
        Ok(Preset {
            timestamp_field: def.timestamp_field,
            when: def
                .when
                .iter()
                .map(|(k, p)| Ok((field_names(k), regex(p)?)))
                .collect::<Result<_, ConfigError>>()?,
            name: def.name,
            title: def.title,
            role: def.role,
            formats: def.formats,
            timestamp_format: def.timestamp_format,
            rules,
            samples: def.sample,
        })
    }
}

/// The presets built into the binary.
pub fn builtin_presets() -> Vec<Preset> {
    BUILTIN
        .iter()
        .map(|(file, text)| {
            Preset::from_toml(file, text).expect("built-in preset files are checked by tests")
        })
        .collect()
}

/// What one record becomes.
#[derive(Debug, PartialEq)]
pub enum Mapped<'r> {
    /// `count` rows with timestamp text `ts` and the role columns written to the output vector.
    Rows { ts: Option<Cow<'r, str>>, count: usize },
    /// Understood, but no event of the role.
    Skip,
    /// Not a line this mapping is about (another program's, say): skipped too.
    NotMine,
    /// Not understood.
    Reject(String),
}

/// How records of one source become rows of its role.
#[derive(Debug, Clone)]
pub enum Mapper {
    /// `ts` names the field(s) holding the timestamp, e.g. `{ts}` or `{timestamp|column_1}`.
    Preset {
        preset: Preset,
        source_stem: String,
        ts: Template,
    },
    Direct(DirectMap),
    /// No role fits: every parsed line is skipped.
    Unmapped,
}

/// Role columns straight from fields of the same name, an alias, or the user's field map.
#[derive(Debug, Clone)]
pub struct DirectMap {
    pub role: Role,
    ts: Vec<String>,
    cols: Vec<Vec<String>>,
    /// Where each column's first name was found last time (lines of one source tend to have
    /// the same layout); `ts` is last.
    hints: Vec<Hint>,
}

/// A position remembered across lines and threads; a stale one only costs a search.
#[derive(Debug, Default)]
struct Hint(AtomicUsize);

impl Clone for Hint {
    fn clone(&self) -> Self {
        Hint(AtomicUsize::new(self.0.load(Ordering::Relaxed)))
    }
}

/// The value of the first of `names` present and non-empty in `rec`.
fn lookup<'r>(rec: &'r Record<'_>, names: &[String], hint: &Hint) -> Option<&'r str> {
    let h = hint.0.load(Ordering::Relaxed);
    if let (Some((k, v)), Some(first)) = (rec.fields.get(h), names.first())
        && k == first
        && !v.is_empty()
    {
        return Some(v.as_ref());
    }
    for n in names {
        if let Some(i) = rec.fields.iter().position(|(k, v)| k == n && !v.is_empty()) {
            if Some(n) == names.first() {
                hint.0.store(i, Ordering::Relaxed);
            }
            return Some(rec.fields[i].1.as_ref());
        }
    }
    None
}

impl DirectMap {
    /// `fields` maps raw field names to table columns (`ts` included).
    pub fn new(role: Role, fields: &BTreeMap<String, String>) -> Result<DirectMap, ConfigError> {
        let columns: Vec<&str> =
            std::iter::once("ts").chain(role.columns().iter().map(|c| c.name)).collect();
        for col in fields.values() {
            if !columns.contains(&col.as_str()) {
                return Err(ConfigError::Invalid(unknown_value(
                    &format!("{role} column in the field map"),
                    col,
                    &columns,
                )));
            }
        }
        let mapped = |col: &str| -> Vec<String> {
            fields.iter().filter(|(_, c)| *c == col).map(|(r, _)| r.clone()).collect()
        };
        let mut ts: Vec<String> = mapped("ts");
        ts.extend(TS_ALIASES.iter().map(|s| s.to_string()));
        let cols = role
            .columns()
            .iter()
            .map(|c| {
                let mut names: Vec<String> = mapped(c.name);
                names.push(c.name.to_string());
                names.extend(c.aliases.iter().map(|s| s.to_string()));
                names
            })
            .collect();
        let hints = vec![Hint::default(); role.columns().len() + 1];
        Ok(DirectMap { role, ts, cols, hints })
    }

    /// How well a record fits: `None` when the timestamp or a required column is missing,
    /// else the number of columns found.
    pub fn fit(&self, rec: &Record) -> Option<usize> {
        let has =
            |names: &[String]| names.iter().any(|n| rec.get(n).is_some_and(|v| !v.is_empty()));
        if !has(&self.ts) {
            return None;
        }
        let mut found = 0;
        for (c, names) in self.role.columns().iter().zip(&self.cols) {
            if has(names) {
                found += 1;
            } else if c.required {
                return None;
            }
        }
        Some(found)
    }
}

impl Mapper {
    pub fn role(&self) -> Option<Role> {
        match self {
            Mapper::Preset { preset, .. } => Some(preset.role),
            Mapper::Direct(d) => Some(d.role),
            Mapper::Unmapped => None,
        }
    }

    /// Maps one record; role column values go to `out` (cleared and sized to the role).
    pub fn map<'r>(
        &'r self,
        rec: &'r Record<'_>,
        out: &mut Vec<Option<Cow<'r, str>>>,
    ) -> Mapped<'r> {
        out.clear();
        match self {
            Mapper::Unmapped => Mapped::NotMine,
            Mapper::Direct(d) => {
                let cols = d.cols.iter().zip(&d.hints);
                out.extend(cols.map(|(names, h)| lookup(rec, names, h).map(Cow::Borrowed)));
                let ts = lookup(rec, &d.ts, &d.hints[d.cols.len()]);
                Mapped::Rows { ts: ts.map(Cow::Borrowed), count: 1 }
            }
            Mapper::Preset { preset, source_stem, ts } => {
                map_preset(preset, source_stem, ts, rec, out)
            }
        }
    }
}

fn field<'r>(rec: &'r Record<'_>, names: &[String]) -> Option<&'r str> {
    names.iter().find_map(|n| rec.get(n))
}

fn map_preset<'r>(
    p: &'r Preset,
    stem: &'r str,
    ts: &'r Template,
    rec: &'r Record<'_>,
    out: &mut Vec<Option<Cow<'r, str>>>,
) -> Mapped<'r> {
    for (names, re) in &p.when {
        if !field(rec, names).is_some_and(|v| re.is_match(v)) {
            return Mapped::NotMine;
        }
    }
    let mut caps: Vec<(&'r str, &'r str)> = Vec::new();
    'rules: for rule in &p.rules {
        caps.clear();
        for (names, re) in &rule.matches {
            let Some(text) = field(rec, names) else { continue 'rules };
            let Some(c) = re.captures(text) else { continue 'rules };
            for (name, m) in re.capture_names().zip(c.iter()) {
                if let (Some(name), Some(m)) = (name, m) {
                    caps.push((name, &text[m.start()..m.end()]));
                }
            }
        }
        if rule.skip {
            return Mapped::Skip;
        }
        let lookup = |n: &str| -> Option<&'r str> {
            caps.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| *v)
                .or_else(|| rec.get(n))
                .or_else(|| (n == "source_stem").then_some(stem))
        };
        out.resize(p.role.columns().len(), None);
        for (idx, t) in &rule.emit {
            out[*idx] = t.render(&lookup);
        }
        let count = match &rule.repeat {
            None => 1,
            Some(t) => match t.render(&lookup).map(|v| v.parse::<usize>()) {
                Some(Ok(n)) => n,
                _ => return Mapped::Reject("repeat count is not a number".into()),
            },
        };
        return Mapped::Rows { ts: ts.render(&lookup), count };
    }
    Mapped::Reject(format!("no rule of preset {} matched", p.name))
}
