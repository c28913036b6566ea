//! `cargo xtask ci`: the whole pipeline, as CI runs it and as a contributor can run it.
//!
//! build → scan → verify → e2e → push → sign, each stage being the very `cargo xtask <stage>`
//! command a person would type (run as a child with `--json`, so CI and a laptop cannot
//! drift). The first failing stage stops the run; the summary covers every stage run so far.
//! Push only happens where the `[ci] push_on` policy allows it: by default on the default
//! branch and on tags, never on pull requests; and only to a registry: without one (the
//! local `shipyard` namespace) push and sign are skipped, saying why. What was pushed is signed when signing is
//! configured: a key in `COSIGN_KEY`, or keyless where GitHub Actions offers an OIDC token.
//! In GitHub Actions each stage's output is one log group (except with `--json`, whose
//! stdout is the report alone), the summary also goes to the step summary, a failure
//! becomes an `::error` annotation and the image refs and digests become step outputs.
//! The stages pass what they learn along through the build record (domain/record.rs):
//! `build` writes it, `scan` and `verify` add their verdicts, `push` and `sign` read it;
//! `--staging TAG` has push stage the images for a later `promote --from-record`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::adapters::exec::{self, Command, EnvironmentError, ToolError, UsageError};
use crate::adapters::workspace::Workspace;
use crate::cli::{AllowDirty, Preview, Registry};
use crate::domain::config::PushOn;
use crate::domain::git::GitContext;
use crate::domain::identity;
use crate::domain::outcome::Outcome;
use crate::domain::record::RECORD_DIR;
use crate::render::{self, Table};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub registry: Registry,
    /// Push even where the `[ci] push_on` policy would not (e.g. a feature branch); needs a
    /// registry.
    #[arg(long, conflicts_with = "no_push")]
    pub push: bool,
    /// Never push, whatever the policy says.
    #[arg(long)]
    pub no_push: bool,
    /// Scan with the vulnerability database as it is, without updating it.
    #[arg(long)]
    pub skip_db_update: bool,
    #[command(flatten)]
    pub dirty: AllowDirty,
    /// Where it pushes, push each image under this tag only (`push --staging`) and do not
    /// sign: a later `promote --from-record` releases the recorded digests, then `sign`.
    #[arg(long, value_name = "TAG")]
    pub staging: Option<String>,
    #[command(flatten)]
    pub preview: Preview,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Build,
    Scan,
    Verify,
    E2e,
    Push,
    Sign,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Build,
        Stage::Scan,
        Stage::Verify,
        Stage::E2e,
        Stage::Push,
        Stage::Sign,
    ];

    fn name(self) -> &'static str {
        match self {
            Stage::Build => "build",
            Stage::Scan => "scan",
            Stage::Verify => "verify",
            Stage::E2e => "e2e",
            Stage::Push => "push",
            Stage::Sign => "sign",
        }
    }

    /// The `cargo xtask` arguments of this stage.
    pub fn args(self, args: &Args) -> Vec<String> {
        let mut argv = vec![self.name().to_owned(), "--json".to_owned()];
        if let (Some(r), Stage::Build | Stage::Scan | Stage::Push | Stage::Sign) =
            (&args.registry.value, self)
        {
            argv.extend(["--registry".to_owned(), r.clone()]);
        }
        if args.skip_db_update && self == Stage::Scan {
            argv.push("--skip-db-update".into());
        }
        if args.dirty.allow_dirty && self == Stage::Push {
            argv.push("--allow-dirty".into());
        }
        if let (Some(tag), Stage::Push) = (&args.staging, self) {
            argv.extend(["--staging".to_owned(), tag.clone()]);
        }
        argv
    }
}

