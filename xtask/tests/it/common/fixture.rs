//! Small fixture services built from busybox:stable, declared in a temporary images.toml
//! with absolute paths, and `cargo xtask` run with extra environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A Dockerfile that passes every `verify` check: non-root, exec form, a quick HEALTHCHECK.
pub const GOOD: &str = "FROM busybox:stable\n\
    USER 65534\n\
    HEALTHCHECK --interval=1s --timeout=3s --retries=3 CMD [\"true\"]\n\
    CMD [\"sleep\", \"3600\"]\n";

pub const IGNORE: &str = "**/.git\n**/.env*\n**/target/\n**/node_modules/\n";

pub struct Service<'a> {
    pub name: &'a str,
    pub dockerfile: &'a str,
    pub size_budget_mb: u64,
    /// Write `<dockerfile>.dockerignore` with [`IGNORE`].
    pub ignore_file: bool,
}

impl<'a> Service<'a> {
    pub fn new(name: &'a str, dockerfile: &'a str) -> Service<'a> {
        Service {
            name,
            dockerfile,
            size_budget_mb: 10,
            ignore_file: true,
        }
    }
}

/// Writes the Dockerfiles and an images.toml into `dir`; returns the config path.
pub fn write(dir: &Path, services: &[Service]) -> PathBuf {
    // On a builder that attaches SBOMs, the generator the engine setup builds: BuildKit's
    // default one is pulled from Docker Hub.
    let mut config = String::from(
        "[project]\nname = \"xtask-vp\"\n[build]\nsbom_generator = \"xtask/buildkit-syft-scanner:1.18.1\"\n",
    );
    for s in services {
        let dockerfile = dir.join(format!("{}.Dockerfile", s.name));
        std::fs::write(&dockerfile, s.dockerfile).unwrap();
        if s.ignore_file {
            std::fs::write(
                dir.join(format!("{}.Dockerfile.dockerignore", s.name)),
                IGNORE,
            )
            .unwrap();
        }
        config.push_str(&format!(
            "[services.{}]\ndockerfile = \"{}\"\ncontext = \"{}\"\nsize_budget_mb = {}\n",
            s.name,
            dockerfile.display(),
            dir.display(),
            s.size_budget_mb
        ));
    }
    let path = dir.join("images.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// `cargo xtask ARGS...` with `env` added, and `path_first` (if any) first on PATH, in the
/// git context of the repository as committed ([`super::committed_head_env`]).
pub fn xtask_env(args: &[&str], env: &[(&str, &str)], path_first: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(args).current_dir(super::root());
    c.envs(super::committed_head_env().iter().map(|(k, v)| (k, v)));
    for var in [
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
        "GITHUB_TOKEN",
        "XTASK_REGISTRY",
    ] {
        c.env_remove(var);
    }
    c.envs(env.iter().copied());
    if let Some(dir) = path_first {
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("PATH", format!("{}:{path}", dir.display()));
    }
    c.output().expect("xtask runs")
}
