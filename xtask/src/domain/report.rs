//! The trivy report model: what `trivy image --format json` writes, reduced to [`Finding`]s.
//!
//! Only the fields the gate, the table and SARIF need are read; fields trivy adds between
//! versions are ignored. A report that is empty, not JSON or not schema 2 is an error, never
//! an empty list of findings. This module parses; it never runs trivy.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// trivy's severities, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Severity> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .with_context(|| {
                format!("unknown severity `{s}`; expected CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN")
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Vulnerability,
    Secret,
}

/// One vulnerability in one package, or one secret in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    /// `CVE-...`/`GHSA-...` for a vulnerability, the rule id for a secret.
    pub id: String,
    pub severity: Severity,
    /// trivy's target: the image and OS for OS packages, a file for secrets and lock files.
    pub target: String,
    pub package: Option<String>,
    pub purl: Option<String>,
    /// The file the finding is in, when trivy names one (language packages, secrets).
    pub path: Option<String>,
    pub installed: Option<String>,
    /// The first version without the vulnerability; `None` when there is no fix yet.
    pub fixed: Option<String>,
    pub title: String,
    pub url: Option<String>,
    pub line: Option<u32>,
}

impl Finding {
    pub fn has_fix(&self) -> bool {
        self.fixed.is_some()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What trivy scanned, as it names it.
    pub artifact: String,
    pub image_id: Option<String>,
    pub trivy_version: Option<String>,
    /// Highest severity first, then by id, package and path: the same report always gives
    /// the same order.
    pub findings: Vec<Finding>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawReport {
    schema_version: u32,
    artifact_name: String,
    #[serde(default)]
    metadata: RawMetadata,
    #[serde(default)]
    trivy: RawTrivy,
    #[serde(default)]
    results: Vec<RawResult>,
}

#[derive(Default, Deserialize)]
struct RawMetadata {
    #[serde(rename = "ImageID")]
    image_id: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawTrivy {
    #[serde(rename = "Version")]
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawResult {
    target: String,
    #[serde(default)]
    vulnerabilities: Option<Vec<RawVulnerability>>,
    #[serde(default)]
    secrets: Option<Vec<RawSecret>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVulnerability {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    pkg_path: Option<String>,
    #[serde(default)]
    pkg_identifier: RawPkgIdentifier,
    installed_version: Option<String>,
    fixed_version: Option<String>,
    severity: Severity,
    title: Option<String>,
    #[serde(rename = "PrimaryURL")]
    primary_url: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawPkgIdentifier {
    #[serde(rename = "PURL")]
    purl: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawSecret {
    #[serde(rename = "RuleID")]
    rule_id: String,
    severity: Severity,
    title: Option<String>,
    start_line: Option<u32>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

impl Report {
    /// Checks that this is a report of `reference`, the image trivy was asked to scan: trivy
    /// names it exactly so in `ArtifactName`. When the report has `Metadata.ImageID` and
    /// `image_id` is known, they must match too. `Err` says which image the report is of.
    pub fn check_names(&self, reference: &str, image_id: Option<&str>) -> Result<()> {
        let of = match &self.image_id {
            Some(id) => format!("{} ({id})", self.artifact),
            None => self.artifact.clone(),
        };
        let id_differs = matches!((&self.image_id, image_id), (Some(a), Some(b)) if a != b);
        if self.artifact != reference || id_differs {
            let wanted = match image_id {
                Some(id) => format!("{reference} ({id})"),
                None => reference.to_owned(),
            };
            bail!("the report is of {of}, not of {wanted}");
        }
        Ok(())
    }

    /// Parses trivy's JSON report (schema version 2).
    pub fn parse(text: &str) -> Result<Report> {
        if text.trim().is_empty() {
            bail!("the report is empty");
        }
        let raw: RawReport =
            serde_json::from_str(text).context("the report is not a trivy JSON report")?;
        if raw.schema_version != 2 {
            bail!(
                "the report has schema version {}; this toolkit reads version 2",
                raw.schema_version
            );
        }
        let mut findings = Vec::new();
        for result in raw.results {
            for v in result.vulnerabilities.unwrap_or_default() {
                findings.push(Finding {
                    kind: Kind::Vulnerability,
                    title: non_empty(v.title).unwrap_or_else(|| v.vulnerability_id.clone()),
                    id: v.vulnerability_id,
                    severity: v.severity,
                    target: result.target.clone(),
                    package: Some(v.pkg_name),
                    purl: non_empty(v.pkg_identifier.purl),
                    path: non_empty(v.pkg_path),
                    installed: non_empty(v.installed_version),
                    fixed: non_empty(v.fixed_version),
                    url: non_empty(v.primary_url),
                    line: None,
                });
            }
            for s in result.secrets.unwrap_or_default() {
                findings.push(Finding {
                    kind: Kind::Secret,
                    title: non_empty(s.title).unwrap_or_else(|| s.rule_id.clone()),
                    id: s.rule_id,
                    severity: s.severity,
                    target: result.target.clone(),
                    package: None,
                    purl: None,
                    path: Some(result.target.clone()),
                    installed: None,
                    fixed: None,
                    url: None,
                    line: s.start_line,
                });
            }
        }
        findings.sort_by(|a, b| {
            let key = |f: &Finding| {
                (
                    std::cmp::Reverse(f.severity),
                    f.kind,
                    f.id.clone(),
                    f.package.clone(),
                    f.path.clone(),
                    f.installed.clone(),
                    f.line,
                )
            };
            key(a).cmp(&key(b))
        });
        Ok(Report {
            artifact: raw.artifact_name,
            image_id: non_empty(raw.metadata.image_id),
            trivy_version: non_empty(raw.trivy.version),
            findings,
        })
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// The repository's own small reports in trivy's JSON format (tests/fixtures/reports):
    /// the unit tests need nothing outside the repository.
    pub fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports")
    }

    /// The report `name` (`photon-30`, after trivy's own test file) from [`fixtures`].
    pub fn fixture(name: &str) -> Report {
        let path = fixtures().join(format!("{name}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Report::parse(&text).unwrap_or_else(|e| panic!("{name}: {e:#}"))
    }

    /// The real trivy reports (trivy's own integration test data), when the run asks for
    /// them with `XTASK_TRIVY_FIXTURES=DIR` (`.ci/run` does). Not asked: `None`. Asked and
    /// missing: the test fails, loudly.
    pub fn real_fixtures() -> Option<PathBuf> {
        let dir = PathBuf::from(std::env::var_os("XTASK_TRIVY_FIXTURES")?);
        assert!(
            dir.join("debian-buster.json.golden").is_file(),
            "XTASK_TRIVY_FIXTURES={} asks for the real trivy reports, but they are not there",
            dir.display()
        );
        Some(dir)
    }

    fn real(dir: &Path, name: &str) -> Report {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        Report::parse(&text).unwrap_or_else(|e| panic!("{name}: {e:#}"))
    }

    fn count(r: &Report, sev: Severity, fixed: bool) -> usize {
        r.findings
            .iter()
            .filter(|f| f.kind == Kind::Vulnerability && f.severity == sev && f.has_fix() == fixed)
            .count()
    }

    #[test]
    fn counts_match_the_fixture_readme() {
        use Severity::*;
        /// Per file: (severity, with a fixed version, without).
        type Expected = [(Severity, usize, usize); 4];
        let table: [(&str, Expected); 5] = [
            (
                "debian-buster",
                [(Critical, 1, 0), (High, 0, 0), (Medium, 0, 0), (Low, 0, 1)],
            ),
            (
                "photon-30",
                [(Critical, 2, 0), (High, 1, 0), (Medium, 0, 0), (Low, 0, 0)],
            ),
            (
                "mariner-1.0",
                [(Critical, 0, 0), (High, 0, 1), (Medium, 0, 0), (Low, 1, 0)],
            ),
            (
                "alpine-310",
                [(Critical, 0, 0), (High, 0, 0), (Medium, 4, 0), (Low, 0, 0)],
            ),
            (
                "cargo.lock",
                [(Critical, 0, 0), (High, 0, 0), (Medium, 0, 0), (Low, 0, 0)],
            ),
        ];
        for (file, expected) in table {
            let r = fixture(file);
            for (sev, fixed, unfixed) in expected {
                assert_eq!(count(&r, sev, true), fixed, "{file} {sev} fixed");
                assert_eq!(count(&r, sev, false), unfixed, "{file} {sev} unfixed");
            }
        }
    }

    #[test]
    fn vulnerability_fields_are_read() {
        let r = fixture("photon-30");
        assert_eq!(r.artifact, "testdata/fixtures/images/photon-30.tar.gz");
        assert!(r.image_id.as_deref().unwrap().starts_with("sha256:"));
        assert_eq!(r.trivy_version.as_deref(), Some("dev"));
        let first = &r.findings[0];
        assert_eq!(first.severity, Severity::Critical);
        assert_eq!(first.id, "CVE-2019-5481");
        assert_eq!(first.package.as_deref(), Some("curl"));
        assert_eq!(first.installed.as_deref(), Some("7.61.1-4.ph3"));
        assert_eq!(first.fixed.as_deref(), Some("7.61.1-5.ph3"));
        assert!(first
            .purl
            .as_deref()
            .unwrap()
            .starts_with("pkg:rpm/photon/curl@"));
    }

    #[test]
    fn secrets_become_findings_with_file_and_line() {
        let r = fixture("secrets");
        let ids: Vec<(&str, Severity, Option<u32>)> = r
            .findings
            .iter()
            .map(|f| (f.id.as_str(), f.severity, f.line))
            .collect();
        assert_eq!(
            ids,
            [
                ("aws-access-key-id", Severity::Critical, Some(3)),
                ("mysecret", Severity::High, Some(7))
            ]
        );
        assert!(r
            .findings
            .iter()
            .all(|f| f.kind == Kind::Secret && f.path.as_deref() == Some("deploy.sh")));
    }

    #[test]
    fn every_fixture_parses() {
        let mut parsed = 0;
        for entry in std::fs::read_dir(fixtures()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(stem) = name.strip_suffix(".json") {
                fixture(stem);
                parsed += 1;
            }
        }
        assert!(
            parsed >= 8,
            "only {parsed} reports in {}",
            fixtures().display()
        );
    }

    /// Conformance: every real trivy report parses, and each of the repository's own reports
    /// gives exactly the findings of the real report it is named after.
    #[test]
    fn conformance_real_trivy_reports() {
        let Some(dir) = real_fixtures() else {
            eprintln!("XTASK_TRIVY_FIXTURES is not set: the real trivy reports are not checked");
            return;
        };
        let mut real_count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json.golden") {
                real(&dir, &name);
                real_count += 1;
            }
        }
        assert!(
            real_count >= 10,
            "{real_count} real reports in {}",
            dir.display()
        );
        for entry in std::fs::read_dir(fixtures()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let ours = fixture(stem);
            let theirs = real(&dir, &format!("{stem}.json.golden"));
            assert_eq!(ours.artifact, theirs.artifact, "{stem}");
            assert_eq!(ours.image_id, theirs.image_id, "{stem}");
            assert_eq!(ours.findings, theirs.findings, "{stem}");
        }
    }

    #[test]
    fn a_report_naming_another_image_is_refused() {
        let report = |artifact: &str, id: Option<&str>| Report {
            artifact: artifact.into(),
            image_id: id.map(str::to_owned),
            trivy_version: None,
            findings: Vec::new(),
        };
        let api = "acme/api:sha-1234567";
        assert!(report(api, None).check_names(api, None).is_ok());
        assert!(report(api, Some("sha256:a"))
            .check_names(api, Some("sha256:a"))
            .is_ok());
        // Only one side knows the id: the name decides.
        assert!(report(api, None).check_names(api, Some("sha256:a")).is_ok());
        assert!(report(api, Some("sha256:a")).check_names(api, None).is_ok());
        let err = report("acme/web:sha-1234567", None)
            .check_names(api, None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the report is of acme/web:sha-1234567, not of acme/api:sha-1234567"
        );
        let err = report(api, Some("sha256:b"))
            .check_names(api, Some("sha256:a"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the report is of acme/api:sha-1234567 (sha256:b), not of acme/api:sha-1234567 (sha256:a)"
        );
        // trivy's own test reports are of a tar file, not of any image here.
        assert!(fixture("debian-buster").check_names(api, None).is_err());
    }

    #[test]
    fn empty_and_malformed_reports_are_errors() {
        assert!(Report::parse("").unwrap_err().to_string().contains("empty"));
        assert!(Report::parse("{\"SchemaVersion\": 2, \"Artif").is_err());
        assert!(Report::parse("[]").is_err());
        let err = Report::parse(r#"{"SchemaVersion": 1, "ArtifactName": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("schema version 1"), "{err}");
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
        assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
        assert!("severe".parse::<Severity>().is_err());
    }
}
