//! The build plan: config + git context + builder capabilities in, plain data out.
//!
//! A [`BuildPlan`] holds, per service, the image name, the full tag refs, the labels and the
//! exact `docker buildx build` argv. Nothing here runs a process or reads the clock:
//! `--dry-run` prints a plan, `build` executes one, and tests check them as data.
//!
//! The plan adapts to the builder's [`Capabilities`] and never passes a flag the builder
//! would reject: the cache backend, the platforms and the attestations are chosen from what
//! it can do, and every capability it lacks is one line in `notes`. A build always loads
//! its image into the local store (`--load`) and never pushes: scan, verify and push take
//! every platform of it from there, so nothing reaches a registry without passing the gate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::builder::{Builder, Capabilities};
use crate::domain::config::{Config, Service};
use crate::domain::env::Env;
use crate::domain::error::UsageError;
use crate::domain::git::GitContext;
use crate::domain::identity;
use crate::domain::labels::{self, oci_labels};
use crate::domain::tag::{validate_repository, ImageRef};
use crate::domain::tag_rules::Evaluation;

/// Where the toolkit keeps its files (reports, cache, image ids), relative to the root.
pub const TARGET_DIR: &str = "target/xtask";

/// How build cache is kept between runs, from best to most limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// An `<image>:buildcache` tag in the images' registry: shared by every machine and CI
    /// runner that builds them.
    Registry,
    /// GitHub Actions' cache service.
    Gha,
    /// A directory under the target dir.
    Local,
    /// The engine's own layer cache, nothing exported. Not `--cache-to type=inline` either:
    /// BuildKit lists inline cache metadata in the image config in no fixed order, so every
    /// cached rebuild got a new image id, and no plan ever reads that metadata back.
    Engine,
}

pub struct PlanInput<'a> {
    pub config: &'a Config,
    pub ctx: &'a GitContext,
    pub builder: &'a Builder,
    /// `--builder` as given by the user; passed through so every command uses it.
    pub builder_flag: Option<&'a str>,
    pub env: &'a Env,
    pub namespace: String,
    pub no_cache: bool,
    pub now: OffsetDateTime,
    /// `--platform`: overrides the services' and `[build]` platforms; empty for none.
    pub platforms: &'a [String],
    /// The images are named for a registry the user chose (`--registry`, `XTASK_REGISTRY`,
    /// `[registry] namespace`), so build cache can be kept there.
    pub registry_configured: bool,
}

#[derive(Debug, Serialize)]
pub struct BuildPlan {
    pub services: Vec<ServicePlan>,
    pub cache: CacheBackend,
    pub builder: String,
    pub driver: String,
    pub capabilities: Capabilities,
    /// Why the plan is the way it is (e.g. a capability the builder lacks), for people.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub image: String,
    pub tags: Vec<ImageRef>,
    pub labels: BTreeMap<String, String>,
    /// Empty: the builder's own platform.
    pub platforms: Vec<String>,
    /// `--sbom=true --provenance=mode=max` are passed.
    pub attestations: bool,
    pub argv: Vec<String>,
    #[serde(skip)]
    pub size_budget_mb: u64,
    /// Written by buildx: the built image's id.
    #[serde(skip)]
    pub iidfile: PathBuf,
    /// Written by buildx: the build's metadata (the image's config digest, when one manifest).
    #[serde(skip)]
    pub metadata_file: PathBuf,
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
    validate_repository(&ns).map_err(|e| UsageError::new(format!("registry namespace: {e:#}")))?;
    Ok(ns)
}

/// Whether the user named a registry (rather than the local default or GitHub's default).
pub fn registry_configured(flag: Option<&str>, env: &Env, config: &Config) -> bool {
    flag.or(env.get("XTASK_REGISTRY"))
        .or(config.registry.namespace.as_deref())
        .is_some_and(|ns| identity::registry_host(ns).is_some())
}