/// Whether this run pushes, and why, from the policy and the git context alone.
pub fn push_decision(policy: &[PushOn], ctx: &GitContext) -> (bool, String) {
    let allowed = |p: PushOn| policy.contains(&p);
    let (ok, what) = if let Some(n) = ctx.pull_request() {
        (allowed(PushOn::PullRequests), format!("pull request #{n}"))
    } else if ctx.event.contains("schedule") {
        (allowed(PushOn::Schedule), "a scheduled run".to_owned())
    } else if let Some(t) = ctx.tag() {
        (allowed(PushOn::Tags), format!("tag {t}"))
    } else if let Some(b) = ctx.branch() {
        let default = b == ctx.default_branch;
        let ok = allowed(PushOn::Branches) || (default && allowed(PushOn::DefaultBranch));
        (
            ok,
            if default {
                format!("the default branch {b}")
            } else {
                format!("branch {b}")
            },
        )
    } else {
        (false, "a detached HEAD that no tag points at".to_owned())
    };
    let verdict = if ok { "pushes" } else { "does not push" };
    (
        ok,
        format!("{what} {verdict} under [ci] push_on = {policy:?}"),
    )
}

/// Whether this run pushes, and why: `--push` and `--no-push` first, then the policy, and
/// only ever to a registry. A namespace without a registry host (`shipyard`) names local
/// images only: push and sign are then skipped, unless `--push` asked for them, which is a
/// usage error before anything runs.
pub fn decide_push(
    push: bool,
    no_push: bool,
    policy: &[PushOn],
    ctx: &GitContext,
    namespace: &str,
) -> Result<(bool, String)> {
    let local = identity::registry_host(namespace).is_none();
    if push && local {
        return Err(UsageError::new(format!(
            "--push needs a registry, but `{namespace}` names local images only: set it with \
             --registry, XTASK_REGISTRY or [registry] namespace, e.g. `127.0.0.1:5000/$USER`"
        )));
    }
    let (ok, why) = match (push, no_push) {
        (true, _) => (true, "--push".to_owned()),
        (_, true) => (false, "--no-push".to_owned()),
        _ => push_decision(policy, ctx),
    };
    Ok(if ok && local {
        (false, no_registry(namespace))
    } else {
        (ok, why)
    })
}

/// Why push and sign are skipped when the namespace has no registry host.
fn no_registry(namespace: &str) -> String {
    format!(
        "no registry configured: `{namespace}` names local images only; set --registry, \
         XTASK_REGISTRY or [registry] namespace to push"
    )
}

#[derive(Debug, Serialize)]
pub struct StageRun {
    pub stage: Stage,
    /// `passed`, `failed` or `skipped`.
    pub result: &'static str,
    pub duration_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip)]
    exit_code: Option<i32>,
    #[serde(skip)]
    report: Value,
}

/// The pipeline as decided before anything runs: whether it pushes, and per stage either
/// the child `cargo xtask` command or why the stage is skipped.
#[derive(Debug)]
pub struct CiPlan {
    pub push: bool,
    pub why: String,
    pub stages: Vec<(Stage, Step)>,
}

#[derive(Debug)]
pub enum Step {
    Run(Command),
    Skip(String),
}

impl CiPlan {
    /// The child commands in the order they run (a failing stage stops the rest).
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        self.stages.iter().filter_map(|(_, step)| match step {
            Step::Run(cmd) => Some(cmd),
            Step::Skip(_) => None,
        })
    }
}

/// Decides the stages from the push decision and whether signing is configured; each stage
/// runs `exe --config <config> <stage> --json ...`.
pub fn plan(
    args: &Args,
    (push, why): (bool, String),
    signing: &std::result::Result<(), String>,
    exe: &Path,
    config: &Path,
) -> CiPlan {
    let stages = Stage::ALL
        .into_iter()
        .map(|stage| {
            let step = match (stage, signing) {
                (Stage::Push | Stage::Sign, _) if !push => Step::Skip(why.clone()),
                (Stage::Sign, _) if args.staging.is_some() => Step::Skip(
                    "--staging: the images are signed once promote --from-record has \
                     released them"
                        .to_owned(),
                ),
                (Stage::Sign, Err(no_key)) => Step::Skip(format!("not signing: {no_key}")),
                _ => Step::Run(
                    Command::new(exe.display().to_string())
                        .arg("--config")
                        .arg(config.display().to_string())
                        .args(stage.args(args)),
                ),
            };
            (stage, step)
        })
        .collect();
    CiPlan { push, why, stages }
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let ctx = ws.git_context()?;
    let namespace = args.registry.namespace(ws)?;
    let decision = decide_push(
        args.push,
        args.no_push,
        &ws.config.ci.push_on,
        &ctx,
        &namespace,
    )?;
    if decision.0 {
        identity::may_publish(&ctx, args.dirty.allow_dirty)?;
    }
    let exe = std::env::current_exe().context("locating the running xtask")?;
    let signing = crate::domain::signing::signer(None, &ws.env)
        .map(|_| ())
        .map_err(|e| format!("{e:#}"));
    let plan = plan(args, decision, &signing, &exe, &ws.config.path);
    eprintln!(
        "ci for {}: {}",
        ctx.describe(),
        if plan.push {
            "will push"
        } else {
            "will not push"
        }
    );
    eprintln!("     ({})", plan.why);
    if args.preview.dry_run {
        for (stage, step) in &plan.stages {
            if let Step::Skip(reason) = step {
                eprintln!("note: {} is skipped: {reason}", stage.name());
            }
        }
        render::print_commands(plan.commands(), args.preview.json());
        return Ok(Outcome::Clean);
    }
    let runs = execute(&plan, ws.env.github_actions(), args.preview.json())?;
    report(ws, args, &runs)
}

