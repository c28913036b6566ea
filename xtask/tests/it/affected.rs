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

/// `build --affected --base HEAD --dry-run --json`: the plan, and what it said on stderr.
fn affected_dry_run() -> (Value, String) {
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
    let plan = serde_json::from_str(&stdout(&o)).expect("stdout is one JSON document");
    (plan, stderr(&o))
}

const CONFIG: &str = "xtask/images.toml";

/// One test, not two: both steps read the same working tree, and the probe file would
/// otherwise show up in the other step's changes.
#[test]
fn only_services_whose_context_changed_are_planned() {
    // Other tests edit the repository's sources for a moment (bench's one-line change).
    let _turn = repository_images();
    let services = services();
    // A change to the service config affects every service, so while it has uncommitted
    // changes nothing can be skipped: that is what the plan must say, and all it can show.
    if changed_files().iter().any(|f| f == CONFIG) {
        let (plan, notes) = affected_dry_run();
        assert_eq!(names(&plan["services"]), services, "{plan}");
        assert!(names(&plan["skipped"]).is_empty(), "{plan}");
        for name in &services {
            let line = format!("{name}: affected, {CONFIG} changed (the service config)");
            assert!(notes.lines().any(|l| l == line), "{line}\n{notes}");
        }
        eprintln!(
            "note: {CONFIG} has uncommitted changes, so every service is affected; commit or \
             stash them to test what a change in one service's context skips"
        );
        return;
    }
    // No change since HEAD: nothing to build, and nothing (not even the engine) is needed.
    if clean_tree_but(&[]) {
        let (plan, _) = affected_dry_run();
        assert!(names(&plan["services"]).is_empty(), "{plan}");
        assert_eq!(names(&plan["skipped"]), services);
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
    let (plan, _) = affected_dry_run();
    let planned = names(&plan["services"]);
    assert!(planned.contains(&"api".to_owned()), "{plan}");
    let mut seen: Vec<String> = planned
        .iter()
        .chain(&names(&plan["skipped"]))
        .cloned()
        .collect();
    seen.sort();
    assert_eq!(seen, services, "each service is planned or skipped: {plan}");
    for skipped in plan["skipped"].as_array().into_iter().flatten() {
        let name = skipped["name"].as_str().unwrap();
        assert_eq!(skipped["result"], "skipped");
        let reason = skipped["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("no input changed since HEAD (")
                && reason.ends_with(&format!("none in {name}'s context)")),
            "{reason}"
        );
    }
    if clean_tree_but(&["api/src/affected_probe.rs"]) {
        assert_eq!(planned, ["api"]);
        let others: Vec<&String> = services.iter().filter(|s| *s != "api").collect();
        assert_eq!(names(&plan["skipped"]).iter().collect::<Vec<_>>(), others);
    }
}

/// The files `git status` lists as changed or new, repository-relative.
fn changed_files() -> Vec<String> {
    let o = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.get(3..))
        .map(|path| path.rsplit(" -> ").next().unwrap_or(path).to_owned())
        .collect()
}

fn clean_tree_but(paths: &[&str]) -> bool {
    changed_files().iter().all(|f| paths.contains(&f.as_str()))
}

#[test]
fn base_without_affected_is_a_usage_error() {
    let o = xtask(&["build", "--dry-run", "--base", "HEAD"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--affected"), "{}", stderr(&o));
}
