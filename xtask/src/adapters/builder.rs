//! Asking the engine which BuildKit builder it has (`docker buildx inspect`, and for the
//! `docker` driver `docker info`), or reading a recorded answer, into a [`Builder`]
//! (domain/builder.rs).
//!
//! A recording is a `docker buildx inspect` output (for the `docker` driver, followed by
//! `docker info --format '{{json .DriverStatus}}'`), so a plan for a remote or kubernetes
//! builder can be made and tested on a machine that has none.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::adapters::exec::{self, Command, EnvironmentError, TimedOut};
use crate::domain::builder::{self, Builder};

/// How long `docker buildx inspect` may take to answer (a remote or kubernetes builder is
/// asked over the network).
const INSPECT_TIMEOUT: Duration = Duration::from_secs(60);
/// `docker info` asks the local daemon only.
const INFO_TIMEOUT: Duration = Duration::from_secs(20);

impl Builder {
    /// Inspects `name` (or the current builder).
    pub fn detect(name: Option<&str>) -> Result<Builder> {
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
        let mut builder = Builder::parse_inspect(&out.stdout)?;
        if builder.driver == "docker" {
            let status = early_info
                .unwrap_or_else(|| exec::read(&info))
                .unwrap_or_default();
            builder.containerd_store = builder::uses_containerd_store(&status);
        }
        Ok(builder)
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
mod tests {
    use super::*;

    #[test]
    fn daemon_down_is_an_environment_error() {
        let e = inspect_failure(None, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?");
        assert!(e.downcast_ref::<EnvironmentError>().is_some());
        assert!(e.to_string().contains("engine up"));
    }
}
