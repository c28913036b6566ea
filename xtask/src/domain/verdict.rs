//! A scan verdict: what `scan` records per service for one image id, and the check `push`
//! makes of it before it publishes that image.
//!
//! A verdict is bound to what it was decided from: the image id, the report trivy wrote
//! (kept beside it as `<service>.trivy.json`), the policy (`[scan]` gate settings) and the
//! ignore list in force, each by a fingerprint, and the counts the gate saw. `push` trusts
//! none of it as written: it refuses a verdict that lacks these, whose fingerprints differ
//! from the current config or from the kept report, whose `passed` contradicts its own
//! counts, or whose report no longer passes the gate when assessed again. The fingerprints
//! are FNV-1a hashes: change detectors for stale and edited files, not a cryptographic seal
//! (anyone who can write the files can write matching ones). A replayed verdict (`scan
//! --replay`) judged a recorded report, not the image: `push` refuses it unless allowed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::gate::{assess, Assessment, Counts, Gate};
use crate::domain::ignore::IgnoreList;
use crate::domain::report::Report;

/// Where scan writes its reports, SARIF and verdicts, relative to the workspace root.
pub const SCAN_DIR: &str = "target/xtask/scan";

/// The recorded trivy reports the repository ships for `scan --replay NAME`.
pub const REPLAY_DIR: &str = "xtask/replay";

/// The scan result `push` checks: recorded per service for one image id.
///
/// Every field has a default so that an incomplete file (hand-written, or from an older
/// xtask) reads, and [`check`] can say what it lacks instead of failing to parse.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Verdict {
    #[serde(default)]
    pub service: String,
    /// The reference trivy was asked to scan.
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub image_id: String,
    /// The platform of a multi-platform image this verdict is of (`trivy --platform`); none
    /// for a single-platform image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default)]
    pub passed: bool,
    /// What the gate counted.
    #[serde(default)]
    pub counts: Option<Counts>,
    /// Fingerprint of the `[scan]` gate settings in force ([`policy_fingerprint`]).
    #[serde(default)]
    pub policy: Option<String>,
    /// Fingerprint of the ignore list in force ([`ignore_fingerprint`]).
    #[serde(default)]
    pub ignores: Option<String>,
    /// Fingerprint of the report the verdict was made from, kept as `<service>.trivy.json`.
    #[serde(default)]
    pub report: Option<String>,
    /// Set when the verdict is a replay of a recorded report (`scan --replay`): where that
    /// report came from. Then no trivy ran and the image itself was not scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    #[serde(default)]
    pub scanned_at: String,
}

/// What a verdict is made of.
pub struct Scanned<'a> {
    pub service: &'a str,
    pub image: &'a str,
    pub image_id: &'a str,
    pub platform: Option<&'a str>,
    pub gate: &'a Gate,
    pub ignores: &'a IgnoreList,
    /// The report's text, exactly as kept.
    pub report: &'a str,
    pub assessment: &'a Assessment,
    pub replay: Option<&'a str>,
    /// RFC 3339.
    pub scanned_at: String,
}

impl Verdict {
    pub fn of(s: Scanned) -> Verdict {
        Verdict {
            service: s.service.to_owned(),
            image: s.image.to_owned(),
            image_id: s.image_id.to_owned(),
            platform: s.platform.map(str::to_owned),
            passed: s.assessment.passed,
            counts: Some(s.assessment.counts.clone()),
            policy: Some(policy_fingerprint(s.gate)),
            ignores: Some(ignore_fingerprint(s.ignores)),
            report: Some(fingerprint(s.report)),
            replay: s.replay.map(str::to_owned),
            scanned_at: s.scanned_at,
        }
    }
}

/// What names a verdict and its report: the service, and for one platform of a
/// multi-platform image also the platform (`api.linux-arm64`); a single-platform image's
/// files keep the service's name alone.
pub fn key(service: &str, platform: Option<&str>) -> String {
    match platform {
        Some(p) => format!("{service}.{}", p.replace('/', "-")),
        None => service.to_owned(),
    }
}

impl Verdict {
    /// The [`key`] of this verdict's files.
    pub fn key(&self) -> String {
        key(&self.service, self.platform.as_deref())
    }
}

