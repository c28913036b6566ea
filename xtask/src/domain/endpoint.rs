//! Which Docker engine the run talks to: chosen once from `--context`, `DOCKER_HOST`,
//! `DOCKER_CONTEXT`, `[build] context` or docker's current context, in that order, and then
//! pinned for every child as `DOCKER_HOST` without `DOCKER_CONTEXT` (adapters/endpoint.rs
//! resolves a context's name to its endpoint and pins it). A context is only a name in a
//! docker config directory: a child run with a temporary `DOCKER_CONFIG` (a push's login)
//! would not find it: it fails (`DOCKER_CONTEXT`: context not found) or talks to the default
//! engine (a current context), which does not have the image.
//!
//! Pure: what docker's config says and what `docker context inspect` answered come in as
//! values.

use anyhow::{bail, Result};
use serde::Serialize;

use crate::domain::env::Env;

/// Where the choice of engine came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `--context NAME`.
    Flag,
    /// `DOCKER_HOST` in the environment.
    DockerHost,
    /// `DOCKER_CONTEXT` in the environment.
    DockerContext,
    /// `[build] context` in the config.
    Config,
    /// `currentContext` in docker's config (`docker context use NAME`).
    Current,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::Flag => "--context",
            Source::DockerHost => "DOCKER_HOST",
            Source::DockerContext => "DOCKER_CONTEXT",
            Source::Config => "[build] context",
            Source::Current => "docker's current context",
        }
    }
}

/// The engine asked for, before a context's name is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Nothing chose one: docker's default engine, and nothing is pinned.
    Default,
    /// An endpoint given as it is (`DOCKER_HOST`).
    Host { host: String, source: Source },
    /// A docker context by name, resolved to its endpoint once.
    Context { name: String, source: Source },
}

/// The first that is set: the flag, `DOCKER_HOST`, `DOCKER_CONTEXT`, the config's
/// `[build] context`, docker's current context (`default` is none: docker's own default).
pub fn choose(
    flag: Option<&str>,
    env: &Env,
    config: Option<&str>,
    current: Option<&str>,
) -> Choice {
    let context = |name: &str, source| Choice::Context {
        name: name.to_owned(),
        source,
    };
    if let Some(name) = flag {
        return context(name, Source::Flag);
    }
    if let Some(host) = env.get("DOCKER_HOST") {
        return Choice::Host {
            host: host.to_owned(),
            source: Source::DockerHost,
        };
    }
    if let Some(name) = env.get("DOCKER_CONTEXT") {
        return context(name, Source::DockerContext);
    }
    if let Some(name) = config {
        return context(name, Source::Config);
    }
    match current {
        Some(name) if !name.is_empty() && name != "default" => context(name, Source::Current),
        _ => Choice::Default,
    }
}

/// The engine every child talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The docker context it was chosen by, if it was.
    pub context: Option<String>,
    /// Its endpoint, as `DOCKER_HOST` takes it: `unix:///...`, `tcp://...`, `ssh://...`.
    pub host: String,
    pub source: Source,
}

impl Endpoint {
    /// `docker context `buildhost` (ssh://builder@buildhost, from --context)`, or
    /// `DOCKER_HOST=tcp://10.0.0.5:2376`.
    pub fn describe(&self) -> String {
        match &self.context {
            Some(name) => format!(
                "docker context `{name}` ({}, from {})",
                self.host,
                self.source.describe()
            ),
            None => format!("DOCKER_HOST={}", self.host),
        }
    }
}

/// A docker context's name as docker accepts it: a letter or digit, then letters, digits,
/// `_`, `.`, `+` or `-`.
pub fn validate_context_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'));
    if !ok {
        bail!(
            "`{name}` is not a docker context name: letters, digits, _ . + - (starting with a \
             letter or digit); `docker context ls` lists the contexts"
        );
    }
    Ok(())
}

