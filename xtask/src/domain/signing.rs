//! Signing decisions as data: how cosign signs (a key or keyless), whether the transparency
//! log is used, the `cosign sign` and `cosign verify` argv, and the image each service is
//! signed at. `commands/sign.rs` runs them; `adapters/cosign.rs` runs `cosign verify`.

use anyhow::{Context, Result};

use crate::domain::config::Service;
use crate::domain::env::Env;
use crate::domain::error::UsageError;
use crate::domain::identity;
use crate::domain::tag::Tag;

/// How cosign signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// `--key REF`: a file, or `env://COSIGN_KEY` when that variable holds the key itself.
    Key(String),
    /// Sigstore's keyless flow with the GitHub Actions OIDC token.
    Keyless,
}

/// Whether GitHub Actions offers this job an OIDC token: cosign's `github-actions` provider
/// needs both the request URL and the request token, which Actions sets only for a job with
/// `permissions: id-token: write` (sigstore/cosign pkg/providers/github).
pub fn oidc_token_available(env: &Env) -> bool {
    [
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ]
    .iter()
    .all(|k| env.get(k).is_some_and(|v| !v.is_empty()))
}

/// `--key` > `COSIGN_KEY` > keyless when GitHub Actions offers an OIDC token.
pub fn signer(key: Option<&std::path::Path>, env: &Env) -> Result<Signer> {
    if let Some(path) = key {
        return Ok(Signer::Key(path.display().to_string()));
    }
    match env.get("COSIGN_KEY") {
        Some(k) if k.contains("-----BEGIN") => Ok(Signer::Key("env://COSIGN_KEY".into())),
        Some(path) => Ok(Signer::Key(path.to_owned())),
        None if oidc_token_available(env) => Ok(Signer::Keyless),
        None => Err(UsageError::new(
            "no signing key: pass --key PATH or set COSIGN_KEY (the key or its path) and \
             COSIGN_PASSWORD; in GitHub Actions, grant the job `permissions: id-token: write` \
             to sign keyless",
        )),
    }
}

/// Whether the signature goes to the transparency log: as asked, else not for a loopback
/// registry or `--offline`.
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

/// One service's image to sign or verify: its registry tag is resolved to a digest, and
/// `repository@digest` is what cosign signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningJob {
    pub name: String,
    pub repository: String,
    pub tag: Tag,
}

impl SigningJob {
    /// `repository:tag`, the reference that is resolved to a digest.
    pub fn tagged(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// `cosign sign` of `repository@digest`.
    pub fn sign_argv(&self, signer: &Signer, tlog: bool, host: &str, digest: &str) -> Vec<String> {
        sign_argv(signer, tlog, host, &format!("{}@{digest}", self.repository))
    }
}

/// The registry tag each service is signed and verified at: `<namespace>/<image>` with the
/// immutable tag of `tags` (the one naming the commit `sha`).
pub fn immutable_refs(
    namespace: &str,
    services: &[&Service],
    tags: &[Tag],
    sha: &str,
) -> Result<Vec<SigningJob>> {
    let tag = identity::immutable_tag(tags, sha).context("nothing to sign")?;
    Ok(services
        .iter()
        .map(|s| SigningJob {
            name: s.name.clone(),
            repository: identity::repository(namespace, s),
            tag: tag.clone(),
        })
        .collect())
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
        let token = ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t0ken");
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
        assert_eq!(
            signer(None, &env(&[actions, token])).unwrap(),
            Signer::Keyless
        );
        // Without `id-token: write` Actions sets neither; cosign needs both.
        for half in [actions, token] {
            let e = signer(None, &env(&[half])).unwrap_err();
            assert!(e.to_string().contains("id-token: write"), "{e}");
        }
        let e = signer(None, &env(&[])).unwrap_err();
        assert_eq!(crate::domain::error::exit_code(&e), 2);
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
    fn every_service_is_signed_at_the_tag_naming_the_commit() {
        let config = crate::domain::plan::tests::config();
        let services = config.select(&[]).unwrap();
        let tags: Vec<Tag> = ["latest", "sha-860c190"]
            .iter()
            .map(|t| Tag::parse(t).unwrap())
            .collect();
        let jobs = immutable_refs("127.0.0.1:5000/acme", &services, &tags, "860c1901aa").unwrap();
        let refs: Vec<String> = jobs.iter().map(SigningJob::tagged).collect();
        assert_eq!(
            refs,
            [
                "127.0.0.1:5000/acme/api:sha-860c190",
                "127.0.0.1:5000/acme/web:sha-860c190"
            ]
        );
        assert_eq!(
            jobs[0]
                .sign_argv(&Signer::Keyless, true, "127.0.0.1:5000", "{digest}")
                .join(" "),
            "cosign sign --yes --allow-insecure-registry --allow-http-registry \
             127.0.0.1:5000/acme/api@{digest}"
        );
        assert!(immutable_refs("acme", &services, &[], "860c190").is_err());
    }
}
