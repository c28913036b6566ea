//! The scan gate: a report, the policy and the ignore list in, a verdict per finding out.
//!
//! By default a HIGH or CRITICAL vulnerability that has a fixed version fails, and so does
//! any secret; unfixed ones are reported but pass (there is nothing to upgrade to yet).
//! Pure: no files, no processes, no clock.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::config::ScanConfig;
use crate::domain::ignore::{IgnoreList, Match};
use crate::domain::report::{Finding, Kind, Report, Severity};

#[derive(Debug, Clone)]
pub struct Gate {
    pub fail_on: BTreeSet<Severity>,
    /// A vulnerability without a fixed version does not fail.
    pub ignore_unfixed: bool,
    pub fail_on_secrets: bool,
}

impl Gate {
    pub fn from_config(config: &ScanConfig) -> Gate {
        Gate {
            fail_on: config.fail_on.iter().copied().collect(),
            ignore_unfixed: config.ignore_unfixed,
            fail_on_secrets: config.fail_on_secrets,
        }
    }

    /// The policy as canonical JSON (keys sorted, severities in order): what a verdict's
    /// policy fingerprint is taken of, so any change to the gate settings changes it.
    pub fn canonical(&self) -> serde_json::Value {
        serde_json::json!({
            "fail_on": self.fail_on.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "ignore_unfixed": self.ignore_unfixed,
            "fail_on_secrets": self.fail_on_secrets,
        })
    }

