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

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ConfigError;
use crate::ingest::SourceSpec;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IncidentConfig {
    /// Where the config was read from (not a key of the file).
    #[serde(skip)]
    pub path: PathBuf,
    /// A name for the incident, shown in reports.
    pub title: Option<String>,
    #[serde(default)]
    pub source: Vec<SourceSpec>,
    /// `[check]` as written; read it as [`IncidentConfig::check`], typed and checked.
    #[serde(rename = "check")]
    check_table: Option<CheckTable>,
    /// Settings of the nightly check, checked when the config was parsed.
    #[serde(skip)]
    pub check: CheckSettings,
}

/// `[check]` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CheckTable {
    window: Option<String>,
    state: Option<String>,
    max_rejected: Option<f64>,
    min_history: Option<String>,
    bucket: Option<String>,
}

/// `[check]`: defaults for `rootline check` (see [`crate::check::CheckOptions`]); the command
/// line wins over each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckSettings {
    pub window_ms: Option<i64>,
    /// Relative to the config's folder when written relative.
    pub state: Option<PathBuf>,
    pub max_rejected: Option<f64>,
    pub min_history_ms: Option<i64>,
    pub bucket_ms: Option<i64>,
}

/// A share of lines, 0.0 to 1.0 (`max-rejected`), or why it is not one.
pub fn check_share(r: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("{r} is not a share; use 0.0 to 1.0, e.g. 0.05"))
    }
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
        if let Some(c) = &cfg.check_table {
            let bad = |key: &str, message: String| ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!("check.{key}: {message}"),
            };
            let duration = |key: &str, v: &Option<String>| {
                v.as_deref().map(crate::units::parse_duration).transpose().map_err(|m| bad(key, m))
            };
            let base = path.parent().unwrap_or(Path::new(""));
            cfg.check = CheckSettings {
                window_ms: duration("window", &c.window)?,
                state: c.state.as_ref().map(|s| base.join(s)),
                max_rejected: c
                    .max_rejected
                    .map(check_share)
                    .transpose()
                    .map_err(|m| bad("max-rejected", m))?,
                min_history_ms: duration("min-history", &c.min_history)?,
                bucket_ms: duration("bucket", &c.bucket)?,
            };
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
            let path_text = s.path.to_string_lossy();
            let literal = base.join(&s.path);
            let mut paths: Vec<PathBuf> = if literal.is_file() {
                vec![literal.clone()]
            } else {
                let base = glob::Pattern::escape(&base.to_string_lossy());
                let pattern = if s.path.is_absolute() || base.is_empty() {
                    path_text.to_string()
                } else {
                    format!("{base}/{path_text}")
                };
                glob::glob(&pattern)
                    .map_err(|e| {
                        ConfigError::Invalid(format!(
                            "{}: bad glob \"{path_text}\": {e}",
                            key("path")
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
            // A user's own preset or format file is relative to the config, as paths are.
            let near = |v: &Option<String>| {
                v.as_ref().map(|name| match crate::ingest::plan::user_file(name) {
                    Some(p) if p.is_relative() => base.join(p).to_string_lossy().into_owned(),
                    _ => name.clone(),
                })
            };
            let (preset, format) = (near(&s.preset), near(&s.format));
            for path in paths {
                out.push(SourceSpec {
                    path,
                    origin: Some(origin.clone()),
                    preset: preset.clone(),
                    format: format.clone(),
                    ..s.clone()
                });
            }
        }
        Ok(out)
    }
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
    }

    #[test]
    fn a_glob_that_matches_nothing_is_an_error() {
        let cfg = IncidentConfig::parse("[[source]]\npath = \"nope-*.log\"\n", Path::new("i.toml"))
            .unwrap();
        let err = cfg.specs(Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("source[0].path") && err.contains("no file matches"), "{err}");
    }
}
