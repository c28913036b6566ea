//! `cargo xtask push` and `promote` as a user runs them, against a real registry with
//! htpasswd auth: every tag at one digest, credentials only on stdin, a clear error and no
//! partial tag set when the registry refuses or dies.

use std::path::{Path, PathBuf};

use crate::common::fixture::{self, xtask_env, Service, GOOD};
use crate::common::registry::Registry;
use crate::common::*;
use serde_json::Value;

/// A `docker` first on PATH that logs its argv to `argv.log` and, when `VP_KILL_PID` is
/// set, kills that process before pointing a tag other than `sha-...` at a digest.
fn docker_wrapper(dir: &Path) -> (PathBuf, PathBuf) {
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v docker"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("argv.log");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\n\
         case \"$*\" in *'imagetools create'*)\n\
         if [ -n \"$VP_KILL_PID\" ] && ! printf '%s' \"$*\" | grep -q ':sha-'; then kill \"$VP_KILL_PID\"; sleep 0.5; fi;;\n\
         esac\nexec '{real}' \"$@\"\n",
        log = log.display(),
        real = real.trim()
    );
    let path = bin.join("docker");
    std::fs::write(&path, script).unwrap();
    std::process::Command::new("chmod")
        .args(["+x", path.to_str().unwrap()])
        .status()
        .unwrap();
    (bin, log)
}

fn build(config: &Path, namespace: &str) {
    build_as(config, namespace, &[]);
}

/// `build` with `env` added (a git context of GitHub Actions' variables, say): the tags it
/// records are the ones push then publishes.
fn build_as(config: &Path, namespace: &str, env: &[(&str, &str)]) {
    let o = xtask_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "build",
            "--registry",
            namespace,
        ],
        env,
        None,
    );
    assert!(o.status.success(), "build: {}", stderr(&o));
}

fn tags_of(config: &Path) -> Vec<String> {
    let o = xtask_env(
        &["--config", config.to_str().unwrap(), "tags", "--json"],
        &[],
        None,
    );
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mut tags: Vec<String> = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    tags
}

#[test]
fn dry_run_plans_digest_first_and_keeps_the_password_out() {
    // A service never built, so that no other test's build record of it is found: the dry
    // run plans with the tags a build would give now.
    let dir = tempfile::tempdir().unwrap();
    let config = fixture::write(dir.path(), &[Service::new("vp-push-dry", GOOD)]);
    let o = xtask_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "push",
            "--dry-run",
            "--json",
            "--registry",
            "127.0.0.1:5199/acme",
        ],
        &[
            ("REGISTRY_USERNAME", "alice"),
            ("REGISTRY_PASSWORD", "pw-dry-run-7"),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("pw-dry-run-7") && !stderr(&o).contains("pw-dry-run-7"));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        plan["login"],
        serde_json::json!([
            "docker",
            "login",
            "--username",
            "alice",
            "--password-stdin",
            "127.0.0.1:5199"
        ])
    );
    let steps = plan_steps(&plan);
    let sha = format!("127.0.0.1:5199/acme/vp-push-dry:sha-{}", &git_head()[..7]);
    assert_eq!(
        steps[0],
        format!("docker manifest inspect --insecure --verbose {sha}")
    );
    assert!(
        steps[1].starts_with("docker tag ") && steps[1].ends_with(&sha),
        "{steps:?}"
    );
    assert_eq!(steps[2], format!("docker push {sha}"));
    assert!(
        steps[3..]
            .iter()
            .all(|s| s.starts_with("docker buildx imagetools")),
        "{steps:?}"
    );
}

