//! `rootline formats`: list the built-in formats and presets.

use std::process::ExitCode;

use crate::ingest::Registry;

/// List the log formats and presets rootline knows.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  rootline formats")]
pub struct FormatsArgs {}

pub fn run(_args: FormatsArgs) -> anyhow::Result<ExitCode> {
    let reg = Registry::builtin();
    println!("formats (--format; detected in this order when not given):");
    for f in &reg.formats.list {
        println!("  {:<14} {}", f.def.name, f.def.title);
    }
    println!("\npresets (--preset; turn lines into role rows):");
    for p in reg.presets() {
        let also = if p.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also {})", p.aliases.join(", "))
        };
        println!(
            "  {:<16} {:<7} {}{also} [{}]",
            p.name,
            p.role.as_str(),
            p.title,
            p.formats.join(", ")
        );
    }
    println!("\nyour own: --preset FILE.toml / --format FILE.toml (docs/FORMATS.md)");
    Ok(ExitCode::SUCCESS)
}
