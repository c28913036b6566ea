//! JavaScript regular expressions as metadata-action's `type=match` `pattern=` and the
//! `match=` of `type=semver`/`type=pep440` give them, run with `regex-lite`.
//!
//! A pattern is either the source of `new RegExp(source)` or, for `type=match` only, a
//! literal `/source/flags`. JavaScript's syntax and regex-lite's agree on what tag patterns
//! use (classes, groups, named groups, anchors, counted repetition, escapes); what
//! regex-lite lacks (look-around, backreferences) is refused when the rule is read, never
//! silently matched differently.

use std::fmt;

use anyhow::{bail, Result};

/// A compiled pattern and how `String.prototype.match` reports its result.
#[derive(Clone)]
pub struct JsRegex {
    text: String,
    regex: regex_lite::Regex,
    /// The `g` flag: `match` then returns every match of the whole pattern, not the groups.
    global: bool,
}

impl fmt::Debug for JsRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsRegex({:?})", self.text)
    }
}

impl PartialEq for JsRegex {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for JsRegex {}

impl JsRegex {
    /// `new RegExp(source)`: the whole text is the expression, slashes and all.
    pub fn source(source: &str) -> Result<JsRegex> {
        JsRegex::compile(source, source, "")
    }

    /// `type=match`'s pattern: `/source/flags` when it has that shape, else a source.
    pub fn pattern(text: &str) -> Result<JsRegex> {
        match text
            .strip_prefix('/')
            .and_then(|rest| rest.rsplit_once('/'))
            .filter(|(source, _)| !source.is_empty())
        {
            Some((source, flags)) => JsRegex::compile(text, source, flags),
            None => JsRegex::source(text),
        }
    }

    fn compile(text: &str, source: &str, flags: &str) -> Result<JsRegex> {
        let mut seen = String::new();
        for flag in flags.chars() {
            if seen.contains(flag) {
                bail!("flag `{flag}` is given twice in `{text}`");
            }
            if !"igmsuyd".contains(flag) {
                bail!("`{flag}` is not a regular expression flag in `{text}` (use i, g, m, s, u, y or d)");
            }
            seen.push(flag);
        }
        let source = translate(source)?;
        // Sticky from index 0: the match must start at the beginning. Unicode mode (`u`)
        // and match indices (`d`) change nothing a tag pattern can see.
        let source = if seen.contains('y') {
            format!("\\A(?:{source})")
        } else {
            source
        };
        let mut builder = regex_lite::RegexBuilder::new(&source);
        builder
            .case_insensitive(seen.contains('i'))
            .multi_line(seen.contains('m'))
            .dot_matches_new_line(seen.contains('s'));
        let global = seen.contains('g');
        let regex = builder.build().map_err(|e| {
            let why = e.to_string();
            let why = why.lines().last().unwrap_or_default().trim().to_owned();
            anyhow::anyhow!("`{text}` is not a regular expression regex-lite accepts: {why}")
        })?;
        Ok(JsRegex {
            text: text.to_owned(),
            regex,
            global,
        })
    }

    /// How many groups the pattern has, the whole match (group 0) included.
    pub fn groups(&self) -> usize {
        self.regex.captures_len()
    }

    /// `text.match(pattern)[index]`: without `g` the index-th group of the first match (`None`
    /// when it did not take part), with `g` the index-th match; `None` when nothing matched.
    pub fn matched<'t>(&self, text: &'t str, index: usize) -> Option<&'t str> {
        if self.global {
            return self.regex.find_iter(text).nth(index).map(|m| m.as_str());
        }
        self.regex.captures(text)?.get(index).map(|m| m.as_str())
    }

    /// Whether `text.match(pattern)` finds anything at all.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

