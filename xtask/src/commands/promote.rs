//! `cargo xtask promote`: point more tags at an image already in the registry, for releases
//! and rollbacks, without pulling or rebuilding anything.
//!
//! `--from` is resolved to a digest once; every `--to` tag is then created from
//! `<image>@<digest>`, so they all name exactly what `--from` named at that moment even if
//! `--from` moves meanwhile. `latest` is moved last.
//!
//! `--from-record` releases what the build record says was pushed (`push --staging`): each
//! service's recorded digest, checked in the registry to be the recorded image id, gets the
//! recorded tags, immutable tag first (never moved: the registry is asked what it holds)
//! and `latest` last. The record is checked as push checks it, except against a local image
//! (there is none where it runs): the scan verdict and its kept report must hold for the
//! recorded image id.

use anyhow::{bail, Result};

use crate::adapters::exec::{usage, UsageError};
use crate::adapters::records;
use crate::adapters::registry;
use crate::adapters::verdicts;
use crate::adapters::workspace::Workspace;
use crate::cli::{AllowDirty, Preview, Registry};
use crate::domain::gate::Gate;
use crate::domain::identity;
use crate::domain::ignore::IgnoreList;
use crate::domain::outcome::Outcome;
use crate::domain::publish::{self, Image, Job, Plan, Step};
use crate::domain::record::Record;
use crate::domain::tag::Tag;
use crate::domain::verdict::{self, Current};
use crate::render;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to promote (default: all in xtask/images.toml).
    pub services: Vec<String>,
    /// The pushed tag to promote, e.g. `sha-860c190` or `v1.2.3`.
    #[arg(long, value_name = "TAG", required_unless_present = "from_record")]
    pub from: Option<String>,
    /// A tag to point at the same image; repeat or separate with commas.
    #[arg(
        long,
        value_name = "TAG",
        required_unless_present = "from_record",
        value_delimiter = ','
    )]
    pub to: Vec<String>,
    /// Release what the build record (target/xtask/record/) says was pushed: each recorded
    /// digest gets the recorded tags, after the scan verdict is checked again.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub from_record: bool,
    #[command(flatten)]
    pub dirty: AllowDirty,
    /// With --from-record: accept verdicts of `scan --replay` (default:
    /// XTASK_ALLOW_REPLAYED_SCAN=1).
    #[arg(long, requires = "from_record")]
    pub allow_replayed_scan: bool,
    #[command(flatten)]
    pub preview: Preview,
    #[command(flatten)]
    pub registry: Registry,
}

/// The steps that point every `to` tag at what `repository:from` names now.
pub fn job(name: &str, repository: &str, from: &Tag, to: &[Tag]) -> Job {
    let mut steps = vec![publish::resolve(&format!("{repository}:{from}"))];
    steps.extend(publish::retag_others(repository, to, from));
    Job {
        name: name.to_owned(),
        repository: repository.to_owned(),
        steps,
        image: None,
    }
}

/// The steps that release `record`: check that `repository@digest` is the recorded image,
/// ask what the immutable tag holds, give it that digest when it holds nothing (refuse when
/// it holds another image), then point every other tag at it, `latest` last.
pub fn record_job(
    repository: &str,
    record: &Record,
    digest: &str,
    tags: &[Tag],
    insecure: bool,
) -> Result<Job> {
    let short = identity::short_sha(&record.revision);
    let Some(first) = identity::immutable(tags, short) else {
        bail!("the record of `{}` gives no tag to promote", record.service);
    };
    let first_ref = format!("{repository}:{first}");
    let mut steps = vec![
        publish::expect_image(repository, digest, insecure),
        publish::lookup(&first_ref, insecure),
        Step {
            publishes: None,
            ..publish::retag(repository, first, &format!("{repository}@{digest}"))
        }
        .upload(),
        publish::resolve(&first_ref).publishes(first),
    ];
    steps.extend(publish::retag_others(repository, tags, first));
    Ok(Job {
        name: record.service.clone(),
        repository: repository.to_owned(),
        steps,
        image: Some(Image {
            id: record.image_id.clone(),
            configs: record.configs.clone(),
            immutable: first.clone(),
            commit: short.to_owned(),
        }),
    })
}

