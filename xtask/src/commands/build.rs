//! `cargo xtask build`: plan the builds, then run them in parallel and summarize.
//!
//! Each service builds in its own `docker buildx build`, at most `--jobs` at a time. Their
//! step lines are shown as they come, prefixed by the service; full logs go to
//! `target/xtask/logs/<service>.log`. One failing service never hides the others' results.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::adapters::exec::{self, shell_words, usage, Command};
use crate::adapters::workspace::Workspace;
use crate::adapters::{builder, changes, records};
use crate::cli::{Preview, Registry};
use crate::domain::affected::{self, Decision};
use crate::domain::builder::Builder;
use crate::domain::changes::Changes;
use crate::domain::config::Service;
use crate::domain::endpoint::Endpoint;
use crate::domain::git::GitContext;
use crate::domain::identity;
use crate::domain::outcome;
use crate::domain::plan::{self, BuildPlan, PlanInput, ServicePlan, TARGET_DIR};
use crate::render::{self, Table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to build (default: all in xtask/images.toml).
    pub services: Vec<String>,
    #[command(flatten)]
    pub preview: Preview,
    /// How many services to build at once (default: all).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Build without using any cache.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub registry: Registry,
    /// buildx builder to use (default: `[build] builder`, else the current one).
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    /// Platforms to build for, e.g. `linux/amd64,linux/arm64` (repeatable; overrides the
    /// config). More than one needs the containerd image store (`engine up --engine modern`).
    #[arg(long = "platform", value_name = "OS/ARCH", value_delimiter = ',')]
    pub platforms: Vec<String>,
    /// Plan against a recorded `docker buildx inspect` output instead of asking the builder
    /// (docs/scaling.md); only with --dry-run.
    #[arg(long, value_name = "PATH", requires = "dry_run")]
    pub builder_inspect: Option<std::path::PathBuf>,
    /// Build only the services whose inputs changed since the base ref; report the others
    /// as skipped, with the reason.
    #[arg(long)]
    pub affected: bool,
    /// With --affected: the ref to compare with (default: the pull request's base branch in
    /// GitHub Actions, else origin/<default branch>, else HEAD~1).
    #[arg(long, value_name = "REF", requires = "affected")]
    pub base: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub name: String,
    pub image: String,
    pub tags: Vec<String>,
    pub image_id: Option<String>,
    /// The image's config digest per platform: its identity across rebuilds, which the
    /// image id is not where provenance is attached ([`identity::image_configs`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<String>,
    pub size_bytes: Option<u64>,
    pub size_budget_mb: u64,
    pub duration_secs: f64,
    pub result: BuildResult,
    /// With `--affected`: why the service was built or skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Last lines of the build log when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it failed: the failing step and the first compiler (or tool) error, one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildResult {
    Built,
    OverBudget,
    Failed,
    /// `--affected` and none of its inputs changed.
    Skipped,
}

impl Outcome {
    fn over_budget(&self) -> bool {
        self.size_bytes
            .is_some_and(|s| s > self.size_budget_mb.saturating_mul(1_000_000))
    }
}

