//! `cargo xtask verify` as a user runs it: on fixture images built from busybox:stable that
//! each break one rule, on `--image`, and on the repository's own services.

use std::collections::BTreeMap;

use crate::common::fixture::{self, Service, GOOD};
use crate::common::*;
use serde_json::Value;

/// Check name -> status for each image in a `verify --json` report.
fn statuses(report: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let checks = i["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap().to_owned(),
                        c["status"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (i["name"].as_str().unwrap().to_owned(), checks)
        })
        .collect()
}

fn reason(report: &Value, image: &str, check: &str) -> String {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == image)
        .and_then(|i| {
            i["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == check)
        })
        .map(|c| c["reason"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn verify_without_a_build_says_build_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let config = fixture::write(dir.path(), &[Service::new("vp-never-built", GOOD)]);
    let _ = std::fs::remove_file(root().join("target/xtask/build/vp-never-built.iid"));
    let o = xtask(&["--config", config.to_str().unwrap(), "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("build it first: cargo xtask build vp-never-built"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn image_flags_need_an_image() {
    let o = xtask(&["verify", "--revision", "abc"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// One good image and one per broken rule; each bad one fails for its reason only.
#[test]
fn good_fixture_passes_and_each_bad_one_fails_for_its_reason() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root_user = GOOD.replace("USER 65534\n", "");
    let no_health = GOOD.replace(
        "HEALTHCHECK --interval=1s --timeout=3s --retries=3 CMD [\"true\"]\n",
        "",
    );
    let shell_cmd = GOOD.replace("CMD [\"sleep\", \"3600\"]", "CMD sleep 3600");
    let secret_env = format!("{GOOD}ENV API_TOKEN=abc123\n");
    let dot_env = GOOD.replace(
        "USER 65534\n",
        "WORKDIR /app\nRUN echo DB_PASSWORD=hunter2 > .env\nUSER 65534\n",
    );
    let fat = Service {
        size_budget_mb: 1,
        ..Service::new("vp-fat", GOOD)
    };
    let no_ignore = Service {
        ignore_file: false,
        ..Service::new("vp-noignore", GOOD)
    };
    let config = fixture::write(
        dir.path(),
        &[
            Service::new("vp-good", GOOD),
            Service::new("vp-root", &root_user),
            Service::new("vp-nohealth", &no_health),
            Service::new("vp-shellcmd", &shell_cmd),
            Service::new("vp-secretenv", &secret_env),
            Service::new("vp-dotenv", &dot_env),
            fat,
            no_ignore,
        ],
    );
    let config = config.to_str().unwrap();
    let o = xtask(&["--config", config, "build", "--registry", "xtask-vp"]);
    assert!(o.status.success(), "build: {}", stderr(&o));

    let o = xtask(&["--config", config, "verify", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let expected_failure = [
        ("vp-good", None),
        ("vp-root", Some("non-root user")),
        ("vp-nohealth", Some("healthcheck")),
        ("vp-shellcmd", Some("exec form")),
        ("vp-secretenv", Some("no secret env")),
        ("vp-dotenv", Some("no secret files")),
        ("vp-fat", Some("size")),
        ("vp-noignore", Some("ignore file")),
    ];
    let by_image = statuses(&report);
    for (image, failing) in expected_failure {
        let failed: Vec<&str> = by_image[image]
            .iter()
            .filter(|(_, s)| *s == "fail")
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            failed,
            failing.into_iter().collect::<Vec<_>>(),
            "{image}: {report:#}"
        );
    }
    assert_eq!(by_image["vp-good"]["healthy when hardened"], "pass");
    assert_eq!(by_image["vp-good"]["revision label"], "pass");
    assert_eq!(by_image["vp-nohealth"]["healthy when hardened"], "skip");
    assert!(reason(&report, "vp-root", "non-root user").contains("no USER"));
    assert!(reason(&report, "vp-shellcmd", "exec form").contains("shell form (sleep 3600)"));
    assert!(reason(&report, "vp-secretenv", "no secret env").starts_with("API_TOKEN"));
    assert!(
        !stdout(&o).contains("abc123"),
        "secret values are never shown"
    );
    assert!(reason(&report, "vp-dotenv", "no secret files").contains("/app/.env"));
    assert!(reason(&report, "vp-fat", "size").contains("over the budget of 1 MB"));
    assert!(reason(&report, "vp-noignore", "ignore file").contains("missing"));
    let all = stderr(&o);
    let err = all.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(
        err.contains("verify failed for vp-dotenv (no secret files); vp-fat (size)")
            && err.contains("vp-root (non-root user)")
            && !err.contains("vp-good ("),
        "{err}"
    );
    for image in report["images"].as_array().unwrap() {
        let id = image["image_id"].as_str().unwrap();
        let filter = format!("ancestor={id}");
        let leftovers = docker_ok(&["ps", "-aq", "--filter", &filter]);
        assert!(
            leftovers.is_empty(),
            "containers of {id} left behind: {leftovers}"
        );
    }

    // The human table, and the good image alone passing.
    let o = xtask(&["--config", config, "verify", "vp-good"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("vp-good  non-root user"),
        "{}",
        stdout(&o)
    );

    // --image: any reference, with the revision given or the check skipped.
    let id = std::fs::read_to_string(root().join("target/xtask/build/vp-good.iid")).unwrap();
    let head = git_head();
    let o = xtask(&[
        "verify",
        "--image",
        id.trim(),
        "--revision",
        &head,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let s = &statuses(&report)[id.trim()];
    assert_eq!(s["revision label"], "pass");
    assert_eq!(s["ignore file"], "skip");
    assert_eq!(s["size"], "skip");
    let o = xtask(&[
        "verify",
        "--image",
        id.trim(),
        "--revision",
        "0000000",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("(revision label)"), "{}", stderr(&o));
}

/// The repository's own services build and pass verify. Needs the api and web Dockerfiles.
#[test]
fn api_and_web_build_and_pass_verify() {
    if !engine_available() {
        return;
    }
    let _turn = repository_images();
    let o = xtask(&["build", "api", "web"]);
    assert!(o.status.success(), "build: {}", stderr(&o));
    let o = xtask(&["verify", "api", "web"]);
    assert!(
        o.status.success(),
        "verify:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
}

/// A hardened start that fails after docker created the container (its command does not
/// exist) is a failed check naming the cause, and the created container is removed too.
#[test]
fn a_container_that_cannot_start_is_reported_and_removed() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let no_start = GOOD.replace("CMD [\"sleep\", \"3600\"]", "CMD [\"/no/such/program\"]");
    let config = fixture::write(dir.path(), &[Service::new("vp-nostart", &no_start)]);
    let config = config.to_str().unwrap();
    let o = xtask(&["--config", config, "build", "--registry", "xtask-vp"]);
    assert!(o.status.success(), "build: {}", stderr(&o));

    let child = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["--config", config, "verify", "--json"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let why = reason(&report, "vp-nostart", "healthy when hardened");
    assert!(why.contains("cannot start it hardened"), "{why}");
    let left: Vec<String> = docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "label=xtask.verify",
        "--format",
        "{{.Label \"xtask.verify\"}}",
    ])
    .lines()
    .filter(|run| run.starts_with(&format!("{pid}-")))
    .map(str::to_owned)
    .collect();
    assert!(
        left.is_empty(),
        "containers of the run left behind: {left:?}"
    );
}
