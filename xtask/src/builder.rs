//! The BuildKit builder and what it can do.
//!
//! Capabilities come from `docker buildx inspect` (driver, BuildKit version, platforms) and,
//! for the `docker` driver, from whether the daemon uses the containerd image store. The plan
//! only ever passes flags the builder accepts; this module decides which those are.

use anyhow::{Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::process::EnvironmentError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Builder {
    pub name: String,
    pub driver: String,
    pub nodes: Vec<Node>,
    /// Only meaningful for the `docker` driver.
    pub containerd_store: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub status: String,
    pub buildkit: Option<String>,
    pub platforms: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// `--cache-to type=local|registry|gha`.
    pub cache_export: bool,
    /// `--sbom`, `--provenance`.
    pub attestations: bool,
}

impl Builder {
    /// Inspects `name` (or the current builder).
    pub fn detect(name: Option<&str>) -> Result<Builder> {
        let sh = Shell::new()?;
        if which::which("docker").is_err() {
            return Err(EnvironmentError::new(
                "docker is not installed: install Docker (with the buildx plugin), or on a Debian machine run `cargo xtask engine up`",
            ));
        }
        let out = cmd!(sh, "docker buildx inspect {name...}")
            .quiet()
            .ignore_status()
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(inspect_failure(name, stderr.trim()));
        }
        let mut builder = Builder::parse_inspect(&String::from_utf8_lossy(&out.stdout))?;
        if builder.driver == "docker" {
            let format = "{{json .DriverStatus}}";
            let status = cmd!(sh, "docker info --format {format}")
                .quiet()
                .read()
                .unwrap_or_default();
            builder.containerd_store = status.contains("io.containerd.snapshotter");
        }
        Ok(builder)
    }

    pub fn parse_inspect(text: &str) -> Result<Builder> {
        let (head, nodes_text) = text.split_once("\nNodes:").unwrap_or((text, ""));
        let field = |block: &str, key: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_owned())
            })
        };
        let name =
            field(head, "Name").context("`docker buildx inspect` printed no builder name")?;
        let driver = field(head, "Driver").context("`docker buildx inspect` printed no driver")?;
        let mut nodes = Vec::new();
        let mut block = String::new();
        for line in nodes_text.lines().chain(std::iter::once("Name:")) {
            if line.trim_start().starts_with("Name:") && !block.trim().is_empty() {
                nodes.push(Node {
                    name: field(&block, "Name").unwrap_or_default(),
                    status: field(&block, "Status").unwrap_or_default(),
                    buildkit: field(&block, "BuildKit version")
                        .or_else(|| field(&block, "Buildkit")),
                    platforms: field(&block, "Platforms")
                        .map(|p| {
                            p.split(',')
                                .map(|s| s.trim().trim_end_matches('*').to_owned())
                                .filter(|s| !s.is_empty())
                                .collect()
                        })
                        .unwrap_or_default(),
                });
                block.clear();
            }
            block.push_str(line);
            block.push('\n');
        }
        Ok(Builder {
            name,
            driver,
            nodes,
            containerd_store: false,
        })
    }

    pub fn capabilities(&self) -> Capabilities {
        // The docker driver stores images in the engine's own store, which can neither export
        // cache nor hold attestations unless it is the containerd image store.
        let full = self.driver != "docker" || self.containerd_store;
        Capabilities {
            cache_export: full,
            attestations: full,
        }
    }

    pub fn buildkit(&self) -> Option<&str> {
        self.nodes.first().and_then(|n| n.buildkit.as_deref())
    }

    /// What the plan assumes when no builder can be asked (a dry run on a machine without
    /// Docker): the default builder of a plain Docker Engine.
    pub fn assumed_default() -> Builder {
        Builder {
            name: "default".into(),
            driver: "docker".into(),
            nodes: Vec::new(),
            containerd_store: false,
        }
    }
}

fn inspect_failure(name: Option<&str>, stderr: &str) -> anyhow::Error {
    if stderr.contains("Cannot connect to the Docker daemon") || stderr.contains("daemon running") {
        return EnvironmentError::new(format!(
            "the Docker daemon is not running ({stderr}). Start Docker Desktop or `sudo systemctl start docker`; \
             on a bare Debian machine `cargo xtask engine up` installs and starts one"
        ));
    }
    if stderr.contains("is not a docker command") || stderr.contains("unknown command") {
        return EnvironmentError::new(
            "docker buildx is not installed: install the buildx plugin (Debian/Ubuntu: docker-buildx or \
             docker-buildx-plugin), or run `cargo xtask engine up`",
        );
    }
    if let (Some(n), true) = (name, stderr.contains("no builder")) {
        return EnvironmentError::new(format!(
            "no buildx builder named `{n}`: `docker buildx ls` lists the builders"
        ));
    }
    anyhow::anyhow!("`docker buildx inspect` failed: {stderr}")
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const DOCKER_DRIVER: &str = "Name:          default
Driver:        docker
Last Activity: 2026-11-23 15:03:03 +0000 UTC

Nodes:
Name:             default
Endpoint:         default
Status:           running
BuildKit version: v0.8+unknown
Platforms:        linux/amd64, linux/386
";

    pub const DOCKER_CONTAINER: &str = "Name:          ci
Driver:        docker-container
Last Activity: 2026-11-20 10:00:00 +0000 UTC

Nodes:
Name:      ci0
Endpoint:  unix:///var/run/docker.sock
Status:    running
Buildkit:  v0.16.0
Platforms: linux/amd64, linux/amd64/v2, linux/386
";

    #[test]
    fn parses_the_docker_driver() {
        let b = Builder::parse_inspect(DOCKER_DRIVER).unwrap();
        assert_eq!(b.name, "default");
        assert_eq!(b.driver, "docker");
        assert_eq!(b.buildkit(), Some("v0.8+unknown"));
        assert_eq!(b.nodes[0].platforms, ["linux/amd64", "linux/386"]);
        assert_eq!(
            b.capabilities(),
            Capabilities {
                cache_export: false,
                attestations: false
            }
        );
    }

    #[test]
    fn docker_driver_with_containerd_store_can_export() {
        let mut b = Builder::parse_inspect(DOCKER_DRIVER).unwrap();
        b.containerd_store = true;
        assert!(b.capabilities().cache_export);
    }

    #[test]
    fn parses_older_buildkit_field_name() {
        let b = Builder::parse_inspect(DOCKER_CONTAINER).unwrap();
        assert_eq!(b.driver, "docker-container");
        assert_eq!(b.buildkit(), Some("v0.16.0"));
        assert!(b.capabilities().cache_export && b.capabilities().attestations);
    }

    #[test]
    fn daemon_down_is_an_environment_error() {
        let e = inspect_failure(None, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?");
        assert!(e.downcast_ref::<EnvironmentError>().is_some());
        assert!(e.to_string().contains("engine up"));
    }
}
