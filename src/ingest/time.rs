//! Timestamps: parse the text a log carries into UTC milliseconds, once, at ingest.
//!
//! A source names its zone (`UTC`, an offset like `+03:00`, or an IANA name such as
//! `America/Los_Angeles`); stamps with their own offset ignore it. Yearless stamps (classic
//! syslog) take the source's year and roll over on Dec -> Jan. A local time that occurs twice
//! (the repeated hour when DST ends) resolves to the earlier instant until the log steps back
//! in local time, then to the later one. Both rules need the previous line, so they live in
//! [`TimeState`], which the caller carries from line to line in file order.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
};

use crate::error::unknown_value;

/// How a source's timestamp text is written.
#[derive(Debug, Clone, PartialEq)]
pub enum TsFormat {
    /// Try ISO 8601 / RFC 3339, epoch numbers and classic syslog, per value.
    Auto,
    /// ISO 8601 / RFC 3339 with `T` or a space, optional fraction (any digits) and offset.
    Iso,
    /// `Mmm dd HH:MM:SS[.frac]`, optionally with a year after the day.
    Syslog,
    /// A number since 1970-01-01 UTC in the given unit; `None` guesses it from the digits.
    Epoch(Option<EpochUnit>),
    /// A chrono strftime pattern; a pattern without `%Y` takes the source's year.
    Strftime(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl FromStr for TsFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => TsFormat::Auto,
            "iso" | "rfc3339" | "iso8601" => TsFormat::Iso,
            "syslog" => TsFormat::Syslog,
            "epoch" => TsFormat::Epoch(None),
            "epoch_s" => TsFormat::Epoch(Some(EpochUnit::Seconds)),
            "epoch_ms" => TsFormat::Epoch(Some(EpochUnit::Millis)),
            "epoch_us" => TsFormat::Epoch(Some(EpochUnit::Micros)),
            "epoch_ns" => TsFormat::Epoch(Some(EpochUnit::Nanos)),
            s if s.contains('%') => TsFormat::Strftime(s.to_string()),
            other => {
                return Err(unknown_value(
                    "timestamp format",
                    other,
                    [
                        "auto",
                        "iso",
                        "syslog",
                        "epoch",
                        "epoch_s",
                        "epoch_ms",
                        "epoch_us",
                        "epoch_ns",
                        "a strftime pattern such as %d/%b/%Y:%H:%M:%S %z",
                    ],
                ));
            }
        })
    }
}

