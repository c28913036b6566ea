//! `verify --attestations` against a real registry: images the modern engine built with and
//! without provenance, SBOM and annotations, pushed to the registry `engine up` starts, then
//! read back there. Skipped without the modern engine, failed without it under `CI=true` or
//! `XTASK_REQUIRE_MODERN_ENGINE=1`.

use crate::common::{self, modern_docker, modern_engine_available, MODERN_CONTEXT};

const REGISTRY: &str = "127.0.0.1:5000";
const SCANNER: &str = "xtask/buildkit-syft-scanner:1.18.1";

/// A pushed test image, removed from the engine when dropped (the registry keeps it: it has
/// no delete API enabled, and the tag is this process's own).
struct Pushed(String);

impl Drop for Pushed {
    fn drop(&mut self) {
        let _ = modern_docker(&["rmi", "-f", &self.0]);
    }
}

/// Builds a one-step image on the bookworm base into the modern engine with `flags`, and
/// pushes it: the index goes to the registry as built.
fn build_and_push(name: &str, flags: &[&str]) -> Pushed {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM debian:bookworm-slim\nRUN echo {} > /built-by\nUSER 65534:65534\nCMD [\"true\"]\n",
            std::process::id()
        ),
    )
    .unwrap();
    let reference = format!("{REGISTRY}/xtask-it/{name}:{}", std::process::id());
    let pushed = Pushed(reference.clone());
    let mut args = vec![
        "buildx",
        "build",
        "--progress",
        "plain",
        "--tag",
        &reference,
    ];
    args.extend_from_slice(flags);
    args.extend(["--load", dir.path().to_str().unwrap()]);
    let build = modern_docker(&args);
    assert!(build.status.success(), "{}", common::stderr(&build));
    let push = modern_docker(&["push", &reference]);
    assert!(push.status.success(), "{}", common::stderr(&push));
    pushed
}

/// `verify --image REF --attestations --json` on the modern engine: each registry check's
/// status and reason.
fn registry_checks(reference: &str) -> Vec<(String, String, String)> {
    let out = common::xtask_env(
        &[
            "verify",
            "--image",
            reference,
            "--no-healthcheck",
            "--attestations",
            "--json",
        ],
        &[("DOCKER_CONTEXT", MODERN_CONTEXT)],
    );
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}", common::stderr(&out)));
    json["images"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "attestations" || c["name"] == "annotations")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("name"), s("status"), s("reason"))
        })
        .collect()
}

fn named<'a>(checks: &'a [(String, String, String)], name: &str) -> &'a (String, String, String) {
    checks
        .iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no {name} check in {checks:?}"))
}

#[test]
fn verify_reads_provenance_sbom_and_annotations_at_the_registry_and_fails_without_them() {
    if !modern_engine_available() {
        return;
    }
    let attested = build_and_push(
        "attested",
        &[
            "--provenance=mode=max",
            &format!("--sbom=generator={SCANNER}"),
            "--annotation",
            "index:org.opencontainers.image.title=attested",
        ],
    );
    let plain = build_and_push("plain", &["--provenance=false", "--sbom=false"]);

    let checks = registry_checks(&attested.0);
    let attestations = named(&checks, "attestations");
    assert_eq!(attestations.1, "pass", "{checks:?}");
    assert!(
        attestations.2.contains("provenance (mode=max)") && attestations.2.contains("Debian"),
        "{checks:?}"
    );
    // Only a title was annotated: the check names the keys the index lacks.
    let annotations = named(&checks, "annotations");
    assert_eq!(annotations.1, "fail", "{checks:?}");
    assert!(
        annotations
            .2
            .contains("org.opencontainers.image.revision missing")
            && !annotations.2.contains("title missing"),
        "{checks:?}"
    );

    let checks = registry_checks(&plain.0);
    let attestations = named(&checks, "attestations");
    assert_eq!(attestations.1, "fail", "{checks:?}");
    assert!(
        attestations.2.contains("no provenance") && attestations.2.contains("no SBOM"),
        "{checks:?}"
    );
}
