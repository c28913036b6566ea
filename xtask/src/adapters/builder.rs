//! Asking the engine which BuildKit builder it has (`docker buildx inspect`, and for the
//! `docker` driver `docker info`), or reading a recorded answer, into a [`Builder`]
//! (domain/builder.rs).
//!
//! A recording is a `docker buildx inspect` output (for the `docker` driver, followed by
//! `docker info --format '{{json .DriverStatus}}'`), so a plan for a remote or kubernetes
//! builder can be made and tested on a machine that has none.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::adapters::endpoint;
use crate::adapters::exec::{self, Command, EnvironmentError, TimedOut};
use crate::adapters::verdicts::write_atomically;
use crate::domain::builder::{self, Builder};
use crate::domain::env::Env;
use crate::domain::plan::TARGET_DIR;

/// How long `docker buildx inspect` may take to answer (a remote or kubernetes builder is
/// asked over the network).
const INSPECT_TIMEOUT: Duration = Duration::from_secs(60);
/// `docker info` asks the local daemon only.
const INFO_TIMEOUT: Duration = Duration::from_secs(20);

impl Builder {
    /// Inspects `name` (or the current builder).
    pub fn detect(name: Option<&str>) -> Result<Builder> {
        detect_recording(name).map(|(builder, _)| builder)
    }

    /// Reads a recorded `docker buildx inspect` output (see [`Builder::parse_recording`]).
    pub fn from_recording(path: &Path) -> Result<Builder> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the recorded builder {}", path.display()))
            .map_err(exec::usage)?;
        Builder::parse_recording(&text)
            .with_context(|| format!("{} is not a `docker buildx inspect` output", path.display()))
            .map_err(exec::usage)
    }
}

/// Inspects `name` (or the current builder): the builder, and its answer as a recording
/// that [`Builder::parse_recording`] reads back.
pub fn detect_recording(name: Option<&str>) -> Result<(Builder, String)> {
    if exec::find("docker").is_none() {
        return Err(EnvironmentError::new(
            "docker is not installed: install Docker (with the buildx plugin), or on a Debian machine run `cargo xtask engine up`",
        ));
    }
    let inspect = Command::new("docker")
        .args(["buildx", "inspect"])
        .args(name)
        .timeout(INSPECT_TIMEOUT);
    // The docker driver also needs `docker info` (whether images go to the containerd
    // store). For the current builder, usually the docker driver, it is asked at the same
    // time as the inspect, so a build waits for the slower of the two, not both; its answer
    // is unused for another driver. A named builder is inspected first.
    let info = Command::new("docker")
        .args(["info", "--format", "{{json .DriverStatus}}"])
        .timeout(INFO_TIMEOUT);
    let (out, early_info) = std::thread::scope(|s| {
        let early = name.is_none().then(|| s.spawn(|| exec::read(&info)));
        let out = exec::output(&inspect);
        (out, early.map(|h| h.join().expect("docker info panicked")))
    });
    let out = match out {
        Ok(out) => out,
        Err(e) if e.downcast_ref::<TimedOut>().is_some() => {
            return Err(EnvironmentError::new(format!(
                "{e}: the builder does not answer; `docker buildx ls` lists the builders"
            )))
        }
        Err(e) => return Err(e),
    };
    if !out.success {
        return Err(inspect_failure(name, out.stderr.trim()));
    }
    if let Some(error) = unanswered(&out.stdout) {
        return Err(inspect_failure(name, error));
    }
    let mut builder = Builder::parse_inspect(&out.stdout)?;
    let mut recording = out.stdout;
    if builder.driver == "docker" {
        let status = early_info
            .unwrap_or_else(|| exec::read(&info))
            .unwrap_or_default();
        builder.containerd_store = builder::uses_containerd_store(&status);
        recording = format!("{}\n{status}\n", recording.trim_end());
    }
    Ok((builder, recording))
}

/// Where a build keeps the recording of the builder it detected, for the next build to plan
/// with (commands/build.rs): `builder.txt` for the current builder, `builder.<name>.txt`
/// for a named one.
fn remembered_path(root: &Path, name: Option<&str>) -> PathBuf {
    let file = match name {
        None => "builder.txt".to_owned(),
        Some(name) => {
            let name: String = name
                .chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                    _ => '_',
                })
                .collect();
            format!("builder.{name}.txt")
        }
    };
    root.join(TARGET_DIR).join("build").join(file)
}