/// Registry (a registry is configured) > GitHub Actions' cache > a local directory, when
/// the builder can export cache; the engine's own layer cache otherwise.
pub fn cache_backend(
    builder: &Builder,
    env: &Env,
    registry_configured: bool,
) -> (CacheBackend, Option<String>) {
    let caps = builder.capabilities();
    match (caps.cache_export, registry_configured, env.github_actions()) {
        (true, true, _) => (
            CacheBackend::Registry,
            Some(
                "build cache goes to the registry as <image>:buildcache (mode=max), so every \
                 machine and CI runner that builds these images shares it"
                    .into(),
            ),
        ),
        (true, false, true) => (CacheBackend::Gha, None),
        (true, false, false) => (CacheBackend::Local, None),
        (false, ..) => (
            CacheBackend::Engine,
            Some(format!(
                "builder `{}` ({} driver) cannot export build cache: using the engine's layer cache \
                 (a shareable cache: docs/scaling.md)",
                builder.name, builder.driver
            )),
        ),
    }
}

/// What the builder is, for messages: `builder `ci` (docker-container driver)`.
fn describe(builder: &Builder) -> String {
    let store = match (builder.driver.as_str(), builder.containerd_store) {
        ("docker", false) => " without the containerd image store",
        _ => "",
    };
    format!(
        "builder `{}` ({} driver{store})",
        builder.name, builder.driver
    )
}

/// The platforms a service is built for, or a usage error naming what the builder has.
/// Platforms the service cannot be built for (`unavailable_platforms`) are left out of a
/// request for several, each with a note saying why.
fn platforms_for(
    input: &PlanInput,
    service: &Service,
    caps: &Capabilities,
    note: &mut dyn FnMut(String),
) -> Result<Vec<String>> {
    let requested: Vec<String> = if !input.platforms.is_empty() {
        input.platforms.to_vec()
    } else if let Some(p) = &service.platforms {
        p.clone()
    } else {
        input.config.build.platforms.clone()
    };
    let (wanted, unavailable): (Vec<String>, Vec<String>) = requested
        .into_iter()
        .partition(|p| !service.unavailable_platforms.contains_key(p));
    if !unavailable.is_empty() {
        let why: Vec<String> = unavailable
            .iter()
            .map(|p| format!("{p}: {}", service.unavailable_platforms[p]))
            .collect();
        if wanted.is_empty() {
            return Err(UsageError::new(format!(
                "`{}` cannot be built for {} ({}): ask for another platform, or leave it out",
                service.name,
                unavailable.join(", "),
                why.join("; ")
            )));
        }
        note(format!(
            "`{}` is built for {} only, not {} ({}; [services.{0}] unavailable_platforms)",
            service.name,
            wanted.join(", "),
            unavailable.join(", "),
            why.join("; ")
        ));
    }
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|p| !caps.platforms.is_empty() && !caps.platforms.contains(p))
        .map(String::as_str)
        .collect();
    let builder = describe(input.builder);
    if !missing.is_empty() {
        return Err(UsageError::new(format!(
            "`{}` is to be built for {}, which {builder} cannot build: it has {}. Add a node \
             for it (`docker buildx create --append --name {} ...`), install emulation \
             (binfmt) on a node, or build fewer platforms",
            service.name,
            missing.join(", "),
            caps.platforms.join(", "),
            input.builder.name
        )));
    }
    // A build never pushes: scan, verify and push read each platform from the local store,
    // so an image of several platforms must be loadable into it.
    if wanted.len() > 1 && !caps.load_multi_platform {
        return Err(UsageError::new(format!(
            "`{}` is to be built for {} platforms ({}), but {builder} cannot load a \
             multi-platform image into the local image store, and a build never pushes (scan, \
             verify and push take every platform from that store). Use an engine with the \
             containerd image store (`cargo xtask engine up --engine modern`, then build with \
             DOCKER_CONTEXT=xtask-modern), or build one platform (--platform)",
            service.name,
            wanted.len(),
            wanted.join(", ")
        )));
    }
    Ok(wanted)
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
    let caps = input.builder.capabilities();
    let (cache, cache_note) = cache_backend(input.builder, input.env, input.registry_configured);
    let mut notes: Vec<String> = cache_note.into_iter().collect();
    let mut note = |n: String| {
        if !notes.contains(&n) {
            notes.push(n);
        }
    };
    if input.ctx.dirty {
        let short = identity::short_sha(&input.ctx.sha);
        note(format!(
            "the working tree has uncommitted changes: the images contain them, so their tags \
             name {} (sha-{0}), not commit {short}'s build, and push refuses them without \
             --allow-dirty",
            identity::revision(short, true)
        ));
    }

    let mut planned = Vec::new();
    for service in services {
        let image = identity::repository(&input.namespace, service);
        let refs: Vec<ImageRef> = tags
            .iter()
            .map(|t| ImageRef {
                repository: image.clone(),
                tag: t.clone(),
            })
            .collect();
        let platforms = platforms_for(input, service, &caps, &mut note)?;
        // Attestations live beside the image in an index: the containerd image store keeps
        // them; the classic store that --load fills does not.
        let attestations = caps.attestations && caps.load_multi_platform;
        if !caps.attestations {
            note(
                if input.builder.driver == "docker" && !input.builder.containerd_store {
                    format!(
                        "{} cannot attach SBOM or provenance attestations: skipped (docs/scaling.md)",
                        describe(input.builder)
                    )
                } else {
                    format!(
                    "{} runs a BuildKit older than v0.11 on some node, which cannot attach SBOM \
                     or provenance attestations: they are skipped. Upgrade BuildKit to attach them",
                    describe(input.builder)
                )
                },
            );
        } else if !caps.load_multi_platform {
            note(
                "SBOM and provenance attestations are skipped for images loaded into the local \
                 image store, which cannot keep them (the containerd image store can)"
                    .into(),
            );
        }
        let labels = oci_labels(&config.project, service, input.ctx, &version);
        let iidfile = identity::iid_file(&service.name);
        let metadata_file = identity::metadata_file(&service.name);
        let argv = build_argv(
            input,
            service,
            &refs,
            &labels,
            &Flags {
                cache,
                ignore_cache_errors: caps.cache_export_ignore_error,
                platforms: &platforms,
                attestations,
                annotations: caps.annotations,
                source_date_epoch: caps.source_date_epoch,
            },
            (&iidfile, &metadata_file),
        );
        planned.push(ServicePlan {
            name: service.name.clone(),
            image,
            tags: refs,
            labels,
            platforms,
            attestations,
            argv,
            size_budget_mb: service.size_budget_mb,
            iidfile,
            metadata_file,
        });
    }
    if !caps.source_date_epoch {
        note(format!(
            "{} runs a BuildKit older than v0.11, which ignores SOURCE_DATE_EPOCH: a cached \
             rebuild keeps its image id, but one without cache gets new `created` times",
            describe(input.builder)
        ));
    }

    Ok(BuildPlan {
        services: planned,
        cache,
        builder: input.builder.name.clone(),
        driver: input.builder.driver.clone(),
        capabilities: caps,
        notes,
    })
}

