//! Running trivy: where it comes from, its exact argv, and one run under a timeout.
//!
//! trivy runs once per image with `--format json` into a report file; every other format is
//! rendered from that file. It is `trivy` from PATH, else the pinned trivy image on Docker.
//! It runs with the scan directory as its working directory, where no `.trivyignore` is, so
//! trivy never filters findings itself: the ignore list is applied by the gate.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::adapters::exec::{self, Command, EnvironmentError, TimedOut};
use crate::adapters::scratch;
use crate::domain::tools;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// A trivy binary.
    Native(PathBuf),
    /// `docker run` of this image, with the Docker socket and the host's cache directory
    /// mounted, so the vulnerability DB persists and is shared with a native trivy.
    Docker { image: String },
}

impl Runner {
    /// `trivy` on PATH, else the trivy image when Docker answers.
    pub fn locate(trivy_image: &str) -> Result<Runner> {
        let docker_ready = || {
            let version = Command::new("docker")
                .args(["version", "--format", "{{.Server.Version}}"])
                .timeout(Duration::from_secs(30));
            exec::find("docker").is_some() && exec::quiet(&version).is_ok_and(|ok| ok)
        };
        Runner::choose(exec::find("trivy"), docker_ready, trivy_image)
    }

    fn choose(
        on_path: Option<PathBuf>,
        docker_ready: impl FnOnce() -> bool,
        trivy_image: &str,
    ) -> Result<Runner> {
        if let Some(path) = on_path {
            return Ok(Runner::Native(path));
        }
        if docker_ready() {
            return Ok(Runner::Docker {
                image: trivy_image.to_owned(),
            });
        }
        Err(EnvironmentError::new(format!(
            "trivy is not on PATH and no Docker engine answers to run {trivy_image}: {} or \
             start a Docker engine (`cargo xtask engine up`); {}",
            tools::install_hint(tools::TRIVY),
            tools::TRIVY_OFFLINE
        )))
    }

    pub fn describe(&self) -> String {
        match self {
            Runner::Native(p) => p.display().to_string(),
            Runner::Docker { image } => format!("{image} on Docker"),
        }
    }
}

/// What one scan needs besides the image.
#[derive(Debug, Clone)]
pub struct Options {
    pub cache_dir: PathBuf,
    pub skip_db_update: bool,
    /// Also no network for anything else (`--offline-scan`).
    pub offline: bool,
    pub db_repository: Option<String>,
    pub timeout: Duration,
}

/// One trivy run: the argv, and the files it writes (absolute paths).
#[derive(Debug, Clone)]
pub struct Invocation {
    pub argv: Vec<String>,
    pub report: PathBuf,
    pub log: PathBuf,
    /// The container's name when trivy runs on Docker, to remove it on a timeout.
    pub container: Option<String>,
}

pub fn invocation(
    runner: &Runner,
    image: &str,
    platform: Option<&str>,
    report: &Path,
    log: &Path,
    options: &Options,
) -> Invocation {
    let mut argv: Vec<String> = Vec::new();
    let mut container = None;
    let cache_dir = match runner {
        Runner::Native(path) => {
            argv.push(path.display().to_string());
            options.cache_dir.display().to_string()
        }
        Runner::Docker { image: trivy } => {
            let name = format!("xtask-trivy-{}", exec::process_id());
            let dir = report
                .parent()
                .unwrap_or(Path::new("/"))
                .display()
                .to_string();
            argv.extend(
                [
                    "docker",
                    "run",
                    "--rm",
                    "--name",
                    &name,
                    "-v",
                    "/var/run/docker.sock:/var/run/docker.sock",
                    "-v",
                    &format!("{}:/root/.cache/trivy", options.cache_dir.display()),
                    "-v",
                    &format!("{dir}:{dir}"),
                    trivy,
                ]
                .map(String::from),
            );
            container = Some(name);
            "/root/.cache/trivy".to_owned()
        }
    };
    argv.push("image".into());
    let mut flag = |name: &str, value: String| {
        argv.push(name.to_owned());
        argv.push(value);
    };
    flag("--scanners", "vuln,secret".into());
    flag("--format", "json".into());
    flag("--output", report.display().to_string());
    flag("--cache-dir", cache_dir);
    flag("--timeout", format!("{}s", options.timeout.as_secs()));
    if let Some(repo) = &options.db_repository {
        flag("--db-repository", repo.clone());
    }
    if options.skip_db_update || options.offline {
        argv.extend(["--skip-db-update", "--skip-java-db-update"].map(String::from));
    }
    if options.offline {
        argv.push("--offline-scan".into());
    }
    if let Some(p) = platform {
        argv.extend(["--platform".into(), p.to_owned()]);
    }
    argv.extend(["--no-progress".into(), image.to_owned()]);
    Invocation {
        argv,
        report: report.to_owned(),
        log: log.to_owned(),
        container,
    }
}

