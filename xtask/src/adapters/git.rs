//! The git context a build is tagged and labelled from.
//!
//! In GitHub Actions (`GITHUB_ACTIONS=true`) it comes from the `GITHUB_*` variables and the
//! event payload, exactly as docker/metadata-action sees it; elsewhere from the local
//! repository. Shallow clones, a detached HEAD and a dirty tree all give a usable context:
//! only the commit itself must be present. This module reads git; it never changes it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use time::OffsetDateTime;

use crate::adapters::exec::{self, Command, UsageError};
use crate::domain::env::Env;
use crate::domain::git::{is_commit_id, parse_remote, GitContext};

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
        default_branch: default_branch
            .map(str::to_owned)
            .or(origin_head)
            .unwrap_or_else(|| "main".into()),
        repository: origin.as_ref().map(|(repo, _)| repo.clone()),
        source_url: origin.map(|(_, url)| url),
        base_ref: None,
        head_ref: None,
        dirty: status.is_some(),
    })
}

/// The events whose tags and push decision depend on a pull request number.
const PULL_REQUEST_EVENTS: [&str; 2] = ["pull_request", "pull_request_target"];

/// Reads the GitHub Actions context. A broken environment (a variable missing, an event file
/// that cannot be read, a pull request event without its number) is bad input, exit 2: a
/// context the tool cannot classify must never be taken for a push to the default branch.
fn from_github(env: &Env, git: &Git, default_branch: Option<&str>) -> Result<GitContext> {
    let required = |key: &str| {
        env.get(key)
            .map(str::to_owned)
            .ok_or_else(|| UsageError::new(format!("GITHUB_ACTIONS=true but {key} is not set")))
    };
    let sha = required("GITHUB_SHA")?;
    if !is_commit_id(&sha) {
        return Err(UsageError::new(format!(
            "GITHUB_SHA={sha:?} is not a commit id (40 or 64 lowercase hex digits)"
        )));
    }
    let event = required("GITHUB_EVENT_NAME")?;
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
    let pr_number = payload
        .pointer("/pull_request/number")
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
    let commit_time = match git.commit_time(&sha) {
        Ok(t) => t,
        Err(e) => payload_time(&payload).ok_or(e)?,
    };
    let repository = env.get("GITHUB_REPOSITORY").map(str::to_owned);
    let server = env.get("GITHUB_SERVER_URL").unwrap_or("https://github.com");
    Ok(GitContext {
        event,
        git_ref,
        sha,
        commit_time,
        default_branch: payload
            .pointer("/repository/default_branch")
            .and_then(|b| b.as_str())
            .or(default_branch)
            .unwrap_or("main")
            .to_owned(),
        source_url: repository.as_ref().map(|r| format!("{server}/{r}")),
        repository,
        base_ref: env.get("GITHUB_BASE_REF").map(str::to_owned),
        head_ref: env.get("GITHUB_HEAD_REF").map(str::to_owned),
        dirty: false,
    })
}

fn payload_time(payload: &serde_json::Value) -> Option<OffsetDateTime> {
    let ts = payload.pointer("/head_commit/timestamp")?.as_str()?;
    OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()
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
}
