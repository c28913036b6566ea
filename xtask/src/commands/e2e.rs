//! `cargo xtask e2e`: the Playwright suite against the images `build` produced.
//!
//! The plan is plain data: a private network, api and web started detached under hardened
//! options, the runner on the same network writing its reports to `target/xtask/e2e/`, and
//! the commands that remove all of it. Cleanup runs from a guard's `Drop` and from the Ctrl-C
//! handler, so no container or network outlives a run. The exit code is the suite's verdict.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::adapters::exec::{self, Command, EnvironmentError};
use crate::adapters::image;
use crate::adapters::interrupt;
use crate::adapters::workspace::Workspace;
use crate::cli::{Preview, Registry};
use crate::domain::checks::{HARDENED, NO_PRIVILEGES};
use crate::domain::env::Env;
use crate::domain::health::{self, Probe, State};
use crate::domain::identity;
use crate::domain::outcome::Outcome;
use crate::render;

/// Where the reports land, relative to the root; emptied at the start of every run.
pub const OUT_DIR: &str = "target/xtask/e2e";
/// Every network and container of a run is named `xtask-e2e-<run id>[-<role>]`.
pub const PREFIX: &str = "xtask-e2e";
/// Stands for the run id (this process's id) in a dry run, which cannot know the real run's.
pub const RUN_ID: &str = "<run id>";
const LABEL: &str = "dev.shipyard.xtask=e2e";
const API: &str = "api";
const WEB: &str = "web";
const RUNNER: &str = "playwright-runner";
const PORT: u16 = 8080;
/// For `docker network create`, `docker run --detach` of a local image and the like.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// For `docker inspect`, `docker port`, `docker logs`.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub preview: Preview,
    /// How long api and web may take to become healthy.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub health_timeout: u64,
    #[command(flatten)]
    pub registry: Registry,
}

/// The images to run, by id or reference.
#[derive(Debug, Clone)]
pub struct Images {
    pub api: String,
    pub web: String,
    pub runner: String,
}

pub struct E2eInput<'a> {
    /// Makes names unique per run: the process id, or [`RUN_ID`] in a dry run.
    pub run_id: &'a str,
    pub images: &'a Images,
    /// Absolute host directory mounted at `/out` in the runner.
    pub out_dir: &'a Path,
    /// `uid:gid` the runner writes its reports as, so they belong to whoever ran this.
    pub user: Option<&'a str>,
    pub env: &'a Env,
}

#[derive(Debug, Serialize)]
pub struct E2ePlan {
    pub network: String,
    /// Containers that must report healthy before the tests start.
    pub wait_healthy: Vec<String>,
    /// The container whose port 8080 is published on 127.0.0.1.
    pub web: String,
    pub setup: Vec<Vec<String>>,
    pub tests: Vec<String>,
    /// Removes everything `setup` and `tests` create; each command may find nothing.
    pub cleanup: Vec<Vec<String>>,
    pub out_dir: PathBuf,
}

