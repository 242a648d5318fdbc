//! Samples are tests: every format and preset sample must give what it says, and detection
//! must pick each format for its own samples.

use super::format::Formats;
use super::plan::{Registry, SourceSpec, plan_text};

/// The built-in formats' patterns compile when first used, so they are checked here.
#[test]
fn built_in_format_files_are_valid() {
    for (file, text) in super::format::BUILTIN {
        super::format::Format::from_toml(file, text).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn all_format_samples_parse() {
    for f in &Formats::builtin().list {
        f.check_samples().unwrap_or_else(|e| panic!("{e}"));
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
    for p in reg.presets() {
        p.check_samples(&reg.formats).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn presets_are_detected_for_their_samples() {
    let reg = Registry::builtin();
    for p in reg.presets() {
        let lines: Vec<&str> = p
            .samples
            .iter()
            .filter(|s| !s.skip && s.format.is_none() && s.header.is_none())
            .map(|s| s.line.as_str())
            .collect();
        if lines.is_empty() {
            continue; // its samples need a header or a format: tests/it/exports.rs detects them
        }
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
