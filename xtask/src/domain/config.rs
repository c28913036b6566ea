//! The one place that declares the services and their policy: `xtask/images.toml`.
//!
//! Deserialized with `deny_unknown_fields`, so a typo is an error that names the file, the
//! line and the key. Tag rules are parsed here too: a loaded [`Config`] is always usable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::domain::report::Severity;
use crate::domain::tag::validate_repository;
use crate::domain::tag_rules::{Flavor, TagRule, DEFAULT_RULES};

pub const CONFIG_FILE: &str = "xtask/images.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub project: Project,
    #[serde(default)]
    pub tags: TagConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub scan: ScanConfig,
    #[serde(default)]
    pub ci: CiConfig,
    /// Where the file was read from, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Local image namespace when no registry is configured.
    pub name: String,
    /// The branch that gets `latest`; GitHub's event payload wins when present.
    pub default_branch: Option<String>,
    /// SPDX expression for the `org.opencontainers.image.licenses` label.
    pub licenses: Option<String>,
    pub vendor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagConfig {
    /// docker/metadata-action `tags` lines.
    #[serde(default = "default_rules")]
    pub rules: Vec<TagRule>,
    /// docker/metadata-action `flavor` lines.
    #[serde(default)]
    pub flavor: Vec<String>,
}

impl Default for TagConfig {
    fn default() -> Self {
        TagConfig {
            rules: default_rules(),
            flavor: Vec::new(),
        }
    }
}

fn default_rules() -> Vec<TagRule> {
    DEFAULT_RULES
        .iter()
        .map(|r| r.parse().expect("default tag rules parse"))
        .collect()
}

/// `cargo xtask ci`'s policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiConfig {
    /// Where a pipeline run pushes: by default the default branch and tags, never pull
    /// requests.
    #[serde(default = "default_push_on")]
    pub push_on: Vec<PushOn>,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig {
            push_on: default_push_on(),
        }
    }
}

fn default_push_on() -> Vec<PushOn> {
    vec![PushOn::DefaultBranch, PushOn::Tags]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushOn {
    DefaultBranch,
    Branches,
    Tags,
    PullRequests,
    Schedule,
}

/// `[registry]`: where images go and how long a registry may take (docs/publishing.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// `registry/namespace` images are named under, e.g. `ghcr.io/acme`.
    pub namespace: Option<String>,
    /// Every registry command (login, lookups, re-tags, signing) is stopped after this long.
    pub timeout_secs: u64,
    /// The `docker push` that uploads an image's layers is stopped after this long.
    pub upload_timeout_secs: u64,
    /// How many more times a command that failed for a passing reason (unreachable, a
    /// timeout, a 5xx or 429 answer) is tried, waiting 1 s, 2 s, 4 s, ... in between.
    pub retries: u32,
}

/// The most retries `[registry] retries` accepts: enough for a flaky link, few enough that a
/// dead registry still fails within minutes.
pub const MAX_REGISTRY_RETRIES: u32 = 5;

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            namespace: None,
            timeout_secs: 20,
            upload_timeout_secs: 300,
            retries: 2,
        }
    }
}

/// `[build]`: where images are built (docs/scaling.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// The buildx builder to use when `--builder` is not given (default: the current one).
    pub builder: Option<String>,
    /// Platforms every service is built for, e.g. `["linux/amd64", "linux/arm64"]`
    /// (default: the builder's own).
    #[serde(default)]
    pub platforms: Vec<String>,
    /// The image BuildKit runs to write each image's SBOM (`--sbom=generator=IMAGE`), e.g.
    /// the pinned `xtask/buildkit-syft-scanner` that `cargo xtask engine up` builds. Unset:
    /// BuildKit's default scanner (`docker/buildkit-syft-scanner`, pulled from Docker Hub).
    pub sbom_generator: Option<String>,
    /// The docker context (the engine, e.g. a build server over SSH) every command talks to
    /// when neither `--context`, `DOCKER_HOST` nor `DOCKER_CONTEXT` names one (default:
    /// docker's current context). Not a build context: services set those.
    pub context: Option<String>,
}

/// `os/arch` or `os/arch/variant`, lowercase.
pub fn validate_platform(p: &str) -> Result<()> {
    let parts: Vec<&str> = p.split('/').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts.iter().all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !ok {
        bail!("`{p}` is not a platform: write os/arch[/variant], e.g. linux/amd64 or linux/arm/v7");
    }
    Ok(())
}

