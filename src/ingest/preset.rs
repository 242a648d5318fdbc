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
use crate::ids::same;
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
    /// The connection (`{host}:{pid}`) a row is an attempt of, remembered...
    key: Option<String>,
    /// ...or remembered as standing for the connection's first try, until a line of that try
    /// (a rule with `settles`) comes: an `Invalid user` line counts for a probe that never
    /// tries a password, and for the first try of one that does.
    tentative: Option<String>,
    /// A try: when the connection's first try was counted tentatively, this line is that try
    /// (no row); else it counts, and the connection is remembered.
    settles: Option<String>,
    /// No row for a connection already remembered (a disconnect after counted failures is not
    /// one more attempt).
    unless: Option<String>,
}

/// One sample line of a preset file and what it must give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PresetSample {
    pub line: String,
    /// The header line a delimited sample comes under (none: a headerless file).
    pub header: Option<String>,
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
    /// Other names the preset answers to (`apache` for the access-log preset).
    #[serde(default)]
    aliases: Vec<String>,
    title: String,
    role: Role,
    /// The formats the preset's lines come in; empty: any (detected).
    #[serde(default)]
    formats: Vec<String>,
    timestamp_field: Option<String>,
    timestamp_format: Option<String>,
    #[serde(default)]
    when: BTreeMap<String, String>,
    /// Raw value -> table value, per column (see [`ValueMap`]).
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, String>>,
    rule: Vec<RuleDef>,
    #[serde(default)]
    sample: Vec<PresetSample>,
}

/// `{user}`, `{timestamp|column_1}` or literal text around them. `{request_time*1000}`
/// scales a number (seconds to milliseconds); `{@2}` is the second field of the line and
/// `{@2.name}` its name.
#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Var(Vec<Name>, Option<f64>),
}

/// A field name a preset reads, and where it sits in lines of a fixed layout.
#[derive(Debug, Clone)]
struct Name {
    text: String,
    slot: Slot,
}

/// Where a [`Name`] is found: set by [`Mapper::bind`] when every record of the source has
/// the same fields in the same order (a token pattern's groups, a CSV header).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// Looked for by name in each record.
    Any,
    /// The field at this position (the first of its name).
    At(usize),
    /// No field of the layout has this name.
    Missing,
}

impl Name {
    fn new(text: &str) -> Name {
        Name { text: text.to_string(), slot: Slot::Any }
    }

    fn names(texts: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<Name> {
        texts.into_iter().map(|t| Name::new(t.as_ref())).collect()
    }

    /// The value of the field in `rec`; `bound` says `rec` has the layout the slot was set for.
    fn get<'r>(&self, rec: &'r Record<'_>, bound: bool) -> Option<&'r str> {
        match self.slot {
            Slot::At(i) if bound => rec.fields.get(i).map(|(_, v)| v.as_ref()),
            Slot::Missing if bound => None,
            _ => rec.get(&self.text),
        }
    }

    /// Sets the slot for records with the fields `layout`; names in `dynamic` (regex captures,
    /// which templates read before fields) and positions (`@2`) stay looked up by name. A
    /// missing name still goes through the lookup (which may give `source_stem`).
    fn bind(&mut self, layout: &[&str], dynamic: &[&str]) {
        // `@2` and `@2.name` are positions; `@timestamp` is a field's name.
        let position = self.text.strip_prefix('@').is_some_and(|p| {
            p.strip_suffix(".name").unwrap_or(p).bytes().all(|c| c.is_ascii_digit())
        });
        self.slot = if position || dynamic.contains(&self.text.as_str()) {
            Slot::Any
        } else {
            match layout.iter().position(|n| *n == self.text) {
                Some(i) => Slot::At(i),
                None => Slot::Missing,
            }
        };
    }
}

#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    /// The position of the one field this template can read, when it is just `{name}` (or
    /// `{a|b}` where only one name is in the layout) and the name was bound to a position
    /// ([`Template::bind`]): a record of the bound layout gives its value there without
    /// [`Template::render`] (whose result, returned through memory, stalled the load after
    /// each call in a W1 ingest's profile).
    direct: Option<usize>,
}

