//! `cargo xtask tags` as a GitHub Actions step runs it: the `GITHUB_*` variables and an event
//! payload as the runner sets them, metadata-action's `tags:` lines, and its outputs as JSON
//! or in `GITHUB_OUTPUT`. No engine is needed.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{root, stderr, stdout};

/// A commit that is not in the repository: its time comes from the payload.
const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";
const HEAD_SHA: &str = "3370e228f2209994d57af4427fe64e71bb79ac96";

/// `cargo xtask tags ARGS` with `env` as GitHub sets it, none of the runner's own variables
/// leaking in from the machine the tests run on.
fn tags(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("tags").args(args).current_dir(root());
    for (key, _) in std::env::vars() {
        if key.starts_with("GITHUB_")
            || key.starts_with("DOCKER_METADATA_")
            || ["XTASK_GIT_REF", "TZDIR"].contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("xtask runs")
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(o));
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

/// A tz database with one zone, `Asia/Tokyo` (UTC+9, no daylight saving), in TZif form.
fn tzdir(dir: &Path) -> String {
    let block = |out: &mut Vec<u8>| {
        out.extend(b"TZif2");
        out.extend([0; 15]);
        for n in [0u32, 0, 0, 0, 1, 4] {
            out.extend(n.to_be_bytes());
        }
        out.extend(32400i32.to_be_bytes());
        out.extend([0, 0]);
        out.extend(b"JST\0");
    };
    let mut tzif = Vec::new();
    block(&mut tzif);
    block(&mut tzif);
    tzif.extend(b"\nJST-9\n");
    std::fs::create_dir_all(dir.join("zoneinfo/Asia")).unwrap();
    std::fs::write(dir.join("zoneinfo/Asia/Tokyo"), tzif).unwrap();
    dir.join("zoneinfo").to_str().unwrap().to_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_tag_push_gives_metadata_actions_tags_version_labels_and_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let event = write(
        dir.path(),
        "event.json",
        &format!(
            r#"{{"base_ref": "refs/heads/master", "repository": {{"default_branch": "master"}},
            "head_commit": {{"id": "{SHA}", "timestamp": "2020-01-10T00:30:00Z"}}}}"#
        ),
    );
    let tzdir = tzdir(dir.path());
    let o = tags(
        &[
            "--json",
            "--rule=type=semver,pattern={{version}}",
            "--rule=type=semver,pattern={{major}}.{{minor}}",
            "--rule=type=match,\"pattern=/^V(\\d+)/i\",group=1",
            "--rule=type=raw,value={{base_ref}}-{{commit_date 'YYYYMMDD-HHmm' tz='Asia/Tokyo'}}",
            "--rule=type=raw,value=dev,enable={{is_not_default_branch}}",
            "--rule=type=sha",
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/tags/v1.2.3"),
            ("GITHUB_SHA", SHA),
            ("GITHUB_EVENT_PATH", &event),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("DOCKER_METADATA_ANNOTATIONS_LEVELS", "manifest,index"),
            ("TZDIR", &tzdir),
        ],
    );
    let v = json(&o);
    // Main version first, the others by priority, latest last.
    let want = [
        "1.2.3",
        "1.2",
        "1",
        "master-20200110-0930",
        "dev",
        "sha-860c190",
        "latest",
    ];
    assert_eq!(strings(&v["tags"]), want);
    assert_eq!(strings(&v["tag-names"]), want);
    assert_eq!(v["version"], "1.2.3");
    let labels = &v["labels"];
    assert_eq!(labels["org.opencontainers.image.version"], "1.2.3");
    assert_eq!(labels["org.opencontainers.image.revision"], SHA);
    assert_eq!(labels["org.opencontainers.image.title"], "shop");
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2020-01-10T00:30:00Z"
    );
    let annotations = strings(&v["annotations"]);
    assert_eq!(annotations.len(), 16, "{annotations:?}");
    assert!(annotations.contains(&"index:org.opencontainers.image.version=1.2.3"));
    assert!(annotations.contains(&"manifest:org.opencontainers.image.version=1.2.3"));
}

