//! `cargo xtask ci` as CI runs it: the real stages on the real engine, with the stand-in
//! trivy replaying real reports.

use crate::common::trivy::StandIn;
use crate::common::*;
use serde_json::Value;

fn stage_results(report: &Value) -> Vec<(String, String)> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_owned(),
                s["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Plain `cargo xtask ci` on the default branch with no registry named: the local stages
/// run, push and sign are skipped saying why, and the run is green.
#[test]
fn without_a_registry_ci_on_the_default_branch_skips_push_and_sign() {
    // xtask_env removes XTASK_REGISTRY and GitHub Actions' variables; the repository's
    // config names no [registry] namespace, so images are the local `shipyard/...`.
    let o = xtask_env(
        &["ci", "--dry-run"],
        &[("XTASK_GIT_REF", "refs/heads/main")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let stages: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split_whitespace().nth(3).unwrap_or_default().to_owned())
        .collect();
    assert_eq!(stages, ["build", "scan", "verify", "e2e"], "{}", stdout(&o));
    let err = stderr(&o);
    for stage in ["push", "sign"] {
        assert!(
            err.contains(&format!(
                "note: {stage} is skipped: no registry configured: `shipyard` names local images only; \
                 set --registry, XTASK_REGISTRY or [registry] namespace to push"
            )),
            "{err}"
        );
    }
    assert!(err.contains("will not push"), "{err}");
}

/// `--push` without a registry is a usage error before any stage runs.
#[test]
fn push_without_a_registry_is_a_usage_error_up_front() {
    let o = xtask_env(
        &["ci", "--push", "--dry-run"],
        &[("XTASK_GIT_REF", "refs/heads/main")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("--push needs a registry"),
        "{}",
        stderr(&o)
    );
}

/// The whole pipeline as a GitHub Actions step: stage table, step summary, annotations and
/// outputs; push is skipped when told not to.
#[test]
fn pipeline_runs_every_stage_and_reports_to_github() {
    if !engine_available() {
        return;
    }
    // The pipelines build, scan and verify the repository's images and write the same report
    // files under target/xtask, as other tests do: they take turns.
    let _turn = repository_images();
    let trivy = StandIn::new();
    let summary = trivy.path("summary.md");
    let outputs = trivy.path("outputs");
    let o = trivy.xtask(
        &["ci", "--no-push", "--registry", "xtask-itest-ci"],
        &[
            ("TRIVY_STANDIN_FIXTURE", "distroless-base"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_SHA", &git_head()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_OUTPUT", outputs.to_str().unwrap()),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for stage in ["build", "scan", "verify", "e2e"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(stage) && l.contains("passed")),
            "{stage}: {out}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("push") && l.contains("skipped")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("sign") && l.contains("skipped")),
        "{out}"
    );
    assert!(
        out.contains("::notice title=push skipped::--no-push"),
        "{out}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("## cargo xtask ci"), "{md}");
    for service in services() {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {service} ")))
            .unwrap_or_else(|| panic!("{md}"));
        assert!(
            row.contains("MB /") && row.contains("M 0/2") && row.contains("yes"),
            "{row}"
        );
    }
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    assert!(outputs.lines().any(|l| l == "passed=true"), "{outputs}");
    assert!(
        outputs.lines().any(|l| l == "api-image=xtask-itest-ci/api"),
        "{outputs}"
    );
}

#[test]
fn pipeline_stops_at_the_first_failing_stage() {
    if !engine_available() {
        return;
    }
    // The pipelines build, scan and verify the repository's images and write the same report
    // files under target/xtask, as other tests do: they take turns.
    let _turn = repository_images();
    let trivy = StandIn::new();
    // debian-buster has a CRITICAL vulnerability with a fixed version: the scan gate fails.
    let o = trivy.xtask(
        &["ci", "--json", "--registry", "xtask-itest-ci"],
        &[("TRIVY_STANDIN_FIXTURE", "debian-buster")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let stages = stage_results(&report);
    assert_eq!(stages[0], ("build".to_owned(), "passed".to_owned()));
    assert_eq!(stages[1], ("scan".to_owned(), "failed".to_owned()));
    assert_eq!(
        stages.len(),
        2,
        "nothing runs after the failing stage: {stages:?}"
    );
    assert!(
        stderr(&o).contains("the pipeline stopped at `cargo xtask scan`"),
        "{}",
        stderr(&o)
    );
}
