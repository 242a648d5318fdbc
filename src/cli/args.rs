//! Argument groups shared by several commands, flattened into each: where the data is
//! ([`DataArgs`]: a config, files with their settings, or an ingest directory) and which time
//! range to read ([`RangeArgs`]). Each maps onto the library's types in one place.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::ingest::SourceSpec;
use crate::pipeline::{Columns, Input, LoadOptions};
use crate::schema::Role;
use crate::units::parse_instant;

/// Where the logs are and how to read them: a config, or FILEs with flags.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Log files (plain, gzip or zstd); use --config for many sources with different settings.
    pub files: Vec<PathBuf>,
    /// An incident.toml with [[source]] entries.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Role of the FILEs: login, node, change or metric.
    #[arg(long)]
    pub role: Option<Role>,
    /// Format of the FILEs (see `rootline formats`); auto detects it from the first lines.
    #[arg(long, default_value = "auto")]
    pub format: Option<String>,
    /// Preset for the FILEs (see `rootline formats`); auto picks one that fits, if any.
    #[arg(long, default_value = "auto")]
    pub preset: Option<String>,
    /// Zone of local timestamps: UTC, an offset (+02:00) or an IANA name (Europe/Berlin).
    #[arg(long)]
    pub tz: Option<String>,
    /// Year of yearless timestamps (classic syslog); rolls over on Dec -> Jan.
    #[arg(long)]
    pub year: Option<i32>,
    /// A regex with named groups (one named ts) for a layout no format knows.
    #[arg(long)]
    pub pattern: Option<String>,
    /// How timestamps are written: iso, syslog, epoch, epoch_ms, or a strftime pattern.
    #[arg(long)]
    pub ts_format: Option<String>,
    /// Map a raw field to a table column, RAW=COLUMN (repeatable).
    #[arg(long = "field", value_name = "RAW=COLUMN")]
    pub fields: Vec<String>,
}

impl SourceArgs {
    /// The sources: a config's, or one per FILE with the flags' settings.
    pub fn input(&self) -> anyhow::Result<Input> {
        if let Some(cfg) = &self.config {
            if !self.files.is_empty() {
                bail!("give either --config or FILEs, not both");
            }
            return Ok(Input::Config(cfg.clone()));
        }
        if self.files.is_empty() {
            bail!("no input: give FILEs or --config incident.toml (see --help)");
        }
        Ok(Input::Specs(self.specs()?))
    }

    /// One source per FILE, with the flags' settings.
    pub fn specs(&self) -> anyhow::Result<Vec<SourceSpec>> {
        let tz = self.tz.as_deref().map(str::parse).transpose().map_err(anyhow::Error::msg)?;
        let mut fields = BTreeMap::new();
        for f in &self.fields {
            let (raw, col) = f.split_once('=').with_context(|| {
                format!("--field \"{f}\" should be RAW=COLUMN, e.g. username=user")
            })?;
            fields.insert(raw.to_string(), col.to_string());
        }
        let spec = SourceSpec {
            role: self.role,
            format: self.format.clone(),
            preset: self.preset.clone(),
            tz,
            year: self.year,
            pattern: self.pattern.clone(),
            ts_format: self.ts_format.clone(),
            fields,
            ..SourceSpec::default()
        };
        Ok(self.files.iter().map(|p| SourceSpec { path: p.clone(), ..spec.clone() }).collect())
    }
}

/// The data of an incident: logs (a config or FILEs) or the tables `rootline ingest` wrote.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Read the tables `rootline ingest` wrote instead of logs.
    #[arg(long, conflicts_with_all = ["files", "config"])]
    pub tables: Option<PathBuf>,
}

impl DataArgs {
    pub fn input(&self) -> anyhow::Result<Input> {
        match &self.tables {
            Some(dir) => Ok(Input::Tables(dir.clone())),
            None if self.sources.config.is_none() && self.sources.files.is_empty() => {
                bail!("no input: give FILEs, --config incident.toml or --tables DIR (see --help)")
            }
            None => self.sources.input(),
        }
    }
}