/// The largest size budget accepted: 1 TB, far above any image and far below an overflow.
pub const MAX_SIZE_BUDGET_MB: u64 = 1_000_000;

/// A size budget is 1 MB to [`MAX_SIZE_BUDGET_MB`].
pub fn validate_size_budget(mb: u64) -> Result<()> {
    if !(1..=MAX_SIZE_BUDGET_MB).contains(&mb) {
        bail!("{mb} MB is not a size budget: give 1 to {MAX_SIZE_BUDGET_MB} MB");
    }
    Ok(())
}

/// A service name names files under `target/xtask/` and, by default, its image: lowercase
/// letters and digits, with inner `-` or `_`, at most 63 characters.
pub fn validate_service_name(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        bail!(
            "`{name}` is not a service name: use lowercase letters and digits with inner - or _ \
             (at most 63 characters), e.g. `api` or `billing-worker`"
        );
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(skip)]
    pub name: String,
    /// Path of the Dockerfile, relative to the repository root. Its ignore file is
    /// `<dockerfile>.dockerignore` beside it.
    pub dockerfile: PathBuf,
    /// Build context, relative to the repository root.
    #[serde(default = "default_context")]
    pub context: PathBuf,
    /// Repository name under the namespace; defaults to the service name.
    pub image: Option<String>,
    pub description: Option<String>,
    /// The image may not be larger than this (uncompressed, as `docker images` shows).
    pub size_budget_mb: u64,
    /// The image must define a HEALTHCHECK that passes.
    #[serde(default = "yes")]
    pub healthcheck: bool,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// Platforms this service is built for, instead of `[build] platforms`.
    pub platforms: Option<Vec<String>>,
    /// Platforms this service cannot be built for, each with the reason, e.g.
    /// `{ "linux/arm64" = "no aarch64 Rust standard library here" }`: a request for several
    /// platforms builds it for the others and says why.
    #[serde(default)]
    pub unavailable_platforms: BTreeMap<String, String>,
}

fn default_context() -> PathBuf {
    PathBuf::from(".")
}

fn yes() -> bool {
    true
}

impl Service {
    pub fn image_name(&self) -> &str {
        self.image.as_deref().unwrap_or(&self.name)
    }

    pub fn ignore_file(&self) -> PathBuf {
        let mut name = self.dockerfile.clone().into_os_string();
        name.push(".dockerignore");
        name.into()
    }
}

impl Config {
    /// Reads the config at `path` (relative paths inside it are relative to `root`).
    pub fn load(root: &Path, path: &Path) -> Result<Config> {
        let full = root.join(path);
        let text = std::fs::read_to_string(&full)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let config = Config::parse(&text, path)?;
        let homes = [root.to_owned(), full.parent().unwrap_or(root).to_owned()];
        for service in config.services.values() {
            for (key, value) in [
                ("dockerfile", &service.dockerfile),
                ("context", &service.context),
            ] {
                let resolved = resolve(&root.join(value));
                if !homes.iter().any(|home| resolved.starts_with(resolve(home))) {
                    bail!(
                        "{}: [services.{}] {key} = {:?} is outside the repository; a build \
                         reads only files of the repository (or of the config's own directory)",
                        path.display(),
                        service.name,
                        value.display()
                    );
                }
            }
        }
        Ok(config)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let mut config: Config = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        config.path = path.to_owned();
        config.validate()?;
        Ok(config)
    }

