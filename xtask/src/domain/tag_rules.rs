//! Tag rules in docker/metadata-action's `tags` and `flavor` syntax, with its semantics.
//!
//! A rule is a CSV line such as `type=ref,event=branch` or
//! `type=semver,pattern={{major}}.{{minor}}`. Rules are parsed when the config is read (a
//! [`TagRule`] is always well-formed) and evaluated against a [`GitContext`] into a
//! [`Version`]: the main tag, the other tags and whether `latest` applies. Like
//! metadata-action, rules run from the highest priority down and the first rule that
//! produces a tag decides `latest` under `flavor latest=auto`.
//!
//! Templates support metadata-action's expressions (`{{branch}}`, `{{tag}}`, `{{sha}}`,
//! `{{base_ref}}`, `{{is_default_branch}}`, `{{date 'fmt'}}`, `{{commit_date 'fmt'}}` and, in
//! semver patterns, `{{raw}}`, `{{version}}`, `{{major}}`, `{{minor}}`, `{{patch}}`) with
//! moment.js format tokens. Two deliberate differences: an unknown expression is an error
//! instead of an empty string, and `tz=` only accepts UTC. A build from uncommitted changes names
//! its commit `<sha>-dirty` wherever a rule names it (`type=sha`, `{{sha}}`), so it never takes
//! the tag of the commit's own build (docs/tagging.md).

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::git::GitContext;
use crate::domain::identity;
use crate::domain::tag::Tag;

