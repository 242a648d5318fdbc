//! Time and numbers as rootline writes and reads them, one place for each: instants in
//! RFC 3339 UTC (at second or millisecond precision), instants and durations given on the
//! command line or in a config, rounding, and numbers for people. A leaf: it imports nothing
//! of the crate, and every layer may use it.

use chrono::{DateTime, NaiveDate, SecondsFormat};

pub const SECOND_MS: i64 = 1_000;
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// Milliseconds since the epoch -> `2007-08-16T02:13:00Z`, the form of every time in findings
/// (empty for an instant chrono cannot hold).
pub fn rfc3339_secs(ms: i64) -> String {
    format_ms(ms, SecondsFormat::Secs)
}

/// Milliseconds since the epoch -> `2007-08-16T02:13:00.123Z`, as ingest reports row times.
pub fn rfc3339_millis(ms: i64) -> String {
    format_ms(ms, SecondsFormat::Millis)
}

fn format_ms(ms: i64, precision: SecondsFormat) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(precision, true))
        .unwrap_or_default()
}

/// The inverse of [`rfc3339_secs`] and [`rfc3339_millis`]; 0 for text that is not RFC 3339
/// (findings are written by rootline, so that is a bug upstream, not input).
pub fn rfc3339_ms(t: &str) -> i64 {
    DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_millis()).unwrap_or(0)
}

/// Parses an instant given on the command line (`--start`, `--as-of`): an RFC 3339 time or
/// a bare date, meaning midnight UTC.
pub fn parse_instant(s: &str) -> Result<i64, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| format!("\"{s}\" is neither a date (2007-08-16) nor an RFC 3339 time"))
}

/// A duration as people write it, `30s`, `1m`, `5m`, `1h`, `2d`, in milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 =
        num.parse().map_err(|_| format!("bad duration \"{s}\"; write e.g. 30s, 5m, 24h, 7d"))?;
    let ms = match unit {
        "s" => 1_000,
        "m" | "" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "bad duration unit in \"{s}\"; write a number and s, m, h or d, e.g. 30s, 5m, 24h, 7d"
            ));
        }
    };
    if n <= 0 || n > 1_000_000 {
        return Err(format!("duration \"{s}\" must be positive and at most 1000000 units"));
    }
    Ok(n * ms)
}

/// A duration in the largest whole unit it fits: `2d`, `36h`, `90s`.
pub fn duration_text(ms: i64) -> String {
    for (unit, size) in [("d", DAY_MS), ("h", HOUR_MS), ("m", MINUTE_MS), ("s", SECOND_MS)] {
        if ms % size == 0 && ms >= size {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// `x` rounded to `digits` decimals, as findings, truth.json and status lines state numbers.
pub fn round_to(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// A number as people read it: whole numbers without a fraction, others to at most
/// `decimals` places without trailing zeros (`3`, `0.125`, `0.3333`).
pub fn short_number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        v.to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.decimals$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// `1 thing`, `2 things`.
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_at_both_precisions() {
        let ms = 1_187_230_380_123;
        assert_eq!(rfc3339_secs(ms), "2007-08-16T02:13:00Z");
        assert_eq!(rfc3339_millis(ms), "2007-08-16T02:13:00.123Z");
        assert_eq!(rfc3339_ms(&rfc3339_millis(ms)), ms);
        assert_eq!(parse_instant("2007-08-16"), Ok(1_187_222_400_000));
        assert!(parse_instant("yesterday").is_err());
    }

    #[test]
    fn durations_and_numbers() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("2d"), Ok(172_800_000));
        assert!(parse_duration("1 day").is_err());
        assert_eq!(round_to(2.345, 2), 2.35);
        assert_eq!(short_number(3.0, 4), "3");
        assert_eq!(short_number(1.0 / 3.0, 4), "0.3333");
    }
}
