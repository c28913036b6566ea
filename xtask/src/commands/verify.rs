//! `cargo xtask verify`: hold built images to the project's runtime policy.
//!
//! Decide first: the images to verify and the policy for each (from the service config, or
//! from flags for `--image`) are resolved before anything runs, so a missing build is one
//! clear error up front. Then each image's facts are gathered (its filesystem, a hardened
//! health run) and [`checks::evaluate`] turns them into a table of checks. With
//! `--signature`, each image's registry tag is also resolved to its digest and checked with
//! `cosign verify` (the `signature` check); with `--attestations`, the attestations stored
//! beside it are read from the registry (the `attestations` check: a `mode=max` provenance
//! and an SBOM naming the image's Debian packages and, for a Rust service, its own crate).
//! An image of several platforms is verified once per platform: its filesystem and its
//! hardened health run are that platform's (`--platform P`, a foreign one under emulation).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::adapters::container::{self, Planned};
use crate::adapters::cosign;
use crate::adapters::exec::{self, usage, Command, UsageError};
use crate::adapters::image;
use crate::adapters::registry::{self, Retry, Session};
use crate::adapters::workspace::Workspace;
use crate::cli::{Preview, Registry};
use crate::domain::attestation;
use crate::domain::checks::{self, Check, Facts, Policy, Status};
use crate::domain::identity;
use crate::domain::image::ImageInfo;
use crate::domain::outcome::Outcome;
use crate::domain::signing;
use crate::render::{self, Table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services whose built image to verify (default: all, unless --image is given).
    pub services: Vec<String>,
    /// Verify this local image (any reference or id) instead; repeat for more.
    #[arg(long = "image", value_name = "REF")]
    pub images: Vec<String>,
    /// For --image: the commit its revision label must name (otherwise that check is skipped).
    #[arg(long, value_name = "SHA", requires = "images")]
    pub revision: Option<String>,
    /// For --image: the size budget in MB (1 MB = 1,000,000 bytes).
    #[arg(
        long,
        value_name = "MB",
        requires = "images",
        value_parser = clap::value_parser!(u64).range(1..=crate::domain::config::MAX_SIZE_BUDGET_MB)
    )]
    pub size_budget_mb: Option<u64>,
    /// For --image: do not require a HEALTHCHECK.
    #[arg(long, requires = "images")]
    pub no_healthcheck: bool,
    /// How long a container may take to become healthy.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    #[command(flatten)]
    pub preview: Preview,
    /// Also check the cosign signature of each image at its registry tag
    /// (`<namespace>/<image>:sha-<7>` for services, the reference itself for --image).
    #[arg(long)]
    pub signature: bool,
    /// Public key for --signature (default: COSIGN_PUBLIC_KEY, else cosign.pub).
    #[arg(long, value_name = "PATH", requires = "signature")]
    pub key: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub registry: Registry,
    /// For --signature: the signatures were made without the transparency log.
    #[arg(long, requires = "signature")]
    pub offline: bool,
    /// Also check, at the registry, that each image's pushed index carries a provenance
    /// (mode=max) and an SBOM naming its Debian packages and, for a Rust service, its crate.
    #[arg(long)]
    pub attestations: bool,
}

impl Args {
    /// Whether any check reads the registry.
    fn at_registry(&self) -> bool {
        self.signature || self.attestations
    }
}

/// One image to verify and what it is held to, as known before anything runs.
struct Target {
    name: String,
    /// The service it was built for; `None` for `--image`.
    service: Option<String>,
    /// What `docker image inspect` is given: the id `build` recorded, or the reference.
    inspect: String,
    /// What the containers are started from: the recorded id, else a placeholder for the id
    /// the inspect gives.
    image: String,
    /// Why no image was recorded for the service.
    missing: Option<String>,
    policy: Policy,
    /// Where `--signature` and `--attestations` look: a registry tag.
    pushed_ref: Option<String>,
    /// The workspace crate the image is built from (a member of the service's name).
    crate_name: Option<String>,
    /// One platform of a multi-platform image: its filesystem and its health run are that
    /// platform's (`--platform`, emulated when foreign).
    platform: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub name: String,
    pub image_id: String,
    pub passed: bool,
    pub checks: Vec<Check>,
}