/// Which part of the data to read.
#[derive(Debug, Clone, clap::Args)]
pub struct RangeArgs {
    /// Analyze as of this time (RFC 3339 or a date): later rows are left out.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Leave out rows before this time (RFC 3339, or a date meaning its midnight UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Leave out rows from this time on (RFC 3339, or a date meaning its midnight UTC).
    #[arg(long)]
    pub until: Option<String>,
}

impl RangeArgs {
    pub fn load_options(&self, columns: Columns) -> anyhow::Result<LoadOptions> {
        let at = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
            v.as_deref().map(parse_instant).transpose().map_err(|e| anyhow::anyhow!("--{flag} {e}"))
        };
        let since = at("since", &self.since)?;
        let until = at("until", &self.until)?;
        // --as-of keeps the rows at that instant too.
        let as_of = at("as-of", &self.as_of)?.map(|t| t + 1);
        let until = match (until, as_of) {
            (Some(u), Some(a)) => Some(u.min(a)),
            (u, a) => u.or(a),
        };
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            bail!("--since must come before --until (and --as-of)");
        }
        Ok(LoadOptions::default().with_columns(columns).with_range(since, until))
    }
}

/// `30s`, `1m`, `5m`, `1h` -> milliseconds, naming the flag when it is wrong.
pub fn duration(flag: &str, s: &str) -> anyhow::Result<i64> {
    crate::units::parse_duration(s).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}

/// The data of an incident for `query`, whose `--format` names its output's: a config, FILEs
/// read with detected settings, or an ingest directory.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryDataArgs {
    /// Log files (plain, gzip or zstd), their format, role and preset detected.
    pub files: Vec<PathBuf>,
    /// An incident.toml with [[source]] entries.
    #[arg(long, short, conflicts_with = "files")]
    pub config: Option<PathBuf>,
    /// Read the tables `rootline ingest` wrote instead of logs.
    #[arg(long, conflicts_with_all = ["files", "config"])]
    pub tables: Option<PathBuf>,
}

impl QueryDataArgs {
    pub fn input(&self) -> anyhow::Result<Input> {
        let data = DataArgs {
            sources: SourceArgs {
                files: self.files.clone(),
                config: self.config.clone(),
                role: None,
                format: None,
                preset: None,
                tz: None,
                year: None,
                pattern: None,
                ts_format: None,
                fields: vec![],
            },
            tables: self.tables.clone(),
        };
        data.input()
    }
}

/// The policies' knobs on the command line (`simulate --policy`, `whatif`).
#[derive(Debug, Clone, clap::Args)]
pub struct KnobArgs {
    /// backoff-jitter: the longest wait between retries, in seconds.
    #[arg(long, default_value_t = 1800.0, value_name = "SECONDS")]
    pub backoff_cap: f64,
    /// retry-budget: retries a client may make in an hour.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub retry_budget: u32,
    /// stagger-rollout: the hours the installs are spread over.
    #[arg(long, default_value_t = 24.0, value_name = "HOURS")]
    pub stagger_hours: f64,
    /// shield-capacity: how long a supernode's PC puts its restart off.
    #[arg(long, default_value_t = 48.0, value_name = "HOURS")]
    pub shield_hours: f64,
}

impl KnobArgs {
    /// The knobs, each checked; the error names the flag.
    pub fn knobs(&self) -> anyhow::Result<crate::simulate::PolicyKnobs> {
        for (flag, v) in [
            ("--backoff-cap", self.backoff_cap),
            ("--stagger-hours", self.stagger_hours),
            ("--shield-hours", self.shield_hours),
        ] {
            anyhow::ensure!(v.is_finite() && v > 0.0, "{flag} {v}: give a number above 0");
        }
        Ok(crate::simulate::PolicyKnobs {
            backoff_cap_s: self.backoff_cap,
            retry_budget_per_h: self.retry_budget,
            stagger_hours: self.stagger_hours,
            shield_hours: self.shield_hours,
        })
    }
}
