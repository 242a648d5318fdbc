//! Error types of the library, one enum per domain, and the "did you mean" helper every
//! message about a bad name uses.
//!
//! Library code returns these; the CLI wraps them with `anyhow` context and `main` prints
//! `error: {err:#}`.

use std::io;
use std::path::PathBuf;

use polars::prelude::PolarsError;

/// What can go wrong while reading sources. Bad *lines* are never errors: they are rejects.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("failed to read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {message}", .path.display())]
    Source { path: PathBuf, message: String },
    #[error("{}: {} rejected and --strict is set; see rejects.jsonl", .path.display(), crate::units::plural(*.count, "line"))]
    Strict { path: PathBuf, count: u64 },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

impl IngestError {
    /// The error with the source it happened in named, where it does not say so itself.
    pub fn in_source(self, path: &std::path::Path) -> IngestError {
        match self {
            IngestError::Polars(e) => {
                IngestError::Source { path: path.to_path_buf(), message: e.to_string() }
            }
            IngestError::Config(e) => {
                IngestError::Source { path: path.to_path_buf(), message: e.to_string() }
            }
            other => other,
        }
    }
}

/// A bad config file, format definition or command-line choice, named precisely.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    /// No format reads the source's first lines (its lines are then all rejected).
    #[error("{0}")]
    NoFormat(String),
}

/// `unknown role "logn"; did you mean "login"? (valid: login, node, change, metric)`
pub fn unknown_value<I, S>(what: &str, got: &str, valid: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let valid: Vec<String> = valid.into_iter().map(|s| s.as_ref().to_string()).collect();
    let best = valid
        .iter()
        .map(|v| (strsim::jaro_winkler(v, got), v))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let hint = match best {
        Some((_, v)) => format!("; did you mean \"{v}\"?"),
        None => String::new(),
    };
    format!("unknown {what} \"{got}\"{hint} (valid: {})", valid.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_value_suggests_the_closest_name() {
        let msg = unknown_value("role", "logn", ["login", "node"]);
        assert_eq!(msg, "unknown role \"logn\"; did you mean \"login\"? (valid: login, node)");
    }

    #[test]
    fn unknown_value_gives_no_hint_for_far_names() {
        let msg = unknown_value("role", "zzz", ["login", "node"]);
        assert_eq!(msg, "unknown role \"zzz\" (valid: login, node)");
    }
}
