//! `.dockerignore` rules: which paths of a build context BuildKit sends.
//!
//! Docker's semantics, reproduced rather than approximated: patterns are cleaned paths
//! relative to the context root (a leading `/` is dropped), `*`, `?` and `[...]` match within
//! one path segment, `**` matches any number of directories, a leading `!` re-includes, the
//! last matching pattern wins, and a path is excluded when it or a parent directory is,
//! unless a later pattern re-includes it. Pure: parsing text and matching paths, no I/O.

use anyhow::{bail, Result};

#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// `!pattern`: a match re-includes.
    include: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` (or `**/`) before more pattern: any number of whole directories, even none.
    Dirs,
    /// `**` at the end: anything at all.
    Rest,
    /// `[...]`: one character (never `/`) in, or with `^`/`!` not in, the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl IgnoreRules {
    /// Parses the text of an ignore file. Comments (`#` first) and blank lines are skipped.
    pub fn parse(text: &str) -> Result<IgnoreRules> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, raw) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if raw.is_empty() {
                bail!("illegal exclusion pattern: `{line}`");
            }
            let cleaned = clean(raw);
            let cleaned = cleaned.strip_prefix('/').unwrap_or(&cleaned);
            patterns.push(Pattern {
                include,
                tokens: tokens(cleaned)?,
            });
        }
        Ok(IgnoreRules { patterns })
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left out of the
    /// context. Each ancestor directory is decided first; its verdict carries down unless a
    /// pattern matches the longer path.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let mut excluded = false;
        let mut prefix = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(segment);
            for p in &self.patterns {
                if matches(&p.tokens, &prefix.chars().collect::<Vec<_>>()) {
                    excluded = !p.include;
                }
            }
        }
        excluded
    }
}

/// Lexical path cleaning as Go's `filepath.Clean`: no `.`, no `x/..`, no doubled or
/// trailing `/`.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn tokens(pattern: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                out.push(if i == chars.len() {
                    Token::Rest
                } else {
                    Token::Dirs
                });
                continue;
            }
            '*' => out.push(Token::Star),
            '?' => out.push(Token::One),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(&c) => out.push(Token::Char(c)),
                    None => bail!("`{pattern}` ends with a lone `\\`"),
                }
            }
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .skip(1)
                    .position(|&c| c == ']')
                    .map(|p| i + 2 + p);
                let Some(end) = end else {
                    bail!("`{pattern}` has an unclosed `[`");
                };
                let mut body = &chars[i + 1..end];
                let negated = matches!(body.first(), Some('^' | '!'));
                if negated {
                    body = &body[1..];
                }
                let mut ranges = Vec::new();
                let mut j = 0;
                while j < body.len() {
                    if body.get(j + 1) == Some(&'-') && j + 2 < body.len() {
                        ranges.push((body[j], body[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((body[j], body[j]));
                        j += 1;
                    }
                }
                out.push(Token::Class { negated, ranges });
                i = end;
            }
            c => out.push(Token::Char(c)),
        }
        i += 1;
    }
    Ok(out)
}