/// What the default configuration uses: `sha-<7>`, the branch, `<branch>-<commit time>`,
/// `latest` on the default branch, `v1.2.3` + `1.2` + `1` + `latest` on a release tag, and
/// `pr-<n>` on a pull request.
pub const DEFAULT_RULES: &[&str] = &[
    "type=schedule",
    "type=ref,event=branch",
    "type=ref,event=branch,suffix=-{{commit_date 'YYYYMMDD-HHmmss'}}",
    "type=ref,event=pr",
    "type=semver,pattern={{raw}}",
    "type=semver,pattern={{major}}.{{minor}}",
    "type=semver,pattern={{major}}",
    "type=raw,value=latest,enable={{is_default_branch}}",
    "type=sha",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefEvent {
    Branch,
    Tag,
    Pr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Schedule { pattern: String },
    Semver { pattern: String, value: String },
    Ref { event: RefEvent },
    Edge { branch: String },
    Raw { value: String },
    Sha { long: bool },
}

impl Kind {
    fn default_priority(&self) -> i64 {
        match self {
            Kind::Schedule { .. } => 1000,
            Kind::Semver { .. } => 900,
            Kind::Edge { .. } => 700,
            Kind::Ref { .. } => 600,
            Kind::Raw { .. } => 200,
            Kind::Sha { .. } => 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRule {
    text: String,
    kind: Kind,
    prefix: Option<String>,
    suffix: Option<String>,
    enable: String,
    priority: i64,
}

impl fmt::Display for TagRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for TagRule {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<TagRule> {
        parse_rule(text).with_context(|| format!("invalid tag rule `{text}`"))
    }
}

impl TryFrom<String> for TagRule {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<TagRule> {
        s.parse()
    }
}

impl<'de> serde::Deserialize<'de> for TagRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TagRule, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e: anyhow::Error| serde::de::Error::custom(format!("{e:#}")))
    }
}

fn parse_rule(text: &str) -> Result<TagRule> {
    let mut kind_name = None;
    let mut attrs: Vec<(String, String)> = Vec::new();
    for field in csv_fields(text)? {
        match field.split_once('=') {
            None => attrs.push(("value".into(), field.trim().to_owned())),
            Some((k, v)) if k.trim().eq_ignore_ascii_case("type") => {
                kind_name = Some(v.trim().to_owned())
            }
            Some((k, v)) => attrs.push((k.trim().to_ascii_lowercase(), v.trim().to_owned())),
        }
    }
    let take = |key: &str| {
        attrs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let kind = match kind_name.as_deref().unwrap_or("raw") {
        "schedule" => Kind::Schedule {
            pattern: take("pattern").unwrap_or_else(|| "nightly".into()),
        },
        "semver" => Kind::Semver {
            pattern: take("pattern")
                .context("type=semver needs a pattern, e.g. pattern={{version}}")?,
            value: take("value").unwrap_or_default(),
        },
        "ref" => Kind::Ref {
            event: match take("event").as_deref() {
                Some("branch") => RefEvent::Branch,
                Some("tag") => RefEvent::Tag,
                Some("pr") => RefEvent::Pr,
                Some(other) => bail!("event must be branch, tag or pr, not `{other}`"),
                None => bail!("type=ref needs event=branch, event=tag or event=pr"),
            },
        },
        "edge" => Kind::Edge {
            branch: take("branch").unwrap_or_default(),
        },
        "raw" => Kind::Raw {
            value: take("value").context("type=raw needs a value")?,
        },
        "sha" => Kind::Sha {
            long: match take("format").as_deref() {
                None | Some("short") => false,
                Some("long") => true,
                Some(other) => bail!("format must be short or long, not `{other}`"),
            },
        },
        "match" | "pep440" => bail!(
            "type={} is not supported; use type=semver or type=raw",
            kind_name.unwrap()
        ),
        other => bail!("unknown type `{other}` (expected schedule, semver, ref, edge, raw or sha)"),
    };
    let allowed: &[&str] = match kind {
        Kind::Schedule { .. } => &["pattern"],
        Kind::Semver { .. } => &["pattern", "value"],
        Kind::Ref { .. } => &["event"],
        Kind::Edge { .. } => &["branch"],
        Kind::Raw { .. } => &["value"],
        Kind::Sha { .. } => &["format"],
    };
    for (key, _) in &attrs {
        if !["prefix", "suffix", "enable", "priority"].contains(&key.as_str())
            && !allowed.contains(&key.as_str())
        {
            bail!("unknown attribute `{key}`");
        }
    }
    let priority = match take("priority") {
        Some(p) => p
            .parse()
            .with_context(|| format!("priority `{p}` is not a number"))?,
        None => kind.default_priority(),
    };
    // Every template is checked now, not when its rule first fires (a broken semver
    // pattern would otherwise pass every branch build and fail on the release).
    match &kind {
        Kind::Semver { pattern, value } => {
            check_template(pattern, true).context("pattern")?;
            check_template(value, false).context("value")?;
        }
        Kind::Schedule { pattern } => check_template(pattern, false).context("pattern")?,
        Kind::Raw { value } => check_template(value, false).context("value")?,
        Kind::Ref { .. } | Kind::Edge { .. } | Kind::Sha { .. } => {}
    }
    for key in ["prefix", "suffix", "enable"] {
        if let Some(t) = take(key) {
            check_template(&t, false).with_context(|| key.to_owned())?;
        }
    }
    let default_prefix = match kind {
        Kind::Ref {
            event: RefEvent::Pr,
        } => Some("pr-".to_owned()),
        Kind::Sha { .. } => Some("sha-".to_owned()),
        _ => None,
    };
    Ok(TagRule {
        text: text.to_owned(),
        prefix: take("prefix").or(default_prefix),
        suffix: take("suffix"),
        enable: take("enable").unwrap_or_else(|| "true".into()),
        priority,
        kind,
    })
}

/// Splits one CSV record: commas separate fields, double quotes protect commas, `""` is a quote.
fn csv_fields(line: &str) -> Result<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            _ => fields.last_mut().unwrap().push(c),
        }
    }
    if quoted {
        bail!("unterminated double quote");
    }
    Ok(fields
        .into_iter()
        .filter(|f| !f.trim().is_empty())
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Latest {
    #[default]
    Auto,
    True,
    False,
}

/// metadata-action's `flavor` input: `latest=auto|true|false`, `prefix=`, `suffix=`, each
/// optionally followed by `onlatest=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flavor {
    pub latest: Latest,
    pub prefix: String,
    pub prefix_latest: bool,
    pub suffix: String,
    pub suffix_latest: bool,
}

impl Flavor {
    pub fn parse<S: AsRef<str>>(lines: &[S]) -> Result<Flavor> {
        let mut flavor = Flavor::default();
        for line in lines {
            let line = line.as_ref();
            let mut last = "";
            for field in csv_fields(line)? {
                let (key, value) = field
                    .split_once('=')
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .with_context(|| format!("invalid flavor `{line}`: expected key=value"))?;
                match key.as_str() {
                    "latest" => {
                        flavor.latest = match value.as_str() {
                            "auto" => Latest::Auto,
                            "true" => Latest::True,
                            "false" => Latest::False,
                            _ => bail!("invalid flavor `{line}`: latest must be auto, true or false"),
                        }
                    }
                    "prefix" => (flavor.prefix, last) = (value, "prefix"),
                    "suffix" => (flavor.suffix, last) = (value, "suffix"),
                    "onlatest" => {
                        let on = match value.as_str() {
                            "true" => true,
                            "false" => false,
                            _ => bail!("invalid flavor `{line}`: onlatest must be true or false"),
                        };
                        match last {
                            "prefix" => flavor.prefix_latest = on,
                            "suffix" => flavor.suffix_latest = on,
                            _ => {}
                        }
                    }
                    _ => bail!("invalid flavor `{line}`: unknown key `{key}` (expected latest, prefix, suffix, onlatest)"),
                }
            }
        }
        check_template(&flavor.prefix, false).context("flavor prefix")?;
        check_template(&flavor.suffix, false).context("flavor suffix")?;
        Ok(flavor)
    }

