//! The build plan: config + git context + builder capabilities in, plain data out.
//!
//! A [`BuildPlan`] holds, per service, the image name, the full tag refs, the labels and the
//! exact `docker buildx build` argv. Nothing here runs a process or reads the clock:
//! `--dry-run` prints a plan, `build` executes one, and tests check them as data.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Serialize;
use time::OffsetDateTime;

use crate::builder::Builder;
use crate::config::{Config, Service};
use crate::env::Env;
use crate::git::GitContext;
use crate::labels::oci_labels;
use crate::tag::{validate_repository, ImageRef};
use crate::tag_rules::Evaluation;

/// Where the toolkit keeps its files (reports, cache, image ids), relative to the root.
pub const TARGET_DIR: &str = "target/xtask";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Into the local image store (`--load`).
    Load,
}

/// How build cache is kept between runs, from best to most limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// GitHub Actions' cache service.
    Gha,
    /// A directory under the target dir.
    Local,
    /// The engine's own layer store, with cache metadata inlined into the image.
    Inline,
}

pub struct PlanInput<'a> {
    pub config: &'a Config,
    pub ctx: &'a GitContext,
    pub builder: &'a Builder,
    /// `--builder` as given by the user; passed through so every command uses it.
    pub builder_flag: Option<&'a str>,
    pub env: &'a Env,
    pub namespace: String,
    pub output: Output,
    pub no_cache: bool,
    pub now: OffsetDateTime,
}

#[derive(Debug, Serialize)]
pub struct BuildPlan {
    pub services: Vec<ServicePlan>,
    pub cache: CacheBackend,
    /// Why the plan is the way it is (e.g. a capability the builder lacks), for people.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub image: String,
    pub tags: Vec<ImageRef>,
    pub labels: BTreeMap<String, String>,
    pub argv: Vec<String>,
    #[serde(skip)]
    pub size_budget_mb: u64,
    /// Written by buildx: the built image's id.
    #[serde(skip)]
    pub iidfile: PathBuf,
}

/// `--registry` > `XTASK_REGISTRY` > `[registry] namespace` > `ghcr.io/<owner>` in GitHub
/// Actions > the project name (local images only).
pub fn resolve_namespace(flag: Option<&str>, env: &Env, config: &Config) -> Result<String> {
    let owner = env
        .get("GITHUB_REPOSITORY")
        .and_then(|r| r.split('/').next())
        .map(|o| format!("ghcr.io/{}", o.to_lowercase()));
    let ns = flag
        .or(env.get("XTASK_REGISTRY"))
        .map(|s| s.trim_end_matches('/').to_owned())
        .or_else(|| config.registry.namespace.clone())
        .or(owner.filter(|_| env.github_actions()))
        .unwrap_or_else(|| config.project.name.clone());
    validate_repository(&ns)
        .map_err(|e| crate::process::UsageError::new(format!("registry namespace: {e:#}")))?;
    Ok(ns)
}

pub fn cache_backend(builder: &Builder, env: &Env) -> (CacheBackend, Option<String>) {
    let caps = builder.capabilities();
    match (caps.cache_export, env.github_actions()) {
        (true, true) => (CacheBackend::Gha, None),
        (true, false) => (CacheBackend::Local, None),
        (false, _) => (
            CacheBackend::Inline,
            Some(format!(
                "builder `{}` uses the `{}` driver, which cannot export build cache: reusing the engine's \
                 layer cache with inline cache metadata. For a cache that can be shared and survives \
                 `docker builder prune`, use a docker-container builder (`docker buildx create --use \
                 --driver docker-container`) or turn on the containerd image store.",
                builder.name, builder.driver
            )),
        ),
    }
}

pub fn plan(input: &PlanInput, services: &[&Service]) -> Result<BuildPlan> {
    let config = input.config;
    let flavor = config.flavor();
    let version = Evaluation {
        ctx: input.ctx,
        flavor: &flavor,
        now: input.now,
    }
    .version(&config.tags.rules)?;
    let tags = version.tags(&flavor);
    if tags.is_empty() {
        bail!(
            "the tag rules in {} give no tag for {}; add one that always applies, such as `type=sha`",
            config.path.display(),
            input.ctx.describe()
        );
    }
    let (cache, cache_note) = cache_backend(input.builder, input.env);
    let mut notes: Vec<String> = cache_note.into_iter().collect();
    if input.ctx.dirty {
        notes.push(format!(
            "the working tree has uncommitted changes: the images contain them, but their labels name commit {}",
            &input.ctx.sha[..7.min(input.ctx.sha.len())]
        ));
    }

    let services = services
        .iter()
        .map(|service| {
            let image = format!("{}/{}", input.namespace, service.image_name());
            let refs: Vec<ImageRef> = tags
                .iter()
                .map(|t| ImageRef {
                    repository: image.clone(),
                    tag: t.clone(),
                })
                .collect();
            let labels = oci_labels(&config.project, service, input.ctx, &version);
            let iidfile = PathBuf::from(format!("{TARGET_DIR}/build/{}.iid", service.name));
            let argv = build_argv(input, service, &refs, &labels, cache, &iidfile);
            ServicePlan {
                name: service.name.clone(),
                image,
                tags: refs,
                labels,
                argv,
                size_budget_mb: service.size_budget_mb,
                iidfile,
            }
        })
        .collect();
    Ok(BuildPlan {
        services,
        cache,
        notes,
    })
}

