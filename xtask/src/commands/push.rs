//! `cargo xtask push`: publish the images `build` recorded, under the tags it recorded.
//!
//! What is pushed comes from the build record (`target/xtask/record/<service>.json`,
//! domain/record.rs), never recomputed: the image id and tags the build produced. The record
//! is checked before it is used: against itself, the namespace, the local image under its
//! tags, and the scan verdict, which is itself checked against the image and its kept report
//! (for an image of several platforms, every platform's verdict: one failing is a refusal).
//! `--staging TAG` pushes each image under that one tag and records the digest, for
//! `promote --from-record` to release later without a rebuild.
//!
//! Decide first: every service's record, scan gate, its tags and the exact commands are planned
//! before anything is sent (`--dry-run` prints that plan). Then, per service, the registry
//! is asked what its immutable tag (`sha-...`) holds: nothing, and the image is pushed under
//! it; this image, and nothing is uploaded; another image, and the service is refused before
//! any tag moves. The digest is read back and every other tag is pointed at it with
//! `docker buildx imagetools create`, `latest` last. A failure halfway leaves the new image
//! reachable by its immutable tag and `latest` where it was.

use anyhow::{bail, Context, Result};

use crate::adapters::exec::{usage, UsageError};
use crate::adapters::records;
use crate::adapters::registry;
use crate::adapters::verdicts;
use crate::adapters::workspace::Workspace;
use crate::cli::{AllowDirty, Preview, Registry};
use crate::domain::config::Service;
use crate::domain::gate::Gate;
use crate::domain::identity;
use crate::domain::ignore::IgnoreList;
use crate::domain::outcome::Outcome;
use crate::domain::publish::{self, Capture, Image, Job, Plan, Step, MANIFEST};
use crate::domain::record::{self, Record};
use crate::domain::tag::Tag;
use crate::domain::verdict::{self, Current, Verdict};
use crate::render;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to push (default: all in xtask/images.toml).
    pub services: Vec<String>,
    #[command(flatten)]
    pub preview: Preview,
    #[command(flatten)]
    pub registry: Registry,
    /// Push images even when no passing scan verdict exists for them.
    #[arg(long)]
    pub allow_unscanned: bool,
    #[command(flatten)]
    pub dirty: AllowDirty,
    /// Accept verdicts of `scan --replay` (a recorded report, not a scan of the image)
    /// (default: XTASK_ALLOW_REPLAYED_SCAN=1).
    #[arg(long)]
    pub allow_replayed_scan: bool,
    /// Push each image under this tag only (e.g. `staging-<run id>`) and record the digest
    /// it got, for `promote --from-record` to give it the recorded tags without a rebuild.
    #[arg(long, value_name = "TAG")]
    pub staging: Option<String>,
}

/// Whether the scan lets an image be pushed: `verdict` is what `scan` recorded, `check`
/// holds it against the image, its report and the config in force ([`verdict::check`]).
/// `Ok` may carry a note; `Err` says why not and what to do.
fn gate(
    service: &str,
    platform: Option<&str>,
    verdict: Result<Option<Verdict>>,
    allow_unscanned: bool,
    check: impl FnOnce(&Verdict) -> std::result::Result<Option<String>, String>,
) -> std::result::Result<Option<String>, String> {
    let escape = "or pass --allow-unscanned";
    let of = platform.map(|p| format!(" for {p}")).unwrap_or_default();
    match verdict {
        _ if allow_unscanned => Ok(None),
        Ok(None) => Err(format!(
            "`{service}` has no scan verdict{of}: run cargo xtask scan {service} first, {escape}"
        )),
        Err(e) => Err(format!("{e:#}, {escape}")),
        Ok(Some(v)) => check(&v).map_err(|why| format!("{why}, {escape}")),
    }
}

/// The steps that publish `image_id` (whose config digests are `configs`) as
/// `repository:<tag>` for every tag. `insecure`: the registry is on loopback and may speak
/// plain HTTP.
pub fn job(
    name: &str,
    repository: &str,
    image_id: &str,
    configs: &[String],
    tags: &[Tag],
    short_sha: &str,
    insecure: bool,
) -> Result<Job> {
    let first =
        identity::immutable(tags, short_sha).context("the tag rules give no tag to push")?;
    let first_ref = format!("{repository}:{first}");
    let mut steps = vec![
        // What the immutable tag holds decides whether the upload runs at all.
        publish::lookup(&first_ref, insecure),
        Step::new(&["docker", "tag", image_id, &first_ref]).upload(),
        Step::new(&["docker", "push", &first_ref])
            .capture(Capture::Manifest)
            .upload(),
        // buildx wraps a single manifest in an index (deterministically), so the immutable
        // tag is moved onto that index, once, as part of its first upload; every other tag
        // then copies it as-is and all tags share one digest.
        Step {
            publishes: None,
            ..publish::retag(repository, first, &format!("{repository}@{MANIFEST}"))
        }
        .upload(),
        publish::resolve(&first_ref).publishes(first),
    ];
    steps.extend(publish::retag_others(repository, tags, first));
    Ok(Job {
        name: name.to_owned(),
        repository: repository.to_owned(),
        steps,
        image: Some(Image {
            id: image_id.to_owned(),
            configs: configs.to_vec(),
            immutable: first.clone(),
            commit: short_sha.to_owned(),
        }),
    })
}