    /// Whether `counts` (of findings not ignored) fail this gate: a fixed vulnerability of a
    /// failing severity, an unfixed one unless unfixed ones are ignored, a secret unless
    /// secrets pass, or any finding counted as failing.
    pub fn fails(&self, counts: &Counts) -> bool {
        let vulnerabilities = self.fail_on.iter().any(|&s| {
            let c = counts.severity(s);
            c.fixed > 0 || (!self.ignore_unfixed && c.unfixed > 0)
        });
        counts.failing > 0 || vulnerabilities || (self.fail_on_secrets && counts.secrets > 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Fails the gate.
    Fails,
    /// Would fail, but no fixed version exists and the gate ignores unfixed findings.
    Unfixed,
    /// Below the severities the gate fails on.
    Reported,
    /// Accepted by an entry of the ignore list.
    Ignored,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assessed {
    #[serde(flatten)]
    pub finding: Finding,
    pub status: Status,
    /// The ignore entry's statement, when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// Set when only an expired ignore entry matched: the date it expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_ignore: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixCount {
    pub fixed: u32,
    pub unfixed: u32,
}

/// Counts of the findings not ignored, by severity; then secrets, what was ignored and what
/// fails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub critical: FixCount,
    pub high: FixCount,
    pub medium: FixCount,
    pub low: FixCount,
    pub unknown: FixCount,
    pub secrets: u32,
    pub ignored: u32,
    /// Findings that an expired ignore entry no longer covers.
    pub expired_ignores: u32,
    pub failing: u32,
}

impl Counts {
    pub fn severity(&self, s: Severity) -> FixCount {
        match s {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Unknown => self.unknown,
        }
    }

    fn severity_mut(&mut self, s: Severity) -> &mut FixCount {
        match s {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Unknown => &mut self.unknown,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub passed: bool,
    pub counts: Counts,
    pub findings: Vec<Assessed>,
}

impl Assessment {
    pub fn failing(&self) -> impl Iterator<Item = &Assessed> {
        self.findings.iter().filter(|a| a.status == Status::Fails)
    }
}

pub fn assess(report: &Report, gate: &Gate, ignores: &IgnoreList, today: Date) -> Assessment {
    let mut counts = Counts::default();
    let findings: Vec<Assessed> = report
        .findings
        .iter()
        .map(|f| {
            let matched = ignores.check(f, today);
            let (status, statement, expired_ignore) = match matched {
                Match::Ignored(e) => (Status::Ignored, Some(e.statement.clone()), None),
                Match::Expired(e) => (gate.status(f), None, e.expired_at.map(|d| d.to_string())),
                Match::None => (gate.status(f), None, None),
            };
            if status == Status::Ignored {
                counts.ignored += 1;
            } else {
                match f.kind {
                    Kind::Secret => counts.secrets += 1,
                    Kind::Vulnerability => {
                        let c = counts.severity_mut(f.severity);
                        if f.has_fix() {
                            c.fixed += 1;
                        } else {
                            c.unfixed += 1;
                        }
                    }
                }
            }
            counts.expired_ignores += u32::from(expired_ignore.is_some());
            counts.failing += u32::from(status == Status::Fails);
            Assessed {
                finding: f.clone(),
                status,
                statement,
                expired_ignore,
            }
        })
        .collect();
    Assessment {
        passed: counts.failing == 0,
        counts,
        findings,
    }
}

impl Gate {
    fn status(&self, f: &Finding) -> Status {
        match f.kind {
            Kind::Secret if self.fail_on_secrets => Status::Fails,
            Kind::Secret => Status::Reported,
            Kind::Vulnerability if !self.fail_on.contains(&f.severity) => Status::Reported,
            Kind::Vulnerability if !f.has_fix() && self.ignore_unfixed => Status::Unfixed,
            Kind::Vulnerability => Status::Fails,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::tests::fixture;
    use std::path::Path;
    use time::macros::date;

    fn gate() -> Gate {
        Gate::from_config(&ScanConfig::default())
    }

    fn run(report: &str, gate: &Gate, ignores: &str) -> Assessment {
        let ignores = IgnoreList::parse(ignores, Path::new(".trivyignore.yaml")).unwrap();
        assess(&fixture(report), gate, &ignores, date!(2026 - 06 - 15))
    }

    #[test]
    fn fixable_high_and_critical_fail() {
        let a = run("debian-buster", &gate(), "");
        assert!(!a.passed);
        assert_eq!(a.counts.failing, 1);
        assert_eq!(
            a.counts.critical,
            FixCount {
                fixed: 1,
                unfixed: 0
            }
        );
        assert_eq!(
            a.counts.low,
            FixCount {
                fixed: 0,
                unfixed: 1
            }
        );
        let a = run("photon-30", &gate(), "");
        assert_eq!((a.passed, a.counts.failing), (false, 3));
    }

    #[test]
    fn unfixed_high_passes_unless_configured_otherwise() {
        let a = run("mariner-1.0", &gate(), "");
        assert!(a.passed);
        assert_eq!(
            a.counts.high,
            FixCount {
                fixed: 0,
                unfixed: 1
            }
        );
        assert_eq!(a.findings[0].status, Status::Unfixed);
        let strict = Gate {
            ignore_unfixed: false,
            ..gate()
        };
        let a = run("mariner-1.0", &strict, "");
        assert!(!a.passed);
        assert_eq!(a.counts.failing, 1);
    }

    #[test]
    fn medium_only_and_clean_reports_pass() {
        let a = run("alpine-310", &gate(), "");
        assert!(a.passed);
        assert_eq!(a.counts.medium.fixed, 4);
        assert!(a.findings.iter().all(|f| f.status == Status::Reported));
        let a = run("cargo.lock", &gate(), "");
        assert!(a.passed && a.findings.is_empty());
    }

    #[test]
    fn fail_on_is_configurable() {
        let medium = Gate {
            fail_on: [Severity::Medium].into(),
            ..gate()
        };
        assert!(!run("alpine-310", &medium, "").passed);
        assert!(run("photon-30", &medium, "").passed);
    }

    #[test]
    fn secrets_fail_unless_configured_otherwise() {
        let a = run("secrets", &gate(), "");
        assert!(!a.passed);
        assert_eq!((a.counts.secrets, a.counts.failing), (2, 2));
        let lax = Gate {
            fail_on_secrets: false,
            ..gate()
        };
        assert!(run("secrets", &lax, "").passed);
    }

    #[test]
    fn ignored_findings_are_counted_apart_with_their_statement() {
        let a = run(
            "debian-buster",
            &gate(),
            "vulnerabilities:\n  - id: CVE-2019-18224\n    statement: not reachable from our code\n",
        );
        let ignored: Vec<_> = a
            .findings
            .iter()
            .filter(|f| f.status == Status::Ignored)
            .collect();
        assert_eq!(ignored.len(), 1, "{:#?}", a.findings);
        assert_eq!(
            ignored[0].statement.as_deref(),
            Some("not reachable from our code")
        );
        assert!(a.passed);
        assert_eq!(a.counts.ignored, 1);
        assert_eq!(a.counts.critical, FixCount::default());
    }

    #[test]
    fn counts_fail_the_gate_as_the_findings_do() {
        for (report, gate) in [
            ("debian-buster", gate()),
            ("photon-30", gate()),
            ("mariner-1.0", gate()),
            ("alpine-310", gate()),
            ("secrets", gate()),
            (
                "mariner-1.0",
                Gate {
                    ignore_unfixed: false,
                    ..gate()
                },
            ),
            (
                "secrets",
                Gate {
                    fail_on_secrets: false,
                    ..gate()
                },
            ),
        ] {
            let a = run(report, &gate, "");
            assert_eq!(gate.fails(&a.counts), !a.passed, "{report}");
            // An edited `failing` alone does not hide what the other counts say.
            let edited = Counts {
                failing: 0,
                ..a.counts
            };
            assert_eq!(gate.fails(&edited), !a.passed, "{report}, failing edited");
        }
    }

    #[test]
    fn the_canonical_policy_changes_with_every_setting() {
        let base = gate().canonical();
        assert_eq!(
            base.to_string(),
            r#"{"fail_on":["HIGH","CRITICAL"],"fail_on_secrets":true,"ignore_unfixed":true}"#
        );
        for other in [
            Gate {
                fail_on: [Severity::Critical].into(),
                ..gate()
            },
            Gate {
                ignore_unfixed: false,
                ..gate()
            },
            Gate {
                fail_on_secrets: false,
                ..gate()
            },
        ] {
            assert_ne!(other.canonical(), base);
        }
    }

    #[test]
    fn expired_entries_are_reported_and_do_not_ignore() {
        let a = run(
            "debian-buster",
            &gate(),
            "vulnerabilities:\n  - id: CVE-2019-18224\n    statement: s\n    expired_at: 2026-01-01\n",
        );
        assert!(!a.passed);
        assert_eq!((a.counts.ignored, a.counts.expired_ignores), (0, 1));
        let f = a.failing().next().unwrap();
        assert_eq!(f.expired_ignore.as_deref(), Some("2026-01-01"));
    }
}
