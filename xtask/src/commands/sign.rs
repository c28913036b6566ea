//! `cargo xtask sign`: sign pushed images by digest with cosign.
//!
//! Decide first: the key (a file, `COSIGN_KEY`, or keyless in GitHub Actions), the
//! registry flags and whether the transparency log is used are resolved into plain argv
//! before anything runs; `--dry-run` prints them. What is signed is the digest the build
//! record says `push` (or `promote --from-record`) published, never a tag, so a tag moved
//! later cannot borrow the signature; the registry is first asked that the digest is the
//! recorded image id. The key's password reaches cosign only through `COSIGN_PASSWORD`
//! in its environment, never argv; cosign pushes the signature with the run's registry
//! login (the shared `DOCKER_CONFIG` of [`registry::Session`]).

use std::path::PathBuf;

use anyhow::Result;

use crate::adapters::cosign::require_cosign;
use crate::adapters::exec::usage;
use crate::adapters::records;
use crate::adapters::registry;
use crate::adapters::workspace::Workspace;
use crate::cli::{Preview, Registry};
use crate::domain::identity;
use crate::domain::outcome::Outcome;
use crate::domain::publish::{self, Image, Job, Plan, Step, DIGEST};
use crate::domain::signing::{self, signer, tlog_upload, Signer, SigningJob};
use crate::render;

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Services whose pushed image to sign (default: all in xtask/images.toml).
    pub services: Vec<String>,
    #[command(flatten)]
    pub preview: Preview,
    #[command(flatten)]
    pub registry: Registry,
    /// Private key file (default: COSIGN_KEY, the key itself or its path; keyless in GitHub
    /// Actions when the job may request an OIDC token, `id-token: write`).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Record the signature in the Rekor transparency log (default: true, except for a
    /// registry on 127.0.0.1/localhost or with --offline).
    #[arg(long, value_name = "BOOL")]
    pub tlog_upload: Option<bool>,
    /// No public Sigstore services: never upload to the transparency log.
    #[arg(long)]
    pub offline: bool,
}

/// The publish jobs that sign `targets`: resolve the tag's digest, then sign
/// `repository@digest`.
pub fn jobs(targets: &[SigningJob], signer: &Signer, tlog: bool, host: &str) -> Vec<Job> {
    targets
        .iter()
        .map(|t| Job {
            name: t.name.clone(),
            repository: t.repository.clone(),
            steps: vec![
                publish::resolve(&t.tagged()),
                Step {
                    argv: t.sign_argv(signer, tlog, host, DIGEST),
                    capture: None,
                    publishes: Some(t.tag.clone()),
                    upload: false,
                },
            ],
            image: None,
        })
        .collect()
}

