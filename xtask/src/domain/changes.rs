//! What `build --affected` compares with: the changed files since a base, or why they are
//! unknown, and the choice of that base as data. `adapters/changes.rs` asks git.
//!
//! The base is `--base`, else the pull request's target branch in GitHub Actions, else
//! `origin/<default branch>` when the clone has it, else `HEAD~1`.

use crate::domain::env::Env;

/// What the changed files were compared against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Files (repository-relative, `/`-separated) changed since `base`.
    Since { base: String, files: Vec<String> },
    /// No usable base: everything counts as changed, for the reason given.
    Unknown { reason: String },
}

/// The ref to compare with. `origin_default` is `origin/<default branch>` when that
/// remote-tracking branch exists in the clone.
pub fn choose_base(flag: Option<&str>, env: &Env, origin_default: Option<&str>) -> String {
    let pr_base = env
        .github_actions()
        .then(|| env.get("GITHUB_BASE_REF"))
        .flatten()
        .filter(|b| !b.is_empty())
        .map(|b| format!("origin/{b}"));
    flag.map(str::to_owned)
        .or(pr_base)
        .or(origin_default.map(str::to_owned))
        .unwrap_or_else(|| "HEAD~1".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        vars.iter().copied().collect()
    }

    #[test]
    fn base_precedence() {
        let pr = env(&[("GITHUB_ACTIONS", "true"), ("GITHUB_BASE_REF", "trunk")]);
        assert_eq!(
            choose_base(Some("v1.0.0"), &pr, Some("origin/main")),
            "v1.0.0"
        );
        assert_eq!(choose_base(None, &pr, Some("origin/main")), "origin/trunk");
        assert_eq!(
            choose_base(None, &env(&[]), Some("origin/main")),
            "origin/main"
        );
        assert_eq!(choose_base(None, &env(&[]), None), "HEAD~1");
    }

    #[test]
    fn a_push_in_actions_has_no_pr_base() {
        let push = env(&[("GITHUB_ACTIONS", "true"), ("GITHUB_BASE_REF", "")]);
        assert_eq!(choose_base(None, &push, None), "HEAD~1");
        // Outside Actions a leftover GITHUB_BASE_REF means nothing.
        let local = env(&[("GITHUB_BASE_REF", "trunk")]);
        assert_eq!(choose_base(None, &local, None), "HEAD~1");
    }
}
