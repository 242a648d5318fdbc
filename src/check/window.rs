//! The window a check judges: where it ends (a date means that whole UTC day; default, the last
//! complete UTC day in the logs) and what it is called in the state directory.

use crate::error::ConfigError;
use crate::units::{DAY_MS, parse_instant, rfc3339_secs as rfc3339};

/// The span judged, `[start, end)` in ms, and its name: the UTC date (`2007-08-16`) when it is
/// that whole day, else its end (`2007-08-16T1200Z`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub night: String,
}

/// Where the window ends and what it is called.
pub fn window(
    as_of: Option<&str>,
    window_ms: i64,
    last_ts: i64,
    bucket_ms: i64,
) -> Result<Window, ConfigError> {
    let end = match as_of {
        Some(a) if chrono::NaiveDate::parse_from_str(a, "%Y-%m-%d").is_ok() => {
            parse_instant(a).map_err(ConfigError::Invalid)? + DAY_MS
        }
        Some(a) => parse_instant(a).map_err(|e| ConfigError::Invalid(format!("--as-of {e}")))?,
        // The last complete UTC day: the day holding the last row counts when the rows reach
        // its last bucket.
        None => (last_ts + bucket_ms).div_euclid(DAY_MS) * DAY_MS,
    };
    let start = end - window_ms;
    let night = if window_ms == DAY_MS && end.rem_euclid(DAY_MS) == 0 {
        rfc3339(start)[..10].to_string()
    } else {
        let t = rfc3339(end);
        format!("{}T{}{}Z", &t[..10], &t[11..13], &t[14..16])
    };
    Ok(Window { start, end, night })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::HOUR_MS;

    #[test]
    fn windows_and_their_names() {
        let day = |d: &str| crate::units::parse_instant(d).unwrap();
        let Window { start: s, end: e, night: n } =
            window(Some("2007-08-16"), DAY_MS, 0, 60_000).unwrap();
        assert_eq!((s, e, n.as_str()), (day("2007-08-16"), day("2007-08-17"), "2007-08-16"));
        let Window { start: s, end: e, night: n } =
            window(Some("2007-08-16T12:00:00Z"), 6 * HOUR_MS, 0, 60_000).unwrap();
        assert_eq!((e - s, n.as_str()), (6 * HOUR_MS, "2007-08-16T1200Z"));
        // Rows up to 23:59:30 make the day complete; rows up to noon do not.
        let last = day("2007-08-16") + DAY_MS - 30_000;
        assert_eq!(window(None, DAY_MS, last, 60_000).unwrap().night, "2007-08-16");
        let noon = day("2007-08-16") + 12 * HOUR_MS;
        assert_eq!(window(None, DAY_MS, noon, 60_000).unwrap().night, "2007-08-15");
        assert!(window(Some("yesterday"), DAY_MS, 0, 60_000).is_err());
    }
}