    fn validate(&mut self) -> Result<()> {
        let file = self.path.display().to_string();
        Flavor::parse(&self.tags.flavor).with_context(|| format!("{file}: [tags] flavor"))?;
        if self.services.is_empty() {
            bail!("{file}: no [services.<name>] declared");
        }
        if let Some(ns) = &self.registry.namespace {
            validate_repository(ns).with_context(|| format!("{file}: [registry] namespace"))?;
        }
        validate_repository(&self.project.name)
            .with_context(|| format!("{file}: [project] name"))?;
        for p in &self.build.platforms {
            validate_platform(p).with_context(|| format!("{file}: [build] platforms"))?;
        }
        if let Some(name) = &self.build.context {
            crate::domain::endpoint::validate_context_name(name)
                .with_context(|| format!("{file}: [build] context"))?;
        }
        if self.registry.timeout_secs == 0 || self.registry.upload_timeout_secs == 0 {
            bail!("{file}: [registry] timeout_secs and upload_timeout_secs must be more than 0");
        }
        if self.registry.retries > MAX_REGISTRY_RETRIES {
            bail!(
                "{file}: [registry] retries = {} is too many: give 0 to {MAX_REGISTRY_RETRIES}",
                self.registry.retries
            );
        }
        if self.scan.timeout_secs == 0 {
            bail!("{file}: [scan] timeout_secs must be more than 0");
        }
        for (name, service) in &mut self.services {
            validate_service_name(name).with_context(|| format!("{file}: [services.{name:?}]"))?;
            service.name = name.clone();
            validate_repository(service.image_name())
                .with_context(|| format!("{file}: [services.{name}] image"))?;
            for p in service.platforms.iter().flatten() {
                validate_platform(p)
                    .with_context(|| format!("{file}: [services.{name}] platforms"))?;
            }
            for (p, reason) in &service.unavailable_platforms {
                validate_platform(p)
                    .with_context(|| format!("{file}: [services.{name}] unavailable_platforms"))?;
                if reason.trim().is_empty() {
                    bail!(
                        "{file}: [services.{name}] unavailable_platforms: say why `{p}` is \
                         unavailable, e.g. {{ \"{p}\" = \"no toolchain for it here\" }}"
                    );
                }
                if service.platforms.iter().flatten().any(|q| q == p) {
                    bail!(
                        "{file}: [services.{name}] lists `{p}` both in platforms and in \
                         unavailable_platforms: remove it from one"
                    );
                }
            }
            validate_size_budget(service.size_budget_mb)
                .with_context(|| format!("{file}: [services.{name}] size_budget_mb"))?;
        }
        Ok(())
    }

    pub fn flavor(&self) -> Flavor {
        Flavor::parse(&self.tags.flavor).expect("validated when loaded")
    }

    /// The services named, in the order given; all of them when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Service>> {
        if names.is_empty() {
            return Ok(self.services.values().collect());
        }
        names
            .iter()
            .map(|n| {
                self.services.get(n).with_context(|| {
                    let known: Vec<&str> = self.services.keys().map(String::as_str).collect();
                    format!(
                        "unknown service `{n}`; {} declares: {}",
                        self.path.display(),
                        known.join(", ")
                    )
                })
            })
            .collect()
    }
}

