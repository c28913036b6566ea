//! The command line in one place: the subcommands, and the flags several of them share, so
//! they are spelled, documented and handled alike. `main.rs` dispatches.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use crate::adapters::workspace::Workspace;
use crate::domain::plan;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, scan, verify and push this workspace's container images",
    after_help = "Exit codes: 0 success, 1 a build, check or test failed, 2 bad input, 3 environment not ready (docker, buildx, daemon), 4 a tool broke (trivy, hadolint, the test runner).\n\
                  Services and their policy are declared in xtask/images.toml."
)]
pub struct Cli {
    /// Service and policy config, relative to the workspace root.
    #[arg(long, global = true, value_name = "PATH", default_value = crate::domain::config::CONFIG_FILE)]
    pub config: PathBuf,
    /// The docker context (engine) every docker, buildx, trivy and cosign command talks to,
    /// e.g. a build server over SSH (default: DOCKER_HOST, DOCKER_CONTEXT, `[build] context`
    /// in the config, then docker's current context). Commands that use no engine (tags,
    /// lint, lint-dockerfiles, new-service, test) ignore it.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build the services' images with docker buildx, in parallel.
    Build(crate::commands::build::Args),
    /// Print the image tags the current git context gives.
    Tags(crate::commands::tags::Args),
    /// Scan images for vulnerabilities and secrets with trivy and gate them (docs/scanning.md).
    Scan(crate::commands::scan::Args),
    /// Check the services' Dockerfiles with hadolint and the toolkit's own rules.
    LintDockerfiles(crate::commands::lint_dockerfiles::Args),
    /// Run exactly the lints CI runs: fmt, clippy, shellcheck, the workflow schema and audit, Dockerfiles.
    Lint(crate::commands::lint::Args),
    /// Check built images: non-root, healthy when hardened, size, labels, no secrets.
    Verify(crate::commands::verify::Args),
    /// Run the Playwright suite against the built api and web images.
    E2e(crate::commands::e2e::Args),
    /// Push the built images' tags to the registry: immutable tag first, `latest` last.
    Push(crate::commands::push::Args),
    /// Sign pushed images by digest with cosign (key, or keyless in GitHub Actions).
    Sign(crate::commands::sign::Args),
    /// Point more tags at an already pushed image (releases, rollbacks), without rebuilding.
    Promote(crate::commands::promote::Args),
    /// Run the pipeline: build, scan, verify, e2e, then push where the policy allows.
    Ci(crate::commands::ci::Args),
    /// Check that everything the commands need is installed, running and logged in.
    Doctor(crate::commands::doctor::Args),
    /// Measure the builds on this machine against plain `docker buildx bake` (docs/benchmarks.md).
    Bench(crate::commands::bench::Args),
    /// Add a service: a Rust worker crate, its Dockerfile and ignore file, its config entry.
    NewService(crate::commands::new_service::Args),
    /// Install and start a local engine, registry and base images (Debian, as root).
    Engine(crate::commands::engine::Args),
    /// Provision the engines if needed, run the workspace's tests, the integration tests again on the modern engine, then remove the image tags they created.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineAction {
    /// Install and start what is missing; a running engine or registry is used as it is.
    Up,
    /// Stop what `up` started (both engines unless `--engine` names one).
    Down,
    /// Say what is running, for both engines.
    Status,
}

/// Which local engine `cargo xtask engine` provisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// Debian 12's Docker 20.10 on /var/run/docker.sock (classic image store).
    Legacy,
    /// Debian trixie's Docker 26.1 with the containerd image store, next to any other engine,
    /// as the docker context `xtask-modern`.
    Modern,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Legacy => "legacy",
            EngineKind::Modern => "modern",
        }
    }
}

/// `--json`: say it as data on stdout instead of text for people.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Json {
    /// Print JSON on stdout instead of text for people.
    #[arg(long)]
    pub json: bool,
}

/// `--dry-run` and `--json`: decide without acting, and say it as data.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Preview {
    /// Print the exact commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: Json,
}

impl Preview {
    pub fn json(&self) -> bool {
        self.output.json
    }
}

/// `--allow-dirty`: publish a build from uncommitted changes, under its dirty tags only.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct AllowDirty {
    /// Publish images built from uncommitted changes, under their `sha-<7>-dirty` tag only
    /// (never `sha-<7>`, the branch tags or `latest`); refused without it.
    #[arg(long)]
    pub allow_dirty: bool,
}

/// `--registry`: where the images are named, pushed and looked up.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Registry {
    /// Registry and namespace of the images, e.g. `ghcr.io/acme` (default: XTASK_REGISTRY, then
    /// `[registry] namespace` in the config).
    #[arg(long = "registry", value_name = "REGISTRY/NAMESPACE")]
    pub value: Option<String>,
}

impl Registry {
    /// The namespace images are named under: this flag, else `XTASK_REGISTRY`, else the
    /// config's.
    pub fn namespace(&self, ws: &Workspace) -> Result<String> {
        plan::resolve_namespace(self.value.as_deref(), &ws.env, &ws.config)
    }
}
