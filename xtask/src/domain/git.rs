//! The git context a build is tagged and labelled from, as data: the event, the ref, the
//! commit, what the repository is called and the time zones the tag rules name.
//! `adapters/git.rs` reads it from GitHub Actions' environment (and the event payload) or the
//! local repository, as docker/metadata-action sees it.

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::identity;
use crate::domain::moment::TimeZones;

#[derive(Debug, Clone, Serialize)]
pub struct GitContext {
    /// The triggering event: `push`, `pull_request`, `schedule`, ... (`push` locally); empty
    /// in metadata-action's "null" context (GitHub variables all empty), where the commit is
    /// empty too.
    pub event: String,
    /// `refs/heads/<branch>`, `refs/tags/<tag>`, `refs/pull/<n>/merge`; `None` on a detached
    /// HEAD that no tag points at.
    pub git_ref: Option<String>,
    /// Full commit id: `GITHUB_SHA`, or the pull request's head with
    /// `DOCKER_METADATA_PR_HEAD_SHA=true`; empty only in the null context.
    pub sha: String,
    /// How many digits of `sha` name it in `type=sha` and `{{sha}}`:
    /// `DOCKER_METADATA_SHORT_SHA_LENGTH`, else [`identity::SHORT_SHA_LEN`].
    pub short_sha_len: usize,
    #[serde(with = "time::serde::rfc3339")]
    pub commit_time: OffsetDateTime,
    pub default_branch: String,
    /// `owner/name`, when known.
    pub repository: Option<String>,
    /// A browsable URL of the repository, when known.
    pub source_url: Option<String>,
    /// `{{base_ref}}`: on a pull request the branch it targets, on a tag push the payload's
    /// `base_ref` (the branch the tag was pushed from, when GitHub says so).
    pub base_ref: Option<String>,
    /// Pull requests: the branch the PR comes from.
    pub head_ref: Option<String>,
    /// Uncommitted changes to tracked files (local builds only).
    pub dirty: bool,
    /// The zones `tz='...'` names in the rules, read from the tz database by the adapter.
    #[serde(skip)]
    pub time_zones: TimeZones,
}

impl GitContext {
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.as_deref()?.strip_prefix("refs/heads/")
    }

    pub fn tag(&self) -> Option<&str> {
        self.git_ref.as_deref()?.strip_prefix("refs/tags/")
    }

    /// The pull request number of a `refs/pull/<n>/merge` ref.
    pub fn pull_request(&self) -> Option<&str> {
        let rest = self.git_ref.as_deref()?.strip_prefix("refs/pull/")?;
        Some(
            rest.strip_suffix("/merge")
                .or_else(|| rest.strip_suffix("/head"))
                .unwrap_or(rest),
        )
    }

    /// The commit as `type=sha` and `{{sha}}` name it: its first [`Self::short_sha_len`]
    /// digits.
    pub fn short_sha(&self) -> &str {
        self.sha.get(..self.short_sha_len).unwrap_or(&self.sha)
    }

    /// `{{is_default_branch}}` as metadata-action decides it: the ref (less `refs/heads/`) is
    /// the default branch, or the event (`create`, `discussion`, `issues`, `schedule`) only
    /// ever runs on the default branch's last commit.
    pub fn is_default_branch(&self) -> bool {
        let Some(git_ref) = self.git_ref.as_deref() else {
            return false;
        };
        let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        if branch.is_empty() {
            return false;
        }
        branch == self.default_branch
            || ["create", "discussion", "issues", "schedule"]
                .iter()
                .any(|event| self.event.contains(event))
    }

    /// Short description for progress output: `branch main`, `tag v1.2.3`, ...
    pub fn describe(&self) -> String {
        if self.sha.is_empty() {
            return "no commit (GITHUB_EVENT_NAME, GITHUB_SHA and GITHUB_REF are empty)".into();
        }
        let short = identity::short_sha(&self.sha);
        let what = match (self.branch(), self.tag(), self.pull_request()) {
            (Some(b), _, _) => format!("branch {b}"),
            (_, Some(t), _) => format!("tag {t}"),
            (_, _, Some(n)) => format!("pull request #{n}"),
            _ => "detached HEAD".to_owned(),
        };
        let dirty = if self.dirty {
            ", uncommitted changes"
        } else {
            ""
        };
        format!("{what} at {short}{dirty}")
    }
}

