//! Samples are tests: every format and preset sample must give what it says, and detection
//! must pick each format for its own samples.

use std::borrow::Cow;

use chrono::SecondsFormat;

use super::format::{Formats, LineParser};
use super::plan::{Registry, SourceSpec, plan_text};
use super::preset::{Mapped, Mapper, field_template};
use super::record::Record;
use super::time::{TimeState, TsFormat, TsParser, Zone};
use crate::schema::TS_ALIASES;

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[test]
fn all_format_samples_parse() {
    for f in &Formats::builtin().list {
        for s in &f.def.sample {
            let parser = LineParser::new(f).with_first_line(&s.line);
            let mut locs = parser.locations();
            let mut rec = Record::default();
            parser
                .parse(&s.line, &mut locs, &mut rec)
                .unwrap_or_else(|e| panic!("{}: {e}", f.name()));
            let mut names: Vec<String> = match &f.def.timestamp_field {
                Some(n) => vec![n.clone()],
                None => TS_ALIASES.iter().map(|s| s.to_string()).collect(),
            };
            names.push("column_1".into());
            let raw = names
                .iter()
                .find_map(|n| rec.get(n))
                .unwrap_or_else(|| panic!("{}: no ts", f.name()));
            let format: TsFormat =
                f.def.timestamp_format.as_deref().unwrap_or("auto").parse().unwrap();
            let zone: Zone = s.tz.as_deref().unwrap_or("UTC").parse().unwrap();
            let ms = TsParser::new(format, zone)
                .parse(raw, &mut TimeState::new(s.year.unwrap_or(2000)))
                .unwrap_or_else(|e| panic!("{}: {e}", f.name()));
            assert_eq!(rfc(ms), s.ts, "format {} sample {}", f.name(), s.line);
            for (k, v) in &s.fields {
                assert_eq!(rec.get(k), Some(v.as_str()), "format {} field {k}", f.name());
            }
        }
    }
}

#[test]
fn formats_do_not_shadow_each_other() {
    let reg = Registry::builtin();
    for f in &reg.formats.list {
        for s in &f.def.sample {
            let spec = SourceSpec {
                year: s.year,
                tz: s.tz.as_deref().map(|z| z.parse().unwrap()),
                ..Default::default()
            };
            let plan = plan_text(&spec, &reg, &[s.line.as_str()], 2000, "x").unwrap();
            assert_eq!(
                plan.format,
                f.name(),
                "sample of {} detected as {}: {}",
                f.name(),
                plan.format,
                s.line
            );
        }
    }
}

#[test]
fn all_preset_samples_give_their_rows() {
    let reg = Registry::builtin();
    for p in &reg.presets {
        for s in &p.samples {
            let fname = s.format.as_deref().unwrap_or(&p.formats[0]);
            let f = reg.formats.get(fname).unwrap();
            let parser = LineParser::new(f).with_first_line("2000-01-01 00:00:00,1");
            let mut locs = parser.locations();
            let mut rec = Record::default();
            parser
                .parse(&s.line, &mut locs, &mut rec)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            let ts_names: Vec<String> = match (&p.timestamp_field, &f.def.timestamp_field) {
                (Some(t), _) => t.split('|').map(str::to_string).collect(),
                (None, Some(t)) => vec![t.clone()],
                (None, None) => TS_ALIASES.iter().map(|s| s.to_string()).collect(),
            };
            let mapper = Mapper::Preset {
                preset: p.clone(),
                source_stem: "sample".into(),
                ts: field_template(&ts_names),
            };
            let mut out: Vec<Option<Cow<str>>> = Vec::new();
            let got = mapper.map(&rec, &mut out);
            if s.skip {
                assert!(
                    matches!(got, Mapped::Skip | Mapped::NotMine),
                    "preset {} sample {}",
                    p.name,
                    s.line
                );
                continue;
            }
            let Mapped::Rows { ts, count } = got else {
                panic!("preset {} gave {got:?} for {}", p.name, s.line)
            };
            assert_eq!(count, s.rows.unwrap_or(1), "preset {} rows", p.name);
            let cols = p.role.columns();
            for (k, v) in &s.emit {
                let i = cols.iter().position(|c| c.name == k).unwrap();
                assert_eq!(out[i].as_deref(), Some(v.as_str()), "preset {} column {k}", p.name);
            }
            if let Some(want) = &s.ts {
                let fmt: TsFormat = p
                    .timestamp_format
                    .as_deref()
                    .or(f.def.timestamp_format.as_deref())
                    .unwrap_or("auto")
                    .parse()
                    .unwrap();
                let ms = TsParser::new(fmt, Zone::Utc)
                    .parse(ts.as_deref().unwrap(), &mut TimeState::new(s.year.unwrap_or(2000)))
                    .unwrap();
                assert_eq!(&rfc(ms), want, "preset {} ts", p.name);
            }
        }
    }
}

#[test]
fn presets_are_detected_for_their_samples() {
    let reg = Registry::builtin();
    for p in &reg.presets {
        let lines: Vec<&str> = p
            .samples
            .iter()
            .filter(|s| !s.skip && s.format.is_none())
            .map(|s| s.line.as_str())
            .collect();
        let year = p.samples.iter().find_map(|s| s.year);
        let spec = SourceSpec { year, ..Default::default() };
        let plan = plan_text(&spec, &reg, &lines, 2000, "sample").unwrap();
        assert_eq!(
            plan.preset(),
            Some(p.name.as_str()),
            "preset {} not detected (format {})",
            p.name,
            plan.format
        );
    }
}
