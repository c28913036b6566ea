//! `cargo xtask scan`: scan images with trivy, gate them, and render the results.
//!
//! trivy runs once per image into a report file of this run's own
//! (`target/xtask/scan/<name>.<pid>.trivy.json`), so scans at once never read each other's;
//! the report must name the image asked for, and is then moved to `<name>.trivy.json`. The
//! table, `--json`, SARIF and the GitHub step summary are all rendered from it. A service's
//! image is the one `build` recorded for it; its verdict is kept per image id in
//! `<service>.verdict.json`, bound to that report, the policy and the ignore list
//! (domain/verdict.rs), and `push` refuses an image whose verdict is missing, failed or
//! does not hold. An image trivy could not scan is an error, never a pass. An image of
//! several platforms (its build record lists them) is scanned once per platform, `trivy
//! --platform P`, each with its own report and verdict (`<service>.linux-arm64.*`).
//!
//! `--replay REPORT` (or `XTASK_SCAN_REPLAY`) runs no trivy: the recorded report is judged
//! for every image instead, every run says that this is not a scan of the image, and the
//! verdicts are marked as replays, which `push` refuses unless told to allow them.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use time::OffsetDateTime;

use crate::adapters::exec::{self, usage, Command, ToolError};
use crate::adapters::image;
use crate::adapters::trivy::{self, Runner};
use crate::adapters::verdicts;
use crate::adapters::workspace::Workspace;
use crate::cli::{Preview, Registry};
use crate::domain::env::Env;
use crate::domain::gate::{assess, Assessment, Gate, Status};
use crate::domain::identity;
use crate::domain::ignore::IgnoreList;
use crate::domain::outcome;
use crate::domain::plan::TARGET_DIR;
use crate::domain::report::{Kind, Report, Severity};
use crate::domain::verdict::{self, Scanned, Verdict, REPLAY_DIR, SCAN_DIR};
use crate::render::sarif::{self, ImageResults};
use crate::render::{self, Table};

const DOCS: &str = "docs/scanning.md";

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The gate fails (exit 1) on a HIGH or CRITICAL vulnerability that has a fixed version and on any
secret, unless .trivyignore.yaml accepts it with a statement; [scan] in xtask/images.toml sets
the policy. A service's image is the one `cargo xtask build` last built for it. trivy runs once
per image; its JSON report, the SARIF file and the verdicts are under target/xtask/scan/.
Exit codes: 0 passed, 1 the gate failed, 2 bad input, 3 neither trivy nor Docker available,
4 trivy could not scan an image (it failed, hung or wrote no readable report). See
docs/scanning.md.")]
pub struct Args {
    /// Services whose built image to scan (default: all, unless --image is given).
    pub services: Vec<String>,
    /// Scan this image reference as well; repeat for more. Needs no build and no Docker.
    #[arg(long = "image", value_name = "REF")]
    pub images: Vec<String>,
    #[command(flatten)]
    pub preview: Preview,
    /// Write SARIF for GitHub code scanning here (default: target/xtask/scan/trivy.sarif).
    #[arg(long, value_name = "PATH")]
    pub sarif: Option<PathBuf>,
    /// Use the cached vulnerability DB as it is; do not download an update.
    #[arg(long)]
    pub skip_db_update: bool,
    /// No network at all: the cached DB, and no lookups of language packages.
    #[arg(long)]
    pub offline: bool,
    /// Pull the vulnerability DB from this OCI repository, e.g. a mirror
    /// (default: [scan] db_repository, else trivy's own).
    #[arg(long, value_name = "REPOSITORY")]
    pub db_repository: Option<String>,
    /// Stop trivy when one image takes longer (default: [scan] timeout_secs).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Run no trivy: judge this recorded trivy JSON report (a file, or a name in xtask/replay/,
    /// e.g. distroless-base) for every image, for machines with neither trivy nor a registry.
    /// NOT a scan of the images: every run says so, and push refuses the verdicts unless
    /// --allow-replayed-scan (default: XTASK_SCAN_REPLAY).
    #[arg(long, value_name = "REPORT")]
    pub replay: Option<String>,
    #[command(flatten)]
    pub registry: Registry,
}

/// One image to scan.
#[derive(Debug, Clone)]
pub struct Target {
    /// The service, or the reference for `--image`; names the files under the scan dir.
    pub name: String,
    pub service: Option<String>,
    pub reference: String,
    /// For a service: the image id `build` recorded, or why there is none.
    pub built: Option<std::result::Result<String, String>>,
    /// One platform of a multi-platform image (`trivy --platform`): each has its own report
    /// and verdict (`<service>.linux-arm64.*`).
    pub platform: Option<String>,
    /// Where SARIF results point: the service's Dockerfile, else the reference.
    pub location: String,
}

impl Target {
    /// The image id the scan is recorded under: the built one, else its placeholder.
    fn image_id(&self) -> Option<String> {
        self.built.as_ref().map(|b| match b {
            Ok(id) => id.clone(),
            Err(_) => identity::image_id_placeholder(&self.reference),
        })
    }
}

/// Stands for this process's id, which names trivy's container on Docker.
pub const PROCESS_ID: &str = "<process id>";

