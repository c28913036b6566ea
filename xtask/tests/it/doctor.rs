//! `cargo xtask doctor` as a user runs it: ready on a working engine, a clear failure with a
//! fix when the engine cannot be reached.

use std::process::Command;

use crate::common::*;
use serde_json::Value;

#[test]
fn a_working_engine_is_ready() {
    if !engine_available() {
        return;
    }
    let o = xtask(&["doctor", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).expect("stdout is one JSON document");
    assert_eq!(report["ready"], true);
    let status = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no `{name}` check: {report}"))["status"]
            .clone()
    };
    for name in ["docker client", "docker daemon", "buildx"] {
        assert_eq!(status(name), "ok", "{name}: {report}");
    }
}

#[test]
fn a_stopped_engine_fails_with_a_fix() {
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("doctor")
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let daemon = out
        .lines()
        .find(|l| l.starts_with("docker daemon"))
        .unwrap_or_else(|| panic!("no daemon row: {out}"));
    assert!(
        daemon.contains("FAIL") && daemon.contains("not reachable"),
        "{daemon}"
    );
    assert!(daemon.contains("cargo xtask engine up"), "{daemon}");
    assert!(stderr(&o).contains("not ready to build"), "{}", stderr(&o));
}

#[test]
fn engine_up_dry_run_says_what_it_would_do_and_changes_nothing() {
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("engine");
    let out = xtask_env(
        &["engine", "up", "--dry-run"],
        &[
            ("XTASK_ENGINE_STATE", state_dir.to_str().unwrap()),
            // Nothing listens on port 1: the plan must say it would start a registry there.
            ("XTASK_REGISTRY_ADDR", "127.0.0.1:1"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("would start on 127.0.0.1:1"), "{text}");
    for part in ["docker daemon", "buildx", "debian:bookworm-slim"] {
        assert!(text.contains(part), "no line for {part}: {text}");
    }
    assert!(
        !state_dir.exists(),
        "a dry run created {}",
        state_dir.display()
    );

    let out = xtask(&["engine", "down", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