/// How one stage's output is set apart in the log: a heading on stderr and, when `group`,
/// a GitHub Actions log group of the same title around it.
#[derive(Debug, PartialEq, Eq)]
struct Section {
    title: String,
    group: bool,
}

/// The section of the `i`th (from 0) of `total` stages, running `cmd`: a log group when
/// `github` (running as an Actions step) unless `json`, as stdout then holds the report alone.
fn section(i: usize, total: usize, cmd: &Command, github: bool, json: bool) -> Section {
    Section {
        title: format!(
            "[{}/{total}] cargo xtask {}",
            i + 1,
            cmd.args.get(2..).unwrap_or_default().join(" ")
        ),
        group: github && !json,
    }
}

impl Section {
    /// Prints the opening of the section; the group, if any, ends when the guard is dropped.
    fn open(&self) -> render::Group {
        let group = render::group(self.group, &self.title);
        eprintln!("\n==> {}", self.title);
        group
    }
}

/// Runs the planned stages in order until one fails, each stage's output in its own
/// section of the log (see [`section`]).
fn execute(plan: &CiPlan, github: bool, json: bool) -> Result<Vec<StageRun>> {
    let mut runs: Vec<StageRun> = Vec::new();
    for (i, (stage, step)) in plan.stages.iter().enumerate() {
        let cmd = match step {
            Step::Skip(reason) => {
                runs.push(StageRun {
                    stage: *stage,
                    result: "skipped",
                    duration_secs: 0.0,
                    reason: Some(reason.clone()),
                    exit_code: None,
                    report: Value::Null,
                });
                continue;
            }
            Step::Run(cmd) => cmd,
        };
        let section = section(i, plan.stages.len(), cmd, github, json);
        let group = section.open();
        let run = run_stage(*stage, cmd)?;
        drop(group);
        let failed = run.result == "failed";
        runs.push(run);
        if failed {
            break;
        }
    }
    Ok(runs)
}

/// The summary (tables or `--json`), GitHub's outputs, and the exit code of the first
/// failing stage.
/// Prints the stages, and concludes as the failed stage did: its verdict (exit 1) or its
/// error class (2, 3, 4) again.
fn report(ws: &Workspace, args: &Args, runs: &[StageRun]) -> Result<Outcome> {
    let mut services = service_rows(runs);
    // What the stages recorded for each image: the build's record, which scan, verify and
    // push added to and which a later promote --from-record releases.
    for row in &mut services {
        if let Ok(Some(r)) = crate::adapters::records::read(&ws.root, &row.name) {
            row.image_id = Some(r.image_id.clone());
            row.record = Some(format!("{RECORD_DIR}/{}.json", row.name));
            if row.digest.is_none() {
                row.digest = r.pushed.map(|p| p.digest);
            }
        }
    }
    eprintln!();
    if args.preview.json() {
        let passed = runs.iter().all(|r| r.result != "failed");
        render::print_json(
            &serde_json::json!({ "passed": passed, "stages": runs, "services": services }),
        );
    } else {
        print!("{}", stage_table(runs).render());
        if !services.is_empty() {
            println!();
            print!("{}", service_table(&services).render());
        }
    }
    if ws.env.github_actions() {
        report_to_github(ws, runs, &services, !args.preview.json())?;
    }
    match runs.iter().find(|r| r.result == "failed") {
        None => Ok(Outcome::Clean),
        Some(failed) => {
            let message = format!(
                "the pipeline stopped at `cargo xtask {}`; rerun that command to see why",
                failed.stage.name()
            );
            Err(match failed.exit_code {
                Some(2) => UsageError::new(message),
                Some(3) => EnvironmentError::new(message),
                Some(4) => ToolError::new(message),
                _ => return Ok(Outcome::Failed(message)),
            })
        }
    }
}

