use std::process::ExitCode;

use clap::Parser;
use npair::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    npair::host::install_panic_hook();
    let result = match cli.command {
        Command::Share(args) => args
            .into_config()
            .and_then(|config| tokio::runtime::Runtime::new()?.block_on(npair::share::run(config))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("npair: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