/// What a scan runs, in order: a `docker image inspect` of every service's built image,
/// then one trivy run per image.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub inspects: Vec<Inspect>,
    pub scans: Vec<PlannedScan>,
}

/// The check that a service's built image still exists and carries the commit's tag.
#[derive(Debug, Clone)]
pub struct Inspect {
    pub service: String,
    pub expected: String,
    pub command: Command,
}

/// One trivy run and the files it writes.
#[derive(Debug, Clone)]
pub struct PlannedScan {
    pub target: Target,
    /// The report file of this run alone (its name has the [`PROCESS_ID`] placeholder).
    pub report: PathBuf,
    /// Where the report is kept once it is known to be of this image: `<name>.trivy.json`.
    pub kept: PathBuf,
    pub log: PathBuf,
    pub command: Command,
    /// Removes trivy's container when it ran on Docker and was stopped by the timeout.
    pub on_timeout: Option<Command>,
}

impl ScanPlan {
    /// Every command the run executes, in order (`on_timeout` only runs on a timeout).
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        self.inspects
            .iter()
            .map(|i| &i.command)
            .chain(self.scans.iter().map(|s| &s.command))
    }
}

const INSPECT_TIMEOUT: Duration = Duration::from_secs(120);

/// The commands a scan of `targets` runs with `runner`, writing under `dir`.
pub fn plan(targets: &[Target], runner: &Runner, options: &trivy::Options, dir: &Path) -> ScanPlan {
    // One inspect per service, however many platforms its image has.
    let mut seen = std::collections::BTreeSet::new();
    let inspects = targets
        .iter()
        .filter(|t| t.service.as_ref().is_some_and(|s| seen.insert(s.clone())))
        .filter_map(|t| {
            Some(Inspect {
                service: t.service.clone()?,
                expected: t.reference.clone(),
                command: Command::new("docker")
                    .args(["image", "inspect", "--format", "{{json .RepoTags}}"])
                    .arg(t.image_id()?)
                    .timeout(INSPECT_TIMEOUT),
            })
        })
        .collect();
    let container = format!("xtask-trivy-{}", exec::process_id());
    let placeholder = format!("xtask-trivy-{PROCESS_ID}");
    let scans = targets
        .iter()
        .map(|t| {
            let report = dir.join(format!("{}.{PROCESS_ID}.trivy.json", t.name));
            let log = dir.join(format!("{}.trivy.log", t.name));
            let inv = trivy::invocation(
                runner,
                &t.reference,
                t.platform.as_deref(),
                &report,
                &log,
                options,
            );
            let (report, log) = (inv.report, inv.log);
            let argv: Vec<String> = inv
                .argv
                .iter()
                .map(|a| a.replace(&container, &placeholder))
                .collect();
            PlannedScan {
                target: t.clone(),
                report,
                kept: dir.join(format!("{}.trivy.json", t.name)),
                log,
                command: Command::from_argv(&argv).dir(dir).timeout(options.timeout),
                on_timeout: inv.container.map(|name| {
                    Command::new("docker")
                        .args(["rm", "-f"])
                        .arg(name.replace(&container, &placeholder))
                        .timeout(INSPECT_TIMEOUT)
                }),
            }
        })
        .collect();
    ScanPlan { inspects, scans }
}

/// `path` with this run's process id in place of [`PROCESS_ID`].
fn bind_path(path: &Path) -> PathBuf {
    let pid = exec::process_id().to_string();
    PathBuf::from(path.display().to_string().replace(PROCESS_ID, &pid))
}

/// `cmd` with this run's values in place of the placeholders that stand for them.
fn bind(cmd: &Command) -> Command {
    let pid = exec::process_id().to_string();
    let mut bound = cmd.clone();
    bound.args = bound
        .args
        .iter()
        .map(|a| a.replace(PROCESS_ID, &pid))
        .collect();
    bound
}

#[derive(Debug)]
struct Outcome {
    name: String,
    service: Option<String>,
    /// The image as people read it: the reference, with the platform when it is one of
    /// several (`<ref> (linux/arm64)`).
    image: String,
    reference: String,
    platform: Option<String>,
    image_id: Option<String>,
    report: String,
    passed: bool,
    error: Option<String>,
    location: String,
    trivy_version: Option<String>,
    assessment: Option<Assessment>,
    /// The recorded report judged instead of a scan (`--replay`).
    replay: Option<String>,
}

impl Outcome {
    /// One image in `--json`: `counts` and `findings` are `null`/empty when it could not be
    /// scanned, and `error` says why.
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "service": self.service,
            "image": self.reference,
            "platform": self.platform,
            "image_id": self.image_id,
            "report": self.report,
            "passed": self.passed,
            "error": self.error,
            "replay": self.replay,
            "counts": self.assessment.as_ref().map(|a| &a.counts),
            "findings": self.assessment.as_ref().map_or(&[][..], |a| &a.findings[..]),
        })
    }
}