/// `service`'s record and its scan verdict, checked: the record must agree with itself and
/// name `repository` and a pushed digest, and the verdict must be of its image and still
/// hold against the kept report and today's policy. `Err` says why not.
fn checked_record(
    ws: &Workspace,
    service: &str,
    repository: &str,
    scan: (&Gate, &IgnoreList, bool),
) -> std::result::Result<(Record, String), String> {
    let (gate, ignores, allow_replay) = scan;
    let record = match records::read(&ws.root, service) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(format!(
                "no record of a build of `{service}` ({}/{service}.json): download the record \
                 the build made, or build, scan and push --staging first",
                crate::domain::record::RECORD_DIR
            ))
        }
        Err(e) => return Err(format!("{e:#}")),
    };
    record.consistent(service)?;
    record.names_repository(repository)?;
    let digest = record.pushed_digest()?.to_owned();
    // Every platform of a multi-platform image has its own verdict.
    for platform in record.verdict_platforms() {
        let key = verdict::key(service, platform);
        let label = match platform {
            Some(p) => format!("`{service}` ({p})"),
            None => format!("`{service}`"),
        };
        let verdict = match verdicts::verdict_for(&ws.root, &key) {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Err(format!(
                    "{label} has no scan verdict beside its record ({}): a release needs the \
                     verdict and the report it was made from",
                    verdict::SCAN_DIR
                ))
            }
            Err(e) => return Err(format!("{e:#}")),
        };
        record.matches_verdict(&verdict)?;
        let current = Current {
            service,
            image_id: &record.image_id,
            platform,
            gate,
            ignores,
            today: ws.now.date(),
            allow_replay,
        };
        let report = verdicts::kept_report(&ws.root, &key);
        if let Some(note) = verdict::check(&verdict, &current, report.as_deref())? {
            eprintln!("note: {note}");
        }
    }
    Ok((record, digest))
}

fn from_record(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let services = ws.config.select(&args.services).map_err(usage)?;
    let namespace = args.registry.namespace(ws)?;
    let host = identity::require_host(&namespace)?;
    let credentials = registry::credentials(&ws.env, &host)?;
    let gate = Gate::from_config(&ws.config.scan);
    let ignores = IgnoreList::load(&ws.root, &ws.config.scan.ignore_file).map_err(usage)?;
    let allow_replay =
        args.allow_replayed_scan || ws.env.get("XTASK_ALLOW_REPLAYED_SCAN") == Some("1");
    let mut refused = Vec::new();
    let mut jobs = Vec::new();
    let mut recorded = Vec::new();
    for service in &services {
        let repository = identity::repository(&namespace, service);
        let scan = (&gate, &ignores, allow_replay);
        match checked_record(ws, &service.name, &repository, scan) {
            Ok((record, digest)) => {
                let tags = record.publishable(args.dirty.allow_dirty)?;
                jobs.push(record_job(
                    &repository,
                    &record,
                    &digest,
                    &tags,
                    identity::loopback(&host),
                )?);
                recorded.push(record);
            }
            Err(why) => refused.push(why),
        }
    }
    let plan = Plan {
        registry: host.clone(),
        login: credentials
            .as_ref()
            .map(|c| registry::login_argv(&c.username, &host)),
        services: jobs,
        notes: Vec::new(),
    };
    if args.preview.dry_run {
        refused.iter().for_each(|n| eprintln!("note: {n}"));
        render::publish::print_plan(&plan, args.preview.json());
        return Ok(Outcome::Clean);
    }
    if !refused.is_empty() {
        bail!("nothing was promoted:\n  {}", refused.join("\n  "));
    }
    let retry = registry::Retry::configured(&ws.config.registry, &ws.env);
    let outcomes =
        crate::adapters::publish::run(&ws.env, &host, credentials, retry, &plan.services)?;
    for (o, r) in outcomes.iter().zip(&recorded) {
        if let (Some(digest), false) = (&o.digest, o.tags.is_empty()) {
            let tags: Vec<Tag> = o.tags.iter().map(|p| p.tag.clone()).collect();
            records::update(&ws.root, &r.service, &r.image_id, |r| {
                r.note_pushed(digest, &tags)
            })?;
        }
    }
    render::publish::print_outcomes(&outcomes, args.preview.json());
    Ok(publish::verdict(&outcomes, "promote"))
}

