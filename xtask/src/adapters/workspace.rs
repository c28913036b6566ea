//! The repository the toolkit works on: its root, its config, the environment, the engine
//! (pinned for every child) and the clock, each read once per run; the git context (with the time zones the tag rules name)
//! is read on first use and kept.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Result;
use time::OffsetDateTime;

use crate::adapters::endpoint;
use crate::adapters::exec::{self, usage};
use crate::domain::config::Config;
use crate::domain::endpoint::Endpoint;
use crate::domain::env::Env;
use crate::domain::git::GitContext;
use crate::domain::tag::Tag;
use crate::domain::tag_rules::{time_zone_names, Evaluation};

pub struct Workspace {
    pub root: PathBuf,
    pub config: Config,
    /// The environment, with the chosen engine's `DOCKER_HOST` and no `DOCKER_CONTEXT`, as
    /// every child sees it.
    pub env: Env,
    /// The engine every child talks to; `None`: docker's default one.
    pub engine: Option<Endpoint>,
    /// When this run started: every timestamp tag of the run names this moment.
    pub now: OffsetDateTime,
    git: OnceLock<GitContext>,
}

/// The repository root: the nearest directory at or above the current one that holds a
/// `Cargo.toml` and `xtask/Cargo.toml` (so a built xtask works on the checkout it runs in,
/// such as a test's clone), else the parent of the xtask crate it was built from.
pub fn repo_root() -> PathBuf {
    let here = std::env::current_dir().ok();
    let checkout = here
        .iter()
        .flat_map(|d| d.ancestors())
        .find(|d| d.join("Cargo.toml").is_file() && d.join("xtask/Cargo.toml").is_file());
    match checkout {
        Some(root) => root.to_owned(),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace")
            .to_owned(),
    }
}

impl Workspace {
    /// The workspace this xtask belongs to, with the config at `config` (relative to the
    /// root), for a command that talks to no engine (`tags`, the lints, `new-service`, the
    /// test runner): no context is resolved, nothing is pinned.
    pub fn load(config: &Path) -> Result<Workspace> {
        let root = repo_root();
        let config = Config::load(&root, config).map_err(usage)?;
        Ok(Workspace {
            root,
            config,
            env: std::env::vars().collect(),
            engine: None,
            now: OffsetDateTime::now_utc(),
            git: OnceLock::new(),
        })
    }

    /// [`Workspace::load`] on the engine `context` (`--context`), the environment or the
    /// config choose, resolved once and pinned for every child of the run.
    pub fn on_engine(config: &Path, context: Option<&str>) -> Result<Workspace> {
        let mut ws = Workspace::load(config)?;
        ws.engine = endpoint::resolve(context, &ws.env, ws.config.build.context.as_deref())?;
        if let Some(engine) = &ws.engine {
            ws.env = std::mem::take(&mut ws.env)
                .with("DOCKER_HOST", &engine.host)
                .without("DOCKER_CONTEXT");
            exec::pin_engine(engine.clone());
        }
        Ok(ws)
    }

    /// The git context, read from git (or GitHub's environment) once per run.
    pub fn git_context(&self) -> Result<GitContext> {
        if let Some(ctx) = self.git.get() {
            return Ok(ctx.clone());
        }
        let mut ctx = GitContext::detect(
            &self.root,
            &self.env,
            self.config.project.default_branch.as_deref(),
        )?;
        let zones = time_zone_names(&self.config.tags.rules, &self.config.flavor());
        ctx.time_zones = crate::adapters::tz::load(&self.env, &zones)?;
        Ok(self.git.get_or_init(|| ctx).clone())
    }

    /// The tags the configured rules give for `ctx`, at the moment this run started.
    pub fn tags(&self, ctx: &GitContext) -> Result<Vec<Tag>> {
        let flavor = self.config.flavor();
        let version = Evaluation {
            ctx,
            flavor: &flavor,
            now: self.now,
        }
        .version(&self.config.tags.rules)?;
        Ok(version.tags(&flavor))
    }
}
