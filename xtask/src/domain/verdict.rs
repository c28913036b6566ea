//! A scan verdict: what `scan` records per service for one image id and `push` checks
//! before it publishes that image.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::gate::{Assessment, Counts};

/// Where scan writes its reports, SARIF and verdicts, relative to the workspace root.
pub const SCAN_DIR: &str = "target/xtask/scan";

/// The scan result `push` checks: recorded per service for one image id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// What the gate needs: the scanned image and whether it passed. The rest describes the
    /// scan for people and may be missing from a hand-written file.
    pub image_id: String,
    pub passed: bool,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub counts: Counts,
    #[serde(default)]
    pub scanned_at: String,
}

impl Verdict {
    /// The verdict on `service`'s image `image` (id `image_id`) from the gate's assessment of
    /// its scan at `scanned_at` (RFC 3339).
    pub fn of(
        service: &str,
        image: &str,
        image_id: &str,
        assessment: &Assessment,
        scanned_at: String,
    ) -> Verdict {
        Verdict {
            service: service.to_owned(),
            image: image.to_owned(),
            image_id: image_id.to_owned(),
            passed: assessment.passed,
            counts: assessment.counts.clone(),
            scanned_at,
        }
    }
}

/// The file that holds `service`'s verdict under the workspace `root`.
pub fn path(root: &Path, service: &str) -> PathBuf {
    root.join(SCAN_DIR).join(format!("{service}.verdict.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_written_verdict_needs_only_the_image_and_the_result() {
        let v: Verdict =
            serde_json::from_str(r#"{"image_id": "sha256:a", "passed": true}"#).unwrap();
        assert_eq!((v.image_id.as_str(), v.passed), ("sha256:a", true));
        assert_eq!((v.service.as_str(), &v.counts), ("", &Counts::default()));
        assert_eq!(
            path(Path::new("/repo"), "api"),
            Path::new("/repo/target/xtask/scan/api.verdict.json")
        );
    }
}
