//! The ignore list: accepted findings in trivy's `.trivyignore.yaml` shape.
//!
//! Applied here, not by trivy, so the gate knows what was ignored and why. Every entry must
//! say why it is safe (`statement`); an entry past its `expired_at` date stops ignoring and
//! is reported as expired. Nothing here reads the clock: callers pass today's date.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use time::{Date, OffsetDateTime};

use crate::domain::report::{Finding, Kind};

#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub id: String,
    /// Glob patterns (`*` matches anything) for the file or trivy target; any matches.
    pub paths: Vec<String>,
    /// Package URLs; without `@version` they match every version of the package.
    pub purls: Vec<String>,
    pub statement: String,
    /// The first day the entry no longer applies.
    pub expired_at: Option<Date>,
}

/// How an ignore list treats one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match<'a> {
    None,
    Ignored(&'a Entry),
    /// Only an expired entry matches: the finding counts again.
    Expired(&'a Entry),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    vulnerabilities: Vec<RawEntry>,
    #[serde(default)]
    secrets: Vec<RawEntry>,
    /// Part of trivy's format; `scan` runs no misconfiguration or license scanner.
    #[serde(default)]
    #[allow(dead_code)]
    misconfigurations: Vec<yaml_serde::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    licenses: Vec<yaml_serde::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    purls: Vec<String>,
    statement: Option<String>,
    expired_at: Option<yaml_serde::Value>,
}

impl IgnoreList {
    /// Reads the ignore list at `root/path`; a missing file is an empty list.
    pub fn load(root: &Path, path: &Path) -> Result<IgnoreList> {
        let full = root.join(path);
        match std::fs::read_to_string(&full) {
            Ok(text) => IgnoreList::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IgnoreList {
                path: path.to_owned(),
                entries: Vec::new(),
            }),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The entries as canonical JSON (in file order, every field that decides a match or its
    /// reason): what a verdict's ignore fingerprint is taken of. Comments, layout and the
    /// file's path do not change it; adding, removing or editing an entry does.
    pub fn canonical(&self) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "kind": e.kind,
                    "id": e.id,
                    "paths": e.paths,
                    "purls": e.purls,
                    "statement": e.statement,
                    "expired_at": e.expired_at.map(|d| d.to_string()),
                })
            })
            .collect();
        serde_json::Value::Array(entries)
    }

    pub fn parse(text: &str, path: &Path) -> Result<IgnoreList> {
        let file = path.display();
        // An empty file, or one with only comments, is an empty list.
        let raw: Option<RawFile> =
            yaml_serde::from_str(text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let raw = raw.unwrap_or(RawFile {
            vulnerabilities: Vec::new(),
            secrets: Vec::new(),
            misconfigurations: Vec::new(),
            licenses: Vec::new(),
        });
        let mut entries = Vec::new();
        for (section, kind, list) in [
            ("vulnerabilities", Kind::Vulnerability, raw.vulnerabilities),
            ("secrets", Kind::Secret, raw.secrets),
        ] {
            for (i, e) in list.into_iter().enumerate() {
                let at = format!("{file}: {section}[{i}] (id {})", e.id);
                let statement = e.statement.unwrap_or_default().trim().to_owned();
                if statement.is_empty() {
                    bail!("{at} has no `statement`: say why the finding is safe to ignore (docs/scanning.md)");
                }
                let expired_at = e
                    .expired_at
                    .map(|v| parse_date(&v))
                    .transpose()
                    .with_context(|| format!("{at}: expired_at"))?;
                entries.push(Entry {
                    kind,
                    id: e.id,
                    paths: e.paths,
                    purls: e.purls,
                    statement,
                    expired_at,
                });
            }
        }
        Ok(IgnoreList {
            path: path.to_owned(),
            entries,
        })
    }

    /// What the list says about `finding` on `today`. A live entry wins over an expired one.
    pub fn check(&self, finding: &Finding, today: Date) -> Match<'_> {
        let mut expired = None;
        for entry in self.entries.iter().filter(|e| e.matches(finding)) {
            if entry.expired(today) {
                expired.get_or_insert(entry);
            } else {
                return Match::Ignored(entry);
            }
        }
        expired.map_or(Match::None, Match::Expired)
    }
}

