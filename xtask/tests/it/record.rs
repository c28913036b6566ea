//! The build record (`target/xtask/record/<service>.json`) as push and promote use it: they
//! publish exactly the recorded image under exactly the recorded tags, and refuse (exit 1,
//! nothing pushed) a record that does not hold: one whose image is not its verdict's, one
//! naming an image the local tag does not point at, one whose dirty flag its tags belie; a
//! dirty record follows the dirty rules whatever the checkout. Most run against a stand-in
//! `docker` that logs its argv; the last builds, stages and promotes a busybox fixture on a
//! loopback registry and reads the digests back.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::common::fixture::{self, Service, GOOD};
use crate::common::registry::Registry;
use crate::common::trivy::StandIn;
use crate::common::*;
use crate::scan::{FakeBuild, FAKE_IMAGE_ID};

/// Writes `service`'s build record as `build` would, of `image_id` tagged `tags` in
/// `repository`, at this repository's HEAD, and returns its path.
pub(crate) fn write_record(
    service: &str,
    repository: &str,
    image_id: &str,
    tags: &[String],
    dirty: bool,
) -> PathBuf {
    let head = git_head();
    let immutable = tags
        .iter()
        .find(|t| t.contains(&head[..7]))
        .unwrap_or(&tags[0]);
    let record = serde_json::json!({
        "version": 1, "service": service, "repository": repository, "image_id": image_id,
        "platforms": {}, "tags": tags, "immutable": immutable, "labels": {},
        "revision": head, "dirty": dirty,
    });
    let path = root().join(format!("target/xtask/record/{service}.json"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    path
}

/// A stand-in `docker`: logs its argv (`$*`) to `$FAKE_DOCKER_LOG`; `image inspect` answers
/// `$FAKE_LOCAL_ID` (default `$FAKE_IMAGE_ID`) tagged `$FAKE_REPO_TAGS`; the registry holds
/// nothing under a tag, and at any `@sha256:` digest a manifest whose config is
/// `$FAKE_REGISTRY_CONFIG` (default `$FAKE_IMAGE_ID`); push and imagetools print digests.
const DOCKER: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_DOCKER_LOG"
case "$*" in
  'image inspect --format {{json .RepoTags}} '*) printf '%s\n' "$FAKE_REPO_TAGS" ;;
  'image inspect '*) printf '[{"Id": "%s", "RepoTags": %s, "Config": {"Labels": null}}]\n' "${FAKE_LOCAL_ID:-$FAKE_IMAGE_ID}" "$FAKE_REPO_TAGS" ;;
  'version'*) echo 27.0.0 ;;
  'manifest inspect'*@sha256:*) printf '[{"Descriptor": {"digest": "sha256:%064d"}, "SchemaV2Manifest": {"config": {"digest": "%s"}}}]\n' 1 "${FAKE_REGISTRY_CONFIG:-$FAKE_IMAGE_ID}" ;;
  'manifest inspect'*) echo 'no such manifest' >&2; exit 1 ;;
  'push '*) printf 'sha-x: digest: sha256:%064d size: 527\n' 1 ;;
  'buildx imagetools inspect'*) printf '{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "%s", "size": 402}\n' "$DIGEST" ;;
esac
exit 0
"#;

/// The digest the stand-in's registry gives every tag.
const DIGEST: &str = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

/// One fixture service, "built" as [`FAKE_IMAGE_ID`] with a record of it tagged `main` and
/// `sha-<7>` in 127.0.0.1:5999/acme, the stand-in `docker` first on PATH.
struct Fake {
    s: StandIn,
    _built: FakeBuild,
    config: String,
    name: String,
    tags: Vec<String>,
}

impl Fake {
    fn new(name: &str) -> Fake {
        Fake::with_tags(name, &["main".into(), sha_tag()], false)
    }