pub fn run(ws: &Workspace, args: &Args) -> Result<outcome::Outcome> {
    let selected = ws.config.select(&args.services).map_err(usage)?;
    let Selection {
        services,
        reasons,
        skipped,
    } = if args.affected {
        select_affected(ws, args, &selected)?
    } else {
        Selection {
            services: selected.clone(),
            ..Selection::default()
        }
    };
    if services.is_empty() {
        // Nothing to build: no builder, no plan, no git context needed.
        if args.preview.json() && args.preview.dry_run {
            render::print_json(
                &serde_json::json!({ "services": [], "notes": [], "skipped": skipped }),
            );
        } else if args.preview.json() {
            render::print_json(&serde_json::json!({ "services": skipped }));
        } else {
            print!("{}", summary(&skipped));
        }
        return Ok(outcome::Outcome::Clean);
    }
    for p in &args.platforms {
        crate::domain::config::validate_platform(p).map_err(usage)?;
    }
    let builder_name = args
        .builder
        .as_deref()
        .or(ws.config.build.builder.as_deref());
    let namespace = args.registry.namespace(ws)?;
    let plan_for = |ctx: &GitContext, builder: &Builder| -> Result<BuildPlan> {
        let input = PlanInput {
            config: &ws.config,
            ctx,
            builder,
            builder_flag: match &args.builder_inspect {
                Some(_) => Some(builder.name.as_str()),
                None => builder_name,
            },
            env: &ws.env,
            namespace: namespace.clone(),
            no_cache: args.no_cache,
            now: ws.now,
            platforms: &args.platforms,
            registry_configured: plan::registry_configured(
                args.registry.value.as_deref(),
                &ws.env,
                &ws.config,
            ),
        };
        let plan = plan::plan(&input, &services)?;
        for note in &plan.notes {
            eprintln!("note: {note}");
        }
        Ok(plan)
    };
    let jobs = args.jobs.unwrap_or(services.len()).max(1);
    let run_plan = |ctx: &GitContext, builder: &Builder, plan: &BuildPlan| {
        eprintln!(
            "building {} service(s) for {} with builder `{}` ({} driver, BuildKit {}){}",
            plan.services.len(),
            ctx.describe(),
            builder.name,
            builder.driver,
            builder.buildkit().unwrap_or("unknown"),
            on_engine(ws.engine.as_ref())
        );
        execute(&ws.root, plan, jobs)
    };
    // The builder decides the plan's flags, and asking it (`docker buildx inspect`, and
    // `docker info`) is the slowest question before a build. A build that loads its images
    // into the local store is therefore planned for the builder the last build detected
    // (remembered under target/) and started at once, while the builder is asked again. If
    // the answer is that builder, the builds that ran are exactly the plan a dry run prints
    // now; if not, they are run again, planned for the builder that answered. A dry run
    // always waits for the answer.
    let remembered = (!args.preview.dry_run && args.builder_inspect.is_none())
        .then(|| builder::remembered(&ws.root, &ws.env, builder_name))
        .flatten();
    let (ctx, detected, early) = std::thread::scope(|s| {
        // The git context and the builder are independent questions to git and to the
        // engine: asked at the same time, they cost the slower one.
        let detected = args
            .builder_inspect
            .is_none()
            .then(|| s.spawn(|| builder::detect_recording(builder_name)));
        let ctx = ws.git_context();
        let early = match (&ctx, &remembered) {
            (Ok(ctx), Some(guess)) => match plan_for(ctx, guess) {
                Ok(plan) => {
                    let outcomes = run_plan(ctx, guess, &plan);
                    Some((plan, outcomes))
                }
                _ => None,
            },
            _ => None,
        };
        (
            ctx,
            detected.map(|h| h.join().expect("the builder detection panicked")),
            early,
        )
    });
    let ctx = ctx?;
    // A dry run plans for the builder the build would use, or fails as the build would
    // (same error, same exit code): a plan for an assumed builder is not what would run.
    let builder = match (&args.builder_inspect, detected) {
        (Some(path), _) => Builder::from_recording(&ws.root.join(path))?,
        (None, detected) => match detected.expect("detected without a recording") {
            Ok((b, recording)) => {
                if !args.preview.dry_run {
                    builder::remember(&ws.root, &ws.env, builder_name, &recording);
                }
                b
            }
            Err(e) => {
                if args.preview.dry_run {
                    let assumed = Builder::assumed_default();
                    eprintln!(
                        "note: a dry run plans for the builder the build would use, not an assumed one \
                         (`{}`, {} driver); `--builder-inspect PATH` plans against a recorded \
                         `docker buildx inspect`",
                        assumed.name, assumed.driver
                    );
                }
                return Err(e);
            }
        },
    };
    let (plan, mut outcomes) = match early {
        Some((plan, outcomes)) if remembered.as_ref() == Some(&builder) => (plan, outcomes?),
        early => {
            if early.is_some() {
                eprintln!(
                    "note: the builder `{}` is not the one the last build detected: building \
                     again, planned for it",
                    builder.name
                );
            }
            let plan = plan_for(&ctx, &builder)?;
            if args.preview.dry_run {
                print_plan(&plan, &skipped, ws.engine.as_ref(), args.preview.json());
                return Ok(outcome::Outcome::Clean);
            }
            let outcomes = run_plan(&ctx, &builder, &plan)?;
            (plan, outcomes)
        }
    };
    if args.affected {
        for o in &mut outcomes {
            o.reason = reasons.get(&o.name).cloned();
        }
        outcomes.extend(skipped);
        outcomes.sort_by_key(|o| selected.iter().position(|s| s.name == o.name));
    }
    if args.preview.json() {
        render::print_json(&serde_json::json!({ "services": outcomes }));
    } else {
        print!("{}", summary(&outcomes));
        if ws.env.github_actions() {
            print_logs(&ws.root, &outcomes);
        }
    }
    records::record_build(
        &ws.root,
        &plan,
        &ctx,
        outcomes.iter().map(|o| {
            (
                o.name.as_str(),
                o.image_id.as_deref(),
                &o.configs[..],
                o.size_bytes,
            )
        }),
    )?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.result == BuildResult::Failed)
        .map(|o| match &o.cause {
            Some(cause) => format!("{} ({cause})", o.name),
            None => o.name.clone(),
        })
        .collect();
    Ok(outcome::Outcome::failed_if(!failed.is_empty(), || {
        format!(
            "build failed for {}; logs are in {TARGET_DIR}/logs/",
            failed.join(", ")
        )
    }))
}

