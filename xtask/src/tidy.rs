//! Tidy tests: checks of the repository itself, run with the unit tests.
//!
//! They keep promises that no compiler checks: every Dockerfile has its ignore file and no
//! `# syntax=` line (it pulls the frontend from Docker Hub and fails offline), every service
//! in the config points at files that exist, and the docs mention every subcommand.

use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::config::{Config, CONFIG_FILE};

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
