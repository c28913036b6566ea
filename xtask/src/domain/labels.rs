//! OCI image labels (`org.opencontainers.image.*`), and the annotations made of them.
//!
//! Every value comes from the git context and the config, never from the clock: `created` is
//! the commit time, so building the same commit twice gives the same labels. A service's
//! image gets [`oci_labels`]; `cargo xtask tags` gives metadata-action's repository-wide set,
//! [`repository_labels`], and its [`annotations`].

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;

use crate::domain::config::{Project, Service};
use crate::domain::git::GitContext;
use crate::domain::identity;
use crate::domain::tag_rules::Version;

pub fn oci_labels(
    project: &Project,
    service: &Service,
    ctx: &GitContext,
    version: &Version,
) -> BTreeMap<String, String> {
    let short_sha = identity::short_sha(&ctx.sha);
    let created = ctx
        .commit_time
        .format(&Rfc3339)
        .expect("a unix timestamp formats as RFC 3339");
    let mut labels = BTreeMap::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            labels.insert(format!("org.opencontainers.image.{key}"), v.to_owned());
        }
    };
    put("title", Some(&service.name));
    put("description", service.description.as_deref());
    put("source", ctx.source_url.as_deref());
    put("url", ctx.source_url.as_deref());
    put("revision", Some(&ctx.sha));
    put(
        "version",
        Some(version.main.as_ref().map_or(short_sha, |t| t.as_str())),
    );
    put("created", Some(&created));
    put("licenses", project.licenses.as_deref());
    put("vendor", project.vendor.as_deref());
    labels
}

/// metadata-action's `labels` output: the eight keys it always writes (empty when unknown),
/// for the repository rather than a service: the title is the repository's name.
pub fn repository_labels(
    project: &Project,
    ctx: &GitContext,
    version: &Version,
) -> BTreeMap<String, String> {
    let title = ctx
        .repository
        .as_deref()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or(&project.name);
    let created = ctx
        .commit_time
        .format(&Rfc3339)
        .expect("a unix timestamp formats as RFC 3339");
    let url = ctx.source_url.as_deref().unwrap_or_default();
    [
        ("title", title),
        ("description", ""),
        ("url", url),
        ("source", url),
        ("version", version.main.as_ref().map_or("", |t| t.as_str())),
        ("created", &created),
        ("revision", &ctx.sha),
        ("licenses", project.licenses.as_deref().unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("org.opencontainers.image.{k}"), v.to_owned()))
    .collect()
}

/// `DOCKER_METADATA_ANNOTATIONS_LEVELS` (comma-separated, default `manifest`) applied to
/// `labels`: `<level>:<key>=<value>` for each level, then each label in key order.
pub fn annotations(labels: &BTreeMap<String, String>, levels: Option<&str>) -> Vec<String> {
    levels
        .unwrap_or("manifest")
        .split(',')
        .flat_map(|level| labels.iter().map(move |(k, v)| format!("{level}:{k}={v}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::Config;
    use crate::domain::tag::Tag;
    use std::path::Path;

    #[test]
    fn labels_come_from_git_and_config() {
        let config = Config::parse(
            "[project]\nname='acme'\nlicenses='MIT'\n[services.api]\ndockerfile='a.Dockerfile'\nsize_budget_mb=1\ndescription='The API'\n",
            Path::new("images.toml"),
        )
        .unwrap();
        let ctx = crate::domain::git::fixture("push", "refs/heads/main");
        let version = Version {
            main: Some(Tag::parse("main").unwrap()),
            partial: vec![],
            latest: true,
        };
        let labels = oci_labels(&config.project, &config.services["api"], &ctx, &version);
        let get = |k: &str| labels[&format!("org.opencontainers.image.{k}")].as_str();
        assert_eq!(get("title"), "api");
        assert_eq!(get("description"), "The API");
        assert_eq!(get("source"), "https://github.com/acme/shop");
        assert_eq!(get("revision"), ctx.sha);
        assert_eq!(get("version"), "main");
        assert_eq!(get("created"), "2026-11-20T09:05:07Z");
        assert_eq!(get("licenses"), "MIT");
        assert!(!labels.contains_key("org.opencontainers.image.vendor"));
    }

    #[test]
    fn repository_labels_have_metadata_actions_keys_and_annotations_their_levels() {
        let config = Config::parse(
            "[project]\nname='acme'\nlicenses='MIT'\n[services.api]\ndockerfile='a.Dockerfile'\nsize_budget_mb=1\n",
            Path::new("images.toml"),
        )
        .unwrap();
        let ctx = crate::domain::git::fixture("push", "refs/heads/main");
        let version = Version {
            main: Some(Tag::parse("main").unwrap()),
            partial: vec![],
            latest: false,
        };
        let labels = repository_labels(&config.project, &ctx, &version);
        let lines: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        expect_test::expect![[r#"
            [
                "org.opencontainers.image.created=2026-11-20T09:05:07Z",
                "org.opencontainers.image.description=",
                "org.opencontainers.image.licenses=MIT",
                "org.opencontainers.image.revision=860c1904a1ce19322e91ac35af1ab07466440c37",
                "org.opencontainers.image.source=https://github.com/acme/shop",
                "org.opencontainers.image.title=shop",
                "org.opencontainers.image.url=https://github.com/acme/shop",
                "org.opencontainers.image.version=main",
            ]
        "#]]
        .assert_debug_eq(&lines);
        let a = annotations(&labels, Some("manifest,index"));
        assert_eq!(a.len(), 16);
        assert_eq!(
            a[0],
            "manifest:org.opencontainers.image.created=2026-11-20T09:05:07Z"
        );
        assert_eq!(
            a[8],
            "index:org.opencontainers.image.created=2026-11-20T09:05:07Z"
        );
        assert!(annotations(&labels, None)
            .iter()
            .all(|a| a.starts_with("manifest:")));
    }
}
