//! Containers `verify` starts: a hardened run that waits for `healthy`, and a created (never
//! started) one whose filesystem is exported and read as a tar stream.
//!
//! Both run exactly the commands `verify` planned (and `--dry-run` prints), as a
//! [`Planned`] container: this module only fills in the container id the first command
//! prints. Beyond the plan it only reads: the planned `docker inspect` is repeated until the
//! container is healthy, and `docker logs` is read when it is not.
//!
//! Every container carries the label `xtask.verify=<run id>` and is removed (with its
//! planned `docker rm`) when its guard drops; a Ctrl-C handler removes whatever still
//! carries the run's label and exits 130, so an interrupted `verify` leaves nothing behind.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::adapters::exec::{self, Command};
use crate::adapters::interrupt;
use crate::domain::checks::HARDENED;
use crate::domain::checks::{self, Health, Suspicion};
use crate::domain::health::{self, Probe, State};

pub const LABEL: &str = "xtask.verify";

/// Held while a command that creates a container runs: the Ctrl-C cleanup takes it before it
/// sweeps, so a container whose creation was under way is swept too, not created after the
/// sweep. Those commands also run shielded from the terminal's signal, so docker finishes
/// creating instead of leaving a container its client never named.
static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `cmd`, which creates a container, as [`CREATING`] says.
fn creating<T>(cmd: &Command, run: impl FnOnce(&Command) -> Result<T>) -> Result<T> {
    let _creating = CREATING.lock().unwrap_or_else(|p| p.into_inner());
    run(&cmd.clone().shielded())
}

/// A run id unique to this process, for the label.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{nanos}", exec::process_id())
}

/// Every container a verify run started, labelled with its run id: removed when this is
/// dropped, however the run ended (a hardened start that failed after creating the
/// container, an error on the way), and on Ctrl-C (then the process exits 130).
pub struct RunContainers {
    run: String,
    _on_interrupt: interrupt::Registered,
}

impl Drop for RunContainers {
    fn drop(&mut self) {
        remove_labelled(&self.run);
    }
}

pub fn clean_up_on_interrupt(run: &str) -> Result<RunContainers> {
    let label = run.to_owned();
    let on_interrupt = interrupt::on_interrupt(move || {
        eprintln!("removing the containers verify started");
        let no_creation_under_way = CREATING.lock().unwrap_or_else(|p| p.into_inner());
        remove_labelled(&label);
        // Held until the process exits (the interrupt handler exits once every cleanup ran):
        // released here, the main thread could create one more container after the sweep.
        std::mem::forget(no_creation_under_way);
    })
    .map_err(anyhow::Error::msg)?;
    Ok(RunContainers {
        run: run.to_owned(),
        _on_interrupt: on_interrupt,
    })
}

/// Lists every container of the verify run `run`, whatever state it is in.
pub fn sweep_command(run: &str) -> Command {
    let filter = format!("label={LABEL}={run}");
    Command::new("docker")
        .args(["ps", "-aq", "--filter", &filter])
        .timeout(std::time::Duration::from_secs(30))
}

/// Removes what [`sweep_command`] lists.
fn remove_labelled(run: &str) {
    let ids = exec::read(&sweep_command(run)).unwrap_or_default();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let rm = Command::new("docker").args(["rm", "-f"]).args(ids);
        if let Ok(out) = exec::output(&rm) {
            eprint!("{}", out.stderr);
        }
    }
}

/// `docker run --detach` of `image` with the [`HARDENED`] options and the run's label.
pub fn hardened_run_argv(image: &str, platform: Option<&str>, run: &str) -> Vec<String> {
    let label = format!("{LABEL}={run}");
    let mut argv: Vec<&str> = vec!["docker", "run", "--detach", "--label", &label];
    // One platform of a multi-platform image; a foreign one runs under emulation (binfmt).
    if let Some(p) = platform {
        argv.extend(["--platform", p]);
    }
    argv.into_iter()
        .chain(HARDENED)
        .chain([image])
        .map(String::from)
        .collect()
}

/// One container's life as planned: `start` creates or runs it and prints its id, `then` is
/// what is done with it, `remove` removes it. `then` and `remove` name the container by
/// `id`, a placeholder until `start` has printed the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub start: Command,
    pub then: Command,
    pub remove: Command,
    pub id: String,
}