/// The template `{a|b|...}` that reads the first present field of `names`.
pub fn field_template(names: &[String]) -> Template {
    Template { parts: vec![Part::Var(Name::names(names), None)], direct: None }
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
            let inner = &rest[open + 1..open + close];
            let (names, scale) = match inner.rsplit_once('*') {
                Some((n, k)) => {
                    let k: f64 = k
                        .trim()
                        .parse()
                        .map_err(|_| format!("\"{k}\" after * in \"{s}\" is not a number"))?;
                    (n, Some(k))
                }
                None => (inner, None),
            };
            parts.push(Part::Var(Name::names(names.split('|').map(str::trim)), scale));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template { parts, direct: None })
    }

    /// Renders with `lookup`; an empty result is `None` (a null cell). A scaled value that is
    /// not a number is left as it is (the column's own check then says so). When `bound`
    /// (`rec` has the layout the names were bound to), a name bound to a position is read
    /// there without the lookup: it is no capture, so the lookup would read the same field.
    fn render<'r>(
        &'r self,
        rec: &'r Record<'_>,
        bound: bool,
        lookup: &dyn Fn(&Name) -> Option<&'r str>,
    ) -> Option<Cow<'r, str>> {
        let value = |n: &Name| match n.slot {
            Slot::At(i) if bound => rec.fields.get(i).map(|(_, v)| v.as_ref()),
            _ => lookup(n),
        };
        let var = |names: &[Name], scale: Option<f64>| -> Option<Cow<'r, str>> {
            let v = names.iter().find_map(|n| value(n).filter(|v| !v.is_empty()))?;
            match scale.map(|k| v.trim().parse::<f64>().map(|x| x * k)) {
                Some(Ok(x)) => {
                    Some(Cow::Owned(crate::units::short_number(crate::units::round_to(x, 3), 3)))
                }
                _ => Some(Cow::Borrowed(v)),
            }
        };
        match self.parts.as_slice() {
            [Part::Var(names, scale)] => var(names, *scale),
            [Part::Lit(l)] => Some(Cow::Borrowed(l)),
            parts => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        Part::Lit(l) => out.push_str(l),
                        Part::Var(names, scale) => {
                            out.push_str(&var(names, *scale).unwrap_or_default())
                        }
                    }
                }
                (!out.is_empty()).then_some(Cow::Owned(out))
            }
        }
    }

    fn bind(&mut self, layout: &[&str], dynamic: &[&str]) {
        for part in &mut self.parts {
            if let Part::Var(names, _) = part {
                names.iter_mut().for_each(|n| n.bind(layout, dynamic));
            }
        }
        // `{a|b|...}` of which the names bound to a position are bound to one, and the others
        // are in no field of the layout (a timestamp's aliases): only that field can give a
        // value.
        self.direct = match self.parts.as_slice() {
            [Part::Var(names, None)] => {
                let mut at = names.iter().filter_map(|n| match n.slot {
                    Slot::At(i) => Some(i),
                    _ => None,
                });
                let others_absent = names.iter().all(|n| {
                    matches!(n.slot, Slot::At(_))
                        || (n.slot == Slot::Missing && n.text != "source_stem")
                });
                // (A name may come twice: a table's time column is also its first time.)
                match at.next() {
                    Some(i) if others_absent && at.all(|j| j == i) => Some(i),
                    _ => None,
                }
            }
            _ => None,
        };
    }

    /// What [`Template::render`] gives, read in place, when the template is one bound field
    /// ([`Template::direct`]) and `rec` has the bound layout: `Some` of the field's value
    /// (`None` when empty or absent). `None` when it must be rendered.
    #[inline(always)]
    fn in_place<'r>(&self, rec: &'r Record<'_>, bound: bool) -> Option<Option<&'r str>> {
        let i = self.direct.filter(|_| bound)?;
        Some(rec.fields.get(i).map(|(_, v)| v.as_ref()).filter(|v| !v.is_empty()))
    }

    /// [`Template::render`], read in place where it can be ([`Template::in_place`]).
    #[inline(always)]
    fn value<'r>(
        &'r self,
        rec: &'r Record<'_>,
        bound: bool,
        lookup: &dyn Fn(&Name) -> Option<&'r str>,
    ) -> Option<Cow<'r, str>> {
        match self.in_place(rec, bound) {
            Some(v) => v.map(Cow::Borrowed),
            None => self.render(rec, bound, lookup),
        }
    }
}

