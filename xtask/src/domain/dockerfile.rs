//! Dockerfile problems: hadolint's, read from its JSON, and the toolkit's own checks.
//!
//! hadolint catches `:latest` bases (DL3007), shell-form CMD (DL3025) and a final `USER root`
//! (DL3002). It cannot know which services must be health-checked, and it says nothing when
//! no USER is set at all, so checks of our own cover those: XT001 (a service with
//! `healthcheck = true` has no HEALTHCHECK), XT002 (the final stage runs as root) and XT003
//! (the final USER is a name, not a number: a runtime such as Kubernetes' `runAsNonRoot`
//! can only prove a numeric user is not root without reading the image's /etc/passwd). Pure:
//! this module reads text; `lint_dockerfiles` runs hadolint.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Info,
    Style,
}

impl Level {
    /// Errors and warnings fail the check; info and style are shown.
    pub fn fails(self) -> bool {
        matches!(self, Level::Error | Level::Warning)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: String,
    pub level: Level,
    pub line: u32,
    pub message: String,
}

/// Parses `hadolint --format json` output.
pub fn parse_hadolint(json: &str) -> Result<Vec<Problem>> {
    serde_json::from_str(json).context("hadolint's output is not its JSON format")
}

/// One instruction, continuation lines joined; `line` is where it starts (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Instruction {
    line: u32,
    keyword: String,
    args: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current: Option<Instruction> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        // Comments and blank lines are dropped, even inside a continued instruction.
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (body, continues) = match line.strip_suffix('\\') {
            Some(body) => (body.trim_end(), true),
            None => (line, false),
        };
        match &mut current {
            Some(inst) => {
                inst.args.push(' ');
                inst.args.push_str(body);
            }
            None => {
                let (keyword, args) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
                current = Some(Instruction {
                    line: i as u32 + 1,
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                });
            }
        }
        if !continues {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// The toolkit's own checks on the final stage (the image that ships).
pub fn own_checks(text: &str, healthcheck_required: bool) -> Vec<Problem> {
    let all = instructions(text);
    let last_from = all.iter().rposition(|i| i.keyword == "FROM");
    let Some(start) = last_from else {
        return vec![Problem {
            code: "XT000".into(),
            level: Level::Error,
            line: 1,
            message: "no FROM instruction".into(),
        }];
    };
    let stage = &all[start..];
    let mut problems = Vec::new();
    let healthcheck = stage.iter().rfind(|i| i.keyword == "HEALTHCHECK");
    let disabled = healthcheck.is_some_and(|h| h.args.eq_ignore_ascii_case("none"));
    if healthcheck_required && (healthcheck.is_none() || disabled) {
        problems.push(Problem {
            code: "XT001".into(),
            level: Level::Error,
            line: healthcheck.map_or(stage[0].line, |h| h.line),
            message:
                "the service has `healthcheck = true` in xtask/images.toml but its final stage \
                      has no HEALTHCHECK; add e.g. `HEALTHCHECK CMD [\"/app/healthcheck\"]`"
                    .into(),
        });
    }
    match stage.iter().rfind(|i| i.keyword == "USER") {
        None => problems.push(Problem {
            code: "XT002".into(),
            level: Level::Error,
            line: stage[0].line,
            message: "the final stage sets no USER, so the image may run as root; add e.g. \
                      `USER 65534` before CMD"
                .into(),
        }),
        Some(user) if is_root(&user.args) => problems.push(Problem {
            code: "XT002".into(),
            level: Level::Error,
            line: user.line,
            message: format!(
                "the final stage runs as root (`USER {}`); switch to an unprivileged user",
                user.args
            ),
        }),
        Some(user) if !is_numeric(&user.args) => problems.push(Problem {
            code: "XT003".into(),
            level: Level::Error,
            line: user.line,
            message: format!(
                "the final stage's USER is a name (`USER {}`); give the numeric uid:gid \
                 (e.g. `USER 10001:10001`) so a runtime can check it is not root",
                user.args
            ),
        }),
        Some(_) => {}
    }
    problems
}

/// `uid` or `uid:gid`, both numbers.
fn is_numeric(user: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match user.trim().split_once(':') {
        Some((uid, gid)) => number(uid) && number(gid),
        None => number(user.trim()),
    }
}

fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default().trim();
    name == "root" || name == "0"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str, healthcheck: bool) -> Vec<(String, u32)> {
        own_checks(text, healthcheck)
            .into_iter()
            .map(|p| (p.code, p.line))
            .collect()
    }

