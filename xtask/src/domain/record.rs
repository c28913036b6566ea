//! The build record: what `build` produced for one service, kept as
//! `target/xtask/record/<service>.json` and read by `push`, `promote` and `sign`, so they
//! publish the image that was built and tested under the tags the build gave it, instead of
//! recomputing either.
//!
//! `build` writes it (image id, platforms, tags, labels, revision, dirty flag); `scan` and
//! `verify` add their verdict for the image id; `push` adds the digest the registry gave it.
//! The file lives in `target/`, which anyone can edit: it is an input to check, never a
//! trust anchor. [`Record::consistent`] holds it against itself, [`Record::matches_local`]
//! against the local image it names and [`Record::matches_verdict`] against the scan verdict;
//! the verdict itself is still checked against the image and its kept report
//! ([`crate::domain::verdict::check`]). Each check returns why it refuses, ending with what to
//! do; nothing here reads a file or starts a process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::identity;
use crate::domain::tag::Tag;
use crate::domain::verdict::Verdict;

/// Where the records are, relative to the workspace root: one file per service, like the
/// iid files and the verdicts, so that builds of different services never overwrite each
/// other's.
pub const RECORD_DIR: &str = "target/xtask/record";

/// The format's version; a record of another version is refused, never half-read.
pub const VERSION: u32 = 1;

/// The file that holds `service`'s record under the workspace `root`.
pub fn path(root: &Path, service: &str) -> PathBuf {
    root.join(RECORD_DIR).join(format!("{service}.json"))
}

/// One service's build, and what the later stages learnt about that image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub version: u32,
    pub service: String,
    /// `<namespace>/<image>`: where the image is tagged locally and published.
    pub repository: String,
    /// The image id buildx wrote (the config digest in Docker's classic store).
    pub image_id: String,
    /// The image's config digest per platform, as the build wrote them
    /// ([`identity::image_configs`]): what a cached rebuild of the same inputs keeps where
    /// the image id (an index with provenance) changes. Push and promote accept the
    /// registry's copy of the immutable tag as this image when its configs include all of
    /// them; never more than that, since the file can be edited. Empty in a record of an
    /// older build, which is then judged by its image id alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<String>,
    /// The platforms built, each with its manifest digest once a registry has it (a loaded
    /// single-platform build has none until it is pushed).
    #[serde(default)]
    pub platforms: BTreeMap<String, Option<String>>,
    /// Every tag the build gave the image, as the build computed them.
    pub tags: Vec<String>,
    /// The one of `tags` that names this build and never moves (`sha-<7>`).
    pub immutable: String,
    /// The OCI labels the build set (the image's config carries them).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The full commit id the image was built from.
    pub revision: String,
    /// Built from uncommitted changes on top of `revision`.
    pub dirty: bool,
    /// The image's size in the local store, as `build` measured it. An image id names one
    /// image, so a rebuild that gives the same id reads its size here instead of asking the
    /// engine again (a warm no-change build asked once per service). An edited size fools only
    /// the checkout it was edited in: CI builds from a clean one and measures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Added by `scan`: its verdict, for this image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanEntry>,
    /// Added by `verify`: its verdict, for this image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyEntry>,
    /// Added by `push` (and `promote --from-record`): the digest every published tag names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Pushed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanEntry {
    pub image_id: String,
    pub passed: bool,
    /// The fingerprint of the kept report the verdict was made from.
    pub report: Option<String>,
    /// Set when the verdict was a replay of a recorded report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// A multi-platform image is scanned once per platform: which were scanned, each
    /// with its verdict. `passed` is then whether every platform built passed, and `report`
    /// is none (each platform has its own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platforms: BTreeMap<String, PlatformScan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformScan {
    pub passed: bool,
    /// The fingerprint of the kept report of this platform's scan.
    pub report: Option<String>,
}