#[test]
fn push_needs_a_registry_and_promote_valid_tags() {
    let o = xtask_env(&["push", "--dry-run", "--registry", "acme"], &[], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("names local images only"),
        "{}",
        stderr(&o)
    );
    let o = xtask_env(
        &[
            "promote",
            "--from",
            "sha-1",
            "--to=-bad",
            "--registry",
            "127.0.0.1:5199/acme",
            "--dry-run",
        ],
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--to: tag `-bad`"), "{}", stderr(&o));
}

#[test]
fn push_refuses_images_without_a_passing_scan() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fixture::write(dir.path(), &[Service::new("vp-gate", GOOD)]);
    build(&config, "127.0.0.1:5199/acme");
    let verdict = root().join("target/xtask/scan/vp-gate.verdict.json");
    std::fs::create_dir_all(verdict.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&verdict);
    let push = || {
        xtask_env(
            &[
                "--config",
                config.to_str().unwrap(),
                "push",
                "--registry",
                "127.0.0.1:5199/acme",
            ],
            &[],
            None,
        )
    };
    let o = push();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("run cargo xtask scan vp-gate first, or pass --allow-unscanned"),
        "{}",
        stderr(&o)
    );
    let id = std::fs::read_to_string(root().join("target/xtask/build/vp-gate.iid")).unwrap();
    std::fs::write(
        &verdict,
        format!(r#"{{"image_id": "{}", "passed": false}}"#, id.trim()),
    )
    .unwrap();
    let o = push();
    assert_eq!(o.status.code(), Some(1));
    // A hand-written verdict is bound to no report, policy or ignore list.
    assert!(
        stderr(&o).contains("lacks counts, policy, ignores, report"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("docker push"),
        "nothing is attempted: {}",
        stderr(&o)
    );
    let _ = std::fs::remove_file(&verdict);
}

/// The main job: two services, every tag of each at one digest, the password nowhere but
/// docker's stdin; then a promote re-tags that digest.
#[test]
fn push_publishes_every_tag_at_one_digest_and_never_leaks_the_password() {
    if !engine_available() {
        return;
    }
    let password = "vp-Secr3t-push-password";
    let registry = Registry::start("vp-user", password);
    let ns = format!("{}/acme", registry.host());
    let dir = tempfile::tempdir().unwrap();
    let second = format!("{GOOD}LABEL fixture=second\n");
    let config = fixture::write(
        dir.path(),
        &[
            Service::new("vp-push-a", GOOD),
            Service::new("vp-push-b", &second),
        ],
    );
    build(&config, &ns);
    let (bin, log) = docker_wrapper(dir.path());
    let env = [
        ("REGISTRY_USERNAME", "vp-user"),
        ("REGISTRY_PASSWORD", password),
        ("XTASK_RETRY_BASE_MS", "10"),
    ];
    let o = xtask_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "push",
            "--registry",
            &ns,
            "--allow-unscanned",
            "--json",
        ],
        &env,
        Some(&bin),
    );
    assert!(o.status.success(), "push: {}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let expected = tags_of(&config);
    let mut digests = Vec::new();
    for (i, name) in ["vp-push-a", "vp-push-b"].iter().enumerate() {
        let s = &report["services"][i];
        assert_eq!(s["result"], "published", "{s}");
        let digest = s["digest"].as_str().unwrap().to_owned();
        let repo = format!("acme/{name}");
        assert_eq!(registry.tags(&repo), expected, "{name}");
        for tag in &expected {
            assert_eq!(
                registry.digest(&repo, tag).as_deref(),
                Some(digest.as_str()),
                "{name}:{tag}"
            );
        }
        digests.push(digest);
    }
    assert_ne!(digests[0], digests[1]);

    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(
        argv.contains(&format!(
            "login --username vp-user --password-stdin {}",
            registry.host()
        )),
        "{argv}"
    );
    assert!(
        !argv.contains(password),
        "the password reached a docker argv"
    );
    assert!(!stdout(&o).contains(password) && !stderr(&o).contains(password));

    // Promote a pushed digest to release tags, without rebuilding.
    let sha_tag = format!("sha-{}", &git_head()[..7]);
    let o = xtask_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "promote",
            "--registry",
            &ns,
            "--from",
            &sha_tag,
            "--to",
            "v9.9.9,stable",
            "vp-push-a",
        ],
        &env,
        Some(&bin),
    );
    assert!(o.status.success(), "promote: {}", stderr(&o));
    for tag in ["v9.9.9", "stable"] {
        assert_eq!(
            registry.digest("acme/vp-push-a", tag),
            Some(digests[0].clone()),
            "{tag}"
        );
    }
    assert!(registry
        .tags("acme/vp-push-b")
        .iter()
        .all(|t| t != "stable"));
    assert!(!std::fs::read_to_string(&log).unwrap().contains(password));
}

