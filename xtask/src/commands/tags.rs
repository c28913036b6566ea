//! `cargo xtask tags`: the tags the current git context gives, without building.

use anyhow::{Context, Result};

use crate::adapters::exec::usage;
use crate::adapters::workspace::Workspace;
use crate::cli::Json;
use crate::domain::outcome::Outcome;
use crate::domain::tag_rules::{Evaluation, Flavor, TagRule};
use crate::render::print_json;

#[derive(Debug, clap::Args)]
#[command(after_help = "Preview another ref with XTASK_GIT_REF, e.g. \
XTASK_GIT_REF=refs/tags/v1.2.3 cargo xtask tags (a release) or refs/pull/7/merge (a pull \
request). In GitHub Actions the ref comes from GITHUB_REF. See docs/tagging.md.")]
pub struct Args {
    /// A tag rule in docker/metadata-action syntax, e.g. `type=ref,event=branch`; repeat for
    /// more. Replaces the rules in xtask/images.toml.
    #[arg(long = "rule", value_name = "RULE")]
    pub rules: Vec<String>,
    /// A flavor line, e.g. `latest=false` or `prefix=app-`; replaces the configured flavor.
    #[arg(long = "flavor", value_name = "FLAVOR")]
    pub flavors: Vec<String>,
    #[command(flatten)]
    pub output: Json,
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let rules: Vec<TagRule> = if args.rules.is_empty() {
        ws.config.tags.rules.clone()
    } else {
        args.rules
            .iter()
            .map(|r| r.parse().map_err(usage))
            .collect::<Result<_>>()?
    };
    let flavor = if args.flavors.is_empty() {
        ws.config.flavor()
    } else {
        Flavor::parse(&args.flavors)
            .context("--flavor")
            .map_err(usage)?
    };
    let ctx = ws.git_context()?;
    let version = Evaluation {
        ctx: &ctx,
        flavor: &flavor,
        now: ws.now,
    }
    .version(&rules)?;
    let tags = version.tags(&flavor);
    if args.output.json {
        print_json(&serde_json::json!({ "tags": tags }));
    } else {
        eprintln!("tags for {}:", ctx.describe());
        for t in &tags {
            println!("{t}");
        }
    }
    Ok(Outcome::Clean)
}