pub fn plan(input: &E2eInput) -> E2ePlan {
    let network = format!("{PREFIX}-{}", input.run_id);
    let name = |role: &str| format!("{network}-{role}");
    let (api, web, runner) = (name("api"), name("web"), name("runner"));
    let strs = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    let service = |container: &str, alias: &str, extra: &[String], image: &str| {
        let mut argv = strs(&["docker", "run", "--detach", "--name", container]);
        argv.extend(strs(&["--network", &network, "--network-alias", alias]));
        argv.extend(strs(&["--label", LABEL]));
        argv.extend(strs(&HARDENED));
        argv.extend_from_slice(extra);
        argv.push(image.to_owned());
        argv
    };
    let api_run = service(&api, "api", &[], &input.images.api);
    let web_run = service(
        &web,
        "web",
        &strs(&[
            "--env",
            &format!("API_URL=http://api:{PORT}"),
            "--publish",
            &format!("127.0.0.1::{PORT}"),
        ]),
        &input.images.web,
    );

    let mut tests = strs(&["docker", "run", "--rm", "--name", &runner]);
    tests.extend(strs(&["--network", &network, "--label", LABEL]));
    tests.extend(strs(&NO_PRIVILEGES));
    if let Some(user) = input.user {
        // An arbitrary uid has no home in the image; npx wants a writable one.
        tests.extend(strs(&["--user", user, "--env", "HOME=/tmp"]));
    }
    tests.extend(strs(&["--env", &format!("BASE_URL=http://web:{PORT}")]));
    if input.env.is_true("CI") {
        tests.extend(strs(&["--env", "CI=true"]));
    }
    tests.extend(strs(&[
        "--mount",
        &format!("type=bind,source={},target=/out", input.out_dir.display()),
        &input.images.runner,
    ]));

    E2ePlan {
        setup: vec![
            strs(&["docker", "network", "create", "--label", LABEL, &network]),
            api_run,
            web_run,
        ],
        tests,
        cleanup: vec![
            strs(&["docker", "rm", "--force", "--volumes", &runner, &web, &api]),
            strs(&["docker", "network", "rm", &network]),
        ],
        wait_healthy: vec![api, web.clone()],
        web,
        network,
        out_dir: input.out_dir.to_owned(),
    }
}

/// What a container's state says about waiting for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Health {
    Starting,
    Ready,
    Failed(String),
}

/// Decides from `docker inspect --format '{{json .State}}'`, as domain/health.rs judges it.
pub fn health(state: &serde_json::Value) -> Health {
    let Ok(state) = serde_json::from_value::<State>(state.clone()) else {
        return Health::Failed(format!("its state is unreadable: {state}"));
    };
    match health::judge(&state) {
        Probe::Starting => Health::Starting,
        // No HEALTHCHECK in the image: running is all it can say.
        Probe::Healthy | Probe::Running => Health::Ready,
        Probe::Stopped { status, exit_code } => {
            Health::Failed(format!("it is {status} (exit code {exit_code})"))
        }
        Probe::Unhealthy { output, .. } => {
            Health::Failed(format!("its health check fails: {output}"))
        }
    }
}

/// The counts of a JUnit report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub tests: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
}