impl ScanEntry {
    pub fn of(v: &Verdict) -> ScanEntry {
        ScanEntry {
            image_id: v.image_id.clone(),
            passed: v.passed,
            report: v.report.clone(),
            replay: v.replay.clone(),
            platforms: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEntry {
    pub image_id: String,
    pub passed: bool,
    /// The checks that failed, by name (and platform, for a multi-platform image).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// The platforms verified, each on its own, when the image has several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pushed {
    pub repository: String,
    /// The digest every tag below names (an index wrapping the image's manifest).
    pub digest: String,
    pub tags: Vec<String>,
}

/// What `build` knew when the image came out.
pub struct Built<'a> {
    pub service: &'a str,
    pub repository: &'a str,
    pub image_id: &'a str,
    pub platforms: &'a [String],
    pub tags: &'a [Tag],
    pub labels: &'a BTreeMap<String, String>,
    pub revision: &'a str,
    pub dirty: bool,
}

/// The local image a record names, as the engine describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalImage {
    pub id: String,
    /// `repository:tag` for every tag it carries.
    pub repo_tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

impl Record {
    /// The record of a build; `None` when the tags give no immutable tag.
    pub fn of(b: Built) -> Option<Record> {
        let immutable = identity::immutable(b.tags, identity::short_sha(b.revision))?;
        Some(Record {
            version: VERSION,
            service: b.service.to_owned(),
            repository: b.repository.to_owned(),
            image_id: b.image_id.to_owned(),
            configs: Vec::new(),
            platforms: b.platforms.iter().map(|p| (p.clone(), None)).collect(),
            tags: b.tags.iter().map(|t| t.to_string()).collect(),
            immutable: immutable.to_string(),
            labels: b.labels.clone(),
            revision: b.revision.to_owned(),
            dirty: b.dirty,
            size_bytes: None,
            scan: None,
            verify: None,
            pushed: None,
        })
    }

    /// The platforms scan and push take one verdict each for: every platform of a
    /// multi-platform image, or `[None]`: the single-platform image's one verdict.
    pub fn verdict_platforms(&self) -> Vec<Option<&str>> {
        if self.platforms.len() > 1 {
            self.platforms.keys().map(|p| Some(p.as_str())).collect()
        } else {
            vec![None]
        }
    }

    /// Adds a scan verdict of this record's image: the image's, or one platform's (kept
    /// beside the other platforms' verdicts of the same image).
    pub fn note_scan(&mut self, v: &Verdict) {
        let Some(platform) = &v.platform else {
            self.scan = Some(ScanEntry::of(v));
            return;
        };
        let mut entry = match self.scan.take() {
            Some(e) if e.image_id == v.image_id && e.report.is_none() => e,
            _ => ScanEntry {
                image_id: v.image_id.clone(),
                passed: false,
                report: None,
                replay: None,
                platforms: BTreeMap::new(),
            },
        };
        entry.platforms.insert(
            platform.clone(),
            PlatformScan {
                passed: v.passed,
                report: v.report.clone(),
            },
        );
        entry.replay = entry.replay.or_else(|| v.replay.clone());
        entry.passed = self
            .platforms
            .keys()
            .all(|p| entry.platforms.get(p).is_some_and(|s| s.passed));
        self.scan = Some(entry);
    }

    /// The size recorded for image `image_id`, if this is a record of that image.
    pub fn size_of(&self, image_id: &str) -> Option<u64> {
        self.size_bytes.filter(|_| self.image_id == image_id)
    }

    fn rebuild(&self) -> String {
        format!("build it again: cargo xtask build {}", self.service)
    }

    /// The recorded tags, parsed.
    pub fn parsed_tags(&self) -> Result<Vec<Tag>, String> {
        self.tags
            .iter()
            .map(|t| Tag::parse(t).map_err(|e| format!("{e:#}")))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                format!(
                    "the record of `{}` holds an invalid tag ({e}): {}",
                    self.service,
                    self.rebuild()
                )
            })
    }

    /// The immutable tag, parsed.
    pub fn immutable_tag(&self) -> Result<Tag, String> {
        Tag::parse(&self.immutable).map_err(|e| {
            format!(
                "the record of `{}` holds an invalid tag ({e:#}): {}",
                self.service,
                self.rebuild()
            )
        })
    }

