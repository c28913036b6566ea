//! An image's identity: a build from uncommitted changes is tagged apart from the commit's
//! own build and is not published unless asked for, and the same inputs give the same image.
//!
//! The dirty-tree tests take their git context from a throwaway repository (`GIT_DIR` and
//! `GIT_WORK_TREE`), so they never make this repository's tree dirty for the tests running
//! beside them; a stand-in `docker` on PATH logs whatever is called and does nothing.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::fixture::{self, Service, GOOD};
use crate::common::*;

/// A throwaway repository with one commit on `main`, and a fixture service's config beside it.
struct Scratch {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Scratch {
    fn new(service: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let config = fixture::write(dir.path(), &[Service::new(service, GOOD)]);
        let s = Scratch { dir, config };
        std::fs::create_dir(s.repo()).unwrap();
        std::fs::create_dir(s.bin()).unwrap();
        let docker = s.bin().join("docker");
        std::fs::write(
            &docker,
            "#!/bin/sh\necho \"docker $*\" >> \"$ID_DOCKER_LOG\"\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
        s.git(&["init", "-q", "-b", "main"]);
        std::fs::write(s.repo().join("app.txt"), "committed\n").unwrap();
        s.git(&["add", "app.txt"]);
        s.git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "one",
        ]);
        s
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn docker_log(&self) -> PathBuf {
        self.dir.path().join("docker.log")
    }

    fn git(&self, args: &[&str]) -> String {
        let o = Command::new("git")
            .args(args)
            .current_dir(self.repo())
            .env("GIT_COMMITTER_DATE", "2026-11-20T09:05:07Z")
            .env("GIT_AUTHOR_DATE", "2026-11-20T09:05:07Z")
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
        stdout(&o).trim().to_owned()
    }

    /// `cargo xtask --config <fixture> ARGS...`, in the throwaway repository's git context.
    fn xtask(&self, args: &[&str]) -> Output {
        let config = self.config.to_str().unwrap();
        let mut full = vec!["--config", config];
        full.extend_from_slice(args);
        let repo = self.repo();
        let git_dir = repo.join(".git");
        let index = git_dir.join("index");
        let log = self.docker_log();
        fixture::xtask_env(
            &full,
            &[
                ("GIT_DIR", git_dir.to_str().unwrap()),
                ("GIT_WORK_TREE", repo.to_str().unwrap()),
                ("GIT_INDEX_FILE", index.to_str().unwrap()),
                ("ID_DOCKER_LOG", log.to_str().unwrap()),
            ],
            Some(&self.bin()),
        )
    }