pub fn run(ws: &Workspace, args: &Args) -> Result<outcome::Outcome> {
    let config = &ws.config.scan;
    let ignores = IgnoreList::load(&ws.root, &config.ignore_file).map_err(usage)?;
    let replay = replay(ws, args)?;
    let targets = targets(ws, args)?;
    let options = options(ws, args);
    let runner = match replay {
        // A replay runs no trivy: the runner only shapes the plan's trivy commands, unused.
        Some(_) => Runner::Native("trivy".into()),
        None => match Runner::locate(&config.trivy_image) {
            Ok(r) => r,
            Err(e) if args.preview.dry_run => {
                eprintln!("note: {e:#}\nnote: planning for `trivy` on PATH");
                Runner::Native("trivy".into())
            }
            Err(e) => return Err(e),
        },
    };
    let dir = ws.root.join(SCAN_DIR);
    let plan = plan(&targets, &runner, &options, &dir);
    if let Some(r) = &replay {
        eprintln!("note: {}", r.announce(&targets));
    }
    if args.preview.dry_run {
        for (service, why) in targets.iter().filter_map(|t| match &t.built {
            Some(Err(why)) => Some((t.name.as_str(), why)),
            _ => None,
        }) {
            eprintln!("note: {service}: {why}");
        }
        match replay {
            Some(_) => render::print_commands(
                plan.inspects.iter().map(|i| &i.command),
                args.preview.json(),
            ),
            None => render::print_commands(plan.commands(), args.preview.json()),
        }
        return Ok(outcome::Outcome::Clean);
    }
    check_built(&plan)?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let judge = Judge {
        gate: Gate::from_config(config),
        ignores: &ignores,
        today: ws.now.date(),
        replay: replay.as_ref(),
    };
    let mut outcomes = Vec::new();
    for scan in &plan.scans {
        outcomes.push(scan_one(ws, scan, &runner, &judge)?);
    }
    report(ws, args, &outcomes, &ignores, replay.as_ref())?;
    if let Some(r) = &replay {
        eprintln!(
            "note: {}",
            r.banner(targets.iter().map(|t| t.reference.as_str()))
        );
    }
    conclusion(&outcomes)
}

/// A recorded trivy report judged instead of a scan (`--replay`).
#[derive(Debug)]
struct Replay {
    /// Where it came from, as shown: relative to the root when inside it.
    source: String,
    text: String,
    report: Report,
}

impl Replay {
    fn images<'a>(references: impl IntoIterator<Item = &'a str>) -> String {
        // Once each: the platforms of one image share its reference.
        let mut seen: Vec<&str> = Vec::new();
        for r in references {
            if !seen.contains(&r) {
                seen.push(r);
            }
        }
        seen.join(", ")
    }

    /// Said before anything is judged.
    fn announce(&self, targets: &[Target]) -> String {
        format!(
            "REPLAY: no trivy runs; the recorded report {} is judged in place of a scan of {}",
            self.source,
            Replay::images(targets.iter().map(|t| t.reference.as_str()))
        )
    }

    /// Said last, on every run, so no one takes the results for a scan.
    fn banner<'a>(&self, references: impl IntoIterator<Item = &'a str>) -> String {
        format!(
            "REPLAY: the results above are the recorded report {} (trivy's scan of {}) judged by \
             the gate and the ignore list, not a scan of {}: they prove the scan pipeline works, \
             not that the images are free of vulnerabilities. Their verdicts are marked as \
             replays, and push refuses them unless --allow-replayed-scan ({DOCS})",
            self.source,
            self.report.artifact,
            Replay::images(references)
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "report": self.source,
            "of": self.report.artifact,
            "note": "no trivy ran: a recorded report was judged in place of a scan of these images; push refuses these verdicts unless --allow-replayed-scan",
        })
    }
}

/// `--replay`, else `XTASK_SCAN_REPLAY`: a file, or the name of a report in xtask/replay/.
/// Bad input (exit 2) when it names neither or is not a trivy report.
fn replay(ws: &Workspace, args: &Args) -> Result<Option<Replay>> {
    let Some(value) = args
        .replay
        .clone()
        .or_else(|| ws.env.get("XTASK_SCAN_REPLAY").map(str::to_owned))
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let shipped = ws.root.join(REPLAY_DIR);
    let named = shipped.join(format!("{}.json", value.trim_end_matches(".json")));
    let path = [PathBuf::from(&value), named]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let mut names: Vec<String> = fs::read_dir(&shipped)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
                .collect();
            names.sort();
            usage(anyhow::anyhow!(
                "--replay {value}: no such file, and no recorded report of that name in {REPLAY_DIR}/ \
                 (there: {}): name a trivy JSON report or one of those",
                if names.is_empty() { "none".into() } else { names.join(", ") }
            ))
        })?;
    let source = relative(&ws.root, &path);
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {source}"))?;
    let report = Report::parse(&text).map_err(|e| {
        usage(anyhow::anyhow!(
            "--replay {source}: {e:#}: name a report `trivy image --format json` wrote"
        ))
    })?;
    Ok(Some(Replay {
        source,
        text,
        report,
    }))
}

fn options(ws: &Workspace, args: &Args) -> trivy::Options {
    let config = &ws.config.scan;
    trivy::Options {
        cache_dir: cache_dir(&ws.root, config.cache_dir.as_deref(), &ws.env),
        skip_db_update: args.skip_db_update,
        offline: args.offline,
        db_repository: args
            .db_repository
            .clone()
            .or_else(|| config.db_repository.clone()),
        timeout: Duration::from_secs(args.timeout.unwrap_or(config.timeout_secs).max(1)),
    }
}

