use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rootline::cli::Cli::parse();
    match rootline::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