    fn sha7(&self) -> String {
        self.git(&["rev-parse", "--short=7", "HEAD"])
    }
}

/// The tags `build --dry-run --json` plans for the first service.
fn planned_tags(s: &Scratch) -> Vec<String> {
    let inspect = root().join("xtask/tests/fixtures/buildx/docker.txt");
    let o = s.xtask(&[
        "build",
        "--dry-run",
        "--json",
        "--builder-inspect",
        inspect.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    plan["services"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().rsplit(':').next().unwrap().to_owned())
        .collect()
}

/// The tags `push --dry-run --json` would publish, or its failed run.
fn pushed_tags(s: &Scratch, extra: &[&str]) -> Result<Vec<String>, Output> {
    let mut args = vec![
        "push",
        "--dry-run",
        "--json",
        "--registry",
        "127.0.0.1:5999/id",
    ];
    args.extend_from_slice(extra);
    let o = s.xtask(&args);
    if !o.status.success() {
        return Err(o);
    }
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    Ok(plan_steps(&plan)
        .iter()
        .filter(|step| step.starts_with("docker push ") || step.contains("imagetools create"))
        .filter_map(|step| {
            let target = step
                .split(' ')
                .find(|w| w.starts_with("127.0.0.1:5999/id/"))?;
            Some(target.rsplit(':').next().unwrap().to_owned())
        })
        .collect())
}

#[test]
fn a_dirty_tree_is_tagged_apart_and_push_refuses_it_without_allow_dirty() {
    let s = Scratch::new("id-dirty");
    let sha7 = s.sha7();
    let clean = format!("sha-{sha7}");
    let dirty = format!("sha-{sha7}-dirty");

    // Clean: the commit's own tags, all of them published.
    assert_eq!(
        planned_tags(&s),
        ["main", "main-20261120-090507", "latest", clean.as_str()]
    );
    let pushed = pushed_tags(&s, &[]).unwrap_or_else(|o| panic!("{}", stderr(&o)));
    assert!(pushed.contains(&clean), "{pushed:?}");

    // A modified tracked file: the sha tag says so, the branch tags stay for local use.
    std::fs::write(s.repo().join("app.txt"), "changed, not committed\n").unwrap();
    assert_eq!(
        planned_tags(&s),
        ["main", "main-20261120-090507", "latest", dirty.as_str()]
    );
    let refused = pushed_tags(&s, &[]).expect_err("push of a dirty build must be refused");
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("uncommitted changes") && message.contains("--allow-dirty"),
        "{message}"
    );

    // Asked for explicitly: only the dirty tag, never the commit's, the branch's or latest.
    let pushed = pushed_tags(&s, &["--allow-dirty"]).unwrap_or_else(|o| panic!("{}", stderr(&o)));
    assert!(
        !pushed.is_empty() && pushed.iter().all(|t| *t == dirty),
        "{pushed:?}"
    );

    // `ci` decides before anything runs, and passes --allow-dirty on to its push stage.
    let ci = s.xtask(&[
        "ci",
        "--push",
        "--dry-run",
        "--registry",
        "127.0.0.1:5999/id",
    ]);
    assert_eq!(ci.status.code(), Some(2), "{}", stderr(&ci));
    assert!(stderr(&ci).contains("--allow-dirty"), "{}", stderr(&ci));
    let ci = s.xtask(&[
        "ci",
        "--push",
        "--allow-dirty",
        "--dry-run",
        "--registry",
        "127.0.0.1:5999/id",
    ]);
    assert!(ci.status.success(), "{}", stderr(&ci));
    let planned = stdout(&ci);
    assert!(
        planned
            .lines()
            .any(|l| l.contains(" push ") && l.contains("--allow-dirty")),
        "{planned}"
    );
    assert!(
        !s.docker_log().exists(),
        "a dry run called docker: {}",
        std::fs::read_to_string(s.docker_log()).unwrap_or_default()
    );
}

/// The images a test built, removed when it ends (even when it fails).
struct Built(Vec<String>);

impl Drop for Built {
    fn drop(&mut self) {
        for reference in &self.0 {
            let _ = docker(&["image", "rm", reference]);
        }
    }
}

/// api, built twice with nothing changed in between, is the same image: the same config,
/// per platform. Its graph is what showed the defect: BuildKit lists the inline cache
/// metadata of such a graph in no fixed order, and that metadata was in the image config
/// (small fixtures list theirs in order). The image id is the config in Docker's classic
/// store, so there it is the same too; where provenance is attached (Docker 26's containerd
/// store) the id is an index around the image and its provenance, which records the build's
/// own id and times (moby/buildkit#3421), so only the image inside is the same.
/// Cached, each build takes a second.
#[test]
fn a_rebuild_with_no_change_gives_the_same_image() {
    if !engine_available() {
        return;
    }
    let _turn = repository_images();
    let mut built = Built(Vec::new());
    let mut build = || {
        let o = xtask(&["build", "api", "--registry", "id-itest", "--json"]);
        assert!(o.status.success(), "build: {}", stderr(&o));
        let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let s = &report["services"][0];
        for tag in s["tags"].as_array().unwrap() {
            let reference = format!("id-itest/api:{}", tag.as_str().unwrap());
            if !built.0.contains(&reference) {
                built.0.push(reference);
            }
        }
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("target/xtask/record/api.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            record["configs"], s["configs"],
            "the record keeps the configs"
        );
        let id = s["image_id"].as_str().unwrap().to_owned();
        let configs: Vec<String> = serde_json::from_value(s["configs"].clone()).unwrap();
        (id, configs)
    };
    let (first_id, first) = build();
    let (second_id, second) = build();
    assert!(
        !first.is_empty(),
        "the build names its image's config: {first_id}"
    );
    assert_eq!(
        first, second,
        "a cached rebuild of the same inputs got another image config"
    );
    // The id changes only where it is an index around the image (never the config itself).
    assert!(
        first_id == second_id || !first.contains(&first_id),
        "the image id {first_id} is the config, yet the rebuild got {second_id}"
    );
}
