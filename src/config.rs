//! `incident.toml`: which files to read and how, as `[[source]]` entries.
//!
//! ```toml
//! title = "login flood, 16 Aug 2007"
//! [[source]]
//! path = "logs/login-*.jsonl.gz"   # globs allowed; relative to this file
//! role = "login"                   # login | node | change | metric
//! format = "jsonl"                 # see `rootline formats`; detected when absent
//! preset = "sshd"                  # rules that turn lines into rows; detected when absent
//! tz = "Europe/Luxembourg"         # zone of local timestamps: UTC, +02:00 or an IANA name
//! year = 2007                      # for yearless timestamps (classic syslog)
//! pattern = '^(?P<ts>\S+) (?P<user>\S+)'  # a regex with named groups, for other layouts
//! ts-format = "%d/%b/%Y:%H:%M:%S %z"
//! fields = { username = "user" }   # raw field name -> table column
//!
//! [check]                          # settings of `rootline check`; the command line wins
//! window = "24h"                   # the span judged each run
//! state = "state/"                 # relative to this file
//! max-rejected = 0.05              # more rejected lines than this share -> UNKNOWN
//! min-history = "6h"               # less history before the window -> UNKNOWN
//! bucket = "1m"
//! ```
//! Unknown keys and values are errors that name the valid ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ConfigError;
use crate::ingest::SourceSpec;
use crate::schema::Role;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IncidentConfig {
    /// Where the config was read from (not a key of the file).
    #[serde(skip)]
    pub path: PathBuf,
    /// A name for the incident, shown in reports.
    pub title: Option<String>,
    #[serde(default)]
    pub source: Vec<SourceConfig>,
    /// Settings of the nightly check.
    pub check: Option<CheckConfig>,
}

/// `[check]`: defaults for `rootline check` (see [`crate::check::CheckOptions`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckConfig {
    pub window: Option<String>,
    pub state: Option<String>,
    pub max_rejected: Option<f64>,
    pub min_history: Option<String>,
    pub bucket: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceConfig {
    pub path: String,
    pub role: Option<Role>,
    pub format: Option<String>,
    pub preset: Option<String>,
    pub tz: Option<String>,
    pub year: Option<i32>,
    pub pattern: Option<String>,
    pub ts_format: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl IncidentConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<IncidentConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<IncidentConfig, ConfigError> {
        let mut cfg: IncidentConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe_toml_error(&e, text),
        })?;
        cfg.path = path.to_path_buf();
        if let Some(c) = &cfg.check {
            let bad = |key: &str, message: String| ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!("check.{key}: {message}"),
            };
            for (key, v) in
                [("window", &c.window), ("min-history", &c.min_history), ("bucket", &c.bucket)]
            {
                if let Some(v) = v {
                    parse_duration(v).map_err(|m| bad(key, m))?;
                }
            }
            if let Some(r) = c.max_rejected
                && !(0.0..=1.0).contains(&r)
            {
                return Err(bad(
                    "max-rejected",
                    format!("{r} is not a share; use 0.0 to 1.0, e.g. 0.05"),
                ));
            }
        }
        if cfg.source.is_empty() {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message: "no [[source]] entries; add one with at least `path = \"...\"`".into(),
            });
        }
        Ok(cfg)
    }

    /// Expands globs (relative to `base`, the config's folder) into one spec per file, sorted.
    /// A path that names an existing file is that file, whatever characters it holds
    /// (`app[1].jsonl`); the config's folder is never read as a pattern.
    pub fn specs(&self, base: &Path) -> Result<Vec<SourceSpec>, ConfigError> {
        let mut out = Vec::new();
        for (i, s) in self.source.iter().enumerate() {
            let origin = format!("{}: source[{i}]", self.path.display());
            let key = |k: &str| format!("{origin}.{k}");
            let tz =
                s.tz.as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", key("tz"))))?;
            let literal = base.join(&s.path);
            let mut paths: Vec<PathBuf> = if literal.is_file() {
                vec![literal.clone()]
            } else {
                let base = glob::Pattern::escape(&base.to_string_lossy());
                let pattern = if Path::new(&s.path).is_absolute() || base.is_empty() {
                    s.path.clone()
                } else {
                    format!("{base}/{}", s.path)
                };
                glob::glob(&pattern)
                    .map_err(|e| {
                        ConfigError::Invalid(format!(
                            "{}: bad glob \"{}\": {e}",
                            key("path"),
                            s.path
                        ))
                    })?
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect()
            };
            paths.sort();
            if paths.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "{}: no file matches \"{}\"",
                    key("path"),
                    literal.display()
                )));
            }
            for path in paths {
                out.push(SourceSpec {
                    path,
                    role: s.role,
                    format: s.format.clone(),
                    preset: s.preset.clone(),
                    tz,
                    year: s.year,
                    pattern: s.pattern.clone(),
                    ts_format: s.ts_format.clone(),
                    fields: s.fields.clone(),
                    origin: Some(origin.clone()),
                });
            }
        }
        Ok(out)
    }
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

/// toml's message plus the line it points at.
fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message().trim())
        }
        None => e.message().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_in_a_key_names_the_valid_keys() {
        let err = IncidentConfig::parse(
            "[[source]]\npath = \"a\"\nrol = \"login\"\n",
            Path::new("i.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("`rol`") && err.contains("`role`"), "{err}");
    }

    #[test]
    fn a_bad_role_names_the_valid_roles() {
        let err = IncidentConfig::parse(
            "[[source]]\npath = \"a\"\nrole = \"logins\"\n",
            Path::new("i.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("logins") && err.contains("login"), "{err}");
    }

    #[test]
    fn a_bad_check_setting_names_its_key() {
        let err = IncidentConfig::parse(
            "[[source]]\npath = \"a\"\n[check]\nwindow = \"1 day\"\n",
            Path::new("n.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("check.window") && err.contains("24h"), "{err}");
        let err = IncidentConfig::parse(
            "[[source]]\npath = \"a\"\n[check]\nmax-rejected = 5\n",
            Path::new("n.toml"),
        );
        assert!(err.is_err(), "a share of 5 is refused");
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("2d"), Ok(172_800_000));
    }

    #[test]
    fn a_glob_that_matches_nothing_is_an_error() {
        let cfg = IncidentConfig::parse("[[source]]\npath = \"nope-*.log\"\n", Path::new("i.toml"))
            .unwrap();
        let err = cfg.specs(Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("source[0].path") && err.contains("no file matches"), "{err}");
    }
}