impl fmt::Display for JsRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// JavaScript's spelling of what regex-lite spells differently, and a clear refusal of
/// what it cannot do.
fn translate(source: &str) -> Result<String> {
    for (js, what) in [
        ("(?=", "look-ahead"),
        ("(?!", "negative look-ahead"),
        ("(?<=", "look-behind"),
        ("(?<!", "negative look-behind"),
    ] {
        if source.contains(js) {
            bail!(
                "`{source}` uses {what} `{js}...)`; regex-lite has none: match the \
                 part you want with a group and pick it with group="
            );
        }
    }
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(d @ '1'..='9') => {
                    bail!("`{source}` uses the backreference `\\{d}`; regex-lite has none")
                }
                // `\/` is how a JavaScript literal writes `/`; regex-lite wants it bare.
                Some('/') => out.push('/'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => bail!("`{source}` ends with a lone `\\`"),
            },
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text.match(pattern)[group]` as metadata-action reads it; `Err` is a refused pattern.
    fn check(pattern: &str, text: &str, group: usize) -> Result<Option<String>> {
        Ok(JsRegex::pattern(pattern)?
            .matched(text, group)
            .map(str::to_owned))
    }

    #[test]
    fn metadata_actions_documented_patterns() {
        let table = [
            (r"\d.\d.\d", "v1.2.3", 0, Some("1.2.3")),
            (r"v(.*)", "v2.0.8-beta.67", 1, Some("2.0.8-beta.67")),
            (r"v(\d.\d)", "v2.0.8-beta.67", 1, Some("2.0")),
            (r"\d+", "20200110-RC2", 0, Some("20200110")),
            (r"p1/v(\d.\d.\d)", "p1/v1.2.3", 1, Some("1.2.3")),
            (r"\d{8}", "20200110-RC2", 0, Some("20200110")),
            (r"(.*)-RC", "20200110-RC2", 1, Some("20200110")),
            (r"^v(\d.\d.\d)$", "v1.1.1", 1, Some("1.1.1")),
            (
                r"\d.\d.\d-(alpha|beta).\d+",
                "v2.0.8-beta.67",
                0,
                Some("2.0.8-beta.67"),
            ),
            (r"v(.*)-beta.(.*)", "v2.0.8-beta.67", 2, Some("67")),
            (r"\d.\d", "sometag", 0, None),
            (r"p1/v(\d.\d)", "p1/v1.0.0", 3, None),
            (r"^release\d{1,2}", "release1", 0, Some("release1")),
            // A literal with flags: `i` ignores case, `g` makes the result the list of matches.
            (r"/^v(\d.\d.\d)$/ig", "p1/v1.0.0", 1, None),
            (r"/^V(\d.\d.\d)$/i", "v1.0.0", 1, Some("1.0.0")),
            (r"/\d/g", "a1b2c3", 2, Some("3")),
            (r"/p1\/v(\d)/", "p1/v7", 1, Some("7")),
            (r"/^\d/y", "x1", 0, None),
            (r"(?<major>\d+)\.(?<minor>\d+)", "v3.4", 2, Some("4")),
        ];
        for (pattern, text, group, want) in table {
            assert_eq!(
                check(pattern, text, group).unwrap().as_deref(),
                want,
                "{pattern} on {text}, group {group}"
            );
        }
    }

    #[test]
    fn what_regex_lite_cannot_do_is_refused_with_the_reason() {
        for (pattern, says) in [
            (r"v(?=\d)", "look-ahead"),
            (r"(?<!x)v", "negative look-behind"),
            (r"(a)\1", "backreference"),
            (r"/a/x", "not a regular expression flag"),
            (r"/a/gg", "twice"),
            (r"v(", "not a regular expression"),
        ] {
            let e = JsRegex::pattern(pattern).unwrap_err();
            assert!(e.to_string().contains(says), "{pattern}: {e}");
        }
    }

    #[test]
    fn a_plain_source_keeps_its_slashes() {
        // semver's match= is `new RegExp(source)`: slashes are characters to match.
        let r = JsRegex::source("/v(\\d)/").unwrap();
        assert_eq!(r.matched("/v1/", 1), Some("1"));
        assert_eq!(r.matched("v1", 1), None);
    }
}
