//! `cargo xtask sign`: sign pushed images by digest with cosign, and the `cosign verify`
//! that `verify --signature` runs.
//!
//! Decide first: the key (a file, `COSIGN_KEY`, or keyless in GitHub Actions), the
//! registry flags and whether the transparency log is used are resolved into plain argv
//! before anything runs; `--dry-run` prints them. Each image's tag is resolved to its digest
//! in the registry and the digest is signed, never the tag, so a tag moved later cannot
//! borrow the signature. The key's password reaches cosign only through `COSIGN_PASSWORD`
//! in its environment, never argv; cosign pushes the signature with the run's registry
//! login (the shared `DOCKER_CONFIG` of [`registry::Session`]).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::adapters::exec::{usage, EnvironmentError, UsageError};
use crate::adapters::registry::{self, Session};
use crate::adapters::workspace::Workspace;
use crate::cli::Preview;
use crate::domain::checks::Signature;
use crate::domain::env::Env;
use crate::domain::identity;
use crate::domain::plan;
use crate::domain::publish::{self, Job, Plan, Step, DIGEST};
use crate::render;

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Services whose pushed image to sign (default: all in xtask/images.toml).
    pub services: Vec<String>,
    #[command(flatten)]
    pub preview: Preview,
    /// Registry and namespace the images were pushed to (env: XTASK_REGISTRY).
    #[arg(long, value_name = "REGISTRY/NAMESPACE")]
    pub registry: Option<String>,
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

/// How cosign signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// `--key REF`: a file, or `env://COSIGN_KEY` when that variable holds the key itself.
    Key(String),
    /// Sigstore's keyless flow with the GitHub Actions OIDC token.
    Keyless,
}

/// `--key` > `COSIGN_KEY` > keyless when GitHub Actions offers an OIDC token.
pub fn signer(key: Option<&std::path::Path>, env: &Env) -> Result<Signer> {
    if let Some(path) = key {
        return Ok(Signer::Key(path.display().to_string()));
    }
    match env.get("COSIGN_KEY") {
        Some(k) if k.contains("-----BEGIN") => Ok(Signer::Key("env://COSIGN_KEY".into())),
        Some(path) => Ok(Signer::Key(path.to_owned())),
        None if env.get("ACTIONS_ID_TOKEN_REQUEST_URL").is_some() => Ok(Signer::Keyless),
        None => Err(UsageError::new(
            "no signing key: pass --key PATH or set COSIGN_KEY (the key or its path) and \
             COSIGN_PASSWORD; in GitHub Actions, grant the job `permissions: id-token: write` \
             to sign keyless",
        )),
    }
}

pub fn tlog_upload(host: &str, offline: bool, explicit: Option<bool>) -> bool {
    explicit.unwrap_or(!offline && !identity::loopback(host))
}

fn registry_flags(host: &str) -> Vec<String> {
    if identity::loopback(host) {
        vec![
            "--allow-insecure-registry".into(),
            "--allow-http-registry".into(),
        ]
    } else {
        Vec::new()
    }
}

/// `cosign sign` for `reference` (`repo@digest`).
pub fn sign_argv(signer: &Signer, tlog: bool, host: &str, reference: &str) -> Vec<String> {
    let mut argv: Vec<String> = ["cosign", "sign", "--yes"].map(String::from).into();
    if let Signer::Key(key) = signer {
        argv.extend(["--key".into(), key.clone()]);
    }
    if !tlog {
        argv.push("--tlog-upload=false".into());
    }
    argv.extend(registry_flags(host));
    argv.push(reference.to_owned());
    argv
}

/// `cosign verify` of `reference` with the public key `key`.
pub fn verify_argv(key: &str, tlog: bool, host: &str, reference: &str) -> Vec<String> {
    let mut argv: Vec<String> = ["cosign", "verify", "--key", key].map(String::from).into();
    if !tlog {
        argv.push("--insecure-ignore-tlog=true".into());
    }
    argv.extend(registry_flags(host));
    argv.push(reference.to_owned());
    argv
}

/// cosign on PATH, or an environment error saying how to get it.
pub fn require_cosign() -> Result<()> {
    which::which("cosign").map(|_| ()).map_err(|_| {
        EnvironmentError::new(
            "cosign is not installed: `cargo xtask engine up` installs it (Debian trixie's cosign \
             package), or see https://docs.sigstore.dev/cosign/system_config/installation/",
        )
    })
}

/// The registry tag each service is signed and verified at: `<namespace>/<image>:sha-<7>`.
pub fn immutable_refs(
    ws: &Workspace,
    namespace: &str,
    services: &[&crate::domain::config::Service],
) -> Result<Vec<(String, String, crate::domain::tag::Tag)>> {
    let ctx = ws.git_context()?;
    let tags = ws.tags(&ctx)?;
    let short_sha = identity::short_sha(&ctx.sha);
    let tag = identity::immutable(&tags, short_sha)
        .context("the tag rules give no tag to sign")?
        .clone();
    Ok(services
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                identity::repository(namespace, s),
                tag.clone(),
            )
        })
        .collect())
}

/// The signing jobs: resolve the tag's digest, then sign `repository@digest`.
pub fn jobs(
    targets: &[(String, String, crate::domain::tag::Tag)],
    signer: &Signer,
    tlog: bool,
    host: &str,
) -> Vec<Job> {
    targets
        .iter()
        .map(|(name, repository, tag)| Job {
            name: name.clone(),
            repository: repository.clone(),
            steps: vec![
                publish::resolve(&format!("{repository}:{tag}")),
                Step {
                    argv: sign_argv(signer, tlog, host, &format!("{repository}@{DIGEST}")),
                    capture: None,
                    publishes: Some(tag.clone()),
                },
            ],
        })
        .collect()
}