/// Stands for the run id that labels this run's containers.
pub const RUN_ID: &str = "<run id>";

fn container_placeholder(kind: &str, name: &str) -> String {
    format!("<{kind} container of {name}>")
}

/// What verify runs, in order: a `docker image inspect` of every image, then per image the
/// containers it starts.
#[derive(Debug)]
pub struct VerifyPlan {
    pub inspects: Vec<Command>,
    pub images: Vec<Containers>,
    /// Last, however the run ends: this run's containers are listed, and what is listed is
    /// removed (`docker rm -f`, only when something is left).
    pub sweep: Command,
}

/// The containers one image is checked in, as the container adapter runs them.
#[derive(Debug)]
pub struct Containers {
    /// Created, never started; its filesystem is exported and read for secrets, then it is
    /// removed.
    pub export: Planned,
    /// Started hardened, polled until healthy, then removed; only when the policy wants a
    /// HEALTHCHECK (and the image has one).
    pub health: Option<Planned>,
}

impl VerifyPlan {
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        self.inspects
            .iter()
            .chain(self.images.iter().flat_map(|c| {
                c.export
                    .commands()
                    .into_iter()
                    .chain(c.health.iter().flat_map(Planned::commands))
            }))
            .chain([&self.sweep])
    }
}

/// The commands verifying `targets` runs (`--signature`'s cosign runs are not included).
/// They name what is known only while running by placeholders: the run id ([`RUN_ID`]), the
/// id of an image given by reference, and each container's id.
fn plan(targets: &[Target]) -> VerifyPlan {
    let label = format!("{}={RUN_ID}", container::LABEL);
    let docker = |args: &[&str]| Command::new("docker").args(args.iter().copied());
    let remove = |id: &str| docker(&["rm", "-f", "-v", id]);
    let images = targets
        .iter()
        .map(|t| {
            let created = container_placeholder("created", &t.name);
            let hardened = container_placeholder("hardened", &t.name);
            let mut create = vec!["create", "--label", &label];
            if let Some(p) = &t.platform {
                create.extend(["--platform", p]);
            }
            // Never run; a command only has to exist for images without CMD.
            create.extend(["--entrypoint", "", &t.image, "/xtask-verify"]);
            Containers {
                export: Planned {
                    start: docker(&create),
                    then: docker(&["export", &created]),
                    remove: remove(&created),
                    id: created,
                },
                health: t.policy.healthcheck.then(|| Planned {
                    start: Command::from_argv(&container::hardened_run_argv(
                        &t.image,
                        t.platform.as_deref(),
                        RUN_ID,
                    )),
                    then: docker(&["inspect", "--format", "{{json .State}}", &hardened]),
                    remove: remove(&hardened),
                    id: hardened,
                }),
            }
        })
        .collect();
    VerifyPlan {
        inspects: targets
            .iter()
            .map(|t| docker(&["image", "inspect", &t.inspect]))
            .collect(),
        images,
        sweep: container::sweep_command(RUN_ID),
    }
}

