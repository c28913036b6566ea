//! Time zones from the system's tz database (`/usr/share/zoneinfo`, or `TZDIR`), read for
//! the zones the tag rules name so `domain/moment.rs` can compute with them as data.
//!
//! Names are looked up as moment-timezone looks them up: case does not matter
//! (`asia/tokyo` is `Asia/Tokyo`). A name that is not a zone of the database is bad input.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use anyhow::Result;

use crate::domain::env::Env;
use crate::domain::error::{EnvironmentError, UsageError};
use crate::domain::moment::TimeZones;

const DEFAULT_TZDIR: &str = "/usr/share/zoneinfo";

/// Reads each zone of `names` from the tz database.
pub fn load(env: &Env, names: &BTreeSet<String>) -> Result<TimeZones> {
    let mut zones = TimeZones::default();
    if names.is_empty() {
        return Ok(zones);
    }
    let dir = PathBuf::from(env.get("TZDIR").unwrap_or(DEFAULT_TZDIR));
    if !dir.is_dir() {
        return Err(EnvironmentError::new(format!(
            "the tag rules name the time zone{} {}, but there is no tz database at {}: \
             install it (apt-get install tzdata) or set TZDIR",
            if names.len() == 1 { "" } else { "s" },
            names.iter().cloned().collect::<Vec<_>>().join(", "),
            dir.display()
        )));
    }
    for name in names {
        let Some(path) = find(&dir, name) else {
            return Err(UsageError::new(format!(
                "tz='{name}' is not a time zone of the tz database at {}: use a name such as \
                 'Asia/Tokyo' or 'Europe/Paris'",
                dir.display()
            )));
        };
        let bytes = std::fs::read(&path).map_err(|e| {
            EnvironmentError::new(format!("reading time zone {}: {e}", path.display()))
        })?;
        let zone = tz::TimeZone::from_tz_data(&bytes).map_err(|e| {
            UsageError::new(format!(
                "tz='{name}': {} is not a time zone file ({e}): name a zone, not a folder",
                path.display()
            ))
        })?;
        zones.insert(name, zone);
    }
    Ok(zones)
}

/// The file of zone `name` under `dir`, matching each part of the name regardless of case;
/// `None` for names that would leave `dir` (`..`, `/etc/passwd`).
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    let relative = Path::new(name);
    if name.is_empty()
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let exact = dir.join(relative);
    if exact.is_file() {
        return Some(exact);
    }
    let mut path = dir.to_owned();
    for part in relative.components() {
        let part = part.as_os_str().to_str()?;
        let entry = std::fs::read_dir(&path)
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(part))
            })?;
        path = entry.path();
    }
    path.is_file().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::moment::tzif;

    fn tzdir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Asia")).unwrap();
        std::fs::write(dir.path().join("Asia/Tokyo"), tzif("JST-9")).unwrap();
        dir
    }

    fn check(dir: &Path, name: &str) -> Result<TimeZones> {
        let env: Env = [("TZDIR", dir.to_str().unwrap())].into_iter().collect();
        load(&env, &BTreeSet::from([name.to_owned()]))
    }

    #[test]
    fn zones_are_read_from_tzdir_whatever_the_case() {
        let dir = tzdir();
        let t = time::OffsetDateTime::UNIX_EPOCH;
        for name in ["Asia/Tokyo", "asia/TOKYO"] {
            let zones = check(dir.path(), name).unwrap();
            let (local, abbr) = zones.local(name, t).unwrap();
            assert_eq!((local.hour(), abbr.as_str()), (9, "JST"), "{name}");
        }
    }

    #[test]
    fn unknown_zones_and_escapes_are_bad_input() {
        let dir = tzdir();
        for name in ["Mars/Olympus", "../etc/passwd", "/etc/passwd", "Asia"] {
            let e = check(dir.path(), name).unwrap_err();
            assert_eq!(crate::domain::error::exit_code(&e), 2, "{name}: {e:#}");
        }
        let e = check(&dir.path().join("missing"), "Asia/Tokyo").unwrap_err();
        assert_eq!(crate::domain::error::exit_code(&e), 3, "{e:#}");
        assert!(e.to_string().contains("tzdata"), "{e}");
    }
}
