//! Shared helpers for the CLI tests: run `cargo xtask` as a user does, and gate the tests
//! that need a real Docker engine.
#![allow(dead_code)] // each test file uses a different part of this module

pub mod fixture;
pub mod registry;
pub mod trivy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The services `xtask/images.toml` declares, by name (the order every command lists them
/// in), and whether each must be health-checked: the tests that cover every service derive
/// the list from the config, so a new service is covered without editing them.
pub fn configured_services() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(root().join("xtask/images.toml")).unwrap();
    let config: toml::Table = toml::from_str(&text).unwrap();
    config["services"]
        .as_table()
        .expect("xtask/images.toml declares [services.<name>]")
        .iter()
        .map(|(name, s)| {
            let healthcheck = s
                .get("healthcheck")
                .is_none_or(|h| h.as_bool() == Some(true));
            (name.clone(), healthcheck)
        })
        .collect()
}

/// The names of the services `xtask/images.toml` declares, sorted.
pub fn services() -> Vec<String> {
    configured_services().into_iter().map(|(n, _)| n).collect()
}

/// The services that must run healthy (`healthcheck`, true unless the config says false).
pub fn health_checked_services() -> Vec<String> {
    configured_services()
        .into_iter()
        .filter_map(|(n, h)| h.then_some(n))
        .collect()
}

/// A turn for the tests that build, scan, verify or run the repository's own services (and
/// `ci`, which does all of it): they share the images' tags and the files `build`, `scan` and
/// `e2e` write under target/xtask (`build/<service>.iid`, `scan/<service>.verdict.json`,
/// `e2e/junit.xml`), so in one test process they take turns. A test that panicked while
/// holding it does not stop the others.
pub fn repository_images() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `cargo xtask ARGS...`, from the workspace root.
pub fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("xtask runs")
}

/// `cargo xtask ARGS...` with extra environment variables; GitHub Actions' own are removed
/// so a test run inside Actions behaves like one on a laptop unless a test sets them.
pub fn xtask_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args).current_dir(root());
    for key in [
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "XTASK_REGISTRY",
        "XTASK_SCAN_REPLAY",
        "XTASK_ALLOW_REPLAYED_SCAN",
    ] {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("xtask runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// True when a Docker engine answers. When it does not, a plain `cargo test` skips the test,
/// but it FAILS under `CI=true` and under `cargo xtask test` (which provisions the engine and
/// sets `XTASK_REQUIRE_ENGINE=1`): there the engine's absence is a defect, not a reason to skip.
pub fn engine_available() -> bool {
    let up = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        let required = std::env::var("CI").as_deref() == Ok("true")
            || std::env::var_os("XTASK_REQUIRE_ENGINE").is_some_and(|v| v == "1");
        assert!(
            !required,
            "CI=true or XTASK_REQUIRE_ENGINE=1, but no Docker engine is reachable: \
             `cargo xtask engine up` provisions one"
        );
        eprintln!(
            "skipped: no Docker engine is reachable (`cargo xtask engine up` provisions one)"
        );
    }
    up
}

/// The docker context of the modern engine (`cargo xtask engine up --engine modern`).
pub const MODERN_CONTEXT: &str = "xtask-modern";

/// True when the modern engine answers through its context with the containerd image store.
/// Like [`engine_available`]: a plain `cargo test` without it skips, but under `CI=true` or
/// `XTASK_REQUIRE_MODERN_ENGINE=1` (set by `cargo xtask test` once it provisioned the modern
/// engine) its absence FAILS the test.
pub fn modern_engine_available() -> bool {
    let info = Command::new("docker")
        .args([
            "--context",
            MODERN_CONTEXT,
            "info",
            "--format",
            "{{json .DriverStatus}}",
        ])
        .env_remove("DOCKER_HOST")
        .output();
    let up = info.as_ref().is_ok_and(|o| {
        o.status.success()
            && String::from_utf8_lossy(&o.stdout).contains("io.containerd.snapshotter")
    });
    if !up {
        let why = match &info {
            Ok(o) if o.status.success() => "it does not use the containerd image store".to_owned(),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        };
        let required = std::env::var("CI").as_deref() == Ok("true")
            || std::env::var_os("XTASK_REQUIRE_MODERN_ENGINE").is_some_and(|v| v == "1");
        assert!(
            !required,
            "CI=true or XTASK_REQUIRE_MODERN_ENGINE=1, but the modern engine (docker context \
             {MODERN_CONTEXT}) does not answer ({why}): `cargo xtask engine up --engine modern` \
             provisions it"
        );
        eprintln!(
            "skipped: the modern engine (docker context {MODERN_CONTEXT}) does not answer ({why}); \
             `cargo xtask engine up --engine modern` provisions it"
        );
    }
    up
}

/// `docker --context xtask-modern ARGS...`.
pub fn modern_docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(["--context", MODERN_CONTEXT])
        .args(args)
        .env_remove("DOCKER_HOST")
        .output()
        .expect("docker runs")
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

/// `docker ARGS...` that must succeed; returns its trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(o.status.success(), "docker {args:?} failed: {}", stderr(&o));
    stdout(&o).trim().to_owned()
}