/// The zone that local (offset-less) timestamps of a source are in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Utc,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" || t == "GMT" {
            return Ok(Zone::Utc);
        }
        if let Some(secs) = parse_offset(t.as_bytes()).map(|(secs, _)| secs) {
            return FixedOffset::east_opt(secs)
                .map(Zone::Fixed)
                .ok_or_else(|| format!("time zone offset \"{s}\" is out of range"));
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!(
                "unknown time zone \"{s}\"; use UTC, an offset such as +02:00, \
                 or an IANA name such as Europe/Berlin"
            )
        })
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Utc => f.write_str("UTC"),
            Zone::Fixed(o) => write!(f, "{o}"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

impl Zone {
    /// Whether turning local times into UTC needs the previous line (a zone with DST).
    pub fn is_stateful(&self) -> bool {
        matches!(self, Zone::Named(_))
    }
}

/// What the parser remembers from the previous lines of the same file: for timestamps (the
/// year of yearless stamps, the last instant for repeated DST hours), and what a preset's
/// rules remember (connections already counted).
#[derive(Debug, Clone)]
pub struct TimeState {
    /// The year of the previous yearless stamp.
    pub year: i32,
    last_month: Option<u32>,
    last_utc_ms: Option<i64>,
    iso: IsoMinute,
    pub memo: super::preset::Memo,
}

impl TimeState {
    pub fn new(year: i32) -> Self {
        TimeState {
            year,
            last_month: None,
            last_utc_ms: None,
            iso: IsoMinute::default(),
            memo: Default::default(),
        }
    }

    /// The year of a yearless stamp in `month`: the previous line's year, one more when the
    /// month jumps back by half a year or more (Dec -> Jan), one less for a single line that
    /// jumps forward that far (a late Dec line after Jan), without moving the state.
    fn year_for(&mut self, month: u32) -> i32 {
        match self.last_month {
            Some(last) if month + 6 <= last => {
                self.year += 1;
                self.last_month = Some(month);
                self.year
            }
            Some(last) if last + 6 <= month => self.year - 1,
            _ => {
                self.last_month = Some(month);
                self.year
            }
        }
    }
}

/// Parses timestamps of one source: its format and its zone.
#[derive(Debug, Clone)]
pub struct TsParser {
    pub format: TsFormat,
    pub zone: Zone,
}

impl TsParser {
    pub fn new(format: TsFormat, zone: Zone) -> Self {
        TsParser { format, zone }
    }

    /// Parses `raw` into UTC milliseconds, or says why it cannot.
    pub fn parse(&self, raw: &str, st: &mut TimeState) -> Result<i64, &'static str> {
        // Nearly every stamp starts and ends with a visible ASCII byte: two tests, no trim.
        let b = raw.as_bytes();
        let raw = match (b.first(), b.last()) {
            (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => raw,
            _ => raw.trim(),
        };
        if raw.is_empty() {
            return Err("empty timestamp");
        }
        match &self.format {
            TsFormat::Iso => self.iso(raw, st),
            TsFormat::Syslog => self.syslog(raw, st),
            TsFormat::Epoch(unit) => epoch(raw, *unit),
            TsFormat::Strftime(fmt) => self.strftime(raw, fmt, st),
            TsFormat::Auto if raw.starts_with("/Date(") => dotnet_date(raw),
            TsFormat::Auto => {
                let digits = raw.strip_prefix('-').unwrap_or(raw);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                    epoch(raw, None)
                } else if raw.as_bytes()[0].is_ascii_digit() {
                    self.iso(raw, st)
                } else {
                    self.syslog(raw, st)
                }
            }
        }
    }

    fn iso(&self, raw: &str, st: &mut TimeState) -> Result<i64, &'static str> {
        let (local, offset) =
            parse_iso(raw.as_bytes(), &mut st.iso).ok_or("not an ISO 8601 timestamp")?;
        match offset {
            Some(secs) => Ok(local - i64::from(secs) * 1000),
            None => self.local_to_utc(local, st),
        }
    }

    fn syslog(&self, raw: &str, st: &mut TimeState) -> Result<i64, &'static str> {
        let (month, day, year, rest) = parse_month_day(raw).ok_or("not a syslog timestamp")?;
        let (h, m, s, nanos, used) = parse_hms(rest.as_bytes()).ok_or("not a syslog timestamp")?;
        if !rest[used..].trim().is_empty() {
            return Err("text after the syslog timestamp");
        }
        let year = year.unwrap_or_else(|| st.year_for(month));
        let date = NaiveDate::from_ymd_opt(year, month, day).ok_or("day out of range")?;
        let naive = date.and_hms_nano_opt(h, m, s, nanos).ok_or("time out of range")?;
        self.local_to_utc(naive.and_utc().timestamp_millis(), st)
    }

    fn strftime(&self, raw: &str, fmt: &str, st: &mut TimeState) -> Result<i64, &'static str> {
        let has_year = fmt.contains("%Y") || fmt.contains("%y") || fmt.contains("%s");
        let has_offset = fmt.contains("%z") || fmt.contains("%:z") || fmt.contains("%#z");
        if has_offset {
            let dt = DateTime::parse_from_str(raw, fmt).map_err(|_| "timestamp does not fit")?;
            return Ok(dt.timestamp_millis());
        }
        let naive = if has_year {
            NaiveDateTime::parse_from_str(raw, fmt).map_err(|_| "timestamp does not fit")?
        } else {
            // Parse with a placeholder leap year (so Feb 29 fits), then apply the right year.
            let with_year = format!("2000 {raw}");
            let pattern = format!("%Y {fmt}");
            let n = NaiveDateTime::parse_from_str(&with_year, &pattern)
                .map_err(|_| "timestamp does not fit")?;
            let year = st.year_for(n.month());
            n.with_year(year).ok_or("day out of range for the year")?
        };
        self.local_to_utc(naive.and_utc().timestamp_millis(), st)
    }

    /// UTC milliseconds of `local` (milliseconds of a local time read as if UTC) in the
    /// source's zone. Offsets are whole seconds, so the cut fraction moves no instant across
    /// a change of offset.
    fn local_to_utc(&self, local: i64, st: &mut TimeState) -> Result<i64, &'static str> {
        let utc = match self.zone {
            Zone::Utc => local,
            Zone::Fixed(o) => local - i64::from(o.local_minus_utc()) * 1000,
            Zone::Named(tz) => {
                let naive =
                    DateTime::from_timestamp_millis(local).ok_or("time out of range")?.naive_utc();
                let minus = |o: <chrono_tz::Tz as TimeZone>::Offset| {
                    local - i64::from(o.fix().local_minus_utc()) * 1000
                };
                match tz.offset_from_local_datetime(&naive) {
                    LocalResult::Single(o) => minus(o),
                    LocalResult::Ambiguous(a, b) => {
                        let (x, y) = (minus(a), minus(b));
                        let (early, late) = (x.min(y), x.max(y));
                        match st.last_utc_ms {
                            Some(last) if last > early => late,
                            _ => early,
                        }
                    }
                    // In the gap when clocks spring forward: read it with the offset before.
                    LocalResult::None => minus(tz.offset_from_utc_datetime(&naive)) - 3_600_000,
                }
            }
        };
        st.last_utc_ms = Some(utc);
        Ok(utc)
    }
}