/// Runs one stage's child with its stdout (the JSON report) captured and its stderr live on
/// the terminal; its exit code is kept for ci's own.
fn run_stage(stage: Stage, cmd: &Command) -> Result<StageRun> {
    let started = Instant::now();
    let out =
        exec::stdout(cmd).with_context(|| format!("cannot run `cargo xtask {}`", stage.name()))?;
    let report: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let (result, reason) = match (out.success, report.is_null()) {
        (true, false) => ("passed", None),
        (true, true) => ("failed", Some("printed no JSON report".to_owned())),
        (false, _) => (
            "failed",
            Some(match out.code {
                Some(code) => format!("exited with code {code}"),
                None => "was killed by a signal".to_owned(),
            }),
        ),
    };
    Ok(StageRun {
        stage,
        result,
        duration_secs: started.elapsed().as_secs_f64(),
        reason,
        exit_code: out.code,
        report,
    })
}

/// One row per service, joined from the stages' JSON reports.
#[derive(Debug, Default, Serialize)]
pub struct ServiceRow {
    pub name: String,
    pub image: String,
    pub tags: Vec<String>,
    pub size_bytes: Option<u64>,
    pub size_budget_mb: Option<u64>,
    /// Vulnerability counts by severity as `fixed/unfixed`, and secrets.
    pub vulnerabilities: Option<Value>,
    pub verified: Option<bool>,
    pub digest: Option<String>,
    /// From the build record.
    pub image_id: Option<String>,
    /// The build record's file, relative to the root.
    pub record: Option<String>,
}