/// A rule's test of a field: its regex, and the literal it spells when it is `^literal$`,
/// compared as bytes (a hybrid-DFA search per line showed in the profile of a W1 ingest).
#[derive(Debug, Clone)]
struct Test {
    re: Regex,
    exact: Option<String>,
}

impl Test {
    fn new(re: Regex) -> Test {
        let exact = re
            .as_str()
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .filter(|l| l.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-:/=,@ ".contains(&c)))
            .map(str::to_string);
        Test { re, exact }
    }

    fn is_match(&self, text: &str) -> bool {
        match &self.exact {
            Some(l) => text == l,
            None => self.re.is_match(text),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    matches: Vec<(Vec<Name>, Test)>,
    emit: Vec<(usize, Template)>,
    repeat: Option<Template>,
    skip: bool,
    key: Option<Template>,
    tentative: Option<Template>,
    settles: Option<Template>,
    unless: Option<Template>,
}

/// What a source's rules remember from line to line (connections already counted, and
/// whether only tentatively), within one piece of a file (a whole file when its lines are read
/// in order). Bounded: it forgets everything past a million keys.
#[derive(Debug, Clone, Default)]
pub struct Memo(std::collections::HashMap<String, bool>);

impl Memo {
    const MAX: usize = 1_000_000;
    fn remember(&mut self, key: String, tentative: bool) {
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert(key, tentative);
    }
}

/// A compiled preset.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: String,
    pub aliases: Vec<String>,
    pub title: String,
    pub role: Role,
    pub formats: Vec<String>,
    pub timestamp_field: Option<String>,
    pub timestamp_format: Option<String>,
    when: Vec<(Vec<Name>, Test)>,
    rules: Vec<Rule>,
    /// Value maps by column index.
    values: Vec<(usize, ValueMap)>,
    pub samples: Vec<PresetSample>,
    /// The number of fields of the layout the names are bound to ([`Mapper::bind`]).
    layout: Option<usize>,
}

/// Maps the raw values of one column to the values its table holds: `outcome` from HTTP
/// status codes, `event` from a 0/1 `up` gauge, a change `kind` from an event reason.
///
/// Keys are raw values (compared without regard to case), classes of three-digit codes
/// (`"2xx"`, `"5xx"`), or `"*"` for any other value; a value no key covers is kept as it is
/// (and checked as any raw value is). In a preset or a source:
/// ```toml
/// [values.outcome]
/// "2xx" = "ok"
/// "3xx" = "ok"
/// "4xx" = "fail"
/// "5xx" = "fail"
/// ```
#[derive(Debug, Clone, Default)]
pub struct ValueMap {
    exact: Vec<(String, String)>,
    classes: Vec<(u8, String)>,
    other: Option<String>,
}

impl ValueMap {
    pub fn new(map: &BTreeMap<String, String>) -> Result<ValueMap, String> {
        let mut m = ValueMap::default();
        for (k, v) in map {
            let b = k.as_bytes();
            if k == "*" {
                m.other = Some(v.clone());
            } else if b.len() == 3 && b[0].is_ascii_digit() && k[1..].eq_ignore_ascii_case("xx") {
                m.classes.push((b[0], v.clone()));
            } else if k.is_empty() {
                return Err("an empty key in a value map; use \"*\" for any other value".into());
            } else {
                m.exact.push((k.to_lowercase(), v.clone()));
            }
        }
        Ok(m)
    }

    /// The table value for `raw`, or `None` when the map leaves it as it is.
    pub fn get(&self, raw: &str) -> Option<&str> {
        let raw = raw.trim();
        if let Some((_, v)) = self.exact.iter().find(|(k, _)| k.eq_ignore_ascii_case(raw)) {
            return Some(v);
        }
        let b = raw.as_bytes();
        if b.len() == 3
            && b.iter().all(u8::is_ascii_digit)
            && let Some((_, v)) = self.classes.iter().find(|(d, _)| *d == b[0])
        {
            return Some(v);
        }
        self.other.as_deref()
    }

    /// Maps a value in place (a value the map does not cover is left).
    pub fn apply<'r>(&'r self, v: &mut Option<Cow<'r, str>>) {
        if let Some(new) = v.as_deref().and_then(|raw| self.get(raw)) {
            *v = Some(Cow::Borrowed(new));
        }
    }
}

/// Value maps of a role's columns, checked against its column names.
pub fn value_maps(
    role: Role,
    maps: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<(usize, ValueMap)>, String> {
    let columns: Vec<&str> = role.columns().iter().map(|c| c.name).collect();
    let mut out = Vec::new();
    for (col, map) in maps {
        let idx = columns
            .iter()
            .position(|c| c == col)
            .ok_or_else(|| unknown_value(&format!("{role} column in values"), col, &columns))?;
        out.push((idx, ValueMap::new(map).map_err(|e| format!("values.{col}: {e}"))?));
    }
    Ok(out)
}

/// The built-in files (`src/ingest/presets/*.toml`) by name, embedded in the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("sshd.toml", include_str!("presets/sshd.toml")),
    ("windows_cbs.toml", include_str!("presets/windows_cbs.toml")),
    ("dpkg.toml", include_str!("presets/dpkg.toml")),
    ("boot.toml", include_str!("presets/boot.toml")),
    ("pam.toml", include_str!("presets/pam.toml")),
    ("metric_csv.toml", include_str!("presets/metric_csv.toml")),
    ("dropbear.toml", include_str!("presets/dropbear.toml")),
    ("access_log.toml", include_str!("presets/access_log.toml")),
    ("prometheus.toml", include_str!("presets/prometheus.toml")),
    ("k8s_events.toml", include_str!("presets/k8s_events.toml")),
    ("windows_security.toml", include_str!("presets/windows_security.toml")),
];

fn field_names(key: &str) -> Vec<Name> {
    Name::names(key.split('|'))
}

impl Preset {
    pub fn from_toml(file: &str, text: &str) -> Result<Preset, ConfigError> {
        let def: PresetDef = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: file.into(),
            message: e.message().to_string(),
        })?;
        let bad = |m: String| ConfigError::Invalid(format!("preset file {file}: {m}"));
        let regex = |p: &str| {
            Regex::new(p).map(Test::new).map_err(|e| bad(format!("bad regex \"{p}\": {e}")))
        };
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
                key: r.key.as_deref().map(Template::parse).transpose().map_err(bad)?,
                tentative: r.tentative.as_deref().map(Template::parse).transpose().map_err(bad)?,
                settles: r.settles.as_deref().map(Template::parse).transpose().map_err(bad)?,
                unless: r.unless.as_deref().map(Template::parse).transpose().map_err(bad)?,
            });
        }
        if def.sample.is_empty() {
            return Err(bad("every preset needs at least one [[sample]]".into()));
        }
        let values = value_maps(def.role, &def.values).map_err(bad)?;
        Ok(Preset {
            values,
            timestamp_field: def.timestamp_field,
            when: def
                .when
                .iter()
                .map(|(k, p)| Ok((field_names(k), regex(p)?)))
                .collect::<Result<_, ConfigError>>()?,
            name: def.name,
            aliases: def.aliases,
            title: def.title,
            role: def.role,
            formats: def.formats,
            timestamp_format: def.timestamp_format,
            rules,
            samples: def.sample,
            layout: None,
        })
    }
}