/// What one trivy run left: its report's text and the end of its output, for messages.
#[derive(Debug)]
pub struct Ran {
    pub report: String,
    pub tail: String,
}

/// Runs trivy once as planned and returns its report's text: `cmd` is the [`invocation`]'s
/// argv with its working directory and timeout, writing `report` (a file of this run's
/// own) and logging to `log`; `on_timeout` (removing trivy's container on Docker) runs when
/// the timeout stopped it. A timeout, a non-zero exit and a missing report are errors that
/// include the end of trivy's output. The log is written to a file of this run's own and
/// then renamed to `log`, so runs at once never mix their output.
pub fn run(cmd: &Command, report: &Path, log: &Path, on_timeout: Option<&Command>) -> Result<Ran> {
    let _ = std::fs::remove_file(report);
    let own = scratch::TempFile::new_in(
        log.parent().unwrap_or(Path::new(".")),
        ".xtask-trivy-",
        ".log",
    )
    .with_context(|| format!("creating {}", log.display()))?;
    let file: File = own
        .file()
        .try_clone()
        .with_context(|| format!("creating {}", log.display()))?;
    let exit = exec::to_file(cmd, file);
    let tail = tail_of(own.path(), log);
    let _ = own.persist(log);
    let exit = match exit {
        Ok(exit) => exit,
        Err(e) if e.downcast_ref::<TimedOut>().is_some() => {
            if let Some(rm) = on_timeout {
                let _ = exec::quiet(rm);
            }
            bail!(
                "trivy did not finish within {}s and was stopped (raise [scan] timeout_secs or \
                 --timeout; a first run downloads the vulnerability DB){tail}",
                cmd.timeout.unwrap_or_default().as_secs(),
            );
        }
        Err(e) => return Err(e),
    };
    if !exit.success {
        bail!("trivy {exit}{tail}");
    }
    let text = std::fs::read_to_string(report).with_context(|| {
        format!(
            "trivy exited successfully but wrote no report to {}{tail}",
            report.display(),
        )
    })?;
    Ok(Ran { report: text, tail })
}

