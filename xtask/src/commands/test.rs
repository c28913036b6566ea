//! `cargo xtask test`: provision the engines, run the workspace's tests with the engine
//! required, then the integration tests again on the modern engine (Docker 26, containerd
//! image store: cache export, attestations, two platforms), and leave no image tags behind:
//! every tag that appeared under the tests' namespaces in either engine while they ran is
//! removed afterwards, whether they passed or not, and one that cannot be removed fails the
//! run. Tags elsewhere (a build of your own meanwhile) are left alone.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::adapters::exec::{self, Command, Stdin};
use crate::adapters::workspace::{repo_root, Workspace};
use crate::adapters::{endpoint, engine};
use crate::domain::outcome::Outcome;

/// `cargo test` of the whole workspace; the engine was just provisioned, so a test that
/// finds none fails instead of skipping. `modern`: the modern engine was provisioned too, so
/// its tests are required as well.
pub fn test_command(cargo: &str, args: &[String], modern: bool) -> Command {
    let cmd = Command::new(cargo)
        .args(["test", "--workspace", "--locked"])
        .args(args.iter().cloned())
        .env("XTASK_REQUIRE_ENGINE", "1")
        .dir(repo_root())
        .stdin(Stdin::Inherit);
    if modern {
        cmd.env("XTASK_REQUIRE_MODERN_ENGINE", "1")
    } else {
        cmd
    }
}

pub fn run(ws: &Workspace, args: &[String]) -> Result<Outcome> {
    let project = &ws.config.project.name;
    engine::run("up")?;
    // The modern engine (Docker 26, containerd image store) can be provisioned on Debian
    // only; elsewhere its tests are skipped, and said so, rather than failing the suite.
    // With arm64 emulation and an arm64 base: the multi-platform tests build for both.
    let modern = match engine::run_with(&["up", "--engine", "modern", "--platforms", "linux/arm64"])
    {
        Ok(()) => true,
        Err(e) => {
            eprintln!("note: no modern engine here ({e:#}); its tests are skipped");
            false
        }
    };
    let before = image_tags(None)?;
    let mut passed = exec::status(&test_command(env!("CARGO"), args, modern))?;
    let mut left = remove_created(&before, None, project)?;
    if modern {
        let host = endpoint::context_host(engine::MODERN_CONTEXT)?;
        eprintln!("the integration tests again, on the modern engine ({host})");
        let before = image_tags(Some(&host))?;
        passed &= exec::status(&modern_command(env!("CARGO"), args, &host))?;
        left.extend(remove_created(&before, Some(&host), project)?);
    }
    Ok(if !passed {
        Outcome::Failed("tests failed".into())
    } else {
        Outcome::failed_if(!left.is_empty(), || {
            format!("the tests left image tags behind: {}", left.join(", "))
        })
    })
}

/// The integration tests (the ones that use an engine) on the engine at `host`.
pub fn modern_command(cargo: &str, args: &[String], host: &str) -> Command {
    Command::new(cargo)
        .args(["test", "--locked", "--package", "xtask", "--test", "it"])
        .args(args.iter().cloned())
        .env("XTASK_REQUIRE_ENGINE", "1")
        .env("XTASK_REQUIRE_MODERN_ENGINE", "1")
        .env("DOCKER_HOST", host)
        .dir(repo_root())
        .stdin(Stdin::Inherit)
}

/// Untags what the tests created in the engine at `host` (docker's default: `None`) since
/// `before`; returns the tags that could not be removed.
fn remove_created(
    before: &BTreeSet<String>,
    host: Option<&str>,
    project: &str,
) -> Result<Vec<String>> {
    let created = from_tests(appeared(before, &image_tags(host)?), project);
    for chunk in created.chunks(50) {
        // Untag only: an image still used by a container stays, without the test's tag.
        let _ = exec::quiet(&on(host, untag(chunk)));
    }
    let left = from_tests(appeared(before, &image_tags(host)?), project);
    if !created.is_empty() {
        eprintln!(
            "removed {} image tag(s) the tests created",
            created.len() - left.len()
        );
    }
    Ok(left)
}

