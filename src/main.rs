use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match rootline::cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match rootline::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
