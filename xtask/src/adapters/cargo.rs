//! Cargo: the workspace's metadata (path dependencies of each service), read once.

use std::path::Path;

use anyhow::{Context, Result};

use crate::adapters::exec::{self, Command};
use crate::domain::affected::{self, Metadata, ServiceInputs};
use crate::domain::config::Service;

/// `cargo metadata` of the workspace at `root`, or `None` when `root` is not a Cargo
/// workspace. Offline and without dependency resolution beyond the lock file.
pub fn metadata(root: &Path) -> Result<Option<Metadata>> {
    let manifest = root.join("Cargo.toml");
    if !manifest.is_file() {
        return Ok(None);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let cmd = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(manifest.display().to_string())
        .dir(root);
    let json = exec::read(&cmd)
        .context("`cargo metadata` failed, so the services' Rust dependencies are unknown")?;
    let metadata = serde_json::from_str(&json).context("reading `cargo metadata` output")?;
    Ok(Some(metadata))
}

/// What `build --affected` decides on, for `services` of the repository at `root`.
pub fn affected_inputs(root: &Path, services: &[&Service]) -> Result<Vec<ServiceInputs>> {
    affected::load_inputs(root, services, metadata(root)?.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::affected::tests::{built, since};
    use crate::domain::config::Config;

    #[test]
    fn path_dependencies_come_from_cargo_metadata_transitively() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let write = |path: &str, text: &str| {
            std::fs::create_dir_all(d.join(path).parent().unwrap()).unwrap();
            std::fs::write(d.join(path), text).unwrap();
        };
        let package = |name: &str, deps: &str| {
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{deps}")
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"api\", \"libs/x\"]\nresolver = \"2\"\n",
        );
        write("api/Cargo.toml", &package("api", "[dependencies]\nx = { path = \"../libs/x\" }\n[dev-dependencies]\nt = { path = \"../libs/t\" }\n"));
        write("api/src/main.rs", "fn main() {}\n");
        write(
            "libs/x/Cargo.toml",
            &package("x", "[dependencies]\ny = { path = \"../y\" }\n"),
        );
        write("libs/x/src/lib.rs", "");
        write("libs/y/Cargo.toml", &package("y", ""));
        write("libs/y/src/lib.rs", "");
        write("libs/t/Cargo.toml", &package("t", ""));
        write("libs/t/src/lib.rs", "");
        write("api.Dockerfile.dockerignore", "*\n!api/src\n");
        let config = Config::parse(
            "[project]\nname = \"p\"\n[services.api]\ndockerfile = \"api.Dockerfile\"\nsize_budget_mb = 1\n",
            Path::new("images.toml"),
        )
        .unwrap();
        let inputs = affected_inputs(d, &config.select(&[]).unwrap()).unwrap();
        let rust = inputs[0].rust.as_ref().unwrap();
        assert_eq!(rust.path_dependencies, ["libs/x", "libs/y"]);
        assert_eq!(built(&since(&["libs/y/src/lib.rs"]), &inputs), ["api"]);
        assert!(built(&since(&["libs/t/src/lib.rs"]), &inputs).is_empty());
    }

    #[test]
    fn the_repository_services_resolve_their_crates() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let config = Config::load(root, Path::new(crate::domain::config::CONFIG_FILE)).unwrap();
        let services = config.select(&[]).unwrap();
        let inputs = affected_inputs(root, &services).unwrap();
        let api = inputs.iter().find(|s| s.name == "api").unwrap();
        let rust = api.rust.as_ref().unwrap();
        assert!(rust.path_dependencies.is_empty(), "{rust:?}");
        assert_eq!(rust.shared, ["Cargo.toml", "Cargo.lock"]);
        assert_eq!(api.ignore_file, "xtask/docker/api.Dockerfile.dockerignore");
        let runner = inputs
            .iter()
            .find(|s| s.name == "playwright-runner")
            .unwrap();
        assert!(runner.rust.is_none());
        assert_eq!(built(&since(&["api/src/main.rs"]), &inputs), ["api"]);
        assert_eq!(
            built(&since(&["playwright-runner/tests/todo.spec.js"]), &inputs),
            ["playwright-runner"]
        );
    }
}
