//! The git context a build is tagged and labelled from.
//!
//! In GitHub Actions (`GITHUB_ACTIONS=true`) it comes from the `GITHUB_*` variables and the
//! event payload, exactly as docker/metadata-action sees it (with its
//! `DOCKER_METADATA_PR_HEAD_SHA` and `DOCKER_METADATA_SHORT_SHA_LENGTH`); elsewhere from the
//! local repository. Shallow clones, a detached HEAD and a dirty tree all give a usable
//! context: only the commit itself must be present. This module reads git; it never changes it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use time::OffsetDateTime;

use crate::adapters::exec::{self, Command, UsageError};
use crate::domain::env::Env;
use crate::domain::git::{is_commit_id, parse_remote, GitContext};
use crate::domain::identity::SHORT_SHA_LEN;

impl GitContext {
    /// Reads the context for the repository at `root`. The default branch is taken from
    /// GitHub's event payload, else `default_branch` (the configured one), else the clone's
    /// `origin/HEAD`, else `main`.
    pub fn detect(root: &Path, env: &Env, default_branch: Option<&str>) -> Result<GitContext> {
        let git = Git(root);
        if env.github_actions() {
            from_github(env, &git, default_branch)
        } else {
            from_local(env, &git, default_branch)
        }
    }
}

/// git in the repository at this path.
struct Git<'a>(&'a Path);

impl Git<'_> {
    fn read(&self, args: &[&str]) -> Option<String> {
        let out = exec::read(&Command::new("git").args(args.iter().copied()).dir(self.0)).ok()?;
        Some(out.trim().to_owned()).filter(|s| !s.is_empty())
    }

    fn commit_time(&self, sha: &str) -> Result<OffsetDateTime> {
        let secs = self
            .read(&["show", "-s", "--format=%ct", "--end-of-options", sha])
            .with_context(|| format!("commit {sha} is not in this clone; fetch it (a shallow clone of depth 1 is enough)"))?;
        let secs: i64 = secs
            .parse()
            .context("git printed a commit time that is not a number")?;
        Ok(OffsetDateTime::from_unix_timestamp(secs)?)
    }

    fn origin(&self) -> Option<(String, String)> {
        let url = self.read(&["remote", "get-url", "origin"])?;
        parse_remote(&url)
    }
}

fn from_local(env: &Env, git: &Git, default_branch: Option<&str>) -> Result<GitContext> {
    // Independent questions, asked at once: each is a git process, and every build waits for
    // the context, so they cost the slowest one rather than their sum.
    let (head, symbolic_ref, origin, origin_head, status) = std::thread::scope(|s| {
        let head = s.spawn(|| {
            git.read(&[
                "show",
                "-s",
                "--format=%H %ct",
                "--end-of-options",
                "HEAD^{commit}",
            ])
        });
        // XTASK_GIT_REF lets a contributor preview a release (`refs/tags/v1.2.3`) or a PR
        // locally.
        let symbolic_ref = s.spawn(|| match env.get("XTASK_GIT_REF") {
            Some(r) => Some(r.to_owned()),
            None => git.read(&["symbolic-ref", "-q", "HEAD"]),
        });
        let origin = s.spawn(|| git.origin());
        // Only asked when the config names no default branch.
        let origin_head = s.spawn(|| match default_branch {
            Some(_) => None,
            None => git.read(&["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"]),
        });
        let status = s.spawn(|| git.read(&["status", "--porcelain", "--untracked-files=no"]));
        let join = |h: std::thread::ScopedJoinHandle<'_, Option<String>>| {
            h.join().expect("a git query panicked")
        };
        (
            join(head),
            join(symbolic_ref),
            origin.join().expect("a git query panicked"),
            join(origin_head),
            join(status),
        )
    });
    let Some((sha, secs)) = head.as_deref().and_then(|h| h.split_once(' ')) else {
        bail!("no commit to build from: run inside a git repository with at least one commit");
    };
    let secs: i64 = secs
        .parse()
        .context("git printed a commit time that is not a number")?;
    // Detached: the newest version tag at HEAD, if any (asked only then).
    let git_ref = symbolic_ref.or_else(|| {
        git.read(&["tag", "--points-at", "HEAD", "--sort=-v:refname"])
            .map(|tags| format!("refs/tags/{}", tags.lines().next().unwrap_or_default()))
    });
    let origin_head = origin_head.and_then(|r| r.strip_prefix("origin/").map(str::to_owned));
    Ok(GitContext {
        event: "push".into(),
        git_ref,
        commit_time: OffsetDateTime::from_unix_timestamp(secs)?,
        sha: sha.to_owned(),
        short_sha_len: short_sha_len(env)?,
        default_branch: default_branch
            .map(str::to_owned)
            .or(origin_head)
            .unwrap_or_else(|| "main".into()),
        repository: origin.as_ref().map(|(repo, _)| repo.clone()),
        source_url: origin.map(|(_, url)| url),
        base_ref: None,
        head_ref: None,
        dirty: status.is_some(),
        time_zones: Default::default(),
    })
}

