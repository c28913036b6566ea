//! The run's engine (domain/endpoint.rs): docker's current context read from its config, a
//! chosen context's endpoint asked of `docker context inspect` once, and the answer pinned
//! for every child (adapters/exec.rs). Nothing here asks the engine itself.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::adapters::exec::{self, usage, Command, EnvironmentError};
use crate::domain::endpoint::{self, Choice, Endpoint};
use crate::domain::env::Env;

/// `docker context inspect` reads files only.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The engine `--context` (`flag`), the environment, `[build] context` (`config`) or
/// docker's current context choose, resolved to its endpoint; `None` when nothing chooses
/// one (docker's default engine).
pub fn resolve(flag: Option<&str>, env: &Env, config: Option<&str>) -> Result<Option<Endpoint>> {
    let current = docker_config_dir(env)
        .and_then(|dir| std::fs::read_to_string(dir.join("config.json")).ok())
        .and_then(|text| endpoint::current_context(&text));
    match endpoint::choose(flag, env, config, current.as_deref()) {
        Choice::Default => Ok(None),
        Choice::Host { host, source } => Ok(Some(Endpoint {
            context: None,
            host,
            source,
        })),
        Choice::Context { name, source } => {
            endpoint::validate_context_name(&name)
                .map_err(|e| usage(e.context(format!("{} {name}", source.describe()))))?;
            Ok(Some(Endpoint {
                host: inspect(&name, source.describe())?,
                context: Some(name),
                source,
            }))
        }
    }
}

/// The docker endpoint of context `name` (`unix:///...`, `ssh://...`).
pub fn context_host(name: &str) -> Result<String> {
    inspect(name, "the test runner")
}

/// The docker endpoint of context `name`.
fn inspect(name: &str, from: &str) -> Result<String> {
    if exec::find("docker").is_none() {
        return Err(EnvironmentError::new(format!(
            "docker is not installed, so docker context `{name}` (from {from}) cannot be read: install the docker client"
        )));
    }
    let cmd = Command::new("docker")
        .args([
            "context",
            "inspect",
            "--format",
            "{{.Endpoints.docker.Host}}",
            name,
        ])
        .timeout(INSPECT_TIMEOUT);
    let out = exec::output(&cmd)?;
    if !out.success {
        // Docker adds the path of the metadata file it looked for: noise here.
        let why = out
            .stderr
            .trim()
            .split(": open ")
            .next()
            .unwrap_or_default();
        return Err(EnvironmentError::new(missing(name, from, why)));
    }
    endpoint::parse_inspected_host(name, &out.stdout)
        .map_err(|e| EnvironmentError::new(e.to_string()))
}

fn missing(name: &str, from: &str, stderr: &str) -> String {
    format!(
        "docker context `{name}` (from {from}) does not exist ({stderr}): `docker context ls` lists \
         the contexts; create it with `docker context create {name} --docker host=ssh://USER@HOST` \
         (or tcp://HOST:2376 with ca=,cert=,key=, or unix:///PATH/docker.sock), or choose another \
         with `--context NAME`"
    )
}

/// Where docker keeps its config: `DOCKER_CONFIG`, else `~/.docker`.
fn docker_config_dir(env: &Env) -> Option<PathBuf> {
    env.get("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// Why the pinned engine did not answer, and what to do about it; `None` when no engine was
/// chosen (docker's default one, whose own messages say it).
pub fn not_answering(stderr: &str) -> Option<String> {
    let engine = exec::pinned_engine()?;
    let fix = match &engine.context {
        Some(name) => format!(
            "start that engine (`docker --context {name} info` shows its answer), or choose \
             another with `--context NAME` (`docker context ls` lists them)"
        ),
        None => "start that engine, or unset DOCKER_HOST to use the default one".to_owned(),
    };
    Some(format!(
        "the engine of {} does not answer ({stderr}): {fix}",
        engine.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_context_names_its_source_and_both_fixes() {
        let m = missing("bh", "--context", "context \"bh\": context not found");
        assert!(
            m.starts_with("docker context `bh` (from --context) does not exist"),
            "{m}"
        );
        assert!(
            m.contains("docker context ls") && m.contains("docker context create bh"),
            "{m}"
        );
    }

    #[test]
    fn docker_s_config_is_docker_config_else_the_home_directory_s() {
        let env: Env = [("HOME", "/home/u")].into_iter().collect();
        assert_eq!(
            docker_config_dir(&env),
            Some(PathBuf::from("/home/u/.docker"))
        );
        let env: Env = [("HOME", "/home/u"), ("DOCKER_CONFIG", "/c")]
            .into_iter()
            .collect();
        assert_eq!(docker_config_dir(&env), Some(PathBuf::from("/c")));
    }
}