    fn latest_for(&self, auto: bool) -> bool {
        match self.latest {
            Latest::Auto => auto,
            Latest::True => true,
            Latest::False => false,
        }
    }
}

/// The outcome of evaluating the rules: like metadata-action's `version` output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Version {
    /// The first tag produced; also the `org.opencontainers.image.version` label.
    pub main: Option<Tag>,
    pub partial: Vec<Tag>,
    pub latest: bool,
}

impl Version {
    /// All tags in metadata-action's order: main, the others, then `latest`.
    pub fn tags(&self, flavor: &Flavor) -> Vec<Tag> {
        let Some(main) = &self.main else {
            return Vec::new();
        };
        let mut tags = vec![main.clone()];
        tags.extend(self.partial.iter().cloned());
        if self.latest {
            let prefix = if flavor.prefix_latest {
                flavor.prefix.as_str()
            } else {
                ""
            };
            let suffix = if flavor.suffix_latest {
                flavor.suffix.as_str()
            } else {
                ""
            };
            tags.extend(Tag::sanitize(&format!("{prefix}latest{suffix}")));
        }
        let mut seen = std::collections::HashSet::new();
        tags.retain(|t| seen.insert(t.clone()));
        tags
    }
}

/// Everything a template may refer to, fixed at one moment so the result is reproducible.
pub struct Evaluation<'a> {
    pub ctx: &'a GitContext,
    pub flavor: &'a Flavor,
    pub now: OffsetDateTime,
}