/// The images to verify and their policies; reads what `build` recorded, starts nothing.
fn targets(ws: &Workspace, args: &Args) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    if !args.services.is_empty() || args.images.is_empty() {
        let services = ws.config.select(&args.services).map_err(usage)?;
        let ctx = ws.git_context()?;
        let namespace = args.registry.namespace(ws);
        // Without a registry check the namespace only names a placeholder in the dry run.
        let namespace = match namespace {
            Err(e) if args.at_registry() => return Err(e),
            n => n.unwrap_or_else(|_| ws.config.project.name.clone()),
        };
        let pushed_refs: Vec<Option<String>> = if args.at_registry() {
            identity::require_host(&namespace)?;
            signing::immutable_refs(&namespace, &services, &ws.tags(&ctx)?, &ctx.sha)?
                .iter()
                .map(|job| Some(job.tagged()))
                .collect()
        } else {
            vec![None; services.len()]
        };
        let immutable = identity::immutable_tag(&ws.tags(&ctx)?, &ctx.sha)?;
        for (service, pushed_ref) in services.into_iter().zip(pushed_refs) {
            let ignore = service.ignore_file();
            let name = &service.name;
            let file = identity::iid_file(name).display().to_string();
            let (id, missing) = match image::recorded_id(&ws.root, name) {
                Some(id) => (id, None),
                None => (
                    identity::image_id_placeholder(&format!(
                        "{}:{immutable}",
                        identity::repository(&namespace, service)
                    )),
                    Some(format!("no image was built for `{name}` ({file} is missing): build it first: cargo xtask build {name}")),
                ),
            };
            // A multi-platform image is verified once per platform the build recorded.
            let platforms = match crate::adapters::records::read(&ws.root, name) {
                Ok(Some(r)) if missing.is_none() && r.image_id == id => r
                    .verdict_platforms()
                    .into_iter()
                    .map(|p| p.map(str::to_owned))
                    .collect(),
                _ => vec![None],
            };
            let policy = Policy {
                healthcheck: service.healthcheck,
                size_budget_mb: Some(service.size_budget_mb),
                revision: Some(ctx.sha.clone()),
                source_known: ctx.source_url.is_some(),
                ignore_file: Some((
                    ignore.display().to_string(),
                    std::fs::read_to_string(ws.root.join(&ignore)).ok(),
                )),
            };
            let crate_name = ws
                .root
                .join(&service.context)
                .join(name)
                .join("Cargo.toml")
                .is_file()
                .then(|| name.clone());
            for platform in platforms {
                targets.push(Target {
                    name: match &platform {
                        Some(p) => format!("{name} ({p})"),
                        None => name.clone(),
                    },
                    service: Some(name.clone()),
                    inspect: id.clone(),
                    image: id.clone(),
                    missing: missing.clone(),
                    policy: policy.clone(),
                    pushed_ref: pushed_ref.clone(),
                    crate_name: crate_name.clone(),
                    platform,
                });
            }
        }
    }
    for reference in &args.images {
        targets.push(Target {
            name: reference.clone(),
            service: None,
            inspect: reference.clone(),
            image: identity::image_id_placeholder(reference),
            missing: None,
            policy: Policy {
                healthcheck: !args.no_healthcheck,
                size_budget_mb: args.size_budget_mb,
                revision: args.revision.clone(),
                source_known: false,
                ignore_file: None,
            },
            pushed_ref: (args.at_registry() && identity::registry_host(reference).is_some())
                .then(|| reference.clone()),
            crate_name: None,
            platform: None,
        });
    }
    Ok(targets)
}

/// Runs a planned `docker image inspect` through exec; `None` when the engine has no such
/// image.
fn inspect(cmd: &Command) -> Result<Option<ImageInfo>> {
    let out = exec::output(cmd)?;
    if !out.success {
        if out.stderr.contains("No such image") || out.stderr.contains("No such object") {
            return Ok(None);
        }
        bail!("`{cmd}` failed: {}", out.stderr.trim());
    }
    ImageInfo::parse(&out.stdout).map(Some)
}

