//! The repository the toolkit works on: its root, its config and the environment.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::adapters::exec::usage;
use crate::domain::config::Config;
use crate::domain::env::Env;
use crate::domain::git::GitContext;
use crate::domain::tag::Tag;
use crate::domain::tag_rules::Evaluation;

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
            env: std::env::vars().collect(),
        })
    }

    pub fn git_context(&self) -> Result<GitContext> {
        GitContext::detect(
            &self.root,
            &self.env,
            self.config.project.default_branch.as_deref(),
        )
    }

    /// The tags the configured rules give for `ctx`, evaluated now.
    pub fn tags(&self, ctx: &GitContext) -> Result<Vec<Tag>> {
        let flavor = self.config.flavor();
        let now = time::OffsetDateTime::now_utc();
        let version = Evaluation {
            ctx,
            flavor: &flavor,
            now,
        }
        .version(&self.config.tags.rules)?;
        Ok(version.tags(&flavor))
    }
}