impl Evaluation<'_> {
    pub fn version(&self, rules: &[TagRule]) -> Result<Version> {
        let mut sorted: Vec<&TagRule> = rules.iter().collect();
        sorted.sort_by_key(|r| std::cmp::Reverse(r.priority)); // stable, like Array.sort
        let mut version = Version::default();
        let mut latest: Option<bool> = None;
        for rule in sorted {
            let produced = self
                .apply(rule)
                .with_context(|| format!("evaluating tag rule `{rule}`"))?;
            let Some((value, auto_latest)) = produced else {
                continue;
            };
            let Some(tag) = Tag::sanitize(&value) else {
                continue;
            };
            match &version.main {
                None => version.main = Some(tag),
                Some(main) if *main != tag && !version.partial.contains(&tag) => {
                    version.partial.push(tag)
                }
                Some(_) => {}
            }
            latest.get_or_insert(self.flavor.latest_for(auto_latest));
        }
        version.latest = latest.unwrap_or(false);
        Ok(version)
    }

    /// The raw tag a rule produces in this context and its `latest=auto` vote, if any.
    fn apply(&self, rule: &TagRule) -> Result<Option<(String, bool)>> {
        match self.global(&rule.enable)?.as_str() {
            "true" => {}
            "false" => return Ok(None),
            other => bail!("enable must evaluate to true or false, not `{other}`"),
        }
        let ctx = self.ctx;
        let (value, auto_latest) = match &rule.kind {
            Kind::Schedule { pattern } => {
                if !ctx.event.contains("schedule") {
                    return Ok(None);
                }
                (self.global(pattern)?, false)
            }
            Kind::Semver { pattern, value } => {
                let raw = match (value.is_empty(), ctx.tag()) {
                    (false, _) => self.global(value)?,
                    (true, Some(tag)) => tag.replace('/', "-"),
                    (true, None) => return Ok(None),
                };
                let Some(v) = parse_semver(&raw) else {
                    eprintln!("warning: `{raw}` is not a valid semver; rule `{rule}` gives no tag");
                    return Ok(None);
                };
                if v.pre.is_empty() {
                    (self.semver_template(pattern, &raw, &v)?, true)
                } else if pattern.replace(' ', "") == "{{raw}}" {
                    (raw, false)
                } else {
                    // Pre-releases only ever get their own version, never 1.2 or 1.
                    (node_version(&v), false)
                }
            }
            Kind::Ref {
                event: RefEvent::Branch,
            } => match ctx.branch() {
                Some(b) => (b.to_owned(), false),
                None => return Ok(None),
            },
            Kind::Ref {
                event: RefEvent::Tag,
            } => match ctx.tag() {
                Some(t) => (t.to_owned(), true),
                None => return Ok(None),
            },
            Kind::Ref {
                event: RefEvent::Pr,
            } => match ctx.pull_request() {
                Some(n) => (n.to_owned(), false),
                None => return Ok(None),
            },
            Kind::Edge { branch } => {
                let wanted = if branch.is_empty() {
                    ctx.default_branch.as_str()
                } else {
                    branch
                };
                if ctx.branch() != Some(wanted) {
                    return Ok(None);
                }
                ("edge".to_owned(), false)
            }
            Kind::Raw { value } => (self.global(value)?, false),
            Kind::Sha { long } => {
                let sha = if *long {
                    ctx.sha.as_str()
                } else {
                    identity::short_sha(&ctx.sha)
                };
                (identity::revision(sha, ctx.dirty), false)
            }
        };
        let prefix = match &rule.prefix {
            Some(p) => self.global(p)?,
            None => self.global(&self.flavor.prefix)?,
        };
        let suffix = match &rule.suffix {
            Some(s) => self.global(s)?,
            None => self.global(&self.flavor.suffix)?,
        };
        if value.is_empty() {
            return Ok(None);
        }
        if Tag::sanitize(&value).is_none() {
            // `!!!` or `日本語`: nothing valid is left, and a bare prefix or suffix (a
            // timestamp) would be the same tag for every such branch.
            eprintln!(
                "warning: `{value}` has no character a tag may carry; rule `{rule}` gives no tag"
            );
            return Ok(None);
        }
        // Over Docker's 128 characters, the value gives way: the prefix and suffix (a
        // timestamp, a `-amd64`) are what keeps the tags of one branch apart.
        let room = crate::domain::tag::MAX_TAG_LEN
            .saturating_sub(prefix.chars().count() + suffix.chars().count());
        let value: String = value.chars().take(room.max(1)).collect();
        Ok(Some((format!("{prefix}{value}{suffix}"), auto_latest)))
    }

    fn global(&self, template: &str) -> Result<String> {
        render(template, |expr| self.global_expr(expr))
    }

    fn global_expr(&self, e: &Expr) -> Result<String> {
        let ctx = self.ctx;
        Ok(match e.name.as_str() {
            "branch" => ctx.branch().unwrap_or_default().to_owned(),
            "tag" => ctx.tag().unwrap_or_default().to_owned(),
            "sha" => identity::revision(identity::short_sha(&ctx.sha), ctx.dirty),
            "base_ref" => ctx.base_ref.clone().unwrap_or_default(),
            "is_default_branch" => {
                let on_default = ctx.branch() == Some(ctx.default_branch.as_str());
                let always = ["create", "discussion", "issues", "schedule"]
                    .iter()
                    .any(|ev| ctx.event.contains(ev));
                (ctx.branch().is_some() && (on_default || always)).to_string()
            }
            "commit_date" => format_date(ctx.commit_time, e)?,
            "date" => format_date(self.now, e)?,
            other => bail!("unknown expression `{{{{{other}}}}}`"),
        })
    }

    fn semver_template(&self, pattern: &str, raw: &str, v: &semver::Version) -> Result<String> {
        render(pattern, |e| {
            Ok(match e.name.as_str() {
                "raw" => raw.to_owned(),
                "version" => node_version(v),
                "major" => v.major.to_string(),
                "minor" => v.minor.to_string(),
                "patch" => v.patch.to_string(),
                _ => self.global_expr(e)?,
            })
        })
    }
}

/// node-semver's `valid`: an optional leading `v` or `=`, then strict semver.
fn parse_semver(s: &str) -> Option<semver::Version> {
    let s = s.trim();
    let s = s.strip_prefix(['v', '=']).unwrap_or(s);
    semver::Version::parse(s).ok()
}

/// node-semver's `version` property: build metadata is not part of it.
fn node_version(v: &semver::Version) -> String {
    let mut out = format!("{}.{}.{}", v.major, v.minor, v.patch);
    if !v.pre.is_empty() {
        out.push('-');
        out.push_str(v.pre.as_str());
    }
    out
}

/// The expressions any template may use, and those only a semver pattern may.
const GLOBAL_EXPRESSIONS: &[&str] = &[
    "branch",
    "tag",
    "sha",
    "base_ref",
    "is_default_branch",
    "commit_date",
    "date",
];
const SEMVER_EXPRESSIONS: &[&str] = &["raw", "version", "major", "minor", "patch"];