fn build_argv(
    input: &PlanInput,
    service: &Service,
    refs: &[ImageRef],
    labels: &BTreeMap<String, String>,
    cache: CacheBackend,
    iidfile: &std::path::Path,
) -> Vec<String> {
    let mut argv: Vec<String> = ["docker", "buildx", "build"].map(String::from).into();
    let mut flag = |name: &str, value: String| {
        argv.push(name.to_owned());
        argv.push(value);
    };
    if let Some(b) = input.builder_flag {
        flag("--builder", b.to_owned());
    }
    flag("--file", service.dockerfile.display().to_string());
    flag("--progress", "plain".into());
    for r in refs {
        flag("--tag", r.to_string());
    }
    for (k, v) in labels {
        flag("--label", format!("{k}={v}"));
    }
    let mut build_args = BTreeMap::from([("REVISION".to_owned(), input.ctx.sha.clone())]);
    build_args.extend(service.build_args.clone());
    for (k, v) in build_args {
        flag("--build-arg", format!("{k}={v}"));
    }
    let scope = &service.name;
    match cache {
        CacheBackend::Gha => {
            flag("--cache-from", format!("type=gha,scope={scope}"));
            flag("--cache-to", format!("type=gha,mode=max,scope={scope}"));
        }
        CacheBackend::Local => {
            let dir = format!("{TARGET_DIR}/cache/{scope}");
            flag("--cache-from", format!("type=local,src={dir}"));
            flag("--cache-to", format!("type=local,dest={dir},mode=max"));
        }
        CacheBackend::Inline => flag("--cache-to", "type=inline".into()),
    }
    flag("--iidfile", iidfile.display().to_string());
    if input.no_cache {
        argv.push("--no-cache".into());
    }
    argv.push(match input.output {
        Output::Load => "--load".into(),
    });
    argv.push(service.context.display().to_string());
    argv
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::builder::tests::{DOCKER_CONTAINER, DOCKER_DRIVER};
    use std::path::Path;
    use time::macros::datetime;

    pub fn config() -> Config {
        Config::parse(
            r#"
            [project]
            name = "shipyard"
            licenses = "MIT"
            [services.api]
            dockerfile = "xtask/docker/api.Dockerfile"
            size_budget_mb = 100
            [services.web]
            dockerfile = "xtask/docker/web.Dockerfile"
            size_budget_mb = 100
            build_args = { FEATURES = "tls" }
            "#,
            Path::new("xtask/images.toml"),
        )
        .unwrap()
    }

    pub fn ctx() -> GitContext {
        crate::git::fixture("push", "refs/heads/main")
    }

    fn plan_with(inspect: &str, env: &[(&str, &str)]) -> BuildPlan {
        let config = config();
        let builder = Builder::parse_inspect(inspect).unwrap();
        let env: Env = env.iter().copied().collect();
        let ctx = ctx();
        let input = PlanInput {
            config: &config,
            ctx: &ctx,
            builder: &builder,
            builder_flag: None,
            env: &env,
            namespace: resolve_namespace(None, &env, &config).unwrap(),
            output: Output::Load,
            no_cache: false,
            now: datetime!(2026-11-23 12:00:00 UTC),
        };
        plan(&input, &config.select(&[]).unwrap()).unwrap()
    }

    fn argv(plan: &BuildPlan, service: &str) -> String {
        plan.services
            .iter()
            .find(|s| s.name == service)
            .unwrap()
            .argv
            .join(" ")
    }

    #[test]
    fn docker_driver_plan_is_exact() {
        let plan = plan_with(DOCKER_DRIVER, &[]);
        assert_eq!(plan.cache, CacheBackend::Inline);
        let expected = [
            "docker buildx build --file xtask/docker/api.Dockerfile --progress plain",
            "--tag shipyard/api:main --tag shipyard/api:main-20261120-090507 --tag shipyard/api:latest --tag shipyard/api:sha-860c190",
            "--label org.opencontainers.image.created=2026-11-20T09:05:07Z --label org.opencontainers.image.licenses=MIT",
            "--label org.opencontainers.image.revision=860c1904a1ce19322e91ac35af1ab07466440c37",
            "--label org.opencontainers.image.source=https://github.com/acme/shop --label org.opencontainers.image.title=api",
            "--label org.opencontainers.image.url=https://github.com/acme/shop --label org.opencontainers.image.version=main",
            "--build-arg REVISION=860c1904a1ce19322e91ac35af1ab07466440c37",
            "--cache-to type=inline --iidfile target/xtask/build/api.iid --load .",
        ]
        .join(" ");
        assert_eq!(argv(&plan, "api"), expected);
    }

    #[test]
    fn docker_driver_never_gets_a_cache_export_it_would_reject() {
        for env in [&[][..], &[("GITHUB_ACTIONS", "true")][..]] {
            let plan = plan_with(DOCKER_DRIVER, env);
            for s in &plan.services {
                let a = s.argv.join(" ");
                assert!(
                    !a.contains("type=local")
                        && !a.contains("type=gha")
                        && !a.contains("type=registry"),
                    "{a}"
                );
                assert!(
                    !a.contains("--sbom")
                        && !a.contains("--provenance")
                        && !a.contains("--platform"),
                    "{a}"
                );
            }
            assert!(
                plan.notes[0].contains("cannot export build cache"),
                "{:?}",
                plan.notes
            );
        }
    }

    #[test]
    fn container_driver_caches_locally_off_ci() {
        let plan = plan_with(DOCKER_CONTAINER, &[]);
        assert_eq!(plan.cache, CacheBackend::Local);
        let a = argv(&plan, "api");
        assert!(
            a.contains("--cache-from type=local,src=target/xtask/cache/api"),
            "{a}"
        );
        assert!(
            a.contains("--cache-to type=local,dest=target/xtask/cache/api,mode=max"),
            "{a}"
        );
        assert!(plan.notes.is_empty());
    }

    #[test]
    fn container_driver_uses_gha_cache_in_github_actions() {
        let plan = plan_with(
            DOCKER_CONTAINER,
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_REPOSITORY", "Acme/Shop"),
            ],
        );
        assert_eq!(plan.cache, CacheBackend::Gha);
        let a = argv(&plan, "web");
        assert!(
            a.contains("--cache-from type=gha,scope=web --cache-to type=gha,mode=max,scope=web"),
            "{a}"
        );
        assert!(a.contains("--tag ghcr.io/acme/web:main"), "{a}");
    }

    #[test]
    fn service_build_args_follow_the_revision() {
        let plan = plan_with(DOCKER_DRIVER, &[]);
        assert!(argv(&plan, "web").contains("--build-arg FEATURES=tls --build-arg REVISION=860c"));
    }

    #[test]
    fn namespace_precedence() {
        let config = config();
        let ns = |env: &[(&str, &str)], flag: Option<&str>| {
            resolve_namespace(flag, &env.iter().copied().collect(), &config).unwrap()
        };
        assert_eq!(ns(&[], None), "shipyard");
        assert_eq!(
            ns(
                &[
                    ("GITHUB_ACTIONS", "true"),
                    ("GITHUB_REPOSITORY", "Acme/shop")
                ],
                None
            ),
            "ghcr.io/acme"
        );
        assert_eq!(
            ns(&[("XTASK_REGISTRY", "127.0.0.1:5000/team/")], None),
            "127.0.0.1:5000/team"
        );
        assert_eq!(
            ns(&[("XTASK_REGISTRY", "x.io/a")], Some("127.0.0.1:5000/acme")),
            "127.0.0.1:5000/acme"
        );
        assert!(resolve_namespace(Some("Bad Name"), &Env::default(), &config).is_err());
    }

    #[test]
    fn dirty_tree_is_noted() {
        let config = config();
        let builder = Builder::parse_inspect(DOCKER_CONTAINER).unwrap();
        let mut ctx = ctx();
        ctx.dirty = true;
        let env = Env::default();
        let input = PlanInput {
            config: &config,
            ctx: &ctx,
            builder: &builder,
            builder_flag: Some("ci"),
            env: &env,
            namespace: "acme".into(),
            output: Output::Load,
            no_cache: true,
            now: OffsetDateTime::UNIX_EPOCH,
        };
        let plan = plan(&input, &config.select(&["api".into()]).unwrap()).unwrap();
        assert!(plan.notes.iter().any(|n| n.contains("uncommitted")));
        let a = plan.services[0].argv.join(" ");
        assert!(a.starts_with("docker buildx build --builder ci "), "{a}");
        assert!(a.ends_with("--no-cache --load ."), "{a}");
    }
}