/// The first and last instants a table holds: years 1 to 9999, as RFC 3339 can write them.
pub const MIN_MS: i64 = -62_135_596_800_000;
pub const MAX_MS: i64 = 253_402_300_799_999;

/// `/Date(1700000000000)/` or `/Date(1700000000000+0100)/`: .NET's JSON dates (PowerShell's
/// ConvertTo-Json), milliseconds since the epoch in UTC.
fn dotnet_date(raw: &str) -> Result<i64, &'static str> {
    let inner = raw
        .strip_prefix("/Date(")
        .and_then(|r| r.strip_suffix(")/"))
        .ok_or("not a /Date(ms)/ timestamp")?;
    let end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner.len(), |(i, _)| i);
    epoch(&inner[..end], Some(EpochUnit::Millis))
}

fn epoch(raw: &str, unit: Option<EpochUnit>) -> Result<i64, &'static str> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not an epoch number");
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not an epoch number");
    }
    if int.len() > 19 {
        return Err("epoch number out of range");
    }
    let unit = unit.unwrap_or(match int.len() {
        0..=11 => EpochUnit::Seconds,
        12..=14 => EpochUnit::Millis,
        15..=17 => EpochUnit::Micros,
        _ => EpochUnit::Nanos,
    });
    const RANGE: &str = "epoch number out of range";
    let n: i64 = int.parse().map_err(|_| RANGE)?;
    // The fraction in the unit's own sub-millisecond digits, as milliseconds.
    let frac_ms = |digits: usize| -> i64 {
        frac.bytes()
            .chain(std::iter::repeat(b'0'))
            .take(digits)
            .fold(0, |a, b| a * 10 + i64::from(b - b'0'))
    };
    let ms = match unit {
        EpochUnit::Seconds => n.checked_mul(1000).and_then(|v| v.checked_add(frac_ms(3))),
        EpochUnit::Millis => Some(n),
        EpochUnit::Micros => Some(n / 1000),
        EpochUnit::Nanos => Some(n / 1_000_000),
    }
    .ok_or(RANGE)?;
    let ms = if negative { -ms } else { ms };
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return Err(RANGE);
    }
    Ok(ms)
}

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// The year a yearless log was written in, from the year and date of its last change
/// (`changed`: year, month, day) and its first line: a log cannot begin after it was last
/// written, so a first line dated later in the year than the change is from the year before.
/// `true` when that moved the year back.
pub fn year_of_log(changed: (i32, u32, u32), first_line: Option<&str>) -> (i32, bool) {
    let (year, month, day) = changed;
    match first_line.and_then(parse_month_day) {
        // One day of slack for a stamp in a zone ahead of the file system's.
        Some((m, d, None, _)) if (m, d) > (month, day + 1) => (year - 1, true),
        _ => (year, false),
    }
}

/// `Mmm dd` then optionally ` YYYY`; returns month, day, year and the rest (the time).
fn parse_month_day(raw: &str) -> Option<(u32, u32, Option<i32>, &str)> {
    let b = raw.as_bytes();
    if b.len() < 6 {
        return None;
    }
    let mon = raw.get(..3)?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let rest = raw[3..].trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    let day: u32 = rest[..end].parse().ok()?;
    let mut rest = rest[end..].trim_start();
    let mut year = None;
    if rest.len() > 5 && rest.as_bytes()[4] == b' ' && rest[..4].bytes().all(|c| c.is_ascii_digit())
    {
        year = rest[..4].parse().ok();
        rest = rest[5..].trim_start();
    }
    Some((month, day, year, rest))
}

