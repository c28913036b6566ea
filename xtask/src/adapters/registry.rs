//! Talking to a registry: where it is, how to log in, and how to run docker against it.
//!
//! Credentials come from the environment and reach docker only through stdin, into a
//! temporary `DOCKER_CONFIG` that every command of the run shares and that is deleted when
//! the [`Session`] ends, so the user's `~/.docker/config.json` is never touched. Every line
//! a child prints passes through a [`Redactor`] before it is shown or kept. Every command is
//! stopped at its timeout (`[registry] timeout_secs`, `upload_timeout_secs` for the layer
//! upload); transient failures (a timeout among them) are retried `[registry] retries` times
//! with exponential backoff; refused credentials never are.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::adapters::exec::{self, Command, EnvironmentError, Secret, Stdin, TimedOut, UsageError};
use crate::adapters::{interrupt, scratch};
use crate::domain::attestation::{self, Inspected};
use crate::domain::config::RegistryConfig;
use crate::domain::env::Env;
use crate::domain::publish::{Failure, Held};

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Where they came from, for messages (never the values).
    pub source: &'static str,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, {})", self.username, self.source)
    }
}

/// `REGISTRY_USERNAME` + `REGISTRY_PASSWORD`, else `GITHUB_ACTOR` + `GITHUB_TOKEN` for
/// ghcr.io, else none (docker's own configuration is used as it is).
pub fn credentials(env: &Env, host: &str) -> Result<Option<Credentials>> {
    match (env.get("REGISTRY_USERNAME"), env.get("REGISTRY_PASSWORD")) {
        (Some(u), Some(p)) => {
            return Ok(Some(Credentials {
                username: u.to_owned(),
                password: p.to_owned(),
                source: "REGISTRY_USERNAME/REGISTRY_PASSWORD",
            }))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(UsageError::new(
                "set both REGISTRY_USERNAME and REGISTRY_PASSWORD, or neither",
            ))
        }
        (None, None) => {}
    }
    match (
        host == "ghcr.io",
        env.get("GITHUB_TOKEN"),
        env.get("GITHUB_ACTOR"),
    ) {
        (true, Some(token), Some(actor)) => Ok(Some(Credentials {
            username: actor.to_owned(),
            password: token.to_owned(),
            source: "GITHUB_ACTOR/GITHUB_TOKEN",
        })),
        (true, Some(_), None) => Err(UsageError::new(
            "GITHUB_TOKEN is set but GITHUB_ACTOR is not: ghcr.io needs the user name too",
        )),
        _ => Ok(None),
    }
}

/// Replaces every secret in a line with `***`.
#[derive(Debug, Clone, Default)]
pub struct Redactor(Vec<String>);

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        // Longest first, so a secret containing another is replaced whole.
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor(secrets)
    }

    pub fn redact(&self, line: &str) -> String {
        self.0
            .iter()
            .fold(line.to_owned(), |l, s| l.replace(s.as_str(), "***"))
    }
}

pub fn classify(output: &str) -> Failure {
    let text = output.to_lowercase();
    const AUTH: &[&str] = &[
        "unauthorized",
        "denied",
        "forbidden",
        "authentication required",
        "no basic auth credentials",
        "incorrect username or password",
    ];
    const TRANSIENT: &[&str] = &[
        "connection refused",
        "connection reset",
        "broken pipe",
        "timeout",
        "timed out",
        "toomanyrequests",
        "too many requests",
        "internal server error",
        "bad gateway",
        "service unavailable",
        "unexpected eof",
    ];
    if AUTH.iter().any(|p| text.contains(p)) {
        Failure::Auth
    } else if TRANSIENT.iter().any(|p| text.contains(p)) {
        Failure::Transient
    } else {
        Failure::Other
    }
}

/// How long a registry command may take and how often it is tried: `attempts` tries,
/// waiting `base`, `2 * base`, `4 * base`, ... between them. `XTASK_RETRY_BASE_MS` sets
/// `base` (tests make it tiny).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    /// The bound of each registry command.
    pub timeout: Duration,
    /// The bound of the `docker push` that uploads an image's layers.
    pub upload_timeout: Duration,
}

impl Retry {
    /// The defaults of `[registry]`.
    pub fn from_env(env: &Env) -> Retry {
        Retry::configured(&RegistryConfig::default(), env)
    }

