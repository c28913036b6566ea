//! `cargo xtask scan` as a user runs it, end to end on a stand-in trivy that replays
//! reports in trivy's format (xtask/tests/fixtures/trivy and xtask/tests/fixtures/reports).
//!
//! `--image replay/<fixture>:<test>` makes the stand-in write `<fixture>.json.golden`; the tag
//! keeps each test's report file apart, since tests run in parallel.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::trivy::{fixtures, StandIn};
use crate::common::*;
use serde_json::Value;

fn json(o: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\nstderr: {}",
            stdout(o),
            stderr(o)
        )
    })
}

/// From the last line that starts with `error: ` to the end of stderr.
fn last_error(o: &std::process::Output) -> String {
    let err = format!("\n{}", stderr(o));
    let start = err.rfind("\nerror: ").expect("an error: line");
    err[start + 1..].to_owned()
}

#[test]
fn fixable_high_and_critical_fail_with_the_findings_listed() {
    let s = StandIn::new();
    let o = s.scan(
        &[
            "--image",
            "replay/debian-buster:gate",
            "--image",
            "replay/photon-30:gate",
        ],
        "report",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "replay/debian-buster:gate  1/0       0/0   0/0     0/1  0        0        FAILED",
        "replay/photon-30:gate      2/0       1/0   0/0     0/0  0        0        FAILED",
        "CRITICAL  CVE-2019-18224  libidn2-0  2.0.5-1 -> 2.0.5-1+deb10u1",
        "CRITICAL  CVE-2019-5481   curl-libs  7.61.1-4.ph3 -> 7.61.1-5.ph3",
    ] {
        assert!(out.contains(line), "`{line}` missing from:\n{out}");
    }
    let err = last_error(&o);
    assert!(
        err.contains("replay/debian-buster:gate, replay/photon-30:gate")
            && err.contains("docs/scanning.md"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one final error line: {err}");
}

#[test]
fn unfixed_high_passes_by_default_and_fails_when_configured() {
    let s = StandIn::new();
    let o = s.scan(&["--image", "replay/mariner-1.0:default"], "report");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("0/1"), "{}", stdout(&o));
    let config = s.config("[scan]\nignore_unfixed = false");
    let o = s.scan(
        &[
            "--image",
            "replay/mariner-1.0:strict",
            "--json",
            "--config",
            &config,
        ],
        "report",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["images"][0]["counts"]["failing"], 1);
    assert_eq!(report["images"][0]["findings"][0]["id"], "CVE-2022-0261");
    assert_eq!(report["images"][0]["findings"][0]["status"], "fails");
}

#[test]
fn medium_only_and_clean_reports_pass() {
    let s = StandIn::new();
    let o = s.scan(
        &[
            "--image",
            "replay/alpine-310:clean",
            "--image",
            "replay/cargo.lock:clean",
            "--json",
        ],
        "report",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["passed"], true);
    let images = report["images"].as_array().unwrap();
    assert_eq!(images[0]["counts"]["medium"]["fixed"], 4);
    assert_eq!(images[1]["findings"].as_array().unwrap().len(), 0);
    assert!(images.iter().all(|i| i["passed"] == true));
}

#[test]
fn secrets_fail() {
    let s = StandIn::new();
    let o = s.scan(&["--image", "replay/secrets:gate"], "report");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("aws-access-key-id") && out.contains("deploy.sh:3"),
        "{out}"
    );
}

