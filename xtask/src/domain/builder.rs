//! The BuildKit builder and what it can do, as data.
//!
//! A builder is read from `docker buildx inspect` output (driver, BuildKit version,
//! platforms) and, for the `docker` driver, from whether the daemon uses the containerd
//! image store. The plan only ever passes flags the builder accepts; this module decides
//! which those are. The adapter (adapters/builder.rs) asks the engine or reads a recording.

use anyhow::{Context, Result};
use serde::Serialize;

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
    /// `ignore-error=true` on `--cache-to`: a cache the registry or GitHub refuses warns
    /// instead of failing a build whose image is fine (moby/buildkit#3430, v0.11).
    pub cache_export_ignore_error: bool,
    /// `--sbom`, `--provenance`.
    pub attestations: bool,
    /// `--annotation index:...` and `manifest:...` (OCI annotations on the index and
    /// manifests, beside the labels in the image config).
    pub annotations: bool,
    /// The `SOURCE_DATE_EPOCH` build arg sets the image's `created` and history times.
    pub source_date_epoch: bool,
    /// More than one `--platform` in one build.
    pub multi_platform: bool,
    /// `--load` of a multi-platform image (only into the containerd image store).
    pub load_multi_platform: bool,
    /// Every platform some node can build, in the order the nodes list them.
    pub platforms: Vec<String>,
}

/// BuildKit learned attestations (`--sbom`, `--provenance`) and `SOURCE_DATE_EPOCH` in v0.11.
const ATTESTATIONS_SINCE: (u64, u64) = (0, 11);

impl Builder {
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
    pub fn parse_recording(text: &str) -> Result<Builder> {
        let mut builder = Builder::parse_inspect(text)?;
        builder.containerd_store = builder.driver == "docker" && uses_containerd_store(text);
        Ok(builder)
    }

    pub fn capabilities(&self) -> Capabilities {
        // The docker driver stores images in the engine's own store, which can neither export
        // cache, hold attestations nor build for several platforms unless it is the
        // containerd image store. Every other driver runs its own BuildKit.
        let docker = self.driver == "docker";
        let full = !docker || self.containerd_store;
        // The containerd image store came with Docker 24, whose BuildKit is v0.11 or later:
        // it decides for the docker driver, whatever version string the engine reports
        // (Debian's Docker 26 says `v0.0.0+unknown`).
        let modern_docker = docker && self.containerd_store;
        let attestations_known = modern_docker
            || self
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
            cache_export_ignore_error: full && attestations_known,
            attestations: full && attestations_known,
            annotations: full && attestations_known,
            // Any driver's BuildKit reads it; an older one ignores it.
            source_date_epoch: attestations_known,
            multi_platform: full,
            load_multi_platform: docker && self.containerd_store,
            platforms,
        }
    }

    /// Where a `docker` driver's engine keeps images: its containerd image store
    /// (snapshotters) or the classic store of a graph driver (overlay2). `None` for the other
    /// drivers, whose BuildKit keeps its own.
    pub fn image_store(&self) -> Option<ImageStore> {
        (self.driver == "docker").then_some(if self.containerd_store {
            ImageStore::Containerd
        } else {
            ImageStore::Classic
        })
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

/// The image store of a `docker` driver's engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageStore {
    /// The classic store of a graph driver (overlay2): one platform, no attestations.
    Classic,
    /// The containerd image store (`driver-type: io.containerd.snapshotter.v1`).
    Containerd,
}

/// Whether `docker info --format '{{json .DriverStatus}}'` output (or a recording that holds
/// it) says the daemon uses the containerd image store.
pub fn uses_containerd_store(driver_status: &str) -> bool {
    driver_status.contains("io.containerd.snapshotter")
}

/// `v0.13.1`, `v0.8+unknown`, `0.12.5-rc1` as (major, minor). `v0.0.0+unknown` (a BuildKit
/// built without its version, as in Debian's docker.io 26) says nothing: `None`.
fn buildkit_version(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.trim_start_matches('v').split(['.', '+', '-']);
    let version = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    (version != (0, 0)).then_some(version)
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
    /// `engine up --engine modern`: Debian's Docker 26.1 with the containerd image store
    /// (`BuildKit version: v0.0.0+unknown`), no emulation.
    pub const DOCKER_MODERN: &str = include_str!("../../tests/fixtures/buildx/docker-modern.txt");

    pub const ALL: [(&str, &str); 7] = [
        ("docker.txt", DOCKER_DRIVER),
        ("docker-containerd.txt", DOCKER_CONTAINERD),
        ("docker-modern.txt", DOCKER_MODERN),
        ("docker-container.txt", DOCKER_CONTAINER),
        ("kubernetes.txt", KUBERNETES),
        ("remote.txt", REMOTE),
        ("two-nodes.txt", TWO_NODES),
    ];

    /// A recorded builder as `from_recording` reads it.
    pub fn recorded(text: &str) -> Builder {
        Builder::parse_recording(text).unwrap()
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
                cache_export_ignore_error: false,
                attestations: false,
                annotations: false,
                source_date_epoch: false,
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
        assert!(caps.source_date_epoch);
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

    /// Debian's Docker 26 reports no BuildKit version: the docker driver and the containerd
    /// image store decide, and the classic store with the same non-version decides the other way.
    #[test]
    fn the_modern_engine_is_judged_by_its_image_store_not_its_version_string() {
        let b = recorded(DOCKER_MODERN);
        assert_eq!(
            (b.name.as_str(), b.driver.as_str()),
            ("xtask-modern", "docker")
        );
        assert_eq!(b.buildkit(), Some("v0.0.0+unknown"));
        assert_eq!(b.image_store(), Some(ImageStore::Containerd));
        assert_eq!(
            b.capabilities(),
            Capabilities {
                cache_export: true,
                cache_export_ignore_error: true,
                attestations: true,
                annotations: true,
                source_date_epoch: true,
                multi_platform: true,
                load_multi_platform: true,
                platforms: vec![
                    "linux/amd64".into(),
                    "linux/amd64/v2".into(),
                    "linux/amd64/v3".into()
                ],
            }
        );
        let classic = Builder::parse_inspect(DOCKER_MODERN).unwrap();
        assert_eq!(classic.image_store(), Some(ImageStore::Classic));
        let caps = classic.capabilities();
        assert!(!caps.cache_export && !caps.attestations && !caps.multi_platform);
        assert_eq!(recorded(REMOTE).image_store(), None);
    }

    #[test]
    fn an_unknown_buildkit_version_counts_as_no_version() {
        assert_eq!(buildkit_version("v0.0.0+unknown"), None);
        // A remote BuildKit built without its version is not refused attestations for it.
        let unknown = REMOTE.replace("v0.13.2", "v0.0.0+unknown");
        assert!(
            Builder::parse_inspect(&unknown)
                .unwrap()
                .capabilities()
                .attestations
        );
    }

    #[test]
    fn attestations_need_buildkit_0_11_on_every_node() {
        assert_eq!(buildkit_version("v0.13.2"), Some((0, 13)));
        assert_eq!(buildkit_version("v0.8+unknown"), Some((0, 8)));
        let old = REMOTE.replace("v0.13.2", "v0.10.6");
        let caps = Builder::parse_inspect(&old).unwrap().capabilities();
        assert!(caps.cache_export && !caps.attestations);
    }
}
