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

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use adapters::exec::{self, ExitCode, Stdin};
use adapters::workspace::Workspace;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, scan, verify and push this workspace's container images",
    after_help = "Exit codes: 0 success, 1 a build or check failed, 2 bad input, 3 environment not ready (docker, buildx, daemon).\n\
                  Services and their policy are declared in xtask/images.toml."
)]
struct Cli {
    /// Service and policy config, relative to the workspace root.
    #[arg(long, global = true, value_name = "PATH", default_value = domain::config::CONFIG_FILE)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the services' images with docker buildx, in parallel.
    Build(commands::build::Args),
    /// Print the image tags the current git context gives.
    Tags(commands::tags::Args),
    /// Scan images for vulnerabilities and secrets with trivy and gate them (docs/scanning.md).
    Scan(commands::scan::Args),
    /// Check the services' Dockerfiles with hadolint and the toolkit's own rules.
    LintDockerfiles(commands::lint_dockerfiles::Args),
    /// Check built images: non-root, healthy when hardened, size, labels, no secrets.
    Verify(commands::verify::Args),
    /// Run the Playwright suite against the built api and web images.
    E2e(commands::e2e::Args),
    /// Push the built images' tags to the registry: immutable tag first, `latest` last.
    Push(commands::push::Args),
    /// Sign pushed images by digest with cosign (key, or keyless in GitHub Actions).
    Sign(commands::sign::Args),
    /// Point more tags at an already pushed image (releases, rollbacks), without rebuilding.
    Promote(commands::promote::Args),
    /// Run the pipeline: build, scan, verify, e2e, then push where the policy allows.
    Ci(commands::ci::Args),
    /// Check that everything the commands need is installed, running and logged in.
    Doctor(commands::doctor::Args),
    /// Measure the builds on this machine against plain `docker buildx bake` (docs/benchmarks.md).
    Bench(commands::bench::Args),
    /// Install and start a local engine, registry and base images (Debian, as root).
    Engine {
        #[arg(value_enum)]
        action: EngineAction,
    },
    /// Provision the engine if needed, then run the workspace's tests.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineAction {
    /// Install and start what is missing (idempotent).
    Up,
    /// Stop what `up` started.
    Down,
    /// Say what is running.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exec::exit_code(&e))
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Engine { action } => engine(*action),
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
        Command::E2e(args) => commands::e2e::run(&Workspace::load(&cli.config)?, args),
        Command::Ci(args) => commands::ci::run(&Workspace::load(&cli.config)?, args),
        Command::Doctor(args) => commands::doctor::run(&Workspace::load(&cli.config)?, args),
        Command::Bench(args) => commands::bench::run(&Workspace::load(&cli.config)?, args),
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn engine(action: EngineAction) -> Result<()> {
    let action = match action {
        EngineAction::Up => "up",
        EngineAction::Down => "down",
        EngineAction::Status => "status",
    };
    let script = root().join("xtask/engine/engine.sh");
    let cmd = exec::Command::new("bash")
        .arg(script.to_string_lossy())
        .arg(action)
        .stdin(Stdin::Inherit);
    if !exec::status(&cmd)? {
        anyhow::bail!("engine {action} failed (see the messages above)");
    }
    Ok(())
}

fn test(args: &[String]) -> Result<()> {
    engine(EngineAction::Up)?;
    let cmd = exec::Command::new(env!("CARGO"))
        .args(["test", "--workspace", "--locked"])
        .args(args)
        // The engine was just provisioned: a test that finds none fails instead of skipping.
        .env("XTASK_REQUIRE_ENGINE", "1")
        .dir(root())
        .stdin(Stdin::Inherit);
    if !exec::status(&cmd)? {
        anyhow::bail!("tests failed");
    }
    Ok(())
}