/// The services to build, and with `--affected` why, plus an outcome for each one skipped.
#[derive(Default)]
struct Selection<'c> {
    services: Vec<&'c Service>,
    reasons: BTreeMap<String, String>,
    skipped: Vec<Outcome>,
}

fn select_affected<'c>(
    ws: &Workspace,
    args: &Args,
    selected: &[&'c Service],
) -> Result<Selection<'c>> {
    let changes = changes::detect(
        &ws.root,
        &ws.env,
        args.base.as_deref(),
        ws.config
            .project
            .default_branch
            .as_deref()
            .unwrap_or("main"),
    )?;
    // An unknown base is said once, not once per service.
    let known = match &changes {
        Changes::Unknown { reason } => {
            eprintln!("note: {reason}: building every selected service");
            false
        }
        Changes::Since { .. } => true,
    };
    let inputs = crate::adapters::cargo::affected_inputs(&ws.root, selected)?;
    let config_file = affected::config_file(&ws.root, &ws.config);
    let namespace = args.registry.namespace(ws)?;
    let mut selection = Selection::default();
    for (service, (_, decision)) in
        selected
            .iter()
            .zip(affected::affected(&inputs, &changes, &config_file))
    {
        match decision {
            Decision::Affected(why) => {
                if known {
                    eprintln!("{}: affected, {why}", service.name);
                }
                selection.services.push(*service);
                selection.reasons.insert(service.name.clone(), why);
            }
            Decision::Skipped(why) => {
                eprintln!("{}: skipped, {why}", service.name);
                selection.skipped.push(Outcome {
                    name: service.name.clone(),
                    image: identity::repository(&namespace, service),
                    tags: Vec::new(),
                    image_id: None,
                    configs: Vec::new(),
                    size_bytes: None,
                    size_budget_mb: service.size_budget_mb,
                    duration_secs: 0.0,
                    result: BuildResult::Skipped,
                    reason: Some(why),
                    error: None,
                    cause: None,
                });
            }
        }
    }
    Ok(selection)
}

/// ` on docker context `bh` (unix:///..., from --context)`: the engine a build talks to,
/// when one was chosen.
fn on_engine(engine: Option<&Endpoint>) -> String {
    engine.map_or(String::new(), |e| format!(" on {}", e.describe()))
}