#[test]
fn wrong_password_is_one_clear_error_and_pushes_nothing() {
    if !engine_available() {
        return;
    }
    let registry = Registry::start("vp-user", "the-right-one");
    let ns = format!("{}/acme", registry.host());
    let dir = tempfile::tempdir().unwrap();
    let config = fixture::write(dir.path(), &[Service::new("vp-auth", GOOD)]);
    build(&config, &ns);
    let (bin, log) = docker_wrapper(dir.path());
    let o = xtask_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "push",
            "--registry",
            &ns,
            "--allow-unscanned",
        ],
        &[
            ("REGISTRY_USERNAME", "vp-user"),
            ("REGISTRY_PASSWORD", "wrong-Pa55word"),
            ("XTASK_RETRY_BASE_MS", "10"),
        ],
        Some(&bin),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cannot log in to") && err.contains("retrying cannot help"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{err}"
    );
    assert!(!err.contains("wrong-Pa55word") && !stdout(&o).contains("wrong-Pa55word"));
    let argv = std::fs::read_to_string(&log).unwrap();
    let logins = argv.lines().filter(|l| l.starts_with("login ")).count();
    assert_eq!(logins, 1, "an auth failure is not retried: {argv}");
    assert!(!argv.contains("push"), "{argv}");
    assert!(registry.tags("acme/vp-auth").is_empty());
}

/// The registry dies after a new commit's image is in place under its immutable tag: push
/// fails clearly, and `latest` still names the previous commit's image.
#[test]
fn registry_dying_mid_push_never_moves_latest_alone() {
    if !engine_available() {
        return;
    }
    let mut registry = Registry::start("vp-user", "pw-die");
    let _cleanup = LocalTags(registry.host());
    let ns = format!("{}/acme", registry.host());
    let dir = tempfile::tempdir().unwrap();
    let config = default_branch_config(dir.path(), "vp-die", GOOD);
    let branch = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "--abbrev-ref", "HEAD"])
            .current_dir(root())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let git_ref = format!("refs/heads/{}", branch.trim());
    let parent = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD~1"])
            .current_dir(root())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let (bin, log) = docker_wrapper(dir.path());
    // Two commits, as a pipeline sees them: the previous one, then this one. Each is built
    // in its context, and push publishes the tags its build recorded.
    let actions = |sha: &str| -> Vec<(&str, String)> {
        vec![
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_EVENT_NAME", "push".to_owned()),
            ("GITHUB_REF", git_ref.clone()),
            ("GITHUB_SHA", sha.to_owned()),
        ]
    };
    let build_at = |sha: &str| {
        let env = actions(sha);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        build_as(&config, &ns, &env);
    };
    let push = |sha: &str, extra: &[(&str, &str)]| {
        let context = actions(sha);
        let mut env = vec![
            ("REGISTRY_USERNAME", "vp-user"),
            ("REGISTRY_PASSWORD", "pw-die"),
            ("XTASK_RETRY_BASE_MS", "10"),
        ];
        env.extend(context.iter().map(|(k, v)| (*k, v.as_str())));
        env.extend_from_slice(extra);
        xtask_env(
            &[
                "--config",
                config.to_str().unwrap(),
                "push",
                "--registry",
                &ns,
                "--allow-unscanned",
            ],
            &env,
            Some(&bin),
        )
    };
    build_at(parent.trim());
    let o = push(parent.trim(), &[]);
    assert!(o.status.success(), "first push: {}", stderr(&o));
    let old = registry
        .digest("acme/vp-die", "latest")
        .expect("latest is pushed");

    std::fs::write(
        dir.path().join("vp-die.Dockerfile"),
        format!("{GOOD}LABEL build=2\n"),
    )
    .unwrap();
    build_at(&git_head());
    let pid = registry.pid().to_string();
    let o = push(&git_head(), &[("VP_KILL_PID", &pid)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("push failed for vp-die") && err.contains("could not be reached"),
        "{err}"
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("imagetools create"));

    registry.stop();
    registry.restart();
    let sha_tag = format!("sha-{}", &git_head()[..7]);
    let new = registry.digest("acme/vp-die", &sha_tag).unwrap();
    assert_ne!(new, old, "the immutable tag names the new image");
    assert_eq!(
        registry.digest("acme/vp-die", "latest"),
        Some(old),
        "latest did not move"
    );
}