/// The capability-dependent choices for one service's build.
struct Flags<'a> {
    cache: CacheBackend,
    /// A remote cache that cannot be written warns; the image is still built.
    ignore_cache_errors: bool,
    platforms: &'a [String],
    attestations: bool,
    annotations: bool,
    source_date_epoch: bool,
}

fn build_argv(
    input: &PlanInput,
    service: &Service,
    refs: &[ImageRef],
    labels: &BTreeMap<String, String>,
    flags: &Flags,
    (iidfile, metadata_file): (&std::path::Path, &std::path::Path),
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
    if !flags.platforms.is_empty() {
        flag("--platform", flags.platforms.join(","));
    }
    for r in refs {
        flag("--tag", r.to_string());
    }
    for (k, v) in labels {
        flag("--label", format!("{k}={v}"));
    }
    if flags.annotations {
        // The same keys and values on the index and every manifest, as metadata-action
        // writes them: registries and `imagetools inspect` show them without the config.
        for a in labels::annotations(labels, Some("index,manifest")) {
            flag("--annotation", a);
        }
    }
    let mut build_args = BTreeMap::from([("REVISION".to_owned(), input.ctx.sha.clone())]);
    if flags.source_date_epoch {
        // The image's `created` and history times: the commit's, like the labels' `created`.
        build_args.insert(
            "SOURCE_DATE_EPOCH".to_owned(),
            input.ctx.commit_time.unix_timestamp().to_string(),
        );
    }
    build_args.extend(service.build_args.clone());
    for (k, v) in build_args {
        flag("--build-arg", format!("{k}={v}"));
    }
    let scope = &service.name;
    let image = refs
        .first()
        .map(|r| r.repository.as_str())
        .unwrap_or_default();
    let ignore_error = if flags.ignore_cache_errors {
        ",ignore-error=true"
    } else {
        ""
    };
    match flags.cache {
        CacheBackend::Registry => {
            flag(
                "--cache-from",
                format!("type=registry,ref={image}:buildcache"),
            );
            flag(
                "--cache-to",
                format!("type=registry,ref={image}:buildcache,mode=max{ignore_error}"),
            );
        }
        CacheBackend::Gha => {
            flag("--cache-from", format!("type=gha,scope={scope}"));
            flag(
                "--cache-to",
                format!("type=gha,mode=max,scope={scope}{ignore_error}"),
            );
        }
        CacheBackend::Local => {
            let dir = format!("{TARGET_DIR}/cache/{scope}");
            flag("--cache-from", format!("type=local,src={dir}"));
            flag("--cache-to", format!("type=local,dest={dir},mode=max"));
        }
        CacheBackend::Engine => {}
    }
    flag("--iidfile", iidfile.display().to_string());
    flag("--metadata-file", metadata_file.display().to_string());
    if flags.attestations {
        argv.push(match &input.config.build.sbom_generator {
            Some(image) => format!("--sbom=generator={image}"),
            None => "--sbom=true".into(),
        });
        argv.push("--provenance=mode=max".into());
    }
    if input.no_cache {
        argv.push("--no-cache".into());
    }
    argv.push("--load".into());
    argv.push(service.context.display().to_string());
    argv
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::domain::builder::tests::{recorded, DOCKER_CONTAINER, DOCKER_DRIVER};
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
        crate::domain::git::fixture("push", "refs/heads/main")
    }

    fn plan_with(inspect: &str, env: &[(&str, &str)]) -> BuildPlan {
        try_plan(inspect, env, &[]).unwrap()
    }

    /// A plan for the recorded builder `inspect`, with `env` and `--platform platforms`.
    pub fn try_plan(inspect: &str, env: &[(&str, &str)], platforms: &[&str]) -> Result<BuildPlan> {
        let config = config();
        let builder = recorded(inspect);
        let env: Env = env.iter().copied().collect();
        let ctx = ctx();
        let platforms: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
        let input = PlanInput {
            config: &config,
            ctx: &ctx,
            builder: &builder,
            builder_flag: Some(&builder.name),
            env: &env,
            namespace: resolve_namespace(None, &env, &config).unwrap(),
            no_cache: false,
            now: datetime!(2026-11-23 12:00:00 UTC),
            platforms: &platforms,
            registry_configured: registry_configured(None, &env, &config),
        };
        plan(&input, &config.select(&[]).unwrap())
    }

    fn argv(plan: &BuildPlan, service: &str) -> String {
        plan.services
            .iter()
            .find(|s| s.name == service)
            .unwrap()
            .argv
            .join(" ")
    }

    /// Where the builder writes OCI annotations, the index and every manifest carry the
    /// labels' keys and values; the classic store's docker driver gets none.
    #[test]
    fn annotations_repeat_the_oci_labels_on_the_index_and_manifests() {
        let annotations = |plan: &BuildPlan| -> Vec<String> {
            let argv = &plan.services[0].argv;
            argv.windows(2)
                .filter(|w| w[0] == "--annotation")
                .map(|w| w[1].clone())
                .collect()
        };
        assert!(annotations(&plan_with(DOCKER_DRIVER, &[])).is_empty());
        let plan = plan_with(crate::domain::builder::tests::DOCKER_CONTAINERD, &[]);
        let got = annotations(&plan);
        let labels = &plan.services[0].labels;
        for level in ["index", "manifest"] {
            for key in ["title", "revision", "version", "created", "licenses"] {
                let key = format!("org.opencontainers.image.{key}");
                let want = format!("{level}:{key}={}", labels[&key]);
                assert!(got.contains(&want), "{want} missing from {got:?}");
            }
        }
    }

    #[test]
    fn docker_driver_plan_is_exact() {
        let plan = plan_with(DOCKER_DRIVER, &[]);
        assert_eq!(plan.cache, CacheBackend::Engine);
        let expected = [
            "docker buildx build --builder default --file xtask/docker/api.Dockerfile --progress plain",
            "--tag shipyard/api:main --tag shipyard/api:main-20261120-090507 --tag shipyard/api:latest --tag shipyard/api:sha-860c190",
            "--label org.opencontainers.image.created=2026-11-20T09:05:07Z --label org.opencontainers.image.licenses=MIT",
            "--label org.opencontainers.image.revision=860c1904a1ce19322e91ac35af1ab07466440c37",
            "--label org.opencontainers.image.source=https://github.com/acme/shop --label org.opencontainers.image.title=api",
            "--label org.opencontainers.image.url=https://github.com/acme/shop --label org.opencontainers.image.version=main",
            "--build-arg REVISION=860c1904a1ce19322e91ac35af1ab07466440c37",
            "--iidfile target/xtask/build/api.iid --metadata-file target/xtask/build/api.metadata.json --load .",
        ]
        .join(" ");
        assert_eq!(argv(&plan, "api"), expected);
    }

    /// BuildKit writes inline cache metadata (`moby.buildkit.cache.v0`) into the image config
    /// in no fixed order, so an image carrying it gets a new id on every cached rebuild; and
    /// no plan reads it back (`--cache-from` names an exported cache only).
    #[test]
    fn no_plan_inlines_cache_metadata_so_a_cached_rebuild_keeps_its_image_id() {
        for (file, inspect) in crate::domain::builder::tests::ALL {
            for env in [&[][..], &[("GITHUB_ACTIONS", "true")][..]] {
                for platforms in [&[][..], &["linux/amd64"][..]] {
                    let Ok(plan) = try_plan(inspect, env, platforms) else {
                        continue;
                    };
                    for s in &plan.services {
                        let a = s.argv.join(" ");
                        assert!(!a.contains("type=inline"), "{file} {env:?}: {a}");
                    }
                }
            }
        }
    }

    #[test]
    fn source_date_epoch_is_the_commit_time_where_buildkit_reads_it() {
        // BuildKit v0.13: the image's `created` and history times become the commit's.
        let plan = plan_with(DOCKER_CONTAINER, &[]);
        for s in &plan.services {
            let a = s.argv.join(" ");
            assert!(
                a.contains("--build-arg SOURCE_DATE_EPOCH=1795165507 "),
                "{a}"
            );
        }
        // BuildKit v0.8 ignores it: not passed, and a note says what that costs.
        let plan = plan_with(DOCKER_DRIVER, &[]);
        assert!(!argv(&plan, "api").contains("SOURCE_DATE_EPOCH"));
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("SOURCE_DATE_EPOCH") && n.contains("v0.11")),
            "{:?}",
            plan.notes
        );
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
        assert_eq!(plan.notes.len(), 1, "{:?}", plan.notes);
        assert!(plan.notes[0].contains("attestations are skipped for images loaded"));
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
        let config = config();
        let builder = recorded(DOCKER_DRIVER);
        let (env, ctx) = (Env::default(), ctx());
        let input = PlanInput {
            config: &config,
            ctx: &ctx,
            builder: &builder,
            builder_flag: None,
            env: &env,
            namespace: "shipyard".into(),
            no_cache: false,
            now: OffsetDateTime::UNIX_EPOCH,
            platforms: &[],
            registry_configured: false,
        };
        let plan = plan(&input, &config.select(&[]).unwrap()).unwrap();
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
            no_cache: true,
            now: OffsetDateTime::UNIX_EPOCH,
            platforms: &[],
            registry_configured: false,
        };
        let plan = plan(&input, &config.select(&["api".into()]).unwrap()).unwrap();
        assert!(plan.notes.iter().any(|n| n.contains("uncommitted")));
        let tags: Vec<String> = plan.services[0]
            .tags
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            tags,
            [
                "acme/api:main",
                "acme/api:main-20261120-090507",
                "acme/api:latest",
                "acme/api:sha-860c190-dirty"
            ]
        );
        let a = plan.services[0].argv.join(" ");
        assert!(a.starts_with("docker buildx build --builder ci "), "{a}");
        assert!(a.ends_with("--no-cache --load ."), "{a}");
    }
}