impl Preset {
    /// Reads a user's preset file (`preset = "mine.toml"`) and checks its samples, so that a
    /// preset that does not do what its samples say fails at load, naming the sample.
    pub fn from_file(
        path: &std::path::Path,
        formats: &super::format::Formats,
    ) -> Result<Preset, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let p = Preset::from_toml(&path.display().to_string(), &text)?;
        p.check_samples(formats)
            .map_err(|m| ConfigError::Parse { path: path.to_path_buf(), message: m })?;
        Ok(p)
    }

    /// Puts `source`-level value maps over the preset's own (a source's settings win).
    pub fn with_values(mut self, extra: &[(usize, ValueMap)]) -> Preset {
        for (idx, m) in extra {
            self.values.retain(|(i, _)| i != idx);
            self.values.push((*idx, m.clone()));
        }
        self
    }

    /// Runs every sample: it must parse with its format (the sample's, the preset's first, or
    /// one detected), and give the rows, columns and time it says; the first that does not
    /// is the error.
    pub fn check_samples(&self, formats: &super::format::Formats) -> Result<(), String> {
        use super::format::LineParser;
        use super::time::{TimeState, TsFormat, TsParser, Zone};
        for s in &self.samples {
            let sample = |m: String| format!("preset {}: sample \"{}\": {m}", self.name, s.line);
            let fname = s.format.as_deref().or(self.formats.first().map(String::as_str));
            let candidates: Vec<&super::format::Format> = match fname {
                Some(n) => vec![formats.get(n).map_err(|e| sample(e.to_string()))?],
                None => formats.list.iter().filter(|f| !f.def.kind.is_binary()).collect(),
            };
            let mut parsed = None;
            for f in candidates {
                let first = s.header.as_deref().unwrap_or("2000-01-01 00:00:00,1");
                let parser = LineParser::new(f).with_first_line(first);
                let mut locs = parser.locations();
                let mut rec = Record::default();
                if parser.parse(&s.line, &mut locs, &mut rec).is_ok() {
                    let fields: Vec<(String, String)> =
                        rec.fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                    parsed = Some((f, fields));
                    break;
                }
            }
            let Some((f, fields)) = parsed else {
                return Err(sample(format!("no format reads it ({})", fname.unwrap_or("any"))));
            };
            let rec = Record {
                fields: fields
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                    .collect(),
                unbound: true,
            };
            let ts_names: Vec<String> = match (&self.timestamp_field, &f.def.timestamp_field) {
                (Some(t), _) => t.split('|').map(str::to_string).collect(),
                (None, Some(t)) => vec![t.clone()],
                (None, None) => TS_ALIASES.iter().map(|s| s.to_string()).collect(),
            };
            let mapper = Mapper::Preset {
                preset: Box::new(self.clone()),
                source_stem: "sample".into(),
                ts: field_template(&ts_names),
            };
            let mut out: Vec<Option<Cow<str>>> = Vec::new();
            let got = mapper.map(&rec, &mut out);
            if s.skip {
                if !matches!(got, Mapped::Skip | Mapped::NotMine) {
                    return Err(sample(format!("should be skipped, gave {got:?}")));
                }
                continue;
            }
            let Mapped::Rows { ts, count } = got else {
                return Err(sample(format!("should give rows, gave {got:?}")));
            };
            if count != s.rows.unwrap_or(1) {
                return Err(sample(format!(
                    "gave {}, not {}",
                    crate::units::plural(count as u64, "row"),
                    s.rows.unwrap_or(1)
                )));
            }
            let cols = self.role.columns();
            for (k, v) in &s.emit {
                let i = cols.iter().position(|c| c.name == k).ok_or_else(|| {
                    sample(unknown_value(
                        &format!("{} column", self.role),
                        k,
                        cols.iter().map(|c| c.name),
                    ))
                })?;
                // Compared as the table holds them: trimmed, and outcomes as ok/fail.
                let as_held = |x: &str| match (self.role, k.as_str()) {
                    (Role::Login, "outcome") => super::table::normalise_outcome(x)
                        .map_or_else(|| x.trim().to_string(), str::to_string),
                    _ => x.trim().to_string(),
                };
                if out[i].as_deref().map(as_held) != Some(as_held(v)) {
                    return Err(sample(format!("gave {k} = {:?}, not \"{v}\"", out[i].as_deref())));
                }
            }
            if let Some(want) = &s.ts {
                let fmt: TsFormat = self
                    .timestamp_format
                    .as_deref()
                    .or(f.def.timestamp_format.as_deref())
                    .unwrap_or("auto")
                    .parse()
                    .map_err(sample)?;
                let raw = ts.as_deref().ok_or_else(|| sample("gave no timestamp".into()))?;
                let ms = TsParser::new(fmt, Zone::Utc)
                    .parse(raw, &mut TimeState::new(s.year.unwrap_or(2000)))
                    .map_err(|e| sample(format!("timestamp \"{raw}\": {e}")))?;
                let got = crate::units::rfc3339_millis(ms);
                if &got != want {
                    return Err(sample(format!("gave the time {got}, not {want}")));
                }
            }
        }
        Ok(())
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
        preset: Box<Preset>,
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
    /// The source's value maps, by column index.
    pub values: Vec<(usize, ValueMap)>,
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
        && same(k.as_bytes(), first.as_bytes())
        && !v.is_empty()
    {
        return Some(v.as_ref());
    }
    for n in names {
        if let Some(i) =
            rec.fields.iter().position(|(k, v)| same(k.as_bytes(), n.as_bytes()) && !v.is_empty())
        {
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
        Ok(DirectMap { role, ts, cols, hints, values: Vec::new() })
    }

    /// Which raw field gives each column in `rec` (for ingest.json: what went where).
    pub fn found(&self, rec: &Record) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let present = |n: &&String| rec.get(n).is_some_and(|v| !v.is_empty());
        if let Some(n) = self.ts.iter().find(present) {
            out.insert("ts".to_string(), n.clone());
        }
        for (c, names) in self.role.columns().iter().zip(&self.cols) {
            if let Some(n) = names.iter().find(present) {
                out.insert(c.name.to_string(), n.clone());
            }
        }
        out
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

    /// Binds the field names a preset reads to positions, for a source whose records all have
    /// the fields `layout` in this order ([`super::format::LineParser::layout`]): each name is
    /// then found without comparing it with the record's names (a tenth of a W1 text ingest).
    pub fn bind(&mut self, layout: &[&str]) {
        let Mapper::Preset { preset, ts, .. } = self else { return };
        // Templates read a rule's regex captures before fields: those names stay dynamic.
        let captures: Vec<String> = preset
            .rules
            .iter()
            .flat_map(|r| &r.matches)
            .flat_map(|(_, t)| t.re.capture_names().flatten().map(str::to_string))
            .collect();
        let captures: Vec<&str> = captures.iter().map(String::as_str).collect();
        let tests =
            preset.when.iter_mut().chain(preset.rules.iter_mut().flat_map(|r| &mut r.matches));
        for (names, _) in tests {
            names.iter_mut().for_each(|n| n.bind(layout, &[]));
        }
        for rule in &mut preset.rules {
            let templates = rule.emit.iter_mut().map(|(_, t)| t).chain(
                [&mut rule.repeat, &mut rule.key, &mut rule.tentative, &mut rule.settles]
                    .into_iter()
                    .chain([&mut rule.unless])
                    .flatten(),
            );
            templates.for_each(|t| t.bind(layout, &captures));
        }
        ts.bind(layout, &captures);
        preset.layout = Some(layout.len());
    }

    /// Maps one record on its own (no memory of earlier lines); see [`Mapper::map_with`].
    pub fn map<'r>(
        &'r self,
        rec: &'r Record<'_>,
        out: &mut Vec<Option<Cow<'r, str>>>,
    ) -> Mapped<'r> {
        self.map_with(rec, out, &mut Memo::default())
    }

    /// Maps one record; role column values go to `out` (cleared and sized to the role).
    /// `memo` carries what the rules remember from earlier lines of the same source.
    pub fn map_with<'r>(
        &'r self,
        rec: &'r Record<'_>,
        out: &mut Vec<Option<Cow<'r, str>>>,
        memo: &mut Memo,
    ) -> Mapped<'r> {
        out.clear();
        match self {
            Mapper::Unmapped => Mapped::NotMine,
            Mapper::Direct(d) => {
                let cols = d.cols.iter().zip(&d.hints);
                out.extend(cols.map(|(names, h)| lookup(rec, names, h).map(Cow::Borrowed)));
                for (idx, m) in &d.values {
                    m.apply(&mut out[*idx]);
                }
                let ts = lookup(rec, &d.ts, &d.hints[d.cols.len()]);
                Mapped::Rows { ts: ts.map(Cow::Borrowed), count: 1 }
            }
            Mapper::Preset { preset, source_stem, ts } => {
                map_preset(preset, source_stem, ts, rec, out, memo)
            }
        }
    }
}

