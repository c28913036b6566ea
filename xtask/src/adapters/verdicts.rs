//! Scan verdicts and the reports they were made from, on disk: `scan` records one of each per
//! service under `target/xtask/scan/`, and `push` reads them back before publishing.
//!
//! Every file here is written whole or not at all (a temporary file in the same directory,
//! renamed into place), so a reader never sees half a verdict and two scans at once leave
//! one complete file each, never a mix.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::adapters::scratch;
use crate::domain::verdict::{self, Verdict};

/// The recorded verdict of the last scan named `key` (a service, or a service's platform:
/// [`verdict::key`]): `None` when it was never scanned, an error when the file is there but
/// unreadable. `push` checks it with [`verdict::check`].
pub fn verdict_for(root: &Path, key: &str) -> Result<Option<Verdict>> {
    let service = key.split('.').next().unwrap_or(key);
    let path = verdict::path(root, key);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| {
                format!(
                    "{} is not a scan verdict: run cargo xtask scan {service} again",
                    path.display()
                )
            })
            .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The report the verdict named `key` was made from, if it is there.
pub fn kept_report(root: &Path, key: &str) -> Option<String> {
    fs::read_to_string(verdict::report_path(root, key)).ok()
}

/// Records `verdict` for its service (the scan directory must exist).
pub fn write(root: &Path, verdict: &Verdict) -> Result<()> {
    let text = serde_json::to_string_pretty(verdict).expect("plain data serializes") + "\n";
    write_atomically(&verdict::path(root, &verdict.key()), &text)
}

/// Writes `text` to `path` through a temporary file beside it, renamed into place.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = scratch::TempFile::new_in(dir, ".xtask-", "")
        .with_context(|| format!("writing {}", path.display()))?;
    file.file()
        .write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Moves this run's own report file `from` to where people (and `push`) look for it.
pub fn keep_report(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).with_context(|| format!("moving {} to {}", from.display(), to.display()))
}

/// Forgets the verdict named `key`, so a scan that fails leaves none behind.
pub fn remove(root: &Path, key: &str) {
    let _ = fs::remove_file(verdict::path(root, key));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gate::Counts;

    #[test]
    fn verdicts_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(verdict::SCAN_DIR)).unwrap();
        assert_eq!(verdict_for(dir.path(), "api").unwrap(), None);
        let mut counts = Counts::default();
        counts.medium.fixed = 4;
        let written = Verdict {
            service: "api".into(),
            image: "shipyard/api:sha-860c190".into(),
            image_id: "sha256:abc".into(),
            platform: None,
            passed: true,
            counts: Some(counts),
            policy: Some("fnv1a64:1".into()),
            ignores: Some("fnv1a64:2".into()),
            report: Some("fnv1a64:3".into()),
            replay: None,
            scanned_at: "2026-11-23T00:00:00Z".into(),
        };
        write(dir.path(), &written).unwrap();
        let v = verdict_for(dir.path(), "api").unwrap().unwrap();
        assert_eq!(v, written);
        let names: Vec<_> = fs::read_dir(dir.path().join(verdict::SCAN_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["api.verdict.json"], "no temporary file is left");
        fs::write(verdict::path(dir.path(), "api"), "not json").unwrap();
        let err = verdict_for(dir.path(), "api").unwrap_err().to_string();
        assert!(err.contains("run cargo xtask scan api again"), "{err}");
        remove(dir.path(), "api");
        assert_eq!(verdict_for(dir.path(), "api").unwrap(), None);
    }
}