    /// `[registry] timeout_secs`, `upload_timeout_secs` and `retries`.
    pub fn configured(config: &RegistryConfig, env: &Env) -> Retry {
        let base = env
            .get("XTASK_RETRY_BASE_MS")
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_secs(1), Duration::from_millis);
        Retry {
            attempts: config.retries + 1,
            base,
            timeout: Duration::from_secs(config.timeout_secs),
            upload_timeout: Duration::from_secs(config.upload_timeout_secs),
        }
    }

    /// The wait before attempt `n + 1` (n counts from 1).
    pub fn delay(&self, n: u32) -> Duration {
        self.base * 2u32.saturating_pow(n - 1)
    }
}

/// What one docker command printed and how it ended. `lines` are redacted, for showing;
/// `printed` is what docker really printed, for parsing only (a password such as `a` may
/// occur inside a digest), and is never shown.
#[derive(Clone)]
pub struct Attempt {
    pub ok: bool,
    pub lines: Vec<String>,
    pub printed: Vec<String>,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("ok", &self.ok)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

/// A command that failed for good.
#[derive(Debug)]
pub struct CommandFailed {
    pub failure: Failure,
    pub message: String,
}

impl std::fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandFailed {}

/// Runs `attempt` until it succeeds, fails for a reason retrying cannot fix, or has been
/// tried `retry.attempts` times; `sleep` waits between tries.
#[cfg(test)]
pub fn with_retry(
    retry: Retry,
    what: &str,
    sleep: impl FnMut(Duration),
    attempt: impl FnMut(u32) -> Result<Attempt>,
) -> Result<Attempt> {
    with_retry_until(retry, what, sleep, |_| false, attempt)
}

/// The line an attempt that was stopped at its timeout ends with.
fn timed_out_line(after: Duration) -> String {
    let after = match after.subsec_millis() {
        0 => format!("{} s", after.as_secs()),
        _ => format!("{} ms", after.as_millis()),
    };
    format!("timed out after {after} (no answer; stopped)")
}

/// [`with_retry`], where a failed attempt that is `settled` (a lookup's "not found") is an
/// answer, returned as it is.
pub fn with_retry_until(
    retry: Retry,
    what: &str,
    mut sleep: impl FnMut(Duration),
    settled: impl Fn(&Attempt) -> bool,
    mut attempt: impl FnMut(u32) -> Result<Attempt>,
) -> Result<Attempt> {
    let mut n = 1;
    loop {
        let a = attempt(n)?;
        if a.ok || settled(&a) {
            return Ok(a);
        }
        let tail: Vec<&str> = a
            .lines
            .iter()
            .rev()
            .take(5)
            .rev()
            .map(|s| s.as_str())
            .collect();
        let failure = classify(&a.lines.join("\n"));
        if failure == Failure::Transient && n < retry.attempts {
            let wait = retry.delay(n);
            eprintln!(
                "note: `{what}` failed ({}); retrying in {:?} (attempt {}/{})",
                tail.last().unwrap_or(&"no output"),
                wait,
                n + 1,
                retry.attempts
            );
            sleep(wait);
            n += 1;
            continue;
        }
        let text = a.lines.join("\n").to_lowercase();
        let server_error = [
            "internal server error",
            "bad gateway",
            "service unavailable",
        ]
        .iter()
        .any(|p| text.contains(p))
            || text.contains("status: 5");
        let timed_out = cause(&a.lines).starts_with("timed out after");
        let hint = match failure {
            Failure::Auth => {
                "the registry refused the credentials or the access; retrying cannot help"
            }
            Failure::Transient if timed_out => {
                "the registry did not answer in time, every time; nothing more was tried: \
                 raise [registry] timeout_secs in xtask/images.toml if it is only slow"
            }
            Failure::Transient if server_error => {
                "the registry answered with a server error (HTTP 5xx) every time; nothing more was tried"
            }
            Failure::Transient => "the registry could not be reached; nothing more was tried",
            Failure::Refused | Failure::Other => "see the output above",
        };
        return Err(CommandFailed {
            failure,
            message: format!(
                "`{what}` failed after {n} attempt(s): {}\n{}\n({hint})",
                cause(&a.lines),
                tail.join("\n")
            ),
        }
        .into());
    }
}

/// The line of docker's output that says why: the last one that is not progress or a
/// `Retrying in ...` countdown.
fn cause(lines: &[String]) -> &str {
    lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| {
            !l.is_empty()
                && !l.starts_with("Retrying in")
                && !l.ends_with(": Waiting")
                && !l.ends_with(": Preparing")
                && !l.ends_with(": Pushing")
        })
        .unwrap_or("no output")
}

