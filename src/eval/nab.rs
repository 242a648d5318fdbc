//! NAB: rootline's detectors on NAB's corpus, scored the way NAB scores (`rootline eval nab`).
//!
//! Two detectors can be scored. `shape` (the default) is what `rootline analyze` runs on plain
//! metric series ([`crate::detect::shape`]): it fires on the last point of a window whose value
//! histogram has not been seen before. `band` is the robust baseline behind surges and
//! exhaustions ([`crate::detect::baseline`]: median/MAD, by time of day with two days of
//! history), run two-sided, firing once when a value leaves its band by `z` and staying quiet
//! for `quiet` rows after. Scoring follows NAB's sweeper: per labelled window only the earliest
//! detection counts, weighted by the scaled sigmoid of its position (earlier is better) over
//! the sigmoid's best; detections outside windows cost the profile's false-positive weight
//! scaled by how far past a window they are; each missed window costs the false-negative
//! weight; the first 15% of each file (at most 750 rows) is probation and not scored. Totals
//! are normalised so that a detector that never fires scores 0 and a perfect one 100.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::detect::baseline::{BaselineOptions, bands};
use crate::detect::shape::{self, ShapeOptions};
use crate::error::IngestError;
use crate::ingest::{self, IngestOptions, MemorySink, Registry, SourceSpec};
use crate::schema::{self, Role};

/// NAB's cost profiles.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

pub const PROFILES: [Profile; 3] = [
    Profile { name: "standard", tp: 1.0, fp: 0.11, fn_: 1.0 },
    Profile { name: "reward_low_fp", tp: 1.0, fp: 0.22, fn_: 1.0 },
    Profile { name: "reward_low_fn", tp: 1.0, fp: 0.11, fn_: 2.0 },
];

/// Which detector to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NabDetector {
    /// Windows whose value histogram is new (what analyze runs on metric series).
    Shape,
    /// The robust median/MAD band behind surges and exhaustions.
    Band,
}

/// The detectors' knobs for NAB.
#[derive(Debug, Clone, Serialize)]
pub struct NabOptions {
    pub detector: NabDetector,
    /// `shape`: bins and window.
    pub shape: ShapeOptions,
    /// `band`: robust z to fire, rows quiet after firing, trailing history rows.
    pub z: f64,
    pub quiet: usize,
    pub trailing: usize,
}

impl Default for NabOptions {
    fn default() -> Self {
        NabOptions {
            detector: NabDetector::Shape,
            shape: ShapeOptions::default(),
            z: 8.0,
            quiet: 400,
            trailing: 300,
        }
    }
}

/// One file's raw scores per profile.
#[derive(Debug, Clone, Serialize)]
pub struct FileScore {
    pub file: String,
    pub rows: usize,
    pub windows: usize,
    pub detections: usize,
    /// Raw score, and the null (never fires) and perfect scores, per profile.
    pub raw: BTreeMap<&'static str, f64>,
    pub null: BTreeMap<&'static str, f64>,
    pub perfect: BTreeMap<&'static str, f64>,
}

/// Scores normalised to NAB's 0..100 scale, per profile.
#[derive(Debug, Clone, Serialize)]
pub struct Normalised {
    pub standard: f64,
    pub reward_low_fp: f64,
    pub reward_low_fn: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NabReport {
    pub overall: Normalised,
    pub categories: BTreeMap<String, Normalised>,
    pub files: Vec<FileScore>,
    pub options: NabOptions,
}

fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 { -1.0 } else { 2.0 / (1.0 + (5.0 * x).exp()) - 1.0 }
}

/// NAB's score of one file: `detections` (row indices, ascending) against `windows` (row
/// index ranges, inclusive, ascending).
pub fn score_file(
    rows: usize,
    windows: &[(usize, usize)],
    detections: &[usize],
    p: &Profile,
) -> f64 {
    let probation = ((rows as f64 * 0.15).floor() as usize).min(750);
    let mut score = 0.0;
    let mut hit = vec![false; windows.len()];
    for &d in detections.iter().filter(|&&d| d >= probation) {
        match windows.iter().position(|&(a, b)| a <= d && d <= b) {
            Some(w) => {
                if !hit[w] {
                    hit[w] = true;
                    let (a, b) = windows[w];
                    let width = (b - a + 1) as f64;
                    let pos = -((b - d + 1) as f64) / width;
                    score += p.tp * scaled_sigmoid(pos) / scaled_sigmoid(-1.0);
                }
            }
            None => {
                let prev = windows.iter().rev().find(|&&(_, b)| b < d);
                let weight = match prev {
                    Some(&(a, b)) => scaled_sigmoid((d - b) as f64 / ((b - a) as f64).max(1.0)),
                    None => -1.0,
                };
                score += p.fp * weight;
            }
        }
    }
    score - p.fn_ * hit.iter().filter(|h| !**h).count() as f64
}

/// Row indices where the chosen detector fires on `x`, sampled every `step_ms`.
pub fn detect(x: &[f64], step_ms: i64, o: &NabOptions) -> Vec<usize> {
    match o.detector {
        NabDetector::Shape => shape::anomalies(x, &o.shape),
        NabDetector::Band => detect_band(x, step_ms, o),
    }
}

