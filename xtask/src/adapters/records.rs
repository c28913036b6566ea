//! Build records on disk (`target/xtask/record/<service>.json`, domain/record.rs) and the
//! local image a record names, as the engine describes it.
//!
//! `build` writes a service's record whole (or removes it when the build failed), `scan` and
//! `verify` add their verdicts to a record of the image they judged (never to a record of
//! another image), `push` and `promote` the digest they published. Every write goes through
//! a temporary file renamed into place, so a reader never sees half a record.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::adapters::exec::{self, Command};
use crate::adapters::verdicts::write_atomically;
use crate::domain::git::GitContext;
use crate::domain::plan::BuildPlan;
use crate::domain::record::{self, Built, LocalImage, Record, RECORD_DIR};

/// `service`'s record: `None` when there is none; `Err` (saying why, ending with what to
/// do) when the file is there but is not a record this xtask reads.
pub fn read(root: &Path, service: &str) -> Result<Option<Record>> {
    let path = record::path(root, service);
    match std::fs::read_to_string(&path) {
        Ok(text) => record::parse(&text, service)
            .map(Some)
            .map_err(|why| anyhow::anyhow!("{}: {why}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `record` whole.
pub fn write(root: &Path, record: &Record) -> Result<()> {
    std::fs::create_dir_all(root.join(RECORD_DIR))
        .with_context(|| format!("creating {RECORD_DIR}"))?;
    let text = serde_json::to_string_pretty(record).expect("plain data serializes") + "\n";
    write_atomically(&record::path(root, &record.service), &text)
}

/// Forgets `service`'s record (its build failed: no image is recorded for it).
pub fn remove(root: &Path, service: &str) {
    let _ = std::fs::remove_file(record::path(root, service));
}

/// Applies `change` to `service`'s record when there is one of image `image_id`; a record
/// of another image (or none) is left as it is, and said so on stderr.
pub fn update(
    root: &Path,
    service: &str,
    image_id: &str,
    change: impl FnOnce(&mut Record),
) -> Result<()> {
    let Ok(Some(mut r)) = read(root, service) else {
        return Ok(());
    };
    if r.image_id != image_id {
        eprintln!(
            "note: the record of `{service}` is of image {}, not {image_id}: not added to it",
            r.image_id
        );
        return Ok(());
    }
    change(&mut r);
    write(root, &r)
}

/// Records what `build` produced: for each planned service the image buildx wrote
/// (`Some(id)`), or its record removed when the build failed (`None`), so no record outlives
/// the image it names. `outcomes` are the services' names, image ids, config digests and
/// sizes.
pub fn record_build<'a>(
    root: &Path,
    plan: &BuildPlan,
    ctx: &GitContext,
    outcomes: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a [String], Option<u64>)>,
) -> Result<()> {
    for (name, id, configs, size_bytes) in outcomes {
        let Some(service) = plan.services.iter().find(|s| s.name == name) else {
            continue; // skipped (`--affected`): its record stays as it is
        };
        let tags: Vec<_> = service.tags.iter().map(|t| t.tag.clone()).collect();
        // No platform asked for: the builder's own, the first its node lists.
        let platforms = match (&service.platforms[..], plan.capabilities.platforms.first()) {
            ([], Some(native)) => vec![native.clone()],
            (asked, _) => asked.to_vec(),
        };
        let built = id.and_then(|image_id| {
            Record::of(Built {
                service: name,
                repository: &service.image,
                image_id,
                platforms: &platforms,
                tags: &tags,
                labels: &service.labels,
                revision: &ctx.sha,
                dirty: ctx.dirty,
            })
        });
        let configs = configs.to_vec();
        match built.map(|r| Record {
            size_bytes,
            configs,
            ..r
        }) {
            Some(r) => write(root, &r)?,
            None => remove(root, name),
        }
    }
    Ok(())
}

/// The size `service`'s record holds for image `image_id`: `None` when there is no record,
/// or it is of another image or has no size.
pub fn recorded_size(root: &Path, service: &str, image_id: &str) -> Option<u64> {
    read(root, service).ok().flatten()?.size_of(image_id)
}

/// The command that asks the engine about `reference`: a read-only query.
pub fn inspect_command(reference: &str) -> Command {
    Command::new("docker")
        .args(["image", "inspect", reference])
        .timeout(Duration::from_secs(60))
}

/// The local image `reference` names (`None` when the engine has none).
pub fn local_image(reference: &str) -> Result<Option<LocalImage>> {
    let out = exec::output(&inspect_command(reference))?;
    if !out.success {
        if out.stderr.contains("No such image") || out.stderr.contains("No such object") {
            return Ok(None);
        }
        bail!(
            "`docker image inspect {reference}` failed: {}",
            out.stderr.trim()
        );
    }
    parse_inspect(&out.stdout).map(Some)
}

fn parse_inspect(json: &str) -> Result<LocalImage> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Inspected {
        id: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        #[serde(default)]
        config: Option<Config>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Config {
        #[serde(default)]
        labels: Option<BTreeMap<String, String>>,
    }
    let mut list: Vec<Inspected> =
        serde_json::from_str(json).context("unexpected `docker image inspect` output")?;
    if list.len() != 1 {
        bail!(
            "`docker image inspect` described {} images, expected 1",
            list.len()
        );
    }
    let i = list.remove(0);
    Ok(LocalImage {
        id: i.id,
        repo_tags: i.repo_tags.unwrap_or_default(),
        labels: i.config.and_then(|c| c.labels).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tag::Tag;

    #[test]
    fn records_round_trip_and_only_their_own_image_is_added_to() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), "api").unwrap(), None);
        let tags = [Tag::parse("sha-860c190").unwrap()];
        let r = Record::of(Built {
            service: "api",
            repository: "acme/api",
            image_id: "sha256:1",
            platforms: &[],
            tags: &tags,
            labels: &BTreeMap::new(),
            revision: "860c1904",
            dirty: false,
        })
        .unwrap();
        write(dir.path(), &r).unwrap();
        assert_eq!(read(dir.path(), "api").unwrap().as_ref(), Some(&r));
        assert_eq!(recorded_size(dir.path(), "api", "sha256:1"), None);
        write(
            dir.path(),
            &Record {
                size_bytes: Some(16_300_000),
                ..r.clone()
            },
        )
        .unwrap();
        assert_eq!(
            recorded_size(dir.path(), "api", "sha256:1"),
            Some(16_300_000)
        );
        assert_eq!(recorded_size(dir.path(), "api", "sha256:other"), None);
        assert_eq!(recorded_size(dir.path(), "web", "sha256:1"), None);
        write(dir.path(), &r).unwrap();
        update(dir.path(), "api", "sha256:other", |r| r.dirty = true).unwrap();
        assert!(!read(dir.path(), "api").unwrap().unwrap().dirty);
        update(dir.path(), "api", "sha256:1", |r| {
            r.note_pushed("sha256:d", &tags)
        })
        .unwrap();
        assert_eq!(
            read(dir.path(), "api").unwrap().unwrap().pushed_digest(),
            Ok("sha256:d")
        );
        std::fs::write(record::path(dir.path(), "api"), "{\"version\": 7}").unwrap();
        let e = read(dir.path(), "api").unwrap_err().to_string();
        assert!(
            e.contains("version 7") && e.contains("cargo xtask build api"),
            "{e}"
        );
        remove(dir.path(), "api");
        assert_eq!(read(dir.path(), "api").unwrap(), None);
    }

    #[test]
    fn inspect_gives_id_tags_and_labels() {
        let l = parse_inspect(
            r#"[{"Id": "sha256:1", "RepoTags": ["a/api:x"], "Config": {"Labels": {"k": "v"}}}]"#,
        )
        .unwrap();
        assert_eq!(l.id, "sha256:1");
        assert_eq!(l.repo_tags, ["a/api:x"]);
        assert_eq!(l.labels["k"], "v");
        let bare =
            parse_inspect(r#"[{"Id": "sha256:1", "RepoTags": null, "Config": {"Labels": null}}]"#)
                .unwrap();
        assert!(bare.repo_tags.is_empty() && bare.labels.is_empty());
    }
}