/// The record of `service`'s build, held against itself, the namespace push publishes to
/// and the local image it names; then the scan gate for that image. Returns the record to
/// push (a preview made from the git context in a dry run without one, none when it could
/// not be read) and the refusals.
fn checked_record(
    ws: &Workspace,
    args: &Args,
    service: &Service,
    repository: &str,
    notes: &mut Vec<String>,
    scan: (&Gate, &IgnoreList, bool),
) -> Result<(Option<Record>, Vec<String>)> {
    let (scan_gate, ignores, allow_replay) = scan;
    let name = &service.name;
    let missing = || {
        format!(
            "no record of a build of `{name}` ({}/{name}.json is missing): build it first: \
             cargo xtask build {name}",
            record::RECORD_DIR
        )
    };
    let record = match records::read(&ws.root, name) {
        Ok(Some(r)) => r,
        unread => {
            let why = match unread {
                Err(e) => format!("{e:#}"),
                _ => missing(),
            };
            if args.preview.dry_run {
                notes.push(format!(
                    "{why}; planned with the tags a build now would give"
                ));
                return Ok((Some(preview(ws, service, repository)?), Vec::new()));
            }
            return Ok((None, vec![why]));
        }
    };
    let mut refused = Vec::new();
    if let Err(why) = record
        .consistent(name)
        .and_then(|()| record.names_repository(repository))
    {
        refused.push(why);
        return Ok((Some(record), refused));
    }
    match records::local_image(&record.reference()) {
        Ok(local) => refused.extend(record.matches_local(local.as_ref()).err()),
        Err(e) if args.preview.dry_run => notes.push(format!("{e:#}")),
        Err(e) => return Err(e),
    }
    // A multi-platform image is pushed whole, so every platform must pass its own scan.
    for platform in record.verdict_platforms() {
        let key = verdict::key(name, platform);
        let now = Current {
            service: name,
            image_id: &record.image_id,
            platform,
            gate: scan_gate,
            ignores,
            today: ws.now.date(),
            allow_replay,
        };
        let report = verdicts::kept_report(&ws.root, &key);
        match gate(
            name,
            platform,
            verdicts::verdict_for(&ws.root, &key),
            args.allow_unscanned,
            |v| {
                record.matches_verdict(v)?;
                verdict::check(v, &now, report.as_deref())
            },
        ) {
            Ok(note) => notes.extend(note),
            Err(why) => refused.push(why),
        }
    }
    Ok((Some(record), refused))
}

