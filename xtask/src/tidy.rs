//! Tidy tests: checks of the repository itself, run with the unit tests.
//!
//! They keep promises that no compiler checks: every Dockerfile has its ignore file and no
//! `# syntax=` line (it pulls the frontend from Docker Hub and fails offline), every service
//! in the config points at files that exist, the docs mention every subcommand, and the CI
//! workflow does its image work only through `cargo xtask`, with actions pinned by commit.

use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::domain::config::{Config, CONFIG_FILE};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn dockerfiles() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("xtask/docker"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_dockerfile_has_its_ignore_file() {
    for f in dockerfiles() {
        let ignore = PathBuf::from(format!("{}.dockerignore", f.display()));
        assert!(
            ignore.exists(),
            "{} has no {}",
            f.display(),
            ignore.display()
        );
    }
}

#[test]
fn no_dockerfile_has_a_syntax_line() {
    for f in dockerfiles() {
        let text = fs::read_to_string(&f).unwrap();
        let bad = text.lines().any(|l| {
            l.trim_start()
                .trim_start_matches('#')
                .trim_start()
                .starts_with("syntax=")
        });
        assert!(
            !bad,
            "{} has a `# syntax=` line: it pulls from Docker Hub and fails offline",
            f.display()
        );
    }
}

#[test]
fn every_service_points_at_existing_files() {
    let config = Config::load(&root(), Path::new(CONFIG_FILE)).unwrap();
    for s in config.services.values() {
        assert!(
            root().join(&s.dockerfile).is_file(),
            "{}: {} is missing",
            s.name,
            s.dockerfile.display()
        );
        assert!(
            root().join(s.ignore_file()).is_file(),
            "{}: {} is missing",
            s.name,
            s.ignore_file().display()
        );
        assert!(
            root().join(&s.context).is_dir(),
            "{}: context {} is missing",
            s.name,
            s.context.display()
        );
    }
    let declared: Vec<PathBuf> = config
        .services
        .values()
        .map(|s| root().join(&s.dockerfile))
        .collect();
    for f in dockerfiles() {
        assert!(
            declared.contains(&f),
            "{} is not used by any service in {CONFIG_FILE}",
            f.display()
        );
    }
}

#[test]
fn docs_mention_every_subcommand() {
    let mut docs = fs::read_to_string(root().join("README.md")).unwrap();
    docs += &fs::read_to_string(root().join("CONTRIBUTING.md")).unwrap();
    for entry in fs::read_dir(root().join("docs")).unwrap() {
        docs += &fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    for sub in crate::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            docs.contains(&format!("cargo xtask {name}")),
            "no doc mentions `cargo xtask {name}`"
        );
    }
}

const WORKFLOW: &str = ".github/workflows/ci.yml";

fn workflow_steps() -> Vec<(String, yaml_serde::Value)> {
    let text = fs::read_to_string(root().join(WORKFLOW)).unwrap();
    let doc: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    let jobs = doc["jobs"].as_mapping().expect("the workflow has jobs");
    jobs.iter()
        .flat_map(|(name, job)| {
            let name = name.as_str().unwrap().to_owned();
            job["steps"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |step| (name.clone(), step))
        })
        .collect()
}

#[test]
fn workflow_builds_scans_verifies_and_pushes_only_through_cargo_xtask() {
    const IMAGE_WORK: [&str; 9] = [
        "docker build",
        "buildx",
        "trivy",
        "push",
        "verify",
        "docker login",
        "docker run",
        "cosign",
        "playwright",
    ];
    for (job, step) in workflow_steps() {
        let Some(run) = step["run"].as_str() else {
            continue;
        };
        for line in run.lines().map(str::trim) {
            let lower = line.to_lowercase();
            if IMAGE_WORK.iter().any(|w| lower.contains(w)) {
                assert!(
                    line.starts_with("cargo xtask "),
                    "{WORKFLOW}: job `{job}` runs `{line}`; image work goes through `cargo xtask` so that it runs the same locally"
                );
            }
        }
    }
}

#[test]
fn workflow_actions_are_pinned_by_commit() {
    for (job, step) in workflow_steps() {
        let Some(uses) = step["uses"].as_str() else {
            continue;
        };
        if uses.starts_with("./") {
            continue;
        }
        let pinned = uses.split_once('@').is_some_and(|(_, rev)| {
            rev.len() == 40
                && rev
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        });
        assert!(
            pinned,
            "{WORKFLOW}: job `{job}` uses `{uses}`; pin it to a full commit SHA with a `# vX.Y.Z` comment"
        );
    }
}

#[test]
fn workflow_never_interpolates_untrusted_input_into_scripts() {
    for (job, step) in workflow_steps() {
        let Some(run) = step["run"].as_str() else {
            continue;
        };
        assert!(
            !run.contains("${{"),
            "{WORKFLOW}: job `{job}` interpolates an expression into a script: pass it through `env:`\n{run}"
        );
    }
}

/// Validates the workflow against its JSON schema with `check-jsonschema` (offline: the
/// schema is built in). Skipped where it is not installed, except under `CI=true`, where
/// `cargo xtask engine up` installs it.
#[test]
fn workflow_matches_the_github_schema() {
    if which::which("check-jsonschema").is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but check-jsonschema is not installed: `cargo xtask engine up` installs it"
        );
        eprintln!("skipped: check-jsonschema is not installed (`pip install check-jsonschema`)");
        return;
    }
    let out = std::process::Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows", WORKFLOW])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{WORKFLOW} does not match the GitHub workflow schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
