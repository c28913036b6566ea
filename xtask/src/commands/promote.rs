//! `cargo xtask promote`: point more tags at an image already in the registry, for releases
//! and rollbacks, without pulling or rebuilding anything.
//!
//! `--from` is resolved to a digest once; every `--to` tag is then created from
//! `<image>@<digest>`, so they all name exactly what `--from` named at that moment even if
//! `--from` moves meanwhile. `latest` is moved last.

use anyhow::Result;

use crate::adapters::exec::{usage, UsageError};
use crate::adapters::registry;
use crate::adapters::workspace::Workspace;
use crate::cli::{Preview, Registry};
use crate::domain::identity;
use crate::domain::outcome::Outcome;
use crate::domain::publish::{self, Job, Plan, DIGEST};
use crate::domain::tag::Tag;
use crate::render;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to promote (default: all in xtask/images.toml).
    pub services: Vec<String>,
    /// The pushed tag to promote, e.g. `sha-860c190` or `v1.2.3`.
    #[arg(long, value_name = "TAG")]
    pub from: String,
    /// A tag to point at the same image; repeat or separate with commas.
    #[arg(long, value_name = "TAG", required = true, value_delimiter = ',')]
    pub to: Vec<String>,
    #[command(flatten)]
    pub preview: Preview,
    #[command(flatten)]
    pub registry: Registry,
}

/// The steps that point every `to` tag at what `repository:from` names now.
pub fn job(name: &str, repository: &str, from: &Tag, to: &[Tag]) -> Job {
    let mut to: Vec<Tag> = to.iter().filter(|t| *t != from).cloned().collect();
    to.dedup();
    publish::latest_last(&mut to);
    let mut steps = vec![publish::resolve(&format!("{repository}:{from}"))];
    for t in &to {
        steps.push(publish::retag(
            repository,
            t,
            &format!("{repository}@{DIGEST}"),
        ));
    }
    Job {
        name: name.to_owned(),
        repository: repository.to_owned(),
        steps,
        image: None,
    }
}

fn parse_tags(args: &Args) -> Result<(Tag, Vec<Tag>)> {
    let parse =
        |flag: &str, s: &str| Tag::parse(s).map_err(|e| UsageError::new(format!("{flag}: {e:#}")));
    let from = parse("--from", &args.from)?;
    let to = args
        .to
        .iter()
        .map(|t| parse("--to", t))
        .collect::<Result<Vec<_>>>()?;
    Ok((from, to))
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let (from, to) = parse_tags(args)?;
    let services = ws.config.select(&args.services).map_err(usage)?;
    let namespace = args.registry.namespace(ws)?;
    let host = identity::require_host(&namespace)?;
    let credentials = registry::credentials(&ws.env, &host)?;
    let plan = Plan {
        registry: host.clone(),
        login: credentials
            .as_ref()
            .map(|c| registry::login_argv(&c.username, &host)),
        services: services
            .iter()
            .map(|s| job(&s.name, &identity::repository(&namespace, s), &from, &to))
            .collect(),
        notes: Vec::new(),
    };
    if args.preview.dry_run {
        render::publish::print_plan(&plan, args.preview.json());
        return Ok(Outcome::Clean);
    }
    let retry = registry::Retry::configured(&ws.config.registry, &ws.env);
    let outcomes =
        crate::adapters::publish::run(&ws.env, &host, credentials, retry, &plan.services)?;
    render::publish::print_outcomes(&outcomes, args.preview.json());
    Ok(publish::verdict(&outcomes, "promote"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Tag {
        Tag::parse(s).unwrap()
    }

    #[test]
    fn from_is_resolved_once_and_latest_moves_last() {
        let job = job(
            "api",
            "ghcr.io/acme/api",
            &tag("sha-860c190"),
            &[tag("latest"), tag("v1.2.3"), tag("sha-860c190")],
        );
        let lines: Vec<String> = job.steps.iter().map(|s| s.argv.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "docker buildx imagetools inspect --format {{json .Manifest}} ghcr.io/acme/api:sha-860c190",
                "docker buildx imagetools create --tag ghcr.io/acme/api:v1.2.3 ghcr.io/acme/api@{digest}",
                "docker buildx imagetools create --tag ghcr.io/acme/api:latest ghcr.io/acme/api@{digest}",
            ]
        );
    }

    #[test]
    fn invalid_tags_are_usage_errors() {
        let args = |from: &str, to: &str| Args {
            services: vec![],
            from: from.into(),
            to: vec![to.into()],
            preview: Preview {
                dry_run: true,
                ..Preview::default()
            },
            registry: Registry::default(),
        };
        assert!(parse_tags(&args("sha-1", "v1")).is_ok());
        let e = parse_tags(&args("sha-1", "-bad")).unwrap_err();
        assert_eq!(crate::adapters::exec::exit_code(&e), 2);
        assert!(e.to_string().starts_with("--to: "), "{e}");
        let e = parse_tags(&args("a/b", "v1")).unwrap_err();
        assert!(e.to_string().starts_with("--from: "), "{e}");
    }
}