/// `path` with `.` and `..` taken out, and symbolic links followed where the path exists, so
/// that `starts_with` tells whether a file is really inside a directory.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `[scan]`: the gate every image passes before it can be pushed (docs/scanning.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Vulnerability severities that fail the gate.
    pub fail_on: Vec<Severity>,
    /// A vulnerability with no fixed version is reported but does not fail.
    pub ignore_unfixed: bool,
    /// Any secret found in an image fails the gate.
    pub fail_on_secrets: bool,
    /// Accepted findings, in trivy's `.trivyignore.yaml` shape, relative to the root.
    pub ignore_file: PathBuf,
    /// trivy is killed when one image takes longer.
    pub timeout_secs: u64,
    /// trivy's cache (vulnerability DB); default: trivy's own, `~/.cache/trivy`.
    pub cache_dir: Option<PathBuf>,
    /// An OCI mirror of the vulnerability DB, e.g. `mirror.gcr.io/aquasec/trivy-db`.
    pub db_repository: Option<String>,
    /// The image run when no `trivy` is on PATH but Docker is.
    pub trivy_image: String,
    /// hadolint rules that `lint-dockerfiles` does not apply, e.g. `DL3008`.
    pub dockerfile_ignore: Vec<String>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            fail_on: vec![Severity::High, Severity::Critical],
            ignore_unfixed: true,
            fail_on_secrets: true,
            ignore_file: PathBuf::from(".trivyignore.yaml"),
            timeout_secs: 600,
            cache_dir: None,
            db_repository: None,
            trivy_image: "aquasec/trivy:0.71.2".into(),
            dockerfile_ignore: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [project]
        name = "acme"
        [services.api]
        dockerfile = "xtask/docker/api.Dockerfile"
        size_budget_mb = 100
    "#;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("xtask/images.toml"))
    }

    #[test]
    fn defaults_fill_the_gaps() {
        let c = parse(MINIMAL).unwrap();
        let api = &c.services["api"];
        assert_eq!(api.name, "api");
        assert_eq!(api.image_name(), "api");
        assert_eq!(api.context, Path::new("."));
        assert!(api.healthcheck);
        assert_eq!(
            api.ignore_file(),
            Path::new("xtask/docker/api.Dockerfile.dockerignore")
        );
        assert_eq!(c.tags.rules.len(), DEFAULT_RULES.len());
    }

    #[test]
    fn the_repository_config_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let c = Config::load(root, Path::new(CONFIG_FILE)).unwrap();
        assert!(c.services.contains_key("api"), "{:?}", c.services.keys());
        // The repository's convention (and what `cargo xtask new-service` writes): a
        // service's Dockerfile is xtask/docker/<name>.Dockerfile.
        for (name, s) in &c.services {
            assert_eq!(
                s.dockerfile,
                Path::new(&format!("xtask/docker/{name}.Dockerfile")),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = parse(&MINIMAL.replace("size_budget_mb", "size_budget"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("xtask/images.toml:"), "{err}");
        assert!(err.contains("size_budget"), "{err}");
    }

    #[test]
    fn invalid_tag_rule_names_the_rule() {
        let err = format!(
            "{:#}",
            parse(&format!("{MINIMAL}\n[tags]\nrules = [\"type=ref\"]")).unwrap_err()
        );
        assert!(err.contains("type=ref") && err.contains("event"), "{err}");
    }

    #[test]
    fn unavailable_platforms_are_platforms_with_a_reason_and_not_also_wanted() {
        let check = |extra: &str| {
            parse(&format!("{MINIMAL}{extra}\n"))
                .map(|c| format!("{:?}", c.services["api"].unavailable_platforms))
                // The last line: toml's own errors show the line above it.
                .unwrap_or_else(|e| format!("{e:#}").lines().last().unwrap_or("").to_owned())
        };
        let table = [
            (
                r#"unavailable_platforms = { "linux/arm64" = "no aarch64 rust-std" }"#,
                r#"{"linux/arm64": "no aarch64 rust-std"}"#,
            ),
            (
                r#"unavailable_platforms = { "linux/ARM64" = "x" }"#,
                "xtask/images.toml: [services.api] unavailable_platforms: `linux/ARM64` is not a platform: write os/arch[/variant], e.g. linux/amd64 or linux/arm/v7",
            ),
            (
                r#"unavailable_platforms = { "linux/arm64" = " " }"#,
                r#"xtask/images.toml: [services.api] unavailable_platforms: say why `linux/arm64` is unavailable, e.g. { "linux/arm64" = "no toolchain for it here" }"#,
            ),
            (
                "platforms = [\"linux/arm64\"]\nunavailable_platforms = { \"linux/arm64\" = \"x\" }",
                "xtask/images.toml: [services.api] lists `linux/arm64` both in platforms and in unavailable_platforms: remove it from one",
            ),
            (
                r#"unavailable_platforms = ["linux/arm64"]"#,
                "invalid type: sequence, expected a map",
            ),
        ];
        for (extra, want) in table {
            assert_eq!(check(extra), want, "{extra}");
        }
    }

    #[test]
    fn uppercase_image_name_is_rejected() {
        let err = format!(
            "{:#}",
            parse(&format!("{MINIMAL}image = \"API\"\n")).unwrap_err()
        );
        assert!(err.contains("[services.api] image"), "{err}");
    }

    #[test]
    fn scan_policy_has_defaults_and_rejects_typos() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.scan.fail_on, [Severity::High, Severity::Critical]);
        assert!(c.scan.ignore_unfixed && c.scan.fail_on_secrets);
        assert_eq!(c.scan.ignore_file, Path::new(".trivyignore.yaml"));
        let c = parse(&format!(
            "{MINIMAL}[scan]\nfail_on = [\"CRITICAL\"]\nignore_unfixed = false\n"
        ))
        .unwrap();
        assert_eq!(c.scan.fail_on, [Severity::Critical]);
        assert!(!c.scan.ignore_unfixed && c.scan.fail_on_secrets);
        let err = parse(&format!("{MINIMAL}[scan]\nfail_on = [\"SEVERE\"]\n")).unwrap_err();
        assert!(err.to_string().contains("SEVERE"), "{err}");
        let err = parse(&format!("{MINIMAL}[scan]\nignore_unfxed = true\n")).unwrap_err();
        assert!(err.to_string().contains("ignore_unfxed"), "{err}");
        assert!(parse(&format!("{MINIMAL}[scan]\ntimeout_secs = 0\n")).is_err());
    }

    #[test]
    fn registry_timeouts_have_bounded_defaults_and_are_checked() {
        let c = parse(MINIMAL).unwrap();
        let r = &c.registry;
        assert_eq!(
            (r.timeout_secs, r.upload_timeout_secs, r.retries),
            (20, 300, 2)
        );
        let c = parse(&format!(
            "[registry]\ntimeout_secs = 5\nretries = 0\n{MINIMAL}"
        ))
        .unwrap();
        assert_eq!((c.registry.timeout_secs, c.registry.retries), (5, 0));
        assert_eq!(c.registry.upload_timeout_secs, 300);
        for bad in ["timeout_secs = 0", "upload_timeout_secs = 0", "retries = 6"] {
            let err = parse(&format!("[registry]\n{bad}\n{MINIMAL}")).unwrap_err();
            assert!(err.to_string().contains("[registry]"), "{bad}: {err}");
        }
        assert!(parse(&format!("[registry]\ntimeout = 5\n{MINIMAL}")).is_err());
    }

    #[test]
    fn build_section_names_builder_and_platforms() {
        let c = parse(&format!(
            "[build]\nbuilder = \"remote\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n{MINIMAL}platforms = [\"linux/arm/v7\"]\n"
        ))
        .unwrap();
        assert_eq!(c.build.builder.as_deref(), Some("remote"));
        assert_eq!(c.build.platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(
            c.services["api"].platforms.as_deref(),
            Some(&["linux/arm/v7".to_owned()][..])
        );
        let err = format!(
            "{:#}",
            parse(&format!("[build]\nplatforms = [\"arm64\"]\n{MINIMAL}")).unwrap_err()
        );
        assert!(
            err.contains("[build] platforms") && err.contains("os/arch"),
            "{err}"
        );
        assert!(parse(&format!("[build]\nbuildr = \"x\"\n{MINIMAL}")).is_err());
    }

    #[test]
    fn unknown_service_lists_the_known_ones() {
        let c = parse(MINIMAL).unwrap();
        let err = c.select(&["apy".into()]).unwrap_err().to_string();
        assert!(
            err.contains("unknown service `apy`") && err.contains("api"),
            "{err}"
        );
    }

    #[test]
    fn service_names_and_budgets_are_checked_when_the_config_is_read() {
        for bad in ["../../../../tmp/x", "Api", "has space", "", "-api", "x/y"] {
            let text = MINIMAL.replace("[services.api]", &format!("[services.{bad:?}]"));
            let err = parse(&text).unwrap_err();
            assert!(
                format!("{err:#}").contains("is not a service name"),
                "{bad}: {err:#}"
            );
        }
        for bad in ["0", "9223372036854775807", "1000001"] {
            let text = MINIMAL.replace("size_budget_mb = 100", &format!("size_budget_mb = {bad}"));
            let err = parse(&text).unwrap_err();
            assert!(
                format!("{err:#}").contains("is not a size budget"),
                "{bad}: {err:#}"
            );
        }
        assert!(validate_size_budget(MAX_SIZE_BUDGET_MB).is_ok());
        assert!(validate_service_name("billing-worker_2").is_ok());
    }

    #[test]
    fn dockerfiles_and_contexts_outside_the_repository_are_refused() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir(repo.path().join("xtask")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", repo.path().join("xtask/link")).unwrap();
        let config = |dockerfile: &str, context: &str| {
            let text = format!(
                "[project]\nname = \"x\"\n[services.api]\ndockerfile = \"{dockerfile}\"\ncontext = \"{context}\"\nsize_budget_mb = 10\n"
            );
            std::fs::write(repo.path().join("xtask/images.toml"), text).unwrap();
            Config::load(repo.path(), Path::new("xtask/images.toml")).map_err(|e| e.to_string())
        };
        assert_eq!(config("xtask/api.Dockerfile", ".").err(), None);
        for (dockerfile, context) in [
            ("/etc/passwd", "."),
            ("../../etc/passwd", "."),
            ("xtask/link", "."),
            ("xtask/api.Dockerfile", "/"),
            ("xtask/api.Dockerfile", "xtask/../.."),
        ] {
            let err = config(dockerfile, context).unwrap_err();
            assert!(
                err.contains("is outside the repository"),
                "{dockerfile} {context}: {err}"
            );
        }
    }
}