#[test]
fn a_pull_request_is_named_by_its_head_with_the_sha_length_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let event = write(
        dir.path(),
        "event.json",
        &format!(
            r#"{{"number": 15, "pull_request": {{"number": 15, "head": {{"sha": "{HEAD_SHA}"}},
            "base": {{"ref": "master"}}}}, "repository": {{"default_branch": "master"}}}}"#
        ),
    );
    // The merge commit is the one the checkout has; the head is only in the payload.
    let merge = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    let merge = String::from_utf8(merge.stdout).unwrap().trim().to_owned();
    let env = |head: &'static str| {
        vec![
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REF", "refs/pull/15/merge"),
            ("GITHUB_SHA", merge.as_str()),
            ("GITHUB_EVENT_PATH", event.as_str()),
            ("DOCKER_METADATA_PR_HEAD_SHA", head),
            ("DOCKER_METADATA_SHORT_SHA_LENGTH", "12"),
        ]
    };
    let rules = [
        "--json",
        "--rule=type=ref,event=pr",
        "--rule=type=sha",
        "--rule=type=raw,value=into-{{base_ref}}",
    ];
    let v = json(&tags(&rules, &env("true")));
    assert_eq!(
        strings(&v["tags"]),
        ["pr-15", "into-master", "sha-3370e228f220"]
    );
    assert_eq!(v["labels"]["org.opencontainers.image.revision"], HEAD_SHA);
    let v = json(&tags(&rules, &env("false")));
    assert_eq!(
        strings(&v["tags"])[2],
        format!("sha-{}", &merge[..12]),
        "without DOCKER_METADATA_PR_HEAD_SHA the merge commit names it"
    );
}

#[test]
fn format_github_writes_the_outputs_a_workflow_step_reads() {
    let dir = tempfile::tempdir().unwrap();
    let event = write(
        dir.path(),
        "event.json",
        &format!(r#"{{"head_commit": {{"id": "{SHA}", "timestamp": "2020-01-10T00:30:00Z"}}}}"#),
    );
    let output = write(dir.path(), "output", "earlier=step\n");
    let env_file = write(dir.path(), "env", "");
    let github = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/tags/v1.2.3"),
        ("GITHUB_SHA", SHA),
        ("GITHUB_EVENT_PATH", event.as_str()),
        ("GITHUB_OUTPUT", output.as_str()),
        ("GITHUB_ENV", env_file.as_str()),
    ];
    let args = [
        "--format",
        "github",
        "--rule=type=semver,pattern={{version}}",
        "--rule=type=sha",
    ];
    let o = tags(&args, &github);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1.2.3\nsha-860c190\nlatest\n");
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.starts_with("earlier=step\n"), "appended: {text}");
    assert!(text.contains("\nversion=1.2.3\n"), "{text}");
    assert!(
        text.contains("\ntags<<XTASK_TAGS_EOF0\n1.2.3\nsha-860c190\nlatest\nXTASK_TAGS_EOF0\n"),
        "{text}"
    );
    assert!(
        text.contains("\norg.opencontainers.image.version=1.2.3\n"),
        "{text}"
    );
    let json_line = text
        .lines()
        .find_map(|l| l.strip_prefix("json="))
        .expect("a json output");
    let v: Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(strings(&v["tags"]), ["1.2.3", "sha-860c190", "latest"]);
    let env_text = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        env_text.contains("DOCKER_METADATA_OUTPUT_VERSION=1.2.3\n"),
        "{env_text}"
    );
    assert!(
        env_text.contains("DOCKER_METADATA_OUTPUT_TAG_NAMES<<"),
        "{env_text}"
    );

    // DOCKER_METADATA_SET_OUTPUT_ENV=false: outputs only.
    std::fs::write(&env_file, "").unwrap();
    let mut quiet = github.to_vec();
    quiet.push(("DOCKER_METADATA_SET_OUTPUT_ENV", "false"));
    assert!(tags(&args, &quiet).status.success());
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), "");

    // Outside a step there is nowhere to write: the environment is not ready.
    let outside: Vec<_> = github
        .iter()
        .copied()
        .filter(|(k, _)| *k != "GITHUB_OUTPUT")
        .collect();
    let o = tags(&args, &outside);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("GITHUB_OUTPUT"), "{}", stderr(&o));
}

#[test]
fn the_null_context_gives_no_tags_and_a_named_event_needs_its_commit() {
    let null = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", ""),
        ("GITHUB_SHA", ""),
        ("GITHUB_REF", ""),
    ];
    let o = tags(
        &["--json", "--rule=type=sha", "--rule=type=raw,{{branch}}"],
        &null,
    );
    let v = json(&o);
    assert_eq!(v["tags"], serde_json::json!([]));
    assert_eq!(v["version"], "");
    assert!(stderr(&o).contains("warning: no tag"), "{}", stderr(&o));

    let o = tags(
        &["--json"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/main"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("GITHUB_SHA is not set"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unknown_time_zone_is_bad_input_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let tzdir = tzdir(dir.path());
    let o = tags(
        &["--rule=type=raw,value={{date 'YYYY' tz='Mars/Olympus'}}"],
        &[("TZDIR", &tzdir)],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Mars/Olympus"), "{}", stderr(&o));
}