fn parse_tags(args: &Args) -> Result<(Tag, Vec<Tag>)> {
    let parse =
        |flag: &str, s: &str| Tag::parse(s).map_err(|e| UsageError::new(format!("{flag}: {e:#}")));
    let from = parse("--from", args.from.as_deref().unwrap_or_default())?;
    let to = args
        .to
        .iter()
        .map(|t| parse("--to", t))
        .collect::<Result<Vec<_>>>()?;
    Ok((from, to))
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    if args.from_record {
        return from_record(ws, args);
    }
    let (from, to) = parse_tags(args)?;
    let services = ws.config.select(&args.services).map_err(usage)?;
    let namespace = args.registry.namespace(ws)?;
    let host = identity::require_host(&namespace)?;
    let credentials = registry::credentials(&ws.env, &host)?;
    let plan = Plan {
        registry: host.clone(),
        login: credentials
            .as_ref()
            .map(|c| registry::login_argv(&c.username, &host)),
        services: services
            .iter()
            .map(|s| job(&s.name, &identity::repository(&namespace, s), &from, &to))
            .collect(),
        notes: Vec::new(),
    };
    if args.preview.dry_run {
        render::publish::print_plan(&plan, args.preview.json());
        return Ok(Outcome::Clean);
    }
    let retry = registry::Retry::configured(&ws.config.registry, &ws.env);
    let outcomes =
        crate::adapters::publish::run(&ws.env, &host, credentials, retry, &plan.services)?;
    render::publish::print_outcomes(&outcomes, args.preview.json());
    Ok(publish::verdict(&outcomes, "promote"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Tag {
        Tag::parse(s).unwrap()
    }

    #[test]
    fn from_is_resolved_once_and_latest_moves_last() {
        let job = job(
            "api",
            "ghcr.io/acme/api",
            &tag("sha-860c190"),
            &[tag("latest"), tag("v1.2.3"), tag("sha-860c190")],
        );
        let lines: Vec<String> = job.steps.iter().map(|s| s.argv.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "docker buildx imagetools inspect --format {{json .Manifest}} ghcr.io/acme/api:sha-860c190",
                "docker buildx imagetools create --tag ghcr.io/acme/api:v1.2.3 ghcr.io/acme/api@{digest}",
                "docker buildx imagetools create --tag ghcr.io/acme/api:latest ghcr.io/acme/api@{digest}",
            ]
        );
    }

    #[test]
    fn invalid_tags_are_usage_errors() {
        let args = |from: &str, to: &str| Args {
            services: vec![],
            from: Some(from.into()),
            to: vec![to.into()],
            from_record: false,
            dirty: AllowDirty::default(),
            allow_replayed_scan: false,
            preview: Preview {
                dry_run: true,
                ..Preview::default()
            },
            registry: Registry::default(),
        };
        assert!(parse_tags(&args("sha-1", "v1")).is_ok());
        let e = parse_tags(&args("sha-1", "-bad")).unwrap_err();
        assert_eq!(crate::adapters::exec::exit_code(&e), 2);
        assert!(e.to_string().starts_with("--to: "), "{e}");
        let e = parse_tags(&args("a/b", "v1")).unwrap_err();
        assert!(e.to_string().starts_with("--from: "), "{e}");
    }
}