/// Which docker answered: the client on PATH and the variables that choose its daemon,
/// context, configuration and builder. A remembered builder is only one of the same client
/// (a docker stand-in on PATH, as the tests put there, or another context is another one).
fn client(env: &Env) -> String {
    let docker = exec::find("docker").map_or(String::new(), |p| p.display().to_string());
    let vars = [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_CONFIG",
        "BUILDX_BUILDER",
    ]
    .map(|v| format!("{v}={}", env.get(v).unwrap_or_default()));
    format!("# asked {docker} with {}", vars.join(" "))
}

/// The builder the last build detected for `name` with this docker client, if it left a
/// readable recording.
pub fn remembered(root: &Path, env: &Env, name: Option<&str>) -> Option<Builder> {
    let text = std::fs::read_to_string(remembered_path(root, name)).ok()?;
    let (asked, recording) = text.split_once('\n')?;
    if asked != client(env) {
        return None;
    }
    Builder::parse_recording(recording).ok()
}

/// Keeps `recording` (from [`detect_recording`]) for the next build. Best effort: without
/// it the next build waits for the builder's answer, as the first one did.
pub fn remember(root: &Path, env: &Env, name: Option<&str>, recording: &str) {
    let path = remembered_path(root, name);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = write_atomically(&path, &format!("{}\n{recording}", client(env)));
}

/// The `Error:` of an inspect whose engine did not answer: buildx still exits 0 then, with
/// no driver.
fn unanswered(stdout: &str) -> Option<&str> {
    let driver = stdout.lines().any(|l| {
        l.strip_prefix("Driver:")
            .is_some_and(|d| !d.trim().is_empty())
    });
    let error = stdout.lines().find_map(|l| l.strip_prefix("Error:"))?;
    (!driver).then(|| error.trim())
}

fn inspect_failure(name: Option<&str>, stderr: &str) -> anyhow::Error {
    let unreachable = stderr.contains("Cannot connect to the Docker daemon")
        || stderr.contains("daemon running")
        || stderr.contains("error during connect");
    if let Some(why) = unreachable
        .then(|| endpoint::not_answering(stderr))
        .flatten()
    {
        return EnvironmentError::new(why);
    }
    if unreachable {
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
mod tests {
    use super::*;
    use crate::domain::builder::tests::{recorded, DOCKER_CONTAINERD, DOCKER_DRIVER};

    #[test]
    fn a_remembered_builder_reads_back_per_builder_name_and_client() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let env = Env::default();
        assert_eq!(remembered(root, &env, None), None);
        remember(root, &env, None, DOCKER_CONTAINERD);
        remember(root, &env, Some("../odd name"), DOCKER_DRIVER);
        assert_eq!(
            remembered(root, &env, None),
            Some(recorded(DOCKER_CONTAINERD))
        );
        assert!(remembered(root, &env, None).unwrap().containerd_store);
        assert_eq!(
            remembered(root, &env, Some("../odd name")),
            Some(recorded(DOCKER_DRIVER))
        );
        assert_eq!(remembered(root, &env, Some("other")), None);
        // Another context (or daemon, or client) is another builder's answer.
        let other: Env = [("DOCKER_CONTEXT", "xtask-modern")].into_iter().collect();
        assert_eq!(remembered(root, &other, None), None);
        // Every name stays a file of target/xtask/build.
        let mut files: Vec<_> = std::fs::read_dir(root.join(TARGET_DIR).join("build"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["builder.___odd_name.txt", "builder.txt"]);
        // A recording that no longer parses is no remembered builder.
        remember(root, &env, None, "garbage");
        assert_eq!(remembered(root, &env, None), None);
    }

    #[test]
    fn an_inspect_without_a_driver_is_the_engine_not_answering() {
        let down = "Name:          default\nDriver:        \nLast Activity: 2026-12-04 19:04:39 +0000 UTC\n\
                    Error:         Cannot connect to the Docker daemon at unix:///tmp/x.sock. Is the docker daemon running?\n";
        assert_eq!(
            unanswered(down),
            Some("Cannot connect to the Docker daemon at unix:///tmp/x.sock. Is the docker daemon running?")
        );
        assert_eq!(unanswered(DOCKER_DRIVER), None);
        let e = inspect_failure(None, unanswered(down).unwrap());
        assert!(e.downcast_ref::<EnvironmentError>().is_some());
    }

    #[test]
    fn daemon_down_is_an_environment_error() {
        let e = inspect_failure(None, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?");
        assert!(e.downcast_ref::<EnvironmentError>().is_some());
        assert!(e.to_string().contains("engine up"));
    }
}