/// Fails on what would fail when the template is rendered: an unclosed `{{`, an unknown
/// expression, a date without its format or with an unsupported attribute.
fn check_template(template: &str, semver: bool) -> Result<()> {
    render(template, |e| {
        let name = e.name.as_str();
        if semver && SEMVER_EXPRESSIONS.contains(&name) {
            return Ok(String::new());
        }
        if !GLOBAL_EXPRESSIONS.contains(&name) {
            let hint = if SEMVER_EXPRESSIONS.contains(&name) {
                " (only a type=semver pattern has it)"
            } else {
                ""
            };
            bail!("unknown expression `{{{{{name}}}}}`{hint}");
        }
        if name.ends_with("date") {
            format_date(OffsetDateTime::UNIX_EPOCH, e)?;
        }
        Ok(String::new())
    })
    .map(|_| ())
}

/// One `{{name 'arg' key='value'}}` expression.
#[derive(Debug)]
struct Expr {
    name: String,
    args: Vec<String>,
    hash: Vec<(String, String)>,
}

fn render(template: &str, mut eval: impl FnMut(&Expr) -> Result<String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("`{{{{` without `}}}}` in `{template}`"))?;
        out.push_str(&eval(&parse_expr(&after[..end])?)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_expr(body: &str) -> Result<Expr> {
    let mut tokens = Vec::new();
    let mut chars = body.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut token = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '\'' || c == '"' {
                token.push(c);
                for q in chars.by_ref() {
                    token.push(q);
                    if q == c {
                        break;
                    }
                }
            } else {
                token.push(c);
            }
        }
        tokens.push(token);
    }
    let unquote = |t: &str| -> Result<String> {
        let q = t
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
            .with_context(|| format!("`{t}` must be quoted"))?;
        t.strip_prefix(q)
            .and_then(|t| t.strip_suffix(q))
            .map(str::to_owned)
            .with_context(|| format!("unterminated quote in `{t}`"))
    };
    let mut tokens = tokens.into_iter();
    let name = tokens.next().context("empty `{{}}` expression")?;
    let mut expr = Expr {
        name,
        args: Vec::new(),
        hash: Vec::new(),
    };
    for t in tokens {
        match t.split_once('=') {
            Some((k, v)) if !k.starts_with(['\'', '"']) => {
                expr.hash.push((k.to_owned(), unquote(v)?))
            }
            _ => expr.args.push(unquote(&t)?),
        }
    }
    Ok(expr)
}

fn format_date(t: OffsetDateTime, e: &Expr) -> Result<String> {
    for (key, value) in &e.hash {
        match (key.as_str(), value.as_str()) {
            ("tz", "UTC" | "Etc/UTC" | "GMT" | "Z") => {}
            ("tz", other) => bail!("tz='{other}' is not supported: dates are formatted in UTC"),
            (other, _) => bail!("unknown attribute `{other}` for {}", e.name),
        }
    }
    let format = e.args.first().with_context(|| {
        format!(
            "{} needs a format, e.g. {{{{{} 'YYYYMMDD'}}}}",
            e.name, e.name
        )
    })?;
    Ok(moment_format(t.to_offset(time::UtcOffset::UTC), format))
}