/// The last lines trivy printed into `file`, for an error message naming `log`.
fn tail_of(file: &Path, log: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return "; trivy printed nothing".into();
    }
    let start = lines.len().saturating_sub(30);
    format!(
        "; trivy's output ({}):\n{}",
        log.display(),
        lines[start..].join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            cache_dir: "/home/u/.cache/trivy".into(),
            skip_db_update: false,
            offline: false,
            db_repository: None,
            timeout: Duration::from_secs(600),
        }
    }

    fn argv(runner: &Runner, options: &Options) -> String {
        invocation(
            runner,
            "shipyard/api:sha-860c190",
            None,
            Path::new("/repo/target/xtask/scan/api.trivy.json"),
            Path::new("/repo/target/xtask/scan/api.trivy.log"),
            options,
        )
        .argv
        .join(" ")
    }

    #[test]
    fn native_argv_is_exact() {
        assert_eq!(
            argv(&Runner::Native("/usr/bin/trivy".into()), &options()),
            "/usr/bin/trivy image --scanners vuln,secret --format json \
             --output /repo/target/xtask/scan/api.trivy.json --cache-dir /home/u/.cache/trivy \
             --timeout 600s --no-progress shipyard/api:sha-860c190"
        );
    }

    #[test]
    fn db_mirror_and_offline_flags() {
        let o = Options {
            db_repository: Some("mirror.gcr.io/aquasec/trivy-db".into()),
            offline: true,
            ..options()
        };
        let a = argv(&Runner::Native("trivy".into()), &o);
        assert!(
            a.contains("--db-repository mirror.gcr.io/aquasec/trivy-db --skip-db-update --skip-java-db-update --offline-scan --no-progress"),
            "{a}"
        );
        let o = Options {
            skip_db_update: true,
            ..options()
        };
        let a = argv(&Runner::Native("trivy".into()), &o);
        assert!(
            a.contains("--skip-db-update") && !a.contains("--offline-scan"),
            "{a}"
        );
    }

    #[test]
    fn docker_runner_mounts_socket_cache_dir_and_report_dir() {
        let inv = invocation(
            &Runner::Docker {
                image: "aquasec/trivy:0.71.2".into(),
            },
            "shipyard/api:sha-860c190",
            None,
            Path::new("/repo/target/xtask/scan/api.trivy.json"),
            Path::new("/repo/target/xtask/scan/api.trivy.log"),
            &options(),
        );
        let a = inv.argv.join(" ");
        assert!(a.starts_with("docker run --rm --name xtask-trivy-"), "{a}");
        assert!(
            a.contains(
                "-v /var/run/docker.sock:/var/run/docker.sock -v /home/u/.cache/trivy:/root/.cache/trivy \
                 -v /repo/target/xtask/scan:/repo/target/xtask/scan aquasec/trivy:0.71.2 image "
            ),
            "{a}"
        );
        assert!(a.contains("--cache-dir /root/.cache/trivy"), "{a}");
        assert!(inv.container.is_some());
    }

    #[test]
    fn run_reports_the_exit_code_a_missing_report_and_a_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let (report, log) = (dir.path().join("r.json"), dir.path().join("r.log"));
        let sh = |script: &str| Command::new("sh").args(["-c", script]).dir(dir.path());
        let err = run(&sh("echo 'FATAL no DB'; exit 2"), &report, &log, None).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.starts_with("trivy exited with code 2; trivy's output")
                && err.contains("FATAL no DB"),
            "{err}"
        );
        let err = run(&sh("true"), &report, &log, None).unwrap_err();
        assert!(format!("{err:#}").contains("wrote no report"), "{err:#}");
        let ok = run(&sh("echo '{}' > r.json; echo done"), &report, &log, None).unwrap();
        assert_eq!(ok.report, "{}\n");
        assert!(ok.tail.contains("r.log):\ndone"), "{}", ok.tail);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "done\n");
        let marker = dir.path().join("removed");
        let rm = Command::new("touch").arg(marker.display().to_string());
        let slow = sh("exec sleep 5").timeout(Duration::from_millis(200));
        let err = run(&slow, &report, &log, Some(&rm)).unwrap_err();
        assert!(
            err.to_string().contains("did not finish within 0s"),
            "{err}"
        );
        assert!(marker.exists(), "on_timeout ran");
    }

    #[test]
    fn locate_prefers_path_then_docker_then_says_how_to_install() {
        let image = "aquasec/trivy:0.71.2";
        assert_eq!(
            Runner::choose(Some("/bin/trivy".into()), || unreachable!(), image).unwrap(),
            Runner::Native("/bin/trivy".into())
        );
        assert_eq!(
            Runner::choose(None, || true, image).unwrap(),
            Runner::Docker {
                image: image.into()
            }
        );
        let err = Runner::choose(None, || false, image).unwrap_err();
        assert_eq!(crate::adapters::exec::exit_code(&err), 3);
        assert!(err.to_string().contains("install trivy"), "{err}");
        assert!(err.to_string().contains("scan --replay"), "{err}");
    }
}