/// The file that holds the verdict named `key` ([`key`]) under the workspace `root`.
pub fn path(root: &Path, key: &str) -> PathBuf {
    root.join(SCAN_DIR).join(format!("{key}.verdict.json"))
}

/// The report of `name`'s last scan (a service's is the one its verdict was made from).
pub fn report_path(root: &Path, name: &str) -> PathBuf {
    root.join(SCAN_DIR).join(format!("{name}.trivy.json"))
}

/// A stable 64-bit FNV-1a hash of `text`, as `fnv1a64:<16 hex digits>`: the same on every
/// machine and toolchain (std's `DefaultHasher` does not promise that). A change detector,
/// not a cryptographic hash.
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("fnv1a64:{hash:016x}")
}

/// The fingerprint of the gate settings (fail_on, ignore_unfixed, fail_on_secrets).
pub fn policy_fingerprint(gate: &Gate) -> String {
    fingerprint(&gate.canonical().to_string())
}

/// The fingerprint of the ignore list's entries.
pub fn ignore_fingerprint(ignores: &IgnoreList) -> String {
    fingerprint(&ignores.canonical().to_string())
}

/// What `push` holds a verdict against: the image it is about to push and the policy and
/// ignore list in force today.
pub struct Current<'a> {
    pub service: &'a str,
    pub image_id: &'a str,
    /// The platform of a multi-platform image whose verdict this is; none for one platform.
    pub platform: Option<&'a str>,
    pub gate: &'a Gate,
    pub ignores: &'a IgnoreList,
    pub today: Date,
    /// `push --allow-replayed-scan`: a replayed verdict may pass.
    pub allow_replay: bool,
}

