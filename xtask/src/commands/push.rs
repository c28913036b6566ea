//! `cargo xtask push`: publish the computed tags of the images `build` produced.
//!
//! Decide first: every service's scan gate, its tags and the exact commands are planned
//! before anything is sent (`--dry-run` prints that plan). Then, per service, the registry
//! is asked what its immutable tag (`sha-...`) holds: nothing, and the image is pushed under
//! it; this image, and nothing is uploaded; another image, and the service is refused before
//! any tag moves. The digest is read back and every other tag is pointed at it with
//! `docker buildx imagetools create`, `latest` last. A failure halfway leaves the new image
//! reachable by its immutable tag and `latest` where it was.

use anyhow::{bail, Context, Result};

use crate::adapters::exec::usage;
use crate::adapters::image;
use crate::adapters::registry;
use crate::adapters::verdicts;
use crate::adapters::workspace::Workspace;
use crate::cli::{AllowDirty, Preview, Registry};
use crate::domain::identity;
use crate::domain::outcome::Outcome;
use crate::domain::publish::{self, Capture, Image, Job, Plan, Step, DIGEST, MANIFEST};
use crate::domain::tag::Tag;
use crate::domain::verdict::Verdict;
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
}

/// Whether the scan lets `image_id` be pushed: `Err` says why not and what to do.
fn gate(
    service: &str,
    image_id: &str,
    verdict: Option<&Verdict>,
    allow_unscanned: bool,
) -> std::result::Result<(), String> {
    let escape = "or pass --allow-unscanned";
    match verdict {
        _ if allow_unscanned => Ok(()),
        None => Err(format!(
            "`{service}` has no scan verdict: run cargo xtask scan {service} first, {escape}"
        )),
        Some(v) if v.image_id != image_id => Err(format!(
            "the last scan of `{service}` was of image {}, not the one built ({image_id}): \
             run cargo xtask scan {service} again, {escape}",
            v.image_id
        )),
        Some(v) if !v.passed => Err(format!(
            "the scan of `{service}` did not pass for image {image_id}: fix the findings \
             (cargo xtask scan {service} lists them), {escape}"
        )),
        Some(_) => Ok(()),
    }
}

/// The steps that publish `image_id` as `repository:<tag>` for every tag. `insecure`: the
/// registry is on loopback and may speak plain HTTP.
pub fn job(
    name: &str,
    repository: &str,
    image_id: &str,
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
    let mut rest: Vec<Tag> = tags.iter().filter(|t| *t != first).cloned().collect();
    publish::latest_last(&mut rest);
    for t in &rest {
        steps.push(publish::retag(
            repository,
            t,
            &format!("{repository}@{DIGEST}"),
        ));
    }
    Ok(Job {
        name: name.to_owned(),
        repository: repository.to_owned(),
        steps,
        image: Some(Image {
            id: image_id.to_owned(),
            immutable: first.clone(),
            commit: short_sha.to_owned(),
        }),
    })
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let services = ws.config.select(&args.services).map_err(usage)?;
    let namespace = args.registry.namespace(ws)?;
    let host = identity::require_host(&namespace)?;
    let credentials = registry::credentials(&ws.env, &host)?;
    let ctx = ws.git_context()?;
    let tags = ws.tags(&ctx)?;
    let tags = identity::publishable(&tags, &ctx, args.dirty.allow_dirty)?;
    let short_sha = identity::short_sha(&ctx.sha);

    let mut notes = Vec::new();
    let mut refused = Vec::new();
    let mut jobs = Vec::new();
    for service in &services {
        let image_id = match image::built(&ws.root, service) {
            Ok(i) => i.id,
            Err(e) if args.preview.dry_run => {
                notes.push(format!("{e:#}"));
                format!("<image built for {}>", service.name)
            }
            Err(e) => return Err(e),
        };
        let verdict = verdicts::verdict_for(&ws.root, &service.name)?;
        if let Err(why) = gate(
            &service.name,
            &image_id,
            verdict.as_ref(),
            args.allow_unscanned,
        ) {
            refused.push(why);
        }
        jobs.push(job(
            &service.name,
            &identity::repository(&namespace, service),
            &image_id,
            &tags,
            short_sha,
            identity::loopback(&host),
        )?);
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
        let first = job("api", "r/api", "id", &t, "860c190", false)
            .unwrap()
            .steps[1]
            .argv
            .join(" ");
        assert_eq!(first, "docker tag id r/api:v1.2.3");
        assert!(job("api", "r/api", "id", &[], "860c190", false).is_err());
    }

    fn verdict(id: &str, passed: bool) -> Verdict {
        Verdict {
            service: "api".into(),
            image: "acme/api:sha-860c190".into(),
            image_id: id.into(),
            passed,
            counts: Default::default(),
            scanned_at: "2026-11-23T00:00:00Z".into(),
        }
    }

    #[test]
    fn gate_needs_a_passing_scan_of_this_image() {
        assert!(gate("api", "sha256:a", Some(&verdict("sha256:a", true)), false).is_ok());
        let missing = gate("api", "sha256:a", None, false).unwrap_err();
        assert!(
            missing.contains("run cargo xtask scan api first, or pass --allow-unscanned"),
            "{missing}"
        );
        let other = gate("api", "sha256:a", Some(&verdict("sha256:b", true)), false).unwrap_err();
        assert!(
            other.contains("sha256:b") && other.contains("again"),
            "{other}"
        );
        let failed = gate("api", "sha256:a", Some(&verdict("sha256:a", false)), false).unwrap_err();
        assert!(failed.contains("did not pass"), "{failed}");
    }

    #[test]
    fn allow_unscanned_opens_the_gate() {
        assert!(gate("api", "sha256:a", None, true).is_ok());
        assert!(gate("api", "sha256:a", Some(&verdict("sha256:a", false)), true).is_ok());
    }
}