/// `cargo xtask ARGS...` as [`xtask_env`] runs it, killed if it is still running after
/// `limit`; returns its output (None when it had to be killed) and how long it ran.
fn xtask_within(
    args: &[&str],
    env: &[(&str, &str)],
    limit: std::time::Duration,
) -> (Option<std::process::Output>, std::time::Duration) {
    use std::process::{Command, Stdio};
    let started = std::time::Instant::now();
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(args).current_dir(root());
    for var in ["REGISTRY_USERNAME", "REGISTRY_PASSWORD", "XTASK_REGISTRY"] {
        c.env_remove(var);
    }
    c.envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("xtask runs");
    loop {
        if child.try_wait().unwrap().is_some() {
            return (Some(child.wait_with_output().unwrap()), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (None, started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A throwaway config declaring `name`, whose "build" is `busybox:stable` tagged
/// `<namespace>/<name>:sha-<7>`, with its id and that tag recorded where `build` records
/// them: push has an image without a build. `registry` is appended to the config.
fn busybox_service(dir: &Path, name: &str, registry: &str, namespace: &str) -> PathBuf {
    let config = fixture::write(dir, &[Service::new(name, GOOD)]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(registry);
    std::fs::write(&config, text).unwrap();
    let id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", "busybox:stable"]);
    let iid = root().join(format!("target/xtask/build/{name}.iid"));
    std::fs::create_dir_all(iid.parent().unwrap()).unwrap();
    std::fs::write(iid, format!("{id}\n")).unwrap();
    let tag = format!("sha-{}", &git_head()[..7]);
    let repository = format!("{namespace}/{name}");
    docker_ok(&["tag", "busybox:stable", &format!("{repository}:{tag}")]);
    crate::record::write_record(name, &repository, &id, &[tag], false);
    config
}

fn error_line(err: &str) -> &str {
    err.lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or_else(|| panic!("no error line in:\n{err}"))
}

/// A registry that answers `GET /v2/` and then never answers: every registry command is
/// stopped at its timeout, retried a bounded number of times, and push fails with exit 1
/// naming the timeout, well within the configured bound.
#[test]
fn a_stalling_registry_fails_the_push_within_its_timeouts() {
    use crate::common::registry::{FakeRegistry, Misbehaviour};
    if !engine_available() {
        return;
    }
    let stall = FakeRegistry::start(5710..5730, Misbehaviour::Stall);
    let _cleanup = LocalTags(stall.host());
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("{}/ps", stall.host());
    let config = busybox_service(
        dir.path(),
        "ps-stall",
        "[registry]\ntimeout_secs = 2\nretries = 1\n",
        &ns,
    );
    let (o, took) = xtask_within(
        &[
            "--config",
            config.to_str().unwrap(),
            "push",
            "--registry",
            &ns,
            "--allow-unscanned",
        ],
        &[("XTASK_RETRY_BASE_MS", "10")],
        std::time::Duration::from_secs(60),
    );
    let o = o.unwrap_or_else(|| panic!("push still ran after {took:?}"));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let first = error_line(&err);
    assert!(
        first.contains("push failed for ps-stall") && first.contains("timed out after 2 s"),
        "{err}"
    );
    // 2 attempts of 2 s each, a 10 ms wait, and the process around them.
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    eprintln!("stalling registry: push failed after {took:?}:\n{err}");
}

/// A registry that answers 500 to everything after `GET /v2/`: push retries a bounded number
/// of times, then fails with exit 1 calling it a server error, without docker's own long
/// retry loop.
#[test]
fn a_registry_answering_500_fails_the_push_quickly_as_a_server_error() {
    use crate::common::registry::{FakeRegistry, Misbehaviour};
    if !engine_available() {
        return;
    }
    let broken = FakeRegistry::start(5710..5730, Misbehaviour::ServerError);
    let _cleanup = LocalTags(broken.host());
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("{}/ps", broken.host());
    let config = busybox_service(
        dir.path(),
        "ps-five-hundred",
        "[registry]\ntimeout_secs = 5\nretries = 2\n",
        &ns,
    );
    let (o, took) = xtask_within(
        &[
            "--config",
            config.to_str().unwrap(),
            "push",
            "--registry",
            &ns,
            "--allow-unscanned",
        ],
        &[("XTASK_RETRY_BASE_MS", "10")],
        std::time::Duration::from_secs(60),
    );
    let o = o.unwrap_or_else(|| panic!("push still ran after {took:?}"));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let first = error_line(&err);
    assert!(
        first.contains("push failed for ps-five-hundred") && first.contains("500"),
        "{err}"
    );
    assert!(err.contains("server error"), "{err}");
    assert!(err.contains("after 3 attempt(s)"), "{err}");
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    eprintln!("500-answering registry: push failed after {took:?}:\n{err}");
}

/// Removes the local image tags under `host` (what push's `docker tag` made) when dropped.
struct LocalTags(String);

impl Drop for LocalTags {
    fn drop(&mut self) {
        let listed = docker(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"]);
        for line in stdout(&listed)
            .lines()
            .filter(|l| l.starts_with(&format!("{}/", self.0)))
        {
            // An image a rebuild replaced has lost its tag: remove it by id.
            let name = match line.split(' ').collect::<Vec<_>>()[..] {
                [_, "<none>", id] => id.to_owned(),
                [repo, tag, _] => format!("{repo}:{tag}"),
                _ => continue,
            };
            let _ = docker(&["rmi", &name]);
        }
    }
}

/// Every tag of `repo` with the digest it names.
fn digests(registry: &Registry, repo: &str) -> Vec<(String, Option<String>)> {
    registry
        .tags(repo)
        .into_iter()
        .map(|t| {
            let d = registry.digest(repo, &t);
            (t, d)
        })
        .collect()
}

/// A config with one fixture service `name` whose `latest` comes with the branch checked out.
fn default_branch_config(dir: &Path, name: &str, dockerfile: &str) -> PathBuf {
    let config = fixture::write(dir, &[Service::new(name, dockerfile)]);
    let branch = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "--abbrev-ref", "HEAD"])
            .current_dir(root())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[project]\n",
        &format!("[project]\ndefault_branch = \"{}\"\n", branch.trim()),
        1,
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// Re-pushing the same image changes nothing and pushes nothing; pushing a rebuilt,
/// different image of the same commit is refused before any tag moves, naming the digest
/// the immutable tag holds.
#[test]
fn the_immutable_tag_is_never_repointed_by_a_re_push() {
    if !engine_available() {
        return;
    }
    let registry = Registry::start_in(5710..5730, "ps-user", "ps-repush-pw");
    let _cleanup = LocalTags(registry.host());
    let ns = format!("{}/acme", registry.host());
    let dir = tempfile::tempdir().unwrap();
    let config = default_branch_config(dir.path(), "ps-repush", GOOD);
    let (bin, log) = docker_wrapper(dir.path());
    let push = || {
        xtask_env(
            &[
                "--config",
                config.to_str().unwrap(),
                "push",
                "--registry",
                &ns,
                "--allow-unscanned",
            ],
            &[
                ("REGISTRY_USERNAME", "ps-user"),
                ("REGISTRY_PASSWORD", "ps-repush-pw"),
                ("XTASK_RETRY_BASE_MS", "10"),
            ],
            Some(&bin),
        )
    };
    build(&config, &ns);
    let o = push();
    assert!(o.status.success(), "first push: {}", stderr(&o));
    let repo = "acme/ps-repush";
    let sha_tag = format!("sha-{}", &git_head()[..7]);
    let published = digests(&registry, repo);
    let sha_digest = registry.digest(repo, &sha_tag).unwrap();
    assert!(
        published.iter().any(|(t, _)| t == "latest"),
        "{published:?}"
    );
    assert!(
        published
            .iter()
            .all(|(_, d)| d.as_deref() == Some(&sha_digest)),
        "{published:?}"
    );

    // (b) The same image again: nothing is uploaded and every tag stays where it is.
    std::fs::write(&log, "").unwrap();
    let o = push();
    assert!(o.status.success(), "same re-push: {}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{sha_tag} already holds this image")),
        "{}",
        stderr(&o)
    );
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(
        !argv.lines().any(|l| l.starts_with("push ")),
        "the same image is not pushed again:\n{argv}"
    );
    assert_eq!(digests(&registry, repo), published);

    // (a) A rebuilt, different image of the same commit: refused, nothing moves.
    std::fs::write(
        dir.path().join("ps-repush.Dockerfile"),
        format!("{GOOD}LABEL rebuilt=yes\n"),
    )
    .unwrap();
    build(&config, &ns);
    std::fs::write(&log, "").unwrap();
    let o = push();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let first = error_line(&err);
    assert!(
        first.contains("push failed for ps-repush")
            && first.contains(&format!("{sha_tag} already holds {sha_digest}")),
        "{err}"
    );
    assert!(
        err.contains("rebuild from a clean checkout") && err.contains("new commit"),
        "{err}"
    );
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(
        !argv
            .lines()
            .any(|l| l.starts_with("push ") || l.contains("imagetools create")),
        "nothing is pushed or moved:\n{argv}"
    );
    assert_eq!(digests(&registry, repo), published);
}

/// The reproduced fault: push, then re-push with the registry killed the moment the
/// immutable tag's manifest is written again. The re-push must not write it at all; after
/// a restart on the same storage every tag is still on the first digest, and a re-push
/// keeps them there.
#[test]
fn a_registry_killed_during_a_re_push_leaves_the_immutable_tag_where_it_was() {
    if !engine_available() {
        return;
    }
    let mut registry = Registry::start_in(5710..5730, "ps-user", "ps-fault-pw");
    let _cleanup = LocalTags(registry.host());
    let ns = format!("{}/acme", registry.host());
    let dir = tempfile::tempdir().unwrap();
    let config = default_branch_config(dir.path(), "ps-fault", GOOD);
    let push = || {
        xtask_env(
            &[
                "--config",
                config.to_str().unwrap(),
                "push",
                "--registry",
                &ns,
                "--allow-unscanned",
            ],
            &[
                ("REGISTRY_USERNAME", "ps-user"),
                ("REGISTRY_PASSWORD", "ps-fault-pw"),
                ("XTASK_RETRY_BASE_MS", "10"),
            ],
            None,
        )
    };
    build(&config, &ns);
    let o = push();
    assert!(o.status.success(), "first push: {}", stderr(&o));
    let repo = "acme/ps-fault";
    let sha_tag = format!("sha-{}", &git_head()[..7]);
    let first = registry.digest(repo, &sha_tag).unwrap();
    let published = digests(&registry, repo);

    let watch = registry.kill_when_tag_moves(repo, &sha_tag);
    let o = push();
    let fired = watch.fired();
    drop(watch);
    registry.stop();
    registry.restart();
    assert!(
        !fired,
        "the re-push wrote {sha_tag} again (the registry was killed right after): {}",
        stderr(&o)
    );
    assert!(o.status.success(), "re-push: {}", stderr(&o));
    assert_eq!(registry.digest(repo, &sha_tag).as_deref(), Some(&*first));
    assert_eq!(digests(&registry, repo), published);

    let o = push();
    assert!(o.status.success(), "push after the restart: {}", stderr(&o));
    assert_eq!(digests(&registry, repo), published);
    assert!(published.iter().all(|(_, d)| d.as_deref() == Some(&*first)));
}

/// An edited or stale verdict never opens the gate: `push` checks it against the report it
/// was made from, the policy and the ignore list in force (exit 1, nothing pushed). Fake
/// `docker` and `trivy` on PATH; no engine.
#[test]
fn push_refuses_an_edited_or_stale_verdict_and_pushes_nothing() {
    use crate::common::trivy::StandIn;
    use crate::scan::{fake_docker, FakeBuild, FAKE_IMAGE_ID};

    let s = StandIn::new();
    let built = FakeBuild::new("vd-verdict");
    let image = format!("127.0.0.1:5999/acme/vd-verdict:sha-{}", &git_head()[..7]);
    crate::record::write_record(
        "vd-verdict",
        "127.0.0.1:5999/acme/vd-verdict",
        FAKE_IMAGE_ID,
        &[format!("sha-{}", &git_head()[..7])],
        false,
    );
    let env = fake_docker(&s, std::slice::from_ref(&image));
    let ignore = s.path("ignore.yaml");
    let config = s.path("verdict.toml");
    std::fs::write(
        &config,
        format!(
            "[project]\nname = \"xtask-itest\"\n[services.vd-verdict]\ndockerfile = \"x.Dockerfile\"\nsize_budget_mb = 1\n[scan]\nignore_file = \"{}\"\n",
            ignore.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = |args: &[&str], fixture: &str| {
        let mut env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.push(("TRIVY_STANDIN_FIXTURE", fixture));
        let mut full = vec!["--config", config];
        full.extend_from_slice(args);
        s.xtask(&full, &env)
    };
    let scan = |fixture: &str| {
        run(
            &["scan", "vd-verdict", "--registry", "127.0.0.1:5999/acme"],
            fixture,
        )
    };
    let push = || {
        run(
            &["push", "vd-verdict", "--registry", "127.0.0.1:5999/acme"],
            "",
        )
    };
    let pushed = || {
        std::fs::read_to_string(s.path("docker.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("image inspect") && !l.starts_with("version"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let refused = |o: &std::process::Output, why: &str| {
        assert_eq!(o.status.code(), Some(1), "{why}: {}", stderr(o));
        let err = stderr(o);
        assert!(err.contains("nothing was pushed"), "{why}: {err}");
        assert!(
            err.contains("cargo xtask scan vd-verdict"),
            "{why}: says to scan again: {err}"
        );
        assert_eq!(
            pushed(),
            Vec::<String>::new(),
            "{why}: nothing is attempted"
        );
    };

    // A failing scan, its verdict flipped to passed.
    std::fs::write(&ignore, "").unwrap();
    let o = scan("debian-buster");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = std::fs::read_to_string(built.verdict()).unwrap();
    assert!(text.contains(r#""passed": false"#), "{text}");
    std::fs::write(
        built.verdict(),
        text.replace(r#""passed": false"#, r#""passed": true"#),
    )
    .unwrap();
    refused(&push(), "passed flipped");

    // A hand-written minimal verdict.
    std::fs::write(
        built.verdict(),
        format!(r#"{{"image_id": "{FAKE_IMAGE_ID}", "passed": true}}"#),
    )
    .unwrap();
    refused(&push(), "hand-written verdict");

    // A scan that passed only thanks to an ignore entry removed since.
    std::fs::write(
        &ignore,
        "vulnerabilities:\n  - id: CVE-2019-18224\n    statement: not reachable\n",
    )
    .unwrap();
    let o = scan("debian-buster");
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(&ignore, "").unwrap();
    refused(&push(), "ignore entry removed");
    drop(built);
}