impl Entry {
    pub fn expired(&self, today: Date) -> bool {
        self.expired_at.is_some_and(|d| today >= d)
    }

    fn matches(&self, f: &Finding) -> bool {
        let paths = self.paths.is_empty()
            || self.paths.iter().any(|p| {
                std::iter::once(&f.target)
                    .chain(f.path.as_ref())
                    .any(|candidate| glob(p, candidate))
            });
        let purls = self.purls.is_empty()
            || f.purl
                .as_deref()
                .is_some_and(|purl| self.purls.iter().any(|p| purl_matches(p, purl)));
        self.kind == f.kind && self.id.eq_ignore_ascii_case(&f.id) && paths && purls
    }
}

/// `2025-06-30`, or an RFC 3339 time whose date is taken.
fn parse_date(value: &yaml_serde::Value) -> Result<Date> {
    let text = value
        .as_str()
        .context("expected a date such as 2025-06-30")?;
    calendar_date(text)
        .or_else(|| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| t.date())
        })
        .with_context(|| format!("`{text}` is not a date such as 2025-06-30"))
}

/// `YYYY-MM-DD`, and nothing else.
fn calendar_date(text: &str) -> Option<Date> {
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// An entry's purl matches a finding's when they name the same package; the entry's version,
/// when it has one, must match too. Qualifiers (`?arch=...`) and subpaths are not compared.
fn purl_matches(entry: &str, finding: &str) -> bool {
    let strip = |p: &str| p.split(['?', '#']).next().unwrap_or_default().to_owned();
    let (entry, finding) = (strip(entry), strip(finding));
    if entry.contains('@') {
        entry == finding
    } else {
        finding.split('@').next() == Some(entry.as_str())
    }
}

/// `*` matches any run of characters (slashes included); everything else is literal. A
/// leading `/` is not significant, since trivy names files in images without one.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(
        pattern.trim_start_matches('/').as_bytes(),
        text.trim_start_matches('/').as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::tests::fixture;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 06 - 15);

    #[test]
    fn dates_are_calendar_dates_or_rfc3339_times() {
        let date = |s: &str| parse_date(&yaml_serde::Value::String(s.into())).ok();
        assert_eq!(date("2026-06-15"), Some(TODAY));
        assert_eq!(date("2026-06-15T23:30:00Z"), Some(TODAY));
        assert_eq!(date("2026-6-15"), None);
        assert_eq!(date("2026-02-30"), None);
        assert_eq!(date("tomorrow"), None);
    }

    fn parse(text: &str) -> Result<IgnoreList> {
        IgnoreList::parse(text, Path::new(".trivyignore.yaml"))
    }

    #[test]
    fn the_canonical_entries_change_with_the_entries_not_the_layout() {
        let one = "vulnerabilities:\n  - id: CVE-1\n    statement: s\n";
        let canonical = |text: &str| parse(text).unwrap().canonical();
        assert_eq!(
            canonical(one),
            canonical("# accepted\nvulnerabilities:\n- {id: CVE-1, statement: s}\n")
        );
        assert_eq!(canonical(""), serde_json::json!([]));
        for other in [
            "",
            "vulnerabilities:\n  - id: CVE-2\n    statement: s\n",
            "vulnerabilities:\n  - id: CVE-1\n    statement: t\n",
            "vulnerabilities:\n  - id: CVE-1\n    statement: s\n    expired_at: 2026-01-01\n",
            "vulnerabilities:\n  - id: CVE-1\n    statement: s\n    purls: [pkg:deb/debian/x]\n",
            "secrets:\n  - id: CVE-1\n    statement: s\n",
        ] {
            assert_ne!(canonical(other), canonical(one), "{other}");
        }
    }

    fn ignored_ids(list: &IgnoreList, report: &str) -> Vec<String> {
        fixture(report)
            .findings
            .iter()
            .filter(|f| matches!(list.check(f, TODAY), Match::Ignored(_)))
            .map(|f| format!("{} {}", f.id, f.package.as_deref().unwrap_or("-")))
            .collect()
    }

    #[test]
    fn an_entry_needs_a_statement() {
        let err = format!(
            "{:#}",
            parse("vulnerabilities:\n  - id: CVE-2019-5481\n").unwrap_err()
        );
        assert!(
            err.contains(
                ".trivyignore.yaml: vulnerabilities[0] (id CVE-2019-5481) has no `statement`"
            ),
            "{err}"
        );
        assert!(parse("secrets:\n  - id: x\n    statement: '  '\n").is_err());
    }

    #[test]
    fn empty_and_comment_only_files_are_empty_lists() {
        assert!(parse("").unwrap().entries.is_empty());
        assert!(parse("# nothing ignored\n").unwrap().entries.is_empty());
        assert!(parse("vulnerabilities: []\n").unwrap().entries.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_dates_are_errors() {
        assert!(parse("vulnerabilities:\n  - id: X\n    statment: typo\n").is_err());
        let err = format!(
            "{:#}",
            parse("vulnerabilities:\n  - id: X\n    statement: s\n    expired_at: soon\n")
                .unwrap_err()
        );
        assert!(err.contains("expired_at") && err.contains("soon"), "{err}");
    }

    #[test]
    fn a_purl_entry_ignores_exactly_its_package() {
        let list = parse(
            "vulnerabilities:\n  - id: CVE-2019-5481\n    purls: [pkg:rpm/photon/curl-libs]\n    statement: only libcurl's users are affected\n",
        )
        .unwrap();
        assert_eq!(ignored_ids(&list, "photon-30"), ["CVE-2019-5481 curl-libs"]);
    }

    #[test]
    fn an_id_entry_ignores_every_package_with_that_id() {
        let list = parse("vulnerabilities:\n  - id: CVE-2019-5481\n    statement: s\n").unwrap();
        assert_eq!(
            ignored_ids(&list, "photon-30"),
            ["CVE-2019-5481 curl", "CVE-2019-5481 curl-libs"]
        );
    }

    #[test]
    fn an_expired_entry_stops_ignoring() {
        let list = parse(
            "vulnerabilities:\n  - id: CVE-2019-18276\n    statement: s\n    expired_at: 2026-06-15\n",
        )
        .unwrap();
        let r = fixture("photon-30");
        let bash = r
            .findings
            .iter()
            .find(|f| f.id == "CVE-2019-18276")
            .unwrap();
        assert!(matches!(list.check(bash, TODAY), Match::Expired(_)));
        assert!(matches!(
            list.check(bash, date!(2026 - 06 - 14)),
            Match::Ignored(_)
        ));
    }

    #[test]
    fn secret_entries_match_secrets_by_path() {
        let list = parse(
            "secrets:\n  - id: mysecret\n    paths: ['*.sh']\n    statement: a test token\n  - id: aws-access-key-id\n    paths: [other/file]\n    statement: s\n",
        )
        .unwrap();
        assert_eq!(ignored_ids(&list, "secrets"), ["mysecret -"]);
        // A vulnerability entry never ignores a secret with the same id.
        let list = parse("vulnerabilities:\n  - id: mysecret\n    statement: s\n").unwrap();
        assert!(ignored_ids(&list, "secrets").is_empty());
    }

    #[test]
    fn purls_and_globs() {
        assert!(purl_matches(
            "pkg:deb/debian/bash",
            "pkg:deb/debian/bash@5.0-4?arch=amd64"
        ));
        assert!(purl_matches(
            "pkg:deb/debian/bash@5.0-4",
            "pkg:deb/debian/bash@5.0-4?arch=amd64"
        ));
        assert!(!purl_matches(
            "pkg:deb/debian/bash@5.0-5",
            "pkg:deb/debian/bash@5.0-4"
        ));
        assert!(!purl_matches("pkg:deb/debian/bas", "pkg:deb/debian/bash@1"));
        assert!(glob("usr/lib/*.jar", "/usr/lib/a/b.jar"));
        assert!(glob("deploy.sh", "deploy.sh"));
        assert!(!glob("deploy.sh", "deploy.shx"));
    }

    #[test]
    fn the_repository_ignore_file_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        IgnoreList::load(root, Path::new(".trivyignore.yaml")).unwrap();
    }
}
