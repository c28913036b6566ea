//! `cargo xtask engine up|down|status`: the local engine, registry and base images
//! (docs/troubleshooting.md). An engine that already runs is only checked, never replaced.

use anyhow::{anyhow, Result};

use crate::adapters::engine;
use crate::cli::EngineAction;
use crate::domain::error::usage;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
An engine that already runs (Docker Desktop, docker-ce, another dockerd) and a registry that \
already answers are used as they are; `down` stops only what `up` started. Installing \
packages and starting dockerd need root on Debian or Ubuntu.")]
pub struct Args {
    #[arg(value_enum)]
    pub action: EngineAction,
    /// With `up`: say what would be installed or started, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: &Args) -> Result<()> {
    engine::run(match (args.action, args.dry_run) {
        (EngineAction::Up, true) => "plan",
        (EngineAction::Up, false) => "up",
        (_, true) => return Err(usage(anyhow!("--dry-run goes with `engine up` only"))),
        (EngineAction::Down, false) => "down",
        (EngineAction::Status, false) => "status",
    })
}
