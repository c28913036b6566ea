//! The local engines, registry and base images, provisioned by `xtask/engine/engine.sh`
//! (`up|plan|down|status`, with `--engine legacy|modern` and `--platforms`).

use anyhow::{bail, Result};

use crate::adapters::exec::{self, Command, Stdin};
use crate::adapters::workspace::repo_root;

/// The docker context `engine.sh up --engine modern` creates for the modern engine.
pub const MODERN_CONTEXT: &str = "xtask-modern";

/// `engine.sh ARGS...`, talking to the terminal.
pub fn command<S: AsRef<str>>(args: &[S]) -> Command {
    Command::new("bash")
        .arg(
            repo_root()
                .join("xtask/engine/engine.sh")
                .display()
                .to_string(),
        )
        .args(args.iter().map(|a| a.as_ref().to_owned()))
        .stdin(Stdin::Inherit)
}

/// `engine.sh ACTION` (the default engine).
pub fn run(action: &str) -> Result<()> {
    run_with(&[action])
}

/// `engine.sh ARGS...`.
pub fn run_with<S: AsRef<str>>(args: &[S]) -> Result<()> {
    let cmd = command(args);
    if !exec::status(&cmd)? {
        bail!("`{cmd}` failed (see the messages above)");
    }
    Ok(())
}