/// The inspected image of every target, in order; a missing one is an error up front.
fn inspect_all(targets: &[Target], plan: &VerifyPlan) -> Result<Vec<ImageInfo>> {
    let mut images = Vec::new();
    for (t, cmd) in targets.iter().zip(&plan.inspects) {
        if let Some(why) = &t.missing {
            bail!("{why}");
        }
        let Some(info) = inspect(cmd)? else {
            match &t.service {
                Some(name) => bail!("the image built for `{name}` ({}) is gone from the engine: build it first: cargo xtask build {name}", t.inspect),
                None => bail!("no image `{}` in the local engine: build or pull it first", t.inspect),
            }
        };
        images.push(info);
    }
    Ok(images)
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let targets = targets(ws, args)?;
    let plan = plan(&targets);
    if args.preview.dry_run {
        for why in targets.iter().filter_map(|t| t.missing.as_ref()) {
            eprintln!("note: {why}");
        }
        if plan.images.iter().any(|c| c.health.is_some()) {
            eprintln!(
                "note: a hardened container's `docker inspect` is repeated until it is healthy \
                 or --timeout passes, and `docker logs --tail 5` of it is read when it is not; \
                 these reads are not listed again"
            );
        }
        eprintln!(
            "note: on Ctrl-C, `docker ps -aq --filter label={}=<run id>` finds this run's \
             containers and `docker rm -f` removes them, not listed here",
            container::LABEL
        );
        if args.signature {
            eprintln!("note: --signature also runs cosign verify for each image, not listed here");
        }
        if args.attestations {
            eprintln!(
                "note: --attestations also runs `docker buildx imagetools inspect --format ...` \
                 of each image's registry tag, not listed here"
            );
        }
        render::print_commands(plan.commands(), args.preview.json());
        return Ok(Outcome::Clean);
    }
    let images = inspect_all(&targets, &plan)?;
    let at_registry = if args.at_registry() {
        Some(registry_checker(ws, args, &targets)?)
    } else {
        None
    };
    let run = container::run_id();
    let _cleanup = container::clean_up_on_interrupt(&run)?;
    let timeout = Duration::from_secs(args.timeout);
    let mut reports = Vec::new();
    for ((t, image), containers) in targets.iter().zip(&images).zip(&plan.images) {
        let containers = Containers {
            export: bind(&containers.export, t, image, &run),
            health: containers.health.as_ref().map(|h| bind(h, t, image, &run)),
        };
        reports.push(verify_one(
            t,
            image,
            &containers,
            timeout,
            at_registry.as_ref(),
        )?);
    }
    // One verify entry per service: every platform of its image must pass.
    let mut by_service: Vec<(&str, Vec<(&Target, &Report)>)> = Vec::new();
    for (t, r) in targets.iter().zip(&reports) {
        let Some(service) = &t.service else { continue };
        match by_service.iter_mut().find(|(s, _)| s == service) {
            Some((_, all)) => all.push((t, r)),
            None => by_service.push((service, vec![(t, r)])),
        }
    }
    for (service, all) in by_service {
        let image_id = all[0].1.image_id.clone();
        let mut failed: Vec<String> = Vec::new();
        for (t, r) in &all {
            for c in r.checks.iter().filter(|c| c.status == Status::Fail) {
                let name = match &t.platform {
                    Some(p) => format!("{} ({p})", c.name),
                    None => c.name.to_owned(),
                };
                if !failed.contains(&name) {
                    failed.push(name);
                }
            }
        }
        crate::adapters::records::update(&ws.root, service, &image_id, |rec| {
            rec.verify = Some(crate::domain::record::VerifyEntry {
                image_id: image_id.clone(),
                passed: all.iter().all(|(_, r)| r.passed),
                failed,
                platforms: all.iter().filter_map(|(t, _)| t.platform.clone()).collect(),
            });
        })?;
    }
    if args.preview.json() {
        render::print_json(&serde_json::json!({ "images": reports }));
    } else {
        print!("{}", table(&reports));
    }
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| {
            let names: Vec<&str> = r
                .checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .map(|c| c.name)
                .collect();
            format!("{} ({})", r.name, names.join(", "))
        })
        .collect();
    Ok(Outcome::failed_if(!failed.is_empty(), || {
        format!("verify failed for {}", failed.join("; "))
    }))
}

/// A planned container of `t` with the run id and the inspected image id filled in.
fn bind(planned: &Planned, t: &Target, image: &ImageInfo, run: &str) -> Planned {
    planned.bind(RUN_ID, run).bind(&t.image, &image.id)
}