/// Runs the plan's `docker image inspect`s: every service's built image must still exist and
/// carry the commit's tag, else nothing is scanned.
fn check_built(plan: &ScanPlan) -> Result<()> {
    let mut missing = Vec::new();
    for inspect in &plan.inspects {
        let service = &inspect.service;
        let Some(target) = plan
            .scans
            .iter()
            .map(|s| &s.target)
            .find(|t| t.service.as_ref() == Some(service))
        else {
            continue;
        };
        let build_first = format!("build it first: cargo xtask build {service}");
        let checked = match &target.built {
            Some(Err(why)) => Err(anyhow::anyhow!("{why}; {build_first}")),
            _ => built_image(&inspect.command, &inspect.expected, &build_first),
        };
        if let Err(e) = checked {
            missing.push(format!("{service}: {e:#}"));
        }
    }
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    Ok(())
}

/// What every image is judged by in one run.
struct Judge<'a> {
    gate: Gate,
    ignores: &'a IgnoreList,
    today: time::Date,
    replay: Option<&'a Replay>,
}

/// Scans one image (or judges the replayed report for it), records a service's verdict, and
/// says what happened.
fn scan_one(ws: &Workspace, scan: &PlannedScan, runner: &Runner, judge: &Judge) -> Result<Outcome> {
    let target = &scan.target;
    if target.service.is_some() {
        verdicts::remove(&ws.root, &target.name);
    }
    let scanned = match judge.replay {
        Some(r) => {
            eprintln!(
                "replaying {} for {}: no trivy runs, this is not a scan of the image",
                r.source, target.reference
            );
            verdicts::write_atomically(&scan.kept, &r.text)
                .map(|()| (r.text.clone(), r.report.clone()))
        }
        None => {
            eprintln!("scanning {} with {}", shown(target), runner.describe());
            scanned_report(ws, scan)
        }
    };
    let mut outcome = Outcome {
        name: target.name.clone(),
        service: target.service.clone(),
        image: shown(target),
        reference: target.reference.clone(),
        platform: target.platform.clone(),
        image_id: target.image_id(),
        report: relative(&ws.root, &scan.kept),
        passed: false,
        error: None,
        location: target.location.clone(),
        trivy_version: None,
        assessment: None,
        replay: judge.replay.map(|r| r.source.clone()),
    };
    match scanned {
        Ok((text, report)) => {
            let a = assess(&report, &judge.gate, judge.ignores, judge.today);
            outcome.passed = a.passed;
            outcome.trivy_version = report.trivy_version;
            if let (Some(service), Some(id)) = (&target.service, &outcome.image_id) {
                let now = OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("a UTC time formats");
                let verdict = Verdict::of(Scanned {
                    service,
                    image: &target.reference,
                    image_id: id,
                    platform: target.platform.as_deref(),
                    gate: &judge.gate,
                    ignores: judge.ignores,
                    report: &text,
                    assessment: &a,
                    replay: outcome.replay.as_deref(),
                    scanned_at: now,
                });
                verdicts::write(&ws.root, &verdict)?;
                crate::adapters::records::update(&ws.root, service, id, |r| {
                    r.note_scan(&verdict);
                })?;
            }
            outcome.assessment = Some(a);
        }
        Err(e) => {
            eprintln!(
                "{}: could not be scanned (details at the end)",
                shown(target)
            );
            outcome.error = Some(format!("{e:#}"));
        }
    }
    Ok(outcome)
}

/// The image as people read it: its reference, and the platform when it is one of several.
fn shown(target: &Target) -> String {
    match &target.platform {
        Some(p) => format!("{} ({p})", target.reference),
        None => target.reference.clone(),
    }
}

/// Runs the planned trivy with this run's values bound (see [`trivy::run`]) into this run's
/// own report file, keeps that file as `<name>.trivy.json`, and returns the report once it
/// is known to be of the image asked for: its text as kept, and what it says.
fn scanned_report(ws: &Workspace, scan: &PlannedScan) -> Result<(String, Report)> {
    let own = bind_path(&scan.report);
    let on_timeout = scan.on_timeout.as_ref().map(bind);
    let ran = trivy::run(&bind(&scan.command), &own, &scan.log, on_timeout.as_ref());
    if own.is_file() {
        verdicts::keep_report(&own, &scan.kept)?;
    }
    let ran = ran?;
    let kept = relative(&ws.root, &scan.kept);
    let report = Report::parse(&ran.report)
        .map_err(|e| anyhow::anyhow!("{kept} is not a usable trivy report: {e:#}{}", ran.tail))?;
    let target = &scan.target;
    // trivy names one platform's image by that image's own id, not the index's.
    let built = match &target.built {
        Some(Ok(id)) if target.platform.is_none() => Some(id.as_str()),
        _ => None,
    };
    report.check_names(&target.reference, built).map_err(|e| {
        anyhow::anyhow!(
            "{kept} is not the report of this scan: {e:#}; trivy must write the report of the image it \
             was asked to scan, so scan again{}",
            ran.tail
        )
    })?;
    Ok((ran.report, report))
}

