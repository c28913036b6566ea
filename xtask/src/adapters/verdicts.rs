//! Scan verdicts on disk: `scan` records one per service under `target/xtask/scan/`, and
//! `push` reads it back before publishing.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::domain::verdict::{self, Verdict};

/// The recorded verdict of `service`'s last scan: `None` when it was never scanned, an
/// error when the file is there but unreadable. `push` compares its `image_id` with the
/// image it is about to push.
pub fn verdict_for(root: &Path, service: &str) -> Result<Option<Verdict>> {
    let path = verdict::path(root, service);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a scan verdict", path.display()))
            .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Records `verdict` for its service (the scan directory must exist).
pub fn write(root: &Path, verdict: &Verdict) -> Result<()> {
    let path = verdict::path(root, &verdict.service);
    let text = serde_json::to_string_pretty(verdict).expect("plain data serializes");
    fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Forgets `service`'s verdict, so a scan that fails leaves none behind.
pub fn remove(root: &Path, service: &str) {
    let _ = fs::remove_file(verdict::path(root, service));
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
            passed: true,
            counts,
            scanned_at: "2026-11-23T00:00:00Z".into(),
        };
        write(dir.path(), &written).unwrap();
        let v = verdict_for(dir.path(), "api").unwrap().unwrap();
        assert_eq!(v, written);
        fs::write(verdict::path(dir.path(), "api"), "not json").unwrap();
        assert!(verdict_for(dir.path(), "api").is_err());
        remove(dir.path(), "api");
        assert_eq!(verdict_for(dir.path(), "api").unwrap(), None);
    }
}