fn num(b: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Some(n)
}

/// `HH:MM[:SS[(.|,)frac]]`; returns the parts and how many bytes were used.
fn parse_hms(b: &[u8]) -> Option<(u32, u32, u32, u32, usize)> {
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let h = num(&b[0..2])?;
    let m = num(&b[3..5])?;
    let (s, nanos, used) = parse_seconds(&b[5..])?;
    Some((h, m, s, nanos, 5 + used))
}

/// What may follow the minutes: `[:SS[(.|,)frac]]`; returns the seconds, the fraction in
/// nanoseconds and how many bytes were used.
fn parse_seconds(b: &[u8]) -> Option<(u32, u32, usize)> {
    let mut i = 0;
    let mut s = 0;
    let mut nanos = 0;
    if b.len() >= 3 && b[0] == b':' {
        s = num(&b[1..3])?;
        i = 3;
        if i < b.len() && (b[i] == b'.' || b[i] == b',') && b.get(i + 1)?.is_ascii_digit() {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            // Nine digits at most are read (nanoseconds); fewer are scaled up to them.
            let digits = &b[start..i.min(start + 9)];
            nanos = digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
            nanos *= 10u32.pow(9 - digits.len() as u32);
        }
    }
    // A leap second (:60) is read as the last millisecond of the minute.
    if s == 60 {
        s = 59;
        nanos = 999_000_000;
    }
    Some((s, nanos, i))
}

/// A `+HH:MM`, `+HHMM`, `+HH`, `Z` or ` UTC` suffix; returns seconds east and bytes used.
fn parse_offset(b: &[u8]) -> Option<(i32, usize)> {
    match b.first()? {
        b'Z' | b'z' => Some((0, 1)),
        b'+' | b'-' => {
            let sign = if b[0] == b'-' { -1 } else { 1 };
            let h = num(b.get(1..3)?)? as i32;
            let (m, used) = match b.get(3) {
                Some(b':') => (num(b.get(4..6)?)? as i32, 6),
                Some(c) if c.is_ascii_digit() => (num(b.get(3..5)?)? as i32, 5),
                _ => (0, 3),
            };
            (h <= 23 && m <= 59).then_some((sign * (h * 3600 + m * 60), used))
        }
        _ => None,
    }
}

/// The days from 1970-01-01 to a valid date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`), or `None` for a month or day that does not exist. Every
/// line's timestamp comes through here: chrono's checked date and its day count were 3% of
/// a CSV ingest.
fn days_from_civil(year: i32, month: u32, day: u32) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month {
        return None;
    }
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `YYYY-MM-DD?HH:MM` (`-` or `/` in the date, `T`, `t` or a space between): its milliseconds
/// since 1970 read as UTC.
fn iso_minute(b: &[u8; 16]) -> Option<i64> {
    if !(b[4] == b'-' || b[4] == b'/') || b[7] != b[4] || b[13] != b':' {
        return None;
    }
    if !(b[10] == b'T' || b[10] == b' ' || b[10] == b't') {
        return None;
    }
    let year = num(&b[0..4])? as i32;
    let month = num(&b[5..7])?;
    let day = num(&b[8..10])?;
    let (h, m) = (num(&b[11..13])?, num(&b[14..16])?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day)? * 86_400_000 + i64::from(h * 3600 + m * 60) * 1000)
}

/// The last minute an ISO reader worked out: the text `YYYY-MM-DD?HH:MM` and its
/// milliseconds. A log's lines come in time order, so most share the line before's minute
/// and only their seconds are read.
#[derive(Debug, Clone, Default)]
pub struct IsoMinute(Option<([u8; 16], i64)>);

