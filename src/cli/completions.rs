//! `rootline completions SHELL` and `rootline man`: shell completions and manual pages, made
//! by clap's own generators from the same definitions as `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

/// Print shell completions for bash, zsh, fish or powershell.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline completions bash > ~/.local/share/bash-completion/completions/rootline
  rootline completions zsh > ~/.zfunc/_rootline      # with fpath+=(~/.zfunc) in ~/.zshrc
  rootline completions fish > ~/.config/fish/completions/rootline.fish")]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "rootline", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Print the manual page (roff), or write one per command into a directory.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline man | man -l -
  rootline man --out ~/.local/share/man/man1     # rootline.1, rootline-report.1, ...")]
pub struct ManArgs {
    /// Write rootline.1 and rootline-<command>.1 into this directory instead of printing.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = super::Cli::command();
    let Some(dir) = args.out else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(cmd, &dir)
        .with_context(|| format!("cannot write the manual pages to {}", dir.display()))?;
    Ok(ExitCode::SUCCESS)
}
