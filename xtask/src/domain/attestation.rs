//! The attestations a pushed image carries, as `docker buildx imagetools inspect` reads them
//! from the registry, and the `attestations` check of `verify --attestations`.
//!
//! BuildKit stores them beside the image in its index: an SLSA provenance predicate
//! (`mode=max` adds the build's full configuration) and SPDX documents, one for the image's
//! filesystem and one more for each build stage scanned (`BUILDKIT_SBOM_SCAN_STAGE`).
//! `imagetools inspect --format` gives them per platform, or unkeyed for a one-platform index.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::checks::{self, Check};

/// The `--format` that prints both attestations of every platform as one JSON document.
pub const FORMAT: &str =
    r#"{"provenance": {{json .Provenance}}, "sbom": {{json .SBOM}}, "index": {{json .Manifest}}}"#;

/// What the registry holds for a pushed tag: each platform's attestations and the index's
/// annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub platforms: Vec<Attested>,
    pub annotations: BTreeMap<String, String>,
}

/// `docker buildx imagetools inspect` of `reference`, printing [`FORMAT`].
pub fn inspect_argv(reference: &str) -> Vec<String> {
    [
        "docker",
        "buildx",
        "imagetools",
        "inspect",
        reference,
        "--format",
        FORMAT,
    ]
    .map(String::from)
    .into()
}