    /// The record agrees with itself and with the file it was read from: the right
    /// version and service, an image id, an immutable tag among the tags, tags that say
    /// "dirty" exactly when the build was, and the verdicts it carries are of its image.
    pub fn consistent(&self, service: &str) -> Result<(), String> {
        let again = self.rebuild();
        if self.version != VERSION {
            return Err(format!(
                "the record of `{service}` is version {}, this xtask reads version {VERSION}: {again}",
                self.version
            ));
        }
        if self.service != service {
            return Err(format!(
                "the record of `{service}` is of service `{}`: {again}",
                self.service
            ));
        }
        if !self.image_id.starts_with("sha256:") {
            return Err(format!(
                "the record of `{service}` names no image id (`{}`): {again}",
                self.image_id
            ));
        }
        let tags = self.parsed_tags()?;
        let immutable = self.immutable_tag()?;
        let short = identity::short_sha(&self.revision);
        if identity::immutable(&tags, short) != Some(&immutable) {
            return Err(format!(
                "the record of `{service}` says its immutable tag is {immutable}, but its tags \
                 ({}) give another: {again}",
                self.tags.join(", ")
            ));
        }
        let marked = identity::revision(short, true);
        let says_dirty = tags.iter().any(|t| t.as_str().contains(&marked));
        if says_dirty != self.dirty {
            return Err(format!(
                "the record of `{service}` says dirty = {}, but its tags {} {marked}: {again}",
                self.dirty,
                if says_dirty { "name" } else { "do not name" }
            ));
        }
        if let Some(scan) = &self.scan {
            if scan.image_id != self.image_id {
                return Err(format!(
                    "the record of `{service}` is of image {}, but its scan verdict is of image \
                     {}: run cargo xtask scan {service} again",
                    self.image_id, scan.image_id
                ));
            }
        }
        if let Some(verify) = &self.verify {
            if verify.image_id != self.image_id {
                return Err(format!(
                    "the record of `{service}` is of image {}, but its verify verdict is of \
                     image {}: run cargo xtask verify {service} again",
                    self.image_id, verify.image_id
                ));
            }
            if !verify.passed {
                return Err(format!(
                    "`cargo xtask verify {service}` failed for image {} ({}): fix it and build again",
                    self.image_id,
                    verify.failed.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The record names the repository push is about to publish to.
    pub fn names_repository(&self, repository: &str) -> Result<(), String> {
        if self.repository == repository {
            return Ok(());
        }
        Err(format!(
            "the record of `{}` was built as {}, not {repository}: build it for that registry \
             (cargo xtask build --registry ...), or push with the registry it was built for",
            self.service, self.repository
        ))
    }

    /// `repository:immutable`, the local reference the record is checked against.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.immutable)
    }

    /// The local image under the recorded immutable tag is the recorded image, carries every
    /// recorded tag and the recorded labels (the revision label among them: the commit).
    /// `local` is `None` when the engine has no image under that tag.
    pub fn matches_local(&self, local: Option<&LocalImage>) -> Result<(), String> {
        let reference = self.reference();
        let again = self.rebuild();
        let Some(local) = local else {
            return Err(format!(
                "no local image is tagged {reference}, which the record of `{}` names: {again}",
                self.service
            ));
        };
        if local.id != self.image_id {
            return Err(format!(
                "{reference} is image {}, not the recorded {} (rebuilt or retagged since, or \
                 the record was edited): {again}",
                local.id, self.image_id
            ));
        }
        let untagged: Vec<&str> = self
            .tags
            .iter()
            .filter(|t| {
                !local
                    .repo_tags
                    .contains(&format!("{}:{t}", self.repository))
            })
            .map(String::as_str)
            .collect();
        if !untagged.is_empty() {
            return Err(format!(
                "image {} does not carry the recorded tag(s) {} locally (moved to another build, \
                 or the record was edited): {again}",
                self.image_id,
                untagged.join(", ")
            ));
        }
        let differing: Vec<&str> = self
            .labels
            .iter()
            .filter(|(k, v)| local.labels.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .collect();
        if !differing.is_empty() {
            return Err(format!(
                "image {} has other labels than the record of `{}` says ({}): {again}",
                self.image_id,
                self.service,
                differing.join(", ")
            ));
        }
        Ok(())
    }

    /// The scan verdict is of the recorded image (and, when the record carries the scan's
    /// summary, the same verdict).
    pub fn matches_verdict(&self, verdict: &Verdict) -> Result<(), String> {
        let service = &self.service;
        if verdict.image_id != self.image_id {
            return Err(format!(
                "the record of `{service}` is of image {}, but its scan verdict is of image {}: \
                 run cargo xtask scan {service} again",
                self.image_id, verdict.image_id
            ));
        }
        if let (Some(scan), Some(platform)) = (&self.scan, &verdict.platform) {
            let same = scan
                .platforms
                .get(platform)
                .is_some_and(|s| s.report == verdict.report && s.passed == verdict.passed);
            if !same {
                return Err(format!(
                    "the scan verdict of `{service}` ({platform}) is not the one its record \
                     names (another scan replaced it, or a file was edited): run cargo xtask \
                     scan {service} again"
                ));
            }
        } else if let Some(scan) = &self.scan {
            if scan.report != verdict.report || scan.passed != verdict.passed {
                return Err(format!(
                    "the scan verdict of `{service}` is not the one its record names (another \
                     scan replaced it, or a file was edited): run cargo xtask scan {service} again"
                ));
            }
        }
        Ok(())
    }

    /// The tags a publish of this record may move: all of them from a clean build, only the
    /// dirty ones with `allow_dirty` (identity's rule), or a usage error.
    pub fn publishable(&self, allow_dirty: bool) -> anyhow::Result<Vec<Tag>> {
        let tags = self.parsed_tags().map_err(anyhow::Error::msg)?;
        identity::publishable_revision(&tags, &self.revision, self.dirty, allow_dirty)
    }

    /// The digest the registry gave it, to promote or sign.
    pub fn pushed_digest(&self) -> Result<&str, String> {
        match &self.pushed {
            Some(p) if p.repository == self.repository && p.digest.starts_with("sha256:") => {
                Ok(&p.digest)
            }
            _ => Err(format!(
                "the record of `{}` names no digest in {}: push it first (cargo xtask push {0} \
                 --staging TAG)",
                self.service, self.repository
            )),
        }
    }

    /// Notes what a push gave: the digest and its tags (added to those already there when the
    /// digest is the same).
    pub fn note_pushed(&mut self, digest: &str, tags: &[Tag]) {
        let mut all = match &self.pushed {
            Some(p) if p.digest == digest && p.repository == self.repository => p.tags.clone(),
            _ => Vec::new(),
        };
        for t in tags {
            if !all.iter().any(|a| a == t.as_str()) {
                all.push(t.to_string());
            }
        }
        self.pushed = Some(Pushed {
            repository: self.repository.clone(),
            digest: digest.to_owned(),
            tags: all,
        });
    }
}

/// Reads a record's text: `Err` says why it is not one.
pub fn parse(text: &str, service: &str) -> Result<Record, String> {
    #[derive(Deserialize)]
    struct Versioned {
        version: Option<u32>,
    }
    let rebuild = format!("build it again: cargo xtask build {service}");
    let versioned: Versioned = serde_json::from_str(text)
        .map_err(|e| format!("the record of `{service}` is not JSON ({e}): {rebuild}"))?;
    match versioned.version {
        Some(VERSION) => {}
        Some(v) => {
            return Err(format!(
                "the record of `{service}` is version {v}, this xtask reads version {VERSION}: \
                 {rebuild}"
            ))
        }
        None => {
            return Err(format!(
                "the record of `{service}` has no version: {rebuild}"
            ))
        }
    }
    serde_json::from_str(text)
        .map_err(|e| format!("the record of `{service}` is not a build record ({e}): {rebuild}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";

    fn record(tags: &[&str], dirty: bool) -> Record {
        let tags: Vec<Tag> = tags.iter().map(|t| Tag::parse(t).unwrap()).collect();
        let labels: BTreeMap<String, String> = [(
            "org.opencontainers.image.revision".to_owned(),
            SHA.to_owned(),
        )]
        .into();
        Record::of(Built {
            service: "api",
            repository: "127.0.0.1:5000/acme/api",
            image_id: ID,
            platforms: &["linux/amd64".to_owned()],
            tags: &tags,
            labels: &labels,
            revision: SHA,
            dirty,
        })
        .unwrap()
    }

    fn clean() -> Record {
        record(&["main", "latest", "sha-860c190"], false)
    }

    fn local(r: &Record) -> LocalImage {
        LocalImage {
            id: r.image_id.clone(),
            repo_tags: r
                .tags
                .iter()
                .map(|t| format!("{}:{t}", r.repository))
                .collect(),
            labels: r.labels.clone(),
        }
    }

    /// The first words of why `check` refuses `edit` of a clean record, or "ok".
    fn check(
        edit: impl FnOnce(&mut Record),
        check: impl Fn(&Record) -> Result<(), String>,
    ) -> String {
        let mut r = clean();
        edit(&mut r);
        match check(&r) {
            Ok(()) => "ok".into(),
            Err(why) => why,
        }
    }

    fn consistent(edit: impl FnOnce(&mut Record)) -> String {
        check(edit, |r| r.consistent("api"))
    }

    #[test]
    fn a_build_is_recorded_with_its_immutable_tag_and_round_trips() {
        let r = clean();
        assert_eq!(r.immutable, "sha-860c190");
        assert_eq!(r.platforms, [("linux/amd64".to_owned(), None)].into());
        let text = serde_json::to_string_pretty(&r).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        assert_eq!(parse(&text, "api").unwrap(), r);
        assert_eq!(consistent(|_| {}), "ok");
        // The config digests round-trip, and a record written before them still loads.
        assert!(!text.contains("configs"), "{text}");
        let with = Record {
            configs: vec!["sha256:c".into()],
            ..r.clone()
        };
        let text = serde_json::to_string(&with).unwrap();
        assert_eq!(parse(&text, "api").unwrap(), with);
    }

    #[test]
    fn other_versions_and_other_files_are_refused_not_half_read() {
        assert!(parse("{\"version\": 2}", "api")
            .unwrap_err()
            .contains("version 2"));
        assert!(parse("{}", "api").unwrap_err().contains("has no version"));
        assert!(parse("not json", "api").unwrap_err().contains("not JSON"));
        let extra =
            serde_json::to_string(&clean())
                .unwrap()
                .replacen('{', "{\"trusted\": true,", 1);
        assert!(parse(&extra, "api")
            .unwrap_err()
            .contains("not a build record"));
    }

    #[test]
    fn a_record_must_agree_with_itself() {
        assert!(consistent(|r| r.service = "web".into()).contains("is of service `web`"));
        assert!(consistent(|r| r.image_id = String::new()).contains("names no image id"));
        assert!(consistent(|r| r.immutable = "main".into()).contains("give another"));
        assert!(consistent(|r| r.tags.push("-bad".into())).contains("invalid tag"));
        // The dirty flag and the tags tell the same story.
        assert!(consistent(|r| r.dirty = true).contains("says dirty = true"));
        let dirty = record(&["main", "sha-860c190-dirty"], true);
        assert_eq!(dirty.consistent("api"), Ok(()));
        let mut lying = dirty.clone();
        lying.dirty = false;
        assert!(lying
            .consistent("api")
            .unwrap_err()
            .contains("says dirty = false"));
    }

    #[test]
    fn the_verdicts_in_a_record_are_of_its_image() {
        let scan = |id: &str| ScanEntry {
            image_id: id.into(),
            passed: true,
            report: None,
            replay: None,
            platforms: BTreeMap::new(),
        };
        assert_eq!(consistent(|r| r.scan = Some(scan(ID))), "ok");
        let why = consistent(|r| r.scan = Some(scan("sha256:2")));
        assert!(
            why.contains("but its scan verdict is of image sha256:2"),
            "{why}"
        );
        let verify = |id: &str, passed| VerifyEntry {
            image_id: id.into(),
            passed,
            failed: if passed { vec![] } else { vec!["user".into()] },
            platforms: vec![],
        };
        assert_eq!(consistent(|r| r.verify = Some(verify(ID, true))), "ok");
        assert!(consistent(|r| r.verify = Some(verify("sha256:2", true)))
            .contains("verify verdict is of image sha256:2"));
        assert!(consistent(|r| r.verify = Some(verify(ID, false))).contains("failed"));
    }

    #[test]
    fn the_record_must_name_the_local_image_under_its_tags() {
        let with = |edit: fn(&mut LocalImage)| {
            check(
                |_| {},
                |r| {
                    let mut l = local(r);
                    edit(&mut l);
                    r.matches_local(Some(&l))
                },
            )
        };
        assert_eq!(with(|_| {}), "ok");
        let why = with(|l| l.id = "sha256:other".into());
        assert!(
            why.starts_with(
                "127.0.0.1:5000/acme/api:sha-860c190 is image sha256:other, not the recorded"
            ),
            "{why}"
        );
        assert!(with(|l| {
            l.repo_tags.pop();
        })
        .contains("recorded tag(s) sha-860c190"));
        assert!(with(|l| l.labels.clear()).contains("other labels"));
        assert!(check(|_| {}, |r| r.matches_local(None)).starts_with("no local image is tagged"));
        // Labels the base image set are the image's business; the recorded ones must match.
        let why = check(
            |_| {},
            |r| {
                let mut l = local(r);
                l.labels
                    .insert("org.opencontainers.image.revision".into(), "abc".into());
                l.labels.insert("from.the.base".into(), "x".into());
                r.matches_local(Some(&l))
            },
        );
        assert!(
            why.contains(
                "other labels than the record of `api` says (org.opencontainers.image.revision)"
            ),
            "{why}"
        );
    }

    #[test]
    fn the_scan_verdict_must_be_of_the_recorded_image() {
        let verdict = |id: &str| Verdict {
            image_id: id.into(),
            passed: true,
            report: Some("fnv1a64:1".into()),
            ..Verdict::default()
        };
        assert_eq!(clean().matches_verdict(&verdict(ID)), Ok(()));
        let why = clean().matches_verdict(&verdict("sha256:2")).unwrap_err();
        assert!(
            why.contains("its scan verdict is of image sha256:2"),
            "{why}"
        );
        let mut r = clean();
        r.scan = Some(ScanEntry {
            image_id: ID.into(),
            passed: true,
            report: Some("fnv1a64:0".into()),
            replay: None,
            platforms: BTreeMap::new(),
        });
        assert!(r
            .matches_verdict(&verdict(ID))
            .unwrap_err()
            .contains("not the one its record names"));
    }

    #[test]
    fn a_dirty_record_publishes_only_its_dirty_tags_and_only_when_allowed() {
        let tags = |r: &Record, allow| {
            r.publishable(allow)
                .map(|t| t.iter().map(Tag::to_string).collect::<Vec<_>>())
                .map_err(|e| crate::domain::error::exit_code(&e))
        };
        assert_eq!(
            tags(&clean(), false).unwrap(),
            ["main", "latest", "sha-860c190"]
        );
        let dirty = record(&["main", "latest", "sha-860c190-dirty"], true);
        assert_eq!(tags(&dirty, false), Err(2));
        assert_eq!(tags(&dirty, true).unwrap(), ["sha-860c190-dirty"]);
    }

    #[test]
    fn pushes_accumulate_tags_on_one_digest() {
        let mut r = clean();
        assert!(r.pushed_digest().unwrap_err().contains("push it first"));
        let t = |s: &str| Tag::parse(s).unwrap();
        r.note_pushed("sha256:d1", &[t("staging-1")]);
        r.note_pushed("sha256:d1", &[t("sha-860c190"), t("staging-1")]);
        assert_eq!(r.pushed_digest(), Ok("sha256:d1"));
        assert_eq!(
            r.pushed.as_ref().unwrap().tags,
            ["staging-1", "sha-860c190"]
        );
        r.note_pushed("sha256:d2", &[t("main")]);
        assert_eq!(r.pushed.as_ref().unwrap().tags, ["main"]);
    }

    /// A multi-platform record passes its scan only once every platform built has passed;
    /// a verdict is held against its own platform's entry.
    #[test]
    fn a_multi_platform_scan_passes_when_every_platform_has() {
        let verdict = |id: &str| Verdict {
            service: "api".into(),
            image_id: id.into(),
            ..Verdict::default()
        };
        let mut r = clean();
        r.platforms = [("linux/amd64".into(), None), ("linux/arm64".into(), None)].into();
        assert_eq!(
            r.verdict_platforms(),
            [Some("linux/amd64"), Some("linux/arm64")]
        );
        let of = |platform: &str, passed: bool, report: &str| Verdict {
            platform: Some(platform.into()),
            passed,
            report: Some(report.into()),
            ..verdict(ID)
        };
        let amd = of("linux/amd64", true, "fnv1a64:1");
        r.note_scan(&amd);
        assert!(!r.scan.as_ref().unwrap().passed, "arm64 is not scanned yet");
        r.note_scan(&of("linux/arm64", false, "fnv1a64:2"));
        assert!(!r.scan.as_ref().unwrap().passed);
        let arm = of("linux/arm64", true, "fnv1a64:3");
        r.note_scan(&arm);
        let scan = r.scan.clone().unwrap();
        assert!(scan.passed && scan.report.is_none());
        assert_eq!(
            scan.platforms.keys().collect::<Vec<_>>(),
            ["linux/amd64", "linux/arm64"]
        );
        assert_eq!(r.matches_verdict(&amd), Ok(()));
        assert_eq!(r.matches_verdict(&arm), Ok(()));
        let stale = r.matches_verdict(&of("linux/arm64", false, "fnv1a64:2"));
        assert!(stale
            .unwrap_err()
            .contains("(linux/arm64) is not the one its record names"));
        // One platform's verdict never stands for the image's.
        let mut single = clean();
        single.note_scan(&verdict(ID));
        assert!(single.scan.unwrap().platforms.is_empty());
        assert_eq!(clean().verdict_platforms(), [None]);
    }
}