#[cfg(test)]
mod capability_tests {
    use super::tests::{config, ctx, try_plan};
    use super::*;
    use crate::domain::builder::tests::{
        recorded, ALL, DOCKER_CONTAINER, DOCKER_CONTAINERD, DOCKER_DRIVER, KUBERNETES, REMOTE,
        TWO_NODES,
    };

    const REGISTRY: (&str, &str) = ("XTASK_REGISTRY", "127.0.0.1:5000/acme");
    const ACTIONS: [(&str, &str); 2] = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/shop"),
    ];
    const TWO: &[&str] = &["linux/amd64", "linux/arm64"];

    /// The argv without the tags, labels, annotations and build args every plan has.
    fn flags(plan: &BuildPlan) -> String {
        let argv = &plan.services[0].argv;
        let mut out = Vec::new();
        let mut i = 3;
        while i < argv.len() {
            if [
                "--tag",
                "--label",
                "--annotation",
                "--build-arg",
                "--file",
                "--progress",
                "--iidfile",
                "--metadata-file",
            ]
            .contains(&argv[i].as_str())
            {
                i += 2;
                continue;
            }
            out.push(argv[i].as_str());
            i += 1;
        }
        out.join(" ")
    }

    /// What each recorded builder makes of a request for linux/amd64 and linux/arm64: the
    /// flags it is passed, or the first line of the usage error.
    #[test]
    fn two_platforms_load_where_the_store_can_hold_them_and_are_refused_elsewhere() {
        let mut out = String::new();
        for (file, inspect) in ALL {
            let line = match try_plan(inspect, &[REGISTRY], TWO) {
                Ok(plan) => flags(&plan),
                Err(e) => {
                    assert_eq!(crate::domain::error::exit_code(&e), 2, "{file}: {e}");
                    let e = e.to_string();
                    let cut = e
                        .find(" (scan")
                        .or(e.find(". Add a node"))
                        .unwrap_or(e.len());
                    format!("refused: {}", &e[..cut])
                }
            };
            out.push_str(&format!("{file}: {line}\n"));
        }
        expect_test::expect![[r#"
            docker.txt: refused: `api` is to be built for linux/arm64, which builder `default` (docker driver without the containerd image store) cannot build: it has linux/amd64, linux/386
            docker-containerd.txt: --builder desktop-linux --platform linux/amd64,linux/arm64 --cache-from type=registry,ref=127.0.0.1:5000/acme/api:buildcache --cache-to type=registry,ref=127.0.0.1:5000/acme/api:buildcache,mode=max,ignore-error=true --sbom=true --provenance=mode=max --load .
            docker-modern.txt: refused: `api` is to be built for linux/arm64, which builder `xtask-modern` (docker driver) cannot build: it has linux/amd64, linux/amd64/v2, linux/amd64/v3
            docker-container.txt: refused: `api` is to be built for linux/arm64, which builder `ci` (docker-container driver) cannot build: it has linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/386
            kubernetes.txt: refused: `api` is to be built for linux/arm64, which builder `k8s` (kubernetes driver) cannot build: it has linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/386
            remote.txt: refused: `api` is to be built for 2 platforms (linux/amd64, linux/arm64), but builder `remote` (remote driver) cannot load a multi-platform image into the local image store, and a build never pushes
            two-nodes.txt: refused: `api` is to be built for 2 platforms (linux/amd64, linux/arm64), but builder `fleet` (remote driver) cannot load a multi-platform image into the local image store, and a build never pushes
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn the_refusal_says_to_use_the_modern_engine() {
        let e = try_plan(REMOTE, &[REGISTRY], TWO).unwrap_err().to_string();
        assert!(
            e.contains("cargo xtask engine up --engine modern")
                && e.contains("DOCKER_CONTEXT=xtask-modern"),
            "{e}"
        );
    }

    /// A service that cannot be built for a platform is built for the others, with a note;
    /// asked for that platform alone, it is refused.
    #[test]
    fn unavailable_platforms_are_left_out_with_their_reason() {
        let mut config = config();
        config
            .services
            .get_mut("api")
            .unwrap()
            .unavailable_platforms = [(
            "linux/arm64".to_owned(),
            "no aarch64 rust-std here".to_owned(),
        )]
        .into();
        let builder = recorded(DOCKER_CONTAINERD);
        let env = Env::default();
        let ctx = ctx();
        let check = |platforms: &[&str]| -> String {
            let platforms: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
            let input = PlanInput {
                config: &config,
                ctx: &ctx,
                builder: &builder,
                builder_flag: None,
                env: &env,
                namespace: "acme".into(),
                no_cache: false,
                now: OffsetDateTime::UNIX_EPOCH,
                platforms: &platforms,
                registry_configured: false,
            };
            match plan(&input, &config.select(&[]).unwrap()) {
                Ok(p) => {
                    let mut out: Vec<String> = p
                        .services
                        .iter()
                        .map(|s| format!("{}: {}", s.name, s.platforms.join(",")))
                        .collect();
                    out.extend(p.notes.iter().filter(|n| n.contains("only")).cloned());
                    out.join("\n")
                }
                Err(e) => format!("error: {e}"),
            }
        };
        expect_test::expect![[r#"
            api: linux/amd64
            web: linux/amd64,linux/arm64
            `api` is built for linux/amd64 only, not linux/arm64 (linux/arm64: no aarch64 rust-std here; [services.api] unavailable_platforms)"#]]
        .assert_eq(&check(TWO));
        expect_test::expect![[r#"
            error: `api` cannot be built for linux/arm64 (linux/arm64: no aarch64 rust-std here): ask for another platform, or leave it out"#]]
        .assert_eq(&check(&["linux/arm64"]));
        expect_test::expect![[r#"
            api: 
            web: "#]]
        .assert_eq(&check(&[]));
    }

    #[test]
    fn docker_driver_single_platform_is_exact_and_explains_every_gap() {
        let plan = try_plan(DOCKER_DRIVER, &[REGISTRY], &["linux/amd64"]).unwrap();
        assert_eq!(
            flags(&plan),
            "--builder default --platform linux/amd64 --load ."
        );
        assert!(
            plan.notes[0].contains("cannot export build cache"),
            "{:?}",
            plan.notes
        );
        assert!(
            plan.notes[1].contains("cannot attach SBOM or provenance"),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn docker_driver_refuses_two_platforms_and_foreign_ones_naming_what_it_has() {
        let e = try_plan(DOCKER_DRIVER, &[REGISTRY], TWO).unwrap_err();
        assert_eq!(crate::domain::error::exit_code(&e), 2);
        assert!(
            e.to_string()
                .contains("cannot build: it has linux/amd64, linux/386"),
            "{e}"
        );
        let e = try_plan(DOCKER_DRIVER, &[REGISTRY], &["linux/amd64", "linux/386"]).unwrap_err();
        assert!(
            e.to_string().contains("cannot load a multi-platform image"),
            "{e}"
        );
        assert!(
            e.to_string().contains("without the containerd image store"),
            "{e}"
        );
    }

    #[test]
    fn containerd_store_loads_multi_platform_images_with_attestations() {
        let plan = try_plan(DOCKER_CONTAINERD, &[], TWO).unwrap();
        assert_eq!(
            flags(&plan),
            "--builder desktop-linux --platform linux/amd64,linux/arm64 \
             --cache-from type=local,src=target/xtask/cache/api \
             --cache-to type=local,dest=target/xtask/cache/api,mode=max \
             --sbom=true --provenance=mode=max --load ."
        );
    }

    #[test]
    fn docker_container_single_platform_loads_and_skips_attestations_with_a_note() {
        let plan = try_plan(DOCKER_CONTAINER, &ACTIONS, &[]).unwrap();
        assert_eq!(
            flags(&plan),
            "--builder ci --cache-from type=gha,scope=api \
             --cache-to type=gha,mode=max,scope=api,ignore-error=true --load ."
        );
        assert!(
            plan.notes.iter().any(|n| n.contains("cannot keep them")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn kubernetes_builder_without_arm64_says_so() {
        let e = try_plan(KUBERNETES, &[REGISTRY], TWO).unwrap_err();
        assert!(
            e.to_string().contains("linux/arm64, which builder `k8s`"),
            "{e}"
        );
        assert!(e.to_string().contains("--append --name k8s"), "{e}");
    }

    #[test]
    fn two_node_builder_with_an_old_buildkit_builds_one_platform_without_attestations() {
        let plan = try_plan(TWO_NODES, &[REGISTRY], &["linux/arm64"]).unwrap();
        assert_eq!(
            flags(&plan),
            "--builder fleet --platform linux/arm64 \
             --cache-from type=registry,ref=127.0.0.1:5000/acme/api:buildcache \
             --cache-to type=registry,ref=127.0.0.1:5000/acme/api:buildcache,mode=max --load ."
        );
        assert!(
            plan.notes.iter().any(|n| n.contains("older than v0.11")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn config_platforms_apply_and_the_flag_overrides_them() {
        let mut config = config();
        config.build.platforms = TWO.iter().map(|p| p.to_string()).collect();
        config.services.get_mut("web").unwrap().platforms = Some(vec!["linux/arm64".into()]);
        let builder = recorded(DOCKER_CONTAINERD);
        let env: Env = [REGISTRY].into_iter().collect();
        let ctx = ctx();
        let flag = vec!["linux/amd64".to_owned()];
        let mut input = PlanInput {
            config: &config,
            ctx: &ctx,
            builder: &builder,
            builder_flag: None,
            env: &env,
            namespace: "127.0.0.1:5000/acme".into(),
            no_cache: false,
            now: OffsetDateTime::UNIX_EPOCH,
            platforms: &[],
            registry_configured: true,
        };
        let p = plan(&input, &config.select(&[]).unwrap()).unwrap();
        assert_eq!(p.services[0].platforms, TWO);
        assert_eq!(p.services[1].platforms, ["linux/arm64"]);
        input.platforms = &flag;
        let p = plan(&input, &config.select(&[]).unwrap()).unwrap();
        assert!(p.services.iter().all(|s| s.platforms == flag));
    }

    /// Every recorded builder x {laptop, GitHub Actions} x {registry or not} x {one
    /// platform, two}: the plan either refuses with a usage error or passes only flags the
    /// builder accepts.
    #[test]
    fn no_builder_is_ever_passed_a_flag_it_would_reject() {
        for (file, inspect) in ALL {
            let caps = recorded(inspect).capabilities();
            for ci in [false, true] {
                for with_registry in [false, true] {
                    for platforms in [&["linux/amd64"][..], TWO] {
                        let mut env: Vec<(&str, &str)> = Vec::new();
                        if ci {
                            env.extend(ACTIONS);
                        }
                        if with_registry {
                            env.push(REGISTRY);
                        }
                        let case = format!("{file} ci={ci} registry={with_registry} {platforms:?}");
                        let plan = match try_plan(inspect, &env, platforms) {
                            Ok(p) => p,
                            Err(e) => {
                                assert_eq!(crate::domain::error::exit_code(&e), 2, "{case}: {e}");
                                let supported = platforms
                                    .iter()
                                    .all(|p| caps.platforms.iter().any(|c| c == p));
                                assert!(
                                    !supported
                                        || (platforms.len() > 1 && !caps.load_multi_platform),
                                    "{case}: refused a plan the builder can do: {e}"
                                );
                                continue;
                            }
                        };
                        let s = &plan.services[0];
                        let a = s.argv.join(" ");
                        if !caps.cache_export {
                            assert!(
                                !a.contains("type=local")
                                    && !a.contains("type=gha")
                                    && !a.contains("type=registry"),
                                "{case}: {a}"
                            );
                        }
                        if !caps.attestations {
                            assert!(
                                !a.contains("--sbom") && !a.contains("--provenance"),
                                "{case}: {a}"
                            );
                        }
                        for p in &s.platforms {
                            assert!(caps.platforms.contains(p), "{case}: {p} in {a}");
                        }
                        if s.platforms.len() > 1 {
                            assert!(caps.load_multi_platform, "{case}: {a}");
                        }
                        // A build never pushes.
                        assert!(
                            !a.contains("--push") && a.ends_with("--load ."),
                            "{case}: {a}"
                        );
                        assert_eq!(
                            a.contains("type=registry"),
                            with_registry && caps.cache_export,
                            "{case}: {a}"
                        );
                        assert_eq!(
                            a.contains("type=gha"),
                            ci && !with_registry && caps.cache_export,
                            "{case}: {a}"
                        );
                    }
                }
            }
        }
    }
}