fn print_plan(plan: &BuildPlan, skipped: &[Outcome], engine: Option<&Endpoint>, json: bool) {
    if json {
        let mut value = serde_json::to_value(plan).expect("plain data serializes");
        if !skipped.is_empty() {
            value["skipped"] = serde_json::to_value(skipped).expect("plain data serializes");
        }
        if let Some(engine) = engine {
            value["engine"] = serde_json::to_value(engine).expect("plain data serializes");
        }
        render::print_json(&value);
        return;
    }
    if let Some(e) = engine {
        // Pasted into a terminal, the commands below reach the same engine.
        println!(
            "# engine: {}
export DOCKER_HOST={}
unset DOCKER_CONTEXT
",
            e.describe(),
            shell_words(std::slice::from_ref(&e.host))
        );
    }
    for s in skipped {
        println!(
            "# {} skipped: {}\n",
            s.name,
            s.reason.as_deref().unwrap_or_default()
        );
    }
    for s in &plan.services {
        println!(
            "# {} -> {}",
            s.name,
            s.tags
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("{}\n", build_command(s));
    }
}

/// Runs the plan's builds, at most `jobs` at once, and returns one outcome per service in
/// plan order.
pub fn execute(root: &Path, plan: &BuildPlan, jobs: usize) -> Result<Vec<Outcome>> {
    for dir in ["build", "logs"] {
        fs::create_dir_all(root.join(TARGET_DIR).join(dir))?;
    }
    let queue = Mutex::new(plan.services.iter().enumerate().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    let width = plan
        .services
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(plan.services.len()) {
            scope.spawn(|| loop {
                // Taken in its own statement: a guard in the `while let` condition would hold
                // the lock through the build and run the services one after another.
                let next = queue.lock().unwrap().pop_front();
                let Some((i, service)) = next else { break };
                let outcome = build_one(root, service, width);
                results.lock().unwrap().push((i, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, o)| o).collect())
}

/// Where a service's whole build log goes.
fn log_path(root: &Path, service: &str) -> PathBuf {
    root.join(TARGET_DIR)
        .join("logs")
        .join(format!("{service}.log"))
}

fn build_one(root: &Path, service: &ServicePlan, width: usize) -> Outcome {
    let started = Instant::now();
    let log_path = log_path(root, &service.name);
    let mut outcome = Outcome {
        name: service.name.clone(),
        image: service.image.clone(),
        tags: service.tags.iter().map(|t| t.tag.to_string()).collect(),
        image_id: None,
        configs: Vec::new(),
        size_bytes: None,
        size_budget_mb: service.size_budget_mb,
        duration_secs: 0.0,
        result: BuildResult::Failed,
        reason: None,
        error: None,
        cause: None,
    };
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut progress = Progress::default();
    let result = (|| -> Result<()> {
        let mut log = fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let _ = fs::remove_file(root.join(&service.iidfile));
        let _ = fs::remove_file(root.join(&service.metadata_file));
        let cmd = build_command(service).dir(root);
        writeln!(log, "$ {cmd}")?;
        eprintln!("{:width$} | started", service.name);
        let ok = exec::stream(&cmd, |line| {
            let _ = writeln!(log, "{line}");
            if let Some(shown) = progress.line(line) {
                eprintln!("{:width$} | {shown}", service.name);
            }
            if tail.len() == 25 {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        })?;
        if !ok {
            bail!("docker buildx build exited with an error");
        }
        if progress.cached > 0 {
            eprintln!(
                "{:width$} | {} step(s) cached",
                service.name, progress.cached
            );
        }
        let id =
            fs::read_to_string(root.join(&service.iidfile)).context("buildx wrote no image id")?;
        let id = id.trim().to_owned();
        // The record of the same image (a rebuild with no change) has its size already.
        outcome.size_bytes = match records::recorded_size(root, &service.name, &id) {
            Some(size) => Some(size),
            None => Some(image_size(&id)?),
        };
        outcome.image_id = Some(id);
        let metadata = fs::read_to_string(root.join(&service.metadata_file)).ok();
        outcome.configs = identity::image_configs(metadata.as_deref(), &progress.configs);
        Ok(())
    })();
    outcome.duration_secs = started.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            outcome.result = if outcome.over_budget() {
                BuildResult::OverBudget
            } else {
                BuildResult::Built
            };
            eprintln!(
                "{:width$} | done in {}",
                service.name,
                render::duration(started.elapsed())
            );
        }
        Err(e) => {
            let lines: Vec<String> = tail.into_iter().collect();
            eprintln!(
                "{:width$} | FAILED: {e:#}; last lines of {}:",
                service.name,
                log_path.display()
            );
            for l in &lines {
                eprintln!("{:width$} | {l}", service.name);
            }
            outcome.error = Some(format!("{e:#}\n{}", lines.join("\n")));
            outcome.cause = progress.cause();
        }
    }
    outcome
}

/// Condenses BuildKit's plain progress to what a person wants to follow: a step's header is
/// shown once the step actually runs (cache hits are only counted), plus every error line.
/// Everything else is in the log.
#[derive(Default)]
struct Progress {
    pending: Vec<(String, String)>,
    cached: usize,
    /// Every step's header by its id, kept for naming a step that fails later.
    steps: Vec<(String, String)>,
    /// The header of the first step that failed.
    failed_step: Option<String>,
    /// The first `error...` line a step printed (a compiler's, a tool's).
    first_error: Option<String>,
    /// The config digests the image exporter printed, one per platform.
    configs: Vec<String>,
}

impl Progress {
    /// One line: the failing step and the first error, when the build failed.
    fn cause(&self) -> Option<String> {
        match (&self.failed_step, &self.first_error) {
            (Some(step), Some(error)) => Some(format!("{step}: {error}")),
            (Some(step), None) => Some(step.clone()),
            (None, error) => error.clone(),
        }
    }

    /// The line to show for `line`, if any.
    fn line(&mut self, line: &str) -> Option<String> {
        if let Some(config) = identity::exported_config(line) {
            self.configs.push(config.to_owned());
        }
        self.note_error(line);
        self.note_step(line);
        self.shown(line)
    }

    /// Keeps step headers (`#7 [build 5/8] RUN ...`), and the first that ends in `#7 ERROR`.
    fn note_step(&mut self, line: &str) {
        let Some((id, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else {
            return;
        };
        if rest.starts_with('[') {
            self.steps.push((id.to_owned(), shorten(rest, 110)));
        } else if rest.starts_with("ERROR") && self.failed_step.is_none() {
            self.failed_step = self
                .steps
                .iter()
                .rev()
                .find(|(s, _)| s == id)
                .map(|(_, h)| h.clone());
        }
    }

    /// Keeps the first `error[...]` or `error:` a step printed (`#12 3.4 error[E0425]: ...`).
    fn note_error(&mut self, line: &str) {
        if self.first_error.is_some() {
            return;
        }
        let text = line
            .strip_prefix('#')
            .and_then(|l| l.split_once(' '))
            .and_then(|(_, rest)| rest.split_once(' '))
            .filter(|(time, _)| time.parse::<f64>().is_ok())
            .map_or(line, |(_, text)| text);
        if text.starts_with("error[") || text.starts_with("error:") {
            self.first_error = Some(shorten(text, 160));
        }
    }

    fn shown(&mut self, line: &str) -> Option<String> {
        if line.starts_with("ERROR") || line.starts_with("error:") {
            return Some(line.to_owned());
        }
        let (id, rest) = line.strip_prefix('#')?.split_once(' ')?;
        if !id.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if rest.starts_with('[') {
            if !rest.starts_with("[internal]") && !rest.contains(" FROM ") {
                self.pending.push((id.to_owned(), shorten(rest, 110)));
            }
            return None;
        }
        let header = self
            .pending
            .iter()
            .position(|(p, _)| p == id)
            .map(|i| self.pending.remove(i).1);
        match (rest, header) {
            ("CACHED", Some(_)) => {
                self.cached += 1;
                None
            }
            (r, Some(header)) if r.starts_with("ERROR") => Some(format!("{header}: {r}")),
            (r, None) if r.starts_with("ERROR") => Some(r.to_owned()),
            (_, header) => header,
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// The `docker buildx build` of one service, as the dry run prints it and the run runs it
/// (from the root). A build is bounded by the user watching it: no timeout.
fn build_command(service: &ServicePlan) -> Command {
    Command::from_argv(&service.argv)
}

pub fn image_size(id: &str) -> Result<u64> {
    let out = exec::read(
        &Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Size}}", id])
            .timeout(Duration::from_secs(60)),
    )?;
    out.trim()
        .parse()
        .with_context(|| format!("unexpected image size `{out}`"))
}

/// In GitHub Actions, each service's whole build log as one folded log group, after the
/// builds (they run in parallel, so their live lines interleave).
fn print_logs(root: &Path, outcomes: &[Outcome]) {
    print!(
        "{}",
        log_groups(outcomes, |name| fs::read_to_string(log_path(root, name))
            .ok())
    );
}

fn log_groups(outcomes: &[Outcome], log: impl Fn(&str) -> Option<String>) -> String {
    let mut text = String::new();
    for o in outcomes {
        let result = match o.result {
            BuildResult::Built => "ok",
            BuildResult::OverBudget => "over budget",
            BuildResult::Failed => "FAILED",
            BuildResult::Skipped => continue,
        };
        if let Some(body) = log(&o.name) {
            text += &render::group_text(&format!("build log of {} ({result})", o.name), &body);
        }
    }
    text
}

fn summary(outcomes: &[Outcome]) -> String {
    let mut table = Table::new([
        "service",
        "image",
        "tags",
        "size / budget",
        "time",
        "result",
    ]);
    for o in outcomes {
        let size = match o.size_bytes {
            Some(b) => format!("{} / {} MB", render::megabytes(b), o.size_budget_mb),
            None => format!("- / {} MB", o.size_budget_mb),
        };
        let result = match o.result {
            BuildResult::Built => "ok".to_owned(),
            BuildResult::OverBudget => "OVER BUDGET".to_owned(),
            BuildResult::Failed => "FAILED".to_owned(),
            BuildResult::Skipped => {
                format!("skipped: {}", o.reason.as_deref().unwrap_or_default())
            }
        };
        table.row([
            o.name.clone(),
            o.image.clone(),
            o.tags.join(", "),
            size,
            render::duration(Duration::from_secs_f64(o.duration_secs)),
            result,
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_shows_running_steps_and_errors_and_counts_cache_hits() {
        let mut p = Progress::default();
        let shown: Vec<String> = [
            "#1 [internal] load build definition from api.Dockerfile",
            "#1 DONE 0.0s",
            "#5 [build 3/8] COPY Cargo.toml Cargo.lock ./",
            "#5 CACHED",
            "#7 [build 5/8] RUN cargo build --release",
            "#7 0.512    Compiling serde v1.0.0",
            "#7 12.1    Compiling api v0.1.0",
            "#9 [build 6/8] RUN false",
            "#9 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1",
            "ERROR: failed to solve: rpc error",
        ]
        .iter()
        .filter_map(|l| p.line(l))
        .collect();
        assert_eq!(
            shown,
            [
                "[build 5/8] RUN cargo build --release",
                "[build 6/8] RUN false: ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1",
                "ERROR: failed to solve: rpc error",
            ]
        );
        assert_eq!(p.cached, 1);
    }

    #[test]
    fn a_failed_rust_build_ends_with_its_step_and_first_compiler_error() {
        let mut p = Progress::default();
        for l in [
            "#7 [build 5/8] RUN cargo build --release --locked -p api",
            "#7 3.20    Compiling api v0.1.0 (/src/api)",
            "#7 4.01 error[E0425]: cannot find value `x` in this scope",
            "#7 4.01   --> api/src/main.rs:3:5",
            "#7 4.02 error: could not compile `api` (bin \"api\") due to 1 previous error",
            "#7 ERROR: process \"/bin/sh -c cargo build\" did not complete successfully: exit code: 101",
            "ERROR: failed to solve: process did not complete successfully",
        ] {
            p.line(l);
        }
        assert_eq!(
            p.cause().unwrap(),
            "[build 5/8] RUN cargo build --release --locked -p api: \
             error[E0425]: cannot find value `x` in this scope"
        );
        assert_eq!(Progress::default().cause(), None);
    }

    #[test]
    fn services_build_at_the_same_time() {
        // Each fake build waits (up to 5 s) until all three have started: run one after
        // another, the first would give up alone.
        let root = tempfile::tempdir().unwrap();
        let started = root.path().join("started");
        fs::create_dir(&started).unwrap();
        let script = format!(
            "touch {0}/$0; for i in $(seq 100); do \
               [ $(ls {0} | wc -l) -ge 3 ] && echo together && exit 0; sleep 0.05; \
             done; echo alone",
            started.display()
        );
        let services = ["a", "b", "c"]
            .map(|name| ServicePlan {
                name: name.into(),
                image: format!("x/{name}"),
                tags: Vec::new(),
                labels: BTreeMap::new(),
                platforms: Vec::new(),
                attestations: false,
                argv: ["sh", "-c", &script, name].map(String::from).into(),
                size_budget_mb: 1,
                iidfile: format!("{name}.iid").into(),
                metadata_file: format!("{name}.metadata.json").into(),
            })
            .into();
        let plan = BuildPlan {
            services,
            cache: plan::CacheBackend::Engine,
            builder: "default".into(),
            driver: "docker".into(),
            capabilities: Builder::assumed_default().capabilities(),
            notes: Vec::new(),
        };
        let outcomes = execute(root.path(), &plan, 3).unwrap();
        for o in &outcomes {
            // No image comes out of `sh`, so each fails after its script; the log tells.
            let log = fs::read_to_string(
                root.path()
                    .join(format!("{TARGET_DIR}/logs/{}.log", o.name)),
            )
            .unwrap();
            assert!(log.lines().any(|l| l == "together"), "{}: {log}", o.name);
        }
    }

    #[test]
    fn long_steps_are_shortened_on_one_line() {
        assert_eq!(shorten("RUN a  \\\n   b", 20), "RUN a \\ b");
        assert_eq!(shorten(&"x".repeat(200), 10), "xxxxxxxxxx...");
    }

    #[test]
    fn in_actions_each_service_log_is_one_group() {
        let outcome = |name: &str, result| Outcome {
            name: name.into(),
            image: format!("acme/{name}"),
            tags: vec![],
            image_id: None,
            configs: Vec::new(),
            size_bytes: None,
            size_budget_mb: 1,
            duration_secs: 0.0,
            result,
            reason: None,
            error: None,
            cause: None,
        };
        let outcomes = [
            outcome("api", BuildResult::Failed),
            outcome("web", BuildResult::Skipped),
            outcome("runner", BuildResult::Built),
        ];
        let text = log_groups(&outcomes, |name| {
            Some(format!("$ docker buildx build {name}\n#1 done\n"))
        });
        assert_eq!(
            text,
            "::group::build log of api (FAILED)\n$ docker buildx build api\n#1 done\n::endgroup::\n\
             ::group::build log of runner (ok)\n$ docker buildx build runner\n#1 done\n::endgroup::\n"
        );
    }

    #[test]
    fn summary_shows_budget_and_failures() {
        let outcome = |name: &str, size: Option<u64>, result| Outcome {
            name: name.into(),
            image: format!("shipyard/{name}"),
            tags: vec!["main".into(), "sha-860c190".into()],
            image_id: None,
            configs: Vec::new(),
            size_bytes: size,
            size_budget_mb: 100,
            duration_secs: 12.0,
            result,
            reason: None,
            error: None,
            cause: None,
        };
        let text = summary(&[
            outcome("api", Some(84_000_000), BuildResult::Built),
            outcome("web", None, BuildResult::Failed),
        ]);
        assert!(
            text.contains("api      shipyard/api  main, sha-860c190  84.0 MB / 100 MB  12.0s  ok"),
            "{text}"
        );
        assert!(
            text.contains("- / 100 MB") && text.contains("FAILED"),
            "{text}"
        );
    }
}
