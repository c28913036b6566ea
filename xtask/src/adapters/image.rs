//! The image `build` produced: `build` writes each service's image id to
//! `target/xtask/build/<service>.iid`, and `scan` and `verify` work on exactly that image,
//! never on whatever a tag points at now. (`push` reads the build record instead,
//! adapters/records.rs, which also inspects the local image it names.)

use std::path::Path;

use crate::domain::identity;

/// The image id `build` last recorded for `service`, if it recorded one.
pub fn recorded_id(root: &Path, service: &str) -> Option<String> {
    let id = std::fs::read_to_string(root.join(identity::iid_file(service))).ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}
