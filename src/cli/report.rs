//! `rootline report`: the main job. Logs in; report.html, timeline.png/.svg, summary.md and
//! findings.json out.

use std::process::ExitCode;

use anyhow::Context;

use super::analyze::{AnalyzeArgs, findings};
use crate::config::IncidentConfig;

/// Tell the story of an outage from its logs: an HTML report, a timeline chart, a Markdown
/// postmortem and JSON findings.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline report --config sample-data/skype-2007/incident.toml --out reports/skype-2007
  rootline report /var/log/auth.log --year 2024 --title \"sshd brute force\" --out report/
  rootline report --tables tables/ --out report/")]
pub struct ReportArgs {
    #[command(flatten)]
    pub analyze: AnalyzeArgs,
    /// The report's title (default: the config's title, else the first file's name).
    #[arg(long)]
    pub title: Option<String>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let a = &args.analyze;
    let title = match (&args.title, &a.sources.config, a.sources.files.first()) {
        (Some(t), _, _) => t.clone(),
        (None, Some(c), _) => {
            IncidentConfig::load(c)?.title.unwrap_or_else(|| c.display().to_string())
        }
        (None, None, Some(f)) => f.display().to_string(),
        _ => "rootline report".to_string(),
    };
    let (findings, series) = findings(a)?;
    let files = crate::report::write(&findings, &series, &title, &a.out)
        .with_context(|| format!("cannot write the report to {}", a.out.display()))?;
    if !a.quiet {
        for f in &files {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
