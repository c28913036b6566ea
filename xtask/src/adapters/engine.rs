//! The local engine, registry and base images, provisioned by `xtask/engine/engine.sh`.

use anyhow::{bail, Result};

use crate::adapters::exec::{self, Command, Stdin};
use crate::adapters::workspace::repo_root;

/// `engine.sh up|down|status`, talking to the terminal.
pub fn command(action: &str) -> Command {
    Command::new("bash")
        .arg(
            repo_root()
                .join("xtask/engine/engine.sh")
                .display()
                .to_string(),
        )
        .arg(action)
        .stdin(Stdin::Inherit)
}

pub fn run(action: &str) -> Result<()> {
    let cmd = command(action);
    if !exec::status(&cmd)? {
        bail!("`{cmd}` failed (see the messages above)");
    }
    Ok(())
}