/// `DOCKER_METADATA_SHORT_SHA_LENGTH`: how many digits of the commit `type=sha` and `{{sha}}`
/// give. Never fewer than [`SHORT_SHA_LEN`]: the immutable tag is found by the commit's
/// first seven digits.
fn short_sha_len(env: &Env) -> Result<usize> {
    const KEY: &str = "DOCKER_METADATA_SHORT_SHA_LENGTH";
    let Some(text) = env.get(KEY).map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(SHORT_SHA_LEN);
    };
    match text.parse::<usize>() {
        Ok(n) if n >= SHORT_SHA_LEN => Ok(n),
        Ok(_) => Err(UsageError::new(format!(
            "{KEY}={text} is shorter than {SHORT_SHA_LEN}: the immutable tag names the commit by \
             at least {SHORT_SHA_LEN} digits; set {SHORT_SHA_LEN} or more, or unset it"
        ))),
        Err(_) => Err(UsageError::new(format!(
            "{KEY}={text} is not a valid number: set a whole number such as 12, or unset it"
        ))),
    }
}

/// The events whose tags and push decision depend on a pull request number.
const PULL_REQUEST_EVENTS: [&str; 2] = ["pull_request", "pull_request_target"];

/// Reads the GitHub Actions context. A broken environment (a variable missing, an event file
/// that cannot be read, a pull request event without its number) is bad input, exit 2: a
/// context the tool cannot classify must never be taken for a push to the default branch.
/// The one exception is metadata-action's "null" context: event, commit and ref all empty
/// gives a context with nothing to tag (and so no tags), not an error.
fn from_github(env: &Env, git: &Git, default_branch: Option<&str>) -> Result<GitContext> {
    let repository = env.get("GITHUB_REPOSITORY").map(str::to_owned);
    let server = env.get("GITHUB_SERVER_URL").unwrap_or("https://github.com");
    let source_url = repository.as_ref().map(|r| format!("{server}/{r}"));
    let short_sha_len = short_sha_len(env)?;
    let Some(event) = env.get("GITHUB_EVENT_NAME").map(str::to_owned) else {
        if env.get("GITHUB_SHA").is_some() || env.get("GITHUB_REF").is_some() {
            return Err(UsageError::new(
                "GITHUB_ACTIONS=true but GITHUB_EVENT_NAME is not set while GITHUB_SHA or \
                 GITHUB_REF is: refusing to guess what this run is; set GITHUB_EVENT_NAME",
            ));
        }
        return Ok(GitContext {
            event: String::new(),
            git_ref: None,
            sha: String::new(),
            short_sha_len,
            // metadata-action's fallback when no commit date is known: the current date.
            commit_time: OffsetDateTime::now_utc(),
            default_branch: default_branch.unwrap_or("main").to_owned(),
            repository,
            source_url,
            base_ref: None,
            head_ref: None,
            dirty: false,
            time_zones: Default::default(),
        });
    };
    let required = |key: &str| {
        env.get(key)
            .map(str::to_owned)
            .ok_or_else(|| UsageError::new(format!("GITHUB_ACTIONS=true but {key} is not set")))
    };
    let commit = |key: &str, sha: String| {
        if is_commit_id(&sha) {
            Ok(sha)
        } else {
            Err(UsageError::new(format!(
                "{key}={sha:?} is not a commit id (40 or 64 lowercase hex digits)"
            )))
        }
    };
    let github_sha = commit("GITHUB_SHA", required("GITHUB_SHA")?)?;
    let payload: serde_json::Value = match env.get("GITHUB_EVENT_PATH") {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                UsageError::new(format!("GITHUB_EVENT_PATH {path} cannot be read: {e}"))
            })?;
            serde_json::from_str(&text).map_err(|e| {
                UsageError::new(format!("GITHUB_EVENT_PATH {path} is not JSON: {e}"))
            })?
        }
        None => serde_json::Value::Null,
    };
    let str_at = |pointer: &str| payload.pointer(pointer).and_then(|v| v.as_str());
    let pr_number = payload
        .pointer("/number")
        .or_else(|| payload.pointer("/pull_request/number"))
        .and_then(|n| n.as_u64());
    if PULL_REQUEST_EVENTS.contains(&event.as_str()) && pr_number.is_none() {
        return Err(UsageError::new(format!(
            "GITHUB_EVENT_NAME={event} but the event payload (GITHUB_EVENT_PATH) has no numeric \
             pull_request.number: refusing to guess what this run is"
        )));
    }
    // pull_request_target runs on the base branch's ref; tag it as the PR it is for.
    let git_ref = match (event.as_str(), pr_number) {
        ("pull_request_target", Some(n)) => Some(format!("refs/pull/{n}/merge")),
        _ => env.get("GITHUB_REF").map(str::to_owned),
    };
    // DOCKER_METADATA_PR_HEAD_SHA=true: a pull request is named by its head commit, not by
    // the merge commit GitHub made for the run.
    let head_sha = str_at("/pull_request/head/sha")
        .filter(|_| {
            event.contains("pull_request")
                && env
                    .get("DOCKER_METADATA_PR_HEAD_SHA")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("true"))
        })
        .map(|sha| commit("pull_request.head.sha", sha.to_owned()))
        .transpose()?;
    let sha = head_sha.clone().unwrap_or_else(|| github_sha.clone());
    let commit_time = match git.commit_time(&sha) {
        Ok(t) => t,
        Err(e) => match payload_time(&payload, &sha) {
            Some(t) => t,
            None if head_sha.is_some() => {
                // The head is a parent of the merge commit a depth-1 checkout has.
                let t = git.commit_time(&github_sha).map_err(|_| e)?;
                eprintln!(
                    "warning: the pull request's head {sha} is not in this clone, so \
                     {{{{commit_date}}}} is the merge commit's; fetch it (fetch-depth: 2) for its own"
                );
                t
            }
            None => return Err(e),
        },
    };
    let on = |prefix: &str| git_ref.as_deref().is_some_and(|r| r.starts_with(prefix));
    let base_ref = if on("refs/tags/") {
        str_at("/base_ref").map(|r| r.strip_prefix("refs/heads/").unwrap_or(r).to_owned())
    } else if on("refs/pull/") {
        str_at("/pull_request/base/ref").map(str::to_owned)
    } else {
        None
    };
    Ok(GitContext {
        event,
        git_ref,
        sha,
        short_sha_len,
        commit_time,
        default_branch: str_at("/repository/default_branch")
            .or(default_branch)
            .unwrap_or("main")
            .to_owned(),
        source_url,
        repository,
        base_ref,
        head_ref: env.get("GITHUB_HEAD_REF").map(str::to_owned),
        dirty: false,
        time_zones: Default::default(),
    })
}