/// The SARIF file, the step summary, and the table or `--json`.
fn report(
    ws: &Workspace,
    args: &Args,
    outcomes: &[Outcome],
    ignores: &IgnoreList,
    replay: Option<&Replay>,
) -> Result<()> {
    let sarif_path = args
        .sarif
        .clone()
        .unwrap_or_else(|| ws.root.join(SCAN_DIR).join("trivy.sarif"));
    let images: Vec<ImageResults> = outcomes
        .iter()
        .filter_map(|o| {
            Some(ImageResults {
                image: &o.image,
                location: &o.location,
                trivy_version: o.trivy_version.as_deref(),
                assessment: o.assessment.as_ref()?,
            })
        })
        .collect();
    fs::write(&sarif_path, sarif::render(&images))
        .with_context(|| format!("writing {}", sarif_path.display()))?;
    if let Some(summary) = ws.env.get("GITHUB_STEP_SUMMARY") {
        let mut md = markdown(outcomes, ignores);
        if let Some(r) = replay {
            // By reference, as the banner on stderr: once per image, however many platforms.
            let images = outcomes.iter().map(|o| o.reference.as_str());
            md.push_str(&format!("\n**{}**\n", r.banner(images)));
        }
        render::append_step_summary(Path::new(summary), &md)?;
    }
    if args.preview.json() {
        render::print_json(&serde_json::json!({
            "passed": outcomes.iter().all(|o| o.passed),
            "sarif": relative(&ws.root, &sarif_path),
            "replay": replay.map(Replay::json),
            "images": outcomes.iter().map(Outcome::json).collect::<Vec<_>>(),
        }));
    } else {
        print!("{}", human(outcomes, ignores));
        eprintln!("SARIF: {}", relative(&ws.root, &sarif_path));
    }
    Ok(())
}

/// The gate's verdict, or a tool error (exit 4) when an image could not be scanned at all.
fn conclusion(outcomes: &[Outcome]) -> Result<outcome::Outcome> {
    let names = |pick: &dyn Fn(&Outcome) -> bool| {
        outcomes
            .iter()
            .filter(|o| pick(o))
            .map(|o| o.image.as_str())
            .collect::<Vec<_>>()
    };
    let errors: Vec<String> = outcomes
        .iter()
        .filter_map(|o| Some(format!("{}: {}", o.image, o.error.as_ref()?)))
        .collect();
    let failed = names(&|o| o.error.is_none() && !o.passed);
    match (errors.is_empty(), failed.is_empty()) {
        (true, true) => Ok(outcome::Outcome::Clean),
        (true, false) => Ok(outcome::Outcome::Failed(format!(
            "scan gate failed for {}: fix or accept the findings listed above ({DOCS})",
            failed.join(", ")
        ))),
        (false, _) => {
            let gate = if failed.is_empty() {
                String::new()
            } else {
                format!("scan gate failed for {}; ", failed.join(", "))
            };
            Err(ToolError::new(format!(
                "{gate}could not scan {} ({DOCS}):\n{}",
                names(&|o| o.error.is_some()).join(", "),
                errors.join("\n")
            )))
        }
    }
}

/// The services' built images, then the `--image` references. Reads what `build` recorded
/// and starts nothing.
fn targets(ws: &Workspace, args: &Args) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    if !args.services.is_empty() || args.images.is_empty() {
        let services = ws.config.select(&args.services).map_err(usage)?;
        let namespace = args.registry.namespace(ws)?;
        let ctx = ws.git_context()?;
        let tag = identity::immutable_tag(&ws.tags(&ctx)?, &ctx.sha)?;
        for service in services {
            let built = recorded_image(&ws.root, &service.name);
            // A multi-platform image is scanned once per platform the build recorded.
            let record = crate::adapters::records::read(&ws.root, &service.name)
                .ok()
                .flatten()
                .filter(|r| built.as_ref().is_ok_and(|id| *id == r.image_id));
            let platforms = match &record {
                Some(r) => r.verdict_platforms(),
                None => vec![None],
            };
            for platform in platforms {
                targets.push(Target {
                    name: verdict::key(&service.name, platform),
                    service: Some(service.name.clone()),
                    reference: format!("{}:{tag}", identity::repository(&namespace, service)),
                    built: Some(built.clone()),
                    platform: platform.map(str::to_owned),
                    location: service.dockerfile.display().to_string(),
                });
            }
        }
    }
    for reference in &args.images {
        targets.push(Target {
            name: file_name(reference),
            service: None,
            reference: reference.clone(),
            built: None,
            platform: None,
            location: reference.clone(),
        });
    }
    Ok(targets)
}

/// The image id `build` recorded for `service`, or why there is none.
fn recorded_image(root: &Path, service: &str) -> std::result::Result<String, String> {
    image::recorded_id(root, service).ok_or_else(|| {
        format!(
            "no image was built for it ({} is missing)",
            identity::iid_file(service).display()
        )
    })
}

/// Runs `inspect` (`docker image inspect` of the recorded id): the image must still exist
/// and carry `expected` (the tag of the current commit).
fn built_image(inspect: &Command, expected: &str, build_first: &str) -> Result<String> {
    let id = inspect.args.last().expect("the inspect names an image");
    let tags = exec::output(inspect)
        .ok()
        .filter(|o| o.success)
        .map(|o| o.stdout)
        .ok_or_else(|| anyhow::anyhow!("image {id} built for it no longer exists (or Docker does not answer); {build_first}"))?;
    choose_image(id, &tags, expected).map_err(|e| anyhow::anyhow!("{e:#}; {build_first}"))
}