/// The moment.js tokens that make sense in a tag; other characters are copied, `[...]` is
/// literal text.
fn moment_format(t: OffsetDateTime, format: &str) -> String {
    const TOKENS: &[&str] = &[
        "YYYY", "YY", "MM", "M", "DD", "D", "HH", "H", "mm", "m", "ss", "s", "SSS", "X",
    ];
    let mut out = String::new();
    let mut rest = format;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').unwrap_or(inner.len());
            out.push_str(&inner[..end]);
            rest = inner.get(end + 1..).unwrap_or("");
            continue;
        }
        match TOKENS.iter().find(|tok| rest.starts_with(*tok)) {
            Some(tok) => {
                out.push_str(&match *tok {
                    "YYYY" => format!("{:04}", t.year()),
                    "YY" => format!("{:02}", t.year() % 100),
                    "MM" => format!("{:02}", u8::from(t.month())),
                    "M" => u8::from(t.month()).to_string(),
                    "DD" => format!("{:02}", t.day()),
                    "D" => t.day().to_string(),
                    "HH" => format!("{:02}", t.hour()),
                    "H" => t.hour().to_string(),
                    "mm" => format!("{:02}", t.minute()),
                    "m" => t.minute().to_string(),
                    "ss" => format!("{:02}", t.second()),
                    "s" => t.second().to_string(),
                    "SSS" => format!("{:03}", t.millisecond()),
                    _ => t.unix_timestamp().to_string(),
                });
                rest = &rest[tok.len()..];
            }
            None => {
                let c = rest.chars().next().unwrap();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";

    fn ctx(event: &str, git_ref: &str) -> GitContext {
        crate::domain::git::fixture(event, git_ref)
    }

    fn tags_with(rules: &[&str], flavor: &[&str], ctx: &GitContext) -> Vec<String> {
        let rules: Vec<TagRule> = rules.iter().map(|r| r.parse().unwrap()).collect();
        let flavor = Flavor::parse(flavor).unwrap();
        let eval = Evaluation {
            ctx,
            flavor: &flavor,
            now: datetime!(2026-11-23 12:00:00 UTC),
        };
        eval.version(&rules)
            .unwrap()
            .tags(&flavor)
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    fn default_tags(event: &str, git_ref: &str) -> Vec<String> {
        tags_with(DEFAULT_RULES, &[], &ctx(event, git_ref))
    }

    #[test]
    fn default_rules_on_default_branch() {
        assert_eq!(
            default_tags("push", "refs/heads/main"),
            ["main", "main-20261120-090507", "latest", "sha-860c190"]
        );
    }

    #[test]
    fn default_rules_on_feature_branch_have_no_latest() {
        assert_eq!(
            default_tags("push", "refs/heads/feature/login"),
            [
                "feature-login",
                "feature-login-20261120-090507",
                "sha-860c190"
            ]
        );
    }

    #[test]
    fn default_rules_on_release_tag() {
        assert_eq!(
            default_tags("push", "refs/tags/v1.2.3"),
            ["v1.2.3", "1.2", "1", "sha-860c190", "latest"]
        );
    }

    #[test]
    fn default_rules_on_prerelease_give_no_floating_tags() {
        let tags = default_tags("push", "refs/tags/v1.2.3-rc.1");
        assert_eq!(tags, ["v1.2.3-rc.1", "1.2.3-rc.1", "sha-860c190"]);
        assert!(!tags.iter().any(|t| t == "latest" || t == "1.2" || t == "1"));
    }

    #[test]
    fn default_rules_on_pull_request() {
        assert_eq!(
            default_tags("pull_request", "refs/pull/42/merge"),
            ["pr-42", "sha-860c190"]
        );
    }

    #[test]
    fn schedule_gives_nightly_and_latest_on_default_branch() {
        assert_eq!(
            default_tags("schedule", "refs/heads/main"),
            [
                "nightly",
                "main",
                "main-20261120-090507",
                "latest",
                "sha-860c190"
            ]
        );
    }

    #[test]
    fn a_dirty_tree_names_its_commit_dirty_and_keeps_the_branch_tags() {
        let mut dirty = ctx("push", "refs/heads/main");
        dirty.dirty = true;
        assert_eq!(
            tags_with(DEFAULT_RULES, &[], &dirty),
            [
                "main",
                "main-20261120-090507",
                "latest",
                "sha-860c190-dirty"
            ]
        );
        // Every spelling of the commit id says so, so none is the clean build's tag.
        assert_eq!(
            tags_with(
                &[
                    "type=sha,format=long,prefix=",
                    "type=raw,value=git-{{sha}}",
                    "type=sha,suffix=-amd64"
                ],
                &[],
                &dirty
            ),
            [
                "git-860c190-dirty",
                "860c1904a1ce19322e91ac35af1ab07466440c37-dirty",
                "sha-860c190-dirty-amd64"
            ]
        );
    }

    #[test]
    fn detached_head_without_tag_gets_sha_only() {
        assert_eq!(default_tags("push", ""), ["sha-860c190"]);
    }

    // The cases below follow the examples in docker/metadata-action's README.

    #[test]
    fn readme_basic_semver() {
        let rules = [
            "type=schedule",
            "type=ref,event=branch",
            "type=ref,event=pr",
            "type=semver,pattern={{version}}",
            "type=semver,pattern={{major}}.{{minor}}",
            "type=semver,pattern={{major}}",
            "type=sha",
        ];
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/heads/master")),
            ["master", "sha-860c190"]
        );
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/tags/v1.2.3")),
            ["1.2.3", "1.2", "1", "sha-860c190", "latest"]
        );
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/tags/v2.0.8-beta.67")),
            ["2.0.8-beta.67", "sha-860c190"]
        );
        assert_eq!(
            tags_with(&rules, &[], &ctx("pull_request", "refs/pull/2/merge")),
            ["pr-2", "sha-860c190"]
        );
    }

    #[test]
    fn readme_semver_raw_keeps_the_v() {
        let rules = ["type=semver,pattern={{raw}}"];
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/tags/v1.2.3")),
            ["v1.2.3", "latest"]
        );
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/tags/v2.0.8-beta.67")),
            ["v2.0.8-beta.67"]
        );
    }

    #[test]
    fn broken_templates_fail_when_the_rules_are_read_not_when_they_fire() {
        for (rule, says) in [
            ("type=semver,pattern={{version", "without"),
            ("type=semver,pattern={{verison}}", "unknown expression"),
            ("type=raw,value={{major}}", "only a type=semver pattern"),
            ("type=ref,event=branch,suffix=-{{date}}", "needs a format"),
            (
                "type=ref,event=branch,prefix={{commit_date 'YYYY' tz='Europe/Paris'}}-",
                "tz=",
            ),
            (
                "type=raw,value=x,enable={{is_default_branh}}",
                "unknown expression",
            ),
        ] {
            let e = rule.parse::<TagRule>().unwrap_err();
            assert!(format!("{e:#}").contains(says), "{rule}: {e:#}");
        }
        for rule in DEFAULT_RULES {
            assert!(rule.parse::<TagRule>().is_ok(), "{rule}");
        }
    }

    #[test]
    fn long_and_odd_branch_names_keep_their_tags_apart() {
        let flavor = Flavor::default();
        let rules: Vec<TagRule> = DEFAULT_RULES.iter().map(|r| r.parse().unwrap()).collect();
        let tags = |branch: &str| {
            let c = ctx("push", &format!("refs/heads/{branch}"));
            let eval = Evaluation {
                ctx: &c,
                flavor: &flavor,
                now: OffsetDateTime::UNIX_EPOCH,
            };
            eval.version(&rules)
                .unwrap()
                .tags(&flavor)
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        let long = format!("feature-{}", "x".repeat(292));
        let t = tags(&long);
        assert!(t.iter().all(|t| t.len() <= 128), "{t:?}");
        let dated = t.iter().find(|t| t.ends_with("-20261120-090507")).unwrap();
        assert_eq!(dated.len(), 128, "{dated}");
        assert_eq!(t.len(), 3, "branch, branch-timestamp and sha tags: {t:?}");
        for odd in ["日本語", "!!!@@@###"] {
            let t = tags(odd);
            assert_eq!(t, ["sha-860c190"], "{odd}: no shared bare timestamp tag");
        }
    }

    #[test]
    fn semver_pattern_with_literal_text() {
        let rules = ["type=semver,pattern=v{{major}}"];
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/tags/1.2.3")),
            ["v1", "latest"]
        );
    }

    #[test]
    fn semver_from_value_works_on_a_branch() {
        let rules = ["type=semver,pattern={{version}},value=v3.1.4"];
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/heads/main")),
            ["3.1.4", "latest"]
        );
    }

    #[test]
    fn invalid_semver_tag_gives_nothing() {
        assert_eq!(
            tags_with(
                &["type=semver,pattern={{version}}"],
                &[],
                &ctx("push", "refs/tags/release-2")
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn ref_tag_votes_latest_under_auto() {
        assert_eq!(
            tags_with(&["type=ref,event=tag"], &[], &ctx("push", "refs/tags/foo")),
            ["foo", "latest"]
        );
        assert_eq!(
            tags_with(
                &["type=ref,event=tag"],
                &["latest=false"],
                &ctx("push", "refs/tags/foo")
            ),
            ["foo"]
        );
    }

    #[test]
    fn edge_only_on_its_branch() {
        assert_eq!(
            tags_with(&["type=edge"], &[], &ctx("push", "refs/heads/main")),
            ["edge"]
        );
        assert_eq!(
            tags_with(&["type=edge"], &[], &ctx("push", "refs/heads/dev")),
            Vec::<String>::new()
        );
        assert_eq!(
            tags_with(
                &["type=edge,branch=dev"],
                &[],
                &ctx("push", "refs/heads/dev")
            ),
            ["edge"]
        );
    }

    #[test]
    fn flavor_prefix_and_suffix_apply_to_tags_without_their_own() {
        // type=sha has its own prefix (`sha-`), so the flavor's prefix does not apply to it.
        let tags = tags_with(
            &["type=semver,pattern={{version}}", "type=sha"],
            &["prefix=app-", "suffix=-slim"],
            &ctx("push", "refs/tags/v1.0.0"),
        );
        assert_eq!(tags, ["app-1.0.0-slim", "sha-860c190-slim", "latest"]);
    }

    #[test]
    fn flavor_onlatest_extends_latest() {
        let tags = tags_with(
            &["type=semver,pattern={{version}}"],
            &["suffix=-slim,onlatest=true"],
            &ctx("push", "refs/tags/v1.0.0"),
        );
        assert_eq!(tags, ["1.0.0-slim", "latest-slim"]);
    }

    #[test]
    fn rule_prefix_overrides_flavor_prefix_even_when_empty() {
        let tags = tags_with(
            &["type=ref,event=branch,prefix="],
            &["prefix=app-"],
            &ctx("push", "refs/heads/dev"),
        );
        assert_eq!(tags, ["dev"]);
    }

    #[test]
    fn flavor_latest_true_forces_latest() {
        assert_eq!(
            tags_with(
                &["type=ref,event=branch"],
                &["latest=true"],
                &ctx("push", "refs/heads/dev")
            ),
            ["dev", "latest"]
        );
    }

    #[test]
    fn priority_orders_tags() {
        let tags = tags_with(
            &["type=sha", "type=raw,value=first,priority=2000"],
            &[],
            &ctx("push", "refs/heads/dev"),
        );
        assert_eq!(tags, ["first", "sha-860c190"]);
    }

    #[test]
    fn enable_expression_switches_rules() {
        let rules = [
            "type=raw,value=stable,enable={{is_default_branch}}",
            "type=raw,value=always",
        ];
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/heads/main")),
            ["stable", "always"]
        );
        assert_eq!(
            tags_with(&rules, &[], &ctx("push", "refs/heads/dev")),
            ["always"]
        );
        assert_eq!(
            tags_with(
                &["type=raw,value=x,enable=false"],
                &[],
                &ctx("push", "refs/heads/dev")
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn raw_values_expand_global_expressions() {
        let tags = tags_with(
            &[
                "type=raw,value={{branch}}-{{sha}}",
                "type=raw,value=build-{{date 'YYYY.MM.DD'}}",
                "type=sha,format=long,prefix=",
            ],
            &[],
            &ctx("push", "refs/heads/dev"),
        );
        assert_eq!(tags, ["dev-860c190", "build-2026.11.23", SHA]);
    }

    #[test]
    fn quoted_csv_field_may_contain_commas() {
        let tags = tags_with(
            &["type=raw,\"value={{commit_date 'YYYY,MM'}}\""],
            &[],
            &ctx("push", "refs/heads/dev"),
        );
        assert_eq!(tags, ["2026-11"]);
    }

    #[test]
    fn moment_tokens_and_literals() {
        let t = datetime!(2026-01-02 03:04:05.678 UTC);
        assert_eq!(moment_format(t, "YYYYMMDD-HHmmss"), "20260102-030405");
        assert_eq!(moment_format(t, "YY.M.D H:m:s SSS"), "26.1.2 3:4:5 678");
        assert_eq!(moment_format(t, "[week]YYYY"), "week2026");
    }

    #[test]
    fn bad_rules_are_clear_errors() {
        let err = |s: &str| format!("{:#}", s.parse::<TagRule>().unwrap_err());
        assert!(err("type=semver").contains("needs a pattern"));
        assert!(err("type=ref").contains("needs event="));
        assert!(err("type=ref,event=push").contains("event must be"));
        assert!(err("type=nope").contains("unknown type `nope`"));
        assert!(err("type=sha,colour=red").contains("unknown attribute `colour`"));
        assert!(err("type=raw").contains("needs a value"));
        assert!(err("type=sha,priority=high").contains("not a number"));
    }

    #[test]
    fn bad_expressions_are_clear_errors() {
        // Found when the rule is read, before any evaluation.
        let e = "type=raw,value={{nope}}".parse::<TagRule>().unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown expression `{{nope}}`"),
            "{e:#}"
        );
        let e = "type=raw,value={{date 'YYYY' tz='Asia/Tokyo'}}"
            .parse::<TagRule>()
            .unwrap_err();
        assert!(format!("{e:#}").contains("UTC"), "{e:#}");
    }

    #[test]
    fn bad_flavor_is_a_clear_error() {
        assert!(Flavor::parse(&["latest=maybe"]).is_err());
        assert!(Flavor::parse(&["colour=red"]).is_err());
        assert!(Flavor::parse(&["prefix"]).is_err());
        assert!(Flavor::parse(&["suffix=-{{date}}"]).is_err());
        assert!(Flavor::parse(&["prefix={{branch}}-"]).is_ok());
    }

    #[test]
    fn produced_tags_are_always_valid() {
        for branch in [
            "feat/ÜBER cool",
            "-dash",
            "..dots",
            "a b c",
            "renovate/@scope/pkg-1.x",
        ] {
            for tag in default_tags("push", &format!("refs/heads/{branch}")) {
                assert!(Tag::parse(&tag).is_ok(), "{tag} from {branch}");
            }
        }
    }
}
