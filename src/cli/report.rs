//! `rootline report`: the main job. Logs in; report.html, timeline.png/.svg, summary.md and
//! findings.json out.

use std::process::ExitCode;

use anyhow::Context;

use super::analyze::{AnalyzeArgs, analysis};

/// Tell the story of an outage from its logs: an HTML report, a timeline chart, a Markdown
/// postmortem and JSON findings.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline report --config sample-data/skype-2007/incident.toml --out reports/skype-2007
  rootline report --config sample-data/skype-2007/incident.toml --whatif --out report/
  rootline report /var/log/auth.log --year 2024 --title \"sshd brute force\" --out report/
  rootline report --tables tables/ --out report/")]
pub struct ReportArgs {
    #[command(flatten)]
    pub analyze: AnalyzeArgs,
    /// The report's title (default: the config's title, else the file's name, or the first's
    /// and how many more).
    #[arg(long)]
    pub title: Option<String>,
    /// Also run `rootline whatif` (every policy) and tell what would have helped, with its
    /// numbers in the action items; writes DIR/whatif.json, whatif.png and whatif.svg too.
    /// Takes seconds per policy.
    #[arg(long)]
    pub whatif: bool,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let a = &args.analyze;
    let (incident, analysis) = analysis(a)?;
    let sources = &a.data.sources;
    let title = args
        .title
        .clone()
        .or(incident.title.clone())
        .or_else(|| sources.config.as_ref().map(|c| c.display().to_string()))
        .or_else(|| match sources.files.as_slice() {
            [] => None,
            [one] => Some(one.display().to_string()),
            [first, rest @ ..] => Some(format!(
                "{} and {} more",
                first.file_name().unwrap_or(first.as_os_str()).to_string_lossy(),
                crate::units::plural(rest.len() as u64, "file")
            )),
        })
        .or_else(|| a.data.tables.as_ref().map(|t| t.display().to_string()))
        .unwrap_or_else(|| "rootline report".to_string());
    let helped = if args.whatif {
        let o = crate::whatif::WhatifOptions {
            policies: crate::simulate::Policy::ALL.to_vec(),
            knobs: Default::default(),
            seed: 1,
            replays: crate::whatif::REPLAYS,
            work: std::path::PathBuf::new(),
        };
        let (w, _) = super::whatif::run_into(&incident, &analysis, o, &a.out, a.quiet)?;
        Some(crate::whatif::story_lines(&w))
    } else {
        None
    };
    let files =
        crate::report::write_with(&analysis.findings, &analysis.series, &title, &a.out, helped)
            .with_context(|| format!("cannot write the report to {}", a.out.display()))?;
    crate::alloc::free_aside((incident, analysis));
    if !a.quiet {
        for f in &files {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
