//! The legacy engine (Docker 20.10 on /var/run/docker.sock, the classic image store,
//! BuildKit v0.8 behind the `docker` driver) as it is, no recording: real builds whose plan
//! adapts (the engine's own layer cache, no attestations, one platform), each gap said in
//! one line, the image verified, and doctor naming every gap with its fix. Skipped without
//! that engine, failed without it under `CI=true` or `XTASK_REQUIRE_ENGINE=1`.

use std::process::{Command, Output};

use serde_json::Value;

use crate::common::fixture::{self, Service, GOOD};
use crate::common::{self, engine_available};

/// The notes the plan gives for this builder, one line each.
const NO_CACHE_EXPORT: &str = "builder `default` (docker driver) cannot export build cache: \
                               using the engine's layer cache";
const NO_ATTESTATIONS: &str = "builder `default` (docker driver without the containerd image \
                               store) cannot attach SBOM or provenance attestations: skipped";
const ONE_PLATFORM: &str = "but builder `default` (docker driver without the containerd image \
                            store) cannot load a multi-platform image";

/// `cargo xtask ARGS...` on the legacy engine (no DOCKER_HOST, no DOCKER_CONTEXT), in the
/// git context of the repository as committed.
fn legacy(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.envs(common::committed_head_env().iter().map(|(k, v)| (k, v)));
    run_legacy(c, args)
}

/// `cargo xtask ARGS...` on the legacy engine, in the checkout as it is.
fn legacy_here(args: &[&str]) -> Output {
    run_legacy(Command::new(env!("CARGO_BIN_EXE_xtask")), args)
}

fn run_legacy(mut c: Command, args: &[&str]) -> Output {
    c.args(args)
        .current_dir(common::root())
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("XTASK_REGISTRY")
        .env_remove("GITHUB_ACTIONS");
    c.output().expect("xtask runs")
}

/// The legacy engine is the default one only when no docker context is current.
fn on_the_legacy_engine() -> bool {
    let o = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}} {{.Driver}}"])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    let info = common::stdout(&o);
    let legacy = info.starts_with("20.10") && !info.contains("overlayfs");
    if !legacy {
        eprintln!(
            "skipped: the default engine is not Docker 20.10 with the classic store ({info})"
        );
    }
    legacy
}

/// Image tags on the legacy engine, removed when dropped.
struct Tags(Vec<String>);

impl Drop for Tags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker")
                .args(["rmi", "-f", tag])
                .env_remove("DOCKER_HOST")
                .env_remove("DOCKER_CONTEXT")
                .output();
        }
    }
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&common::stdout(o))
        .unwrap_or_else(|e| panic!("{e}: {}{}", common::stdout(o), common::stderr(o)))
}

#[test]
fn the_legacy_engine_builds_with_what_it_has_says_each_gap_once_and_verifies() {
    if !engine_available() || !on_the_legacy_engine() {
        return;
    }
    let name = format!("bh-legacy-{}", std::process::id());
    let dockerfile = format!(
        "FROM busybox:stable\nRUN echo {name} > /built-by\n{}",
        GOOD.strip_prefix("FROM busybox:stable\n").unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let config = fixture::write(dir.path(), &[Service::new(&name, &dockerfile)]);
    let config = config.to_str().unwrap();
    // A registry is named, so a builder that could export cache would send it there.
    let namespace = format!("127.0.0.1:5000/bh-legacy-{}", std::process::id());
    let build = [
        "--config",
        config,
        "build",
        "--registry",
        namespace.as_str(),
    ];

    let o = legacy(&[&build[..], &["--dry-run", "--json"]].concat());
    assert!(o.status.success(), "{}", common::stderr(&o));
    let plan = json(&o);
    assert_eq!(plan["driver"], "docker");
    assert_eq!(plan["cache"], "engine");
    assert!(plan.get("engine").is_none(), "no engine was chosen: {plan}");
    let notes = plan["notes"].to_string();
    for note in [NO_CACHE_EXPORT, NO_ATTESTATIONS] {
        assert!(notes.contains(note), "{note}: {notes}");
    }
    let service = &plan["services"][0];
    let tags = Tags(
        service["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect(),
    );
    assert_eq!(service["attestations"], false);
    let argv = service["argv"].to_string();
    assert!(argv.contains("\"--load\""), "{argv}");
    // Not even an inline cache: its metadata gave every cached rebuild a new image id.
    for rejected in [
        "--cache-to",
        "--cache-from",
        "--sbom",
        "--provenance",
        "--platform",
        "--push",
    ] {
        assert!(!argv.contains(rejected), "{rejected} in {argv}");
    }

    // The build itself: the same notes, once each, and an image in the classic store.
    let o = legacy(&[&build[..], &["--json"]].concat());
    let err = common::stderr(&o);
    assert!(o.status.success(), "{err}");
    for note in [NO_CACHE_EXPORT, NO_ATTESTATIONS] {
        assert_eq!(err.matches(note).count(), 1, "{note}: {err}");
    }
    assert!(err.contains("(docker driver, BuildKit v0.8"), "{err}");
    let built = json(&o);
    assert_eq!(built["services"][0]["result"], "built", "{built}");
    let id = built["services"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let local = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &tags.0[0]])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    assert_eq!(common::stdout(&local).trim(), id);

    // Two platforms are refused before anything runs, with the way out.
    let o = legacy(&[&build[..], &["--platform", "linux/amd64,linux/386"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    let err = common::stderr(&o);
    assert!(err.contains(ONE_PLATFORM), "{err}");
    assert!(
        err.contains("cargo xtask engine up --engine modern"),
        "{err}"
    );

    // The image passes verify on this engine.
    let o = legacy(&[
        "--config",
        config,
        "verify",
        "--registry",
        &namespace,
        "--json",
    ]);
    assert!(
        o.status.success(),
        "verify: {}{}",
        common::stdout(&o),
        common::stderr(&o)
    );

    // Doctor: ready, and each gap a warning with its fix.
    let o = legacy_here(&["--config", config, "doctor", "--json"]);
    // Exit 0 unless the checkout itself is not ready (a dirty tree is a warning only).
    assert!(
        o.status.success(),
        "doctor: {}{}",
        common::stdout(&o),
        common::stderr(&o)
    );
    let report = json(&o);
    let check = |name: &str| -> (String, String, String) {
        let c = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no `{name}` check: {report}"));
        let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
        (s("status"), s("detail"), s("fix"))
    };
    let (status, detail, fix) = check("image store");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.starts_with("classic image store"), "{detail}");
    assert!(
        fix.contains("cargo xtask engine up --engine modern"),
        "{fix}"
    );
    let (status, detail, fix) = check("builder capabilities");
    assert_eq!(status, "warn", "{detail}");
    assert!(
        detail.starts_with("cache export: no, attestations: no"),
        "{detail}"
    );
    assert!(detail.contains("multi-platform: no"), "{detail}");
    assert!(fix.contains("--driver docker-container"), "{fix}");
    let (_, detail, _) = check("platforms");
    assert!(detail.contains("one per build"), "{detail}");
    let (status, detail, _) = check("docker daemon");
    assert_eq!(status, "ok");
    assert!(detail.starts_with("Docker Engine 20.10"), "{detail}");
}
