//! What `verify` holds an image to, as pure functions from facts to [`Check`]s.
//!
//! The facts (the image's config, the suspicious paths in its filesystem, how its health
//! check went, its ignore file) are gathered by `verify` and `container`; this module never
//! runs a process, so every rule is a unit test on data.
//!
//! Secret-looking environment variables are judged by the words of their names (split on
//! `_` and other separators), not by substrings, so `TOKENIZERS_PARALLELISM` is not a token:
//! a name is secret when a word is `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD` or `APIKEY`, or
//! its last word is `KEY`. Not secret: names ending in `_FILE`, `_PATH` or `_DIR` (they point
//! to a secret mounted at run time, the Docker secrets convention), `*_PUBLIC_KEY` /
//! `*_PUB_KEY`, and `GPG_KEY`, which official images use for the public fingerprint that
//! verifies a download.

use serde::Serialize;

use crate::domain::dockerignore::IgnoreRules;
use crate::domain::image::ImageInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable here; the reason says why.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub reason: String,
}

pub fn pass(name: &'static str, reason: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Pass,
        reason: reason.into(),
    }
}

pub fn fail(name: &'static str, reason: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Fail,
        reason: reason.into(),
    }
}

pub fn skip(name: &'static str, reason: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Skip,
        reason: reason.into(),
    }
}

/// What an image is held to: a service's config, or the flags given with `--image`.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub healthcheck: bool,
    pub size_budget_mb: Option<u64>,
    /// The commit the image must say it was built from.
    pub revision: Option<String>,
    /// Whether a source URL is known, so the `source` label is required.
    pub source_known: bool,
    /// The Dockerfile's ignore file: its path and its text (`None` when missing); not
    /// checked for a bare `--image`.
    pub ignore_file: Option<(String, Option<String>)>,
}

/// How running the image under hardened options went.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    Healthy {
        after_secs: f64,
    },
    /// Unhealthy, exited or timed out; the reason includes the last health output.
    NotHealthy(String),
}

pub struct Facts<'a> {
    pub image: &'a ImageInfo,
    /// Suspicious files found in the filesystem (see [`suspicious_path`]).
    pub secret_files: &'a [String],
    /// `None` when the container was not started (no health check to wait for).
    pub health: Option<Health>,
}

/// What `cosign verify` said about the image at a registry tag (`verify --signature`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// The tag could not be resolved to a digest in the registry.
    Unresolved { reference: String, why: String },
    Checked {
        reference: String,
        digest: String,
        key: String,
        verified: bool,
        /// cosign's last error line when not verified.
        why: String,
    },
}

pub fn signature(facts: &Signature) -> Check {
    const NAME: &str = "signature";
    match facts {
        Signature::Unresolved { reference, why } => fail(
            NAME,
            format!("{reference} is not in the registry ({why}): push and sign it first"),
        ),
        Signature::Checked {
            reference,
            digest,
            key,
            verified: true,
            ..
        } => pass(
            NAME,
            format!("{reference} ({}) is signed by {key}", short(digest)),
        ),
        Signature::Checked {
            reference,
            digest,
            key,
            why,
            ..
        } => fail(
            NAME,
            format!(
                "{reference} now points at {}, which has no signature that {key} verifies ({why}): \
                 the tag was moved or the image was never signed; run cargo xtask sign",
                short(digest)
            ),
        ),
    }
}

