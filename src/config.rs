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
    /// A name for the incident, shown in reports.
    pub title: Option<String>,
    #[serde(default)]
    pub source: Vec<SourceConfig>,
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
        let cfg: IncidentConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe_toml_error(&e, text),
        })?;
        if cfg.source.is_empty() {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message: "no [[source]] entries; add one with at least `path = \"...\"`".into(),
            });
        }
        Ok(cfg)
    }

    /// Expands globs (relative to `base`, the config's folder) into one spec per file, sorted.
    pub fn specs(&self, base: &Path) -> Result<Vec<SourceSpec>, ConfigError> {
        let mut out = Vec::new();
        for (i, s) in self.source.iter().enumerate() {
            let key = |k: &str| format!("source[{i}].{k}");
            let tz =
                s.tz.as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", key("tz"))))?;
            let pattern = base.join(&s.path);
            let pattern_text = pattern.to_string_lossy();
            let mut paths: Vec<PathBuf> = glob::glob(&pattern_text)
                .map_err(|e| {
                    ConfigError::Invalid(format!("{}: bad glob \"{}\": {e}", key("path"), s.path))
                })?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            if paths.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "{}: no file matches \"{}\"",
                    key("path"),
                    pattern.display()
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
    fn a_glob_that_matches_nothing_is_an_error() {
        let cfg = IncidentConfig::parse("[[source]]\npath = \"nope-*.log\"\n", Path::new("i.toml"))
            .unwrap();
        let err = cfg.specs(Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("source[0].path") && err.contains("no file matches"), "{err}");
    }
}
