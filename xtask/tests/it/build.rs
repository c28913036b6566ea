//! `cargo xtask build` as a user runs it: exit codes, `--dry-run --json`, and real builds on
//! the real engine.

use std::time::Duration;

use crate::common::*;
use serde_json::Value;

#[test]
fn dry_run_json_describes_every_service() {
    let o = xtask(&[
        "build",
        "--dry-run",
        "--json",
        "--builder-inspect",
        "xtask/tests/fixtures/buildx/docker.txt",
        "--registry",
        "registry.test/acme",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).expect("stdout is one JSON document");
    let planned = plan["services"].as_array().unwrap();
    let names: Vec<&str> = planned
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, services());
    let head = git_head();
    for s in planned {
        let image = s["image"].as_str().unwrap();
        assert!(image.starts_with("registry.test/acme/"), "{image}");
        let tags: Vec<&str> = s["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            tags.iter().all(|t| t.starts_with(&format!("{image}:"))),
            "{tags:?}"
        );
        assert!(
            tags.contains(&format!("{image}:sha-{}", revision()).as_str()),
            "{tags:?}"
        );
        assert_eq!(
            s["labels"]["org.opencontainers.image.revision"],
            head.as_str()
        );
        let argv: Vec<&str> = s["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(argv[..3], ["docker", "buildx", "build"]);
        assert_eq!(argv.last(), Some(&"."));
        for t in &tags {
            assert!(
                argv.windows(2).any(|w| w == ["--tag", *t]),
                "{t} missing from {argv:?}"
            );
        }
    }
}

#[test]
fn dry_run_prints_commands_that_can_be_pasted() {
    let o = xtask(&[
        "build",
        "--dry-run",
        "--builder-inspect",
        "xtask/tests/fixtures/buildx/docker.txt",
        "api",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l.starts_with("docker buildx build ")
            && l.contains(" --file xtask/docker/api.Dockerfile ")),
        "{out}"
    );
    assert!(
        !out.contains("web.Dockerfile"),
        "only the named service is planned: {out}"
    );
}

#[test]
fn unknown_service_is_a_usage_error() {
    let o = xtask(&["build", "--dry-run", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("unknown service `nope`") && err.contains(&services().join(", ")),
        "{err}"
    );
}

#[test]
fn broken_config_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("images.toml");
    std::fs::write(
        &path,
        "[project]\nname = \"x\"\n[services.api]\ndockerfile = \"a\"\nsize_budget = 1\n",
    )
    .unwrap();
    let o = xtask(&["--config", path.to_str().unwrap(), "build", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("images.toml") && err.contains("size_budget"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "one clear error: {err}"
    );
}

#[test]
fn a_failing_service_does_not_hide_the_others() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("good.Dockerfile"),
        "FROM busybox:stable\nUSER 65534\nCMD [\"true\"]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("bad.Dockerfile"),
        "FROM busybox:stable\nRUN echo about to fail && false\n",
    )
    .unwrap();
    let config = format!(
        "[project]\nname = \"xtask-itest\"\n[build]\nsbom_generator = \"xtask/buildkit-syft-scanner:1.18.1\"\n\
         [services.good]\ndockerfile = \"{0}/good.Dockerfile\"\ncontext = \"{0}\"\nsize_budget_mb = 10\n\
         [services.bad]\ndockerfile = \"{0}/bad.Dockerfile\"\ncontext = \"{0}\"\nsize_budget_mb = 10\n",
        d.display()
    );
    std::fs::write(d.join("images.toml"), config).unwrap();
    let o = xtask(&[
        "--config",
        d.join("images.toml").to_str().unwrap(),
        "build",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let result = |name: &str| {
        report["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(result("good")["result"], "built");
    assert!(result("good")["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(result("bad")["result"], "failed");
    assert!(result("bad")["error"]
        .as_str()
        .unwrap()
        .contains("about to fail"));
    assert!(
        stderr(&o).contains("build failed for bad"),
        "{}",
        stderr(&o)
    );
}

/// The main job: every service's image builds and carries the computed tags and labels, and
/// each health-checked service runs healthy as a non-root user under hardened options.
#[test]
fn builds_all_services_which_run_healthy_as_non_root() {
    if !engine_available() {
        return;
    }
    let _turn = repository_images();
    let ns = "xtask-itest";
    let o = xtask(&["build", "--registry", ns, "--json"]);
    assert!(o.status.success(), "build failed: {}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let head = git_head();
    let built: Vec<&str> = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(built, services(), "every configured service is built");
    for s in report["services"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["result"], "built", "{name}: {s}");
        let id = s["image_id"].as_str().unwrap();
        for tag in s["tags"].as_array().unwrap() {
            let reference = format!("{ns}/{name}:{}", tag.as_str().unwrap());
            assert_eq!(
                docker_ok(&["image", "inspect", "-f", "{{.Id}}", &reference]),
                id,
                "{reference}"
            );
        }
        let labels: Value = serde_json::from_str(&docker_ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Labels}}",
            id,
        ]))
        .unwrap();
        assert_eq!(labels["org.opencontainers.image.revision"], head.as_str());
        assert_eq!(labels["org.opencontainers.image.title"], name);
        assert!(labels["org.opencontainers.image.created"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
        let user = docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", id]);
        assert!(
            !user.is_empty() && user != "root" && !user.starts_with("0:") && user != "0",
            "{name} runs as `{user}`"
        );
    }
    for name in health_checked_services() {
        let image = format!("{ns}/{name}:sha-{}", revision());
        let c = Container::run(&[
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "-e",
            "API_URL=http://127.0.0.1:9",
            &image,
        ]);
        c.wait_healthy(Duration::from_secs(60));
        let uids = process_uids(&c.0);
        assert!(
            !uids.is_empty() && uids.iter().all(|u| u != "0"),
            "{name} runs as {uids:?}"
        );
    }
}

/// The tests' own multi-platform service (tests/fixtures/multiarch).
const MULTIARCH: &str = "xtask/tests/fixtures/multiarch/images.toml";

/// `build --dry-run --json` against a recorded builder (`--builder-inspect`), of `api`
/// unless `extra` names another config (and its service).
fn plan_for_recorded(fixture: &str, extra: &[&str]) -> (Value, String) {
    let path = format!("xtask/tests/fixtures/buildx/{fixture}");
    let mut args = vec![
        "build",
        "--dry-run",
        "--json",
        "--builder-inspect",
        path.as_str(),
        "--registry",
        "127.0.0.1:5000/acme",
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--config") {
        args.push("api");
    }
    let o = xtask_env(&args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    (serde_json::from_str(&stdout(&o)).unwrap(), stderr(&o))
}

#[test]
fn recorded_containerd_store_plans_registry_cache_two_platforms_load_and_attestations() {
    // The tests' own multi-platform service: api and web are never built for arm64 here.
    let (plan, notes) = plan_for_recorded(
        "docker-containerd.txt",
        &[
            "--config",
            MULTIARCH,
            "--platform",
            "linux/amd64,linux/arm64",
            "multiarch",
        ],
    );
    assert_eq!(plan["driver"], "docker");
    assert_eq!(plan["cache"], "registry");
    let api = &plan["services"][0];
    assert_eq!(
        api["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    assert_eq!(api["attestations"], true);
    let argv: Vec<&str> = api["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let has = |pair: [&str; 2]| argv.windows(2).any(|w| w == pair);
    assert!(has(["--builder", "desktop-linux"]), "{argv:?}");
    assert!(has(["--platform", "linux/amd64,linux/arm64"]), "{argv:?}");
    assert!(
        has([
            "--cache-to",
            "type=registry,ref=127.0.0.1:5000/acme/multiarch:buildcache,mode=max,ignore-error=true"
        ]),
        "{argv:?}"
    );
    assert!(
        has([
            "--cache-from",
            "type=registry,ref=127.0.0.1:5000/acme/multiarch:buildcache"
        ]),
        "{argv:?}"
    );
    // The SBOM generator the config pins, not BuildKit's default (pulled from Docker Hub).
    assert!(
        argv.contains(&"--sbom=generator=xtask/buildkit-syft-scanner:1.18.1")
            && argv.contains(&"--provenance=mode=max"),
        "{argv:?}"
    );
    // A build never pushes: every platform goes to the local store, for scan and verify.
    assert!(argv.contains(&"--load") && !argv.contains(&"--push"));
    assert!(plan["services"][0].get("followups").is_none(), "{api}");
    assert!(notes.contains("shares it"), "{notes}");
}

#[test]
fn two_platforms_on_a_builder_that_cannot_load_them_are_a_usage_error() {
    let o = xtask_env(
        &[
            "build",
            "--dry-run",
            "--builder-inspect",
            "xtask/tests/fixtures/buildx/remote.txt",
            "--registry",
            "127.0.0.1:5000/acme",
            "--platform",
            "linux/amd64,linux/arm64",
            "--config",
            MULTIARCH,
            "multiarch",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("cannot load a multi-platform image")
            && e.contains("cargo xtask engine up --engine modern"),
        "{e}"
    );
    assert!(stdout(&o).is_empty(), "nothing is planned: {}", stdout(&o));
}

#[test]
fn recorded_docker_driver_plans_none_of_it_and_says_why() {
    let (plan, notes) = plan_for_recorded("docker.txt", &[]);
    assert_eq!(plan["driver"], "docker");
    assert_eq!(plan["cache"], "engine");
    let api = &plan["services"][0];
    assert_eq!(api["attestations"], false);
    assert_eq!(api["platforms"], serde_json::json!([]));
    let argv = api["argv"].to_string();
    for rejected in [
        "type=registry",
        "type=local",
        "--sbom",
        "--provenance",
        "--platform",
        "--push",
    ] {
        assert!(!argv.contains(rejected), "{rejected} in {argv}");
    }
    assert!(notes.contains("cannot export build cache"), "{notes}");
    assert!(
        notes.contains("cannot attach SBOM or provenance attestations"),
        "{notes}"
    );

    let o = xtask_env(
        &[
            "build",
            "--dry-run",
            "--builder-inspect",
            "xtask/tests/fixtures/buildx/docker.txt",
            "--registry",
            "127.0.0.1:5000/acme",
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot build: it has linux/amd64, linux/386"),
        "{}",
        stderr(&o)
    );
}