/// A commit id as git names one: 40 hex digits (SHA-1) or 64 (SHA-256), lowercase. Anything
/// else (an option such as `--output=x`, a short or non-ASCII id) is refused before it
/// reaches git or a tag.
pub fn is_commit_id(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `git@github.com:acme/shop.git` or `https://github.com/acme/shop.git` →
/// (`acme/shop`, `https://github.com/acme/shop`). Credentials in URLs are dropped.
pub fn parse_remote(url: &str) -> Option<(String, String)> {
    let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
    let (host, path) = if let Some(rest) = url.strip_prefix("git@") {
        rest.split_once(':')?
    } else {
        let rest = url.split_once("://")?.1;
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let (host, path) = rest.split_once('/')?;
        (host.trim_start_matches("ssh."), path)
    };
    let host = host.split(':').next()?;
    let path = path.trim_start_matches('/');
    (path.contains('/') && !host.is_empty())
        .then(|| (path.to_owned(), format!("https://{host}/{path}")))
}

/// A fixed context for tests: commit 860c190 of acme/shop at 2026-11-20 09:05:07 UTC, on
/// `git_ref` (empty: detached), triggered by `event`.
#[cfg(test)]
pub fn fixture(event: &str, git_ref: &str) -> GitContext {
    GitContext {
        event: event.into(),
        git_ref: Some(git_ref.to_owned()).filter(|r| !r.is_empty()),
        sha: "860c1904a1ce19322e91ac35af1ab07466440c37".into(),
        short_sha_len: identity::SHORT_SHA_LEN,
        commit_time: time::macros::datetime!(2026-11-20 09:05:07 UTC),
        default_branch: "main".into(),
        repository: Some("acme/shop".into()),
        source_url: Some("https://github.com/acme/shop".into()),
        base_ref: None,
        head_ref: None,
        dirty: false,
        time_zones: TimeZones::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(git_ref: &str) -> GitContext {
        fixture("push", git_ref)
    }

    #[test]
    fn ref_kinds_are_recognised() {
        assert_eq!(ctx("refs/heads/feature/x").branch(), Some("feature/x"));
        assert_eq!(ctx("refs/tags/v1.2.3").tag(), Some("v1.2.3"));
        assert_eq!(ctx("refs/pull/15/merge").pull_request(), Some("15"));
        assert_eq!(ctx("refs/tags/v1").branch(), None);
    }

    /// A throwaway repository with one commit at a fixed time, on branch `main`.
    #[test]
    fn commit_ids_are_hex_of_git_length() {
        assert!(is_commit_id("860c1904a1ce19322e91ac35af1ab07466440c37"));
        assert!(is_commit_id(&"ab".repeat(32)));
        for bad in [
            "",
            "860c190",
            "--output=/tmp/x",
            "860C1904A1CE19322E91AC35AF1AB07466440C37",
            "860c1904a1ce19322e91ac35af1ab07466440c3g",
            "日本語日本語日本語日本語日本語日本語日本語日本語日本語日本語日本語日本語日本語a",
        ] {
            assert!(!is_commit_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn remotes_become_browsable_urls() {
        let expect = Some((
            "acme/shop".to_owned(),
            "https://github.com/acme/shop".to_owned(),
        ));
        assert_eq!(parse_remote("git@github.com:acme/shop.git"), expect);
        assert_eq!(parse_remote("https://github.com/acme/shop.git"), expect);
        assert_eq!(
            parse_remote("https://x-access-token:secret@github.com/acme/shop"),
            expect
        );
        assert_eq!(
            parse_remote("ssh://git@github.com:22/acme/shop.git"),
            expect
        );
        assert_eq!(parse_remote("/srv/git/shop"), None);
    }
}
