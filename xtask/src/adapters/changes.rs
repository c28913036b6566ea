//! The files changed since a base ref, for `build --affected`.
//!
//! The base is chosen as data ([`choose_base`]): `--base`, else the pull request's target
//! branch in GitHub Actions, else `origin/<default branch>` when the clone has it, else
//! `HEAD~1`. The changes are everything between the merge base and the working tree:
//! commits, staged and unstaged edits, and untracked files git does not ignore, so a
//! contributor's local edits count. This module reads git; it never changes it.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

use crate::adapters::exec::{self, Command, UsageError};
use crate::domain::changes::{choose_base, Changes};
use crate::domain::env::Env;

/// Reads the changes in the repository at `root` since the base [`choose_base`] picks.
pub fn detect(root: &Path, env: &Env, flag: Option<&str>, default_branch: &str) -> Result<Changes> {
    let git = |args: &[&str]| exec::read(&Command::new("git").args(args.iter().copied()).dir(root));
    let verify = |r: &str| {
        let spec = format!("{r}^{{commit}}");
        git(&["rev-parse", "--verify", "--quiet", &spec]).ok()
    };
    let origin_default = format!("origin/{default_branch}");
    let has_origin_default = verify(&origin_default).is_some();
    let base = choose_base(
        flag,
        env,
        has_origin_default.then_some(origin_default.as_str()),
    );
    let Some(base_sha) = verify(&base) else {
        if let Some(asked) = flag {
            // Named on purpose: building everything instead would hide the typo.
            return Err(UsageError::new(format!(
                "--base `{asked}` is not a commit in this clone: fetch it (`git fetch origin \
                 {asked}`) or name one that is"
            )));
        }
        return Ok(Changes::Unknown {
            reason: format!(
                "base `{base}` is not in this clone (a shallow clone? fetch it, or pass --base)"
            ),
        });
    };
    let Ok(merge_base) = git(&["merge-base", &base_sha, "HEAD"]) else {
        return Ok(Changes::Unknown {
            reason: format!(
                "no merge base of `{base}` and HEAD in this clone (a shallow clone? fetch more history)"
            ),
        });
    };
    let merge_base = merge_base.trim();
    // Against the working tree, so commits, staged and unstaged edits all count; without
    // rename detection, so a move counts for both the old and the new path.
    let tracked = git(&["diff", "--name-only", "--no-renames", "-z", merge_base])
        .context("git diff failed")?;
    let untracked = git(&["ls-files", "--others", "--exclude-standard", "-z"])
        .context("git ls-files failed")?;
    let files: BTreeSet<String> = tracked
        .split('\0')
        .chain(untracked.split('\0'))
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(Changes::Since {
        base,
        files: files.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let out = exec::output(
            &Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args.iter().copied())
                .dir(dir),
        )
        .unwrap();
        assert!(out.success, "git {args:?}: {out:?}");
    }

    #[test]
    fn commits_edits_and_untracked_files_count() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::write(d.join(".gitignore"), "ignored/\n").unwrap();
        for f in ["a.txt", "b.txt", "c.txt"] {
            std::fs::write(d.join(f), "1").unwrap();
        }
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "one"]);
        git(d, &["tag", "base"]);
        std::fs::write(d.join("a.txt"), "2").unwrap();
        git(d, &["commit", "-q", "-am", "two"]);
        std::fs::write(d.join("b.txt"), "2").unwrap();
        git(d, &["mv", "c.txt", "moved.txt"]);
        std::fs::create_dir(d.join("ignored")).unwrap();
        std::fs::write(d.join("ignored/x"), "").unwrap();
        std::fs::write(d.join("new.txt"), "").unwrap();
        let changes = detect(d, &Env::default(), Some("base"), "main").unwrap();
        assert_eq!(
            changes,
            Changes::Since {
                base: "base".into(),
                files: ["a.txt", "b.txt", "c.txt", "moved.txt", "new.txt"]
                    .map(String::from)
                    .into(),
            }
        );
        // No origin/main here and HEAD~1 exists: the last commit is the base.
        let Changes::Since { base, files } = detect(d, &Env::default(), None, "main").unwrap()
        else {
            panic!("HEAD~1 resolves");
        };
        assert_eq!(base, "HEAD~1");
        assert!(files.contains(&"a.txt".to_owned()), "{files:?}");
    }

    #[test]
    fn an_unknown_base_means_everything_changed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::write(d.join("a.txt"), "1").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "one"]);
        // One commit: HEAD~1 does not exist, as in a clone of depth 1.
        let Changes::Unknown { reason } = detect(d, &Env::default(), None, "main").unwrap() else {
            panic!("HEAD~1 cannot resolve");
        };
        assert!(reason.contains("`HEAD~1` is not in this clone"), "{reason}");
        // The same, asked for by name, is a typo or a missing fetch: bad input.
        let e = detect(d, &Env::default(), Some("no-such-ref"), "main").unwrap_err();
        assert_eq!(crate::domain::error::exit_code(&e), 2);
        assert!(e.to_string().contains("--base `no-such-ref`"), "{e}");
    }
}