/// Reads the counts from the `<testsuites>` element, or sums the `<testsuite>` elements when
/// there is none.
pub fn parse_junit(xml: &str) -> Result<Summary> {
    let tags = |name: &str| -> Vec<&str> {
        let open = format!("<{name}");
        xml.match_indices(&open)
            .map(|(i, _)| &xml[i + open.len()..])
            .filter(|rest| rest.starts_with([' ', '>', '\n', '\t', '\r']))
            .map(|rest| &rest[..rest.find('>').unwrap_or(rest.len())])
            .collect()
    };
    let attr = |tag: &str, key: &str| -> u64 {
        tag.split_once(&format!(" {key}=\""))
            .and_then(|(_, v)| v.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let count = |tag: &str| Summary {
        tests: attr(tag, "tests"),
        failures: attr(tag, "failures"),
        errors: attr(tag, "errors"),
        skipped: attr(tag, "skipped"),
    };
    if let Some(top) = tags("testsuites").first() {
        return Ok(count(top));
    }
    let suites = tags("testsuite");
    if suites.is_empty() {
        bail!("no <testsuites> or <testsuite> element");
    }
    Ok(suites.iter().fold(Summary::default(), |sum, t| {
        let c = count(t);
        Summary {
            tests: sum.tests + c.tests,
            failures: sum.failures + c.failures,
            errors: sum.errors + c.errors,
            skipped: sum.skipped + c.skipped,
        }
    }))
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub passed: bool,
    /// The private network of the run; its containers are named after it.
    pub network: String,
    #[serde(flatten)]
    pub summary: Summary,
    pub junit: PathBuf,
    pub html: PathBuf,
    pub test_results: PathBuf,
    /// Where web was published while the tests ran.
    pub web_url: Option<String>,
    pub duration_secs: f64,
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let services = ws
        .config
        .select(&[API.into(), WEB.into(), RUNNER.into()])
        .map_err(exec::usage)?;
    let out_dir = ws.root.join(OUT_DIR);
    let mut missing = Vec::new();
    let mut images = Vec::new();
    for s in &services {
        match image::recorded_id(&ws.root, &s.name) {
            Some(id) => images.push(id),
            None => {
                missing.push(s.name.as_str());
                let ns = args.registry.namespace(ws)?;
                images.push(identity::repository(&ns, s));
            }
        }
    }
    if !missing.is_empty() && !args.preview.dry_run {
        return Err(EnvironmentError::new(format!(
            "no image of {} has been built here: build them first: cargo xtask build",
            missing.join(", ")
        )));
    }
    let images = Images {
        api: images[0].clone(),
        web: images[1].clone(),
        runner: images[2].clone(),
    };
    // Read the same way (no process started) for a dry run and a run, so both plan alike.
    let user = current_user();
    let run_id = if args.preview.dry_run {
        RUN_ID.to_owned()
    } else {
        exec::process_id().to_string()
    };
    let plan = plan(&E2eInput {
        run_id: &run_id,
        images: &images,
        out_dir: &out_dir,
        user: user.as_deref(),
        env: &ws.env,
    });

    if args.preview.dry_run {
        if !missing.is_empty() {
            eprintln!(
                "note: {} not built yet: planned with image names; `cargo xtask build` first",
                missing.join(", ")
            );
        }
        print_plan(&plan, args.preview.json());
        return Ok(Outcome::Clean);
    }

    let started = Instant::now();
    let report = execute(&ws.root, &plan, Duration::from_secs(args.health_timeout))?;
    let report = Report {
        duration_secs: started.elapsed().as_secs_f64(),
        ..report
    };
    if args.preview.json() {
        render::print_json(&report);
    } else {
        print!("{}", summary(&report, &ws.root));
    }
    Ok(Outcome::failed_if(!report.passed, || {
        format!(
            "end-to-end tests failed: {} of {} failed, {} errors; report: {}",
            report.summary.failures,
            report.summary.tests,
            report.summary.errors,
            relative(&ws.root, &report.html.join("index.html")).display()
        )
    }))
}

fn print_plan(plan: &E2ePlan, json: bool) {
    if json {
        render::print_json(plan);
        return;
    }
    println!("# start api and web on network {}", plan.network);
    for argv in &plan.setup {
        println!("{}", Command::from_argv(argv));
    }
    println!(
        "\n# wait until healthy: {}\n\n# run the tests\n{}\n\n# always, at the end\n",
        plan.wait_healthy.join(", "),
        Command::from_argv(&plan.tests)
    );
    for argv in &plan.cleanup {
        println!("{}", Command::from_argv(argv));
    }
}

/// Effective `uid:gid` of this process (what `id -u` and `id -g` print), read from the owner
/// of `/proc/self` without starting a process; `None` where there is no `/proc`.
#[cfg(unix)]
fn current_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = fs::metadata("/proc/self").ok()?;
    Some(format!("{}:{}", me.uid(), me.gid()))
}

#[cfg(not(unix))]
fn current_user() -> Option<String> {
    None
}

fn execute(root: &Path, plan: &E2ePlan, health_timeout: Duration) -> Result<Report> {
    let _ = fs::remove_dir_all(&plan.out_dir);
    fs::create_dir_all(&plan.out_dir)
        .with_context(|| format!("creating {}", plan.out_dir.display()))?;

    let stack = Stack::new(plan.cleanup.clone());
    let _on_interrupt = stack.on_interrupt();
    for argv in &plan.setup {
        stack.step(argv)?;
    }
    for container in &plan.wait_healthy {
        wait_healthy(container, health_timeout)?;
    }
    let web_url = published_url(&plan.web);
    match &web_url {
        Some(url) => {
            eprintln!("e2e | api and web are healthy; web is at {url} while the tests run")
        }
        None => eprintln!("e2e | api and web are healthy"),
    }
    // The suite is bounded by its own timeouts (Playwright's), not by one of ours.
    let tests = Command::from_argv(&plan.tests).dir(root);
    eprintln!("e2e | $ {tests}");
    let ok = exec::stream(&tests, |line| eprintln!("e2e | {line}"))?;
    drop(stack);

    let junit = plan.out_dir.join("junit.xml");
    let summary = match fs::read_to_string(&junit) {
        Ok(xml) => parse_junit(&xml).with_context(|| format!("reading {}", junit.display()))?,
        Err(_) if !ok => {
            return Err(exec::ToolError::new(format!(
                "the test runner failed before writing {} (its output is above)",
                junit.display()
            )))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", junit.display())),
    };
    Ok(Report {
        passed: ok && summary.failures == 0 && summary.errors == 0,
        network: plan.network.clone(),
        summary,
        junit,
        html: plan.out_dir.join("html"),
        test_results: plan.out_dir.join("test-results"),
        web_url,
        duration_secs: 0.0,
    })
}

fn wait_healthy(container: &str, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        let state = inspect_state(container)?;
        let failure = match health(&state) {
            Health::Ready => return Ok(()),
            Health::Failed(why) => why,
            Health::Starting if started.elapsed() > timeout => format!(
                "it is still {} after {}",
                state["Health"]["Status"].as_str().unwrap_or("starting"),
                render::duration(timeout)
            ),
            Health::Starting => {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        bail!(
            "{container} did not become healthy: {failure}; its logs:\n{}",
            logs(container)
        );
    }
}

fn inspect_state(container: &str) -> Result<serde_json::Value> {
    let out = exec::read(&query(&[
        "inspect",
        "--format",
        "{{json .State}}",
        container,
    ]))?;
    serde_json::from_str(&out).context("unexpected `docker inspect` output")
}

/// `docker ARGS...`, a question about a container that answers quickly.
fn query(args: &[&str]) -> Command {
    Command::new("docker")
        .args(args.iter().copied())
        .timeout(QUERY_TIMEOUT)
}

fn logs(container: &str) -> String {
    exec::output(&query(&["logs", "--tail", "50", container]))
        .map(|o| format!("{}{}", o.stdout, o.stderr))
        .unwrap_or_default()
}

fn published_url(container: &str) -> Option<String> {
    let out = exec::read(&query(&["port", container, &PORT.to_string()])).ok()?;
    Some(format!("http://{}", out.lines().next()?.trim()))
}

/// Whatever `setup` created, removed exactly once: when dropped, or on Ctrl-C.
struct Stack(Arc<Mutex<Option<Vec<Vec<String>>>>>);

impl Stack {
    fn new(cleanup: Vec<Vec<String>>) -> Stack {
        Stack(Arc::new(Mutex::new(Some(cleanup))))
    }

    /// Runs one setup command. The lock keeps Ctrl-C's cleanup from running in the middle of
    /// it (and then missing what it creates).
    fn step(&self, argv: &[String]) -> Result<()> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            bail!("interrupted");
        }
        let cmd = Command::from_argv(argv).timeout(STEP_TIMEOUT).shielded();
        let out = exec::output(&cmd)?;
        if !out.success {
            bail!("`{cmd}` failed: {}", out.stderr.trim());
        }
        Ok(())
    }

    /// Ctrl-C (or SIGTERM) removes the stack, then the process exits 130; a second one
    /// exits at once (adapters/interrupt.rs). Kept registered while the returned value lives.
    fn on_interrupt(&self) -> Option<interrupt::Registered> {
        let cleanup = Arc::clone(&self.0);
        let registered = interrupt::on_interrupt(move || {
            eprintln!("e2e | removing the containers and network");
            remove(&cleanup);
        });
        match registered {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("note: {e}; an interrupted run may leave containers behind");
                None
            }
        }
    }
}