/// `--signature` for an image that has no registry reference.
pub fn skip_signature(name: &str) -> Check {
    skip(
        "signature",
        format!("{name} is not a registry reference: only pushed images carry signatures"),
    )
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

pub fn evaluate(policy: &Policy, facts: &Facts) -> Vec<Check> {
    let image = facts.image;
    let mut checks = vec![
        user(&image.config.user),
        healthcheck(image, policy.healthcheck),
        healthy(
            facts.health.as_ref(),
            image.has_healthcheck(),
            policy.healthcheck,
        ),
        size(image.size, policy.size_budget_mb),
        exec_form(
            image.config.entrypoint.as_deref(),
            image.config.cmd.as_deref(),
        ),
        labels(image, policy.source_known),
        revision(image, policy.revision.as_deref()),
        secret_env(image.config.env.as_deref().unwrap_or_default()),
        secret_files(facts.secret_files),
    ];
    checks.push(match &policy.ignore_file {
        Some((path, text)) => ignore_file(path, text.as_deref()),
        None => skip("ignore file", "no Dockerfile known for --image"),
    });
    checks
}

pub fn user(user: &str) -> Check {
    let name = user.split(':').next().unwrap_or_default();
    match name {
        "" => fail("non-root user", "no USER: the image runs as root"),
        "root" | "0" => fail("non-root user", format!("USER {user} is root")),
        _ => pass("non-root user", format!("USER {user}")),
    }
}

pub fn healthcheck(image: &ImageInfo, required: bool) -> Check {
    let test = image.config.healthcheck.as_ref().map(|h| h.test.join(" "));
    match (image.has_healthcheck(), required) {
        (true, _) => pass("healthcheck", test.unwrap_or_default()),
        (false, true) => fail(
            "healthcheck",
            "no HEALTHCHECK, and the service requires one",
        ),
        (false, false) => skip("healthcheck", "not required (healthcheck = false)"),
    }
}

pub fn healthy(health: Option<&Health>, defined: bool, required: bool) -> Check {
    const NAME: &str = "healthy when hardened";
    match health {
        Some(Health::Healthy { after_secs }) => pass(
            NAME,
            format!("healthy after {after_secs:.1}s with --read-only, --cap-drop ALL, no-new-privileges"),
        ),
        Some(Health::NotHealthy(why)) => fail(NAME, why.clone()),
        None if !required => skip(NAME, "not required (healthcheck = false)"),
        None if !defined => skip(NAME, "no HEALTHCHECK to wait for"),
        None => skip(NAME, "not run"),
    }
}

pub fn size(bytes: u64, budget_mb: Option<u64>) -> Check {
    let size = megabytes(bytes);
    match budget_mb {
        None => skip(
            "size",
            format!("{size}; no budget given (--size-budget-mb)"),
        ),
        Some(b) if bytes > b.saturating_mul(1_000_000) => {
            fail("size", format!("{size} is over the budget of {b} MB"))
        }
        Some(b) => pass("size", format!("{size} of {b} MB")),
    }
}

/// Docker stores the shell form as `["/bin/sh", "-c", "..."]`.
fn is_shell_form(argv: &[String]) -> bool {
    matches!(argv, [sh, c, ..] if (sh == "/bin/sh" || sh == "sh") && c == "-c")
}

pub fn exec_form(entrypoint: Option<&[String]>, cmd: Option<&[String]>) -> Check {
    const NAME: &str = "exec form";
    let entrypoint = entrypoint.filter(|e| !e.is_empty());
    let cmd = cmd.filter(|c| !c.is_empty());
    for (what, argv) in [("ENTRYPOINT", entrypoint), ("CMD", cmd)] {
        if let Some(argv) = argv.filter(|a| is_shell_form(a)) {
            return fail(
                NAME,
                format!(
                    "{what} is in shell form ({}): the shell becomes PID 1 and signals never reach the process; write {what} [\"...\", \"...\"]",
                    argv[2..].join(" ")
                ),
            );
        }
    }
    match (entrypoint, cmd) {
        (None, None) => fail(NAME, "neither ENTRYPOINT nor CMD is set"),
        (e, c) => pass(
            NAME,
            format!("{:?}", e.into_iter().chain(c).flatten().collect::<Vec<_>>()),
        ),
    }
}

pub fn labels(image: &ImageInfo, source_known: bool) -> Check {
    let mut required = vec!["title", "revision", "created", "version"];
    if source_known {
        required.push("source");
    }
    let missing: Vec<String> = required
        .iter()
        .map(|k| format!("org.opencontainers.image.{k}"))
        .filter(|k| image.label(k).is_none())
        .collect();
    if missing.is_empty() {
        pass("OCI labels", required.join(", "))
    } else {
        fail("OCI labels", format!("missing {}", missing.join(", ")))
    }
}

pub fn revision(image: &ImageInfo, expected: Option<&str>) -> Check {
    const NAME: &str = "revision label";
    let actual = image.label("org.opencontainers.image.revision");
    match (expected, actual) {
        (None, _) => skip(NAME, "no commit to compare with (pass --revision SHA)"),
        (Some(e), Some(a)) if a == e => pass(NAME, a),
        (Some(e), Some(a)) => fail(NAME, format!("built from {a}, expected {e}: rebuild it")),
        (Some(_), None) => fail(NAME, "org.opencontainers.image.revision is not set"),
    }
}

/// Whether an environment variable name looks like it holds a secret (module docs).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let Some((last, init)) = words.split_last() else {
        return false;
    };
    if matches!(*last, "FILE" | "PATH" | "DIR") {
        return false;
    }
    if words
        .iter()
        .any(|w| matches!(*w, "TOKEN" | "SECRET" | "PASSWORD" | "PASSWD" | "APIKEY"))
    {
        return true;
    }
    *last == "KEY" && !matches!(init.last(), Some(&("PUBLIC" | "PUB" | "GPG")))
}