/// The failure class of an error from [`with_retry`], if it came from there.
pub fn failure_of(error: &anyhow::Error) -> Option<Failure> {
    error
        .chain()
        .find_map(|c| c.downcast_ref::<CommandFailed>())
        .map(|c| c.failure)
}

/// One run's docker configuration: a temporary `DOCKER_CONFIG` holding the login when
/// credentials were given (deleted on drop), the redactor and the retry policy.
pub struct Session {
    config_dir: Option<scratch::TempDir>,
    /// Removes `config_dir` (it holds the login) if the run is interrupted.
    _on_interrupt: Option<interrupt::Registered>,
    pub redactor: Redactor,
    pub retry: Retry,
}

impl Session {
    /// Logs in to `host` when `credentials` are given; otherwise uses docker as configured.
    pub fn open(
        env: &Env,
        host: &str,
        credentials: Option<Credentials>,
        retry: Retry,
    ) -> Result<Session> {
        let Some(creds) = credentials else {
            return Ok(Session {
                config_dir: None,
                _on_interrupt: None,
                redactor: Redactor::default(),
                retry,
            });
        };
        let dir = scratch::TempDir::new("xtask-docker-config-")
            .context("creating a temporary DOCKER_CONFIG")?;
        link_cli_plugins(env, dir.path());
        let path = dir.path().to_owned();
        let on_interrupt = interrupt::on_interrupt(move || {
            let _ = std::fs::remove_dir_all(&path);
        })
        .map_err(|e| {
            EnvironmentError::new(format!(
                "{e}: refusing to log in, since an interrupted run would leave the login in a \
                 temporary docker config"
            ))
        })?;
        let session = Session {
            config_dir: Some(dir),
            _on_interrupt: Some(on_interrupt),
            redactor: Redactor::new([creds.password.clone()]),
            retry,
        };
        let login = session.command(
            &login_argv(&creds.username, host),
            Some(&Secret::new(creds.password)),
        );
        eprintln!(
            "logging in to {host} as {} ({}, password on stdin)",
            creds.username, creds.source
        );
        session.run_command(&login, |_| {}).with_context(|| {
            format!(
                "cannot log in to {host} as {} (from {})",
                creds.username, creds.source
            )
        })?;
        Ok(session)
    }

    /// Runs a docker command with this session's config, retrying transient failures.
    /// `on_line` sees every (redacted) output line of every attempt.
    pub fn run(
        &self,
        argv: &[String],
        stdin: Option<&Secret>,
        on_line: impl FnMut(&str),
    ) -> Result<Attempt> {
        if argv.is_empty() {
            bail!("empty command");
        }
        self.run_command(&self.command(argv, stdin), on_line)
    }

    /// Runs the `docker push` that uploads layers: bounded by the upload timeout and tried
    /// once, since the docker daemon already retries each layer's upload itself (five
    /// times, waiting longer each time) and a retry here would multiply that.
    pub fn run_upload(&self, argv: &[String], on_line: impl FnMut(&str)) -> Result<Attempt> {
        if argv.is_empty() {
            bail!("empty command");
        }
        let cmd = self.command(argv, None).timeout(self.retry.upload_timeout);
        let once = Retry {
            attempts: 1,
            ..self.retry
        };
        run_with(self, once, &cmd, |_| false, on_line)
    }

    /// Runs the lookup `argv` (`docker manifest inspect`): what the registry holds, or
    /// `Held::Absent` when it answers that there is no such manifest.
    pub fn lookup(&self, argv: &[String]) -> Result<Held> {
        if argv.is_empty() {
            bail!("empty command");
        }
        let cmd = self.command(argv, None);
        let a = self.run_until(&cmd, absent, |_| {})?;
        if !a.ok {
            return Ok(Held::Absent);
        }
        held(&a.printed)
    }

