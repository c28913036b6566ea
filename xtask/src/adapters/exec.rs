//! Running child processes, and what an error means for the exit code.
//!
//! Exit codes: 0 success, 1 something the user asked for failed (a build, a scan gate, a
//! check), 2 bad input (flags, config, unknown service), 3 the environment is not ready
//! (docker, buildx, trivy or the daemon missing). Errors carry their class as a marker in
//! the `anyhow` chain, so context can be added freely on the way up.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result};

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

/// The exit code an error should end the program with.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return UsageError::EXIT_CODE;
        }
        if cause.downcast_ref::<EnvironmentError>().is_some() {
            return EnvironmentError::EXIT_CODE;
        }
    }
    1
}

/// Marks an error as bad input (exit 2), keeping its message and chain.
pub fn usage(error: anyhow::Error) -> anyhow::Error {
    let message = format!("{error:#}");
    UsageError::new(message)
}

/// Runs `argv` in `dir`, handing every line of its combined stdout and stderr to `on_line`.
/// Returns whether it exited successfully; failing to start it at all is an error.
pub fn stream(argv: &[String], dir: &Path, on_line: impl FnMut(&str)) -> Result<bool> {
    let (program, args) = argv.split_first().context("empty command")?;
    stream_expression(
        duct::cmd(program, args).dir(dir).stdin_null(),
        program,
        on_line,
    )
}

/// Like [`stream`], for an expression the caller has set up (environment, stdin).
pub fn stream_expression(
    expr: duct::Expression,
    program: &str,
    mut on_line: impl FnMut(&str),
) -> Result<bool> {
    let reader = expr
        .stderr_to_stdout()
        .unchecked()
        .reader()
        .with_context(|| format!("cannot start `{program}`"))?;
    let mut lines = BufReader::new(&reader);
    let mut line = Vec::new();
    while lines.read_until(b'\n', &mut line)? > 0 {
        on_line(String::from_utf8_lossy(&line).trim_end());
        line.clear();
    }
    let output = reader
        .try_wait()?
        .context("child still running after its output closed")?;
    Ok(output.status.success())
}

/// Quotes an argv for display so that it can be pasted into a POSIX shell.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    }

    #[test]
    fn shell_words_quotes_only_what_needs_it() {
        let argv: Vec<String> = ["docker", "build", "--label", "a=b c", "it's"]
            .map(String::from)
            .into();
        assert_eq!(
            shell_words(&argv),
            r#"docker build --label 'a=b c' 'it'\''s'"#
        );
    }

    #[test]
    fn stream_reports_lines_and_status() {
        let mut seen = Vec::new();
        let ok = stream(
            &[
                "sh".into(),
                "-c".into(),
                "echo one; echo two >&2; exit 3".into(),
            ],
            Path::new("."),
            |l| seen.push(l.to_owned()),
        )
        .unwrap();
        assert!(!ok);
        assert_eq!(seen, ["one", "two"]);
    }
}
