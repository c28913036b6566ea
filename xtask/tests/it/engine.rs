//! The modern engine as `cargo xtask engine up --engine modern` provisions it, used through
//! its docker context: the containerd image store, the stand-ins in its own store, a build
//! cache that outlives a builder prune, SBOM and provenance attestations made by the local
//! generator image, and (when its arm64 base is there) a two-platform build. Skipped without
//! the modern engine, failed without it under `CI=true` or `XTASK_REQUIRE_ENGINE=1`.

use std::sync::{Mutex, MutexGuard};

use crate::common::{self, modern_docker, modern_engine_available, stdout, MODERN_CONTEXT};

/// The registry `engine up` starts; the modern engine pushes there like the legacy one.
const REGISTRY: &str = "127.0.0.1:5000";
/// The SBOM generator engine.sh builds (`syft_version` there).
const SCANNER: &str = "xtask/buildkit-syft-scanner:1.18.1";

/// One test at a time: a builder prune empties the cache the others build with, and the
/// engine is asked about its builder and images while no other test changes them.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn ok(args: &[&str]) -> String {
    let o = modern_docker(args);
    assert!(
        o.status.success(),
        "docker --context {MODERN_CONTEXT} {args:?} failed: {}",
        common::stderr(&o)
    );
    format!("{}{}", stdout(&o), common::stderr(&o))
}

/// A tiny build context: two RUN steps on the bookworm stand-in.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM debian:bookworm-slim\nRUN echo {} > /run-id\nRUN sleep 1 && echo two > /two\n",
            std::process::id()
        ),
    )
    .unwrap();
    dir
}

/// Tags a test made in the modern engine, removed when dropped.
struct Tags(Vec<String>);

impl Drop for Tags {
    fn drop(&mut self) {
        for t in &self.0 {
            let _ = modern_docker(&["rmi", "-f", t]);
        }
    }
}

fn registry_answers() -> bool {
    std::net::TcpStream::connect(REGISTRY).is_ok()
}

