//! `cargo xtask build --affected` as a user runs it, in this repository: what is planned
//! and what is skipped, and why.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;
use serde_json::Value;

/// A new untracked file, removed again when dropped (even when the test fails).
struct Probe(PathBuf);

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn affected_dry_run() -> Value {
    let o = xtask_env(
        &[
            "build",
            "--affected",
            "--base",
            "HEAD",
            "--dry-run",
            "--json",
            "--registry",
            "xtask-fast",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("stdout is one JSON document")
}

/// One test, not two: both steps read the same working tree, and the probe file would
/// otherwise show up in the other step's changes.
#[test]
fn only_services_whose_context_changed_are_planned() {
    // Other tests edit the repository's sources for a moment (bench's one-line change).
    let _turn = repository_images();
    // No change since HEAD: nothing to build, and nothing (not even the engine) is needed.
    if clean_tree_but(&[]) {
        let plan = affected_dry_run();
        assert!(names(&plan["services"]).is_empty(), "{plan}");
        assert_eq!(names(&plan["skipped"]), ["api", "playwright-runner", "web"]);
        let o = xtask_env(&["build", "--affected", "--base", "HEAD", "--json"], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
        for s in report["services"].as_array().unwrap() {
            assert_eq!(s["result"], "skipped", "{s}");
            assert!(
                s["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("no input changed since HEAD (no file changed)"),
                "{s}"
            );
        }
    }

    // A new file under api/src is in api's context and no one else's.
    let probe = Probe(root().join("api/src/affected_probe.rs"));
    std::fs::write(&probe.0, "// probe for the --affected test\n").unwrap();
    let plan = affected_dry_run();
    assert!(
        names(&plan["services"]).contains(&"api".to_owned()),
        "{plan}"
    );
    let runner = plan["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "playwright-runner")
        .unwrap_or_else(|| panic!("playwright-runner is skipped: {plan}"));
    assert_eq!(runner["result"], "skipped");
    let reason = runner["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("no input changed since HEAD (")
            && reason.ends_with("none in playwright-runner's context)"),
        "{reason}"
    );
    if clean_tree_but(&["api/src/affected_probe.rs"]) {
        assert_eq!(names(&plan["services"]), ["api"]);
    }
}

fn clean_tree_but(paths: &[&str]) -> bool {
    let o = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .all(|l| paths.iter().any(|p| l.ends_with(p)))
}

#[test]
fn base_without_affected_is_a_usage_error() {
    let o = xtask(&["build", "--dry-run", "--base", "HEAD"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--affected"), "{}", stderr(&o));
}
