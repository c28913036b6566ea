//! Containers `verify` starts: a hardened run that waits for `healthy`, and a created (never
//! started) one whose filesystem is exported and read as a tar stream.
//!
//! Every container carries the label `xtask.verify=<run id>` and is removed when its guard
//! drops; a Ctrl-C handler removes whatever still carries the run's label and exits 130, so
//! an interrupted `verify` leaves nothing behind.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::adapters::exec::{self, Command};
use crate::domain::checks::{self, Health, Suspicion};

pub const LABEL: &str = "xtask.verify";

/// A run id unique to this process, for the label.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{nanos}", exec::process_id())
}

/// On Ctrl-C: remove this run's containers, then exit 130.
pub fn clean_up_on_interrupt(run: &str) -> Result<()> {
    let run = run.to_owned();
    ctrlc::set_handler(move || {
        eprintln!("\ninterrupted: removing the containers verify started");
        remove_labelled(&run);
        exec::exit(130);
    })
    .context("cannot install the Ctrl-C handler")
}

fn remove_labelled(run: &str) {
    let filter = format!("label={LABEL}={run}");
    let ids = exec::read(&Command::new("docker").args(["ps", "-aq", "--filter", &filter]))
        .unwrap_or_default();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let rm = Command::new("docker").args(["rm", "-f"]).args(ids);
        if let Ok(out) = exec::output(&rm) {
            eprint!("{}", out.stderr);
        }
    }
}

/// `docker run` with the options production should use: read-only root with a tmpfs for
/// /tmp, no capabilities, no privilege escalation.
/// The options every container the toolkit starts for a check runs under: read-only root
/// with a writable /tmp, no capabilities, no privilege escalation.
pub const HARDENED: [&str; 7] = [
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
];

pub fn hardened_run_argv(image: &str, run: &str) -> Vec<String> {
    [
        "docker",
        "run",
        "--detach",
        "--label",
        &format!("{LABEL}={run}"),
    ]
    .into_iter()
    .chain(HARDENED)
    .chain([image])
    .map(String::from)
    .collect()
}