#[test]
fn the_modern_engine_uses_the_containerd_image_store_and_holds_the_stand_ins() {
    if !modern_engine_available() {
        return;
    }
    let _turn = turn();
    let info = ok(&[
        "info",
        "--format",
        "{{.ServerVersion}} {{json .DriverStatus}}",
    ]);
    assert!(info.starts_with("26."), "{info}");
    assert!(
        info.contains(r#"["driver-type","io.containerd.snapshotter.v1"]"#),
        "{info}"
    );
    for image in [
        "debian:bookworm-slim",
        "rust:1.95-slim-bookworm",
        "node:20-bookworm-slim",
        "gcr.io/distroless/cc-debian12:nonroot",
        "busybox:stable",
        SCANNER,
    ] {
        ok(&["image", "inspect", "--format", "{{.Id}}", image]);
    }
    let status = common::xtask(&["engine", "status"]);
    let text = stdout(&status);
    assert!(status.status.success(), "{text}");
    assert!(text.contains("modern: running on unix://"), "{text}");
    assert!(text.contains("io.containerd.snapshotter.v1"), "{text}");
    let plan = stdout(&common::xtask(&[
        "engine",
        "up",
        "--engine",
        "modern",
        "--dry-run",
    ]));
    assert!(
        plan.contains("modern engine") && plan.contains("running on unix://"),
        "{plan}"
    );
}

#[test]
fn an_exported_cache_outlives_a_builder_prune_and_every_run_step_is_cached() {
    if !modern_engine_available() {
        return;
    }
    let _turn = turn();
    let ctx = fixture();
    let cache = ctx.path().join("cache");
    let cache = cache.to_str().unwrap();
    let tag = format!("xtask-it/modern-cache:{}", std::process::id());
    let _tags = Tags(vec![tag.clone()]);
    let dir = ctx.path().to_str().unwrap();
    let build = |cache_flag: &str| {
        ok(&[
            "buildx",
            "build",
            "--progress=plain",
            cache_flag,
            "-t",
            &tag,
            dir,
        ])
    };
    build(&format!("--cache-to=type=local,dest={cache},mode=max"));
    ok(&["buildx", "prune", "-af"]);
    let log = build(&format!("--cache-from=type=local,src={cache}"));
    // Each step's log is `#N [k/n] RUN ...` followed, for a reused one, by `#N CACHED`.
    let runs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("] RUN "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(runs.len(), 2, "{log}");
    for step in runs {
        assert!(
            log.contains(&format!("{step} CACHED")),
            "step {step} ran again:\n{log}"
        );
    }
}

#[test]
fn sbom_and_provenance_are_pushed_with_the_local_generator() {
    if !modern_engine_available() {
        return;
    }
    assert!(
        registry_answers(),
        "no registry on {REGISTRY}: `cargo xtask engine up --engine modern` starts it"
    );
    let _turn = turn();
    let ctx = fixture();
    let image = format!("{REGISTRY}/xtask-it/modern-sbom:{}", std::process::id());
    let _tags = Tags(vec![image.clone()]);
    ok(&[
        "buildx",
        "build",
        "--provenance=mode=max",
        &format!("--sbom=generator={SCANNER}"),
        "--push",
        "-t",
        &image,
        ctx.path().to_str().unwrap(),
    ]);
    let inspect = |what: &str| -> serde_json::Value {
        let out = ok(&[
            "buildx",
            "imagetools",
            "inspect",
            "--format",
            &format!("{{{{json .{what}}}}}"),
            &image,
        ]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what}: {e}: {out}"))
    };
    let sbom = inspect("SBOM");
    let packages: Vec<&str> = sbom["SPDX"]["packages"]
        .as_array()
        .unwrap_or_else(|| panic!("no SPDX packages: {sbom}"))
        .iter()
        .filter(|p| p["SPDXID"].as_str().is_some_and(|id| id.contains("-deb-")))
        .filter_map(|p| p["name"].as_str())
        .collect();
    for debian in ["base-files", "dpkg", "libc6", "apt"] {
        assert!(
            packages.contains(&debian),
            "{debian} missing from {packages:?}"
        );
    }
    let provenance = inspect("Provenance");
    assert_eq!(
        provenance["SLSA"]["buildType"], "https://mobyproject.org/buildkit@v1",
        "{provenance}"
    );
}

#[test]
fn two_platforms_build_in_one_go_when_the_arm64_base_is_there() {
    if !modern_engine_available() {
        return;
    }
    let _turn = turn();
    let platforms = ok(&["buildx", "inspect"]);
    let index = ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "debian:bookworm-slim",
    ]);
    // engine.sh records the index it tagged debian:bookworm-slim as, in its state directory.
    let state = std::env::var_os("XTASK_ENGINE_STATE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::root().join("target/engine"));
    let base = std::fs::read_to_string(state.join("modern/base-index.digest"));
    if !platforms.contains("linux/arm64") || base.map(|b| b.trim() != index.trim()).unwrap_or(true)
    {
        // The arm64 base takes minutes to make: only `engine up --engine modern --platforms
        // linux/arm64` makes it, and this test does not.
        eprintln!("skipped: no arm64 emulation or base here (`cargo xtask engine up --engine modern --platforms linux/arm64`)");
        return;
    }
    assert!(registry_answers(), "no registry on {REGISTRY}");
    let ctx = fixture();
    let image = format!("{REGISTRY}/xtask-it/modern-multi:{}", std::process::id());
    // The containerd image store keeps what it pushed: removed again when the test ends.
    let _tags = Tags(vec![image.clone()]);
    ok(&[
        "buildx",
        "build",
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
        "-t",
        &image,
        ctx.path().to_str().unwrap(),
    ]);
    let raw = ok(&["buildx", "imagetools", "inspect", "--raw", &image]);
    for arch in ["\"amd64\"", "\"arm64\""] {
        assert!(raw.contains(arch), "{arch} missing from {raw}");
    }
}