fn choose_image(id: &str, repo_tags_json: &str, expected: &str) -> Result<String> {
    let tags: Vec<String> = serde_json::from_str::<Option<Vec<String>>>(repo_tags_json.trim())
        .context("unexpected `docker image inspect` output")?
        .unwrap_or_default();
    if !tags.iter().any(|t| t == expected) {
        bail!(
            "the last image built ({id}) is not tagged {expected}: it was built from another commit or namespace (tags: {})",
            if tags.is_empty() { "none".into() } else { tags.join(", ") }
        );
    }
    Ok(id.to_owned())
}

/// `--image` references name their files: `ghcr.io/a/b:1` -> `ghcr.io_a_b_1`.
fn file_name(reference: &str) -> String {
    reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `[scan] cache_dir` (relative to the root) > trivy's own default, so the DB is shared with
/// any other trivy use on the machine.
fn cache_dir(root: &Path, configured: Option<&Path>, env: &Env) -> PathBuf {
    if let Some(dir) = configured {
        return root.join(dir);
    }
    env.get("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cache")))
        .map(|d| d.join("trivy"))
        .unwrap_or_else(|| root.join(TARGET_DIR).join("trivy-cache"))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

const SEVERITY_COLUMNS: [Severity; 4] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
];

fn result_word(o: &Outcome) -> &'static str {
    match (&o.error, o.passed, o.replay.is_some()) {
        (Some(_), _, _) => "ERROR",
        (None, true, false) => "passed",
        (None, false, false) => "FAILED",
        (None, true, true) => "passed (replay)",
        (None, false, true) => "FAILED (replay)",
    }
}

fn summary_rows(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new([
        "image", "critical", "high", "medium", "low", "secrets", "ignored", "result",
    ]);
    for o in outcomes {
        let mut row = vec![o.image.clone()];
        match &o.assessment {
            Some(a) => {
                for s in SEVERITY_COLUMNS {
                    let c = a.counts.severity(s);
                    row.push(format!("{}/{}", c.fixed, c.unfixed));
                }
                row.push(a.counts.secrets.to_string());
                row.push(a.counts.ignored.to_string());
            }
            None => row.extend(std::iter::repeat_n("-".to_owned(), 6)),
        }
        row.push(result_word(o).to_owned());
        table.row(row);
    }
    table
}

/// What fails, so a person knows what to fix: id, package, installed -> fixed, title.
fn failing_rows(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new([
        "image",
        "severity",
        "id",
        "package",
        "installed -> fixed",
        "title",
    ]);
    for o in outcomes {
        for a in o.assessment.iter().flat_map(|a| a.failing()) {
            let f = &a.finding;
            let (package, versions) = match f.kind {
                Kind::Vulnerability => (
                    f.package.clone().unwrap_or_default(),
                    format!(
                        "{} -> {}",
                        f.installed.as_deref().unwrap_or("?"),
                        f.fixed.as_deref().unwrap_or("no fix yet")
                    ),
                ),
                Kind::Secret => (
                    format!(
                        "{}{}",
                        f.target,
                        f.line.map(|l| format!(":{l}")).unwrap_or_default()
                    ),
                    "secret".to_owned(),
                ),
            };
            table.row([
                o.image.clone(),
                f.severity.to_string(),
                f.id.clone(),
                package,
                versions,
                f.title.clone(),
            ]);
        }
    }
    table
}

/// Why findings were ignored, and which ignore entries have expired.
fn ignore_notes(outcomes: &[Outcome], ignores: &IgnoreList) -> Vec<String> {
    let mut notes = Vec::new();
    for o in outcomes {
        for a in o.assessment.iter().flat_map(|a| &a.findings) {
            let f = &a.finding;
            if let Some(statement) = a.statement.as_ref().filter(|_| a.status == Status::Ignored) {
                notes.push(format!(
                    "{}: {} {} ignored: {statement}",
                    o.image, f.severity, f.id
                ));
            }
            if let Some(date) = &a.expired_ignore {
                notes.push(format!(
                    "{}: {} {} counts again: its entry in {} expired on {date}",
                    o.image,
                    f.severity,
                    f.id,
                    ignores.path.display()
                ));
            }
        }
    }
    notes
}

fn human(outcomes: &[Outcome], ignores: &IgnoreList) -> String {
    let mut out = summary_rows(outcomes).render();
    out.push_str(
        "(vulnerabilities as fixed/unfixed; ignored ones are not in the severity counts)\n",
    );
    let failing = failing_rows(outcomes);
    if outcomes
        .iter()
        .any(|o| o.assessment.as_ref().is_some_and(|a| !a.passed))
    {
        out.push_str("\nfailing findings:\n");
        out.push_str(&failing.render());
    }
    let notes = ignore_notes(outcomes, ignores);
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&format!("note: {n}\n"));
        }
    }
    out
}