/// Whether `verdict` lets the image be pushed, given the kept `report` text (`None` when
/// the file is missing). `Ok` carries a note to print when the verdict is an allowed
/// replay; `Err` says why not, ending with what to do.
pub fn check(
    verdict: &Verdict,
    now: &Current,
    report: Option<&str>,
) -> Result<Option<String>, String> {
    let service = now.service;
    let rescan = format!("run cargo xtask scan {service} again");
    let v = verdict;
    // Messages name the platform of a multi-platform image's verdict.
    let label = match now.platform {
        Some(p) => format!("`{service}` ({p})"),
        None => format!("`{service}`"),
    };
    let missing: Vec<&str> = [
        ("image_id", v.image_id.is_empty()),
        ("counts", v.counts.is_none()),
        ("policy", v.policy.is_none()),
        ("ignores", v.ignores.is_none()),
        ("report", v.report.is_none()),
    ]
    .into_iter()
    .filter_map(|(field, absent)| absent.then_some(field))
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the scan verdict of {label} lacks {} (it was written by hand or by an older \
             xtask, and is bound to no report, policy or ignore list): {rescan}",
            missing.join(", ")
        ));
    }
    let (Some(counts), Some(report_print)) = (&v.counts, &v.report) else {
        unreachable!("checked above")
    };
    if v.platform.as_deref() != now.platform {
        return Err(format!(
            "the scan verdict for {label} is of {} (the file was copied or edited): {rescan}",
            v.platform.as_deref().unwrap_or("a single-platform image")
        ));
    }
    if v.image_id != now.image_id {
        return Err(format!(
            "the last scan of {label} was of image {}, not the one built ({}): {rescan}",
            v.image_id, now.image_id
        ));
    }
    if let (Some(source), false) = (&v.replay, now.allow_replay) {
        return Err(format!(
            "the verdict of {label} is a replay of the recorded report {source}, not a \
             scan of image {}: scan it with trivy (cargo xtask scan {service}), or pass \
             --allow-replayed-scan to push on a replay",
            now.image_id
        ));
    }
    if v.policy.as_deref() != Some(&policy_fingerprint(now.gate)) {
        return Err(format!(
            "the [scan] policy (fail_on, ignore_unfixed, fail_on_secrets) is not the one \
             {label} was scanned under: {rescan}"
        ));
    }
    if v.ignores.as_deref() != Some(&ignore_fingerprint(now.ignores)) {
        return Err(format!(
            "the ignore list ({}) changed since {label} was scanned: {rescan}",
            now.ignores.path.display()
        ));
    }
    if !v.passed {
        return Err(format!(
            "the scan of {label} did not pass for image {}: fix the findings \
             (cargo xtask scan {service} lists them)",
            now.image_id
        ));
    }
    if now.gate.fails(counts) {
        return Err(format!(
            "the verdict of {label} says it passed, but its own counts fail the gate \
             (the file was edited): {rescan}"
        ));
    }
    let kept = format!("{SCAN_DIR}/{}.trivy.json", key(service, now.platform));
    let Some(text) = report else {
        return Err(format!(
            "the report {label}'s verdict was made from ({kept}) is missing: {rescan}"
        ));
    };
    if fingerprint(text) != *report_print {
        return Err(format!(
            "{kept} is not the report {label}'s verdict was made from (it was edited, or \
             another scan replaced it): {rescan}"
        ));
    }
    let parsed = Report::parse(text).map_err(|e| format!("{kept}: {e:#}: {rescan}"))?;
    if v.replay.is_none() {
        // trivy names one platform's image by that image's own id, not the index's.
        let id = now.platform.is_none().then_some(now.image_id);
        parsed
            .check_names(&v.image, id)
            .map_err(|e| format!("{kept}: {e:#}: {rescan}"))?;
    }
    let again = assess(&parsed, now.gate, now.ignores, now.today);
    if !again.passed {
        let ids: Vec<&str> = again.failing().map(|a| a.finding.id.as_str()).collect();
        return Err(format!(
            "the findings in {kept} fail the gate today ({}; an ignore entry has expired \
             since the scan): fix or accept them, then {rescan}",
            ids.join(", ")
        ));
    }
    if again.counts != *counts {
        return Err(format!(
            "the counts in the verdict of {label} are not what its report gives (the \
             verdict was edited, or an ignore entry expired since): {rescan}"
        ));
    }
    Ok(v.replay.as_ref().map(|source| {
        format!(
            "{label} is pushed on a replayed scan verdict (the recorded report {source}), \
             not on a scan of its image (--allow-replayed-scan)"
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::ScanConfig;
    use crate::domain::report::tests::fixtures;
    use crate::domain::report::Severity;
    use time::macros::date;

    const ID: &str = "sha256:a";
    const IMAGE: &str = "acme/api:sha-1234567";
    const TODAY: Date = date!(2026 - 06 - 15);

    fn gate() -> Gate {
        Gate::from_config(&ScanConfig::default())
    }

    fn ignores(yaml: &str) -> IgnoreList {
        IgnoreList::parse(yaml, Path::new(".trivyignore.yaml")).unwrap()
    }

    /// A fixture report as trivy writes it for a scan of [`IMAGE`] ([`ID`]).
    fn report_of(fixture: &str) -> String {
        let text = std::fs::read_to_string(fixtures().join(format!("{fixture}.json"))).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["ArtifactName"] = IMAGE.into();
        value["Metadata"]["ImageID"] = ID.into();
        serde_json::to_string_pretty(&value).unwrap()
    }

    /// What `scan` records for `report` under `gate` and `ignores`.
    fn scanned(report: &str, gate: &Gate, ignores: &IgnoreList) -> Verdict {
        let a = assess(&Report::parse(report).unwrap(), gate, ignores, TODAY);
        Verdict::of(Scanned {
            service: "api",
            image: IMAGE,
            image_id: ID,
            platform: None,
            gate,
            ignores,
            report,
            assessment: &a,
            replay: None,
            scanned_at: "2026-06-15T00:00:00Z".into(),
        })
    }

    fn now<'a>(gate: &'a Gate, ignores: &'a IgnoreList) -> Current<'a> {
        Current {
            service: "api",
            image_id: ID,
            platform: None,
            gate,
            ignores,
            today: TODAY,
            allow_replay: false,
        }
    }

    /// `check` of `verdict` against `report`, with the default gate and `ignores`: the
    /// refusal's text, or "ok".
    fn check_with(verdict: &Verdict, report: Option<&str>, ignores: &IgnoreList) -> String {
        match check(verdict, &now(&gate(), ignores), report) {
            Ok(None) => "ok".into(),
            Ok(Some(note)) => format!("ok, {note}"),
            Err(why) => why,
        }
    }

    fn refusal(verdict: &Verdict, report: Option<&str>, says: &str) {
        let why = check_with(verdict, report, &ignores(""));
        assert!(why.contains(says), "`{says}` expected: {why}");
        assert!(
            why.contains("cargo xtask scan api"),
            "says to scan again: {why}"
        );
    }

    #[test]
    fn a_verdict_made_from_its_report_passes() {
        let report = report_of("alpine-310");
        let v = scanned(&report, &gate(), &IgnoreList::default());
        assert!(v.passed);
        assert_eq!(v.counts.as_ref().unwrap().medium.fixed, 4);
        assert_eq!(check_with(&v, Some(&report), &IgnoreList::default()), "ok");
    }

    #[test]
    fn a_hand_written_verdict_is_refused_for_what_it_lacks() {
        let v: Verdict =
            serde_json::from_str(r#"{"image_id": "sha256:a", "passed": true}"#).unwrap();
        refusal(&v, None, "lacks counts, policy, ignores, report");
        let v: Verdict = serde_json::from_str("{}").unwrap();
        refusal(&v, None, "lacks image_id, counts");
        assert_eq!(
            path(Path::new("/repo"), "api"),
            Path::new("/repo/target/xtask/scan/api.verdict.json")
        );
    }

    #[test]
    fn a_flipped_verdict_is_refused_by_its_own_counts() {
        let report = report_of("debian-buster");
        let mut v = scanned(&report, &gate(), &IgnoreList::default());
        assert!(!v.passed);
        refusal(&v, Some(&report), "did not pass");
        v.passed = true;
        refusal(&v, Some(&report), "its own counts fail the gate");
        // Counts edited to match: the report, assessed again, still fails.
        v.counts = Some(Counts::default());
        refusal(&v, Some(&report), "fail the gate today (CVE-2019-18224");
    }

    #[test]
    fn a_verdict_of_another_image_is_refused() {
        let report = report_of("alpine-310");
        let mut v = scanned(&report, &gate(), &IgnoreList::default());
        v.image_id = "sha256:b".into();
        refusal(
            &v,
            Some(&report),
            "was of image sha256:b, not the one built (sha256:a)",
        );
    }

    #[test]
    fn a_changed_policy_is_refused() {
        let report = report_of("alpine-310");
        let v = scanned(&report, &gate(), &IgnoreList::default());
        let medium = Gate {
            fail_on: [Severity::Medium].into(),
            ..gate()
        };
        let why = check(&v, &now(&medium, &IgnoreList::default()), Some(&report)).unwrap_err();
        assert!(
            why.contains("[scan] policy") && why.contains("cargo xtask scan api again"),
            "{why}"
        );
    }

    #[test]
    fn an_ignore_entry_removed_after_the_scan_is_refused() {
        let report = report_of("debian-buster");
        let accepted = ignores("vulnerabilities:\n  - id: CVE-2019-18224\n    statement: s\n");
        let v = scanned(&report, &gate(), &accepted);
        assert!(v.passed);
        assert_eq!(check_with(&v, Some(&report), &accepted), "ok");
        refusal(
            &v,
            Some(&report),
            "the ignore list (.trivyignore.yaml) changed",
        );
    }

    #[test]
    fn an_ignore_entry_expired_since_the_scan_is_refused() {
        let report = report_of("debian-buster");
        let until = ignores(
            "vulnerabilities:\n  - id: CVE-2019-18224\n    statement: s\n    expired_at: 2026-06-16\n",
        );
        let g = gate();
        let v = scanned(&report, &g, &until);
        let later = Current {
            today: date!(2026 - 06 - 16),
            ..now(&g, &until)
        };
        let why = check(&v, &later, Some(&report)).unwrap_err();
        assert!(why.contains("fail the gate today (CVE-2019-18224"), "{why}");
    }

    #[test]
    fn a_missing_edited_or_foreign_report_is_refused() {
        let report = report_of("alpine-310");
        let v = scanned(&report, &gate(), &IgnoreList::default());
        refusal(&v, None, "is missing");
        let edited = report.replace("MEDIUM", "LOW");
        refusal(&v, Some(&edited), "is not the report");
        // A verdict made, with its fingerprint, from a report of another image.
        let other = report.replace(IMAGE, "acme/web:sha-1234567");
        let v = scanned(&other, &gate(), &IgnoreList::default());
        refusal(
            &v,
            Some(&other),
            "the report is of acme/web:sha-1234567 (sha256:a)",
        );
    }

    #[test]
    fn edited_counts_are_refused() {
        let report = report_of("alpine-310");
        let mut v = scanned(&report, &gate(), &IgnoreList::default());
        v.counts.as_mut().unwrap().medium.fixed = 0;
        refusal(&v, Some(&report), "are not what its report gives");
    }

    #[test]
    fn a_replayed_verdict_passes_only_when_allowed() {
        // A replay judges a recorded report of another image: its name is not checked.
        let recorded = std::fs::read_to_string(fixtures().join("distroless-base.json")).unwrap();
        let (g, none) = (gate(), IgnoreList::default());
        let a = assess(&Report::parse(&recorded).unwrap(), &g, &none, TODAY);
        let v = Verdict::of(Scanned {
            service: "api",
            image: IMAGE,
            image_id: ID,
            platform: None,
            gate: &g,
            ignores: &none,
            report: &recorded,
            assessment: &a,
            replay: Some("xtask/replay/distroless-base.json"),
            scanned_at: String::new(),
        });
        let why = check(&v, &now(&g, &none), Some(&recorded)).unwrap_err();
        assert!(
            why.contains("is a replay of the recorded report xtask/replay/distroless-base.json")
                && why.contains("--allow-replayed-scan"),
            "{why}"
        );
        let allowed = Current {
            allow_replay: true,
            ..now(&g, &none)
        };
        let note = check(&v, &allowed, Some(&recorded)).unwrap().unwrap();
        assert!(note.contains("replayed scan verdict"), "{note}");
        // Allowed, it is still held to its report and the gate.
        let edited = recorded.replace("MEDIUM", "CRITICAL");
        assert!(check(&v, &allowed, Some(&edited)).is_err());
    }

    #[test]
    fn fingerprints_are_stable_fnv1a() {
        // FNV-1a 64 test vectors.
        assert_eq!(fingerprint(""), "fnv1a64:cbf29ce484222325");
        assert_eq!(fingerprint("a"), "fnv1a64:af63dc4c8601ec8c");
        assert_eq!(fingerprint("foobar"), "fnv1a64:85944171f73967e8");
        assert_eq!(
            policy_fingerprint(&gate()),
            fingerprint(
                r#"{"fail_on":["HIGH","CRITICAL"],"fail_on_secrets":true,"ignore_unfixed":true}"#
            )
        );
    }

    /// A multi-platform image has a verdict per platform, named for it, checked as the
    /// verdict of that platform only.
    #[test]
    fn each_platform_has_its_own_verdict_and_file() {
        assert_eq!(key("api", None), "api");
        assert_eq!(key("api", Some("linux/arm64")), "api.linux-arm64");
        assert_eq!(
            path(Path::new("/r"), &key("api", Some("linux/arm/v7"))),
            Path::new("/r/target/xtask/scan/api.linux-arm-v7.verdict.json")
        );
        let report = report_of("alpine-310");
        let (g, none) = (gate(), IgnoreList::default());
        let mut v = scanned(&report, &g, &none);
        v.platform = Some("linux/arm64".into());
        assert_eq!(v.key(), "api.linux-arm64");
        let check = |v: &Verdict, platform: Option<&str>| {
            let now = Current {
                platform,
                ..now(&g, &none)
            };
            match check(v, &now, Some(&report)) {
                Ok(_) => "ok".to_owned(),
                Err(why) => why,
            }
        };
        expect_test::expect![[r#"
            ok
            the scan verdict for `api` (linux/amd64) is of linux/arm64 (the file was copied or edited): run cargo xtask scan api again
            the scan verdict for `api` is of linux/arm64 (the file was copied or edited): run cargo xtask scan api again"#]]
        .assert_eq(
            &[
                check(&v, Some("linux/arm64")),
                check(&v, Some("linux/amd64")),
                check(&v, None),
            ]
            .join("\n"),
        );
    }
}