fn matches(p: &[Token], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((Token::Rest, _)) => true,
        Some((Token::Star, rest)) => {
            let run = t.iter().take_while(|&&c| c != '/').count();
            (0..=run).any(|i| matches(rest, &t[i..]))
        }
        // Nothing, or any text ending in `/`.
        Some((Token::Dirs, rest)) => {
            matches(rest, t)
                || (0..t.len())
                    .filter(|&i| t[i] == '/')
                    .any(|i| matches(rest, &t[i + 1..]))
        }
        Some((Token::One, rest)) => t.first().is_some_and(|&c| c != '/') && matches(rest, &t[1..]),
        Some((Token::Class { negated, ranges }, rest)) => t.first().is_some_and(|&c| {
            c != '/'
                && ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                && matches(rest, &t[1..])
        }),
        Some((Token::Char(c), rest)) => t.first() == Some(c) && matches(rest, &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text).unwrap()
    }

    fn repo_rules(file: &str) -> IgnoreRules {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        rules(&std::fs::read_to_string(root.join(file)).unwrap())
    }

    #[test]
    fn star_and_question_mark_stay_within_one_segment() {
        let r = rules("*.md\nlog?.txt");
        assert!(r.excludes("README.md"));
        assert!(!r.excludes("docs/README.md"));
        assert!(r.excludes("log1.txt"));
        assert!(!r.excludes("log12.txt"));
        assert!(!rules("a?b").excludes("a/b"));
        assert!(rules("docs/*.md").excludes("docs/a.md"));
        assert!(!rules("docs/*.md").excludes("docs/sub/a.md"));
    }

    #[test]
    fn double_star_spans_directories() {
        let r = rules("**/target");
        assert!(r.excludes("target"));
        assert!(r.excludes("target/debug/x"));
        assert!(r.excludes("api/target/release/api"));
        assert!(r.excludes("a/b/c/target/x"));
        assert!(!r.excludes("api/targets"));
        let r = rules("docs/**/*.png");
        assert!(r.excludes("docs/a.png"));
        assert!(r.excludes("docs/x/y/a.png"));
        assert!(!r.excludes("other/a.png"));
        assert!(rules("secrets/**").excludes("secrets/a/b"));
        assert!(rules("**").excludes("anything/at/all"));
        assert!(rules("**/.env*").excludes("api/.env.local"));
    }

    #[test]
    fn classes_match_one_character_of_a_segment() {
        let r = rules("file[0-9].txt\nx[!a].rs\ny[^b].rs");
        assert!(r.excludes("file3.txt"));
        assert!(!r.excludes("filex.txt"));
        assert!(r.excludes("xb.rs") && !r.excludes("xa.rs"));
        assert!(r.excludes("ya.rs") && !r.excludes("yb.rs"));
        assert!(!rules("a[/]b").excludes("a/b"));
        assert!(IgnoreRules::parse("a[b").is_err());
    }

    #[test]
    fn the_last_matching_pattern_wins() {
        let r = rules("*.md\n!README.md");
        assert!(r.excludes("CHANGELOG.md"));
        assert!(!r.excludes("README.md"));
        let r = rules("!README.md\n*.md");
        assert!(r.excludes("README.md"));
    }

    #[test]
    fn an_excluded_directory_excludes_its_contents_unless_re_included() {
        let r = rules("docs");
        assert!(r.excludes("docs/a/b.md"));
        assert!(!r.excludes("docsx/a"));
        let r = rules("docs\n!docs/keep.md");
        assert!(r.excludes("docs/other.md"));
        assert!(!r.excludes("docs/keep.md"));
        // Re-including a directory brings back what is below it.
        let r = rules("*\n!src\nsrc/gen");
        assert!(!r.excludes("src/a/b.rs"));
        assert!(r.excludes("src/gen/x.rs"));
        assert!(r.excludes("other/x.rs"));
    }

    #[test]
    fn comments_blank_lines_and_leading_slashes() {
        let r = rules("# a comment\n\n   \n/build\n  spaced.txt  \n");
        assert!(r.excludes("build/x"));
        assert!(!r.excludes("# a comment"));
        assert!(r.excludes("spaced.txt"));
        assert!(!r.excludes("a/build/x"));
    }

    #[test]
    fn patterns_and_paths_are_cleaned() {
        let r = rules("./a//b/../c/\n");
        assert!(r.excludes("a/c"));
        assert!(r.excludes("./a/c/d"));
        assert!(!r.excludes("a/b"));
        assert_eq!(clean("/a/../../b/"), "/b");
        assert_eq!(clean("a/.."), ".");
        assert_eq!(clean("../a"), "../a");
    }

    #[test]
    fn escapes_and_bad_exclusions() {
        assert!(rules(r"\*.txt").excludes("*.txt"));
        assert!(!rules(r"\*.txt").excludes("a.txt"));
        assert!(IgnoreRules::parse("!").is_err());
        assert!(!IgnoreRules::default().excludes("anything"));
    }

    #[test]
    fn the_api_context_is_only_its_manifests_and_sources() {
        let r = repo_rules("xtask/docker/api.Dockerfile.dockerignore");
        for sent in [
            "Cargo.toml",
            "Cargo.lock",
            "api/Cargo.toml",
            "web/Cargo.toml",
            "xtask/Cargo.toml",
            "api/src/main.rs",
            "api/src/routes/todo.rs",
        ] {
            assert!(!r.excludes(sent), "{sent} should be sent");
        }
        for left_out in [
            "README.md",
            "api/tests/api.rs",
            "web/src/main.rs",
            "xtask/src/main.rs",
            "xtask/images.toml",
            ".git/HEAD",
            "api/src/.env",
            "api/src/target/x",
            "target/release/api",
            "docs/architecture.md",
        ] {
            assert!(r.excludes(left_out), "{left_out} should be left out");
        }
    }

    #[test]
    fn the_web_and_runner_contexts() {
        let web = repo_rules("xtask/docker/web.Dockerfile.dockerignore");
        assert!(!web.excludes("web/static/index.html"));
        assert!(!web.excludes("web/src/main.rs"));
        assert!(web.excludes("api/src/main.rs"));
        assert!(web.excludes("web/node_modules/x/index.js"));
        let runner = repo_rules("xtask/docker/playwright-runner.Dockerfile.dockerignore");
        assert!(!runner.excludes("playwright-runner/tests/todo.spec.js"));
        assert!(!runner.excludes("playwright-runner/package.json"));
        assert!(runner.excludes("playwright-runner/node_modules/a/b.js"));
        assert!(runner.excludes("playwright-runner/README.md"));
        assert!(runner.excludes("Cargo.lock"));
    }
}
