//! `build --affected`: which services' inputs changed, and for those that did not, why not.
//!
//! A service's inputs are the files of its build context that its ignore file lets through,
//! its Dockerfile and ignore file, the service config, and for a Rust service the workspace
//! `Cargo.toml` and `Cargo.lock` plus the directories of every path crate its crate depends
//! on, directly or not (from `cargo metadata`). [`affected`] decides on plain data; [`load_inputs`]
//! reads the ignore files and takes the metadata that `adapters/cargo.rs` got from cargo.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::domain::changes::Changes;
use crate::domain::config::{Config, Service};
use crate::domain::dockerignore::IgnoreRules;

/// The part of `cargo metadata --format-version 1` that `--affected` reads: the packages, the
/// workspace's members among them and their path dependencies. (Typed here rather than
/// through the cargo_metadata crate, whose full model cost more compile time than these
/// few fields are worth.)
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub packages: Vec<Package>,
    pub workspace_members: Vec<String>,
    pub workspace_root: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub manifest_path: PathBuf,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dependency {
    /// `null` for a normal dependency, `"dev"` or `"build"`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Set for a path dependency: the directory of its manifest.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

impl Metadata {
    fn workspace_packages(&self) -> impl Iterator<Item = &Package> {
        self.packages
            .iter()
            .filter(|p| self.workspace_members.contains(&p.id))
    }
}

/// What decides whether one service is affected. Paths are repository-relative and
/// `/`-separated.
#[derive(Debug, Clone)]
pub struct ServiceInputs {
    pub name: String,
    pub dockerfile: String,
    pub ignore_file: String,
    /// `.` for the repository root.
    pub context: String,
    pub ignore: IgnoreRules,
    pub rust: Option<RustInputs>,
}

#[derive(Debug, Clone, Default)]
pub struct RustInputs {
    /// Workspace files every crate builds from: `Cargo.toml`, `Cargo.lock`.
    pub shared: Vec<String>,
    /// Directories of the path crates the service's crate depends on, directly or not. The
    /// crate's own directory is not here: the context filter decides which of its files count.
    pub path_dependencies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Build it; the reason names what changed.
    Affected(String),
    Skipped(String),
}

/// Decides, for each service, whether `changes` touch its inputs. `config_file` is the
/// service config (a change there affects every service).
pub fn affected(
    services: &[ServiceInputs],
    changes: &Changes,
    config_file: &str,
) -> Vec<(String, Decision)> {
    services
        .iter()
        .map(|s| (s.name.clone(), decide(s, changes, config_file)))
        .collect()
}

fn decide(s: &ServiceInputs, changes: &Changes, config_file: &str) -> Decision {
    let (base, files) = match changes {
        Changes::Unknown { reason } => {
            return Decision::Affected(format!("{reason}: building everything"))
        }
        Changes::Since { base, files } => (base, files),
    };
    if files.iter().any(|f| f == config_file) {
        return Decision::Affected(format!("{config_file} changed (the service config)"));
    }
    let hits: Vec<&String> = files.iter().filter(|f| is_input(s, f)).collect();
    match hits.as_slice() {
        [] => {
            let n = match files.len() {
                0 => "no file changed".to_owned(),
                1 => format!("1 file changed, none in {}'s context", s.name),
                n => format!("{n} files changed, none in {}'s context", s.name),
            };
            Decision::Skipped(format!("no input changed since {base} ({n})"))
        }
        [one] => Decision::Affected(format!("{one} changed")),
        [first, rest @ ..] => {
            Decision::Affected(format!("{first} and {} more changed", rest.len()))
        }
    }
}

fn is_input(s: &ServiceInputs, file: &str) -> bool {
    if file == s.dockerfile || file == s.ignore_file {
        return true;
    }
    if let Some(rust) = &s.rust {
        if rust.shared.iter().any(|f| f == file)
            || rust.path_dependencies.iter().any(|d| under(file, d))
        {
            return true;
        }
    }
    let in_context = if s.context == "." {
        Some(file)
    } else {
        file.strip_prefix(s.context.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
    };
    in_context.is_some_and(|rel| !s.ignore.excludes(rel))
}

fn under(file: &str, dir: &str) -> bool {
    dir.is_empty()
        || file
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Reads what [`affected`] needs for `services`: their ignore files (a missing one lets
/// everything through) and, for a Cargo workspace, what its `metadata` says.
pub fn load_inputs(
    root: &Path,
    services: &[&Service],
    metadata: Option<&Metadata>,
) -> Result<Vec<ServiceInputs>> {
    services
        .iter()
        .map(|s| {
            let ignore_file = s.ignore_file();
            let ignore = match std::fs::read_to_string(root.join(&ignore_file)) {
                Ok(text) => IgnoreRules::parse(&text)
                    .with_context(|| format!("{}", ignore_file.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => IgnoreRules::default(),
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read {}", ignore_file.display()))
                }
            };
            Ok(ServiceInputs {
                name: s.name.clone(),
                dockerfile: slash(&s.dockerfile),
                ignore_file: slash(&ignore_file),
                context: match slash(&s.context).trim_end_matches('/') {
                    "" => ".".to_owned(),
                    c => c.to_owned(),
                },
                ignore,
                rust: metadata.and_then(|m| rust_inputs(root, m, s)),
            })
        })
        .collect()
}

/// A service is a Rust service when a workspace member is named like it (or its image).
fn rust_inputs(root: &Path, metadata: &Metadata, service: &Service) -> Option<RustInputs> {
    let package = metadata
        .workspace_packages()
        .find(|p| p.name == service.name || p.name == service.image_name())?;
    let relative = |p: &Path| -> Option<String> {
        let p = p.strip_prefix(root).ok()?;
        Some(slash(p))
    };
    let mut dirs = BTreeSet::new();
    let mut todo = path_dependencies(metadata, package);
    while let Some(p) = todo.pop() {
        let dir = p.manifest_path.parent()?.to_owned();
        if p.id != package.id && dirs.insert(dir) {
            todo.extend(path_dependencies(metadata, p));
        }
    }
    let workspace = metadata.workspace_root.as_path();
    Some(RustInputs {
        shared: ["Cargo.toml", "Cargo.lock"]
            .iter()
            .filter_map(|f| relative(&workspace.join(f)))
            .collect(),
        path_dependencies: dirs.iter().filter_map(|d| relative(d)).collect(),
    })
}

/// The packages `p` depends on by path, dev-dependencies left out (no image builds them).
fn path_dependencies<'m>(metadata: &'m Metadata, p: &Package) -> Vec<&'m Package> {
    p.dependencies
        .iter()
        .filter(|d| d.kind.as_deref() != Some("dev"))
        .filter_map(|d| d.path.as_ref())
        .filter_map(|dir| {
            metadata
                .packages
                .iter()
                .find(|q| q.manifest_path.parent() == Some(dir.as_path()))
        })
        .collect()
}

fn slash(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

/// The config file as a repository-relative path, to compare with changed files.
pub fn config_file(root: &Path, config: &Config) -> String {
    let p: PathBuf = config
        .path
        .strip_prefix(root)
        .map(Path::to_owned)
        .unwrap_or_else(|_| config.path.clone());
    slash(&p)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    const CONFIG: &str = "xtask/images.toml";

    fn service(name: &str, ignore: &str, rust: bool) -> ServiceInputs {
        ServiceInputs {
            name: name.into(),
            dockerfile: format!("xtask/docker/{name}.Dockerfile"),
            ignore_file: format!("xtask/docker/{name}.Dockerfile.dockerignore"),
            context: ".".into(),
            ignore: IgnoreRules::parse(ignore).unwrap(),
            rust: rust.then(|| RustInputs {
                shared: vec!["Cargo.toml".into(), "Cargo.lock".into()],
                path_dependencies: Vec::new(),
            }),
        }
    }

    fn repo_services() -> Vec<ServiceInputs> {
        vec![
            service(
                "api",
                "*\n!Cargo.toml\n!Cargo.lock\n!*/Cargo.toml\n!api/src\n**/target\n**/.env*\n",
                true,
            ),
            service(
                "web",
                "*\n!Cargo.toml\n!Cargo.lock\n!*/Cargo.toml\n!web/src\n!web/static\n",
                true,
            ),
            service("runner", "*\n!runner/tests\n", false),
        ]
    }

    pub fn since(files: &[&str]) -> Changes {
        Changes::Since {
            base: "origin/main".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    pub fn built(changes: &Changes, services: &[ServiceInputs]) -> Vec<String> {
        affected(services, changes, CONFIG)
            .into_iter()
            .filter(|(_, d)| matches!(d, Decision::Affected(_)))
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn a_source_change_affects_only_its_service() {
        let decisions = affected(
            &repo_services(),
            &since(&["api/src/main.rs", "README.md", "docs/a.md"]),
            CONFIG,
        );
        assert_eq!(
            decisions[0].1,
            Decision::Affected("api/src/main.rs changed".into())
        );
        assert_eq!(
            decisions[1].1,
            Decision::Skipped(
                "no input changed since origin/main (3 files changed, none in web's context)"
                    .into()
            )
        );
        assert!(matches!(decisions[2].1, Decision::Skipped(_)));
    }

    #[test]
    fn files_the_ignore_file_leaves_out_affect_nothing() {
        let s = repo_services();
        assert!(built(&since(&["api/tests/api.rs", "api/README.md"]), &s).is_empty());
        assert!(built(&since(&["api/src/target/x", "api/src/.env"]), &s).is_empty());
        assert_eq!(built(&since(&["runner/tests/a.spec.js"]), &s), ["runner"]);
    }

    #[test]
    fn dockerfile_and_ignore_file_are_inputs() {
        let s = repo_services();
        assert_eq!(built(&since(&["xtask/docker/web.Dockerfile"]), &s), ["web"]);
        assert_eq!(
            built(&since(&["xtask/docker/runner.Dockerfile.dockerignore"]), &s),
            ["runner"]
        );
    }

    #[test]
    fn workspace_manifests_affect_rust_services_only() {
        let s = repo_services();
        assert_eq!(built(&since(&["Cargo.lock"]), &s), ["api", "web"]);
        assert_eq!(
            built(&since(&["Cargo.toml", "api/src/a.rs"]), &s)[..],
            ["api", "web"]
        );
        let d = affected(&s, &since(&["Cargo.lock", "api/src/a.rs"]), CONFIG);
        assert_eq!(
            d[0].1,
            Decision::Affected("Cargo.lock and 1 more changed".into())
        );
    }

    #[test]
    fn a_path_dependency_affects_the_services_that_use_it() {
        let mut s = repo_services();
        s[0].rust
            .as_mut()
            .unwrap()
            .path_dependencies
            .push("libs/x".into());
        // libs/x is outside api's context filter, but api's crate depends on it.
        assert_eq!(built(&since(&["libs/x/src/lib.rs"]), &s), ["api"]);
        assert!(built(&since(&["libs/xy/src/lib.rs"]), &s).is_empty());
    }

    #[test]
    fn the_service_config_affects_everything() {
        let s = repo_services();
        assert_eq!(built(&since(&[CONFIG]), &s), ["api", "web", "runner"]);
        let d = affected(&s, &since(&[CONFIG]), CONFIG);
        assert_eq!(
            d[2].1,
            Decision::Affected("xtask/images.toml changed (the service config)".into())
        );
    }

    #[test]
    fn an_unknown_base_builds_everything_and_says_why() {
        let s = repo_services();
        let d = affected(
            &s,
            &Changes::Unknown {
                reason: "base `HEAD~1` is not in this clone".into(),
            },
            CONFIG,
        );
        assert!(d.iter().all(|(_, d)| *d
            == Decision::Affected(
                "base `HEAD~1` is not in this clone: building everything".into()
            )));
    }

    #[test]
    fn no_change_skips_everything() {
        let d = affected(&repo_services(), &since(&[]), CONFIG);
        assert_eq!(
            d[0].1,
            Decision::Skipped("no input changed since origin/main (no file changed)".into())
        );
    }

    #[test]
    fn a_subdirectory_context_is_matched_relative_to_itself() {
        let mut s = service("docs", "*.tmp\n", false);
        s.context = "docs".into();
        assert_eq!(built(&since(&["docs/index.md"]), &[s.clone()]), ["docs"]);
        assert!(built(&since(&["docs/x.tmp", "docsite/a.md", "a.md"]), &[s]).is_empty());
    }
}
