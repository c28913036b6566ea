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
    // A command that talks to an engine runs on the one chosen now, pinned for its children;
    // the others resolve none (a missing context never stops `tags` or `lint`).
    let on_engine = || Workspace::on_engine(&cli.config, cli.context.as_deref());
    let plain = || Workspace::load(&cli.config);
    // `build` and `doctor` name a chosen engine in their own output; the others in one note,
    // so a dry run says where its commands would run.
    let engine = || -> Result<Workspace> {
        let ws = on_engine()?;
        if let Some(e) = ws.engine.as_ref().filter(|e| e.context.is_some()) {
            eprintln!("note: every docker command runs on {}", e.describe());
        }
        Ok(ws)
    };
    match &cli.command {
        Command::Engine(args) => commands::engine::run(args).map(|()| Outcome::Clean),
        Command::Test { args } => commands::test::run(&plain()?, args),
        Command::Build(args) => commands::build::run(&on_engine()?, args),
        Command::Tags(args) => commands::tags::run(&plain()?, args),
        Command::Verify(args) => commands::verify::run(&engine()?, args),
        Command::Push(args) => commands::push::run(&engine()?, args),
        Command::Sign(args) => commands::sign::run(&engine()?, args),
        Command::Promote(args) => commands::promote::run(&engine()?, args),
        Command::Scan(args) => commands::scan::run(&engine()?, args),
        Command::LintDockerfiles(args) => commands::lint_dockerfiles::run(&plain()?, args),
        Command::Lint(args) => commands::lint::run(&plain()?, args),
        Command::E2e(args) => commands::e2e::run(&engine()?, args),
        Command::Ci(args) => commands::ci::run(&engine()?, args),
        Command::Doctor(args) => commands::doctor::run(&on_engine()?, args),
        Command::Bench(args) => commands::bench::run(&engine()?, args),
        Command::NewService(args) => commands::new_service::run(&plain()?, args),
    }
}