/// Gathers one image's facts in its planned `containers` (bound to this run and the
/// inspected image) and evaluates its checks. The container adapter runs exactly those
/// commands.
fn verify_one(
    t: &Target,
    image: &ImageInfo,
    containers: &Containers,
    timeout: Duration,
    at_registry: Option<&RegistryChecker>,
) -> Result<Report> {
    eprintln!("verifying {} ({})", t.name, image.id);
    let secret_files = container::secret_files(&containers.export)?;
    let health = match &containers.health {
        Some(hardened) if image.has_healthcheck() => {
            eprintln!("  starting it hardened, waiting up to {timeout:?} for healthy");
            Some(container::health(hardened, timeout)?)
        }
        _ => None,
    };
    let mut checks = checks::evaluate(
        &t.policy,
        &Facts {
            image,
            secret_files: &secret_files,
            health,
        },
    );
    if let Some(checker) = at_registry {
        let labels = image.config.labels.clone().unwrap_or_default();
        checks.extend(checker.check(t, &labels));
    }
    Ok(Report {
        name: t.name.clone(),
        image_id: image.id.clone(),
        passed: checks.iter().all(|c| c.status != Status::Fail),
        checks,
    })
}

/// The checks that read the registry, in one session: `--signature` (cosign and its public
/// key) and `--attestations`.
struct RegistryChecker {
    session: Session,
    /// The public key and whether the transparency log is checked, for `--signature`.
    signature: Option<(String, bool)>,
    attestations: bool,
}

impl RegistryChecker {
    /// The registry checks of `t`, whose local image has `labels`.
    fn check(&self, t: &Target, labels: &BTreeMap<String, String>) -> Vec<Check> {
        let mut checks = Vec::new();
        let Some(reference) = &t.pushed_ref else {
            if self.signature.is_some() {
                checks.push(checks::skip_signature(&t.name));
            }
            if self.attestations {
                checks.push(checks::skip(
                    "attestations",
                    format!(
                        "{} is not a registry reference: only pushed images carry attestations",
                        t.name
                    ),
                ));
            }
            return checks;
        };
        if let Some((key, tlog)) = &self.signature {
            eprintln!("  checking the signature of {reference}");
            checks.push(checks::signature(&cosign::verify(
                &self.session,
                key,
                *tlog,
                reference,
            )));
        }
        if self.attestations {
            eprintln!("  reading the attestations of {reference}");
            let read = registry::attestations(&self.session, reference);
            checks.push(attestation::check(
                &attestation::Expected {
                    reference,
                    crate_name: t.crate_name.as_deref(),
                },
                &read,
            ));
            checks.push(attestation::annotations_check(reference, labels, &read));
        }
        checks
    }
}

fn registry_checker(ws: &Workspace, args: &Args, targets: &[Target]) -> Result<RegistryChecker> {
    let host = targets
        .iter()
        .find_map(|t| t.pushed_ref.as_deref().and_then(identity::registry_host))
        .unwrap_or_default()
        .to_owned();
    let signature = if args.signature {
        Some((
            public_key(ws, args)?,
            signing::tlog_upload(&host, args.offline, None),
        ))
    } else {
        None
    };
    let credentials = match host.as_str() {
        "" => None,
        h => registry::credentials(&ws.env, h)?,
    };
    Ok(RegistryChecker {
        session: Session::open(&ws.env, &host, credentials, Retry::from_env(&ws.env))?,
        signature,
        attestations: args.attestations,
    })
}

/// cosign and the public key `--signature` checks with.
fn public_key(ws: &Workspace, args: &Args) -> Result<String> {
    cosign::require_cosign()?;
    let key = match (&args.key, ws.env.get("COSIGN_PUBLIC_KEY")) {
        (Some(k), _) => k.display().to_string(),
        (None, Some(k)) => k.to_owned(),
        (None, None) => "cosign.pub".to_owned(),
    };
    if key.contains("://") {
        Ok(key)
    } else if ws.root.join(&key).is_file() {
        Ok(ws.root.join(&key).display().to_string())
    } else {
        Err(UsageError::new(format!(
            "no public key at {key}: pass --key PATH (the cosign.pub beside the signing key)"
        )))
    }
}

