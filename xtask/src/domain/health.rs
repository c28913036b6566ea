//! What a container's state says about its health, decided once for `verify`'s hardened run
//! and `e2e`'s services: from `docker inspect --format '{{json .State}}'` to a [`Probe`].
//! Each caller phrases the verdict for its own report.

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: String,
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub health: Option<HealthState>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    pub status: String,
    #[serde(default)]
    pub log: Vec<ProbeRun>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeRun {
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub output: String,
}

/// What the state means for someone waiting on the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Created or running, its HEALTHCHECK not decided yet: wait.
    Starting,
    /// Running and its HEALTHCHECK passed.
    Healthy,
    /// Running with no HEALTHCHECK: running is all it can say.
    Running,
    /// It stopped (`exited`, `dead`, ...), with this exit code.
    Stopped { status: String, exit_code: i64 },
    /// Its HEALTHCHECK failed; the last probe's exit code and output.
    Unhealthy { exit_code: i64, output: String },
}

impl State {
    pub fn parse(json: &str) -> Result<State> {
        serde_json::from_str(json).context("unexpected container state")
    }
}

pub fn judge(state: &State) -> Probe {
    if state.status != "running" && state.status != "created" {
        return Probe::Stopped {
            status: state.status.clone(),
            exit_code: state.exit_code,
        };
    }
    match &state.health {
        None if state.status == "running" => Probe::Running,
        Some(h) if h.status == "healthy" => Probe::Healthy,
        Some(h) if h.status == "unhealthy" => {
            let last = h.log.last();
            Probe::Unhealthy {
                exit_code: last.map_or(-1, |p| p.exit_code),
                output: last.map(|p| p.output.trim().to_owned()).unwrap_or_default(),
            }
        }
        _ => Probe::Starting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(json: &str) -> Probe {
        judge(&State::parse(json).unwrap())
    }

    #[test]
    fn states_are_judged_once_for_every_caller() {
        for (json, want) in [
            (r#"{"Status":"created"}"#, Probe::Starting),
            (
                r#"{"Status":"running","Health":{"Status":"starting"}}"#,
                Probe::Starting,
            ),
            (
                r#"{"Status":"running","Health":{"Status":"healthy"}}"#,
                Probe::Healthy,
            ),
            (r#"{"Status":"running"}"#, Probe::Running),
            (r#"{"Status":"running","Health":null}"#, Probe::Running),
            (
                r#"{"Status":"exited","ExitCode":101}"#,
                Probe::Stopped {
                    status: "exited".into(),
                    exit_code: 101,
                },
            ),
            (
                r#"{"Status":"running","Health":{"Status":"unhealthy","Log":[{"ExitCode":1,"Output":"refused\n"}]}}"#,
                Probe::Unhealthy {
                    exit_code: 1,
                    output: "refused".into(),
                },
            ),
        ] {
            assert_eq!(probe(json), want, "{json}");
        }
        assert!(State::parse("not json").is_err());
    }
}