    /// `argv` as a command with this session's `DOCKER_CONFIG` and timeout, and `stdin`
    /// (a password) on its stdin.
    pub fn command(&self, argv: &[String], stdin: Option<&Secret>) -> Command {
        let mut cmd = Command::from_argv(argv).timeout(self.retry.timeout);
        if let Some(dir) = &self.config_dir {
            cmd = cmd.env("DOCKER_CONFIG", dir.path().to_string_lossy());
        }
        match stdin {
            Some(secret) => cmd.stdin(Stdin::Secret(secret.clone())),
            None => cmd.stdin(Stdin::Null),
        }
    }

    /// Runs `cmd` (made by [`Session::command`]), retrying transient failures; an attempt
    /// stopped at the command's timeout is one of them.
    pub fn run_command(&self, cmd: &Command, on_line: impl FnMut(&str)) -> Result<Attempt> {
        self.run_until(cmd, |_| false, on_line)
    }

    fn run_until(
        &self,
        cmd: &Command,
        settled: impl Fn(&Attempt) -> bool,
        on_line: impl FnMut(&str),
    ) -> Result<Attempt> {
        run_with(self, self.retry, cmd, settled, on_line)
    }
}

/// Runs `cmd` in `session` as `retry` says; an attempt stopped at the command's timeout
/// fails like any other, with a last line saying so.
fn run_with(
    session: &Session,
    retry: Retry,
    cmd: &Command,
    settled: impl Fn(&Attempt) -> bool,
    mut on_line: impl FnMut(&str),
) -> Result<Attempt> {
    let what = cmd.argv().into_iter().take(3).collect::<Vec<_>>().join(" ");
    with_retry_until(retry, &what, std::thread::sleep, settled, |_| {
        let (mut lines, mut printed) = (Vec::new(), Vec::new());
        let ended = exec::stream(cmd, |line| {
            let shown = session.redactor.redact(line);
            on_line(&shown);
            lines.push(shown);
            printed.push(line.to_owned());
        });
        let ok = match ended {
            Ok(ok) => ok,
            Err(e) => match e.downcast_ref::<TimedOut>() {
                Some(t) => {
                    let line = timed_out_line(t.after);
                    on_line(&line);
                    lines.push(line.clone());
                    printed.push(line);
                    false
                }
                None => return Err(e),
            },
        };
        Ok(Attempt { ok, lines, printed })
    })
}

/// Whether a failed lookup said that the manifest does not exist (an answer, not a
/// failure): `docker manifest inspect` prints `no such manifest`, a registry
/// `manifest unknown`.
fn absent(a: &Attempt) -> bool {
    let text = a.lines.join("\n").to_lowercase();
    text.contains("no such manifest") || text.contains("manifest unknown")
}

/// What `docker manifest inspect -v` printed: one manifest (an object with its
/// `Descriptor` and `SchemaV2Manifest` or `OCIManifest`), or an index (an array of those).
pub fn held(lines: &[String]) -> Result<Held> {
    let text = lines.join("\n");
    let start = text
        .find(['{', '['])
        .context("docker manifest inspect printed no JSON")?;
    let value: serde_json::Value = serde_json::Deserializer::from_str(&text[start..])
        .into_iter()
        .next()
        .context("docker manifest inspect printed no JSON")??;
    let entries = match &value {
        serde_json::Value::Array(a) => a.clone(),
        v => vec![v.clone()],
    };
    let mut manifests = Vec::new();
    let mut configs = Vec::new();
    for e in &entries {
        if let Some(d) = e.pointer("/Descriptor/digest").and_then(|d| d.as_str()) {
            manifests.push(d.to_owned());
        }
        for key in ["SchemaV2Manifest", "OCIManifest"] {
            if let Some(d) = e
                .pointer(&format!("/{key}/config/digest"))
                .and_then(|d| d.as_str())
            {
                configs.push(d.to_owned());
            }
        }
    }
    if manifests.is_empty() {
        bail!("docker manifest inspect printed no digest: {text}");
    }
    Ok(Held::Found {
        index: value.is_array(),
        manifests,
        configs,
    })
}

pub fn login_argv(username: &str, host: &str) -> Vec<String> {
    [
        "docker",
        "login",
        "--username",
        username,
        "--password-stdin",
        host,
    ]
    .map(String::from)
    .into()
}

