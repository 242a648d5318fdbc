//! The command line: argument types (clap) and the wiring from them to library calls.
//! No logic lives here that a test could not reach through the library.

mod analyze;
mod args;
mod check;
mod completions;
mod eval;
mod formats;
mod ingest;
mod query;
mod report;
mod simulate;
mod whatif;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Turn the logs exported after an outage into the story of the outage.
#[derive(Debug, Parser)]
#[command(
    name = "rootline",
    version,
    about,
    after_help = "\
Examples:
  rootline report --config sample-data/skype-2007/incident.toml --out reports/skype-2007
  rootline ingest --config incident.toml --out tables/
  rootline ingest /var/log/auth.log --year 2024 --out tables/
  rootline query --config sample-data/skype-2007/incident.toml restart_wave_by_region
  rootline check --config nightly.toml --state /var/lib/rootline   # exit 0/1/2/3
  rootline whatif --config sample-data/skype-2007/incident.toml --out whatif/
  rootline formats"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Analyze(Box<analyze::AnalyzeArgs>),
    Check(Box<check::CheckArgs>),
    Completions(completions::CompletionsArgs),
    Eval(eval::EvalArgs),
    Ingest(Box<ingest::IngestArgs>),
    Formats(formats::FormatsArgs),
    Man(completions::ManArgs),
    Query(Box<query::QueryArgs>),
    Report(Box<report::ReportArgs>),
    Simulate(Box<simulate::SimulateArgs>),
    Whatif(Box<whatif::WhatifArgs>),
}

/// Parses the command line. A usage error of `rootline check` is UNKNOWN (exit 3, with a
/// status line), as monitoring systems expect; other commands exit 2 as clap does.
pub fn parse() -> Result<Cli, ExitCode> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => Ok(cli),
        Err(e) => {
            use clap::error::ErrorKind;
            let is_check = args.get(1).is_some_and(|a| a == "check");
            let informational =
                matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            if is_check && !informational {
                // The whole message up to its usage lines, on one line: "... not provided:
                // --config <CONFIG>" must name what is missing.
                let text = e.to_string();
                let what = text.split("\n\n").next().unwrap_or("").trim_start_matches("error: ");
                let what = what.split_whitespace().collect::<Vec<_>>().join(" ");
                println!("ROOTLINE UNKNOWN - usage: {what} (see rootline check --help)");
                let _ = e.print();
                return Err(ExitCode::from(3));
            }
            e.exit()
        }
    }
}

/// Runs a parsed command line; the exit code says how it went (0 ok, 2 error; `check` has its
/// own codes).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if matches!(
        cli.command,
        Command::Analyze(_)
            | Command::Check(_)
            | Command::Query(_)
            | Command::Report(_)
            | Command::Whatif(_)
    ) {
        crate::alloc::return_freed_memory();
    }
    let code = match cli.command {
        Command::Analyze(args) => analyze::run(*args),
        Command::Check(args) => check::run(*args),
        Command::Completions(args) => completions::completions(args),
        Command::Eval(args) => eval::run(args),
        Command::Ingest(args) => ingest::run(*args),
        Command::Formats(args) => formats::run(args),
        Command::Man(args) => completions::man(args),
        Command::Query(args) => query::run(*args),
        Command::Report(args) => report::run(*args),
        Command::Simulate(args) => simulate::run(*args),
        Command::Whatif(args) => whatif::run(*args),
    };
    if std::env::var_os("ROOTLINE_PEAK_RSS").is_some()
        && let Some(kib) = peak_rss_kib()
    {
        // For memory tests and benchmarks: the process's own high-water mark.
        eprintln!("rootline: peak RSS {kib} KiB");
    }
    code
}

/// The process's peak resident memory (VmHWM), where the system says it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