/// `@2`: the value of the line's second field; `@2.name`: its name.
fn positional<'r>(rec: &'r Record<'_>, n: &str) -> Option<&'r str> {
    let spec = n.strip_prefix('@')?;
    let (index, name) = match spec.strip_suffix(".name") {
        Some(i) => (i, true),
        None => (spec, false),
    };
    let (k, v) = rec.fields.get(index.parse::<usize>().ok()?.checked_sub(1)?)?;
    Some(if name { k.as_ref() } else { v.as_ref() })
}

fn field<'r>(rec: &'r Record<'_>, names: &[Name], bound: bool) -> Option<&'r str> {
    names.iter().find_map(|n| n.get(rec, bound).or_else(|| positional(rec, &n.text)))
}

fn map_preset<'r>(
    p: &'r Preset,
    stem: &'r str,
    ts: &'r Template,
    rec: &'r Record<'_>,
    out: &mut Vec<Option<Cow<'r, str>>>,
    memo: &mut Memo,
) -> Mapped<'r> {
    // A record of another layout than the one bound (none is expected) is read by names.
    let bound = !rec.unbound && p.layout == Some(rec.fields.len());
    for (names, t) in &p.when {
        if !field(rec, names, bound).is_some_and(|v| t.is_match(v)) {
            return Mapped::NotMine;
        }
    }
    let mut caps: Vec<(&'r str, &'r str)> = Vec::new();
    'rules: for rule in &p.rules {
        caps.clear();
        for (names, t) in &rule.matches {
            let Some(text) = field(rec, names, bound) else { continue 'rules };
            // Without groups to read, a test is enough (no captures to allocate per line).
            if t.re.captures_len() == 1 {
                if t.is_match(text) {
                    continue;
                }
                continue 'rules;
            }
            let re = &t.re;
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
        let lookup = |n: &Name| -> Option<&'r str> {
            caps.iter()
                .find(|(k, _)| *k == n.text)
                .map(|(_, v)| *v)
                .or_else(|| n.get(rec, bound))
                .or_else(|| (n.text == "source_stem").then_some(stem))
                .or_else(|| positional(rec, &n.text))
        };
        let render =
            |t: &'r Option<Template>| t.as_ref().and_then(|t| t.render(rec, bound, &lookup));
        if render(&rule.unless).is_some_and(|k| memo.0.contains_key(k.as_ref())) {
            return Mapped::Skip;
        }
        if let Some(k) = render(&rule.settles) {
            if memo.0.get(k.as_ref()) == Some(&true) {
                memo.remember(k.into_owned(), false);
                return Mapped::Skip;
            }
            memo.remember(k.into_owned(), false);
        }
        if let Some(k) = render(&rule.key) {
            memo.remember(k.into_owned(), false);
        }
        if let Some(k) = render(&rule.tentative)
            && !memo.0.contains_key(k.as_ref())
        {
            memo.remember(k.into_owned(), true);
        }
        out.resize(p.role.columns().len(), None);
        for (idx, t) in &rule.emit {
            // `out` is all `None` here: a bound `{name}` stores only a present value, in place
            // (a value built apart and then copied in stalled each copy's load).
            match t.in_place(rec, bound) {
                Some(Some(v)) => out[*idx] = Some(Cow::Borrowed(v)),
                Some(None) => {}
                None => out[*idx] = t.render(rec, bound, &lookup),
            }
        }
        for (idx, m) in &p.values {
            m.apply(&mut out[*idx]);
        }
        let count = match &rule.repeat {
            None => 1,
            Some(t) => match t.render(rec, bound, &lookup).map(|v| v.parse::<usize>()) {
                Some(Ok(n)) => n,
                _ => return Mapped::Reject("repeat count is not a number".into()),
            },
        };
        return Mapped::Rows { ts: ts.value(rec, bound, &lookup), count };
    }
    Mapped::Reject(format!("no rule of preset {} matched", p.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names bound to positions read what names looked up read: a rule's captures before
    /// fields, the first present of `{a|b}`, fields the layout lacks, `@N` and `source_stem`.
    #[test]
    fn bound_names_read_what_looked_up_names_read() {
        let preset = Preset::from_toml(
            "t.toml",
            r#"
name = "t"
title = "t"
role = "login"
[when]
prog = '^authd$'
[[rule]]
match = { msg = '^denied (?P<user>\S+)$' }
emit = { outcome = "fail", user = "{user}", host = "{nohost|host}", client = "{@2}:{source_stem}", reason = "r-{absent}" }
key = "{host}"
[[rule]]
match = { msg = '^ok$' }
emit = { outcome = "ok", user = "{user}", host = "{host}", latency_ms = "{ms}", reason = "{source_stem}" }
[[rule]]
skip = true
[[sample]]
line = "x"
skip = true
"#,
        )
        .unwrap();
        let layout = ["ts", "host", "prog", "user", "msg", "ms"];
        // Timestamps of two names in the layout, of one, of one with aliases not in it (read
        // in place once bound, as `{host}` is), and of one after `source_stem`.
        let names =
            |n: &[&str]| field_template(&n.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let cases = [
            (names(&["host", "ts"]), false),
            (names(&["ts"]), true),
            (names(&["time", "ts", "when"]), true),
            (names(&["source_stem", "ts"]), false),
            (names(&["time", "ts", "column_1", "ts"]), true),
            (names(&["ts", "@timestamp"]), true),
            (names(&["@1", "ts"]), false),
        ];
        for (ts, direct) in cases {
            bound_reads_as_unbound(&preset, ts, &layout, direct);
        }
    }

    fn bound_reads_as_unbound(preset: &Preset, ts: Template, layout: &[&str], direct: bool) {
        let unbound =
            Mapper::Preset { preset: Box::new(preset.clone()), source_stem: "auth".into(), ts };
        let mut bound = unbound.clone();
        bound.bind(layout);
        let Mapper::Preset { ts, .. } = &bound else { unreachable!() };
        assert_eq!(ts.direct.is_some(), direct, "{ts:?}");
        let lines = [
            ["t1", "h1", "authd", "field-user", "denied cap-user", "5"],
            ["t2", "h2", "authd", "u2", "ok", "7"],
            ["t3", "h3", "other", "u3", "ok", "7"],
            ["t4", "", "authd", "u4", "something else", ""],
            ["", "h5", "authd", "", "ok", ""],
        ];
        for values in lines {
            let rec = Record {
                fields: layout.iter().zip(values).map(|(k, v)| ((*k).into(), v.into())).collect(),
                unbound: false,
            };
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let (mut ma, mut mb) = (Memo::default(), Memo::default());
            let got = bound.map_with(&rec, &mut a, &mut ma);
            let want = unbound.map_with(&rec, &mut b, &mut mb);
            assert_eq!(got, want, "{values:?}");
            assert_eq!(a, b, "{values:?}");
            assert_eq!(ma.0, mb.0, "{values:?}");
            // As many fields in another order (a JSON line's keys), marked so: read by names.
            let fields = rec.fields.iter().rev().cloned().collect();
            let shuffled = Record { fields, unbound: true };
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let got = bound.map_with(&shuffled, &mut a, &mut Memo::default());
            let want = unbound.map_with(&shuffled, &mut b, &mut Memo::default());
            assert_eq!((got, a), (want, b), "{values:?} reversed");
        }
        // The first line's row, as the rules say.
        let rec = Record {
            fields: layout.iter().zip(lines[0]).map(|(k, v)| ((*k).into(), v.into())).collect(),
            unbound: false,
        };
        let mut out = Vec::new();
        bound.map_with(&rec, &mut out, &mut Memo::default());
        let cols = Role::Login.columns();
        let col = |name: &str| out[cols.iter().position(|c| c.name == name).unwrap()].clone();
        assert_eq!(col("user").as_deref(), Some("cap-user"));
        assert_eq!(col("host").as_deref(), Some("h1"));
        assert_eq!(col("client").as_deref(), Some("h1:auth"));
        assert_eq!(col("reason").as_deref(), Some("r-"));
        // A record of another layout is read by names.
        let other = Record {
            fields: vec![("prog".into(), "authd".into()), ("msg".into(), "ok".into())],
            unbound: false,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert_eq!(
            bound.map_with(&other, &mut a, &mut Memo::default()),
            unbound.map_with(&other, &mut b, &mut Memo::default())
        );
        assert_eq!(a, b);
    }
}