pub fn secret_env(env: &[String]) -> Check {
    const NAME: &str = "no secret env";
    let found: Vec<&str> = env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, v)| !v.is_empty() && is_secret_name(k))
        .map(|(k, _)| k)
        .collect();
    if found.is_empty() {
        pass(
            NAME,
            format!("{} variables, none secret-looking", env.len()),
        )
    } else {
        fail(
            NAME,
            format!(
                "{} baked into the image config (anyone who pulls it can read them): pass secrets at run time instead",
                found.join(", ")
            ),
        )
    }
}

/// What a path inside the image says about secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspicion {
    /// A secret by its name alone; the reason is shown.
    Secret(&'static str),
    /// A `*.pem` file: secret if its content holds a private key.
    PemContent,
}

/// Judges one path of the exported filesystem (relative, as `tar` lists it).
pub fn suspicious_path(path: &str, is_file: bool) -> Option<Suspicion> {
    let path = path.trim_start_matches("./").trim_end_matches('/');
    let name = path.rsplit('/').next().unwrap_or(path);
    if path.split('/').any(|c| c == ".git") {
        return Some(Suspicion::Secret("git repository"));
    }
    if !is_file {
        return None;
    }
    let example = [".example", ".sample", ".template", ".dist"]
        .iter()
        .any(|s| name.ends_with(s));
    if name == ".env" || (name.starts_with(".env.") && !example) {
        return Some(Suspicion::Secret("environment file"));
    }
    if matches!(name, "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519") {
        return Some(Suspicion::Secret("SSH private key"));
    }
    if name.ends_with(".key") {
        return Some(Suspicion::Secret("key file"));
    }
    if name.ends_with(".pem") {
        return Some(Suspicion::PemContent);
    }
    None
}

pub fn pem_holds_private_key(content: &[u8]) -> bool {
    content
        .windows(b"PRIVATE KEY-----".len())
        .any(|w| w == b"PRIVATE KEY-----")
}

pub fn secret_files(found: &[String]) -> Check {
    const NAME: &str = "no secret files";
    const SHOWN: usize = 5;
    if found.is_empty() {
        return pass(NAME, "no .env, .git, SSH keys, *.key or private *.pem");
    }
    let mut reason = found[..found.len().min(SHOWN)].join(", ");
    if found.len() > SHOWN {
        reason.push_str(&format!(" and {} more", found.len() - SHOWN));
    }
    fail(NAME, reason)
}

/// What the ignore file must keep out of the build context, with paths each must exclude.
const MUST_IGNORE: &[(&str, &[&str])] = &[
    (".git", &[".git/HEAD"]),
    (".env*", &[".env", ".env.local"]),
    ("target/", &["target/debug"]),
    ("node_modules/", &["node_modules/x"]),
];

/// The required entries the ignore file does not exclude, judged by Docker's own rules
/// (domain/dockerignore.rs): at the context root, and inside every directory the file lets
/// back in with `!dir`, since such a directory is sent whole. A bare `*` covers the root
/// only, and a pattern without `**/` is anchored to the root as Docker anchors it.
pub fn ignore_gaps(text: &str) -> Vec<&'static str> {
    let Ok(rules) = IgnoreRules::parse(text) else {
        return MUST_IGNORE.iter().map(|(label, _)| *label).collect();
    };
    let reincluded = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .map(|p| p.trim_matches('/'))
        // A directory: no wildcard, and a last component without an extension.
        .filter(|p| !p.is_empty() && !p.contains(['*', '?', '[']))
        .filter(|p| !p.rsplit('/').next().unwrap_or(p).contains('.'))
        .filter(|p| !rules.excludes(p));
    let sent: Vec<String> = std::iter::once(String::new())
        .chain(reincluded.map(|d| format!("{d}/")))
        .collect();
    MUST_IGNORE
        .iter()
        .filter(|(_, probes)| {
            sent.iter()
                .any(|dir| probes.iter().any(|p| !rules.excludes(&format!("{dir}{p}"))))
        })
        .map(|(label, _)| *label)
        .collect()
}

