//! Inspecting a local image, and the image `build` produced.
//!
//! The inspect's JSON becomes an [`ImageInfo`] (domain/image.rs). `build` writes each
//! service's image id to `target/xtask/build/<service>.iid`; `verify` and `push` work on
//! exactly that image, never on whatever a tag points at now.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::adapters::exec::{self, Command};
use crate::domain::config::Service;
use crate::domain::identity;
use crate::domain::image::ImageInfo;

/// Inspects a local image; `None` when the engine has no such image.
pub fn inspect(reference: &str) -> Result<Option<ImageInfo>> {
    let out = exec::output(&Command::new("docker").args(["image", "inspect", reference]))?;
    if !out.success {
        let stderr = out.stderr;
        if stderr.contains("No such image") || stderr.contains("No such object") {
            return Ok(None);
        }
        bail!(
            "`docker image inspect {reference}` failed: {}",
            stderr.trim()
        );
    }
    ImageInfo::parse(&out.stdout).map(Some)
}

/// The image id `build` last recorded for `service`, if it recorded one.
pub fn recorded_id(root: &Path, service: &str) -> Option<String> {
    let id = std::fs::read_to_string(root.join(identity::iid_file(service))).ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

/// The image `cargo xtask build` last produced for `service`.
pub fn built(root: &Path, service: &Service) -> Result<ImageInfo> {
    let name = &service.name;
    let Some(id) = recorded_id(root, name) else {
        let file = identity::iid_file(name);
        bail!("no image was built for `{name}` ({} is missing): build it first: cargo xtask build {name}", file.display());
    };
    inspect(&id)?.with_context(|| {
        format!("the image built for `{name}` ({id}) is gone from the engine: build it first: cargo xtask build {name}")
    })
}
