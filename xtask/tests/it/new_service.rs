//! `cargo xtask new-service` as a new hire runs it, in a clone of this repository: every
//! piece is written, the rest of the toolkit sees the service, its crate is lint-clean and
//! builds `--locked` offline, and a second run is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// The tidy test's check of a service's pieces, run on the clone.
#[path = "../../src/tidy/pieces.rs"]
mod pieces;

/// `cargo xtask ARGS...` (the xtask under test) run in `dir`, as `cargo xtask` in that
/// checkout would.
fn xtask_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env_remove("XTASK_REGISTRY")
        .output()
        .expect("xtask runs")
}

/// `cargo ARGS...` in `dir`, building into the clone's own target dir (never this one's).
fn cargo_in(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("cargo runs")
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

fn git_status(dir: &Path) -> String {
    let o = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(dir)
        .output()
        .unwrap();
    ok(&o, "git status");
    stdout(&o)
}

/// A clone of this repository's HEAD, in a directory removed when the guard drops.
fn clone() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("repo");
    let o = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(root())
        .arg(&clone)
        .output()
        .unwrap();
    ok(&o, "git clone");
    (tmp, clone)
}

#[test]
fn a_new_service_is_complete_buildable_and_refused_twice() {
    let (_tmp, clone) = clone();

    // --dry-run names every file and changes none.
    let o = xtask_in(&clone, &["new-service", "worker", "--dry-run", "--json"]);
    ok(&o, "new-service --dry-run");
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let created: Vec<&str> = plan["create"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let pieces = [
        "worker/Cargo.toml",
        "worker/src/main.rs",
        "xtask/docker/worker.Dockerfile",
        "xtask/docker/worker.Dockerfile.dockerignore",
    ];
    assert_eq!(created, pieces);
    assert_eq!(
        plan["edit"],
        serde_json::json!(["Cargo.toml", "xtask/images.toml", "Cargo.lock"])
    );
    assert_eq!(git_status(&clone), "", "--dry-run changed the clone");

    let o = xtask_in(&clone, &["new-service", "worker"]);
    ok(&o, "new-service worker");
    for piece in pieces {
        assert!(clone.join(piece).is_file(), "{piece} was not written");
    }
    let manifest = std::fs::read_to_string(clone.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("# `cargo xtask` is compiled on every fresh clone"),
        "the root manifest's comments are kept:\n{manifest}"
    );
    let config = std::fs::read_to_string(clone.join("xtask/images.toml")).unwrap();
    assert!(
        config.starts_with("# The services this workspace ships as container images")
            && config.contains("\n[services.worker]\n"),
        "{config}"
    );

    // Cargo sees the member, and its lock file already has it.
    let o = cargo_in(
        &clone,
        &[
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
            "--locked",
        ],
    );
    ok(&o, "cargo metadata --locked");
    let metadata: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let members: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(members.contains(&"worker"), "{members:?}");

    // The toolkit plans it like every other service.
    let o = xtask_in(
        &clone,
        &[
            "build",
            "--dry-run",
            "--json",
            "--builder-inspect",
            "xtask/tests/fixtures/buildx/docker.txt",
        ],
    );
    ok(&o, "build --dry-run");
    let build: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let planned: Vec<&str> = build["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(planned.contains(&"worker"), "{planned:?}");
    let worker = build["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "worker")
        .unwrap();
    assert!(
        worker["argv"]
            .to_string()
            .contains("xtask/docker/worker.Dockerfile"),
        "{worker}"
    );

    // The tidy test's check passes for it.
    let missing = pieces::missing_pieces(&clone);
    assert!(missing.is_empty(), "{missing:#?}");

    // The crate is formatted, lint-clean and builds --locked offline.
    let o = cargo_in(&clone, &["fmt", "-p", "worker", "--check"]);
    ok(&o, "cargo fmt -p worker --check");
    let started = Instant::now();
    let o = cargo_in(
        &clone,
        &[
            "clippy",
            "-p",
            "worker",
            "--all-targets",
            "--offline",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    );
    ok(&o, "cargo clippy -p worker -- -D warnings");
    eprintln!("cargo clippy -p worker: {:?}", started.elapsed());

    // A second run is bad input, and changes nothing.
    let before = git_status(&clone);
    let o = xtask_in(&clone, &["new-service", "worker"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`worker` is already a service in xtask/images.toml"),
        "{}",
        stderr(&o)
    );
    assert_eq!(git_status(&clone), before);
}

#[test]
fn a_name_that_is_not_a_service_name_is_bad_input() {
    let o = xtask(&["new-service", "Billing Worker", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not a service name"),
        "{}",
        stderr(&o)
    );
}

/// Image tags removed when dropped, even when the test fails.
struct Tags(Vec<String>);

impl Drop for Tags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = docker(&["rmi", tag]);
        }
    }
}

/// The generated worker's image builds, runs healthy as a non-root user under the hardened
/// options with no port to probe, and stops at once on `docker stop`'s SIGTERM: as PID 1 it
/// handles the signal (without a handler docker would wait 10 s and SIGKILL it).
#[test]
fn the_generated_worker_runs_healthy_when_hardened_and_stops_on_sigterm() {
    if !engine_available() {
        return;
    }
    let (_tmp, clone) = clone();
    ok(&xtask_in(&clone, &["new-service", "worker"]), "new-service");
    let ns = "xtask-new-service";
    let started = Instant::now();
    let o = xtask_in(&clone, &["build", "--registry", ns, "--json", "worker"]);
    ok(&o, "build worker");
    eprintln!("build worker: {:?}", started.elapsed());
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let worker = &report["services"][0];
    assert_eq!(worker["result"], "built", "{worker}");
    let _tags = Tags(
        worker["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{ns}/worker:{}", t.as_str().unwrap()))
            .collect(),
    );
    let id = worker["image_id"].as_str().unwrap();
    let c = Container::run(&[
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        id,
    ]);
    c.wait_healthy(Duration::from_secs(60));
    let uids = process_uids(&c.0);
    assert!(
        !uids.is_empty() && uids.iter().all(|u| u != "0"),
        "worker runs as {uids:?}"
    );
    let stopping = Instant::now();
    docker_ok(&["stop", &c.0]);
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(5), "docker stop took {took:?}");
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &c.0]),
        "0",
        "the worker exits cleanly on SIGTERM"
    );
}
