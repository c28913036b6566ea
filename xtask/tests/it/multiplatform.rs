//! One image for linux/amd64 and linux/arm64 through the whole toolkit on the modern engine
//! (Docker 26, containerd image store): the tests' own fixture service
//! (tests/fixtures/multiarch) is built, scanned and verified per platform and pushed to the
//! local registry with every platform; and a scan that fails for arm64 alone leaves the
//! registry with none of the release's tags. Skipped without the modern engine and its arm64
//! emulation, failed without them under `CI=true` or `XTASK_REQUIRE_MODERN_ENGINE=1`.

use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use crate::common::trivy::StandIn;
use crate::common::{self, modern_docker, modern_engine_available, stderr, stdout, MODERN_CONTEXT};

const REGISTRY: &str = "127.0.0.1:5000";
const CONFIG: &str = "xtask/tests/fixtures/multiarch/images.toml";
const SERVICE: &str = "multiarch";

/// The fixture's records and verdicts (target/xtask/{record,scan}/multiarch*) are one set:
/// its tests take turns.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// The modern engine answers and its builder has arm64 (emulation, and the arm64 base).
fn ready() -> bool {
    if !modern_engine_available() {
        return false;
    }
    let inspect = modern_docker(&["buildx", "inspect"]);
    if stdout(&inspect).contains("linux/arm64") {
        return true;
    }
    let required = std::env::var("CI").as_deref() == Ok("true")
        || std::env::var_os("XTASK_REQUIRE_MODERN_ENGINE").is_some_and(|v| v == "1");
    assert!(
        !required,
        "the modern engine builds no linux/arm64: `cargo xtask engine up --engine modern \
         --platforms linux/arm64` registers the emulation and seeds the arm64 base"
    );
    eprintln!("skipped: the modern engine builds no linux/arm64 (`engine up --engine modern --platforms linux/arm64`)");
    false
}

/// A namespace in the local registry of this test alone, and the engine's tags under it
/// removed when dropped (the registry keeps what was pushed: it has no delete API enabled).
struct Namespace(String);

impl Namespace {
    fn new(name: &str) -> Namespace {
        Namespace(format!("{REGISTRY}/mp-it-{name}-{}", std::process::id()))
    }

    fn repository(&self) -> String {
        format!("{}/{SERVICE}", self.0)
    }

    /// The tags the engine has for the fixture's repository in this namespace.
    fn local_tags(&self) -> Vec<String> {
        let o = modern_docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
        let repository = self.repository();
        stdout(&o)
            .lines()
            .filter(|l| l.rsplit_once(':').is_some_and(|(r, _)| r == repository))
            .map(str::to_owned)
            .collect()
    }

    /// The tags the registry has for the fixture's repository in this namespace.
    fn registry_tags(&self) -> Vec<String> {
        let path = self.repository().replacen(&format!("{REGISTRY}/"), "", 1);
        let o = Command::new("curl")
            .args(["-s", &format!("http://{REGISTRY}/v2/{path}/tags/list")])
            .output()
            .expect("curl runs");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        tags.retain(|t| t != "buildcache");
        tags.sort();
        tags
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let tags = self.local_tags();
        if !tags.is_empty() {
            let mut args = vec!["image", "rm", "--force"];
            args.extend(tags.iter().map(String::as_str));
            let _ = modern_docker(&args);
        }
    }
}

/// `cargo xtask --config <fixture> ARGS... --registry NS` on the modern engine, with the
/// stand-in trivy replaying `env`'s fixtures.
fn xtask(trivy: &StandIn, ns: &Namespace, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut full = vec!["--config", CONFIG];
    full.extend_from_slice(args);
    full.extend(["--registry", &ns.0]);
    let mut all = vec![("DOCKER_CONTEXT", MODERN_CONTEXT), ("DOCKER_HOST", "")];
    all.extend_from_slice(env);
    trivy.xtask(&full, &all)
}