/// What a dry run without a record plans with: the tags the git context gives now.
fn preview(ws: &Workspace, service: &Service, repository: &str) -> Result<Record> {
    let ctx = ws.git_context()?;
    let tags = ws.tags(&ctx)?;
    Record::of(record::Built {
        service: &service.name,
        repository,
        image_id: &format!("<image built for {}>", service.name),
        platforms: &[],
        tags: &tags,
        labels: &Default::default(),
        revision: &ctx.sha,
        dirty: ctx.dirty,
    })
    .context("the tag rules give no tag to push")
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let services = ws.config.select(&args.services).map_err(usage)?;
    let namespace = args.registry.namespace(ws)?;
    let host = identity::require_host(&namespace)?;
    let staging = args
        .staging
        .as_deref()
        .map(|t| Tag::parse(t).map_err(|e| UsageError::new(format!("--staging: {e:#}"))))
        .transpose()?;
    let credentials = registry::credentials(&ws.env, &host)?;
    let ignores = match args.allow_unscanned {
        true => IgnoreList::default(),
        false => IgnoreList::load(&ws.root, &ws.config.scan.ignore_file).map_err(usage)?,
    };
    let allow_replay =
        args.allow_replayed_scan || ws.env.get("XTASK_ALLOW_REPLAYED_SCAN") == Some("1");
    let scan_gate = Gate::from_config(&ws.config.scan);

    let mut notes = Vec::new();
    let mut refused = Vec::new();
    let mut jobs = Vec::new();
    let mut recorded = Vec::new();
    for service in &services {
        let repository = identity::repository(&namespace, service);
        let (record, why) = checked_record(
            ws,
            args,
            service,
            &repository,
            &mut notes,
            (&scan_gate, &ignores, allow_replay),
        )?;
        refused.extend(why);
        let Some(record) = record else { continue };
        // The dirty rules are the build's, as its record says: refused (exit 2) without
        // --allow-dirty, and then only the tags naming the dirty revision.
        let tags = record.publishable(args.dirty.allow_dirty)?;
        let tags = match &staging {
            Some(t) => vec![t.clone()],
            None => tags,
        };
        jobs.push(job(
            &service.name,
            &repository,
            &record.image_id,
            &record.configs,
            &tags,
            identity::short_sha(&record.revision),
            identity::loopback(&host),
        )?);
        recorded.push(record);
    }
    if args.allow_unscanned {
        notes.push("--allow-unscanned: pushing without checking scan verdicts".into());
    }
    let plan = Plan {
        registry: host.clone(),
        login: credentials
            .as_ref()
            .map(|c| registry::login_argv(&c.username, &host)),
        services: jobs,
        notes,
    };
    if args.preview.dry_run {
        plan.notes
            .iter()
            .chain(&refused)
            .for_each(|n| eprintln!("note: {n}"));
        render::publish::print_plan(&plan, args.preview.json());
        return Ok(Outcome::Clean);
    }
    for n in &plan.notes {
        eprintln!("note: {n}");
    }
    if !refused.is_empty() {
        bail!("nothing was pushed:\n  {}", refused.join("\n  "));
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
    Ok(publish::verdict(&outcomes, "push"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<Tag> {
        names.iter().map(|t| Tag::parse(t).unwrap()).collect()
    }

    #[test]
    fn immutable_tag_is_pushed_first_and_latest_last() {
        let job = job(
            "api",
            "127.0.0.1:5000/acme/api",
            "sha256:abc",
            &[],
            &tags(&["main", "main-20261120-090507", "latest", "sha-860c190"]),
            "860c190",
            true,
        )
        .unwrap();
        let lines: Vec<String> = job.steps.iter().map(|s| s.argv.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "docker manifest inspect --insecure --verbose 127.0.0.1:5000/acme/api:sha-860c190",
                "docker tag sha256:abc 127.0.0.1:5000/acme/api:sha-860c190",
                "docker push 127.0.0.1:5000/acme/api:sha-860c190",
                "docker buildx imagetools create --tag 127.0.0.1:5000/acme/api:sha-860c190 127.0.0.1:5000/acme/api@{manifest}",
                "docker buildx imagetools inspect --format {{json .Manifest}} 127.0.0.1:5000/acme/api:sha-860c190",
                "docker buildx imagetools create --tag 127.0.0.1:5000/acme/api:main 127.0.0.1:5000/acme/api@{digest}",
                "docker buildx imagetools create --tag 127.0.0.1:5000/acme/api:main-20261120-090507 127.0.0.1:5000/acme/api@{digest}",
                "docker buildx imagetools create --tag 127.0.0.1:5000/acme/api:latest 127.0.0.1:5000/acme/api@{digest}",
            ]
        );
        let published: Vec<&str> = job
            .steps
            .iter()
            .filter_map(|s| s.publishes.as_ref().map(Tag::as_str))
            .collect();
        assert_eq!(
            published,
            ["sha-860c190", "main", "main-20261120-090507", "latest"]
        );
        // Only the upload is skipped when the registry holds the image already.
        let uploads: Vec<usize> = (0..job.steps.len())
            .filter(|i| job.steps[*i].upload)
            .collect();
        assert_eq!(uploads, [1, 2, 3]);
    }

    #[test]
    fn without_a_sha_tag_the_first_non_latest_goes_first() {
        let t = tags(&["latest", "v1.2.3", "1.2"]);
        let first = job("api", "r/api", "id", &[], &t, "860c190", false)
            .unwrap()
            .steps[1]
            .argv
            .join(" ");
        assert_eq!(first, "docker tag id r/api:v1.2.3");
        assert!(job("api", "r/api", "id", &[], &[], "860c190", false).is_err());
    }

    #[test]
    fn gate_needs_a_scan_verdict_that_holds() {
        let holds = |_: &Verdict| Ok(None);
        assert_eq!(
            gate("api", None, Ok(Some(Verdict::default())), false, holds),
            Ok(None)
        );
        let missing = gate("api", None, Ok(None), false, holds).unwrap_err();
        assert!(
            missing.contains("run cargo xtask scan api first, or pass --allow-unscanned"),
            "{missing}"
        );
        let unreadable = gate(
            "api",
            None,
            Err(anyhow::anyhow!("x is not a scan verdict")),
            false,
            holds,
        );
        assert_eq!(
            unreadable.unwrap_err(),
            "x is not a scan verdict, or pass --allow-unscanned"
        );
        let refused = gate("api", None, Ok(Some(Verdict::default())), false, |_| {
            Err("it did not pass".into())
        });
        assert_eq!(
            refused.unwrap_err(),
            "it did not pass, or pass --allow-unscanned"
        );
        let noted = gate("api", None, Ok(Some(Verdict::default())), false, |_| {
            Ok(Some("a replay".into()))
        });
        assert_eq!(noted, Ok(Some("a replay".into())));
    }

    #[test]
    fn allow_unscanned_opens_the_gate() {
        let never = |_: &Verdict| -> std::result::Result<Option<String>, String> {
            unreachable!("nothing is checked")
        };
        assert_eq!(gate("api", None, Ok(None), true, never), Ok(None));
        assert_eq!(
            gate("api", None, Ok(Some(Verdict::default())), true, never),
            Ok(None)
        );
    }
}
