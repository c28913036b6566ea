//! `cargo xtask e2e` as a user runs it: the plan as data, and a real run of the Playwright
//! suite against freshly built images that leaves nothing behind.

use crate::common::*;
use serde_json::Value;

/// Containers and networks whose names start with `prefix`.
pub fn leftovers(prefix: &str) -> (String, String) {
    (
        docker_ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={prefix}"),
            "--format",
            "{{.Names}}",
        ]),
        docker_ok(&[
            "network",
            "ls",
            "--filter",
            &format!("name={prefix}"),
            "--format",
            "{{.Name}}",
        ]),
    )
}

#[test]
fn dry_run_json_is_the_plan() {
    let o = xtask(&["e2e", "--dry-run", "--json", "--registry", "xtask-e2e"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).expect("stdout is one JSON document");
    let network = plan["network"].as_str().unwrap();
    assert!(network.starts_with("xtask-e2e-"), "{network}");
    let tests: Vec<&str> = plan["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(tests[..3], ["docker", "run", "--rm"]);
    assert!(tests.contains(&"BASE_URL=http://web:8080"), "{tests:?}");
    assert!(
        plan["out_dir"]
            .as_str()
            .unwrap()
            .ends_with("target/xtask/e2e"),
        "{plan}"
    );
    assert_eq!(plan["cleanup"].as_array().unwrap().len(), 2);
}

/// Builds (or reuses) the images, runs the whole suite for real and checks its report.
#[test]
fn runs_the_playwright_suite_and_cleans_up() {
    if !engine_available() {
        return;
    }
    let _turn = repository_images();
    let o = xtask(&["build", "--registry", "xtask-e2e"]);
    assert!(o.status.success(), "build failed: {}", stderr(&o));
    let o = xtask(&["e2e", "--json"]);
    assert_eq!(o.status.code(), Some(0), "e2e failed: {}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["passed"], true, "{report}");

    let junit = root().join("target/xtask/e2e/junit.xml");
    let xml = std::fs::read_to_string(&junit).expect("junit.xml is written");
    assert!(xml.contains("<testsuites"), "{xml}");
    assert!(report["tests"].as_u64().unwrap() >= 5, "{report}");
    assert_eq!(report["failures"], 0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(root().join("target/xtask/e2e/html/index.html").is_file());

    // Only this run's: other runs (a contributor's, a `ci` test's) may be going on.
    let network = report["network"].as_str().unwrap();
    assert!(network.starts_with("xtask-e2e-"), "{network}");
    let (containers, networks) = leftovers(network);
    assert!(
        containers.is_empty(),
        "containers left behind: {containers}"
    );
    assert!(networks.is_empty(), "networks left behind: {networks}");
}
