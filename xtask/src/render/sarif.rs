//! SARIF 2.1.0 for GitHub code scanning, rendered from the assessed findings.
//!
//! One run with one result per finding (ignored findings carry a suppression with their
//! statement). Results of a service's image point at its Dockerfile, so code scanning shows
//! them in the repository. No timestamps and a fixed order: the same reports give the same
//! bytes.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::domain::gate::{Assessment, Status};
use crate::domain::report::{Kind, Severity};

/// The findings of one scanned image.
pub struct ImageResults<'a> {
    /// The image reference as scanned.
    pub image: &'a str,
    /// The file results are shown on: the Dockerfile of a service, else the image reference.
    pub location: &'a str,
    pub trivy_version: Option<&'a str>,
    pub assessment: &'a Assessment,
}

pub fn render(images: &[ImageResults]) -> String {
    let mut rules: BTreeMap<String, Value> = BTreeMap::new();
    let mut results = Vec::new();
    for image in images {
        for a in &image.assessment.findings {
            let f = &a.finding;
            rules.entry(f.id.clone()).or_insert_with(|| {
                let kind = match f.kind {
                    Kind::Vulnerability => "vulnerability",
                    Kind::Secret => "secret",
                };
                let mut rule = json!({
                    "id": f.id,
                    "name": kind,
                    "shortDescription": { "text": f.title },
                    "fullDescription": { "text": f.title },
                    "defaultConfiguration": { "level": level(f.severity) },
                    "help": { "text": format!("{} {}: {}\nSeverity: {}", kind, f.id, f.title, f.severity) },
                    "properties": {
                        "security-severity": security_severity(f.severity),
                        "tags": [kind, "security", f.severity.as_str()],
                    },
                });
                if let Some(url) = &f.url {
                    rule["helpUri"] = json!(url);
                }
                rule
            });
            let what = match f.kind {
                Kind::Vulnerability => format!(
                    "{} {} in {} {}; fixed in {}",
                    f.severity,
                    f.id,
                    f.package.as_deref().unwrap_or("?"),
                    f.installed.as_deref().unwrap_or("?"),
                    f.fixed.as_deref().unwrap_or("no release yet"),
                ),
                Kind::Secret => format!(
                    "{} secret {} in {}{}",
                    f.severity,
                    f.id,
                    f.target,
                    f.line.map(|l| format!(":{l}")).unwrap_or_default()
                ),
            };
            let mut result = json!({
                "ruleId": f.id,
                "level": level(f.severity),
                "message": { "text": format!("{what} (image {}): {}", image.image, f.title) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": image.location },
                        "region": { "startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1 },
                    },
                    "message": { "text": format!("{}: {}", image.image, f.target) },
                }],
                "properties": {
                    "image": image.image,
                    "target": f.target,
                    "package": f.package,
                    "installedVersion": f.installed,
                    "fixedVersion": f.fixed,
                    "status": a.status,
                },
            });
            if a.status == Status::Ignored {
                result["suppressions"] = json!([{
                    "kind": "external",
                    "justification": a.statement,
                }]);
            }
            results.push(result);
        }
    }
    let index: BTreeMap<&str, usize> = rules
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    for r in &mut results {
        let id = r["ruleId"]
            .as_str()
            .expect("rule id is a string")
            .to_owned();
        r["ruleIndex"] = json!(index[id.as_str()]);
    }
    let mut driver = json!({
        "name": "Trivy",
        "informationUri": "https://github.com/aquasecurity/trivy",
        "fullName": "Trivy Vulnerability Scanner",
        "rules": rules.into_values().collect::<Vec<_>>(),
    });
    if let Some(v) = images.iter().find_map(|i| i.trivy_version) {
        driver["version"] = json!(v);
    }
    let sarif = json!({
        "version": "2.1.0",
        "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json",
        "runs": [{
            "tool": { "driver": driver },
            "results": results,
            "columnKind": "utf16CodeUnits",
        }],
    });
    let mut text = serde_json::to_string_pretty(&sarif).expect("plain data serializes");
    text.push('\n');
    text
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// GitHub ranks code scanning alerts by this CVSS-like score.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Unknown => "0.0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::ScanConfig;
    use crate::domain::gate::{assess, Gate};
    use crate::domain::ignore::IgnoreList;
    use crate::domain::report::tests::fixture;
    use std::path::Path;
    use time::macros::date;

    fn sarif(report: &str, ignores: &str) -> Value {
        let r = fixture(report);
        let ignores = IgnoreList::parse(ignores, Path::new(".trivyignore.yaml")).unwrap();
        let a = assess(
            &r,
            &Gate::from_config(&ScanConfig::default()),
            &ignores,
            date!(2026 - 06 - 15),
        );
        let text = render(&[ImageResults {
            image: "shipyard/api:sha-860c190",
            location: "xtask/docker/api.Dockerfile",
            trivy_version: r.trivy_version.as_deref(),
            assessment: &a,
        }]);
        serde_json::from_str(&text).expect("valid JSON")
    }

    #[test]
    fn one_result_per_finding_with_its_rule() {
        let s = sarif("photon-30", "");
        assert_eq!(s["version"], "2.1.0");
        let run = &s["runs"][0];
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let ids: Vec<&str> = results
            .iter()
            .map(|r| r["ruleId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["CVE-2019-5481", "CVE-2019-5481", "CVE-2019-18276"]);
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        for r in results {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], r["ruleId"]);
            assert_eq!(r["level"], "error");
            assert_eq!(
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                "xtask/docker/api.Dockerfile"
            );
        }
    }

    #[test]
    fn secrets_are_results_too() {
        let s = sarif("secrets", "");
        let ids: Vec<&str> = s["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ruleId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["aws-access-key-id", "mysecret"]);
    }

    #[test]
    fn ignored_findings_are_suppressed_with_their_statement() {
        let s = sarif(
            "debian-buster",
            "vulnerabilities:\n  - id: CVE-2019-18224\n    statement: not reachable\n",
        );
        let r = &s["runs"][0]["results"][0];
        assert_eq!(r["ruleId"], "CVE-2019-18224");
        assert_eq!(r["suppressions"][0]["justification"], "not reachable");
        assert!(s["runs"][0]["results"][1].get("suppressions").is_none());
    }

    #[test]
    fn clean_report_has_no_results_and_rendering_is_stable() {
        let s = sarif("cargo.lock", "");
        assert_eq!(s["runs"][0]["results"].as_array().unwrap().len(), 0);
        assert_eq!(sarif("alpine-310", ""), sarif("alpine-310", ""));
    }
}