/// The job that signs the digest a record says was published: the registry is asked that
/// `repository@digest` is `image_id` (or holds every one of its `configs`), then that digest
/// is signed.
pub fn recorded_job(
    t: &SigningJob,
    (image_id, configs): (&str, &[String]),
    digest: &str,
    (signer, tlog, host): (&Signer, bool, &str),
) -> Job {
    Job {
        name: t.name.clone(),
        repository: t.repository.clone(),
        steps: vec![
            publish::expect_image(&t.repository, digest, identity::loopback(host)),
            Step {
                argv: t.sign_argv(signer, tlog, host, digest),
                capture: None,
                publishes: Some(t.tag.clone()),
                upload: false,
            },
        ],
        image: Some(Image {
            id: image_id.to_owned(),
            configs: configs.to_vec(),
            immutable: t.tag.clone(),
            commit: String::new(),
        }),
    }
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let services = ws.config.select(&args.services).map_err(usage)?;
    let namespace = args.registry.namespace(ws)?;
    let host = identity::require_host(&namespace)?;
    let credentials = registry::credentials(&ws.env, &host)?;
    let signer = signer(args.key.as_deref(), &ws.env)?;
    let tlog = tlog_upload(&host, args.offline, args.tlog_upload);
    let mut notes = Vec::new();
    match &signer {
        Signer::Keyless => notes.push(
            "signing keyless with the GitHub Actions OIDC token (Fulcio certificate, Rekor entry)"
                .to_owned(),
        ),
        Signer::Key(_) if ws.env.get("COSIGN_PASSWORD").is_none() => notes.push(
            "COSIGN_PASSWORD is not set: cosign can only use a key without a password".into(),
        ),
        Signer::Key(_) => {}
    }
    if !tlog {
        notes.push(format!(
            "the signature is not uploaded to the transparency log ({}): verify with \
             `cargo xtask verify --signature`, which then skips the log too",
            if args.tlog_upload == Some(false) {
                "--tlog-upload=false"
            } else if args.offline {
                "--offline"
            } else {
                "loopback registry"
            }
        ));
    }
    let mut refused = Vec::new();
    let mut planned = Vec::new();
    for service in &services {
        let repository = identity::repository(&namespace, service);
        let record = match records::read(&ws.root, &service.name) {
            Ok(Some(r)) => r,
            unread if args.preview.dry_run => {
                // A preview: the tag a build of this commit would be pushed under, resolved.
                notes.push(match unread {
                    Err(e) => format!("{e:#}"),
                    _ => format!(
                        "no record of a build of `{}`: planned for the tag a build now would push",
                        service.name
                    ),
                });
                let ctx = ws.git_context()?;
                let target =
                    signing::immutable_refs(&namespace, &[*service], &ws.tags(&ctx)?, &ctx.sha)?;
                planned.extend(jobs(&target, &signer, tlog, &host));
                continue;
            }
            Ok(None) => {
                refused.push(format!(
                    "no record of a build of `{0}`: build, scan and push it first (cargo xtask \
                     build {0})",
                    service.name
                ));
                continue;
            }
            Err(e) => {
                refused.push(format!("{e:#}"));
                continue;
            }
        };
        let checked = record
            .consistent(&service.name)
            .and_then(|()| record.names_repository(&repository))
            .and_then(|()| record.pushed_digest().map(str::to_owned))
            .and_then(|digest| Ok((record.immutable_tag()?, digest)));
        match checked {
            Ok((tag, digest)) => planned.push(recorded_job(
                &SigningJob {
                    name: service.name.clone(),
                    repository,
                    tag,
                },
                (&record.image_id, &record.configs),
                &digest,
                (&signer, tlog, &host),
            )),
            Err(why) => refused.push(why),
        }
    }
    let plan = Plan {
        registry: host.clone(),
        login: credentials
            .as_ref()
            .map(|c| registry::login_argv(&c.username, &host)),
        services: planned,
        notes,
    };
    for n in &plan.notes {
        eprintln!("note: {n}");
    }
    if args.preview.dry_run {
        refused.iter().for_each(|n| eprintln!("note: {n}"));
        render::publish::print_plan(&plan, args.preview.json());
        return Ok(Outcome::Clean);
    }
    if !refused.is_empty() {
        anyhow::bail!("nothing was signed:\n  {}", refused.join("\n  "));
    }
    require_cosign()?;
    let retry = registry::Retry::configured(&ws.config.registry, &ws.env);
    let outcomes =
        crate::adapters::publish::run(&ws.env, &host, credentials, retry, &plan.services)?;
    render::publish::print_outcomes(&outcomes, args.preview.json());
    Ok(publish::verdict(&outcomes, "sign"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_digest_is_checked_to_be_the_image_then_signed() {
        let job = recorded_job(
            &SigningJob {
                name: "api".into(),
                repository: "ghcr.io/acme/api".into(),
                tag: crate::domain::tag::Tag::parse("sha-860c190").unwrap(),
            },
            ("sha256:c", &[]),
            "sha256:d",
            (&Signer::Keyless, true, "ghcr.io"),
        );
        let lines: Vec<String> = job.steps.iter().map(|s| s.argv.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "docker manifest inspect --verbose ghcr.io/acme/api@sha256:d",
                "cosign sign --yes ghcr.io/acme/api@sha256:d",
            ]
        );
        assert_eq!(job.image.unwrap().id, "sha256:c");
    }

    #[test]
    fn jobs_resolve_the_tag_then_sign_the_digest() {
        let tag = crate::domain::tag::Tag::parse("sha-860c190").unwrap();
        let jobs = jobs(
            &[SigningJob {
                name: "api".into(),
                repository: "127.0.0.1:5000/acme/api".into(),
                tag,
            }],
            &Signer::Key("cosign.key".into()),
            false,
            "127.0.0.1:5000",
        );
        let lines: Vec<String> = jobs[0].steps.iter().map(|s| s.argv.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "docker buildx imagetools inspect --format {{json .Manifest}} 127.0.0.1:5000/acme/api:sha-860c190",
                "cosign sign --yes --key cosign.key --tlog-upload=false --allow-insecure-registry \
                 --allow-http-registry 127.0.0.1:5000/acme/api@{digest}",
            ]
        );
    }
}