/// Keeps CLI plugins (buildx) that live in the user's docker config dir usable.
fn link_cli_plugins(env: &Env, temp: &Path) {
    let user_dir = env
        .get("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".docker")));
    if let Some(plugins) = user_dir
        .map(|d| d.join("cli-plugins"))
        .filter(|p| p.is_dir())
    {
        #[cfg(unix)]
        let _ = std::os::unix::fs::symlink(plugins, temp.join("cli-plugins"));
    }
}

/// `digest: sha256:...` from `docker push` output.
pub fn pushed_digest(lines: &[String]) -> Option<String> {
    lines.iter().rev().find_map(|l| {
        let rest = &l[l.find("digest: sha256:")? + "digest: ".len()..];
        let digest: String = rest
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == ':' || *c == 's' || *c == 'h')
            .collect();
        (digest.len() == "sha256:".len() + 64).then_some(digest)
    })
}

/// The attestations and index annotations the registry holds for `reference`, read in
/// `session`.
pub fn attestations(session: &Session, reference: &str) -> Result<Inspected> {
    let argv = attestation::inspect_argv(reference);
    let attempt = session.run(&argv, None, |_| {})?;
    if !attempt.ok {
        bail!(
            "{}",
            attempt
                .lines
                .last()
                .map(String::as_str)
                .unwrap_or("`docker buildx imagetools inspect` failed")
        );
    }
    attestation::parse(&attempt.printed.join("\n"))
}

