//! cosign as a tool on this machine: whether it is installed, and `cosign verify` of a
//! registry tag run in a registry session (the tag resolved to its digest first, so what is
//! verified is the digest, never a tag that may move).

use anyhow::Result;

use crate::adapters::exec::{self, shell_words, EnvironmentError};
use crate::adapters::registry::{self, Session};
use crate::domain::checks::Signature;
use crate::domain::identity;
use crate::domain::publish;
use crate::domain::signing;

/// cosign on PATH, or an environment error saying how to get it.
pub fn require_cosign() -> Result<()> {
    exec::find("cosign").map(|_| ()).ok_or_else(|| {
        EnvironmentError::new(
            "cosign is not installed: `cargo xtask engine up` installs it (Debian trixie's cosign \
             package), or see https://docs.sigstore.dev/cosign/system_config/installation/",
        )
    })
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
        .and_then(|a| registry::manifest_digest(&a.printed))
    {
        Ok(d) => d,
        Err(e) => {
            return Signature::Unresolved {
                reference: reference.to_owned(),
                why: session.redactor.redact(&format!("{e:#}")),
            }
        }
    };
    let argv = signing::verify_argv(key, tlog, &host, &format!("{repository}@{digest}"));
    eprintln!("  $ {}", shell_words(&argv));
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