/// The GitHub step summary: the same table and failing findings, as markdown.
fn markdown(outcomes: &[Outcome], ignores: &IgnoreList) -> String {
    let mut out = String::from("## Image scan\n\n");
    out.push_str(&summary_rows(outcomes).render_markdown());
    out.push_str(
        "\nVulnerabilities as fixed/unfixed; ignored findings are not in the severity counts.\n",
    );
    if outcomes
        .iter()
        .any(|o| o.assessment.as_ref().is_some_and(|a| !a.passed))
    {
        out.push_str("\n### Failing findings\n\n");
        out.push_str(&failing_rows(outcomes).render_markdown());
    }
    let notes = ignore_notes(outcomes, ignores);
    if !notes.is_empty() {
        out.push_str("\n### Ignored\n\n");
        for n in notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    for o in outcomes {
        if let Some(e) = &o.error {
            out.push_str(&format!(
                "\n**{} could not be scanned:**\n\n```\n{e}\n```\n",
                o.image
            ));
        }
    }
    out.push_str(&format!("\nPolicy and remediation: `{DOCS}`.\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::ScanConfig;
    use crate::domain::report::tests::fixture;
    use time::macros::date;

    fn outcome(report: &str, ignores: &IgnoreList) -> Outcome {
        let r = fixture(report);
        let a = assess(
            &r,
            &Gate::from_config(&ScanConfig::default()),
            ignores,
            date!(2026 - 06 - 15),
        );
        Outcome {
            name: report.into(),
            service: None,
            image: report.into(),
            reference: report.into(),
            platform: None,
            image_id: None,
            report: String::new(),
            passed: a.passed,
            error: None,
            location: String::new(),
            trivy_version: None,
            assessment: Some(a),
            replay: None,
        }
    }

    #[test]
    fn table_counts_fixed_and_unfixed_and_lists_what_fails() {
        let none = IgnoreList::default();
        let text = human(
            &[
                outcome("debian-buster", &none),
                outcome("mariner-1.0", &none),
            ],
            &none,
        );
        assert!(
            text.contains("debian-buster  1/0       0/0   0/0     0/1  0        0        FAILED"),
            "{text}"
        );
        assert!(
            text.contains("mariner-1.0    0/0       0/1   0/0     1/0  0        0        passed"),
            "{text}"
        );
        assert!(
            text.contains("CRITICAL  CVE-2019-18224  libidn2-0  2.0.5-1 -> 2.0.5-1+deb10u1"),
            "{text}"
        );
    }

    #[test]
    fn ignored_and_expired_are_explained() {
        let ignores = IgnoreList::parse(
            "vulnerabilities:\n  - id: CVE-2019-18224\n    statement: not reachable\n  - id: CVE-2019-5481\n    statement: s\n    expired_at: 2026-01-01\n",
            Path::new(".trivyignore.yaml"),
        )
        .unwrap();
        let outcomes = [
            outcome("debian-buster", &ignores),
            outcome("photon-30", &ignores),
        ];
        let text = human(&outcomes, &ignores);
        assert!(
            text.contains("note: debian-buster: CRITICAL CVE-2019-18224 ignored: not reachable"),
            "{text}"
        );
        assert!(
            text.contains("photon-30: CRITICAL CVE-2019-5481 counts again: its entry in .trivyignore.yaml expired on 2026-01-01"),
            "{text}"
        );
        let md = markdown(&outcomes, &ignores);
        assert!(md.contains("| image | critical |"), "{md}");
        assert!(md.contains("### Failing findings"), "{md}");
    }

    #[test]
    fn the_service_image_must_carry_the_commit_tag() {
        let id = "sha256:abc";
        assert_eq!(
            choose_image(
                id,
                r#"["shipyard/api:main","shipyard/api:sha-860c190"]"#,
                "shipyard/api:sha-860c190"
            )
            .unwrap(),
            id
        );
        let err = choose_image(
            id,
            r#"["shipyard/api:sha-1111111"]"#,
            "shipyard/api:sha-860c190",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("another commit") && err.contains("sha-1111111"),
            "{err}"
        );
        assert!(choose_image(id, "null", "shipyard/api:sha-860c190").is_err());
    }

    fn target(service: Option<&str>, reference: &str, built: Option<Result<&str, &str>>) -> Target {
        Target {
            name: service.map_or_else(|| file_name(reference), str::to_owned),
            service: service.map(str::to_owned),
            reference: reference.into(),
            built: built.map(|b| b.map(str::to_owned).map_err(str::to_owned)),
            platform: None,
            location: reference.into(),
        }
    }

    fn lines(plan: &ScanPlan) -> Vec<String> {
        plan.commands().map(|c| c.to_string()).collect()
    }

    #[test]
    fn plan_inspects_the_built_images_then_runs_trivy_once_per_image() {
        let options = trivy::Options {
            cache_dir: "/home/u/.cache/trivy".into(),
            skip_db_update: true,
            offline: false,
            db_repository: None,
            timeout: Duration::from_secs(600),
        };
        let targets = [
            target(Some("api"), "acme/api:sha-1234567", Some(Ok("sha256:abc"))),
            target(Some("web"), "acme/web:sha-1234567", Some(Err("no iid"))),
            target(None, "alpine:3.20", None),
        ];
        let dir = Path::new("/repo/target/xtask/scan");
        let plan = plan(
            &targets,
            &Runner::Native("/usr/bin/trivy".into()),
            &options,
            dir,
        );
        let trivy = |image: &str, file: &str| {
            format!(
                "/usr/bin/trivy image --scanners vuln,secret --format json \
                 --output '/repo/target/xtask/scan/{file}.<process id>.trivy.json' --cache-dir /home/u/.cache/trivy \
                 --timeout 600s --skip-db-update --skip-java-db-update --no-progress {image}"
            )
        };
        assert_eq!(
            lines(&plan),
            [
                "docker image inspect --format '{{json .RepoTags}}' sha256:abc".to_owned(),
                "docker image inspect --format '{{json .RepoTags}}' '<image id of acme/web:sha-1234567>'".to_owned(),
                trivy("acme/api:sha-1234567", "api"),
                trivy("acme/web:sha-1234567", "web"),
                trivy("alpine:3.20", "alpine_3.20"),
            ]
        );
        assert!(plan
            .scans
            .iter()
            .all(|s| s.command.dir.as_deref() == Some(dir)
                && s.command.timeout == Some(Duration::from_secs(600))
                && s.on_timeout.is_none()));
        let api = &plan.scans[0];
        assert_eq!(api.kept, dir.join("api.trivy.json"));
        let own = bind_path(&api.report);
        assert_eq!(
            own,
            dir.join(format!("api.{}.trivy.json", exec::process_id()))
        );
        assert!(bind(&api.command).args.contains(&own.display().to_string()));
    }

    /// A multi-platform image is inspected once and scanned once per platform, each into
    /// files named for the platform.
    #[test]
    fn each_platform_of_an_image_is_scanned_on_its_own() {
        let options = trivy::Options {
            cache_dir: "/c".into(),
            skip_db_update: true,
            offline: false,
            db_repository: None,
            timeout: Duration::from_secs(60),
        };
        let targets = ["linux/amd64", "linux/arm64"].map(|p| Target {
            name: verdict::key("mp", Some(p)),
            platform: Some(p.into()),
            ..target(Some("mp"), "acme/mp:sha-1234567", Some(Ok("sha256:abc")))
        });
        let dir = Path::new("/r");
        let plan = plan(&targets, &Runner::Native("trivy".into()), &options, dir);
        expect_test::expect![[r#"
            docker image inspect --format '{{json .RepoTags}}' sha256:abc
            trivy image --scanners vuln,secret --format json --output '/r/mp.linux-amd64.<process id>.trivy.json' --cache-dir /c --timeout 60s --skip-db-update --skip-java-db-update --platform linux/amd64 --no-progress acme/mp:sha-1234567
            trivy image --scanners vuln,secret --format json --output '/r/mp.linux-arm64.<process id>.trivy.json' --cache-dir /c --timeout 60s --skip-db-update --skip-java-db-update --platform linux/arm64 --no-progress acme/mp:sha-1234567"#]]
        .assert_eq(&lines(&plan).join("\n"));
        assert_eq!(plan.scans[1].kept, dir.join("mp.linux-arm64.trivy.json"));
    }

    #[test]
    fn trivy_on_docker_is_named_by_a_placeholder_bound_at_run_time() {
        let options = trivy::Options {
            cache_dir: "/c".into(),
            skip_db_update: false,
            offline: false,
            db_repository: None,
            timeout: Duration::from_secs(5),
        };
        let runner = Runner::Docker {
            image: "aquasec/trivy:0.71.2".into(),
        };
        let plan = plan(
            &[target(None, "alpine:3.20", None)],
            &runner,
            &options,
            Path::new("/s"),
        );
        let scan = &plan.scans[0];
        assert!(
            scan.command
                .to_string()
                .starts_with("docker run --rm --name 'xtask-trivy-<process id>' -v "),
            "{}",
            scan.command
        );
        let rm = scan.on_timeout.as_ref().unwrap();
        assert_eq!(rm.to_string(), "docker rm -f 'xtask-trivy-<process id>'");
        let name = format!("xtask-trivy-{}", exec::process_id());
        assert_eq!(bind(rm).args, ["rm", "-f", name.as_str()]);
        assert!(bind(&scan.command).args.contains(&name));
    }

    #[test]
    fn references_become_file_names() {
        assert_eq!(file_name("ghcr.io/acme/api:1.2"), "ghcr.io_acme_api_1.2");
        assert_eq!(file_name("alpine@sha256:ab"), "alpine_sha256_ab");
    }

    #[test]
    fn cache_dir_defaults_to_trivys_own() {
        let root = Path::new("/repo");
        let env: Env = [("HOME", "/home/u")].into_iter().collect();
        assert_eq!(
            cache_dir(root, None, &env),
            Path::new("/home/u/.cache/trivy")
        );
        let env: Env = [("HOME", "/home/u"), ("XDG_CACHE_HOME", "/c")]
            .into_iter()
            .collect();
        assert_eq!(cache_dir(root, None, &env), Path::new("/c/trivy"));
        assert_eq!(
            cache_dir(root, Some(Path::new(".cache/trivy")), &env),
            Path::new("/repo/.cache/trivy")
        );
    }
}