fn detect_band(x: &[f64], step_ms: i64, o: &NabOptions) -> Vec<usize> {
    let day = (86_400_000 / step_ms.max(1)) as usize;
    let b = bands(
        x,
        &BaselineOptions {
            day,
            trailing: o.trailing,
            min_history: 20,
            tod_halfwidth: 2,
            min_scale: 1e-9,
            min_rel_scale: 0.0,
            counts: false,
            clean_z: o.z,
            out_half: 0,
            out_z: o.z,
        },
    );
    let mut out = Vec::new();
    let mut last: Option<usize> = None;
    for i in 0..x.len() {
        let Some(band) = b[i] else { continue };
        // A flat history has no spread: any change from it is news, within float noise.
        let scale =
            if band.scale <= 1e-9 { (band.median.abs() * 1e-6).max(1e-9) } else { band.scale };
        if ((x[i] - band.median) / scale).abs() >= o.z && last.is_none_or(|l| i - l > o.quiet) {
            out.push(i);
            last = Some(i);
        }
    }
    out
}

fn parse_label_time(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|d| d.and_utc().timestamp_millis())
}

/// Runs the detector over every labelled file of a NAB-style directory and scores it.
pub fn nab(dir: &Path, o: &NabOptions) -> Result<NabReport, IngestError> {
    let labels_path = dir.join("labels/combined_windows.json");
    let text = std::fs::read_to_string(&labels_path)
        .map_err(|source| IngestError::Read { path: labels_path.clone(), source })?;
    let labels: BTreeMap<String, Vec<Vec<String>>> =
        serde_json::from_str(&text).map_err(|e| IngestError::Source {
            path: labels_path.clone(),
            message: format!("not a NAB windows file: {e}"),
        })?;
    let mut files = Vec::new();
    for (name, wins) in &labels {
        let path: PathBuf = dir.join("data").join(name);
        if !path.exists() {
            continue;
        }
        let mut sink = MemorySink::default();
        let spec = SourceSpec { path, preset: Some("metric-csv".into()), ..Default::default() };
        ingest::ingest(
            &[spec],
            &IngestOptions::default(),
            &Registry::builtin(),
            &mut sink,
            &|_, _| {},
        )?;
        let Some(df) = sink.tables.get(&Role::Metric) else { continue };
        let ts = schema::ts_ms(df)?;
        let x: Vec<f64> = df.column("value")?.f64()?.into_no_null_iter().collect();
        let mut steps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).collect();
        steps.sort_unstable();
        let step = steps.get(steps.len() / 2).copied().unwrap_or(300_000);
        let windows: Vec<(usize, usize)> = wins
            .iter()
            .filter_map(|w| {
                let (a, b) = (parse_label_time(w.first()?)?, parse_label_time(w.get(1)?)?);
                let lo = ts.partition_point(|t| *t < a);
                let hi = ts.partition_point(|t| *t <= b);
                (hi > lo).then(|| (lo, hi - 1))
            })
            .collect();
        let detections = detect(&x, step, o);
        let mut fs = FileScore {
            file: name.clone(),
            rows: x.len(),
            windows: windows.len(),
            detections: detections.len(),
            raw: BTreeMap::new(),
            null: BTreeMap::new(),
            perfect: BTreeMap::new(),
        };
        for p in &PROFILES {
            fs.raw.insert(p.name, score_file(x.len(), &windows, &detections, p));
            fs.null.insert(p.name, score_file(x.len(), &windows, &[], p));
            let perfect: Vec<usize> = windows.iter().map(|w| w.0).collect();
            fs.perfect.insert(p.name, score_file(x.len(), &windows, &perfect, p));
        }
        files.push(fs);
    }
    let normalise = |fs: &[&FileScore]| {
        let n = |p: &str| {
            let raw: f64 = fs.iter().map(|f| f.raw[p]).sum();
            let null: f64 = fs.iter().map(|f| f.null[p]).sum();
            let perfect: f64 = fs.iter().map(|f| f.perfect[p]).sum();
            if perfect > null {
                ((100.0 * (raw - null) / (perfect - null)) * 10.0).round() / 10.0
            } else {
                0.0
            }
        };
        Normalised {
            standard: n("standard"),
            reward_low_fp: n("reward_low_fp"),
            reward_low_fn: n("reward_low_fn"),
        }
    };
    let all: Vec<&FileScore> = files.iter().collect();
    let mut categories = BTreeMap::new();
    let mut cats: Vec<&str> = files.iter().filter_map(|f| f.file.split('/').next()).collect();
    cats.dedup();
    for c in cats {
        let fs: Vec<&FileScore> =
            files.iter().filter(|f| f.file.starts_with(&format!("{c}/"))).collect();
        categories.insert(c.to_string(), normalise(&fs));
    }
    Ok(NabReport { overall: normalise(&all), categories, files, options: o.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nab_scoring_rewards_early_detection_and_normalises() {
        let p = &PROFILES[0];
        let windows = [(400, 499)];
        assert_eq!(score_file(1000, &windows, &[], p), -1.0);
        let early = score_file(1000, &windows, &[400], p);
        let late = score_file(1000, &windows, &[490], p);
        assert!((early - 1.0).abs() < 1e-9 && late < 0.25 && late > 0.2, "{early} {late}");
        // A false positive long after the window costs the full fp weight.
        let fp = score_file(1000, &windows, &[400, 900], p);
        assert!((early - fp - 0.11).abs() < 1e-3, "{fp}");
        // Detections in probation do not count.
        assert_eq!(score_file(1000, &windows, &[10], p), -1.0);
    }

    #[test]
    fn band_detector_fires_once_on_a_level_shift() {
        let mut x: Vec<f64> = (0..600).map(|i| 10.0 + ((i * 7919) % 13) as f64 / 13.0).collect();
        for v in &mut x[400..] {
            *v += 50.0;
        }
        let band = NabOptions { detector: NabDetector::Band, ..Default::default() };
        assert_eq!(detect(&x, 300_000, &band), vec![400]);
    }
}
