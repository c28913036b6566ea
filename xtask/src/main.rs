//! `cargo xtask`: build, scan, verify and push this workspace's container images.
//!
//! This file only parses flags and dispatches; each subcommand lives in its own module.

mod adapters;
mod cli;
mod commands;
mod domain;
mod render;
#[cfg(test)]
mod tidy;

use anyhow::Result;
use clap::Parser;

use adapters::exec::{self, ExitCode};
use adapters::workspace::Workspace;
use cli::{Cli, Command};
use domain::outcome::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli);
    adapters::interrupt::settle(!matches!(result, Ok(Outcome::Clean)));
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(failed @ Outcome::Failed(_)) => {
            if let Outcome::Failed(why) = &failed {
                eprintln!("error: {why}");
            }
            ExitCode::from(failed.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exec::exit_code(&e))
        }
    }
}

fn run(cli: Cli) -> Result<Outcome> {
    match &cli.command {
        Command::Engine(args) => commands::engine::run(args).map(|()| Outcome::Clean),
        Command::Test { args } => {
            commands::test::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Build(args) => {
            commands::build::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Tags(args) => {
            commands::tags::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Verify(args) => {
            commands::verify::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Push(args) => {
            commands::push::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Sign(args) => {
            commands::sign::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Promote(args) => {
            commands::promote::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Scan(args) => {
            commands::scan::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::LintDockerfiles(args) => commands::lint_dockerfiles::run(
            &Workspace::load(&cli.config, cli.context.as_deref())?,
            args,
        ),
        Command::Lint(args) => {
            commands::lint::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::E2e(args) => {
            commands::e2e::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Ci(args) => {
            commands::ci::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Doctor(args) => {
            commands::doctor::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::Bench(args) => {
            commands::bench::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
        Command::NewService(args) => {
            commands::new_service::run(&Workspace::load(&cli.config, cli.context.as_deref())?, args)
        }
    }
}