impl Planned {
    pub fn commands(&self) -> [&Command; 3] {
        [&self.start, &self.then, &self.remove]
    }

    /// The same commands with `placeholder` replaced by `value` (see [`Command::bind`]).
    pub fn bind(&self, placeholder: &str, value: &str) -> Planned {
        Planned {
            start: self.start.bind(placeholder, value),
            then: self.then.bind(placeholder, value),
            remove: self.remove.bind(placeholder, value),
            id: self.id.replace(placeholder, value),
        }
    }

    /// The commands for the container `start` printed the id of.
    fn started(&self, printed: &str) -> Planned {
        self.bind(&self.id, printed.trim())
    }
}

/// Runs the planned removal of a container when dropped.
struct Guard(Command);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = exec::quiet(&self.0);
    }
}

/// Reads one `docker inspect --format '{{json .State}}'` answer into a verdict, or `None`
/// while it is still starting.
fn judge(state_json: &str) -> Result<Option<std::result::Result<(), String>>> {
    Ok(match health::judge(&State::parse(state_json)?) {
        Probe::Starting | Probe::Running => None,
        Probe::Healthy => Some(Ok(())),
        Probe::Stopped { status, exit_code } => Some(Err(format!(
            "the container {status} (exit code {exit_code}) instead of becoming healthy"
        ))),
        Probe::Unhealthy { exit_code, output } => Some(Err(format!(
            "unhealthy; last probe exited {exit_code}: {output}"
        ))),
    })
}

/// Runs the planned hardened container (`docker run --detach`) and repeats its planned
/// `docker inspect` until it is healthy, for up to `timeout`; the planned `docker rm`
/// removes it afterwards whatever happened.
pub fn health(planned: &Planned, timeout: Duration) -> Result<Health> {
    let out = creating(&planned.start, exec::output)?;
    if !out.success {
        return Ok(Health::NotHealthy(format!(
            "cannot start it hardened: {}",
            out.stderr.trim()
        )));
    }
    let planned = planned.started(&out.stdout);
    let _guard = Guard(planned.remove.clone());
    let started = Instant::now();
    loop {
        let state = exec::read(&planned.then)?;
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
                let logs = exec::output(&logs(&planned.id))?;
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

/// The last log lines of a container that did not become healthy: a read beyond the plan.
fn logs(container: &str) -> Command {
    Command::new("docker").args(["logs", "--tail", "5", container])
}

/// Lists the suspicious files in a created container's filesystem (see
/// [`checks::suspicious_path`]): runs the planned `docker create`, streams the planned
/// `docker export` through a tar reader without writing it to disk, and removes the
/// container with the planned `docker rm`.
pub fn secret_files(planned: &Planned) -> Result<Vec<String>> {
    let id = creating(&planned.start, exec::read)
        .with_context(|| format!("cannot create a container: `{}`", planned.start))?;
    let planned = planned.started(&id);
    let _guard = Guard(planned.remove.clone());
    let (found, output) =
        exec::pipe(&planned.then, |tar| scan_tar(tar)).context("cannot run docker export")?;
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
            hardened_run_argv("sha256:abc", None, "42-7").join(" "),
            "docker run --detach --label xtask.verify=42-7 --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges sha256:abc"
        );
    }

    #[test]
    fn a_planned_container_is_bound_to_the_id_its_start_prints() {
        let docker = |args: &[&str]| Command::new("docker").args(args.iter().copied());
        let planned = Planned {
            start: Command::from_argv(&hardened_run_argv("<image>", None, "<run>")),
            then: docker(&["inspect", "--format", "{{json .State}}", "<c>"]),
            remove: docker(&["rm", "-f", "-v", "<c>"]),
            id: "<c>".into(),
        };
        let bound = planned
            .bind("<run>", "42-7")
            .bind("<image>", "sha256:abc")
            .started("f00d\n");
        let lines: Vec<String> = bound.commands().iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "docker run --detach --label xtask.verify=42-7 --read-only --tmpfs /tmp \
                 --cap-drop ALL --security-opt no-new-privileges sha256:abc",
                "docker inspect --format '{{json .State}}' f00d",
                "docker rm -f -v f00d",
            ]
        );
        assert_eq!(bound.id, "f00d");
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
