//! `cargo xtask lint`: exactly the lints CI runs, in CI's order, so a contributor can run them
//! before pushing and `.ci/run` and the workflow run them through this one command.
//!
//! The lints are planned as commands (pure, a unit test states them), then each runs with
//! its output streamed; a failing lint does not stop the others, so one run shows every
//! result. The summary names each lint with `ok` or `FAILED`; any failure is exit 1. A
//! linter that is not installed is exit 3, said before anything runs.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::adapters::exec::{self, Command, EnvironmentError};
use crate::adapters::workspace::Workspace;
use crate::cli::Preview;
use crate::domain::config::CONFIG_FILE;
use crate::domain::outcome::Outcome;
use crate::domain::tools;
use crate::render::{self, Table};

/// shellcheck and check-jsonschema read a few small files; anything slower is stuck. The
/// cargo lints are bounded by the compiler, and lint-dockerfiles by its own timeouts.
const LINTER_TIMEOUT: Duration = Duration::from_secs(300);

/// The linters outside the Rust toolchain.
const TOOLS: [&str; 4] = [
    tools::SHELLCHECK,
    tools::CHECK_JSONSCHEMA,
    tools::ZIZMOR,
    tools::HADOLINT,
];

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Runs, in order, what .ci/run and the workflow run (`--dry-run` prints the commands):
  cargo fmt --all --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
  shellcheck xtask/engine/engine.sh .ci/run
  check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
  zizmor --offline --no-progress .github/workflows
  cargo xtask lint-dockerfiles
Every lint runs even after one fails; any failure is exit 1. shellcheck, check-jsonschema,
zizmor or hadolint missing is exit 3, before anything runs (`cargo xtask engine up` installs them).")]
pub struct Args {
    #[command(flatten)]
    pub preview: Preview,
}

/// One lint: what the summary calls it and the command that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    pub name: &'static str,
    pub command: Command,
}

#[derive(Debug, Serialize)]
struct LintRun {
    name: &'static str,
    result: &'static str,
}

/// The lints CI runs, in its order. `cargo` is the cargo to run; `config` is the toolkit's
/// config, passed on to `lint-dockerfiles` when it is not the default one.
pub fn plan(cargo: &str, root: &Path, config: &Path) -> Vec<Lint> {
    let cargo = || Command::new(cargo).dir(root);
    let linter = |program: &str| Command::new(program).dir(root).timeout(LINTER_TIMEOUT);
    let mut dockerfiles = cargo().arg("xtask");
    if config != Path::new(CONFIG_FILE) {
        dockerfiles = dockerfiles
            .arg("--config")
            .arg(config.display().to_string());
    }
    vec![
        Lint {
            name: "fmt",
            command: cargo().args(["fmt", "--all", "--check"]),
        },
        Lint {
            name: "clippy",
            command: cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]),
        },
        Lint {
            name: "shellcheck",
            command: linter("shellcheck").args(["xtask/engine/engine.sh", ".ci/run"]),
        },
        Lint {
            name: "workflow schema",
            command: linter("check-jsonschema").args([
                "--builtin-schema",
                "vendor.github-workflows",
                ".github/workflows/ci.yml",
            ]),
        },
        // The workflow's security audit (template injection, cache poisoning, credentials
        // persisted by checkout, ...), without the audits that need the network.
        Lint {
            name: "workflow audit",
            command: linter("zizmor").args(["--offline", "--no-progress", ".github/workflows"]),
        },
        Lint {
            name: "dockerfiles",
            command: dockerfiles.arg("lint-dockerfiles"),
        },
    ]
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    // The cargo that runs this xtask (`cargo xtask` sets CARGO), as adapters/cargo.rs asks.
    let cargo = ws.env.get("CARGO").unwrap_or("cargo");
    let lints = plan(cargo, &ws.root, &ws.config.path);
    let json = args.preview.json();
    if args.preview.dry_run {
        render::print_commands(lints.iter().map(|l| &l.command), json);
        return Ok(Outcome::Clean);
    }
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|tool| exec::find(tool).is_none())
        .map(|tool| format!("{tool} (`{}`)", tools::install_hint(tool)))
        .collect();
    if !missing.is_empty() {
        return Err(EnvironmentError::new(format!(
            "not on PATH: {}; `cargo xtask engine up` installs them all",
            missing.join(", ")
        )));
    }

    let github = ws.env.github_actions() && !json;
    let mut runs = Vec::new();
    for lint in &lints {
        let group = render::group(github, lint.name);
        eprintln!("\n==> {}: {}", lint.name, lint.command);
        let passed = exec::stream(&lint.command, |line| eprintln!("{line}"))
            .with_context(|| format!("running the {} lint", lint.name))?;
        drop(group);
        runs.push(LintRun {
            name: lint.name,
            result: if passed { "ok" } else { "failed" },
        });
    }

    eprintln!();
    if json {
        render::print_json(&serde_json::json!({ "lints": runs }));
    } else {
        print!("{}", summary(&runs));
    }
    let failed: Vec<&str> = runs
        .iter()
        .filter(|r| r.result != "ok")
        .map(|r| r.name)
        .collect();
    Ok(Outcome::failed_if(!failed.is_empty(), || {
        format!(
            "lints failed: {}: fix what their output above says",
            failed.join(", ")
        )
    }))
}