    fn with_tags(name: &str, tags: &[String], dirty: bool) -> Fake {
        let s = StandIn::new();
        let docker = s.path("bin/docker");
        std::fs::write(&docker, DOCKER).unwrap();
        std::process::Command::new("chmod")
            .args(["+x", docker.to_str().unwrap()])
            .status()
            .unwrap();
        let built = FakeBuild::new(name);
        write_record(name, &repository(name), FAKE_IMAGE_ID, tags, dirty);
        let config = s.path("images.toml");
        std::fs::write(
            &config,
            format!(
                "[project]\nname = \"xtask-itest\"\n[services.{name}]\n\
                 dockerfile = \"x.Dockerfile\"\nsize_budget_mb = 1\n"
            ),
        )
        .unwrap();
        Fake {
            s,
            _built: built,
            config: config.to_str().unwrap().to_owned(),
            name: name.to_owned(),
            tags: tags.to_vec(),
        }
    }

    fn record_path(&self) -> PathBuf {
        root().join(format!("target/xtask/record/{}.json", self.name))
    }

    fn record(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.record_path()).unwrap()).unwrap()
    }

    fn edit(&self, change: impl FnOnce(&mut Value)) {
        let mut r = self.record();
        change(&mut r);
        std::fs::write(self.record_path(), r.to_string()).unwrap();
    }

    /// `cargo xtask --config <fixture> ARGS --registry 127.0.0.1:5999/acme`, with `extra`.
    fn xtask(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let repo_tags: Vec<String> = self
            .tags
            .iter()
            .map(|t| format!("{}:{t}", repository(&self.name)))
            .collect();
        let repo_tags = serde_json::to_string(&repo_tags).unwrap();
        let log = self.s.path("docker.log");
        let mut env = vec![
            ("FAKE_DOCKER_LOG", log.to_str().unwrap()),
            ("FAKE_IMAGE_ID", FAKE_IMAGE_ID),
            ("FAKE_REPO_TAGS", repo_tags.as_str()),
            ("DIGEST", DIGEST),
        ];
        env.extend_from_slice(extra);
        let mut full = vec!["--config", self.config.as_str()];
        full.extend_from_slice(args);
        full.extend(["--registry", "127.0.0.1:5999/acme"]);
        self.s.xtask(&full, &env)
    }

    /// A scan of the service that passes: a replay, which push then has to be allowed.
    fn scan(&self) {
        let o = self.xtask(&["scan", &self.name, "--replay", "distroless-base"], &[]);
        assert!(o.status.success(), "scan: {}", stderr(&o));
    }

    /// The commands the stand-in ran that act (not the inspects), since the log was cleared.
    fn acted(&self) -> Vec<String> {
        std::fs::read_to_string(self.s.path("docker.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("image inspect") && !l.starts_with("version"))
            .map(String::from)
            .collect()
    }

    fn clear_log(&self) {
        let _ = std::fs::remove_file(self.s.path("docker.log"));
    }
}

fn sha_tag() -> String {
    format!("sha-{}", &git_head()[..7])
}

fn repository(name: &str) -> String {
    format!("127.0.0.1:5999/acme/{name}")
}

/// Exit 1, nothing pushed, and `why` among the reasons.
fn refused(f: &Fake, o: &Output, why: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{why}: {err}");
    assert!(
        err.contains("nothing was pushed") && err.contains(why),
        "{why}: {err}"
    );
    assert_eq!(
        f.acted(),
        Vec::<String>::new(),
        "{why}: nothing is attempted"
    );
}

#[test]
fn a_record_whose_image_is_not_its_verdicts_is_refused_and_nothing_is_pushed() {
    let f = Fake::new("rc-verdict");
    f.scan();
    assert_eq!(
        f.record()["scan"]["image_id"],
        FAKE_IMAGE_ID,
        "scan adds to it"
    );
    let other = "sha256:0ther0ther0ther0ther0ther0ther0ther0ther0ther0ther0ther0ther0th";
    let push = || {
        f.xtask(
            &["push", "--allow-replayed-scan"],
            &[("FAKE_LOCAL_ID", other)],
        )
    };

    // The record (and the local tag) now name another image than the one scanned: the
    // record's own scan entry gives it away...
    f.edit(|r| r["image_id"] = other.into());
    f.clear_log();
    refused(
        &f,
        &push(),
        &format!("is of image {other}, but its scan verdict is of image {FAKE_IMAGE_ID}"),
    );
    // ... and without it, the verdict file does.
    f.edit(|r| {
        r.as_object_mut().unwrap().remove("scan");
    });
    refused(
        &f,
        &push(),
        &format!("is of image {other}, but its scan verdict is of image {FAKE_IMAGE_ID}"),
    );
}

#[test]
fn a_record_naming_another_image_than_the_local_tag_is_refused() {
    let f = Fake::new("rc-local");
    f.scan();
    f.clear_log();
    // Rebuilt or retagged since: the tag now points at another image.
    let other = "sha256:1ater1ater1ater1ater1ater1ater1ater1ater1ater1ater1ater1ater1at";
    let o = f.xtask(
        &["push", "--allow-replayed-scan"],
        &[("FAKE_LOCAL_ID", other)],
    );
    refused(
        &f,
        &o,
        &format!(
            "{}:{} is image {other}, not the recorded {FAKE_IMAGE_ID}",
            repository("rc-local"),
            sha_tag()
        ),
    );
    // A tag added to the record by hand is not a tag of that image.
    f.edit(|r| r["tags"].as_array_mut().unwrap().push("latest".into()));
    let o = f.xtask(&["push", "--allow-replayed-scan"], &[]);
    refused(&f, &o, "does not carry the recorded tag(s) latest locally");
    // The same record, untouched, pushes.
    f.edit(|r| {
        r["tags"].as_array_mut().unwrap().pop();
    });
    let o = f.xtask(&["push", "--allow-replayed-scan"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_record_of_a_dirty_build_follows_the_dirty_rules_whatever_the_checkout() {
    // The checkout is clean (the committed view); the record says the build was not.
    let dirty = format!("{}-dirty", sha_tag());
    let f = Fake::with_tags(
        "rc-dirty",
        &["main".into(), "latest".into(), dirty.clone()],
        true,
    );
    let o = f.xtask(&["push", "--allow-unscanned"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--allow-dirty"), "{}", stderr(&o));
    assert_eq!(f.acted(), Vec::<String>::new());

    let o = f.xtask(
        &[
            "push",
            "--allow-unscanned",
            "--allow-dirty",
            "--dry-run",
            "--json",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let moved: Vec<String> = plan_steps(&plan)
        .iter()
        .filter(|s| s.starts_with("docker push ") || s.contains("imagetools create"))
        .map(|s| {
            s.split(' ')
                .find(|w| w.starts_with("127.0.0.1"))
                .unwrap()
                .to_owned()
        })
        .collect();
    let only = format!("{}:{dirty}", repository("rc-dirty"));
    assert!(
        !moved.is_empty() && moved.iter().all(|m| *m == only),
        "only the dirty tag: {moved:?}"
    );

    // A record that hides its dirtiness is refused.
    f.edit(|r| r["dirty"] = false.into());
    let o = f.xtask(&["push", "--allow-unscanned", "--allow-dirty"], &[]);
    refused(&f, &o, "says dirty = false, but its tags name");
}

#[test]
fn push_dry_run_from_a_record_prints_exactly_what_it_pushes() {
    let f = Fake::new("rc-dry");
    f.scan();
    let o = f.xtask(
        &["push", "--allow-replayed-scan", "--dry-run", "--json"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let repo = repository("rc-dry");
    let sha = sha_tag();
    let printed = plan_steps(&plan);
    assert_eq!(
        printed,
        [
            format!("docker manifest inspect --insecure --verbose {repo}:{sha}"),
            format!("docker tag {FAKE_IMAGE_ID} {repo}:{sha}"),
            format!("docker push {repo}:{sha}"),
            format!("docker buildx imagetools create --tag {repo}:{sha} {repo}@{{manifest}}"),
            format!(
                "docker buildx imagetools inspect --format {{{{json .Manifest}}}} {repo}:{sha}"
            ),
            format!("docker buildx imagetools create --tag {repo}:main {repo}@{{digest}}"),
        ]
    );
    f.clear_log();
    let o = f.xtask(&["push", "--allow-replayed-scan"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = format!("sha256:{:064}", 1);
    let expected: Vec<String> = printed
        .iter()
        .map(|l| {
            l.strip_prefix("docker ")
                .unwrap()
                .replace("{manifest}", &manifest)
                .replace("{digest}", DIGEST)
        })
        .collect();
    assert_eq!(f.acted(), expected);
    // The record now says where it went.
    let pushed = &f.record()["pushed"];
    assert_eq!(pushed["digest"], DIGEST);
    assert_eq!(pushed["tags"], serde_json::json!([sha, "main"]));
}

#[test]
fn promote_from_a_record_checks_the_staged_digest_is_the_image_before_moving_a_tag() {
    let f = Fake::new("rc-promote");
    f.scan();
    f.edit(|r| {
        r["pushed"] = serde_json::json!({
            "repository": repository("rc-promote"), "digest": DIGEST, "tags": ["staging-1"],
        })
    });
    let promote = |extra: &[(&str, &str)]| {
        f.xtask(
            &["promote", "--from-record", "--allow-replayed-scan"],
            extra,
        )
    };
    f.clear_log();
    let other = "sha256:2ther2ther2ther2ther2ther2ther2ther2ther2ther2ther2ther2ther2th";
    let o = promote(&[("FAKE_REGISTRY_CONFIG", other)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let repo = repository("rc-promote");
    assert!(
        stderr(&o).contains(&format!(
            "{repo}@{DIGEST} is not image {FAKE_IMAGE_ID} (its config is {other})"
        )),
        "{}",
        stderr(&o)
    );
    let acted = f.acted();
    assert!(
        !acted.iter().any(|l| l.contains("imagetools create")),
        "nothing moved: {acted:?}"
    );

    // The dry run prints what the run then does.
    let o = f.xtask(
        &[
            "promote",
            "--from-record",
            "--allow-replayed-scan",
            "--dry-run",
            "--json",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: Vec<String> = plan_steps(&serde_json::from_str(&stdout(&o)).unwrap())
        .iter()
        .map(|l| {
            l.strip_prefix("docker ")
                .unwrap()
                .replace("{digest}", DIGEST)
        })
        .collect();
    f.clear_log();
    let o = promote(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(f.acted(), printed);
    let sha = sha_tag();
    assert_eq!(
        f.acted(),
        [
            format!("manifest inspect --insecure --verbose {repo}@{DIGEST}"),
            format!("manifest inspect --insecure --verbose {repo}:{sha}"),
            format!("buildx imagetools create --tag {repo}:{sha} {repo}@{DIGEST}"),
            format!("buildx imagetools inspect --format {{{{json .Manifest}}}} {repo}:{sha}"),
            format!("buildx imagetools create --tag {repo}:main {repo}@{DIGEST}"),
        ]
    );
}

/// Removes, when dropped, the local images tagged under a registry host.
struct LocalTags(String);

impl Drop for LocalTags {
    fn drop(&mut self) {
        let listed = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        for name in stdout(&listed)
            .lines()
            .filter(|l| l.starts_with(&format!("{}/", self.0)) && !l.ends_with(":<none>"))
        {
            let _ = docker(&["rmi", name]);
        }
    }
}

/// The real thing: a busybox fixture is built, scanned (a replay), pushed once to a staging
/// tag of a loopback registry, and promoted from its record to the tags the build gave it;
/// every one of them names the staged digest, whose config is the built image id.
#[test]
fn staged_images_are_promoted_from_the_record_to_the_recorded_digest() {
    if !engine_available() {
        return;
    }
    let registry = Registry::start_in(5730..5750, "rc-user", "rc-record-pw");
    let _cleanup = LocalTags(registry.host());
    let ns = format!("{}/rc-acme", registry.host());
    let dir = tempfile::tempdir().unwrap();
    let config = fixture::write(dir.path(), &[Service::new("rc-e2e", GOOD)]);
    let config = config.to_str().unwrap();
    let env = [
        ("REGISTRY_USERNAME", "rc-user"),
        ("REGISTRY_PASSWORD", "rc-record-pw"),
        ("XTASK_RETRY_BASE_MS", "10"),
    ];
    let run = |args: &[&str]| {
        let mut full = vec!["--config", config];
        full.extend_from_slice(args);
        full.extend(["--registry", ns.as_str()]);
        let o = fixture::xtask_env(&full, &env, None);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        o
    };
    run(&["build"]);
    run(&["scan", "--replay", "distroless-base"]);
    run(&["push", "--staging", "staging-rc-1", "--allow-replayed-scan"]);
    let path = root().join("target/xtask/record/rc-e2e.json");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let digest = record["pushed"]["digest"].as_str().unwrap().to_owned();
    let image_id = record["image_id"].as_str().unwrap().to_owned();
    assert_eq!(
        registry.digest("rc-acme/rc-e2e", "staging-rc-1").as_deref(),
        Some(digest.as_str())
    );
    assert!(
        registry.tags("rc-acme/rc-e2e") == ["staging-rc-1"],
        "only the staging tag so far: {:?}",
        registry.tags("rc-acme/rc-e2e")
    );

    run(&["promote", "--from-record", "--allow-replayed-scan"]);

    // Read back with docker's own client, logged in to the test registry.
    let login = tempfile::tempdir().unwrap();
    let docker_in = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut c = std::process::Command::new("docker");
        c.env("DOCKER_CONFIG", login.path()).args(args);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    docker_in(
        &[
            "login",
            "--username",
            "rc-user",
            "--password-stdin",
            &registry.host(),
        ],
        Some("rc-record-pw"),
    );
    let tags: Vec<String> = record["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert!(tags.contains(&sha_tag()), "{tags:?}");
    for tag in &tags {
        let manifest = docker_in(
            &[
                "buildx",
                "imagetools",
                "inspect",
                "--format",
                "{{json .Manifest}}",
                &format!("{ns}/rc-e2e:{tag}"),
            ],
            None,
        );
        let manifest: Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(manifest["digest"], digest.as_str(), "{tag}");
    }
    let held = docker_in(
        &[
            "manifest",
            "inspect",
            "--insecure",
            "--verbose",
            &format!("{ns}/rc-e2e@{digest}"),
        ],
        None,
    );
    // The built image's config, per platform: in Docker's classic store that is the image
    // id; where provenance is attached the id is the local index around it.
    let configs: Vec<String> = serde_json::from_value(record["configs"].clone()).unwrap();
    assert!(!configs.is_empty(), "the record names the image's config");
    for config in &configs {
        assert!(
            held.contains(config.as_str()),
            "the staged digest holds the built image {image_id} (config {config}): {held}"
        );
    }
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(record["pushed"]["digest"], digest.as_str());

    // A retry of the pipeline for the same commit: a cached rebuild (a new index where
    // provenance is attached) is the image the immutable tag holds, so push uploads
    // nothing and moves no tag off it.
    run(&["build"]);
    run(&["scan", "--replay", "distroless-base"]);
    let o = run(&["push", "--allow-replayed-scan"]);
    assert!(
        stderr(&o).contains("already holds this image"),
        "{}",
        stderr(&o)
    );
    for tag in &tags {
        assert_eq!(
            registry.digest("rc-acme/rc-e2e", tag).as_deref(),
            Some(digest.as_str()),
            "{tag} still names the promoted digest"
        );
    }
    for f in [
        "target/xtask/record/rc-e2e.json",
        "target/xtask/build/rc-e2e.iid",
        "target/xtask/scan/rc-e2e.verdict.json",
        "target/xtask/scan/rc-e2e.trivy.json",
    ] {
        let _ = std::fs::remove_file(root().join(f));
    }
}
