//! `cargo xtask engine up|down|status`: the local engines, registry and base images
//! (docs/troubleshooting.md). An engine that already runs is only checked, never replaced.
//!
//! Two engines: `legacy` (Debian 12's Docker 20.10, the default for now) and `modern`
//! (Debian trixie's Docker 26.1 with the containerd image store, next to whatever runs,
//! behind the docker context `xtask-modern`). This file only turns the flags into
//! `engine.sh` arguments; the script does the work.

use anyhow::{anyhow, Result};

use crate::adapters::engine;
use crate::cli::{EngineAction, EngineKind};
use crate::domain::error::usage;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
An engine that already runs (Docker Desktop, docker-ce, another dockerd) and a registry that \
already answers are used as they are; `down` stops only what `up` started. Installing \
packages and starting dockerd need root on Debian or Ubuntu.

`up --engine modern` starts Docker 26 with the containerd image store next to whatever \
runs (its socket is target/engine/modern/docker.sock) and creates the docker context \
`xtask-modern` without making it the current one: use it with `docker --context \
xtask-modern` or `DOCKER_CONTEXT=xtask-modern cargo xtask ...`. `down` stops both engines \
unless `--engine` names one; `status` reports both.")]
pub struct Args {
    #[arg(value_enum)]
    pub action: EngineAction,
    /// With `up`: say what would be installed or started, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Which engine `up` provisions (or `down` stops): legacy (Docker 20.10, the default for
    /// now) or modern (Docker 26.1 with the containerd image store, next to the other).
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub engine: Option<EngineKind>,
    /// With `up --engine modern`: also provide these platforms besides this machine's own
    /// (qemu emulation and an arm64 Debian base, about 3 minutes the first time), e.g.
    /// `linux/arm64`.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub platforms: Vec<String>,
}

/// The `engine.sh` arguments these flags mean, or why they make no sense together.
pub fn script_args(args: &Args) -> Result<Vec<String>> {
    let action = match (args.action, args.dry_run) {
        (EngineAction::Up, true) => "plan",
        (EngineAction::Up, false) => "up",
        (_, true) => return Err(usage(anyhow!("--dry-run goes with `engine up` only"))),
        (EngineAction::Down, false) => "down",
        (EngineAction::Status, false) => "status",
    };
    let mut out = vec![action.to_owned()];
    match (args.action, args.engine) {
        (EngineAction::Status, Some(_)) => {
            return Err(usage(anyhow!(
                "`engine status` reports both engines: drop --engine"
            )))
        }
        (_, Some(kind)) => out.extend(["--engine".to_owned(), kind.name().to_owned()]),
        (_, None) => {}
    }
    if !args.platforms.is_empty() {
        if args.action != EngineAction::Up || args.engine != Some(EngineKind::Modern) {
            return Err(usage(anyhow!(
                "--platforms goes with `engine up --engine modern` (the legacy engine builds one platform)"
            )));
        }
        out.extend(["--platforms".to_owned(), args.platforms.join(",")]);
    }
    Ok(out)
}

pub fn run(args: &Args) -> Result<()> {
    engine::run_with(&script_args(args)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(argv: &[&str], expect: Result<&str, &str>) {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let cli =
            Cli::try_parse_from(std::iter::once("engine").chain(argv.iter().copied())).unwrap();
        let got = script_args(&cli.args)
            .map(|a| a.join(" "))
            .map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map(String::as_str).map_err(String::as_str),
            expect
        );
    }

    #[test]
    fn plain_up_keeps_the_legacy_behaviour() {
        check(&["up"], Ok("up"));
        check(&["up", "--dry-run"], Ok("plan"));
    }

    #[test]
    fn the_modern_engine_is_asked_for_by_name() {
        check(&["up", "--engine", "modern"], Ok("up --engine modern"));
        check(
            &["up", "--engine", "modern", "--platforms", "linux/arm64"],
            Ok("up --engine modern --platforms linux/arm64"),
        );
        check(
            &[
                "up",
                "--dry-run",
                "--engine",
                "modern",
                "--platforms",
                "linux/amd64,linux/arm64",
            ],
            Ok("plan --engine modern --platforms linux/amd64,linux/arm64"),
        );
        check(&["up", "--engine", "legacy"], Ok("up --engine legacy"));
    }

    #[test]
    fn down_stops_both_unless_one_is_named_and_status_reports_both() {
        check(&["down"], Ok("down"));
        check(&["down", "--engine", "modern"], Ok("down --engine modern"));
        check(&["status"], Ok("status"));
        check(
            &["status", "--engine", "modern"],
            Err("`engine status` reports both engines: drop --engine"),
        );
    }

    #[test]
    fn platforms_need_the_modern_engine() {
        let refused = Err("--platforms goes with `engine up --engine modern` (the legacy engine builds one platform)");
        check(&["up", "--platforms", "linux/arm64"], refused);
        check(
            &["down", "--engine", "modern", "--platforms", "linux/arm64"],
            refused,
        );
        check(
            &["down", "--dry-run"],
            Err("--dry-run goes with `engine up` only"),
        );
    }
}
