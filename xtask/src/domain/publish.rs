//! Publishing tags as steps: the plain-data commands `push`, `promote` and `sign` plan, and
//! what became of them. `adapters/publish.rs` runs them.
//!
//! A digest is only known once a step has run, so later steps name it with a placeholder
//! ([`MANIFEST`], [`DIGEST`]) that the executor fills in. A service's steps stop at its first
//! failure: tags are planned immutable first and `latest` last, so stopping early can leave
//! `latest` on the previous image but never on one that its `sha-` tag does not name.

use serde::Serialize;

use crate::domain::outcome;
use crate::domain::tag::Tag;

/// Replaced by the digest `docker push` printed.
pub const MANIFEST: &str = "{manifest}";
/// Replaced by the digest read with `docker buildx imagetools inspect`.
pub const DIGEST: &str = "{digest}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capture {
    /// `digest: sha256:...` from `docker push`, into [`MANIFEST`].
    Manifest,
    /// The manifest digest from `imagetools inspect --format '{{json .Manifest}}'`, into
    /// [`DIGEST`].
    Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub argv: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<Capture>,
    /// The tag that points at [`DIGEST`] once this step has succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishes: Option<Tag>,
}

impl Step {
    pub fn new(argv: &[&str]) -> Step {
        Step {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            capture: None,
            publishes: None,
        }
    }

    pub fn capture(mut self, c: Capture) -> Step {
        self.capture = Some(c);
        self
    }

    pub fn publishes(mut self, tag: &Tag) -> Step {
        self.publishes = Some(tag.clone());
        self
    }
}

/// Points `repository:tag` at whatever `source` names, without pulling or rebuilding.
pub fn retag(repository: &str, tag: &Tag, source: &str) -> Step {
    Step::new(&[
        "docker",
        "buildx",
        "imagetools",
        "create",
        "--tag",
        &format!("{repository}:{tag}"),
        source,
    ])
    .publishes(tag)
}

/// Reads the digest `reference` points at into [`DIGEST`].
pub fn resolve(reference: &str) -> Step {
    Step::new(&[
        "docker",
        "buildx",
        "imagetools",
        "inspect",
        "--format",
        "{{json .Manifest}}",
        reference,
    ])
    .capture(Capture::Digest)
}

/// `latest` (and flavored `latest-*`) tags move last.
pub fn latest_last(tags: &mut [Tag]) {
    tags.sort_by_key(|t| t.as_str().starts_with("latest"));
}

/// One service's (or image's) steps.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub name: String,
    pub repository: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    pub repository: String,
    pub digest: Option<String>,
    pub tags: Vec<Published>,
    pub result: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Published,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub tag: Tag,
    pub digest: String,
}

/// Everything a push or promote will do, decided before anything is sent.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub registry: String,
    /// `docker login` argv when credentials are given (the password goes to its stdin).
    pub login: Option<Vec<String>>,
    pub services: Vec<Job>,
    pub notes: Vec<String>,
}

/// How a failed registry command failed, from what it printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// Credentials missing or refused: retrying cannot help.
    Auth,
    /// The network or the registry had a moment: worth another try.
    Transient,
    Other,
}

/// Failed, naming each failed job and its first error line, when any job failed.
pub fn verdict(outcomes: &[Outcome], verb: &str) -> outcome::Outcome {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.result == Status::Failed)
        .map(|o| match &o.error {
            Some(e) => format!("{}: {}", o.name, e.lines().next().unwrap_or_default()),
            None => o.name.clone(),
        })
        .collect();
    outcome::Outcome::failed_if(!failed.is_empty(), || {
        format!("{verb} failed for {}", failed.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<Tag> {
        names.iter().map(|t| Tag::parse(t).unwrap()).collect()
    }

    #[test]
    fn latest_moves_last_and_the_rest_keep_their_order() {
        let mut t = tags(&["main", "latest", "main-20261120-090507", "sha-860c190"]);
        latest_last(&mut t);
        assert_eq!(
            t.iter().map(Tag::as_str).collect::<Vec<_>>(),
            ["main", "main-20261120-090507", "sha-860c190", "latest"]
        );
    }

    #[test]
    fn retag_points_a_tag_at_a_source() {
        let s = retag(
            "r.io/acme/api",
            &tags(&["v1"])[0],
            &format!("r.io/acme/api@{DIGEST}"),
        );
        assert_eq!(
            s.argv.join(" "),
            "docker buildx imagetools create --tag r.io/acme/api:v1 r.io/acme/api@{digest}"
        );
        assert_eq!(s.publishes.as_ref().map(Tag::as_str), Some("v1"));
    }
}