fn summary(runs: &[LintRun]) -> String {
    let mut table = Table::new(["lint", "result"]);
    for r in runs {
        table.row([r.name, if r.result == "ok" { "ok" } else { "FAILED" }]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(config: &str) -> Vec<(&'static str, String)> {
        plan("cargo", Path::new("/repo"), Path::new(config))
            .into_iter()
            .map(|l| (l.name, l.command.to_string()))
            .collect()
    }

    #[test]
    fn the_plan_is_exactly_the_lints_ci_ran_in_its_order() {
        assert_eq!(
            planned(CONFIG_FILE),
            [
                ("fmt", "cargo fmt --all --check"),
                (
                    "clippy",
                    "cargo clippy --workspace --all-targets --locked -- -D warnings"
                ),
                ("shellcheck", "shellcheck xtask/engine/engine.sh .ci/run"),
                (
                    "workflow schema",
                    "check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml"
                ),
                (
                    "workflow audit",
                    "zizmor --offline --no-progress .github/workflows"
                ),
                ("dockerfiles", "cargo xtask lint-dockerfiles"),
            ]
            .map(|(n, c)| (n, c.to_owned()))
        );
    }

    #[test]
    fn every_lint_runs_at_the_root_and_the_linters_are_bounded() {
        let lints = plan("/opt/cargo", Path::new("/repo"), Path::new(CONFIG_FILE));
        for lint in &lints {
            assert_eq!(lint.command.dir.as_deref(), Some(Path::new("/repo")));
        }
        let cargo: Vec<_> = lints
            .iter()
            .filter(|l| l.command.program == "/opt/cargo")
            .map(|l| l.name)
            .collect();
        assert_eq!(cargo, ["fmt", "clippy", "dockerfiles"]);
        for lint in lints.iter().filter(|l| l.command.program != "/opt/cargo") {
            assert_eq!(lint.command.timeout, Some(LINTER_TIMEOUT), "{}", lint.name);
        }
    }

    #[test]
    fn another_config_is_passed_on_to_the_dockerfile_lint() {
        let lints = planned("other/images.toml");
        assert_eq!(
            lints.last().unwrap().1,
            "cargo xtask --config other/images.toml lint-dockerfiles"
        );
    }

    #[test]
    fn the_summary_marks_failures() {
        let runs = [
            LintRun {
                name: "fmt",
                result: "ok",
            },
            LintRun {
                name: "clippy",
                result: "failed",
            },
        ];
        assert_eq!(
            summary(&runs),
            "lint    result\nfmt     ok\nclippy  FAILED\n"
        );
    }
}
