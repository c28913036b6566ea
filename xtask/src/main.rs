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

use adapters::exec::{self, ExitCode, Stdin};
use adapters::workspace::Workspace;
use cli::{Cli, Command, EngineAction};
use domain::outcome::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
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
        Command::Engine { action } => engine(*action).map(|()| Outcome::Clean),
        Command::Test { args } => test(args),
        Command::Build(args) => commands::build::run(&Workspace::load(&cli.config)?, args),
        Command::Tags(args) => commands::tags::run(&Workspace::load(&cli.config)?, args),
        Command::Verify(args) => commands::verify::run(&Workspace::load(&cli.config)?, args),
        Command::Push(args) => commands::push::run(&Workspace::load(&cli.config)?, args),
        Command::Sign(args) => commands::sign::run(&Workspace::load(&cli.config)?, args),
        Command::Promote(args) => commands::promote::run(&Workspace::load(&cli.config)?, args),
        Command::Scan(args) => commands::scan::run(&Workspace::load(&cli.config)?, args),
        Command::LintDockerfiles(args) => {
            commands::lint_dockerfiles::run(&Workspace::load(&cli.config)?, args)
        }
        Command::Lint(args) => commands::lint::run(&Workspace::load(&cli.config)?, args),
        Command::E2e(args) => commands::e2e::run(&Workspace::load(&cli.config)?, args),
        Command::Ci(args) => commands::ci::run(&Workspace::load(&cli.config)?, args),
        Command::Doctor(args) => commands::doctor::run(&Workspace::load(&cli.config)?, args),
        Command::Bench(args) => commands::bench::run(&Workspace::load(&cli.config)?, args),
    }
}

fn engine(action: EngineAction) -> Result<()> {
    let action = match action {
        EngineAction::Up => "up",
        EngineAction::Down => "down",
        EngineAction::Status => "status",
    };
    let script = adapters::workspace::repo_root().join("xtask/engine/engine.sh");
    let cmd = exec::Command::new("bash")
        .arg(script.to_string_lossy())
        .arg(action)
        .stdin(Stdin::Inherit);
    if !exec::status(&cmd)? {
        anyhow::bail!("engine {action} failed (see the messages above)");
    }
    Ok(())
}

fn test(args: &[String]) -> Result<Outcome> {
    engine(EngineAction::Up)?;
    let cmd = exec::Command::new(env!("CARGO"))
        .args(["test", "--workspace", "--locked"])
        .args(args)
        // The engine was just provisioned: a test that finds none fails instead of skipping.
        .env("XTASK_REQUIRE_ENGINE", "1")
        .dir(adapters::workspace::repo_root())
        .stdin(Stdin::Inherit);
    let passed = exec::status(&cmd)?;
    Ok(Outcome::failed_if(!passed, || "tests failed".into()))
}