/// The endpoint in `docker context inspect --format '{{.Endpoints.docker.Host}}'`'s answer.
pub fn parse_inspected_host(name: &str, stdout: &str) -> Result<String> {
    let host = stdout.trim();
    if host.is_empty() || host == "<no value>" {
        bail!("docker context `{name}` has no docker endpoint: `docker context inspect {name}` shows it; recreate it with `docker context create {name} --docker host=...`");
    }
    Ok(host.to_owned())
}

/// `currentContext` in the text of docker's `config.json`, if it names one.
pub fn current_context(config_json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(config_json).ok()?;
    value
        .get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        flag: Option<&str>,
        env: &[(&str, &str)],
        config: Option<&str>,
        current: Option<&str>,
        expected: Choice,
    ) {
        let env: Env = env.iter().copied().collect();
        assert_eq!(choose(flag, &env, config, current), expected);
    }

    fn ctx(name: &str, source: Source) -> Choice {
        Choice::Context {
            name: name.into(),
            source,
        }
    }

    #[test]
    fn the_flag_wins_over_the_environment_the_config_and_the_current_context() {
        let env = [("DOCKER_HOST", "tcp://h:2376"), ("DOCKER_CONTEXT", "b")];
        check(
            Some("a"),
            &env,
            Some("c"),
            Some("d"),
            ctx("a", Source::Flag),
        );
    }

    #[test]
    fn docker_host_wins_over_docker_context_as_docker_itself_decides() {
        let env = [("DOCKER_HOST", "tcp://h:2376"), ("DOCKER_CONTEXT", "b")];
        check(
            None,
            &env,
            Some("c"),
            None,
            Choice::Host {
                host: "tcp://h:2376".into(),
                source: Source::DockerHost,
            },
        );
    }

    #[test]
    fn the_environment_wins_over_the_config_and_the_config_over_the_current_context() {
        check(
            None,
            &[("DOCKER_CONTEXT", "b")],
            Some("c"),
            Some("d"),
            ctx("b", Source::DockerContext),
        );
        check(None, &[], Some("c"), Some("d"), ctx("c", Source::Config));
        check(None, &[], None, Some("d"), ctx("d", Source::Current));
    }

    #[test]
    fn nothing_chosen_or_the_default_context_pins_nothing() {
        check(None, &[], None, None, Choice::Default);
        check(None, &[], None, Some("default"), Choice::Default);
        check(None, &[("DOCKER_HOST", "")], None, None, Choice::Default);
    }

    #[test]
    fn context_names_are_docker_s() {
        for ok in ["xtask-modern", "build.host+1", "B_2"] {
            validate_context_name(ok).unwrap();
        }
        for bad in ["", "-x", "a b", "a/b", "ssh://h"] {
            let e = validate_context_name(bad).unwrap_err().to_string();
            assert!(e.contains("docker context ls"), "{e}");
        }
    }

    #[test]
    fn an_endpoint_says_its_context_host_and_source() {
        let e = Endpoint {
            context: Some("bh".into()),
            host: "unix:///tmp/bh/docker.sock".into(),
            source: Source::Config,
        };
        assert_eq!(
            e.describe(),
            "docker context `bh` (unix:///tmp/bh/docker.sock, from [build] context)"
        );
        let h = Endpoint {
            context: None,
            host: "tcp://10.0.0.5:2376".into(),
            source: Source::DockerHost,
        };
        assert_eq!(h.describe(), "DOCKER_HOST=tcp://10.0.0.5:2376");
    }

    #[test]
    fn the_inspected_host_and_the_current_context_are_read_from_docker_s_answers() {
        assert_eq!(
            parse_inspected_host("bh", "unix:///s.sock\n").unwrap(),
            "unix:///s.sock"
        );
        assert!(parse_inspected_host("bh", "<no value>\n").is_err());
        assert_eq!(
            current_context(r#"{"auths":{},"currentContext":"bh"}"#).as_deref(),
            Some("bh")
        );
        assert_eq!(current_context(r#"{"auths":{}}"#), None);
        assert_eq!(current_context("not json"), None);
    }
}
