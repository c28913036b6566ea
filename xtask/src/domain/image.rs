//! A local image as `docker image inspect` describes it: plain data parsed from inspect's
//! JSON, so checks on it are unit tests. The adapter (adapters/image.rs) runs the inspect.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInfo {
    pub id: String,
    pub size: u64,
    pub config: ImageConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default)]
    pub user: String,
    pub healthcheck: Option<Healthcheck>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Vec<String>,
}

impl ImageInfo {
    /// Parses the output of `docker image inspect REF` (a one-element array).
    pub fn parse(json: &str) -> Result<ImageInfo> {
        let mut list: Vec<ImageInfo> =
            serde_json::from_str(json).context("unexpected `docker image inspect` output")?;
        match list.len() {
            1 => Ok(list.remove(0)),
            n => bail!("`docker image inspect` described {n} images, expected 1"),
        }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.config
            .labels
            .as_ref()?
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A HEALTHCHECK that checks something (`NONE` disables an inherited one).
    pub fn has_healthcheck(&self) -> bool {
        self.config
            .healthcheck
            .as_ref()
            .and_then(|h| h.test.first())
            .is_some_and(|t| t != "NONE")
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const INSPECT: &str = r#"[{
        "Id": "sha256:5432657ac49b",
        "Size": 1980000,
        "Config": {
            "User": "65534",
            "Env": ["PATH=/usr/bin:/bin", "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"],
            "Cmd": ["sleep", "3600"],
            "Entrypoint": null,
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
            "Labels": {"org.opencontainers.image.title": "good", "empty": ""}
        }
    }]"#;

    #[test]
    fn parses_what_verify_needs() {
        let i = ImageInfo::parse(INSPECT).unwrap();
        assert_eq!(i.id, "sha256:5432657ac49b");
        assert_eq!(i.size, 1_980_000);
        assert_eq!(i.config.user, "65534");
        assert_eq!(
            i.config.cmd.as_deref(),
            Some(&["sleep".to_owned(), "3600".to_owned()][..])
        );
        assert!(i.config.entrypoint.is_none());
        assert!(i.has_healthcheck());
        assert_eq!(i.label("org.opencontainers.image.title"), Some("good"));
        assert_eq!(i.label("empty"), None);
    }

    #[test]
    fn healthcheck_none_is_no_healthcheck() {
        let json = r#"[{"Id":"x","Size":1,"Config":{"Healthcheck":{"Test":["NONE"]}}}]"#;
        assert!(!ImageInfo::parse(json).unwrap().has_healthcheck());
        let json = r#"[{"Id":"x","Size":1,"Config":{}}]"#;
        let i = ImageInfo::parse(json).unwrap();
        assert!(!i.has_healthcheck());
        assert_eq!(i.config.user, "");
    }
}