pub fn run(ws: &Workspace, args: &Args) -> Result<()> {
    let services = ws.config.select(&args.services).map_err(usage)?;
    let namespace = plan::resolve_namespace(args.registry.as_deref(), &ws.env, &ws.config)?;
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
    let targets = immutable_refs(ws, &namespace, &services)?;
    let plan = Plan {
        registry: host.clone(),
        login: credentials
            .as_ref()
            .map(|c| registry::login_argv(&c.username, &host)),
        services: jobs(&targets, &signer, tlog, &host),
        notes,
    };
    for n in &plan.notes {
        eprintln!("note: {n}");
    }
    if args.preview.dry_run {
        render::publish::print_plan(&plan, args.preview.json);
        return Ok(());
    }
    require_cosign()?;
    let outcomes = crate::adapters::publish::run(&ws.env, &host, credentials, &plan.services)?;
    render::publish::print_outcomes(&outcomes, args.preview.json);
    publish::verdict(&outcomes, "sign")
}

/// Resolves `reference` (a tag) to its digest in the registry and runs `cosign verify` on
/// the digest in `session`.
pub fn verify(session: &Session, key: &str, tlog: bool, reference: &str) -> Signature {
    let host = identity::registry_host(reference)
        .unwrap_or_default()
        .to_owned();
    let repository = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => reference,
    };
    let resolve = publish::resolve(reference).argv;
    let digest = match session
        .run(&resolve, None, |_| {})
        .and_then(|a| registry::manifest_digest(&a.lines))
    {
        Ok(d) => d,
        Err(e) => {
            return Signature::Unresolved {
                reference: reference.to_owned(),
                why: format!("{e:#}"),
            }
        }
    };
    let argv = verify_argv(key, tlog, &host, &format!("{repository}@{digest}"));
    eprintln!("  $ {}", crate::adapters::exec::shell_words(&argv));
    let mut lines = Vec::new();
    let verified = session
        .run(&argv, None, |l| lines.push(l.to_owned()))
        .is_ok();
    let why = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("Error:"))
        .or(lines.last())
        .cloned()
        .unwrap_or_default();
    Signature::Checked {
        reference: reference.to_owned(),
        digest,
        key: key.to_owned(),
        verified,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_skip_the_log_unless_asked() {
        assert!(!tlog_upload("127.0.0.1:5000", false, None));
        assert!(tlog_upload("ghcr.io", false, None));
        assert!(!tlog_upload("ghcr.io", true, None));
        assert!(tlog_upload("127.0.0.1:5000", false, Some(true)));
    }
    use std::path::Path;

    fn env(vars: &[(&str, &str)]) -> Env {
        vars.iter().copied().collect()
    }

    #[test]
    fn key_flag_wins_then_cosign_key_then_keyless_in_actions() {
        let actions = ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.actions/x");
        let pem = (
            "COSIGN_KEY",
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nabc",
        );
        assert_eq!(
            signer(Some(Path::new("k/cosign.key")), &env(&[pem, actions])).unwrap(),
            Signer::Key("k/cosign.key".into())
        );
        assert_eq!(
            signer(None, &env(&[pem, actions])).unwrap(),
            Signer::Key("env://COSIGN_KEY".into())
        );
        assert_eq!(
            signer(None, &env(&[("COSIGN_KEY", "/keys/cosign.key")])).unwrap(),
            Signer::Key("/keys/cosign.key".into())
        );
        assert_eq!(signer(None, &env(&[actions])).unwrap(), Signer::Keyless);
        let e = signer(None, &env(&[])).unwrap_err();
        assert_eq!(crate::adapters::exec::exit_code(&e), 2);
        assert!(e.to_string().contains("id-token: write"), "{e}");
    }

    #[test]
    fn key_signing_argv_for_a_local_registry() {
        let argv = sign_argv(
            &Signer::Key("env://COSIGN_KEY".into()),
            false,
            "127.0.0.1:5000",
            "127.0.0.1:5000/acme/api@sha256:abc",
        );
        assert_eq!(
            argv.join(" "),
            "cosign sign --yes --key env://COSIGN_KEY --tlog-upload=false \
             --allow-insecure-registry --allow-http-registry 127.0.0.1:5000/acme/api@sha256:abc"
        );
    }

    #[test]
    fn keyless_signing_in_actions_has_no_key_and_uses_the_log() {
        let argv = sign_argv(
            &Signer::Keyless,
            true,
            "ghcr.io",
            "ghcr.io/acme/api@sha256:abc",
        );
        assert_eq!(
            argv.join(" "),
            "cosign sign --yes ghcr.io/acme/api@sha256:abc"
        );
    }

    #[test]
    fn verify_argv_ignores_the_log_only_when_signing_skipped_it() {
        assert_eq!(
            verify_argv(
                "cosign.pub",
                false,
                "127.0.0.1:5000",
                "127.0.0.1:5000/a/api@sha256:1"
            )
            .join(" "),
            "cosign verify --key cosign.pub --insecure-ignore-tlog=true \
             --allow-insecure-registry --allow-http-registry 127.0.0.1:5000/a/api@sha256:1"
        );
        assert_eq!(
            verify_argv("cosign.pub", true, "ghcr.io", "ghcr.io/a/api@sha256:1").join(" "),
            "cosign verify --key cosign.pub ghcr.io/a/api@sha256:1"
        );
    }

    #[test]
    fn jobs_resolve_the_tag_then_sign_the_digest() {
        let tag = crate::domain::tag::Tag::parse("sha-860c190").unwrap();
        let jobs = jobs(
            &[("api".into(), "127.0.0.1:5000/acme/api".into(), tag)],
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
