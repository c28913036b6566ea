//! A command as data: the program, its arguments, environment and stdin. The exec adapter
//! runs it; dry runs, JSON and test snapshots print it. Its `Display` quotes like a POSIX
//! shell and never shows a secret, so a printed command can be pasted and is safe to log.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};

/// A value that must not be shown: a registry password, a key's passphrase.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the exec adapter and the redactor only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// What the child reads on stdin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stdin {
    /// Nothing: the child sees end of file at once.
    #[default]
    Null,
    /// The terminal or whatever this process was given.
    Inherit,
    /// A secret written to the child's stdin and never shown.
    Secret(Secret),
}

/// One environment change for the child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    Plain(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, EnvValue)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    pub stdin: Stdin,
    /// How long the child may run before it is killed; `None` only for steps that are
    /// bounded by their own means (a build the user watches, a test suite with its own
    /// timeouts).
    #[serde(skip_serializing_if = "Option::is_none", with = "seconds")]
    pub timeout: Option<Duration>,
    /// Runs in its own process group, so a Ctrl-C at the terminal does not reach it: a step
    /// that creates something (a container, a network) completes, and the interrupt's
    /// cleanup, which waits for it, then finds and removes what it made.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shielded: bool,
}

impl Command {
    pub fn new(program: impl Into<String>) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            stdin: Stdin::Null,
            timeout: None,
            shielded: false,
        }
    }

    /// A command from a whole argv (program first). An empty argv is a bug in the caller.
    pub fn from_argv(argv: &[String]) -> Command {
        let (program, args) = argv.split_first().expect("an argv names a program");
        Command::new(program).args(args)
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Command {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Command {
        self.env.push((name.into(), EnvValue::Plain(value.into())));
        self
    }

    pub fn dir(mut self, dir: impl AsRef<Path>) -> Command {
        self.dir = Some(dir.as_ref().to_owned());
        self
    }

    pub fn stdin(mut self, stdin: Stdin) -> Command {
        self.stdin = stdin;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = Some(timeout);
        self
    }

    /// See [`Command::shielded`]; bounded by its timeout like any other command.
    pub fn shielded(mut self) -> Command {
        self.shielded = true;
        self
    }

    /// The command with `placeholder` replaced by `value` wherever an argument contains it:
    /// how a planned command that names something known only later (a container's id, the
    /// run's id) becomes the command that runs. An empty placeholder binds nothing.
    pub fn bind(&self, placeholder: &str, value: &str) -> Command {
        if placeholder.is_empty() {
            return self.clone();
        }
        Command {
            args: self
                .args
                .iter()
                .map(|a| a.replace(placeholder, value))
                .collect(),
            ..self.clone()
        }
    }

    /// Program and arguments, as `std::process` and the fake tools in the tests see them.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// Program and arguments quoted for a shell, without environment or stdin.
    pub fn shell(&self) -> String {
        shell_words(&self.argv())
    }
}

/// `NAME=value program args`, with secrets as `***` and a secret stdin as `<<< ***`.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.env {
            match value {
                EnvValue::Plain(v) => write!(f, "{}={} ", name, quote(v))?,
            }
        }
        f.write_str(&self.shell())?;
        if let Stdin::Secret(_) = self.stdin {
            f.write_str(" <<< ***")?;
        }
        Ok(())
    }
}

/// Quotes an argv for display so that it can be pasted into a POSIX shell.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

mod seconds {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn display_shows_environment_and_never_a_secret() {
        let cmd = Command::new("docker")
            .args(["login", "--password-stdin", "ghcr.io"])
            .env("DOCKER_CONFIG", "/tmp/a b")
            .stdin(Stdin::Secret(Secret::new("s3cret")));
        let shown = cmd.to_string();
        assert_eq!(
            shown,
            "DOCKER_CONFIG='/tmp/a b' docker login --password-stdin ghcr.io <<< ***"
        );
        let json = serde_json::to_string(&cmd).unwrap();
        let debug = format!("{cmd:?}");
        for text in [&shown, &json, &debug] {
            assert!(
                !text.contains("hunter2") && !text.contains("s3cret"),
                "{text}"
            );
        }
    }

    #[test]
    fn bind_fills_a_placeholder_in_every_argument() {
        let planned = Command::new("docker")
            .args(["rm", "--label", "run=<run>", "<run>", "<other>"])
            .timeout(Duration::from_secs(5));
        let bound = planned.bind("<run>", "42");
        assert_eq!(bound.shell(), "docker rm --label run=42 42 '<other>'");
        assert_eq!(bound.timeout, planned.timeout);
        assert_eq!(planned.bind("", "42"), planned);
    }

    #[test]
    fn argv_is_program_then_arguments() {
        let cmd = Command::from_argv(&["git".into(), "status".into()]).arg("--short");
        assert_eq!(cmd.argv(), ["git", "status", "--short"]);
        assert_eq!(cmd.shell(), "git status --short");
    }
}