/// The commit time the payload gives for `sha`: its entry in a push's `commits`, else its
/// `head_commit` (when that names `sha` or no commit at all).
fn payload_time(payload: &serde_json::Value, sha: &str) -> Option<OffsetDateTime> {
    let parse = |ts: &serde_json::Value| {
        OffsetDateTime::parse(ts.as_str()?, &time::format_description::well_known::Rfc3339).ok()
    };
    let commits = payload.pointer("/commits").and_then(|c| c.as_array());
    if let Some(c) = commits
        .into_iter()
        .flatten()
        .find(|c| c.pointer("/id").and_then(|i| i.as_str()) == Some(sha))
    {
        return parse(c.pointer("/timestamp")?);
    }
    let head = payload.pointer("/head_commit")?;
    match head.pointer("/id").and_then(|i| i.as_str()) {
        Some(id) if id != sha => None,
        _ => parse(head.pointer("/timestamp")?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Repo(tempfile::TempDir);

    impl Repo {
        fn new() -> Repo {
            let repo = Repo(tempfile::tempdir().unwrap());
            repo.git(&["init", "-q", "-b", "main"]);
            repo.commit("a.txt", "one");
            repo
        }

        /// Writes `file` with `text` as its content and commits it, with `text` as message.
        fn commit(&self, file: &str, text: &str) {
            std::fs::write(self.path().join(file), text).unwrap();
            self.git(&["add", file]);
            self.git(&[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "commit",
                "-q",
                "-m",
                text,
            ]);
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        fn git(&self, args: &[&str]) -> String {
            let out = exec::output(
                &Command::new("git")
                    .args(args.iter().copied())
                    .dir(self.path())
                    .env("GIT_COMMITTER_DATE", "2026-11-20T09:05:07Z")
                    .env("GIT_AUTHOR_DATE", "2026-11-20T09:05:07Z"),
            )
            .unwrap();
            assert!(out.success, "git {args:?}: {}", out.stderr);
            out.stdout.trim().to_owned()
        }

        fn detect(&self, env: &[(&str, &str)]) -> GitContext {
            GitContext::detect(self.path(), &env.iter().copied().collect(), None).unwrap()
        }

        /// The error `detect` gives for `env`, with the exit code it maps to.
        fn refused(&self, env: &[(&str, &str)]) -> (u8, String) {
            let err = GitContext::detect(self.path(), &env.iter().copied().collect(), None)
                .expect_err("the context should be refused");
            (exec::exit_code(&err), format!("{err:#}"))
        }
    }

    #[test]
    fn a_broken_github_environment_is_bad_input() {
        let repo = Repo::new();
        let sha = repo.git(&["rev-parse", "HEAD"]);
        let dir = repo.path().to_str().unwrap().to_owned();
        let not_json = repo.path().join("event.txt");
        std::fs::write(&not_json, "not json").unwrap();
        let string_number = repo.path().join("string-number.json");
        std::fs::write(&string_number, r#"{"pull_request": {"number": "7"}}"#).unwrap();
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("GITHUB_EVENT_NAME", "push")], "GITHUB_SHA is not set"),
            (vec![("GITHUB_SHA", &sha)], "GITHUB_EVENT_NAME is not set"),
            (
                vec![("GITHUB_REF", "refs/heads/main")],
                "GITHUB_EVENT_NAME is not set",
            ),
            (
                vec![
                    ("GITHUB_SHA", &sha),
                    ("GITHUB_EVENT_NAME", "push"),
                    ("DOCKER_METADATA_SHORT_SHA_LENGTH", "twelve"),
                ],
                "not a valid number",
            ),
            (
                vec![
                    ("GITHUB_SHA", &sha),
                    ("GITHUB_EVENT_NAME", "push"),
                    ("DOCKER_METADATA_SHORT_SHA_LENGTH", "4"),
                ],
                "shorter than 7",
            ),
            (
                vec![
                    ("GITHUB_SHA", "--output=/tmp/x"),
                    ("GITHUB_EVENT_NAME", "push"),
                ],
                "not a commit id",
            ),
            (
                vec![("GITHUB_SHA", "日本語"), ("GITHUB_EVENT_NAME", "push")],
                "not a commit id",
            ),
            (
                vec![
                    ("GITHUB_SHA", &sha),
                    ("GITHUB_EVENT_NAME", "push"),
                    ("GITHUB_EVENT_PATH", "/nonexistent/event.json"),
                ],
                "cannot be read",
            ),
            (
                vec![
                    ("GITHUB_SHA", &sha),
                    ("GITHUB_EVENT_NAME", "push"),
                    ("GITHUB_EVENT_PATH", &dir),
                ],
                "cannot be read",
            ),
            (
                vec![
                    ("GITHUB_SHA", &sha),
                    ("GITHUB_EVENT_NAME", "push"),
                    ("GITHUB_EVENT_PATH", not_json.to_str().unwrap()),
                ],
                "is not JSON",
            ),
            (
                vec![
                    ("GITHUB_SHA", &sha),
                    ("GITHUB_EVENT_NAME", "pull_request_target"),
                    ("GITHUB_REF", "refs/heads/main"),
                ],
                "no numeric pull_request.number",
            ),
            (
                vec![
                    ("GITHUB_SHA", &sha),
                    ("GITHUB_EVENT_NAME", "pull_request"),
                    ("GITHUB_REF", "refs/pull/7/merge"),
                    ("GITHUB_EVENT_PATH", string_number.to_str().unwrap()),
                ],
                "no numeric pull_request.number",
            ),
        ];
        for (mut env, expected) in cases {
            env.push(("GITHUB_ACTIONS", "true"));
            let (code, message) = repo.refused(&env);
            assert_eq!(code, 2, "{env:?}: {message}");
            assert!(message.contains(expected), "{env:?}: {message}");
        }
    }

    #[test]
    fn local_branch_context() {
        let repo = Repo::new();
        let ctx = repo.detect(&[]);
        assert_eq!(ctx.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(ctx.sha, repo.git(&["rev-parse", "HEAD"]));
        assert_eq!(
            ctx.commit_time,
            time::macros::datetime!(2026-11-20 09:05:07 UTC)
        );
        assert_eq!(ctx.event, "push");
        assert!(!ctx.dirty);
    }

    #[test]
    fn dirty_tree_is_detected() {
        let repo = Repo::new();
        std::fs::write(repo.path().join("a.txt"), "changed").unwrap();
        assert!(repo.detect(&[]).dirty);
    }

    #[test]
    fn detached_head_on_a_tag_is_that_tag() {
        let repo = Repo::new();
        repo.git(&["tag", "v1.2.3"]);
        repo.git(&["checkout", "-q", "--detach"]);
        assert_eq!(
            repo.detect(&[]).git_ref.as_deref(),
            Some("refs/tags/v1.2.3")
        );
    }

    #[test]
    fn detached_head_without_tag_has_no_ref() {
        let repo = Repo::new();
        repo.git(&["checkout", "-q", "--detach"]);
        let ctx = repo.detect(&[]);
        assert_eq!(ctx.git_ref, None);
        assert!(ctx.describe().starts_with("detached HEAD at "));
    }

    #[test]
    fn shallow_clone_works() {
        let repo = Repo::new();
        repo.commit("b.txt", "two");
        let clone = tempfile::tempdir().unwrap();
        let url = format!("file://{}", repo.path().display());
        let clone_cmd = Command::new("git").args([
            "clone",
            "-q",
            "--depth",
            "1",
            &url,
            clone.path().to_str().unwrap(),
        ]);
        assert!(exec::status(&clone_cmd).unwrap());
        let ctx = GitContext::detect(clone.path(), &Env::default(), None).unwrap();
        assert_eq!(ctx.sha, repo.git(&["rev-parse", "HEAD"]));
        assert_eq!(ctx.branch(), Some("main"));
    }

    #[test]
    fn xtask_git_ref_previews_a_release() {
        let repo = Repo::new();
        let ctx = repo.detect(&[("XTASK_GIT_REF", "refs/tags/v2.0.0")]);
        assert_eq!(ctx.tag(), Some("v2.0.0"));
    }

    #[test]
    fn github_actions_context_comes_from_the_environment() {
        let repo = Repo::new();
        let sha = repo.git(&["rev-parse", "HEAD"]);
        let event = repo.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"pull_request": {"number": 7}, "repository": {"default_branch": "trunk"}}"#,
        )
        .unwrap();
        let ctx = repo.detect(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_SHA", &sha),
            ("GITHUB_HEAD_REF", "feature/x"),
            ("GITHUB_BASE_REF", "trunk"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ]);
        assert_eq!(ctx.event, "pull_request");
        assert_eq!(ctx.pull_request(), Some("7"));
        assert_eq!(ctx.default_branch, "trunk");
        assert_eq!(ctx.head_ref.as_deref(), Some("feature/x"));
        assert_eq!(
            ctx.source_url.as_deref(),
            Some("https://github.com/acme/shop")
        );
        assert_eq!(
            ctx.commit_time,
            time::macros::datetime!(2026-11-20 09:05:07 UTC)
        );
    }

    #[test]
    fn pull_request_target_is_tagged_as_its_pull_request() {
        let repo = Repo::new();
        let sha = repo.git(&["rev-parse", "HEAD"]);
        let event = repo.path().join("event.json");
        std::fs::write(&event, r#"{"pull_request": {"number": 12}}"#).unwrap();
        let ctx = repo.detect(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request_target"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_SHA", &sha),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ]);
        assert_eq!(ctx.pull_request(), Some("12"));
    }

    #[test]
    fn github_commit_missing_from_clone_falls_back_to_the_payload() {
        let repo = Repo::new();
        let event = repo.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"head_commit": {"timestamp": "2026-11-21T10:00:00+01:00"}}"#,
        )
        .unwrap();
        let ctx = repo.detect(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ]);
        assert_eq!(
            ctx.commit_time,
            time::macros::datetime!(2026-11-21 09:00:00 UTC)
        );
    }

    #[test]
    fn outside_a_repository_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = GitContext::detect(dir.path(), &Env::default(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("git repository"), "{err}");
    }

    #[test]
    fn the_null_context_has_no_commit_and_is_not_an_error() {
        let repo = Repo::new();
        let ctx = repo.detect(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", ""),
            ("GITHUB_SHA", ""),
            ("GITHUB_REF", ""),
        ]);
        assert_eq!((ctx.event.as_str(), ctx.sha.as_str()), ("", ""));
        assert_eq!(ctx.git_ref, None);
        assert!(ctx.describe().contains("no commit"), "{}", ctx.describe());
    }

    /// The payload of a pull request from `head` into `master`, as GitHub writes it.
    fn pull_request_payload(repo: &Repo, head: &str) -> String {
        let event = repo.path().join("pr.json");
        std::fs::write(
            &event,
            format!(
                r#"{{"number": 15, "pull_request": {{"number": 15, "head": {{"sha": "{head}"}},
                "base": {{"ref": "master"}}}}, "repository": {{"default_branch": "master"}}}}"#
            ),
        )
        .unwrap();
        event.to_str().unwrap().to_owned()
    }

    #[test]
    fn pr_head_sha_names_the_pull_request_by_its_head_commit() {
        let repo = Repo::new();
        let head = repo.git(&["rev-parse", "HEAD"]);
        repo.commit("b.txt", "merge");
        let merge = repo.git(&["rev-parse", "HEAD"]);
        let event = pull_request_payload(&repo, &head);
        let env = |flag: &'static str| {
            vec![
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_REF", "refs/pull/15/merge"),
                ("GITHUB_SHA", merge.as_str()),
                ("GITHUB_EVENT_PATH", event.as_str()),
                ("DOCKER_METADATA_PR_HEAD_SHA", flag),
            ]
        };
        assert_eq!(repo.detect(&env("true")).sha, head);
        assert_eq!(repo.detect(&env("TRUE")).sha, head);
        assert_eq!(repo.detect(&env("false")).sha, merge);
        assert_eq!(repo.detect(&env("")).sha, merge);
        let ctx = repo.detect(&env("true"));
        assert_eq!(ctx.base_ref.as_deref(), Some("master"));
    }

    #[test]
    fn a_pr_head_missing_from_the_clone_dates_by_the_merge_commit() {
        let repo = Repo::new();
        let merge = repo.git(&["rev-parse", "HEAD"]);
        let head = "0123456789abcdef0123456789abcdef01234567";
        let event = pull_request_payload(&repo, head);
        let ctx = repo.detect(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request_target"),
            ("GITHUB_REF", "refs/heads/master"),
            ("GITHUB_SHA", &merge),
            ("GITHUB_EVENT_PATH", &event),
            ("DOCKER_METADATA_PR_HEAD_SHA", "true"),
        ]);
        assert_eq!(ctx.sha, head);
        assert_eq!(ctx.git_ref.as_deref(), Some("refs/pull/15/merge"));
        assert_eq!(
            ctx.commit_time,
            time::macros::datetime!(2026-11-20 09:05:07 UTC)
        );
    }

    #[test]
    fn a_tag_push_takes_base_ref_from_the_payload_and_the_sha_length_from_the_env() {
        let repo = Repo::new();
        let sha = repo.git(&["rev-parse", "HEAD"]);
        let event = repo.path().join("tag.json");
        std::fs::write(&event, r#"{"base_ref": "refs/heads/master"}"#).unwrap();
        let ctx = repo.detect(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/tags/v1.1.1"),
            ("GITHUB_SHA", &sha),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("DOCKER_METADATA_SHORT_SHA_LENGTH", "12"),
        ]);
        assert_eq!(ctx.base_ref.as_deref(), Some("master"));
        assert_eq!(ctx.short_sha(), &sha[..12]);
        // On a branch push the payload's base_ref is not the base of anything.
        let ctx = repo.detect(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/dev"),
            ("GITHUB_SHA", &sha),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ]);
        assert_eq!(ctx.base_ref, None);
    }

    #[test]
    fn payload_commit_times_are_the_named_commits() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let payload: serde_json::Value = serde_json::json!({
            "commits": [
                {"id": "ffffffffffffffffffffffffffffffffffffffff", "timestamp": "2020-01-01T00:00:00Z"},
                {"id": sha, "timestamp": "2020-01-02T00:00:00Z"}
            ],
            "head_commit": {"id": "ffffffffffffffffffffffffffffffffffffffff", "timestamp": "2020-01-01T00:00:00Z"}
        });
        assert_eq!(
            payload_time(&payload, sha),
            Some(time::macros::datetime!(2020-01-02 00:00:00 UTC))
        );
        let other = serde_json::json!({"head_commit": {"id": "ffffffffffffffffffffffffffffffffffffffff", "timestamp": "2020-01-01T00:00:00Z"}});
        assert_eq!(payload_time(&other, sha), None);
    }
}
