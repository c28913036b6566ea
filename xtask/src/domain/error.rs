//! What an error means for the exit code.
//!
//! Exit codes: 0 success; 1 what the user asked for failed: a verdict (a scan gate, a check,
//! a test, a build; see domain/outcome.rs) or a step that could not be done (a registry
//! refusing a push, an image that was never built); 2 bad input (flags, config, unknown
//! service); 3 the environment is not ready (docker, buildx, trivy or the daemon missing);
//! 4 a tool broke (trivy or hadolint crashed, hung past its timeout or wrote no readable
//! report): nothing was judged. Errors carry their class as a marker in the `anyhow` chain,
//! so context can be added freely on the way up.

use std::fmt;

macro_rules! error_class {
    ($name:ident, $code:expr) => {
        #[derive(Debug)]
        pub struct $name(String);

        impl $name {
            pub const EXIT_CODE: u8 = $code;

            #[allow(clippy::new_ret_no_self)]
            pub fn new(message: impl Into<String>) -> anyhow::Error {
                anyhow::Error::new($name(message.into()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::error::Error for $name {}
    };
}

error_class!(UsageError, 2);
error_class!(EnvironmentError, 3);
error_class!(ToolError, 4);

/// The exit code an error should end the program with.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return UsageError::EXIT_CODE;
        }
        if cause.downcast_ref::<EnvironmentError>().is_some() {
            return EnvironmentError::EXIT_CODE;
        }
        if cause.downcast_ref::<ToolError>().is_some() {
            return ToolError::EXIT_CODE;
        }
    }
    1
}

/// Marks an error as bad input (exit 2), keeping its message and chain.
pub fn usage(error: anyhow::Error) -> anyhow::Error {
    let message = format!("{error:#}");
    UsageError::new(message)
}

/// Marks an error as a tool that broke (exit 4), keeping its message and chain.
pub fn tool(error: anyhow::Error) -> anyhow::Error {
    let message = format!("{error:#}");
    ToolError::new(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes_map_to_exit_codes() {
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
        assert_eq!(exit_code(&UsageError::new("bad flag")), 2);
        assert_eq!(
            exit_code(&EnvironmentError::new("no docker").context("building api")),
            3
        );
        assert_eq!(
            exit_code(&tool(anyhow::anyhow!("trivy crashed")).context("scan")),
            4
        );
    }
}
