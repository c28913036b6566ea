//! `cargo xtask verify`: hold built images to the project's runtime policy.
//!
//! Decide first: the images to verify and the policy for each (from the service config, or
//! from flags for `--image`) are resolved before anything runs, so a missing build is one
//! clear error up front. Then each image's facts are gathered (its filesystem, a hardened
//! health run) and [`checks::evaluate`] turns them into a table of checks. With
//! `--signature`, each image's registry tag is also resolved to its digest and checked with
//! `cosign verify` (the `signature` check).

use std::time::Duration;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::adapters::container;
use crate::adapters::exec::{usage, UsageError};
use crate::adapters::image;
use crate::adapters::registry::{self, Retry, Session};
use crate::adapters::workspace::Workspace;
use crate::commands::sign;
use crate::domain::checks::{self, Check, Facts, Policy, Status};
use crate::domain::image::ImageInfo;
use crate::domain::plan;
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
    #[arg(long, value_name = "MB", requires = "images")]
    pub size_budget_mb: Option<u64>,
    /// For --image: do not require a HEALTHCHECK.
    #[arg(long, requires = "images")]
    pub no_healthcheck: bool,
    /// How long a container may take to become healthy.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Print JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also check the cosign signature of each image at its registry tag
    /// (`<namespace>/<image>:sha-<7>` for services, the reference itself for --image).
    #[arg(long)]
    pub signature: bool,
    /// Public key for --signature (default: COSIGN_PUBLIC_KEY, else cosign.pub).
    #[arg(long, value_name = "PATH", requires = "signature")]
    pub key: Option<std::path::PathBuf>,
    /// Registry and namespace the services were pushed to, for --signature (env: XTASK_REGISTRY).
    #[arg(long, value_name = "REGISTRY/NAMESPACE", requires = "signature")]
    pub registry: Option<String>,
    /// For --signature: the signatures were made without the transparency log.
    #[arg(long, requires = "signature")]
    pub offline: bool,
}

/// One image to verify and what it is held to.
struct Target {
    name: String,
    image: ImageInfo,
    policy: Policy,
    /// Where `--signature` looks for the signature: a registry tag.
    signed_ref: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub name: String,
    pub image_id: String,
    pub passed: bool,
    pub checks: Vec<Check>,
}

fn targets(ws: &Workspace, args: &Args) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    if !args.services.is_empty() || args.images.is_empty() {
        let services = ws.config.select(&args.services).map_err(usage)?;
        let ctx = ws.git_context()?;
        let signed_refs: Vec<Option<String>> = if args.signature {
            let ns = plan::resolve_namespace(args.registry.as_deref(), &ws.env, &ws.config)?;
            registry::require_host(&ns)?;
            sign::immutable_refs(ws, &ns, &services)?
                .into_iter()
                .map(|(_, repository, tag)| Some(format!("{repository}:{tag}")))
                .collect()
        } else {
            vec![None; services.len()]
        };
        for (service, signed_ref) in services.into_iter().zip(signed_refs) {
            let ignore = service.ignore_file();
            targets.push(Target {
                name: service.name.clone(),
                image: image::built(&ws.root, service)?,
                policy: Policy {
                    healthcheck: service.healthcheck,
                    size_budget_mb: Some(service.size_budget_mb),
                    revision: Some(ctx.sha.clone()),
                    source_known: ctx.source_url.is_some(),
                    ignore_file: Some((
                        ignore.display().to_string(),
                        std::fs::read_to_string(ws.root.join(&ignore)).ok(),
                    )),
                },
                signed_ref,
            });
        }
    }
    for reference in &args.images {
        let Some(image) = image::inspect(reference)? else {
            bail!("no image `{reference}` in the local engine: build or pull it first");
        };
        targets.push(Target {
            name: reference.clone(),
            image,
            policy: Policy {
                healthcheck: !args.no_healthcheck,
                size_budget_mb: args.size_budget_mb,
                revision: args.revision.clone(),
                source_known: false,
                ignore_file: None,
            },
            signed_ref: (args.signature && registry::host(reference).is_some())
                .then(|| reference.clone()),
        });
    }
    Ok(targets)
}

pub fn run(ws: &Workspace, args: &Args) -> Result<()> {
    let targets = targets(ws, args)?;
    let signatures = if args.signature {
        Some(signature_checker(ws, args, &targets)?)
    } else {
        None
    };
    let run = container::run_id();
    container::clean_up_on_interrupt(&run)?;
    let timeout = Duration::from_secs(args.timeout);
    let mut reports = Vec::new();
    for t in &targets {
        eprintln!("verifying {} ({})", t.name, t.image.id);
        let secret_files = container::secret_files(&t.image.id, &run)?;
        let health = if t.policy.healthcheck && t.image.has_healthcheck() {
            eprintln!("  starting it hardened, waiting up to {timeout:?} for healthy");
            Some(container::health(&t.image.id, &run, timeout)?)
        } else {
            None
        };
        let mut checks = checks::evaluate(
            &t.policy,
            &Facts {
                image: &t.image,
                secret_files: &secret_files,
                health,
            },
        );
        if let Some(checker) = &signatures {
            checks.push(match &t.signed_ref {
                Some(reference) => {
                    eprintln!("  checking the signature of {reference}");
                    checks::signature(&checker.check(reference))
                }
                None => checks::skip_signature(&t.name),
            });
        }
        reports.push(Report {
            name: t.name.clone(),
            image_id: t.image.id.clone(),
            passed: checks.iter().all(|c| c.status != Status::Fail),
            checks,
        });
    }
    if args.json {
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
    if !failed.is_empty() {
        bail!("verify failed for {}", failed.join("; "));
    }
    Ok(())
}

/// What `--signature` needs: cosign, the public key, a registry session.
struct SignatureChecker {
    session: Session,
    key: String,
    tlog: bool,
}

impl SignatureChecker {
    fn check(&self, reference: &str) -> checks::Signature {
        sign::verify(&self.session, &self.key, self.tlog, reference)
    }
}

fn signature_checker(ws: &Workspace, args: &Args, targets: &[Target]) -> Result<SignatureChecker> {
    sign::require_cosign()?;
    let key = match (&args.key, ws.env.get("COSIGN_PUBLIC_KEY")) {
        (Some(k), _) => k.display().to_string(),
        (None, Some(k)) => k.to_owned(),
        (None, None) => "cosign.pub".to_owned(),
    };
    let key = if key.contains("://") {
        key
    } else if ws.root.join(&key).is_file() {
        ws.root.join(&key).display().to_string()
    } else {
        return Err(UsageError::new(format!(
            "no public key at {key}: pass --key PATH (the cosign.pub beside the signing key)"
        )));
    };
    let host = targets
        .iter()
        .find_map(|t| t.signed_ref.as_deref().and_then(registry::host))
        .unwrap_or_default()
        .to_owned();
    let credentials = match host.as_str() {
        "" => None,
        h => registry::credentials(&ws.env, h)?,
    };
    Ok(SignatureChecker {
        session: Session::open(&ws.env, &host, credentials, Retry::from_env(&ws.env))?,
        tlog: sign::tlog_upload(&host, args.offline, None),
        key,
    })
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
