//! The BuildKit builder and what it can do.
//!
//! Capabilities come from `docker buildx inspect` (driver, BuildKit version, platforms) and,
//! for the `docker` driver, from whether the daemon uses the containerd image store. The plan
//! only ever passes flags the builder accepts; this module decides which those are.
//!
//! A builder can also be read from a recorded `docker buildx inspect` output (for the
//! `docker` driver, followed by `docker info --format '{{json .DriverStatus}}'`), so a plan
//! for a remote or kubernetes builder can be made and tested on a machine that has none.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::adapters::exec::EnvironmentError;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// `--cache-to type=local|registry|gha`.
    pub cache_export: bool,
    /// `--sbom`, `--provenance`.
    pub attestations: bool,
    /// More than one `--platform` in one build.
    pub multi_platform: bool,
    /// `--load` of a multi-platform image (only into the containerd image store).
    pub load_multi_platform: bool,
    /// Every platform some node can build, in the order the nodes list them.
    pub platforms: Vec<String>,
}

/// BuildKit learned attestations (`--sbom`, `--provenance`) in v0.11.
const ATTESTATIONS_SINCE: (u64, u64) = (0, 11);

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

    /// Reads a recorded `docker buildx inspect` output; for the `docker` driver the
    /// output of `docker info --format '{{json .DriverStatus}}'` may follow it, and says
    /// whether the daemon uses the containerd image store.
    pub fn from_recording(path: &Path) -> Result<Builder> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the recorded builder {}", path.display()))
            .map_err(crate::adapters::exec::usage)?;
        let mut builder = Builder::parse_inspect(&text)
            .with_context(|| format!("{} is not a `docker buildx inspect` output", path.display()))
            .map_err(crate::adapters::exec::usage)?;
        builder.containerd_store =
            builder.driver == "docker" && text.contains("io.containerd.snapshotter");
        Ok(builder)
    }

    pub fn capabilities(&self) -> Capabilities {
        // The docker driver stores images in the engine's own store, which can neither export
        // cache, hold attestations nor build for several platforms unless it is the
        // containerd image store. Every other driver runs its own BuildKit.
        let docker = self.driver == "docker";
        let full = !docker || self.containerd_store;
        let attestations_known = self
            .nodes
            .iter()
            .filter_map(|n| n.buildkit.as_deref())
            .filter_map(buildkit_version)
            .all(|v| v >= ATTESTATIONS_SINCE);
        let mut platforms: Vec<String> = Vec::new();
        for p in self.nodes.iter().flat_map(|n| &n.platforms) {
            if !platforms.contains(p) {
                platforms.push(p.clone());
            }
        }
        Capabilities {
            cache_export: full,
            attestations: full && attestations_known,
            multi_platform: full,
            load_multi_platform: docker && self.containerd_store,
            platforms,
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

/// `v0.13.1`, `v0.8+unknown`, `0.12.5-rc1` as (major, minor).
fn buildkit_version(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.trim_start_matches('v').split(['.', '+', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
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

    /// Recorded `docker buildx inspect` outputs, one per kind of builder.
    pub const DOCKER_DRIVER: &str = include_str!("../../tests/fixtures/buildx/docker.txt");
    pub const DOCKER_CONTAINERD: &str =
        include_str!("../../tests/fixtures/buildx/docker-containerd.txt");
    pub const DOCKER_CONTAINER: &str =
        include_str!("../../tests/fixtures/buildx/docker-container.txt");
    pub const KUBERNETES: &str = include_str!("../../tests/fixtures/buildx/kubernetes.txt");
    pub const REMOTE: &str = include_str!("../../tests/fixtures/buildx/remote.txt");
    /// amd64 on one node, arm64 on the other.
    pub const TWO_NODES: &str = include_str!("../../tests/fixtures/buildx/two-nodes.txt");

    pub const ALL: [(&str, &str); 6] = [
        ("docker.txt", DOCKER_DRIVER),
        ("docker-containerd.txt", DOCKER_CONTAINERD),
        ("docker-container.txt", DOCKER_CONTAINER),
        ("kubernetes.txt", KUBERNETES),
        ("remote.txt", REMOTE),
        ("two-nodes.txt", TWO_NODES),
    ];

    /// A recorded builder as `from_recording` reads it.
    pub fn recorded(text: &str) -> Builder {
        let mut b = Builder::parse_inspect(text).unwrap();
        b.containerd_store = b.driver == "docker" && text.contains("io.containerd.snapshotter");
        b
    }

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
                attestations: false,
                multi_platform: false,
                load_multi_platform: false,
                platforms: vec!["linux/amd64".into(), "linux/386".into()],
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
    fn docker_container_driver_has_everything_but_multi_platform_load() {
        let b = Builder::parse_inspect(DOCKER_CONTAINER).unwrap();
        assert_eq!(b.driver, "docker-container");
        assert_eq!(b.buildkit(), Some("v0.13.2"));
        let caps = b.capabilities();
        assert!(caps.cache_export && caps.attestations && caps.multi_platform);
        assert!(!caps.load_multi_platform);
        assert_eq!(
            caps.platforms,
            [
                "linux/amd64",
                "linux/amd64/v2",
                "linux/amd64/v3",
                "linux/386"
            ]
        );
    }

    #[test]
    fn containerd_store_is_read_from_the_recording() {
        let b = recorded(DOCKER_CONTAINERD);
        assert!(b.containerd_store);
        let caps = b.capabilities();
        assert!(caps.multi_platform && caps.load_multi_platform && caps.attestations);
        assert!(caps.platforms.contains(&"linux/arm64".to_owned()));
        assert!(!recorded(DOCKER_DRIVER).containerd_store);
    }

    #[test]
    fn labels_and_gc_policy_do_not_confuse_the_parser() {
        let b = Builder::parse_inspect(REMOTE).unwrap();
        assert_eq!((b.name.as_str(), b.driver.as_str()), ("remote", "remote"));
        assert_eq!(b.nodes.len(), 1);
        assert_eq!(b.nodes[0].name, "remote0");
        assert_eq!(b.nodes[0].status, "running");
        let k = Builder::parse_inspect(KUBERNETES).unwrap();
        assert_eq!(k.nodes[0].name, "builder-amd64-6d8d8c9f7b-x2k9p");
        assert_eq!(k.nodes[0].platforms[0], "linux/amd64");
    }

    #[test]
    fn platforms_of_every_node_count_and_the_older_field_name_is_read() {
        let b = Builder::parse_inspect(TWO_NODES).unwrap();
        assert_eq!(b.nodes.len(), 2);
        assert_eq!(b.nodes[1].buildkit.as_deref(), Some("v0.10.6"));
        let caps = b.capabilities();
        assert!(caps.platforms.contains(&"linux/amd64".to_owned()));
        assert!(caps.platforms.contains(&"linux/arm64".to_owned()));
        assert!(caps.multi_platform && !caps.load_multi_platform);
    }

    #[test]
    fn attestations_need_buildkit_0_11_on_every_node() {
        assert_eq!(buildkit_version("v0.13.2"), Some((0, 13)));
        assert_eq!(buildkit_version("v0.8+unknown"), Some((0, 8)));
        let old = REMOTE.replace("v0.13.2", "v0.10.6");
        let caps = Builder::parse_inspect(&old).unwrap().capabilities();
        assert!(caps.cache_export && !caps.attestations);
    }

    #[test]
    fn daemon_down_is_an_environment_error() {
        let e = inspect_failure(None, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?");
        assert!(e.downcast_ref::<EnvironmentError>().is_some());
        assert!(e.to_string().contains("engine up"));
    }
}
