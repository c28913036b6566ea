//! OCI image labels (`org.opencontainers.image.*`).
//!
//! Every value comes from the git context and the config, never from the clock: `created` is
//! the commit time, so building the same commit twice gives the same labels.

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
}