fn service_rows(runs: &[StageRun]) -> Vec<ServiceRow> {
    let report = |stage: Stage| runs.iter().find(|r| r.stage == stage).map(|r| &r.report);
    let mut rows: BTreeMap<String, ServiceRow> = BTreeMap::new();
    let list = |stage: Stage, key: &str| -> Vec<Value> {
        report(stage)
            .and_then(|r| r.get(key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for s in list(Stage::Build, "services") {
        let name = s["name"].as_str().unwrap_or_default().to_owned();
        rows.insert(
            name.clone(),
            ServiceRow {
                name,
                image: s["image"].as_str().unwrap_or_default().to_owned(),
                tags: s["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                size_bytes: s["size_bytes"].as_u64(),
                size_budget_mb: s["size_budget_mb"].as_u64(),
                ..ServiceRow::default()
            },
        );
    }
    for s in list(Stage::Scan, "images") {
        if let Some(row) = s["service"].as_str().and_then(|n| rows.get_mut(n)) {
            row.vulnerabilities = Some(s["counts"].clone());
        }
    }
    for s in list(Stage::Verify, "images") {
        if let Some(row) = s["name"].as_str().and_then(|n| rows.get_mut(n)) {
            row.verified = s["passed"].as_bool();
        }
    }
    for s in list(Stage::Push, "services") {
        if let Some(row) = s["name"].as_str().and_then(|n| rows.get_mut(n)) {
            row.digest = s["digest"].as_str().map(str::to_owned);
            if let Some(repo) = s["repository"].as_str() {
                row.image = repo.to_owned();
            }
        }
    }
    rows.into_values().collect()
}

fn stage_table(runs: &[StageRun]) -> Table {
    let mut t = Table::new(["stage", "result", "time", "note"]);
    for r in runs {
        t.row([
            r.stage.name().to_owned(),
            r.result.to_owned(),
            render::duration(std::time::Duration::from_secs_f64(r.duration_secs)),
            r.reason.clone().unwrap_or_default(),
        ]);
    }
    t
}

/// `C 0/1 H 2/0 M 3/1 L 0/0 S 0`: counts by severity, fixed/unfixed, then secrets.
fn vulnerability_cell(counts: &Value) -> String {
    let pair = |k: &str| {
        format!(
            "{}/{}",
            counts[k]["fixed"].as_u64().unwrap_or(0),
            counts[k]["unfixed"].as_u64().unwrap_or(0)
        )
    };
    format!(
        "C {} H {} M {} L {} S {}",
        pair("critical"),
        pair("high"),
        pair("medium"),
        pair("low"),
        counts["secrets"].as_u64().unwrap_or(0)
    )
}

fn service_table(rows: &[ServiceRow]) -> Table {
    let mut t = Table::new([
        "service",
        "image",
        "size / budget",
        "vulnerabilities (fixed/unfixed)",
        "verified",
        "digest",
    ]);
    for r in rows {
        let size = match (r.size_bytes, r.size_budget_mb) {
            (Some(b), Some(budget)) => format!("{} / {budget} MB", render::megabytes(b)),
            _ => "-".into(),
        };
        t.row([
            r.name.clone(),
            r.image.clone(),
            size,
            r.vulnerabilities
                .as_ref()
                .map_or("-".into(), vulnerability_cell),
            r.verified
                .map_or("-".into(), |v| if v { "yes".into() } else { "NO".into() }),
            r.digest
                .as_deref()
                .map_or("-".into(), |d| d.chars().take(19).collect()),
        ]);
    }
    t
}

/// Step summary, annotations and outputs: what GitHub shows for the run. Annotations are
/// workflow commands on stdout, so they are left out when stdout carries `--json`.
fn report_to_github(
    ws: &Workspace,
    runs: &[StageRun],
    services: &[ServiceRow],
    annotate: bool,
) -> Result<()> {
    for r in runs.iter().filter(|_| annotate) {
        match (r.result, &r.reason) {
            ("failed", reason) => println!(
                "::error title=cargo xtask {} failed::{}",
                r.stage.name(),
                reason.as_deref().unwrap_or("see the step log")
            ),
            ("skipped", Some(reason)) => {
                println!("::notice title={} skipped::{reason}", r.stage.name())
            }
            _ => {}
        }
    }
    if let Some(path) = ws.env.get("GITHUB_STEP_SUMMARY") {
        let mut md = String::from("## cargo xtask ci\n\n");
        md += &stage_table(runs).render_markdown();
        if !services.is_empty() {
            md += "\n";
            md += &service_table(services).render_markdown();
        }
        render::append_step_summary(Path::new(path), &md)?;
    }
    if let Some(path) = ws.env.get("GITHUB_OUTPUT") {
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening GITHUB_OUTPUT {path}"))?;
        writeln!(out, "{}", github_outputs(runs, services))?;
    }
    Ok(())
}

/// `key=value` lines for `GITHUB_OUTPUT`: `passed`, `images` (JSON), and per service
/// `<service>-image` and `<service>-digest`.
fn github_outputs(runs: &[StageRun], services: &[ServiceRow]) -> String {
    let passed = runs.iter().all(|r| r.result != "failed");
    let images: Vec<Value> = services
        .iter()
        .map(|s| {
            serde_json::json!({
                "service": s.name,
                "image": s.image,
                "tags": s.tags.iter().map(|t| format!("{}:{t}", s.image)).collect::<Vec<_>>(),
                "digest": s.digest,
            })
        })
        .collect();
    let mut lines = vec![
        format!("passed={passed}"),
        format!("images={}", Value::Array(images)),
        format!("record={RECORD_DIR}"),
    ];
    for s in services {
        lines.push(format!("{}-image={}", s.name, s.image));
        if let Some(id) = &s.image_id {
            lines.push(format!("{}-image-id={id}", s.name));
        }
        if let Some(d) = &s.digest {
            lines.push(format!("{}-digest={d}", s.name));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::git::fixture;

    const DEFAULT: &[PushOn] = &[PushOn::DefaultBranch, PushOn::Tags];

    #[test]
    fn default_policy_pushes_default_branch_and_tags_only() {
        assert!(push_decision(DEFAULT, &fixture("push", "refs/heads/main")).0);
        assert!(push_decision(DEFAULT, &fixture("push", "refs/tags/v1.2.3")).0);
        assert!(!push_decision(DEFAULT, &fixture("push", "refs/heads/feature/x")).0);
        assert!(!push_decision(DEFAULT, &fixture("schedule", "refs/heads/main")).0);
        assert!(!push_decision(DEFAULT, &fixture("push", "")).0);
    }

    #[test]
    fn pull_requests_never_push_unless_configured() {
        let pr = fixture("pull_request", "refs/pull/7/merge");
        let (push, why) = push_decision(DEFAULT, &pr);
        assert!(!push);
        assert!(why.starts_with("pull request #7 does not push"), "{why}");
        assert!(push_decision(&[PushOn::PullRequests], &pr).0);
        assert!(!push_decision(&[PushOn::Branches], &pr).0);
    }

    #[test]
    fn branches_policy_covers_every_branch() {
        assert!(
            push_decision(
                &[PushOn::Branches],
                &fixture("push", "refs/heads/feature/x")
            )
            .0
        );
    }

    #[test]
    fn push_needs_a_registry_and_only_push_insists_on_one() {
        const ALL: &[PushOn] = &[PushOn::Branches, PushOn::Tags];
        const REG: &str = "127.0.0.1:5000/acme";
        const LOCAL: &str = "shipyard";
        const MAIN: &str = "refs/heads/main";
        const DEV: &str = "refs/heads/dev";
        const TAG: &str = "refs/tags/v1.2.3";
        const NO_REGISTRY: &str = "no registry configured: `shipyard` names local images only";
        // namespace, ref, flag, policy => pushes, the reason says
        for (namespace, git_ref, flag, policy, want, why) in [
            (REG, MAIN, "", DEFAULT, true, "branch main pushes"),
            (REG, TAG, "", DEFAULT, true, "tag v1.2.3 pushes"),
            (REG, DEV, "", DEFAULT, false, "branch dev does not push"),
            (REG, DEV, "", ALL, true, "branch dev pushes"),
            (REG, DEV, "--push", DEFAULT, true, "--push"),
            (REG, MAIN, "--no-push", DEFAULT, false, "--no-push"),
            (LOCAL, MAIN, "", DEFAULT, false, NO_REGISTRY),
            (LOCAL, TAG, "", DEFAULT, false, NO_REGISTRY),
            (LOCAL, DEV, "", ALL, false, NO_REGISTRY),
            (LOCAL, DEV, "", DEFAULT, false, "branch dev does not push"),
            (LOCAL, MAIN, "", &[], false, "branch main does not push"),
            (LOCAL, MAIN, "--no-push", DEFAULT, false, "--no-push"),
        ] {
            let case = format!("{namespace} {git_ref} {flag:?} {policy:?}");
            let ctx = fixture("push", git_ref);
            let (push, no_push) = (flag == "--push", flag == "--no-push");
            let (pushes, reason) =
                decide_push(push, no_push, policy, &ctx, namespace).expect(&case);
            assert_eq!(pushes, want, "{case}: {reason}");
            assert!(reason.contains(why), "{case}: {reason}");
        }
        let main = fixture("push", MAIN);
        let stated = decide_push(false, false, DEFAULT, &main, LOCAL).unwrap().1;
        assert!(
            stated.ends_with("set --registry, XTASK_REGISTRY or [registry] namespace to push"),
            "{stated}"
        );
        // --push without a registry: a usage error, before any stage runs.
        for (git_ref, policy) in [(MAIN, DEFAULT), (DEV, DEFAULT), (DEV, ALL)] {
            let e = decide_push(true, false, policy, &fixture("push", git_ref), LOCAL).unwrap_err();
            assert_eq!(crate::domain::error::exit_code(&e), 2);
            assert!(e.to_string().contains("--registry"), "{e}");
        }
    }

    #[test]
    fn without_a_registry_push_and_sign_are_skipped_with_the_reason() {
        let main = fixture("push", "refs/heads/main");
        let decision = decide_push(false, false, DEFAULT, &main, "shipyard").unwrap();
        let plan = plan(
            &args(None, false),
            decision,
            &Ok(()),
            Path::new("/x/xtask"),
            Path::new("xtask/images.toml"),
        );
        let stages: Vec<&str> = plan.commands().map(|c| c.args[2].as_str()).collect();
        assert_eq!(stages, ["build", "scan", "verify", "e2e"]);
        for (stage, step) in &plan.stages[4..] {
            assert!(
                matches!(step, Step::Skip(why) if why.starts_with("no registry configured")),
                "{stage:?}: {step:?}"
            );
        }
    }

    fn args(registry: Option<&str>, skip_db_update: bool) -> Args {
        Args {
            registry: crate::cli::Registry {
                value: registry.map(str::to_owned),
            },
            push: false,
            no_push: false,
            skip_db_update,
            dirty: AllowDirty::default(),
            staging: None,
            preview: Preview::default(),
        }
    }

    #[test]
    fn stages_run_the_commands_a_person_would() {
        let a = args(Some("127.0.0.1:5000/acme"), true);
        let argv = |s: Stage| s.args(&a).join(" ");
        assert_eq!(
            argv(Stage::Build),
            "build --json --registry 127.0.0.1:5000/acme"
        );
        assert_eq!(
            argv(Stage::Scan),
            "scan --json --registry 127.0.0.1:5000/acme --skip-db-update"
        );
        assert_eq!(argv(Stage::Verify), "verify --json");
        assert_eq!(argv(Stage::E2e), "e2e --json");
        assert_eq!(
            argv(Stage::Push),
            "push --json --registry 127.0.0.1:5000/acme"
        );
        assert_eq!(
            argv(Stage::Sign),
            "sign --json --registry 127.0.0.1:5000/acme"
        );
        assert_eq!(
            Stage::Build.args(&args(None, false)).join(" "),
            "build --json"
        );
    }

    fn planned(push: bool, signing: std::result::Result<(), String>) -> Vec<String> {
        let a = args(Some("127.0.0.1:5000/acme"), false);
        let plan = plan(
            &a,
            (push, "branch dev does not push".into()),
            &signing,
            Path::new("/x/target/debug/xtask"),
            Path::new("xtask/images.toml"),
        );
        let mut lines: Vec<String> = plan.commands().map(|c| c.to_string()).collect();
        lines.extend(plan.stages.iter().filter_map(|(stage, step)| match step {
            Step::Skip(why) => Some(format!("skip {}: {why}", stage.name())),
            Step::Run(_) => None,
        }));
        lines
    }

    #[test]
    fn plan_runs_the_stages_as_child_xtask_commands_in_order() {
        let exe = "/x/target/debug/xtask --config xtask/images.toml";
        assert_eq!(
            planned(true, Ok(())),
            [
                format!("{exe} build --json --registry 127.0.0.1:5000/acme"),
                format!("{exe} scan --json --registry 127.0.0.1:5000/acme"),
                format!("{exe} verify --json"),
                format!("{exe} e2e --json"),
                format!("{exe} push --json --registry 127.0.0.1:5000/acme"),
                format!("{exe} sign --json --registry 127.0.0.1:5000/acme"),
            ]
        );
        assert_eq!(
            planned(false, Ok(()))[3..],
            [
                format!("{exe} e2e --json"),
                "skip push: branch dev does not push".to_owned(),
                "skip sign: branch dev does not push".to_owned(),
            ]
        );
        let mut staged = args(Some("127.0.0.1:5000/acme"), false);
        staged.staging = Some("staging-42".into());
        let plan = plan(
            &staged,
            (true, "--push".into()),
            &Ok(()),
            Path::new("/x/target/debug/xtask"),
            Path::new("xtask/images.toml"),
        );
        let push = plan.commands().last().unwrap().to_string();
        assert!(
            push.ends_with("push --json --registry 127.0.0.1:5000/acme --staging staging-42"),
            "{push}"
        );
        assert!(
            matches!(&plan.stages[5].1, Step::Skip(why) if why.starts_with("--staging")),
            "{:?}",
            plan.stages[5]
        );
        assert_eq!(
            planned(true, Err("no COSIGN_KEY".into()))[4..],
            [
                format!("{exe} push --json --registry 127.0.0.1:5000/acme"),
                "skip sign: not signing: no COSIGN_KEY".to_owned(),
            ]
        );
    }

    #[test]
    fn each_stage_is_one_log_group_in_github_actions_only() {
        let a = args(None, false);
        let plan = plan(
            &a,
            (false, "branch dev does not push".into()),
            &Ok(()),
            Path::new("/x/xtask"),
            Path::new("xtask/images.toml"),
        );
        let sections = |github: bool, json: bool| -> Vec<Section> {
            plan.stages
                .iter()
                .enumerate()
                .filter_map(|(i, (_, step))| match step {
                    Step::Run(cmd) => Some(section(i, plan.stages.len(), cmd, github, json)),
                    Step::Skip(_) => None,
                })
                .collect()
        };
        let titles = [
            "[1/6] cargo xtask build --json",
            "[2/6] cargo xtask scan --json",
            "[3/6] cargo xtask verify --json",
            "[4/6] cargo xtask e2e --json",
        ];
        let expect = |group: bool| -> Vec<Section> {
            titles
                .iter()
                .map(|t| Section {
                    title: (*t).to_owned(),
                    group,
                })
                .collect()
        };
        assert_eq!(sections(true, false), expect(true));
        assert_eq!(sections(false, false), expect(false));
        // With --json, stdout carries the report alone: no workflow commands there.
        assert_eq!(sections(true, true), expect(false));
    }

    fn stage(stage: Stage, report: Value) -> StageRun {
        StageRun {
            stage,
            result: "passed",
            duration_secs: 1.0,
            reason: None,
            exit_code: Some(0),
            report,
        }
    }

    fn runs() -> Vec<StageRun> {
        vec![
            stage(
                Stage::Build,
                serde_json::json!({"services": [
                    {"name": "api", "image": "acme/api", "tags": ["main", "sha-860c190"], "size_bytes": 83_400_000u64, "size_budget_mb": 100}
                ]}),
            ),
            stage(
                Stage::Scan,
                serde_json::json!({"images": [{"service": "api", "counts": {
                "critical": {"fixed": 0, "unfixed": 1}, "high": {"fixed": 2, "unfixed": 0},
                "medium": {"fixed": 0, "unfixed": 0}, "low": {"fixed": 0, "unfixed": 3}, "secrets": 0}}]}),
            ),
            stage(
                Stage::Verify,
                serde_json::json!({"images": [{"name": "api", "passed": true}]}),
            ),
            stage(
                Stage::Push,
                serde_json::json!({"services": [
                    {"name": "api", "repository": "127.0.0.1:5000/acme/api", "digest": "sha256:abc"}
                ]}),
            ),
        ]
    }

    #[test]
    fn service_rows_join_the_stage_reports() {
        let rows = service_rows(&runs());
        assert_eq!(rows.len(), 1);
        let api = &rows[0];
        assert_eq!(api.image, "127.0.0.1:5000/acme/api");
        assert_eq!(api.size_bytes, Some(83_400_000));
        assert_eq!(api.verified, Some(true));
        assert_eq!(api.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(
            vulnerability_cell(api.vulnerabilities.as_ref().unwrap()),
            "C 0/1 H 2/0 M 0/0 L 0/3 S 0"
        );
        let table = service_table(&rows).render();
        assert!(
            table.contains("83.4 MB / 100 MB") && table.contains("yes"),
            "{table}"
        );
    }

    #[test]
    fn github_outputs_name_images_and_digests() {
        let out = github_outputs(&runs(), &service_rows(&runs()));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "passed=true");
        assert!(
            lines[1].starts_with("images=[{")
                && lines[1].contains("127.0.0.1:5000/acme/api:sha-860c190"),
            "{out}"
        );
        assert!(lines.contains(&"api-image=127.0.0.1:5000/acme/api"));
        assert!(lines.contains(&"record=target/xtask/record"), "{out}");
        assert!(lines.contains(&"api-digest=sha256:abc"));
    }

    #[test]
    fn stage_table_shows_skips_with_their_reason() {
        let mut runs = runs();
        runs.push(StageRun {
            stage: Stage::Push,
            result: "skipped",
            duration_secs: 0.0,
            reason: Some("branch dev does not push".into()),
            exit_code: None,
            report: Value::Null,
        });
        let table = stage_table(&runs).render();
        assert!(
            table.lines().last().unwrap().contains("skipped")
                && table.contains("branch dev does not push"),
            "{table}"
        );
    }
}