fn table(reports: &[Report]) -> String {
    let mut table = Table::new(["image", "check", "result", "reason"]);
    for r in reports {
        for c in &r.checks {
            let result = match c.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            table.row([r.name.as_str(), c.name, result, c.reason.as_str()]);
        }
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, service: bool, healthcheck: bool) -> Target {
        let (inspect, image) = if service {
            ("sha256:abc".to_owned(), "sha256:abc".to_owned())
        } else {
            (name.to_owned(), identity::image_id_placeholder(name))
        };
        Target {
            name: name.into(),
            service: service.then(|| name.to_owned()),
            inspect,
            image,
            missing: None,
            policy: Policy {
                healthcheck,
                size_budget_mb: None,
                revision: None,
                source_known: false,
                ignore_file: None,
            },
            pushed_ref: None,
            crate_name: None,
            platform: None,
        }
    }

    #[test]
    fn plan_inspects_every_image_then_lists_the_containers_it_starts() {
        let plan = plan(&[
            target("api", true, true),
            target("acme/tool:1", false, false),
        ]);
        let lines: Vec<String> = plan.commands().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "docker image inspect sha256:abc",
                "docker image inspect acme/tool:1",
                "docker create --label 'xtask.verify=<run id>' --entrypoint '' sha256:abc /xtask-verify",
                "docker export '<created container of api>'",
                "docker rm -f -v '<created container of api>'",
                "docker run --detach --label 'xtask.verify=<run id>' --read-only --tmpfs /tmp \
                 --cap-drop ALL --security-opt no-new-privileges sha256:abc",
                "docker inspect --format '{{json .State}}' '<hardened container of api>'",
                "docker rm -f -v '<hardened container of api>'",
                "docker create --label 'xtask.verify=<run id>' --entrypoint '' \
                 '<image id of acme/tool:1>' /xtask-verify",
                "docker export '<created container of acme/tool:1>'",
                "docker rm -f -v '<created container of acme/tool:1>'",
                "docker ps -aq --filter 'label=xtask.verify=<run id>'",
            ]
        );
    }

    /// Each platform of a multi-platform image gets its own filesystem and health run, the
    /// foreign one under emulation.
    #[test]
    fn each_platform_is_created_and_run_with_its_platform() {
        let arm = Target {
            name: "mp (linux/arm64)".into(),
            platform: Some("linux/arm64".into()),
            ..target("mp", true, true)
        };
        let lines: Vec<String> = plan(&[arm]).commands().map(|c| c.to_string()).collect();
        expect_test::expect![[r#"
            docker image inspect sha256:abc
            docker create --label 'xtask.verify=<run id>' --platform linux/arm64 --entrypoint '' sha256:abc /xtask-verify
            docker export '<created container of mp (linux/arm64)>'
            docker rm -f -v '<created container of mp (linux/arm64)>'
            docker run --detach --label 'xtask.verify=<run id>' --platform linux/arm64 --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges sha256:abc
            docker inspect --format '{{json .State}}' '<hardened container of mp (linux/arm64)>'
            docker rm -f -v '<hardened container of mp (linux/arm64)>'
            docker ps -aq --filter 'label=xtask.verify=<run id>'"#]]
        .assert_eq(&lines.join("\n"));
    }

    #[test]
    fn table_has_one_row_per_check() {
        let r = Report {
            name: "api".into(),
            image_id: "sha256:a".into(),
            passed: false,
            checks: vec![checks::user("root"), checks::size(1, Some(1))],
        };
        let text = table(&[r]);
        assert!(
            text.contains("api    non-root user  FAIL    USER root is root"),
            "{text}"
        );
        assert!(text.contains("api    size           pass"), "{text}");
    }
}