/// The uids the processes of a running container run as, read from the host (`docker top`):
/// no shell or `id` needed inside, which a distroless image does not have.
pub fn process_uids(container: &str) -> Vec<String> {
    docker_ok(&["top", container, "-o", "pid,uid"])
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

/// A container removed when dropped, even when the test fails.
pub struct Container(pub String);

impl Container {
    pub fn run(args: &[&str]) -> Container {
        let mut full = vec!["run", "-d"];
        full.extend_from_slice(args);
        Container(docker_ok(&full))
    }

    /// Waits for Docker's health status to become `healthy`; panics with the last state.
    pub fn wait_healthy(&self, timeout: Duration) {
        let started = Instant::now();
        loop {
            let status = docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", &self.0]);
            if status == "healthy" {
                return;
            }
            if started.elapsed() > timeout {
                let logs = docker(&["logs", &self.0]);
                panic!(
                    "container not healthy after {timeout:?} (status {status}); logs:\n{}{}",
                    stdout(&logs),
                    stderr(&logs)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// The commit id as this repository's tags name it now: the short id, `<7>-dirty` when
/// tracked files have uncommitted changes (decided as adapters/git.rs decides it), so the
/// tests of the repository's own images hold on a contributor's tree too.
pub fn revision() -> String {
    let o = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(root())
        .output()
        .unwrap();
    let dirty = if o.stdout.is_empty() { "" } else { "-dirty" };
    format!("{}{dirty}", &git_head()[..7])
}

/// Git's environment for a view of this repository as committed: its own refs and objects
/// (so the same commit, branch and tags), with an index and a work tree of HEAD kept under
/// target/xtask/it. For the tests whose images never come from the repository's files
/// (fixture services, stand-in engines): a contributor's uncommitted changes would
/// otherwise make their builds dirty, with other tags and push refused.
pub fn committed_head_env() -> &'static [(&'static str, String)] {
    static ENV: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    ENV.get_or_init(|| {
        let git = |args: &[&str], env: &[(&str, &Path)]| {
            let o = Command::new("git")
                .args(args)
                .envs(env.iter().copied())
                .current_dir(root())
                .output()
                .unwrap();
            assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
            o.stdout
        };
        let head = git_head();
        let git_dir = String::from_utf8(git(&["rev-parse", "--absolute-git-dir"], &[])).unwrap();
        let dir = root().join(format!("target/xtask/it/head-{head}"));
        let (tree, index) = (dir.join("tree"), dir.join("index"));
        if !index.is_file() {
            // Made aside and renamed, so a test process running beside this one never
            // sees half of it.
            let part = root().join(format!(
                "target/xtask/it/head-{head}.{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&part);
            std::fs::create_dir_all(part.join("tree")).unwrap();
            let archive = git(&["archive", "--format=tar", "HEAD"], &[]);
            tar::Archive::new(&archive[..])
                .unpack(part.join("tree"))
                .unwrap();
            let env = [
                ("GIT_INDEX_FILE", part.join("index")),
                ("GIT_WORK_TREE", part.join("tree")),
            ];
            let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
            git(&["read-tree", "HEAD"], &env);
            git(&["update-index", "-q", "--refresh"], &env);
            if std::fs::rename(&part, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&part); // another process made it first
            }
        }
        vec![
            ("GIT_DIR", git_dir.trim().to_owned()),
            ("GIT_WORK_TREE", tree.display().to_string()),
            ("GIT_INDEX_FILE", index.display().to_string()),
        ]
    })
}

pub fn git_head() -> String {
    let o = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// The first service's planned commands in a `push`/`sign`/`promote --dry-run --json` plan,
/// each as one line.
pub fn plan_steps(plan: &serde_json::Value) -> Vec<String> {
    plan["services"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let argv = s["argv"].as_array().unwrap();
            argv.iter()
                .map(|a| a.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}
