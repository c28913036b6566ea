//! `cargo xtask engine up|down|status`: the local engine, registry and base images
//! (docs/troubleshooting.md).

use anyhow::Result;

use crate::adapters::engine;
use crate::cli::EngineAction;

pub fn run(action: EngineAction) -> Result<()> {
    engine::run(match action {
        EngineAction::Up => "up",
        EngineAction::Down => "down",
        EngineAction::Status => "status",
    })
}