    #[test]
    fn a_good_final_stage_passes() {
        let text = "FROM rust:1 AS build\nRUN cargo build\n\nFROM debian:bookworm-slim\nCOPY --from=build /a /a\nUSER 65534:65534\nHEALTHCHECK --interval=5s \\\n  CMD [\"/a\", \"--health\"]\nCMD [\"/a\"]\n";
        assert!(codes(text, true).is_empty(), "{:?}", codes(text, true));
    }

    #[test]
    fn missing_healthcheck_only_matters_when_required() {
        let text = "FROM debian:bookworm-slim\nUSER 65534\nCMD [\"/a\"]\n";
        assert_eq!(codes(text, true), [("XT001".to_owned(), 1)]);
        assert!(codes(text, false).is_empty());
        let disabled = "FROM debian:bookworm-slim\nUSER 10001\nHEALTHCHECK NONE\n";
        assert_eq!(codes(disabled, true), [("XT001".to_owned(), 3)]);
    }

    #[test]
    fn a_healthcheck_in_a_build_stage_does_not_count() {
        let text = "FROM debian AS a\nHEALTHCHECK CMD true\nUSER 1\nFROM debian\nUSER 1\n";
        assert_eq!(codes(text, true), [("XT001".to_owned(), 4)]);
    }

    #[test]
    fn root_or_missing_final_user_is_caught() {
        assert_eq!(
            codes("FROM debian\nCMD [\"a\"]\n", false),
            [("XT002".to_owned(), 1)]
        );
        assert_eq!(
            codes("FROM debian\nUSER app\nRUN x\nUSER root\n", false),
            [("XT002".to_owned(), 4)]
        );
        assert_eq!(
            codes("FROM debian\nuser 0:0\n", false),
            [("XT002".to_owned(), 2)]
        );
        // A non-root user in a build stage does not make the final stage non-root.
        assert_eq!(
            codes("FROM debian AS b\nUSER 1000\nFROM debian\n", false),
            [("XT002".to_owned(), 3)]
        );
    }

    #[test]
    fn a_named_final_user_is_caught() {
        assert_eq!(
            codes("FROM node\nUSER node\n", false),
            [("XT003".to_owned(), 2)]
        );
        assert_eq!(
            codes("FROM node\nUSER 1000:node\n", false),
            [("XT003".to_owned(), 2)]
        );
        assert!(codes("FROM node\nUSER 1000:1000\n", false).is_empty());
        assert!(codes("FROM node\nUSER 1000\n", false).is_empty());
    }

    #[test]
    fn comments_and_continuations_are_followed() {
        let text =
            "# syntax notes\nFROM debian\nRUN a \\\n# a comment inside\n  && b\nUSER 65534\n";
        let all = instructions(text);
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].args, "a && b");
        assert_eq!(all[2].line, 6);
        assert!(codes(text, false).is_empty());
    }

    #[test]
    fn hadolint_json_is_read() {
        let json = r#"[{"code":"DL3007","column":1,"file":"a.Dockerfile","level":"warning","line":1,"message":"Using latest is prone to errors"},{"code":"DL3066","column":1,"file":"a.Dockerfile","level":"info","line":5,"message":"Non-numeric user-id"}]"#;
        let p = parse_hadolint(json).unwrap();
        assert_eq!(
            (p[0].code.as_str(), p[0].level, p[0].line),
            ("DL3007", Level::Warning, 1)
        );
        assert!(p[0].level.fails() && !p[1].level.fails());
        assert!(parse_hadolint("not json").is_err());
    }
}