/// `cmd`, talking to the engine at `host` when one is named.
fn on(host: Option<&str>, cmd: Command) -> Command {
    match host {
        Some(h) => cmd.env("DOCKER_HOST", h),
        None => cmd,
    }
}

fn untag(tags: &[String]) -> Command {
    Command::new("docker")
        .args(["image", "rm", "--force", "--no-prune"])
        .args(tags.iter().cloned())
        .timeout(Duration::from_secs(120))
}

/// Every `repository:tag` in the engine (dangling images have none).
fn image_tags(host: Option<&str>) -> Result<BTreeSet<String>> {
    let list = on(
        host,
        Command::new("docker")
            .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
            .timeout(Duration::from_secs(60)),
    );
    let out = exec::read(&list).context("listing the engine's image tags")?;
    Ok(out
        .lines()
        .filter(|t| !t.contains("<none>"))
        .map(str::to_owned)
        .collect())
}

/// The namespaces the tests name their images under: the repository's own (`[project]
/// name`), the tests' fixtures (`xtask-...`), and the throwaway registries they start on
/// loopback ports (not the long-lived local registry on 127.0.0.1:5000).
fn from_tests(tags: Vec<String>, project: &str) -> Vec<String> {
    let own = format!("{project}/");
    tags.into_iter()
        .filter(|t| {
            t.starts_with("xtask-")
                || t.starts_with(&own)
                || (t.starts_with("127.0.0.1:") && !t.starts_with("127.0.0.1:5000/"))
        })
        .collect()
}

/// The tags in `after` that were not in `before`.
pub fn appeared(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<String> {
    after.difference(before).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(tags: &[&str]) -> BTreeSet<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn only_tags_that_appeared_during_the_run_are_removed() {
        let before = set(&["debian:bookworm-slim", "shipyard/api:latest"]);
        let after = set(&[
            "debian:bookworm-slim",
            "shipyard/api:latest",
            "xtask-vp/vp-good:main-20261203-180239",
            "127.0.0.1:5123/acme/api:sha-2809e91",
        ]);
        assert_eq!(
            appeared(&before, &after),
            [
                "127.0.0.1:5123/acme/api:sha-2809e91",
                "xtask-vp/vp-good:main-20261203-180239"
            ]
        );
        let mut after = after;
        after.insert("my-own/build:wip".into());
        after.insert("127.0.0.1:5000/acme/api:v1".into());
        assert_eq!(from_tests(appeared(&before, &after), "shipyard").len(), 2);
        assert_eq!(untag(&from_tests(appeared(&before, &after), "shipyard")).shell(), "docker image rm --force --no-prune 127.0.0.1:5123/acme/api:sha-2809e91 xtask-vp/vp-good:main-20261203-180239");
    }

    #[test]
    fn the_suite_runs_with_the_engine_required() {
        let args = ["--".into(), "--nocapture".into()];
        assert_eq!(
            test_command("cargo", &args, false).to_string(),
            "XTASK_REQUIRE_ENGINE=1 cargo test --workspace --locked -- --nocapture"
        );
        assert_eq!(
            test_command("cargo", &args, true).to_string(),
            "XTASK_REQUIRE_ENGINE=1 XTASK_REQUIRE_MODERN_ENGINE=1 cargo test --workspace --locked \
             -- --nocapture"
        );
        assert_eq!(
            modern_command("cargo", &args, "unix:///e/docker.sock").to_string(),
            "XTASK_REQUIRE_ENGINE=1 XTASK_REQUIRE_MODERN_ENGINE=1 DOCKER_HOST=unix:///e/docker.sock \
             cargo test --locked --package xtask --test it -- --nocapture"
        );
    }
}