fn succeeds(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// A report below the gate for every platform.
const CLEAN: (&str, &str) = ("TRIVY_STANDIN_FIXTURE", "distroless-base");

#[test]
fn one_image_for_amd64_and_arm64_is_built_scanned_verified_and_pushed_with_both() {
    if !ready() {
        return;
    }
    let _turn = turn();
    let ns = Namespace::new("ok");
    let trivy = StandIn::new();
    let build = xtask(&trivy, &ns, &["build"], &[]);
    succeeds(&build, "build");
    assert!(!stderr(&build).contains("--push"), "{}", stderr(&build));

    // The dry runs print one trivy run, one filesystem and one health run per platform.
    let planned = xtask(&trivy, &ns, &["scan", "--dry-run"], &[CLEAN]);
    succeeds(&planned, "scan --dry-run");
    let planned = stdout(&planned);
    for p in ["linux/amd64", "linux/arm64"] {
        let runs = planned
            .lines()
            .filter(|l| l.contains(&format!("--platform {p} ")))
            .count();
        assert_eq!(runs, 1, "{p}: {planned}");
    }
    let planned = xtask(&trivy, &ns, &["verify", "--dry-run"], &[]);
    succeeds(&planned, "verify --dry-run");
    let planned = stdout(&planned);
    for p in ["linux/amd64", "linux/arm64"] {
        let creates = planned
            .lines()
            .filter(|l| l.starts_with("docker create") && l.contains(&format!("--platform {p} ")))
            .count();
        let runs = planned
            .lines()
            .filter(|l| l.starts_with("docker run") && l.contains(&format!("--platform {p} ")))
            .count();
        assert_eq!((creates, runs), (1, 1), "{p}: {planned}");
    }

    let scan = xtask(&trivy, &ns, &["scan", "--json"], &[CLEAN]);
    succeeds(&scan, "scan");
    let scanned: serde_json::Value = serde_json::from_str(&stdout(&scan)).unwrap();
    let images: Vec<(&str, &str)> = scanned["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i["platform"].as_str().unwrap()))
        .collect();
    assert_eq!(
        images,
        [
            ("multiarch.linux-amd64", "linux/amd64"),
            ("multiarch.linux-arm64", "linux/arm64")
        ]
    );
    let platforms: Vec<String> = trivy
        .invocations()
        .iter()
        .filter_map(|argv| {
            let i = argv.iter().position(|a| a == "--platform")?;
            Some(argv[i + 1].clone())
        })
        .collect();
    assert_eq!(
        platforms,
        ["linux/amd64", "linux/arm64"],
        "one trivy run per platform"
    );
    let scan_dir = common::root().join("target/xtask/scan");
    for p in ["linux-amd64", "linux-arm64"] {
        assert!(
            scan_dir
                .join(format!("{SERVICE}.{p}.verdict.json"))
                .is_file(),
            "{p}"
        );
    }
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("target/xtask/record/multiarch.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["scan"]["passed"], true, "{record}");
    let scanned: Vec<&String> = record["scan"]["platforms"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(scanned, ["linux/amd64", "linux/arm64"], "{record}");

    let verify = xtask(&trivy, &ns, &["verify", "--json"], &[]);
    succeeds(&verify, "verify");
    let report: serde_json::Value = serde_json::from_str(&stdout(&verify)).unwrap();
    let names: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["multiarch (linux/amd64)", "multiarch (linux/arm64)"]
    );
    for image in report["images"].as_array().unwrap() {
        let healthy = image["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "healthy when hardened")
            .unwrap();
        assert_eq!(healthy["status"], "pass", "{image}");
    }

    let push = xtask(&trivy, &ns, &["push"], &[]);
    succeeds(&push, "push");
    let tags = ns.registry_tags();
    let immutable = format!("sha-{}", &common::git_head()[..7]);
    assert!(tags.contains(&immutable), "{tags:?}");
    for tag in &tags {
        let reference = format!("{}:{tag}", ns.repository());
        let o = modern_docker(&["buildx", "imagetools", "inspect", &reference]);
        let shown = stdout(&o);
        assert!(
            shown.contains("Platform:    linux/amd64")
                && shown.contains("Platform:    linux/arm64"),
            "{reference} lacks a platform:\n{shown}{}",
            stderr(&o)
        );
    }
}

#[test]
fn an_arm64_scan_that_fails_pushes_none_of_the_releases_tags() {
    if !ready() {
        return;
    }
    let _turn = turn();
    let ns = Namespace::new("bad");
    let trivy = StandIn::new();
    succeeds(&xtask(&trivy, &ns, &["build"], &[]), "build");
    // debian-buster has a CRITICAL vulnerability with a fixed version: arm64 alone fails.
    let scan = xtask(
        &trivy,
        &ns,
        &["scan"],
        &[
            CLEAN,
            (
                "TRIVY_STANDIN_PLATFORM_FIXTURE",
                "linux/arm64=debian-buster",
            ),
        ],
    );
    assert_eq!(
        scan.status.code(),
        Some(1),
        "{}{}",
        stdout(&scan),
        stderr(&scan)
    );
    let out = stdout(&scan);
    let row = |p: &str| {
        out.lines()
            .find(|l| l.contains(p))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(row("(linux/amd64)").ends_with("passed"), "{out}");
    assert!(row("(linux/arm64)").ends_with("FAILED"), "{out}");

    let push = xtask(&trivy, &ns, &["push"], &[]);
    assert_eq!(
        push.status.code(),
        Some(1),
        "{}{}",
        stdout(&push),
        stderr(&push)
    );
    assert!(
        stderr(&push).contains("(linux/arm64) did not pass"),
        "{}",
        stderr(&push)
    );
    assert_eq!(
        ns.registry_tags(),
        Vec::<String>::new(),
        "nothing was published"
    );
}