/// Parses ISO 8601 date-times: `YYYY-MM-DD[T| ]HH:MM[:SS[.frac]][offset]`, also with `/` in
/// the date. Returns the local time (milliseconds since 1970 read as UTC, the fraction cut
/// to milliseconds) and its offset in seconds when the text carries one.
pub fn parse_iso(b: &[u8], last: &mut IsoMinute) -> Option<(i64, Option<i32>)> {
    let prefix: [u8; 16] = b.get(..16)?.try_into().ok()?;
    let minute = match last.0 {
        Some((p, ms)) if p == prefix => ms,
        _ => {
            let ms = iso_minute(&prefix)?;
            last.0 = Some((prefix, ms));
            ms
        }
    };
    let (s, nanos, used) = parse_seconds(&b[16..])?;
    if s > 59 {
        return None;
    }
    let naive = minute + i64::from(s) * 1000 + i64::from(nanos / 1_000_000);
    let mut rest = &b[16 + used..];
    if rest.first() == Some(&b' ') {
        let trimmed = &rest[1..];
        if trimmed.eq_ignore_ascii_case(b"utc") || trimmed.eq_ignore_ascii_case(b"gmt") {
            return Some((naive, Some(0)));
        }
        rest = trimmed;
    }
    match parse_offset(rest) {
        Some((secs, used)) if used == rest.len() => Some((naive, Some(secs))),
        _ if rest.is_empty() => Some((naive, None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(raw: &str, p: &TsParser, st: &mut TimeState) -> String {
        let ms = p.parse(raw, st).unwrap_or_else(|e| panic!("{raw}: {e}"));
        DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// The ISO reader's own calendar gives chrono's dates and times, and refuses what chrono
    /// refuses (a 29 February outside leap years, a 31st of a short month, hour 24).
    #[test]
    fn iso_dates_are_chronos() {
        for year in [1, 399, 400, 1600, 1899, 1900, 1969, 1970, 2000, 2007, 2024, 2100, 9999] {
            for month in 0..=13 {
                for day in 0..=32 {
                    let text = format!("{year:04}-{month:02}-{day:02}T23:59:59.999");
                    let chrono = NaiveDate::from_ymd_opt(year, month, day)
                        .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 999))
                        .map(|t| t.and_utc().timestamp_millis());
                    let fresh = parse_iso(text.as_bytes(), &mut IsoMinute::default());
                    assert_eq!(fresh.map(|(ms, _)| ms), chrono, "{text}");
                }
            }
        }
        let last = &mut IsoMinute::default();
        for bad in ["2007-08-14T24:00:00", "2007-08-14T23:60:00", "2007-08-14T23:59:61"] {
            assert_eq!(parse_iso(bad.as_bytes(), last), None, "{bad}");
        }
        let leap = parse_iso(b"2016-12-31T23:59:60Z", last).unwrap();
        assert_eq!(leap, (1_483_228_799_999, Some(0)));
    }

    /// Reading a run of lines with the last minute kept gives what reading each alone gives,
    /// also when the minute's text recurs after others or a line breaks off after it.
    #[test]
    fn the_kept_minute_reads_as_a_fresh_one() {
        let lines = [
            "2007-08-14T00:00:00.408Z",
            "2007-08-14T00:00:59,999+02:00",
            "2007-08-14T00:00",
            "2007-08-14T00:00:",
            "2007-08-14T00:00:61",
            "2007-08-14T00:00:07 UTC",
            "2007-08-14T00:01:00.1",
            "2007-08-14 00:00:00.408",
            "2007-08-14T00:00:00.408Z",
            "2007-02-29T00:00:00Z",
            "2007-02-29T00:00:01Z",
            "2007/08/14t23:59:60.5-0130",
            "2007-08-14T00:00:00.",
        ];
        let last = &mut IsoMinute::default();
        for line in lines {
            let fresh = parse_iso(line.as_bytes(), &mut IsoMinute::default());
            assert_eq!(parse_iso(line.as_bytes(), last), fresh, "{line}");
        }
        assert_eq!(parse_iso(b"2007-08-14T00:00:00.", last), None);
        assert_eq!(parse_iso(b"2007-08-14T00:00", last), Some((1_187_049_600_000, None)));
    }

    #[test]
    fn iso_with_offsets_and_fractions() {
        let p = TsParser::new(TsFormat::Iso, Zone::Utc);
        let st = &mut TimeState::new(2000);
        assert_eq!(utc("2022-08-27T17:22:01.694554+03:00", &p, st), "2022-08-27T14:22:01.694Z");
        assert_eq!(utc("2022-08-27T14:22:01.613Z", &p, st), "2022-08-27T14:22:01.613Z");
        assert_eq!(utc("2025-01-01 00:00:00.123456789", &p, st), "2025-01-01T00:00:00.123Z");
        assert_eq!(utc("2025-01-01 00:00:00.99999999999Z", &p, st), "2025-01-01T00:00:00.999Z");
        assert_eq!(utc("\u{a0}2025-01-01 00:00:00.5\u{b}", &p, st), "2025-01-01T00:00:00.500Z");
        assert_eq!(utc("2012-07-02 10:22:40,672", &p, st), "2012-07-02T10:22:40.672Z");
        assert_eq!(utc("2016-09-28 04:30:30 -0130", &p, st), "2016-09-28T06:00:30.000Z");
        assert!(p.parse("2015-04-24T21:08:10.313913FOO", st).is_err());
    }

    #[test]
    fn epoch_units_are_guessed_from_digits() {
        let p = TsParser::new(TsFormat::Auto, Zone::Utc);
        let st = &mut TimeState::new(2000);
        assert_eq!(utc("1428634687123", &p, st), "2015-04-10T02:58:07.123Z");
        assert_eq!(utc("1534860261221373", &p, st), "2018-08-21T14:04:21.221Z");
        assert_eq!(utc("1117838570", &p, st), "2005-06-03T22:42:50.000Z");
        assert_eq!(utc("1117838570.5", &p, st), "2005-06-03T22:42:50.500Z");
    }

    #[test]
    fn epochs_out_of_range_are_refused_and_times_before_1970_are_kept() {
        let p = TsParser::new(TsFormat::Epoch(Some(EpochUnit::Seconds)), Zone::Utc);
        let st = &mut TimeState::new(2000);
        assert_eq!(p.parse("9223372036854775.999", st), Err("epoch number out of range"));
        assert_eq!(p.parse("99999999999999999", st), Err("epoch number out of range"));
        assert_eq!(utc("-3600", &p, st), "1969-12-31T23:00:00.000Z");
        let auto = TsParser::new(TsFormat::Auto, Zone::Utc);
        assert_eq!(utc("-3600", &auto, st), "1969-12-31T23:00:00.000Z");
        let ms = TsParser::new(TsFormat::Epoch(Some(EpochUnit::Millis)), Zone::Utc);
        assert_eq!(utc("-3600000", &ms, st), "1969-12-31T23:00:00.000Z");
    }

    #[test]
    fn syslog_year_rolls_over_from_december_to_january() {
        let p = TsParser::new(TsFormat::Syslog, Zone::Utc);
        let st = &mut TimeState::new(2006);
        assert_eq!(utc("Dec  3 09:23:38", &p, st), "2006-12-03T09:23:38.000Z");
        assert_eq!(utc("Jan  3 09:47:02", &p, st), "2007-01-03T09:47:02.000Z");
        assert_eq!(utc("Jan  4 00:00:00", &p, st), "2007-01-04T00:00:00.000Z");
    }

    #[test]
    fn repeated_dst_hour_resolves_by_order() {
        let zone: Zone = "America/Los_Angeles".parse().unwrap();
        let p = TsParser::new(TsFormat::Syslog, zone);
        let st = &mut TimeState::new(2013);
        assert_eq!(utc("Nov  3 01:59:14", &p, st), "2013-11-03T08:59:14.000Z");
        assert_eq!(utc("Nov  3 01:24:56", &p, st), "2013-11-03T09:24:56.000Z");
        assert_eq!(utc("Nov  3 02:08:19", &p, st), "2013-11-03T10:08:19.000Z");
    }

    #[test]
    fn a_yearless_log_does_not_begin_after_it_was_last_written() {
        // Written on 3 December, its first line dated 10 December: last year's log.
        assert_eq!(
            year_of_log((2026, 12, 3), Some("Dec 10 06:55:46 LabSZ sshd[1]: x")),
            (2025, true)
        );
        assert_eq!(year_of_log((2026, 12, 3), Some("Dec  3 06:55:46 h sshd[1]: x")), (2026, false));
        assert_eq!(year_of_log((2026, 1, 2), Some("Dec 30 23:59:59 h x")), (2025, true));
        assert_eq!(year_of_log((2026, 12, 3), Some("2026-12-10T06:55:46Z x")), (2026, false));
    }

    #[test]
    fn strftime_without_year_takes_the_source_year() {
        let p = TsParser::new(TsFormat::Strftime("%m-%d %H:%M:%S%.3f".into()), Zone::Utc);
        let st = &mut TimeState::new(2017);
        assert_eq!(utc("03-17 16:13:38.811", &p, st), "2017-03-17T16:13:38.811Z");
    }

    #[test]
    fn zones_parse_and_reject_typos() {
        assert_eq!("+03:00".parse::<Zone>().unwrap().to_string(), "+03:00");
        assert!("Europe/Berln".parse::<Zone>().unwrap_err().contains("IANA"));
    }
}