/// The digest in `docker buildx imagetools inspect --format '{{json .Manifest}}'` output.
pub fn manifest_digest(lines: &[String]) -> Result<String> {
    let text = lines.join("\n");
    let start = text
        .find('{')
        .context("imagetools inspect printed no JSON")?;
    let value: serde_json::Value = serde_json::Deserializer::from_str(&text[start..])
        .into_iter()
        .next()
        .context("imagetools inspect printed no JSON")??;
    match value["digest"].as_str() {
        Some(d) if d.starts_with("sha256:") => Ok(d.to_owned()),
        _ => bail!("imagetools inspect printed no digest: {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn env(vars: &[(&str, &str)]) -> Env {
        vars.iter().copied().collect()
    }

    #[test]
    fn registry_credentials_win_over_github_token() {
        let c = credentials(
            &env(&[
                ("REGISTRY_USERNAME", "alice"),
                ("REGISTRY_PASSWORD", "s3cret"),
                ("GITHUB_TOKEN", "ghs_x"),
                ("GITHUB_ACTOR", "bot"),
            ]),
            "ghcr.io",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3cret")
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn github_token_only_logs_in_to_ghcr() {
        let vars = [("GITHUB_TOKEN", "ghs_x"), ("GITHUB_ACTOR", "Bot")];
        let c = credentials(&env(&vars), "ghcr.io").unwrap().unwrap();
        assert_eq!(c.username, "Bot");
        assert!(credentials(&env(&vars), "127.0.0.1:5000")
            .unwrap()
            .is_none());
        assert!(credentials(&env(&[]), "ghcr.io").unwrap().is_none());
    }

    #[test]
    fn half_a_credential_is_a_usage_error() {
        let e = credentials(&env(&[("REGISTRY_USERNAME", "alice")]), "x.io").unwrap_err();
        assert_eq!(exec::exit_code(&e), 2);
    }

    #[test]
    fn redactor_hides_every_occurrence() {
        let r = Redactor::new(["hunter2".to_owned(), String::new()]);
        assert_eq!(
            r.redact("login hunter2 failed: hunter2"),
            "login *** failed: ***"
        );
        assert_eq!(Redactor::default().redact("plain"), "plain");
    }

    #[test]
    fn failures_are_classified_from_output() {
        assert_eq!(
            classify("Error response from daemon: Get \"http://127.0.0.1:5100/v2/\": unauthorized: authentication required"),
            Failure::Auth
        );
        assert_eq!(
            classify("denied: requested access to the resource is denied"),
            Failure::Auth
        );
        assert_eq!(
            classify("dial tcp 127.0.0.1:5100: connect: connection refused"),
            Failure::Transient
        );
        assert_eq!(classify("toomanyrequests: retry later"), Failure::Transient);
        assert_eq!(
            classify("received unexpected HTTP status: 503 Service Unavailable"),
            Failure::Transient
        );
        assert_eq!(classify("manifest unknown"), Failure::Other);
        // A digest that happens to contain 401 is not an auth failure.
        assert_eq!(classify("sha256:401403 not found"), Failure::Other);
    }

    #[test]
    fn backoff_doubles() {
        let r = Retry::from_env(&env(&[]));
        assert_eq!(r.attempts, 3);
        let waits: Vec<u64> = (1..r.attempts).map(|n| r.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2]);
        assert_eq!(r.timeout, Duration::from_secs(20));
        assert_eq!(r.upload_timeout, Duration::from_secs(300));
        let quick = Retry::from_env(&env(&[("XTASK_RETRY_BASE_MS", "5")]));
        assert_eq!(quick.delay(3), Duration::from_millis(20));
    }

    fn attempt(ok: bool, line: &str) -> Attempt {
        Attempt {
            ok,
            lines: vec![line.to_owned()],
            printed: vec![line.to_owned()],
        }
    }

    #[test]
    fn transient_failures_are_retried_until_success() {
        let slept = RefCell::new(Vec::new());
        let r = Retry::from_env(&env(&[]));
        let a = with_retry(
            r,
            "docker push",
            |d| slept.borrow_mut().push(d.as_secs()),
            |n| Ok(attempt(n == 3, "connection reset by peer")),
        )
        .unwrap();
        assert!(a.ok);
        assert_eq!(*slept.borrow(), [1, 2]);
    }

    #[test]
    fn auth_failures_are_not_retried() {
        let mut tries = 0;
        let e = with_retry(
            Retry::from_env(&env(&[])),
            "docker push",
            |_| panic!("no wait for an auth failure"),
            |_| {
                tries += 1;
                Ok(attempt(false, "unauthorized: authentication required"))
            },
        )
        .unwrap_err();
        assert_eq!(tries, 1);
        assert_eq!(failure_of(&e), Some(Failure::Auth));
        assert!(e.to_string().contains("retrying cannot help"), "{e}");
    }

    #[test]
    fn transient_failures_give_up_after_the_last_attempt() {
        let mut tries = 0;
        let e = with_retry(
            Retry::from_env(&env(&[])),
            "docker push",
            |_| {},
            |_| {
                tries += 1;
                Ok(attempt(false, "connect: connection refused"))
            },
        )
        .unwrap_err();
        assert_eq!(tries, 3);
        assert_eq!(failure_of(&e), Some(Failure::Transient));
    }

    fn quick_session(attempts: u32, timeout: Duration) -> Session {
        Session {
            config_dir: None,
            _on_interrupt: None,
            redactor: Redactor::default(),
            retry: Retry {
                attempts,
                base: Duration::from_millis(1),
                timeout,
                upload_timeout: timeout,
            },
        }
    }

    #[test]
    fn a_command_past_its_timeout_is_stopped_retried_and_named_first() {
        let session = quick_session(2, Duration::from_millis(300));
        let started = std::time::Instant::now();
        let hang = vec![
            "sh".to_owned(),
            "-c".into(),
            "echo asking; exec sleep 30".into(),
        ];
        let e = session.run(&hang, None, |_| {}).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let msg = e.to_string();
        assert!(
            msg.lines().next().unwrap().ends_with(
                "failed after 2 attempt(s): timed out after 300 ms (no answer; stopped)"
            ),
            "{msg}"
        );
        assert!(msg.contains("raise [registry] timeout_secs"), "{msg}");
        assert_eq!(failure_of(&e), Some(Failure::Transient));
    }

    #[test]
    fn a_lookup_tells_absent_from_found_and_from_failed() {
        let session = quick_session(2, Duration::from_secs(5));
        let sh = |script: &str| vec!["sh".to_owned(), "-c".into(), script.into()];
        let absent = sh("echo 'no such manifest: r/api:sha-1' >&2; exit 1");
        assert_eq!(session.lookup(&absent).unwrap(), Held::Absent);
        let refused = sh("echo 'dial tcp: connect: connection refused' >&2; exit 1");
        assert_eq!(
            failure_of(&session.lookup(&refused).unwrap_err()),
            Some(Failure::Transient)
        );
        let manifest = sh(
            r#"echo '{"Ref": "r/api:sha-1", "Descriptor": {"digest": "sha256:m"},
            "SchemaV2Manifest": {"config": {"digest": "sha256:c"}}}'"#,
        );
        assert_eq!(
            session.lookup(&manifest).unwrap(),
            Held::Found {
                index: false,
                manifests: vec!["sha256:m".into()],
                configs: vec!["sha256:c".into()],
            }
        );
        let index = sh(r#"echo '[{"Descriptor": {"digest": "sha256:m1"},
            "OCIManifest": {"config": {"digest": "sha256:c1"}}},
            {"Descriptor": {"digest": "sha256:m2"}}]'"#);
        assert_eq!(
            session.lookup(&index).unwrap(),
            Held::Found {
                index: true,
                manifests: vec!["sha256:m1".into(), "sha256:m2".into()],
                configs: vec!["sha256:c1".into()],
            }
        );
    }

    #[test]
    fn login_argv_never_carries_the_password() {
        assert_eq!(
            login_argv("alice", "127.0.0.1:5100").join(" "),
            "docker login --username alice --password-stdin 127.0.0.1:5100"
        );
    }

    #[test]
    fn digests_are_read_from_push_and_inspect_output() {
        let d = "sha256:e6357b2742daa55796337b6e40de61f64f5f2b61adcf2e00501a50745e0f116c";
        let push = vec![
            "7d2a303981d5: Pushed".to_owned(),
            format!("sha-1: digest: {d} size: 527"),
        ];
        assert_eq!(pushed_digest(&push).as_deref(), Some(d));
        assert_eq!(pushed_digest(&["Pushed".to_owned()]), None);
        let inspect = vec![
            "{".to_owned(),
            "  \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\","
                .to_owned(),
            format!("  \"digest\": \"{d}\","),
            "  \"size\": 402".to_owned(),
            "}".to_owned(),
        ];
        assert_eq!(manifest_digest(&inspect).unwrap(), d);
        assert!(manifest_digest(&["not found".to_owned()]).is_err());
    }

    #[test]
    fn digests_are_parsed_from_what_docker_printed_and_only_shown_redacted() {
        // A password that occurs in the output (here `a`, inside the digest).
        let session = Session {
            config_dir: None,
            _on_interrupt: None,
            redactor: Redactor::new(["a".to_owned()]),
            retry: Retry::from_env(&env(&[])),
        };
        let digest = format!("sha256:{}", "a".repeat(64));
        let push = Command::new("echo").arg(format!("latest: digest: {digest} size: 528"));
        let mut shown = Vec::new();
        let a = session
            .run_command(&push, |l| shown.push(l.to_owned()))
            .unwrap();
        assert_eq!(pushed_digest(&a.printed), Some(digest.clone()));
        assert!(shown.iter().all(|l| !l.contains(&digest)), "{shown:?}");
        assert!(!format!("{a:?}").contains(&digest));
        let inspect = Command::new("echo").arg(format!(r#"{{"digest":"{digest}"}}"#));
        let a = session.run_command(&inspect, |_| {}).unwrap();
        assert_eq!(manifest_digest(&a.printed).unwrap(), digest);
    }

    #[test]
    fn a_failed_push_names_its_cause_first_and_a_5xx_as_a_server_error() {
        let lines = |ls: &[&str]| Attempt {
            ok: false,
            lines: ls.iter().map(|l| l.to_string()).collect(),
            printed: ls.iter().map(|l| l.to_string()).collect(),
        };
        let e = with_retry(
            Retry {
                attempts: 2,
                base: Duration::ZERO,
                ..Retry::from_env(&env(&[]))
            },
            "docker push r/api:sha-1",
            |_| {},
            |_| {
                Ok(lines(&[
                    "abc123: Pushing",
                    "received unexpected HTTP status: 500 Internal Server Error",
                    "Retrying in 2 seconds",
                ]))
            },
        )
        .unwrap_err();
        let msg = e.to_string();
        let first = msg.lines().next().unwrap();
        assert!(first.contains("500 Internal Server Error"), "{msg}");
        assert!(msg.contains("server error (HTTP 5xx)"), "{msg}");
        assert!(!msg.contains("could not be reached"), "{msg}");
    }
}