pub fn ignore_file(path: &str, text: Option<&str>) -> Check {
    const NAME: &str = "ignore file";
    let Some(text) = text else {
        return fail(
            NAME,
            format!("{path} is missing: the whole context is sent to the builder"),
        );
    };
    let gaps = ignore_gaps(text);
    if gaps.is_empty() {
        pass(
            NAME,
            format!("{path} excludes .git, .env*, target/, node_modules/"),
        )
    } else {
        fail(NAME, format!("{path} does not exclude {}", gaps.join(", ")))
    }
}

/// No capabilities and no privilege escalation: every container the toolkit starts runs
/// under these.
pub const NO_PRIVILEGES: [&str; 4] = ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"];

/// [`NO_PRIVILEGES`] plus a read-only root with a writable /tmp: how a service must stay
/// healthy (`verify`'s hardened run, and the api and web containers of `e2e`).
pub const HARDENED: [&str; 7] = [
    "--read-only",
    "--tmpfs",
    "/tmp",
    NO_PRIVILEGES[0],
    NO_PRIVILEGES[1],
    NO_PRIVILEGES[2],
    NO_PRIVILEGES[3],
];

/// A size as people read it in budgets: decimal megabytes, one decimal (`84.5 MB`).
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::tests::INSPECT;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn root_in_any_spelling_fails() {
        for u in ["", "root", "0", "0:0", "root:root", "0:1000"] {
            assert_eq!(user(u).status, Status::Fail, "{u:?}");
        }
        for u in ["65534", "node", "1000:1000", "app:0"] {
            assert_eq!(user(u).status, Status::Pass, "{u:?}");
        }
        assert!(user("").reason.contains("no USER"));
    }

    #[test]
    fn shell_form_is_named() {
        let sh = strings(&["/bin/sh", "-c", "sleep 3600"]);
        let c = exec_form(None, Some(&sh));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.reason.contains("CMD is in shell form (sleep 3600)"),
            "{}",
            c.reason
        );
        let c = exec_form(Some(&sh), Some(&strings(&["x"])));
        assert!(c.reason.starts_with("ENTRYPOINT"), "{}", c.reason);
        assert_eq!(
            exec_form(None, Some(&strings(&["sleep", "1"]))).status,
            Status::Pass
        );
        assert_eq!(exec_form(Some(&[]), None).status, Status::Fail);
    }

    #[test]
    fn size_uses_decimal_megabytes() {
        assert_eq!(size(1_000_000, Some(1)).status, Status::Pass);
        let c = size(1_000_001, Some(1));
        assert_eq!(c.status, Status::Fail);
        assert!(c.reason.contains("over the budget of 1 MB"), "{}", c.reason);
        assert_eq!(size(5, None).status, Status::Skip);
    }

    #[test]
    fn secret_names_are_judged_by_words() {
        for n in [
            "API_TOKEN",
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "MYSQL_ROOT_PASSWD",
            "SECRET_KEY_BASE",
            "AWS_SECRET_ACCESS_KEY",
            "STRIPE_API_KEY",
            "SSH_PRIVATE_KEY",
            "ENCRYPTION_KEY",
            "apikey",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "NODE_EXTRA_CA_CERTS",
            "GPG_KEY",
            "JWT_PUBLIC_KEY",
            "TOKENIZERS_PARALLELISM",
            "PASSWORD_FILE",
            "PRIVATE_KEY_PATH",
            "PATH",
            "KEYBOARD",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn secret_env_needs_a_value() {
        let c = secret_env(&strings(&["PATH=/bin", "API_TOKEN=abc123", "DB_PASSWORD="]));
        assert_eq!(c.status, Status::Fail);
        assert!(c.reason.starts_with("API_TOKEN baked"), "{}", c.reason);
        assert_eq!(secret_env(&strings(&["DB_PASSWORD="])).status, Status::Pass);
    }

    #[test]
    fn suspicious_paths() {
        let secret = |p: &str| matches!(suspicious_path(p, true), Some(Suspicion::Secret(_)));
        assert!(secret("app/.env"));
        assert!(secret("./app/.env.production"));
        assert!(secret("srv/.git/config"));
        assert!(matches!(
            suspicious_path("srv/.git/", false),
            Some(Suspicion::Secret(_))
        ));
        assert!(secret("root/.ssh/id_ed25519"));
        assert!(secret("etc/ssl/private/server.key"));
        assert!(!secret("app/.env.example"));
        assert!(!secret("root/.ssh/id_ed25519.pub"));
        assert!(!secret("app/.envrc"));
        assert!(!secret("usr/share/doc/.gitignore"));
        assert_eq!(
            suspicious_path("etc/ssl/certs/ca.pem", true),
            Some(Suspicion::PemContent)
        );
        assert_eq!(suspicious_path("app/.env", false), None);
        assert!(pem_holds_private_key(
            b"-----BEGIN RSA PRIVATE KEY-----\nMII"
        ));
        assert!(!pem_holds_private_key(b"-----BEGIN CERTIFICATE-----\nMII"));
    }

    #[test]
    fn ignore_patterns_tolerate_prefixes_and_slashes() {
        assert!(ignore_gaps(".git\n.env*\ntarget/\nnode_modules/\n").is_empty());
        assert!(ignore_gaps("/.git/\n**/.env*\n**/target\n**/node_modules/**\n").is_empty());
        assert!(ignore_gaps("  .git  \n# comment\n.env\n.env.*\n/target\nnode_modules").is_empty());
        // `!src/` sends src whole: a root-anchored `.git` or `target` does not reach into
        // it, `**/.env` misses `.env.local`, and nothing names node_modules.
        assert_eq!(
            ignore_gaps("*\n!src/\n.git\n**/.env\ntarget\n"),
            [".git", ".env*", "target/", "node_modules/"]
        );
        assert!(
            ignore_gaps("*\n!src/\n**/.git\n**/.env*\n**/target\n**/node_modules\n").is_empty()
        );
        assert_eq!(ignore_gaps("").len(), 4);
    }

    #[test]
    fn the_repository_ignore_files_pass() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let config = crate::domain::config::Config::load(
            root,
            std::path::Path::new(crate::domain::config::CONFIG_FILE),
        )
        .unwrap();
        for s in config.services.values() {
            if let Ok(text) = std::fs::read_to_string(root.join(s.ignore_file())) {
                assert!(
                    ignore_gaps(&text).is_empty(),
                    "{}",
                    s.ignore_file().display()
                );
            }
        }
    }

    #[test]
    fn a_good_image_passes_everything_it_is_asked() {
        let image = ImageInfo::parse(INSPECT).unwrap();
        let mut image = image;
        let labels = image.config.labels.as_mut().unwrap();
        for k in ["revision", "created", "version"] {
            labels.insert(format!("org.opencontainers.image.{k}"), "abc".into());
        }
        let policy = Policy {
            healthcheck: true,
            size_budget_mb: Some(10),
            revision: Some("abc".into()),
            source_known: false,
            ignore_file: Some((
                "x.dockerignore".into(),
                Some(".git\n.env*\ntarget\nnode_modules\n".into()),
            )),
        };
        let checks = evaluate(
            &policy,
            &Facts {
                image: &image,
                secret_files: &[],
                health: Some(Health::Healthy { after_secs: 1.0 }),
            },
        );
        let failed: Vec<_> = checks.iter().filter(|c| c.status != Status::Pass).collect();
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(checks.len(), 10);
    }

    #[test]
    fn labels_and_revision_say_what_is_wrong() {
        let image = ImageInfo::parse(INSPECT).unwrap();
        let c = labels(&image, true);
        assert!(
            c.reason.contains("org.opencontainers.image.revision") && c.reason.contains("source"),
            "{}",
            c.reason
        );
        assert_eq!(revision(&image, None).status, Status::Skip);
        assert!(revision(&image, Some("abc")).reason.contains("not set"));
        assert_eq!(healthy(None, false, false).status, Status::Skip);
    }

    #[test]
    fn signature_check_says_which_digest_the_tag_names() {
        let checked = |verified| Signature::Checked {
            reference: "127.0.0.1:5200/a/api:sha-1".into(),
            digest: "sha256:0e3e37b03e01ce5d281fc6f82480428983a58875959469f67354bb3b5838537b"
                .into(),
            key: "cosign.pub".into(),
            verified,
            why: "Error: no matching signatures".into(),
        };
        let ok = signature(&checked(true));
        assert_eq!(ok.status, Status::Pass);
        assert_eq!(
            ok.reason,
            "127.0.0.1:5200/a/api:sha-1 (sha256:0e3e37b03e01) is signed by cosign.pub"
        );
        let moved = signature(&checked(false));
        assert_eq!(moved.status, Status::Fail);
        assert!(
            moved.reason.contains("no matching signatures") && moved.reason.contains("moved"),
            "{}",
            moved.reason
        );
        let missing = signature(&Signature::Unresolved {
            reference: "r/api:sha-1".into(),
            why: "manifest unknown".into(),
        });
        assert_eq!(missing.status, Status::Fail);
    }
}