#[test]
fn an_ignore_entry_suppresses_exactly_its_finding() {
    let s = StandIn::new();
    let config = s.ignoring(
        "vulnerabilities:\n  - id: CVE-2019-5481\n    purls: [pkg:rpm/photon/curl-libs]\n    statement: curl-libs is not loaded by the service\n",
    );
    let o = s.scan(
        &[
            "--image",
            "replay/photon-30:ignore",
            "--json",
            "--config",
            &config,
        ],
        "report",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let image = &json(&o)["images"][0];
    assert_eq!(image["counts"]["ignored"], 1);
    assert_eq!(image["counts"]["failing"], 2);
    let ignored: Vec<&Value> = image["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "ignored")
        .collect();
    assert_eq!(ignored.len(), 1);
    assert_eq!(ignored[0]["package"], "curl-libs");
    assert_eq!(
        ignored[0]["statement"],
        "curl-libs is not loaded by the service"
    );

    let config = s.ignoring(
        "vulnerabilities:\n  - id: CVE-2019-18224\n    statement: not reachable\n    expired_at: 2999-01-01\n",
    );
    let o = s.scan(
        &[
            "--image",
            "replay/debian-buster:ignore",
            "--config",
            &config,
        ],
        "report",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("CRITICAL CVE-2019-18224 ignored: not reachable"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_expired_entry_does_not_ignore_and_is_reported() {
    let s = StandIn::new();
    let config = s.ignoring(
        "vulnerabilities:\n  - id: CVE-2019-18224\n    statement: not reachable\n    expired_at: 2020-01-01\n",
    );
    let o = s.scan(
        &[
            "--image",
            "replay/debian-buster:expired",
            "--config",
            &config,
        ],
        "report",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("CVE-2019-18224 counts again: its entry in")
            && stdout(&o).contains("expired on 2020-01-01"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_entry_without_statement_is_a_usage_error() {
    let s = StandIn::new();
    let config = s.ignoring("vulnerabilities:\n  - id: CVE-2019-18224\n");
    let o = s.scan(
        &[
            "--image",
            "replay/debian-buster:nostatement",
            "--config",
            &config,
        ],
        "report",
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = last_error(&o);
    assert!(
        err.contains("ignore.yaml: vulnerabilities[0] (id CVE-2019-18224) has no `statement`"),
        "{err}"
    );
    assert!(s.invocations().is_empty(), "trivy must not run");
}

#[test]
fn broken_trivy_runs_are_errors_naming_the_image_with_trivys_output() {
    for (mode, says) in [
        ("fail", "unable to find the specified image"),
        ("malformed", "not a trivy JSON report"),
        ("empty", "the report is empty"),
        ("no-report", "wrote no report"),
    ] {
        let s = StandIn::new();
        let image = format!("replay/alpine-310:{mode}");
        let o = s.scan(&["--image", &image], mode);
        // A tool that broke judged nothing: exit 4, not a gate's 1.
        assert_eq!(o.status.code(), Some(4), "{mode}: {}", stderr(&o));
        let err = last_error(&o);
        assert!(
            err.contains(&format!("could not scan {image}")),
            "{mode}: {err}"
        );
        assert!(err.contains(says), "{mode}: {err}");
        assert!(
            err.contains("INFO [vuln] Vulnerability scanning is enabled"),
            "{mode}: trivy's output is shown: {err}"
        );
        assert!(stdout(&o).contains("ERROR"), "{mode}: {}", stdout(&o));
    }
}

#[test]
fn a_scan_past_the_timeout_is_stopped() {
    let s = StandIn::new();
    let started = Instant::now();
    let o = s.scan(
        &["--image", "replay/alpine-310:slow", "--timeout", "1"],
        "sleep",
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = last_error(&o);
    assert!(
        err.contains("replay/alpine-310:slow") && err.contains("did not finish within 1s"),
        "{err}"
    );
}

#[test]
fn trivy_runs_once_per_image_with_json_output_and_cache() {
    let s = StandIn::new();
    let o = s.scan(
        &[
            "--image",
            "replay/alpine-310:argv",
            "--image",
            "replay/cargo.lock:argv",
            "--db-repository",
            "mirror.example/trivy-db",
            "--skip-db-update",
        ],
        "report",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = s.invocations();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for (run, name) in runs.iter().zip(["alpine-310", "cargo.lock"]) {
        let has = |flag: &str, value: &str| run.windows(2).any(|w| w[0] == flag && w[1] == value);
        assert_eq!(run[0], "image");
        assert!(has("--scanners", "vuln,secret"), "{run:?}");
        assert!(has("--format", "json"), "{run:?}");
        assert!(has("--db-repository", "mirror.example/trivy-db"), "{run:?}");
        assert!(run.contains(&"--skip-db-update".to_owned()), "{run:?}");
        // A report file of this run's own (named by its process id), kept under the
        // image's name once read.
        let output = &run[run.iter().position(|a| a == "--output").unwrap() + 1];
        let own = output
            .strip_prefix(&format!(
                "{}/target/xtask/scan/replay_{name}_argv.",
                root().display()
            ))
            .and_then(|rest| rest.strip_suffix(".trivy.json"))
            .unwrap_or_else(|| panic!("{output}"));
        assert!(own.parse::<u32>().is_ok(), "{output}");
        assert!(!Path::new(output).exists(), "{output} is moved into place");
        let output = root().join(format!("target/xtask/scan/replay_{name}_argv.trivy.json"));
        let cache = run
            .iter()
            .position(|a| a == "--cache-dir")
            .expect("--cache-dir");
        assert!(Path::new(&run[cache + 1]).is_absolute(), "{run:?}");
        assert_eq!(run.last().unwrap(), &format!("replay/{name}:argv"));
        assert!(output.is_file());
    }
}

#[test]
fn sarif_has_one_result_per_finding_and_is_stable() {
    let s = StandIn::new();
    let mut texts = Vec::new();
    for n in ["1", "2"] {
        let sarif = s.path(&format!("{n}.sarif"));
        let o = s.scan(
            &[
                "--image",
                "replay/photon-30:sarif",
                "--image",
                "replay/secrets:sarif",
                "--sarif",
                sarif.to_str().unwrap(),
            ],
            "report",
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        texts.push(std::fs::read(&sarif).unwrap());
    }
    assert_eq!(texts[0], texts[1], "SARIF differs between runs");
    let sarif: Value = serde_json::from_slice(&texts[0]).expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let ids: Vec<&str> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "CVE-2019-5481",
            "CVE-2019-5481",
            "CVE-2019-18276",
            "aws-access-key-id",
            "mysecret"
        ]
    );
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for r in run["results"].as_array().unwrap() {
        assert_eq!(
            rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"],
            r["ruleId"]
        );
    }
}

#[test]
fn github_step_summary_gets_markdown() {
    let s = StandIn::new();
    let summary = s.path("summary.md");
    std::fs::write(&summary, "## Build\n").unwrap();
    let path = format!(
        "{}:{}",
        s.path("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let o = xtask_env(
        &["scan", "--image", "replay/debian-buster:summary"],
        &[
            ("PATH", &path),
            ("TRIVY_STANDIN_FIXTURES", fixtures().to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## Build\n## Image scan"), "{md}");
    assert!(
        md.contains("| replay/debian-buster:summary | 1/0 |"),
        "{md}"
    );
    assert!(md.contains("| CRITICAL | CVE-2019-18224 |"), "{md}");
}

#[test]
fn a_service_never_built_says_to_build_it_first() {
    let s = StandIn::new();
    let config = s.path("ghost.toml");
    std::fs::write(
        &config,
        "[project]\nname = \"xtask-itest\"\n[services.ghost-never-built]\ndockerfile = \"x.Dockerfile\"\nsize_budget_mb = 1\n",
    )
    .unwrap();
    let o = s.scan(&["--config", config.to_str().unwrap()], "report");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("ghost-never-built")
            && err.contains("build it first: cargo xtask build ghost-never-built"),
        "{err}"
    );
    assert!(s.invocations().is_empty());
}

/// A service's image is the one `build` recorded; its verdict is kept for that image id.
#[test]
fn scanning_a_built_service_records_its_verdict_by_image_id() {
    if !engine_available() {
        return;
    }
    let s = StandIn::new();
    let d = s.path("");
    let d = d.as_path();
    std::fs::write(
        d.join("tiny.Dockerfile"),
        "FROM busybox:stable\nUSER 65534\nCMD [\"true\"]\n",
    )
    .unwrap();
    let config = d.join("images.toml");
    std::fs::write(
        &config,
        format!(
            "[project]\nname = \"xtask-itest\"\n[build]\nsbom_generator = \"xtask/buildkit-syft-scanner:1.18.1\"\n[services.scan-tiny]\ndockerfile = \"{0}/tiny.Dockerfile\"\ncontext = \"{0}\"\nsize_budget_mb = 10\n",
            d.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // Built and scanned in the same view of the repository (as committed).
    let o = s.xtask(&["--config", config, "build", "scan-tiny"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = std::fs::read_to_string(root().join("target/xtask/build/scan-tiny.iid")).unwrap();
    let image = format!("xtask-itest/scan-tiny:sha-{}", &git_head()[..7]);

    for (fixture, passed) in [("alpine-310", true), ("debian-buster", false)] {
        let o = s.scan_env(
            &["scan-tiny", "--config", config, "--json"],
            &[("TRIVY_STANDIN_FIXTURE", fixture)],
        );
        assert_eq!(o.status.success(), passed, "{}", stderr(&o));
        assert_eq!(s.invocations().last().unwrap().last(), Some(&image));
        let verdict: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("target/xtask/scan/scan-tiny.verdict.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(verdict["image_id"], id.trim());
        assert_eq!(verdict["image"], image.as_str());
        assert_eq!(verdict["passed"], passed);
    }
}

/// A stand-in `docker` for scans and pushes of a service that was "built" as `$FAKE_IMAGE_ID`
/// (written to `target/xtask/build/<service>.iid` by [`FakeBuild`]): it logs every argv to
/// `$FAKE_DOCKER_LOG`, answers `image inspect` with that image (tagged `$FAKE_REPO_TAGS`) and
/// succeeds at everything else. No engine is touched.
pub(crate) const FAKE_DOCKER: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_DOCKER_LOG"
case "$*" in
  'image inspect --format {{json .RepoTags}} '*) printf '%s\n' "$FAKE_REPO_TAGS" ;;
  'image inspect --format {{.Id}} '*) printf '%s\n' "$FAKE_IMAGE_ID" ;;
  'image inspect '*) printf '[{"Id": "%s", "Size": 1000000, "RepoTags": %s, "Config": {"User": "65534", "Cmd": ["true"]}}]\n' "$FAKE_IMAGE_ID" "${FAKE_REPO_TAGS:-[]}" ;;
  'version'*) echo 27.0.0 ;;
  # The registry holds nothing yet: push's look at the immutable tag finds it absent.
  'manifest inspect'*) echo 'no such manifest' >&2; exit 1 ;;
esac
exit 0
"#;

/// The image id the fake `docker` says a service was built as.
pub(crate) const FAKE_IMAGE_ID: &str =
    "sha256:7d0c0ffee7d0c0ffee7d0c0ffee7d0c0ffee7d0c0ffee7d0c0ffee7d0c0ffee7";

/// `target/xtask/build/<service>.iid` naming [`FAKE_IMAGE_ID`], and the service's files under
/// target/xtask/scan (and its build record, when a test wrote one), removed when dropped.
pub(crate) struct FakeBuild(pub String);

impl FakeBuild {
    pub fn new(service: &str) -> FakeBuild {
        let iid = root().join(format!("target/xtask/build/{service}.iid"));
        std::fs::create_dir_all(iid.parent().unwrap()).unwrap();
        std::fs::write(&iid, format!("{FAKE_IMAGE_ID}\n")).unwrap();
        FakeBuild(service.to_owned())
    }

    pub fn verdict(&self) -> std::path::PathBuf {
        root().join(format!("target/xtask/scan/{}.verdict.json", self.0))
    }
}

impl Drop for FakeBuild {
    fn drop(&mut self) {
        let s = &self.0;
        for f in [
            format!("target/xtask/build/{s}.iid"),
            format!("target/xtask/record/{s}.json"),
            format!("target/xtask/scan/{s}.verdict.json"),
            format!("target/xtask/scan/{s}.trivy.json"),
            format!("target/xtask/scan/{s}.trivy.log"),
        ] {
            let _ = std::fs::remove_file(root().join(f));
        }
    }
}

/// Puts [`FAKE_DOCKER`] into the stand-in's bin directory; returns the environment it needs
/// (its log is `docker.log` in the stand-in's directory).
pub(crate) fn fake_docker(s: &StandIn, repo_tags: &[String]) -> Vec<(String, String)> {
    let docker = s.path("bin/docker");
    std::fs::write(&docker, FAKE_DOCKER).unwrap();
    std::process::Command::new("chmod")
        .args(["+x", docker.to_str().unwrap()])
        .status()
        .unwrap();
    vec![
        (
            "FAKE_DOCKER_LOG".into(),
            s.path("docker.log").display().to_string(),
        ),
        ("FAKE_IMAGE_ID".into(), FAKE_IMAGE_ID.into()),
        (
            "FAKE_REPO_TAGS".into(),
            serde_json::to_string(repo_tags).unwrap(),
        ),
    ]
}

/// A fake trivy that writes a report for the image it is asked to scan, chosen by its
/// name: one with a fixable CRITICAL for `*/bad/*` (written at once, then it lingers), a
/// clean one for `*/good/*` (written after a second). Run at the same time, the good scan
/// writes while the bad one is still running.
const RACING_TRIVY: &str = r#"#!/bin/sh
prev= out= image=
for a in "$@"; do [ "$prev" = --output ] && out=$a; prev=$a; image=$a; done
case "$image" in
  */bad/*)
    printf '{"SchemaVersion": 2, "ArtifactName": "%s", "Results": [{"Target": "%s (debian 10.1)", "Vulnerabilities": [{"VulnerabilityID": "CVE-2019-18224", "PkgName": "libidn2-0", "InstalledVersion": "2.0.5-1", "FixedVersion": "2.0.5-1+deb10u1", "Severity": "CRITICAL"}]}]}\n' "$image" "$image" >"$out"
    sleep 3 ;;
  */good/*)
    sleep 1
    printf '{"SchemaVersion": 2, "ArtifactName": "%s", "Results": []}\n' "$image" >"$out" ;;
esac
exit 0
"#;

/// Two `scan` runs of one service at once, in one checkout, of two images (as when two
/// terminals scan after builds for different namespaces): each gates the report of its own
/// image, never the other's.
#[test]
fn two_scans_at_once_each_read_their_own_report() {
    let s = StandIn::new();
    std::fs::write(s.path("bin/trivy"), RACING_TRIVY).unwrap();
    let sha7 = &git_head()[..7];
    let built = FakeBuild::new("vd-race");
    let refs: Vec<String> = ["bad", "good"]
        .iter()
        .map(|ns| format!("127.0.0.1:5999/{ns}/vd-race:sha-{sha7}"))
        .collect();
    let env = fake_docker(&s, &refs);
    let config = s.path("race.toml");
    std::fs::write(
        &config,
        "[project]\nname = \"xtask-itest\"\n[services.vd-race]\ndockerfile = \"x.Dockerfile\"\nsize_budget_mb = 1\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let run = |ns: &'static str| {
        let (s, env, config) = (&s, env.clone(), config.clone());
        move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let registry = format!("127.0.0.1:5999/{ns}");
            s.scan_env(
                &[
                    "vd-race",
                    "--config",
                    &config,
                    "--registry",
                    &registry,
                    "--json",
                ],
                &env,
            )
        }
    };
    let (bad, good) = std::thread::scope(|scope| {
        let bad = scope.spawn(run("bad"));
        let good = scope.spawn(run("good"));
        (bad.join().unwrap(), good.join().unwrap())
    });
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let bad = json(&bad);
    assert_eq!(bad["images"][0]["counts"]["critical"]["fixed"], 1, "{bad}");
    assert_eq!(bad["images"][0]["findings"][0]["id"], "CVE-2019-18224");
    assert!(good.status.success(), "{}", stderr(&good));
    let good = json(&good);
    assert_eq!(good["images"][0]["findings"].as_array().unwrap().len(), 0);
    drop(built);
}

/// The offline route: `scan --replay` (or XTASK_SCAN_REPLAY) runs no trivy, says on every
/// run, human or JSON, that it judged a recorded report and not the image, marks the
/// verdict as a replay, and `push` refuses that verdict unless told to allow it.
#[test]
fn a_replay_runs_no_trivy_says_so_and_push_refuses_it_unless_allowed() {
    let s = StandIn::new();
    let built = FakeBuild::new("vd-replay");
    let image = format!("127.0.0.1:5999/acme/vd-replay:sha-{}", &git_head()[..7]);
    crate::record::write_record(
        "vd-replay",
        "127.0.0.1:5999/acme/vd-replay",
        FAKE_IMAGE_ID,
        &[format!("sha-{}", &git_head()[..7])],
        false,
    );
    let env = fake_docker(&s, std::slice::from_ref(&image));
    let config = s.path("replay.toml");
    std::fs::write(
        &config,
        "[project]\nname = \"xtask-itest\"\n[services.vd-replay]\ndockerfile = \"x.Dockerfile\"\nsize_budget_mb = 1\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.extend_from_slice(extra);
        let mut full = vec!["--config", config];
        full.extend_from_slice(args);
        s.xtask(&full, &env)
    };
    let says_replay = |o: &std::process::Output| {
        let err = stderr(o);
        assert!(
            err.contains("REPLAY: the results above are the recorded report xtask/replay/distroless-base.json")
                && err.contains("not a scan of 127.0.0.1:5999/acme/vd-replay")
                && err.contains("--allow-replayed-scan"),
            "{err}"
        );
    };
    let registry = ["--registry", "127.0.0.1:5999/acme"];

    let o = run(
        &[
            "scan",
            "vd-replay",
            registry[0],
            registry[1],
            "--replay",
            "distroless-base",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    says_replay(&o);
    assert!(stdout(&o).contains("passed (replay)"), "{}", stdout(&o));
    assert!(s.invocations().is_empty(), "no trivy runs");
    let verdict: Value =
        serde_json::from_str(&std::fs::read_to_string(built.verdict()).unwrap()).unwrap();
    assert_eq!(verdict["replay"], "xtask/replay/distroless-base.json");

    // The environment switch, as `ci` carries it to its scan stage; JSON says it too.
    let o = run(
        &["scan", "vd-replay", registry[0], registry[1], "--json"],
        &[("XTASK_SCAN_REPLAY", "distroless-base")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    says_replay(&o);
    let report = json(&o);
    assert_eq!(
        report["replay"]["report"],
        "xtask/replay/distroless-base.json"
    );
    assert_eq!(
        report["replay"]["of"],
        "testdata/fixtures/images/distroless-base.tar.gz"
    );
    assert_eq!(
        report["images"][0]["replay"],
        "xtask/replay/distroless-base.json"
    );
    assert_eq!(report["images"][0]["counts"]["medium"]["unfixed"], 2);

    let push = |allow: &[&str], extra: &[(&str, &str)]| {
        let mut args = vec!["push", "vd-replay", registry[0], registry[1]];
        args.extend_from_slice(allow);
        run(&args, extra)
    };
    let o = push(&[], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a replay of the recorded report xtask/replay/distroless-base.json")
            && stderr(&o).contains("--allow-replayed-scan"),
        "{}",
        stderr(&o)
    );
    let log = std::fs::read_to_string(s.path("docker.log")).unwrap();
    assert!(!log.contains("push ") && !log.contains("tag "), "{log}");
    for (allow, extra) in [
        (&["--allow-replayed-scan"][..], &[][..]),
        (&[][..], &[("XTASK_ALLOW_REPLAYED_SCAN", "1")][..]),
    ] {
        let o = push(allow, extra);
        assert!(
            stderr(&o).contains("is pushed on a replayed scan verdict"),
            "{}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("nothing was pushed"), "{}", stderr(&o));
    }
    let log = std::fs::read_to_string(s.path("docker.log")).unwrap();
    assert!(
        log.contains(&format!("push {image}")),
        "allowed, it pushes: {log}"
    );

    let o = run(
        &[
            "scan",
            "vd-replay",
            registry[0],
            registry[1],
            "--replay",
            "no-such-report",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("no recorded report of that name in xtask/replay/ (there: distroless-base)"),
        "{}",
        stderr(&o)
    );
    drop(built);
}
