use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use npair::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    npair::host::install_panic_hook();
    let result = match cli.command {
        Command::Share(args) => args
            .into_config()
            .inspect(|_| {
                // A crowd of guests needs more descriptors than a default soft limit allows.
                npair::raise_open_files();
            })
            .and_then(|config| tokio::runtime::Runtime::new()?.block_on(npair::share::run(config))),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "npair", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => npair::cli::man_page(&mut std::io::stdout()).map_err(Into::into),
        other => other.into_request().and_then(|r| match r {
            Some((session, request, json)) => {
                npair::control::run_client(session.as_deref(), request, json)
            }
            None => Ok(()),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("npair: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