/// One platform's attestations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    /// `None` for a one-platform index.
    pub platform: Option<String>,
    pub provenance: Option<Provenance>,
    /// Every package of every SPDX document; `None` when the platform has no SBOM.
    pub sbom: Option<Vec<Package>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub build_type: String,
    /// `mode=max`: the build's configuration (its steps) is recorded.
    pub max: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Package {
    pub name: String,
    #[serde(rename = "versionInfo", default)]
    pub version: String,
    #[serde(rename = "externalRefs", default)]
    refs: Vec<ExternalRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct ExternalRef {
    #[serde(rename = "referenceType")]
    kind: String,
    #[serde(rename = "referenceLocator")]
    locator: String,
}

impl Package {
    pub fn purl(&self) -> Option<&str> {
        self.refs
            .iter()
            .find(|r| r.kind == "purl")
            .map(|r| r.locator.as_str())
    }

    fn is(&self, kind: &str) -> bool {
        self.purl()
            .is_some_and(|p| p.starts_with(&format!("pkg:{kind}/")))
    }
}

/// Reads what [`FORMAT`] printed.
pub fn parse(printed: &str) -> Result<Inspected> {
    #[derive(Deserialize)]
    struct Both {
        provenance: Value,
        sbom: Value,
        #[serde(default)]
        index: Value,
    }
    let both: Both = serde_json::from_str(printed)
        .context("`docker buildx imagetools inspect` printed no attestations document")?;
    // One platform: {"SLSA": ...} and {"SPDX": ...}; several: keyed by platform.
    let single = |v: &Value, key: &str| v.get(key).is_some();
    let annotations = both
        .index
        .get("annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    // An image without attestations (a plain manifest, no index) prints null or {}.
    let none = |v: &Value| v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
    let neither = none(&both.provenance) && none(&both.sbom);
    if neither || single(&both.provenance, "SLSA") || single(&both.sbom, "SPDX") {
        return Ok(Inspected {
            platforms: vec![attested(None, &both.provenance, &both.sbom)?],
            annotations,
        });
    }
    let mut platforms: BTreeMap<String, (Value, Value)> = BTreeMap::new();
    for (platform, v) in both.provenance.as_object().into_iter().flatten() {
        platforms.entry(platform.clone()).or_default().0 = v.clone();
    }
    for (platform, v) in both.sbom.as_object().into_iter().flatten() {
        platforms.entry(platform.clone()).or_default().1 = v.clone();
    }
    Ok(Inspected {
        platforms: platforms
            .into_iter()
            .map(|(p, (prov, sbom))| attested(Some(p), &prov, &sbom))
            .collect::<Result<_>>()?,
        annotations,
    })
}

/// The OCI annotation keys the index must carry, as docker/metadata-action writes them
/// (`source` too when the repository has a remote).
const ANNOTATED: [&str; 5] = ["title", "revision", "version", "created", "licenses"];

/// The `annotations` check: the pushed index carries the OCI annotations, with the values
/// the image's labels have.
pub fn annotations_check(
    reference: &str,
    labels: &BTreeMap<String, String>,
    inspected: &Result<Inspected>,
) -> Check {
    const NAME: &str = "annotations";
    let got = match inspected {
        Ok(i) => &i.annotations,
        Err(e) => {
            return checks::fail(NAME, format!("cannot read the index of {reference}: {e:#}"))
        }
    };
    let mut wrong = Vec::new();
    for key in ANNOTATED {
        let key = format!("org.opencontainers.image.{key}");
        match (got.get(&key), labels.get(&key)) {
            (None, _) => wrong.push(format!("{key} missing")),
            (Some(a), Some(l)) if a != l => wrong.push(format!("{key} is {a:?}, the label {l:?}")),
            _ => {}
        }
    }
    if wrong.is_empty() {
        checks::pass(
            NAME,
            format!(
                "the index carries {} OCI annotations, as the labels say",
                got.len()
            ),
        )
    } else {
        checks::fail(NAME, format!("{reference}'s index: {}", wrong.join("; ")))
    }
}

fn attested(platform: Option<String>, provenance: &Value, sbom: &Value) -> Result<Attested> {
    let provenance = provenance.get("SLSA").map(|slsa| Provenance {
        build_type: slsa
            .get("buildType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        max: slsa.get("buildConfig").is_some(),
    });
    let sbom = match sbom.get("SPDX") {
        None => None,
        Some(main) => {
            let mut packages = packages_of(main)?;
            for extra in sbom
                .get("AdditionalSPDXs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                packages.extend(packages_of(extra)?);
            }
            Some(packages)
        }
    };
    Ok(Attested {
        platform,
        provenance,
        sbom,
    })
}

fn packages_of(doc: &Value) -> Result<Vec<Package>> {
    match doc.get("packages") {
        None => Ok(Vec::new()),
        Some(p) => serde_json::from_value(p.clone()).context("an SPDX document's packages"),
    }
}

/// What `verify --attestations` expects of a pushed image.
pub struct Expected<'a> {
    pub reference: &'a str,
    /// The workspace crate the image is built from, which the SBOM must name.
    pub crate_name: Option<&'a str>,
}

/// The `attestations` check: on every platform, a `mode=max` provenance and an SBOM naming
/// the image's Debian packages and, for a Rust service, its own crate.
pub fn check(expected: &Expected, inspected: &Result<Inspected>) -> Check {
    const NAME: &str = "attestations";
    let reference = expected.reference;
    let attested = match inspected {
        Ok(i) => &i.platforms,
        Err(e) => {
            return checks::fail(
                NAME,
                format!("cannot read the attestations of {reference}: {e:#}"),
            )
        }
    };
    let mut problems = Vec::new();
    let mut summaries = Vec::new();
    for a in attested {
        let on = a
            .platform
            .as_deref()
            .map(|p| format!(" for {p}"))
            .unwrap_or_default();
        match &a.provenance {
            None => problems.push(format!("no provenance{on}")),
            Some(p) if !p.max => problems.push(format!(
                "the provenance{on} is mode=min (no build configuration): build with --provenance=mode=max"
            )),
            Some(_) => {}
        }
        let Some(packages) = &a.sbom else {
            problems.push(format!("no SBOM{on}"));
            continue;
        };
        let debian = packages.iter().filter(|p| p.is("deb")).count();
        if debian == 0 {
            problems.push(format!("the SBOM{on} lists no Debian packages"));
        }
        let own = expected.crate_name.map(|name| {
            packages
                .iter()
                .find(|p| p.name == name && p.is("cargo"))
                .map(|p| format!("{name} {}", p.version))
        });
        match own {
            Some(None) => problems.push(format!(
                "the SBOM{on} does not name the crate `{}` (is the build stage scanned? \
                 ARG BUILDKIT_SBOM_SCAN_STAGE=true)",
                expected.crate_name.unwrap_or_default()
            )),
            own => summaries.push(format!(
                "{}{} packages, {debian} of them Debian{}",
                a.platform
                    .as_deref()
                    .map(|p| format!("{p}: "))
                    .unwrap_or_default(),
                packages.len(),
                own.flatten().map(|c| format!(", {c}")).unwrap_or_default()
            )),
        }
    }
    if attested.is_empty() {
        problems.push("no platform".into());
    }
    if problems.is_empty() {
        checks::pass(
            NAME,
            format!(
                "{reference}: provenance (mode=max) and SBOM ({})",
                summaries.join("; ")
            ),
        )
    } else {
        checks::fail(NAME, format!("{reference}: {}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::checks::Status;

    fn spdx(packages: &[(&str, &str, &str)]) -> String {
        let p: Vec<String> = packages
            .iter()
            .map(|(n, v, purl)| {
                format!(
                    r#"{{"name":"{n}","versionInfo":"{v}","externalRefs":[{{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"{purl}"}}]}}"#
                )
            })
            .collect();
        format!(
            r#"{{"spdxVersion":"SPDX-2.3","packages":[{}]}}"#,
            p.join(",")
        )
    }

    const MAX: &str = r#"{"SLSA":{"buildType":"https://mobyproject.org/buildkit@v1","buildConfig":{"llbDefinition":[]}}}"#;
    const LIBC: (&str, &str, &str) = ("libc6", "2.36-9", "pkg:deb/debian/libc6@2.36-9?arch=amd64");
    const API: (&str, &str, &str) = ("api", "0.1.0", "pkg:cargo/api@0.1.0");

    fn one(provenance: &str, sbom: &str) -> Result<Inspected> {
        parse(&format!(
            r#"{{"provenance": {provenance}, "sbom": {sbom}}}"#
        ))
    }

    fn status(attested: &Result<Inspected>, crate_name: Option<&str>) -> (Status, String) {
        let c = check(
            &Expected {
                reference: "r/api:sha-1",
                crate_name,
            },
            attested,
        );
        (c.status, c.reason)
    }

    #[test]
    fn a_one_platform_index_with_both_attestations_passes() {
        let sbom = format!(
            r#"{{"SPDX": {}, "AdditionalSPDXs": [{}]}}"#,
            spdx(&[LIBC]),
            spdx(&[API])
        );
        let a = one(MAX, &sbom);
        let (s, reason) = status(&a, Some("api"));
        assert_eq!(s, Status::Pass, "{reason}");
        assert!(
            reason.contains("2 packages, 1 of them Debian, api 0.1.0"),
            "{reason}"
        );
    }

    #[test]
    fn each_missing_piece_fails_with_its_reason() {
        let full = format!(r#"{{"SPDX": {}}}"#, spdx(&[LIBC, API]));
        for (provenance, sbom, crate_name, want) in [
            ("null", full.as_str(), Some("api"), "no provenance"),
            (
                r#"{"SLSA":{"buildType":"b"}}"#,
                full.as_str(),
                Some("api"),
                "mode=min",
            ),
            (MAX, "null", Some("api"), "no SBOM"),
            (
                MAX,
                full.as_str(),
                Some("web"),
                "does not name the crate `web`",
            ),
        ] {
            let (s, reason) = status(&one(provenance, sbom), crate_name);
            assert_eq!(s, Status::Fail, "{reason}");
            assert!(reason.contains(want), "{want}: {reason}");
        }
        let no_debian = format!(r#"{{"SPDX": {}}}"#, spdx(&[API]));
        let (s, reason) = status(&one(MAX, &no_debian), None);
        assert_eq!(s, Status::Fail);
        assert!(reason.contains("lists no Debian packages"), "{reason}");
        let (s, reason) = status(&one("{}", "{}"), None);
        assert_eq!(s, Status::Fail);
        assert!(reason.contains("no provenance; no SBOM"), "{reason}");
        let (s, reason) = status(&parse("ERROR: not found"), None);
        assert_eq!(s, Status::Fail);
        assert!(reason.contains("cannot read"), "{reason}");
    }

    #[test]
    fn a_multi_platform_index_is_checked_per_platform() {
        let sbom = format!(
            r#"{{"linux/amd64": {{"SPDX": {}}}, "linux/arm64": {{"SPDX": {}}}}}"#,
            spdx(&[LIBC]),
            spdx(&[LIBC])
        );
        let provenance = format!(r#"{{"linux/amd64": {MAX}}}"#);
        let a = one(&provenance, &sbom);
        let platforms: Vec<_> = a
            .as_ref()
            .unwrap()
            .platforms
            .iter()
            .map(|a| a.platform.clone().unwrap())
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
        let (s, reason) = status(&a, None);
        assert_eq!(s, Status::Fail);
        assert!(reason.contains("no provenance for linux/arm64"), "{reason}");
    }

    #[test]
    fn the_index_must_carry_the_labels_as_annotations() {
        let labels: BTreeMap<String, String> = ANNOTATED
            .iter()
            .map(|k| {
                (
                    format!("org.opencontainers.image.{k}"),
                    format!("{k}-value"),
                )
            })
            .collect();
        let index = |annotations: &BTreeMap<String, String>| {
            parse(&format!(
                r#"{{"provenance": null, "sbom": null, "index": {{"annotations": {}}}}}"#,
                serde_json::to_string(annotations).unwrap()
            ))
        };
        let c = annotations_check("r/api:sha-1", &labels, &index(&labels));
        assert_eq!(c.status, Status::Pass, "{}", c.reason);
        let mut edited = labels.clone();
        edited.remove("org.opencontainers.image.title");
        edited.insert("org.opencontainers.image.version".into(), "other".into());
        let c = annotations_check("r/api:sha-1", &labels, &index(&edited));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.reason.contains("org.opencontainers.image.title missing")
                && c.reason.contains("version is \"other\""),
            "{}",
            c.reason
        );
    }
}
