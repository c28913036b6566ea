//! Valid Docker tags and image references.
//!
//! A [`Tag`] can only be constructed valid: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. Anything
//! computed from git (branch names, tag names) goes through [`Tag::sanitize`], which maps it
//! onto that alphabet the way docker/metadata-action does (runs of other characters become
//! one `-`) and then also trims what metadata-action would let through invalid (a leading
//! `.` or `-`, more than 128 characters).

use std::fmt;

use anyhow::{bail, Result};
use serde::Serialize;

pub const MAX_TAG_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Tag(String);

impl Tag {
    /// Accepts `s` only if it already is a valid tag.
    pub fn parse(s: &str) -> Result<Tag> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        match s.chars().next() {
            None => bail!("a tag cannot be empty"),
            Some(c) if !(c.is_ascii_alphanumeric() || c == '_') => {
                bail!("tag `{s}` must start with a letter, digit or `_`")
            }
            _ if s.len() > MAX_TAG_LEN => {
                bail!("tag `{s}` is longer than {MAX_TAG_LEN} characters")
            }
            _ if !s.chars().all(valid_char) => {
                bail!("tag `{s}` may only contain letters, digits, `_`, `.` and `-`")
            }
            _ => Ok(Tag(s.to_owned())),
        }
    }

    /// Maps any string onto a valid tag; `None` when nothing valid is left.
    pub fn sanitize(raw: &str) -> Option<Tag> {
        let mut out = String::with_capacity(raw.len());
        let mut in_run = false;
        for c in raw.chars() {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                out.push(c);
                in_run = false;
            } else if !in_run {
                out.push('-');
                in_run = true;
            }
        }
        let trimmed = out.trim_start_matches(['.', '-']);
        let truncated: String = trimmed.chars().take(MAX_TAG_LEN).collect();
        (!truncated.is_empty()).then_some(Tag(truncated))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a repository name (`[registry/][namespace/]name`): path components are lowercase
/// `[a-z0-9]+` joined by `.`, `_`, `__` or `-` runs; a registry host may carry a port.
pub fn validate_repository(name: &str) -> Result<()> {
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        let host = parts.remove(0);
        if !valid_host(host) {
            bail!(
                "`{host}` in `{name}` is not a valid registry host: write name[:port], e.g. \
                 ghcr.io or 127.0.0.1:5000"
            );
        }
    }
    for part in parts {
        let ok = !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            bail!(
                "`{name}` is not a valid image name: each path component must be lowercase \
                 letters and digits, separated by `.`, `_` or `-`"
            );
        }
    }
    Ok(())
}

/// `name[:port]`: dot-separated labels of letters, digits and inner `-`, and a numeric port.
fn valid_host(host: &str) -> bool {
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    name.split('.').all(label) && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// `repository:tag`, the unit that gets built, pushed and scanned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    pub repository: String,
    pub tag: Tag,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

impl Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanitized(s: &str) -> String {
        Tag::sanitize(s).map(|t| t.to_string()).unwrap_or_default()
    }

    #[test]
    fn branch_with_slash_becomes_valid_tag() {
        assert_eq!(sanitized("feature/login-form"), "feature-login-form");
    }

    #[test]
    fn runs_of_invalid_characters_become_one_dash() {
        assert_eq!(sanitized("fix: émoji 🚀 branch"), "fix-moji-branch");
        assert_eq!(sanitized("a//b"), "a-b");
    }

    #[test]
    fn leading_dot_or_dash_is_trimmed() {
        assert_eq!(sanitized("/release"), "release");
        assert_eq!(sanitized(".hidden"), "hidden");
        assert_eq!(sanitized("-x"), "x");
    }

    #[test]
    fn long_names_are_cut_to_128_characters() {
        let long = "b".repeat(300);
        assert_eq!(sanitized(&long).len(), 128);
    }

    #[test]
    fn nothing_valid_left_gives_none() {
        assert!(Tag::sanitize("///").is_none());
        assert!(Tag::sanitize("").is_none());
    }

    #[test]
    fn parse_rejects_invalid_tags() {
        assert!(Tag::parse("v1.2.3").is_ok());
        assert!(Tag::parse("_x").is_ok());
        assert!(Tag::parse("-x").is_err());
        assert!(Tag::parse("a/b").is_err());
        assert!(Tag::parse("").is_err());
        assert!(Tag::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn a_registry_host_is_a_name_and_an_optional_numeric_port() {
        for good in [
            "ghcr.io/acme",
            "127.0.0.1:5000/acme",
            "localhost:5000/a",
            "my-registry.local/x/y",
        ] {
            assert!(validate_repository(good).is_ok(), "{good}");
        }
        for bad in [
            "../x",
            "a:b:c/x",
            ".ghcr.io/x",
            "ghcr..io/x",
            "-a.io/x",
            "host:99999/x",
            "host:/x",
            "host:0/x",
        ] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repository_names_must_be_lowercase() {
        assert!(validate_repository("acme/api").is_ok());
        assert!(validate_repository("127.0.0.1:5000/acme/api").is_ok());
        assert!(validate_repository("ghcr.io/acme/playwright-runner").is_ok());
        assert!(validate_repository("Acme/api").is_err());
        assert!(validate_repository("acme//api").is_err());
        assert!(validate_repository("api-").is_err());
    }

    #[test]
    fn image_ref_displays_as_repository_colon_tag() {
        let r = ImageRef {
            repository: "acme/api".into(),
            tag: Tag::parse("main").unwrap(),
        };
        assert_eq!(r.to_string(), "acme/api:main");
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"acme/api:main\"");
    }
}
