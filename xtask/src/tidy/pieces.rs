//! Whether every service of a checkout has all its pieces: its `[services.NAME]` entry in
//! `xtask/images.toml`, its Dockerfile and the `.dockerignore` beside it, and for a Rust
//! service (its Dockerfile builds the crate: `cargo build -p CRATE`, or a workspace build that
//! copies `target/release/CRATE` out) the crate, listed in the workspace members; and whether
//! every workspace member with a Dockerfile has its entry.
//!
//! The tidy test runs it on this repository; `tests/it/new_service.rs` includes this file by
//! path and runs it on a clone after `cargo xtask new-service`. So it reads files only, and
//! uses nothing but std and toml.

use std::collections::BTreeSet;
use std::path::Path;

/// Every missing piece of the checkout at `root`, one line each naming the fix.
pub fn missing_pieces(root: &Path) -> Vec<String> {
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_default();
    let table = |path: &str| -> toml::Table { toml::from_str(&read(path)).unwrap_or_default() };
    let config = "xtask/images.toml";
    let services = table(config)
        .get("services")
        .and_then(|s| s.as_table())
        .cloned()
        .unwrap_or_default();
    let members: Vec<String> = table("Cargo.toml")
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|m| {
            m.iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // Package name -> member directory.
    let packages: Vec<(String, String)> = members
        .iter()
        .filter_map(|dir| {
            let manifest = table(&format!("{dir}/Cargo.toml"));
            let name = manifest.get("package")?.get("name")?.as_str()?.to_owned();
            Some((name, dir.clone()))
        })
        .collect();

    let mut missing = Vec::new();
    for (name, service) in &services {
        let Some(dockerfile) = service.get("dockerfile").and_then(|d| d.as_str()) else {
            missing.push(format!(
                "[services.{name}] in {config} names no dockerfile: add \
                 `dockerfile = \"xtask/docker/{name}.Dockerfile\"`"
            ));
            continue;
        };
        if !root.join(dockerfile).is_file() {
            missing.push(format!(
                "[services.{name}] in {config} names {dockerfile}, which is missing: write it \
                 (xtask/docker/templates/worker.Dockerfile is what `cargo xtask new-service` \
                 starts from) or remove the entry"
            ));
            continue;
        }
        let ignore = format!("{dockerfile}.dockerignore");
        if !root.join(&ignore).is_file() {
            missing.push(format!(
                "service `{name}`: {ignore} is missing beside its Dockerfile: write one that \
                 sends only what the build reads (as xtask/docker/templates/\
                 worker.Dockerfile.dockerignore does)"
            ));
        }
        for krate in cargo_packages(&read(dockerfile)) {
            if packages.iter().any(|(p, _)| *p == krate) {
                continue;
            }
            if root.join(&krate).join("Cargo.toml").is_file() {
                missing.push(format!(
                    "service `{name}`: {dockerfile} builds the crate `{krate}`, which is not a \
                     workspace member: add \"{krate}\" to [workspace] members in Cargo.toml"
                ));
            } else {
                missing.push(format!(
                    "service `{name}`: {dockerfile} builds the crate `{krate}`, but there is no \
                     {krate}/Cargo.toml: create the crate and add it to [workspace] members \
                     (`cargo xtask new-service NAME` writes every piece of a new service)"
                ));
            }
        }
    }
    for dir in &members {
        let dockerfile = format!("xtask/docker/{dir}.Dockerfile");
        if root.join(&dockerfile).is_file() && !services.contains_key(dir) {
            missing.push(format!(
                "workspace member `{dir}` has {dockerfile} but no [services.{dir}] in {config}: \
                 add it (xtask/docker/templates/service.toml is the entry `cargo xtask \
                 new-service` writes)"
            ));
        }
    }
    missing
}

/// The crates a Dockerfile builds: the `-p`/`--package` arguments of its `cargo build`s, and
/// the binaries it takes out of `target/release/` (a workspace build names no package).
fn cargo_packages(dockerfile: &str) -> BTreeSet<String> {
    let words: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .collect();
    let mut found = BTreeSet::new();
    let mut in_build = false;
    for pair in words.windows(2) {
        match pair {
            ["cargo", "build"] => in_build = true,
            [_, "&&" | ";" | "RUN"] => in_build = false,
            ["-p" | "--package", krate] if in_build => {
                found.insert(krate.trim_end_matches([';', '\\']).to_owned());
            }
            _ => {}
        }
        if let Some(krate) = pair[0].strip_prefix("--package=").filter(|_| in_build) {
            found.insert(krate.to_owned());
        }
        if let Some(binary) = pair[0].strip_prefix("target/release/") {
            found.insert(binary.trim_end_matches([';', '\\']).to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crates_a_dockerfile_builds_are_its_cargo_build_packages() {
        let text = "RUN cargo fetch --locked\nRUN cargo build --release --locked -p api\n\
                    # cargo build -p not-this\n\
                    RUN touch x && cargo build --package=web \\\n && cp a b\n\
                    RUN apt-get install -p nope\n\
                    RUN cargo build --workspace --exclude xtask && cp target/release/worker /w\n";
        assert_eq!(
            cargo_packages(text).into_iter().collect::<Vec<_>>(),
            ["api", "web", "worker"]
        );
    }
}
