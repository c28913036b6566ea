//! The repository the toolkit works on: its root, its config and the environment.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::Config;
use crate::env::Env;
use crate::git::GitContext;
use crate::process::usage;

pub struct Workspace {
    pub root: PathBuf,
    pub config: Config,
    pub env: Env,
}

impl Workspace {
    /// The workspace this xtask belongs to, with the config at `config` (relative to the root).
    pub fn load(config: &Path) -> Result<Workspace> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace")
            .to_owned();
        let config = Config::load(&root, config).map_err(usage)?;
        Ok(Workspace {
            root,
            config,
            env: Env::from_process(),
        })
    }

    pub fn git_context(&self) -> Result<GitContext> {
        GitContext::detect(
            &self.root,
            &self.env,
            self.config.project.default_branch.as_deref(),
        )
    }
}