fn remove(cleanup: &Mutex<Option<Vec<Vec<String>>>>) {
    let mut guard = cleanup.lock().unwrap_or_else(|e| e.into_inner());
    for argv in guard.take().unwrap_or_default() {
        // Each may find nothing to remove; a stuck daemon must not hold the exit forever.
        let _ = exec::quiet(&Command::from_argv(&argv).timeout(STEP_TIMEOUT));
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

fn relative<'a>(root: &Path, path: &'a Path) -> &'a Path {
    path.strip_prefix(root).unwrap_or(path)
}

fn summary(report: &Report, root: &Path) -> String {
    let s = &report.summary;
    format!(
        "e2e {}: {} tests, {} failures, {} errors, {} skipped in {}\nreport: {}\njunit:  {}\n",
        if report.passed { "passed" } else { "FAILED" },
        s.tests,
        s.failures,
        s.errors,
        s.skipped,
        render::duration(Duration::from_secs_f64(report.duration_secs)),
        relative(root, &report.html.join("index.html")).display(),
        relative(root, &report.junit).display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(env: &[(&str, &str)], user: Option<&str>) -> E2ePlan {
        let env: Env = env.iter().copied().collect();
        plan(&E2eInput {
            run_id: "42",
            images: &Images {
                api: "sha256:aaa".into(),
                web: "sha256:bbb".into(),
                runner: "sha256:ccc".into(),
            },
            out_dir: Path::new("/repo/target/xtask/e2e"),
            user,
            env: &env,
        })
    }

    #[test]
    fn services_start_hardened_on_a_private_network() {
        let p = planned(&[], Some("1000:1000"));
        let setup: Vec<String> = p.setup.iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            setup,
            [
                "docker network create --label dev.shipyard.xtask=e2e xtask-e2e-42",
                "docker run --detach --name xtask-e2e-42-api --network xtask-e2e-42 --network-alias api \
                 --label dev.shipyard.xtask=e2e --read-only --tmpfs /tmp --cap-drop ALL \
                 --security-opt no-new-privileges sha256:aaa",
                "docker run --detach --name xtask-e2e-42-web --network xtask-e2e-42 --network-alias web \
                 --label dev.shipyard.xtask=e2e --read-only --tmpfs /tmp --cap-drop ALL \
                 --security-opt no-new-privileges --env API_URL=http://api:8080 \
                 --publish 127.0.0.1::8080 sha256:bbb",
            ]
        );
        assert_eq!(p.wait_healthy, ["xtask-e2e-42-api", "xtask-e2e-42-web"]);
        assert_eq!(p.web, "xtask-e2e-42-web");
    }

    #[test]
    fn runner_writes_reports_to_the_mounted_out_dir_as_the_user() {
        let p = planned(&[], Some("1000:1000"));
        assert_eq!(
            p.tests.join(" "),
            "docker run --rm --name xtask-e2e-42-runner --network xtask-e2e-42 \
             --label dev.shipyard.xtask=e2e --cap-drop ALL --security-opt no-new-privileges \
             --user 1000:1000 --env HOME=/tmp --env BASE_URL=http://web:8080 \
             --mount type=bind,source=/repo/target/xtask/e2e,target=/out sha256:ccc"
        );
        let without_user = planned(&[], None).tests.join(" ");
        assert!(!without_user.contains("--user"), "{without_user}");
    }

    #[test]
    fn ci_gets_playwright_retries() {
        let a = planned(&[("CI", "true")], None).tests.join(" ");
        assert!(a.contains("--env CI=true"), "{a}");
        let a = planned(&[("CI", "")], None).tests.join(" ");
        assert!(!a.contains("CI="), "{a}");
    }

    #[test]
    fn only_web_is_published_and_only_on_loopback() {
        let p = planned(&[], None);
        let published: Vec<String> = p
            .setup
            .iter()
            .chain([&p.tests])
            .flat_map(|a| {
                a.windows(2)
                    .filter(|w| w[0] == "--publish")
                    .map(|w| w[1].clone())
            })
            .collect();
        assert_eq!(published, ["127.0.0.1::8080"]);
    }

    #[test]
    fn cleanup_removes_every_container_and_the_network() {
        let p = planned(&[], None);
        let cleanup: Vec<String> = p.cleanup.iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            cleanup,
            [
                "docker rm --force --volumes xtask-e2e-42-runner xtask-e2e-42-web xtask-e2e-42-api",
                "docker network rm xtask-e2e-42",
            ]
        );
        for argv in p.setup.iter().chain([&p.tests]) {
            if let Some(i) = argv.iter().position(|a| a == "--name") {
                assert!(
                    cleanup[0].contains(&argv[i + 1]),
                    "{} is not removed",
                    argv[i + 1]
                );
            }
        }
    }

    #[test]
    fn health_waits_for_healthy_and_fails_fast_on_exit_or_unhealthy() {
        let state = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(
            health(&state(
                r#"{"Status":"running","Health":{"Status":"starting"}}"#
            )),
            Health::Starting
        );
        assert_eq!(
            health(&state(
                r#"{"Status":"running","Health":{"Status":"healthy"}}"#
            )),
            Health::Ready
        );
        assert_eq!(health(&state(r#"{"Status":"running"}"#)), Health::Ready);
        assert_eq!(
            health(&state(r#"{"Status":"exited","ExitCode":101}"#)),
            Health::Failed("it is exited (exit code 101)".into())
        );
        assert_eq!(
            health(&state(
                r#"{"Status":"running","Health":{"Status":"unhealthy","Log":[{"Output":"connection refused\n"}]}}"#
            )),
            Health::Failed("its health check fails: connection refused".into())
        );
    }

    #[test]
    fn junit_counts_come_from_testsuites() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites id="" name="" tests="8" failures="1" skipped="2" errors="0" time="12.3">
<testsuite name="health.spec.js" timestamp="2026-11-23T10:00:00" hostname="chromium" tests="2" failures="0" skipped="0" time="1.2" errors="0">
</testsuite>
</testsuites>"#;
        assert_eq!(
            parse_junit(xml).unwrap(),
            Summary {
                tests: 8,
                failures: 1,
                errors: 0,
                skipped: 2
            }
        );
    }

    #[test]
    fn junit_without_testsuites_sums_the_suites() {
        let xml = r#"<testsuite name="a" tests="2" failures="1" errors="0" skipped="0"></testsuite>
<testsuite name="b" tests="3" failures="0" errors="1" skipped="1"/>"#;
        assert_eq!(
            parse_junit(xml).unwrap(),
            Summary {
                tests: 5,
                failures: 1,
                errors: 1,
                skipped: 1
            }
        );
        assert!(parse_junit("<html></html>").is_err());
    }

    #[test]
    fn summary_names_counts_and_report() {
        let report = Report {
            passed: false,
            summary: Summary {
                tests: 8,
                failures: 1,
                errors: 0,
                skipped: 0,
            },
            network: "xtask-e2e-42".into(),
            junit: PathBuf::from("/repo/target/xtask/e2e/junit.xml"),
            html: PathBuf::from("/repo/target/xtask/e2e/html"),
            test_results: PathBuf::from("/repo/target/xtask/e2e/test-results"),
            web_url: None,
            duration_secs: 30.0,
        };
        assert_eq!(
            summary(&report, Path::new("/repo")),
            "e2e FAILED: 8 tests, 1 failures, 0 errors, 0 skipped in 30.0s\n\
             report: target/xtask/e2e/html/index.html\njunit:  target/xtask/e2e/junit.xml\n"
        );
    }
}