/// A container removed (with its volumes) when dropped.
struct Guard(String);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = exec::quiet(&Command::new("docker").args(["rm", "-f", "-v", &self.0]));
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct State {
    status: String,
    exit_code: i64,
    health: Option<HealthState>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthState {
    status: String,
    #[serde(default)]
    log: Vec<Probe>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Probe {
    exit_code: i64,
    output: String,
}

/// Reads one `docker inspect --format '{{json .State}}'` answer into a verdict, or `None`
/// while it is still starting.
fn judge(state_json: &str) -> Result<Option<std::result::Result<(), String>>> {
    let state: State = serde_json::from_str(state_json).context("unexpected container state")?;
    let last_probe = |h: &HealthState| {
        h.log
            .last()
            .map(|p| format!("; last probe exited {}: {}", p.exit_code, p.output.trim()))
            .unwrap_or_default()
    };
    if state.status != "running" && state.status != "created" {
        return Ok(Some(Err(format!(
            "the container {} (exit code {}) instead of becoming healthy",
            state.status, state.exit_code
        ))));
    }
    Ok(match &state.health {
        Some(h) if h.status == "healthy" => Some(Ok(())),
        Some(h) if h.status == "unhealthy" => Some(Err(format!("unhealthy{}", last_probe(h)))),
        _ => None,
    })
}

/// Starts `image` hardened and waits up to `timeout` for `healthy`; the container is
/// removed afterwards whatever happened.
pub fn health(image: &str, run: &str, timeout: Duration) -> Result<Health> {
    let out = exec::output(&Command::from_argv(&hardened_run_argv(image, run)))?;
    if !out.success {
        return Ok(Health::NotHealthy(format!(
            "cannot start it hardened: {}",
            out.stderr.trim()
        )));
    }
    let guard = Guard(out.stdout.trim().to_owned());
    let id = guard.0.as_str();
    let started = Instant::now();
    let inspect = Command::new("docker").args(["inspect", "--format", "{{json .State}}", id]);
    loop {
        let state = exec::read(&inspect)?;
        let verdict = judge(&state)?;
        let elapsed = started.elapsed();
        let verdict = match verdict {
            None if elapsed < timeout => {
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
            None => Err(format!("not healthy after {}s", timeout.as_secs())),
            Some(v) => v,
        };
        return Ok(match verdict {
            Ok(()) => Health::Healthy {
                after_secs: elapsed.as_secs_f64(),
            },
            Err(why) => {
                let logs = exec::output(&Command::new("docker").args(["logs", "--tail", "5", id]))?;
                let logs = format!("{}{}", logs.stdout, logs.stderr);
                let logs = logs.trim();
                if logs.is_empty() {
                    Health::NotHealthy(why)
                } else {
                    Health::NotHealthy(format!(
                        "{why}; last log lines: {}",
                        logs.replace('\n', " | ")
                    ))
                }
            }
        });
    }
}

/// Lists the suspicious files in `image`'s filesystem (see [`checks::suspicious_path`]),
/// streaming `docker export` through a tar reader without writing it to disk.
pub fn secret_files(image: &str, run: &str) -> Result<Vec<String>> {
    let label = format!("{LABEL}={run}");
    // The command is never run; it only has to exist for images without CMD.
    let create = Command::new("docker").args([
        "create",
        "--label",
        &label,
        "--entrypoint",
        "",
        image,
        "/xtask-verify",
    ]);
    let id =
        exec::read(&create).with_context(|| format!("cannot create a container from {image}"))?;
    let guard = Guard(id.trim().to_owned());
    let export = Command::new("docker").args(["export", &guard.0]);
    let (found, output) =
        exec::pipe(&export, |tar| scan_tar(tar)).context("cannot run docker export")?;
    if !output.success {
        bail!("docker export failed: {}", output.stderr.trim());
    }
    found
}

/// The suspicious paths of a tar stream; a `.git` directory is reported once.
pub fn scan_tar(stream: impl Read) -> Result<Vec<String>> {
    let mut archive = tar::Archive::new(stream);
    let mut found: Vec<String> = Vec::new();
    for entry in archive
        .entries()
        .context("reading the exported filesystem")?
    {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let is_file = entry.header().entry_type().is_file();
        let shown = format!("/{}", path.trim_start_matches("./").trim_end_matches('/'));
        match checks::suspicious_path(&path, is_file) {
            Some(Suspicion::Secret(what)) => {
                if what == "git repository" {
                    let git = shown
                        .find("/.git")
                        .map_or(shown.as_str(), |i| &shown[..i + 5]);
                    let git = format!("{git} ({what})");
                    if !found.contains(&git) {
                        found.push(git);
                    }
                } else {
                    found.push(format!("{shown} ({what})"));
                }
            }
            Some(Suspicion::PemContent) => {
                let mut head = Vec::new();
                entry.by_ref().take(1 << 20).read_to_end(&mut head)?;
                if checks::pem_holds_private_key(&head) {
                    found.push(format!("{shown} (private key)"));
                }
            }
            None => {}
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardened_run_is_exact() {
        assert_eq!(
            hardened_run_argv("sha256:abc", "42-7").join(" "),
            "docker run --detach --label xtask.verify=42-7 --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges sha256:abc"
        );
    }

    #[test]
    fn container_states_are_judged() {
        let starting =
            r#"{"Status":"running","ExitCode":0,"Health":{"Status":"starting","Log":[]}}"#;
        assert_eq!(judge(starting).unwrap(), None);
        let healthy = r#"{"Status":"running","ExitCode":0,"Health":{"Status":"healthy","Log":[]}}"#;
        assert_eq!(judge(healthy).unwrap(), Some(Ok(())));
        let unhealthy = r#"{"Status":"running","ExitCode":0,"Health":{"Status":"unhealthy","Log":[{"ExitCode":1,"Output":"connection refused\n"}]}}"#;
        assert_eq!(
            judge(unhealthy).unwrap(),
            Some(Err(
                "unhealthy; last probe exited 1: connection refused".into()
            ))
        );
        let exited = r#"{"Status":"exited","ExitCode":3,"Health":null}"#;
        assert!(judge(exited)
            .unwrap()
            .unwrap()
            .unwrap_err()
            .contains("exited (exit code 3)"));
    }

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, *content).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn tar_scan_finds_secrets_and_reads_pem_content() {
        let archive = tar_of(&[
            ("app/.env", b"X=1"),
            ("app/.git/config", b"[core]"),
            ("app/.git/HEAD", b"ref"),
            ("etc/ssl/certs/ca.pem", b"-----BEGIN CERTIFICATE-----"),
            ("app/tls.pem", b"-----BEGIN PRIVATE KEY-----\nMIIE"),
            ("bin/sh", b"\x7fELF"),
        ]);
        assert_eq!(
            scan_tar(&archive[..]).unwrap(),
            [
                "/app/.env (environment file)",
                "/app/.git (git repository)",
                "/app/tls.pem (private key)"
            ]
        );
    }
}
