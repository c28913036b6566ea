//! Tag rules in docker/metadata-action's `tags` and `flavor` syntax, with its semantics.
//!
//! A rule is a CSV line such as `type=ref,event=branch` or
//! `type=semver,pattern={{major}}.{{minor}}`. Rules are parsed when the config is read (a
//! [`TagRule`] is always well-formed) and evaluated against a [`GitContext`] into a
//! [`Version`]: the main tag, the other tags and whether `latest` applies. Like
//! metadata-action, rules run from the highest priority down and the first rule that
//! produces a tag decides `latest` under `flavor latest=auto`.
//!
//! Every type is supported: `schedule`, `semver` and `pep440` (with `value=` and `match=`),
//! `match` (JavaScript regular expressions, `domain/js_regex.rs`), `edge`, `ref`, `raw` and
//! `sha`. Templates support metadata-action's expressions (`{{branch}}`, `{{tag}}`, `{{sha}}`,
//! `{{base_ref}}`, `{{is_default_branch}}`, `{{is_not_default_branch}}`,
//! `{{date 'fmt' tz='Zone'}}`, `{{commit_date 'fmt' tz='Zone'}}` and, in semver and pep440
//! patterns, `{{raw}}`, `{{version}}`, `{{major}}`, `{{minor}}`, `{{patch}}`), each in the
//! templates metadata-action offers it in, with moment.js formats (`domain/moment.rs`) and
//! Handlebars' escaping of what an expression gives. One deliberate difference: an expression
//! metadata-action would render as an empty string (a typo, or one the template does not
//! offer) is an error when the rule is read. A build from uncommitted changes names its
//! commit `<sha>-dirty` wherever a rule names it (`type=sha`, `{{sha}}`), so it never takes
//! the tag of the commit's own build (docs/tagging.md).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::git::GitContext;
use crate::domain::identity;
use crate::domain::js_regex::JsRegex;
use crate::domain::moment;
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

/// Which version scheme a `semver` or `pep440` rule reads its value with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Semver,
    Pep440,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Schedule {
        pattern: String,
    },
    Version {
        scheme: Scheme,
        pattern: String,
        value: String,
        /// `match=`: the value is its first group.
        matcher: Option<JsRegex>,
    },
    Match {
        pattern: JsRegex,
        group: usize,
        value: String,
    },
    Ref {
        event: RefEvent,
    },
    Edge {
        branch: String,
    },
    Raw {
        value: String,
    },
    Sha {
        long: bool,
    },
}

impl Kind {
    fn default_priority(&self) -> i64 {
        match self {
            Kind::Schedule { .. } => 1000,
            Kind::Version { .. } => 900,
            Kind::Match { .. } => 800,
            Kind::Edge { .. } => 700,
            Kind::Ref { .. } => 600,
            Kind::Raw { .. } => 200,
            Kind::Sha { .. } => 100,
        }
    }

    /// The templates of the rule's own attributes, with the expressions each may use.
    fn templates(&self) -> Vec<(&'static str, &str, Scope)> {
        match self {
            Kind::Schedule { pattern } => vec![("pattern", pattern, Scope::Schedule)],
            Kind::Version { pattern, value, .. } => vec![
                ("pattern", pattern, Scope::Version),
                ("value", value, Scope::Global),
            ],
            Kind::Match { value, .. } => vec![("value", value, Scope::Global)],
            Kind::Raw { value } => vec![("value", value, Scope::Global)],
            Kind::Ref { .. } | Kind::Edge { .. } | Kind::Sha { .. } => Vec::new(),
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

impl TagRule {
    /// Every template of the rule with the expressions it may use.
    fn templates(&self) -> Vec<(&'static str, &str, Scope)> {
        let mut all = self.kind.templates();
        if let Some(p) = &self.prefix {
            all.push(("prefix", p, Scope::Global));
        }
        if let Some(s) = &self.suffix {
            all.push(("suffix", s, Scope::Global));
        }
        all.push(("enable", &self.enable, Scope::Global));
        all
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
    let matcher = || -> Result<Option<JsRegex>> {
        let Some(m) = take("match").filter(|m| !m.is_empty()) else {
            return Ok(None);
        };
        let regex = JsRegex::source(&m).context("match")?;
        if regex.groups() < 2 {
            bail!("match=`{m}` needs a group: the value is what its first (...) matched");
        }
        Ok(Some(regex))
    };
    let version = |scheme: Scheme| -> Result<Kind> {
        Ok(Kind::Version {
            scheme,
            pattern: take("pattern").with_context(|| {
                format!(
                    "type={} needs a pattern, e.g. pattern={{{{version}}}}",
                    kind_name.as_deref().unwrap_or_default()
                )
            })?,
            value: take("value").unwrap_or_default(),
            matcher: matcher()?,
        })
    };
    let kind = match kind_name.as_deref().unwrap_or("raw") {
        "schedule" => Kind::Schedule {
            pattern: take("pattern").unwrap_or_else(|| "nightly".into()),
        },
        "semver" => version(Scheme::Semver)?,
        "pep440" => version(Scheme::Pep440)?,
        "match" => {
            let text = take("pattern")
                .context("type=match needs a pattern, e.g. pattern=v(.*),group=1")?;
            let pattern = JsRegex::pattern(&text).context("pattern")?;
            let group = match take("group") {
                None => 0,
                Some(g) => g.parse::<usize>().with_context(|| {
                    format!("group `{g}` is not a group number (0 is the whole match)")
                })?,
            };
            Kind::Match {
                pattern,
                group,
                value: take("value").unwrap_or_default(),
            }
        }
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
        other => bail!(
            "unknown type `{other}` (expected schedule, semver, pep440, match, edge, ref, raw or sha)"
        ),
    };
    let allowed: &[&str] = match kind {
        Kind::Schedule { .. } => &["pattern"],
        Kind::Version { .. } => &["pattern", "value", "match"],
        Kind::Match { .. } => &["pattern", "group", "value"],
        Kind::Ref { .. } => &["event"],
        Kind::Edge { .. } => &["branch"],
        Kind::Raw { .. } => &["value"],
        Kind::Sha { .. } => &["format"],
    };
    for (key, _) in &attrs {
        if !["prefix", "suffix", "enable", "priority"].contains(&key.as_str())
            && !allowed.contains(&key.as_str())
        {
            bail!(
                "unknown attribute `{key}` (this type takes {})",
                allowed.join(", ")
            );
        }
    }
    let priority = match take("priority") {
        Some(p) => p
            .parse()
            .with_context(|| format!("priority `{p}` is not a whole number"))?,
        None => kind.default_priority(),
    };
    let default_prefix = match kind {
        Kind::Ref {
            event: RefEvent::Pr,
        } => Some("pr-".to_owned()),
        Kind::Sha { .. } => Some("sha-".to_owned()),
        _ => None,
    };
    let rule = TagRule {
        text: text.to_owned(),
        prefix: take("prefix").or(default_prefix),
        suffix: take("suffix"),
        enable: take("enable").unwrap_or_else(|| "true".into()),
        priority,
        kind,
    };
    // Every template is checked now, not when its rule first fires (a broken semver
    // pattern would otherwise pass every branch build and fail on the release).
    for (key, template, scope) in rule.templates() {
        check_template(template, scope).with_context(|| key.to_owned())?;
    }
    Ok(rule)
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
        check_template(&flavor.prefix, Scope::Global).context("flavor prefix")?;
        check_template(&flavor.suffix, Scope::Global).context("flavor suffix")?;
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

/// The time zones `tz='...'` names anywhere in `rules` and `flavor`, for the adapter to read
/// from the tz database before the rules are evaluated (UTC needs none).
pub fn time_zone_names<'a>(
    rules: impl IntoIterator<Item = &'a TagRule>,
    flavor: &Flavor,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut templates: Vec<&str> = vec![&flavor.prefix, &flavor.suffix];
    let rules: Vec<&TagRule> = rules.into_iter().collect();
    for rule in &rules {
        templates.extend(rule.templates().into_iter().map(|(_, t, _)| t));
    }
    for t in templates {
        // Checked when the rule was read: the expressions parse.
        let _ = render(t, |e| {
            names.extend(e.tz().filter(|z| *z != moment::UTC).map(str::to_owned));
            Ok(String::new())
        });
    }
    names
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

    /// The ref less `prefix` (`refs/heads/`, `refs/tags/`, `refs/pull/`), if it has it.
    fn git_ref(&self, prefix: &str) -> Option<&str> {
        self.ctx.git_ref.as_deref()?.strip_prefix(prefix)
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
                let value = render(pattern, |e| match e.name.as_str() {
                    "date" | "commit_date" => self.date(e),
                    other => bail!("unknown expression `{{{{{other}}}}}`"),
                })?;
                (value, false)
            }
            Kind::Version {
                scheme,
                pattern,
                value,
                matcher,
            } => {
                let Some(raw) = self.version_value(rule, value, matcher.as_ref())? else {
                    return Ok(None);
                };
                let produced = match scheme {
                    Scheme::Semver => semver_tag(rule, pattern, &raw)?,
                    Scheme::Pep440 => pep440_tag(rule, pattern, &raw)?,
                };
                let Some(produced) = produced else {
                    return Ok(None);
                };
                produced
            }
            Kind::Match {
                pattern,
                group,
                value,
            } => {
                let raw = match (value.is_empty(), self.git_ref("refs/tags/")) {
                    (false, _) => self.global(value)?,
                    (true, Some(tag)) => tag.to_owned(),
                    (true, None) => return Ok(None),
                };
                match pattern.matched(&raw, *group) {
                    Some(m) => (m.to_owned(), true),
                    None if !pattern.is_match(&raw) => {
                        eprintln!(
                            "warning: {pattern} does not match {raw}; rule `{rule}` gives no tag"
                        );
                        return Ok(None);
                    }
                    None => {
                        eprintln!("warning: group {group} does not exist for the {pattern} pattern on {raw}; rule `{rule}` gives no tag");
                        return Ok(None);
                    }
                }
            }
            Kind::Ref {
                event: RefEvent::Branch,
            } => match self.git_ref("refs/heads/") {
                Some(b) => (b.to_owned(), false),
                None => return Ok(None),
            },
            Kind::Ref {
                event: RefEvent::Tag,
            } => match self.git_ref("refs/tags/") {
                Some(t) => (t.to_owned(), true),
                None => return Ok(None),
            },
            Kind::Ref {
                event: RefEvent::Pr,
            } => match self.git_ref("refs/pull/") {
                Some(n) => (n.strip_suffix("/merge").unwrap_or(n).to_owned(), false),
                None => return Ok(None),
            },
            Kind::Edge { branch } => {
                let Some(current) = self.git_ref("refs/heads/") else {
                    return Ok(None);
                };
                let wanted = if branch.is_empty() {
                    ctx.default_branch.as_str()
                } else {
                    branch
                };
                if current != wanted {
                    return Ok(None);
                }
                ("edge".to_owned(), false)
            }
            Kind::Raw { value } => (self.global(value)?, false),
            Kind::Sha { long } => {
                if ctx.sha.is_empty() {
                    return Ok(None);
                }
                let sha = if *long {
                    ctx.sha.as_str()
                } else {
                    ctx.short_sha()
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
        if !value.is_empty() && Tag::sanitize(&value).is_none() {
            // `!!!` or `日本語`: nothing valid is left, and a bare prefix or suffix (a
            // timestamp) would be the same tag for every such branch.
            eprintln!(
                "warning: `{value}` has no character a tag may carry; rule `{rule}` gives no tag"
            );
            return Ok(None);
        }
        if value.is_empty() && prefix.is_empty() && suffix.is_empty() {
            return Ok(None);
        }
        // Over Docker's 128 characters, the value gives way: the prefix and suffix (a
        // timestamp, a `-amd64`) are what keeps the tags of one branch apart.
        let room = crate::domain::tag::MAX_TAG_LEN
            .saturating_sub(prefix.chars().count() + suffix.chars().count());
        let value: String = value.chars().take(room.max(1)).collect();
        Ok(Some((format!("{prefix}{value}{suffix}"), auto_latest)))
    }

    /// The text a semver or pep440 rule reads its version from: `value=` (rendered), else the
    /// pushed tag; narrowed to `match=`'s first group when it matches; `/` made `-`.
    fn version_value(
        &self,
        rule: &TagRule,
        value: &str,
        matcher: Option<&JsRegex>,
    ) -> Result<Option<String>> {
        let mut raw = match (value.is_empty(), self.git_ref("refs/tags/")) {
            (false, _) => self.global(value)?,
            (true, Some(tag)) => tag.to_owned(),
            (true, None) => return Ok(None),
        };
        if let Some(m) = matcher {
            if !m.is_match(&raw) {
                eprintln!("warning: {m} does not match {raw}; rule `{rule}` reads all of it");
            } else {
                raw = m
                    .matched(&raw, 1)
                    .with_context(|| format!("match={m} matched {raw} without its first group"))?
                    .to_owned();
            }
        }
        Ok(Some(raw.replace('/', "-")))
    }

    fn global(&self, template: &str) -> Result<String> {
        render(template, |expr| self.global_expr(expr))
    }

    fn global_expr(&self, e: &Expr) -> Result<String> {
        let ctx = self.ctx;
        Ok(match e.name.as_str() {
            "branch" => self.git_ref("refs/heads/").unwrap_or_default().to_owned(),
            "tag" => self.git_ref("refs/tags/").unwrap_or_default().to_owned(),
            "sha" => identity::revision(ctx.short_sha(), ctx.dirty),
            "base_ref" => ctx.base_ref.clone().unwrap_or_default(),
            "is_default_branch" => ctx.is_default_branch().to_string(),
            "is_not_default_branch" => (!ctx.is_default_branch()).to_string(),
            "commit_date" | "date" => self.date(e)?,
            other => bail!("unknown expression `{{{{{other}}}}}`"),
        })
    }

    /// `{{date ...}}` (this run's moment) or `{{commit_date ...}}` (the commit's).
    fn date(&self, e: &Expr) -> Result<String> {
        let t = if e.name == "date" {
            self.now
        } else {
            self.ctx.commit_time
        };
        let format = check_date(e)?;
        let (local, abbr) = self
            .ctx
            .time_zones
            .local(e.tz().unwrap_or(moment::UTC), t)?;
        Ok(moment::format(
            local,
            &abbr,
            format.unwrap_or(moment::default_format(local)),
        ))
    }
}

/// A semver rule's tag for the version `raw`, and its `latest=auto` vote, as node-semver and
/// metadata-action read it.
fn semver_tag(rule: &TagRule, pattern: &str, raw: &str) -> Result<Option<(String, bool)>> {
    let Some(v) = parse_semver(raw) else {
        eprintln!("warning: `{raw}` is not a valid semver; rule `{rule}` gives no tag");
        return Ok(None);
    };
    if !v.pre.is_empty() {
        // Pre-releases only ever get their own version (or `{{raw}}`), never 1.2 or 1.
        let own = if is_raw_statement(pattern) {
            escape(raw)
        } else {
            node_version(&v)
        };
        return Ok(Some((own, false)));
    }
    let tag = render(pattern, |e| {
        Ok(match e.name.as_str() {
            "raw" => raw.to_owned(),
            "version" => node_version(&v),
            "major" => v.major.to_string(),
            "minor" => v.minor.to_string(),
            "patch" => v.patch.to_string(),
            other => bail!("unknown expression `{{{{{other}}}}}`"),
        })
    })?;
    Ok(Some((tag, true)))
}

/// A pep440 rule's tag for the version `raw`: dev, pre and post releases only ever get their
/// normalized version (or `{{raw}}`); final releases the pattern, and the `latest` vote.
fn pep440_tag(rule: &TagRule, pattern: &str, raw: &str) -> Result<Option<(String, bool)>> {
    let Ok(v) = pep440_rs::Version::from_str(raw) else {
        eprintln!("warning: `{raw}` does not conform to PEP 440; rule `{rule}` gives no tag");
        return Ok(None);
    };
    if v.is_pre() || v.is_post() || v.is_dev() {
        let own = if is_raw_statement(pattern) {
            raw.to_owned()
        } else {
            v.to_string()
        };
        return Ok(Some((own, false)));
    }
    let part = |i: usize| v.release().get(i).copied().unwrap_or(0).to_string();
    let tag = render(pattern, |e| {
        Ok(match e.name.as_str() {
            "raw" => raw.to_owned(),
            "version" => v.to_string(),
            "major" => part(0),
            "minor" => part(1),
            "patch" => part(2),
            other => bail!("unknown expression `{{{{{other}}}}}`"),
        })
    })?;
    Ok(Some((tag, true)))
}

/// Whether a pattern is `{{raw}}` and nothing else (spaces inside the braces allowed).
fn is_raw_statement(pattern: &str) -> bool {
    pattern
        .strip_prefix("{{")
        .and_then(|p| p.strip_suffix("}}"))
        .is_some_and(|inner| inner.trim() == "raw")
}

/// node-semver's strict `valid`: an optional leading `v`, then semver.
fn parse_semver(s: &str) -> Option<semver::Version> {
    let s = s.trim();
    if s.len() > 256 {
        return None;
    }
    let s = s.strip_prefix('v').unwrap_or(s);
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

/// Which expressions a template may use: metadata-action renders each template with its own
/// set (a schedule pattern knows only the dates, a version pattern only the version's parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Global,
    Schedule,
    Version,
}

const GLOBAL_EXPRESSIONS: &[&str] = &[
    "branch",
    "tag",
    "sha",
    "base_ref",
    "is_default_branch",
    "is_not_default_branch",
    "commit_date",
    "date",
];
const VERSION_EXPRESSIONS: &[&str] = &["raw", "version", "major", "minor", "patch"];

/// Fails on what would fail or render empty when the template is rendered: an unclosed
/// `{{`, an expression this template does not offer, a date without its format or with an
/// attribute other than `tz`.
fn check_template(template: &str, scope: Scope) -> Result<()> {
    render(template, |e| {
        let name = e.name.as_str();
        let offered = match scope {
            Scope::Global => GLOBAL_EXPRESSIONS.contains(&name),
            Scope::Schedule => ["date", "commit_date"].contains(&name),
            Scope::Version => VERSION_EXPRESSIONS.contains(&name),
        };
        if !offered {
            let hint = match scope {
                _ if VERSION_EXPRESSIONS.contains(&name) => {
                    " (only a type=semver or type=pep440 pattern has it)"
                }
                Scope::Schedule if GLOBAL_EXPRESSIONS.contains(&name) => {
                    " (a type=schedule pattern has only {{date}} and {{commit_date}}; put it in prefix= or suffix=)"
                }
                Scope::Version if GLOBAL_EXPRESSIONS.contains(&name) => {
                    " (a version pattern has only raw, version, major, minor and patch; put it in prefix= or suffix=)"
                }
                _ => "",
            };
            bail!("unknown expression `{{{{{name}}}}}`{hint}");
        }
        if name.ends_with("date") {
            check_date(e)?;
        }
        Ok(String::new())
    })
    .map(|_| ())
}

/// The format a `{{date}}`/`{{commit_date}}` gives (`None`: moment's default, as an unquoted
/// format is a Handlebars variable that is not there), or why it cannot render.
fn check_date(e: &Expr) -> Result<Option<&str>> {
    for (key, _) in &e.hash {
        if key != "tz" {
            bail!("unknown attribute `{key}` for {} (only tz= is)", e.name);
        }
    }
    match e.args.as_slice() {
        [] => bail!(
            "{} needs a format, e.g. {{{{{} 'YYYYMMDD'}}}}",
            e.name,
            e.name
        ),
        [Arg::Quoted(f)] => Ok(Some(f)),
        [Arg::Path] => Ok(None),
        _ => bail!(
            "{} takes one format, e.g. {{{{{} 'YYYYMMDD'}}}}",
            e.name,
            e.name
        ),
    }
}

/// An argument of an expression: `'text'`, or a bare word Handlebars would look up (and, in
/// these templates, never find).
#[derive(Debug)]
enum Arg {
    Quoted(String),
    Path,
}

/// One `{{name 'arg' key='value'}}` expression.
#[derive(Debug)]
struct Expr {
    name: String,
    args: Vec<Arg>,
    hash: Vec<(String, String)>,
}

impl Expr {
    /// The zone `tz='...'` names, if any.
    fn tz(&self) -> Option<&str> {
        self.hash
            .iter()
            .rev()
            .find(|(k, _)| k == "tz")
            .map(|(_, v)| v.as_str())
    }
}

/// Handlebars' escaping of what `{{...}}` gives: `&<>"'`=` become entities (and so, in a
/// tag, runs of `-` around their names).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '`' => out.push_str("&#x60;"),
            '=' => out.push_str("&#x3D;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders `template`, each expression by `eval` and escaped as Handlebars escapes it.
fn render(template: &str, mut eval: impl FnMut(&Expr) -> Result<String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("`{{{{` without `}}}}` in `{template}`"))?;
        out.push_str(&escape(&eval(&parse_expr(&after[..end])?)?));
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
    let quoted = |t: &str| -> Result<Option<String>> {
        let Some(q) = t.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            return Ok(None);
        };
        t.strip_prefix(q)
            .and_then(|t| t.strip_suffix(q))
            .map(|t| Some(t.to_owned()))
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
                let v = quoted(v)?
                    .with_context(|| format!("`{k}={v}` must be quoted, e.g. {k}='{v}'"))?;
                expr.hash.push((k.to_owned(), v))
            }
            _ => expr.args.push(match quoted(&t)? {
                Some(q) => Arg::Quoted(q),
                None => Arg::Path,
            }),
        }
    }
    Ok(expr)
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
            (
                "type=raw,value={{major}}",
                "only a type=semver or type=pep440 pattern",
            ),
            ("type=ref,event=branch,suffix=-{{date}}", "needs a format"),
            (
                "type=ref,event=branch,prefix={{commit_date 'YYYY' zone='Europe/Paris'}}-",
                "only tz=",
            ),
            (
                "type=raw,value={{date 'YYYY' tz=Asia/Tokyo}}",
                "must be quoted",
            ),
            (
                "type=schedule,pattern=nightly-{{branch}}",
                "only {{date}} and {{commit_date}}",
            ),
            (
                "type=semver,pattern={{major}}-{{sha}}",
                "only raw, version, major",
            ),
            (
                "type=pep440,pattern={{version}},match=v\\d",
                "needs a group",
            ),
            ("type=match,pattern=v(?=1)", "look-ahead"),
            ("type=match,pattern=v(.*),group=one", "not a group number"),
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
        let f = |fmt: &str| moment::format(t, "UTC", fmt);
        assert_eq!(f("YYYYMMDD-HHmmss"), "20260102-030405");
        assert_eq!(f("YY.M.D H:m:s SSS"), "26.1.2 3:4:5 678");
        assert_eq!(f("[week]YYYY"), "week2026");
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
        assert!(err("type=sha,priority=high").contains("not a whole number"));
        assert!(err("type=match").contains("needs a pattern"));
        assert!(err("type=pep440").contains("needs a pattern"));
    }

    #[test]
    fn bad_expressions_are_clear_errors() {
        // Found when the rule is read, before any evaluation.
        let e = "type=raw,value={{nope}}".parse::<TagRule>().unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown expression `{{nope}}`"),
            "{e:#}"
        );
        let e = "type=raw,value={{date 'YYYY' 'MM'}}"
            .parse::<TagRule>()
            .unwrap_err();
        assert!(format!("{e:#}").contains("takes one format"), "{e:#}");
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

    /// One case of docker/metadata-action's own tests (`__tests__/meta.test.ts`, named as
    /// there), with its inputs as GitHub sets them: the event, the ref (pull_request_target's
    /// already the pull request's, as adapters/git.rs makes it), the commit (the pull request
    /// head's in the `head-` cases, run with DOCKER_METADATA_PR_HEAD_SHA=true) and the
    /// payload's base ref. The default branch is `master`; the run and the commit are both at
    /// 2020-01-10T00:30:00Z. `want` is metadata-action's version: main, [others], latest.
    struct Row {
        name: &'static str,
        event: &'static str,
        git_ref: &'static str,
        sha: &'static str,
        base_ref: &'static str,
        rules: &'static [&'static str],
        flavor: &'static [&'static str],
        want: &'static str,
    }

    #[rustfmt::skip]
    const METADATA_ACTION: &[Row] = &[
        Row { name: "null01", event: "", git_ref: "", sha: "", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "- [] false" },
        Row { name: "null02", event: "", git_ref: "", sha: "", base_ref: "",
              rules: &[r#"type=sha"#, r#"type=raw,{{branch}}"#],
              flavor: &[],
              want: "- [] false" },
        Row { name: "push01", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "dev [] false" },
        Row { name: "push02", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=edge"#],
              flavor: &[],
              want: "edge [] false" },
        Row { name: "push03", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "master [] false" },
        Row { name: "push04", event: "workflow_dispatch", git_ref: "refs/heads/master", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=edge"#],
              flavor: &[],
              want: "edge [] false" },
        Row { name: "push07", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,event=branch"#, r#"type=sha"#],
              flavor: &[],
              want: "dev [sha-860c190] false" },
        Row { name: "push08", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=edge"#, r#"type=sha"#],
              flavor: &[],
              want: "edge [sha-2665741] false" },
        Row { name: "push09", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=edge,branch=dev"#, r#"type=sha"#],
              flavor: &[],
              want: "edge [sha-860c190] false" },
        Row { name: "push10", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=edge,branch=dev"#, r#"type=sha"#],
              flavor: &[],
              want: "sha-2665741 [] false" },
        Row { name: "push11", event: "push", git_ref: "refs/heads/my/feature#1245", sha: "983315b5e8d46e46fc4c49869e85e7ee5fb289ba", base_ref: "",
              rules: &[r#"type=edge"#, r#"type=sha"#],
              flavor: &[],
              want: "sha-983315b [] false" },
        Row { name: "push12", event: "push", git_ref: "refs/heads/my/feature#1245", sha: "983315b5e8d46e46fc4c49869e85e7ee5fb289ba", base_ref: "",
              rules: &[r#"type=semver,pattern={{version}}"#, r#"type=pep440,pattern={{version}}"#, r#"type=edge"#],
              flavor: &[],
              want: "- [] false" },
        Row { name: "push13", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=ref,priority=2000,event=branch"#, r#"type=edge"#],
              flavor: &[],
              want: "master [edge] false" },
        Row { name: "push14", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=semver,pattern={{version}},value=v1.2.3"#, r#"type=pep440,pattern={{version}},value=v1.2.3"#, r#"type=edge"#],
              flavor: &[],
              want: "1.2.3 [edge] true" },
        Row { name: "push15", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=match,pattern=v(.*),group=1,value=v1.2.3"#, r#"type=edge"#],
              flavor: &[],
              want: "1.2.3 [edge] true" },
        Row { name: "push16", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=match,enable=false,pattern=v(.*),group=1,value=v1.2.3"#, r#"type=edge"#],
              flavor: &[],
              want: "edge [] false" },
        Row { name: "push17", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=raw,value=mytag-{{branch}}"#, r#"type=raw,value=mytag-{{date 'YYYYMMDD'}}"#, r#"type=raw,value=mytag-cd-{{commit_date 'YYYYMMDD'}}"#, r#"type=raw,value=mytag-{{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}"#, r#"type=raw,value=mytag-tag-{{tag}}"#, r#"type=raw,value=mytag-baseref-{{base_ref}}"#, r#"type=raw,value=mytag-defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "mytag-master [mytag-20200110 mytag-cd-20200110 mytag-20200110-093000 mytag-tag- mytag-baseref- mytag-defbranch] false" },
        Row { name: "push18", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,event=branch"#, r#"type=sha,format=long"#],
              flavor: &[],
              want: "dev [sha-860c1904a1ce19322e91ac35af1ab07466440c37] false" },
        Row { name: "push19", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=edge,branch=master"#, r#"type=ref,event=branch,enable=false"#, r#"type=sha,format=long"#, r#"type=raw,value=defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "sha-860c1904a1ce19322e91ac35af1ab07466440c37 [] false" },
        Row { name: "push20", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=edge,branch=master"#, r#"type=ref,event=branch,enable=false"#, r#"type=sha,format=long"#],
              flavor: &[],
              want: "sha-860c1904a1ce19322e91ac35af1ab07466440c37 [] false" },
        Row { name: "push21", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=raw,value=mytag-{{branch}}"#, r#"type=raw,value=mytag-{{date 'YYYYMMDD'}}"#, r#"type=raw,value=mytag-{{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}"#, r#"type=raw,value=mytag-src-{{commit_date 'YYYYMMDD'}}"#, r#"type=raw,value=mytag-tag-{{tag}}"#, r#"type=raw,value=mytag-baseref-{{base_ref}}"#, r#"type=raw,value=mytag-defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "mytag-master [mytag-20200110 mytag-20200110-093000 mytag-src-20200110 mytag-tag- mytag-baseref- mytag-defbranch] false" },
        Row { name: "push22", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=edge,branch=master"#, r#"type=sha,format=long"#, r#"type=raw,value=notdefbranch,enable={{is_not_default_branch}}"#],
              flavor: &[],
              want: "notdefbranch [sha-860c1904a1ce19322e91ac35af1ab07466440c37] false" },
        Row { name: "tag01", event: "push", git_ref: "refs/tags/release1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "release1 [] true" },
        Row { name: "tag02", event: "push", git_ref: "refs/tags/20200110-RC2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "20200110-RC2 [] true" },
        Row { name: "tag03", event: "push", git_ref: "refs/tags/20200110-RC2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,pattern=\d{8}"#],
              flavor: &[r#"latest=false"#],
              want: "20200110 [] false" },
        Row { name: "tag04", event: "push", git_ref: "refs/tags/20200110-RC2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,pattern=(.*)-RC,group=1"#],
              flavor: &[r#"latest=false"#],
              want: "20200110 [] false" },
        Row { name: "tag05", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=match,"pattern=\d.\d.\d""#],
              flavor: &[],
              want: "1.1.1 [] true" },
        Row { name: "tag06", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=match,"pattern=^v(\d.\d.\d)$",group=1"#],
              flavor: &[],
              want: "1.1.1 [] true" },
        Row { name: "tag07", event: "push", git_ref: "refs/tags/v2.0.8-beta.67", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,"pattern=\d.\d.\d-(alpha|beta).\d+""#],
              flavor: &[],
              want: "2.0.8-beta.67 [] true" },
        Row { name: "tag08", event: "push", git_ref: "refs/tags/v2.0.8-beta.67", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,"pattern=\d.\d""#],
              flavor: &[],
              want: "2.0 [] true" },
        Row { name: "tag09", event: "push", git_ref: "refs/tags/v2.0.8-beta.67", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,"pattern=v(.*)-beta.(.*)",group=1"#, r#"type=match,"pattern=v(.*)-beta.(.*)",group=2"#],
              flavor: &[],
              want: "2.0.8 [67] true" },
        Row { name: "tag10", event: "push", git_ref: "refs/tags/sometag", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,"pattern=\d.\d""#],
              flavor: &[],
              want: "- [] false" },
        Row { name: "tag11", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=semver,pattern={{version}}"#, r#"type=semver,pattern={{major}}.{{minor}}"#, r#"type=semver,pattern={{major}}"#],
              flavor: &[],
              want: "1.1.1 [1.1 1] true" },
        Row { name: "tag12", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=semver,pattern={{version}}"#, r#"type=semver,pattern={{major}}.{{minor}}.{{patch}}"#],
              flavor: &[],
              want: "1.1.1 [] true" },
        Row { name: "tag13", event: "push", git_ref: "refs/tags/v2.0.8-beta.67", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=semver,pattern={{major}}.{{minor}}"#, r#"type=semver,pattern={{major}}"#],
              flavor: &[],
              want: "2.0.8-beta.67 [] false" },
        Row { name: "tag14", event: "push", git_ref: "refs/tags/sometag", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,event=tag"#, r#"type=semver,pattern={{version}}"#, r#"type=semver,pattern={{major}}.{{minor}}"#, r#"type=semver,pattern={{major}}"#],
              flavor: &[r#"latest=false"#],
              want: "sometag [] false" },
        Row { name: "tag15", event: "push", git_ref: "refs/tags/v2.0.8-beta.67", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=raw,priority=2000,foo"#, r#"type=semver,pattern={{version}}"#, r#"type=match,"pattern=\d.\d""#],
              flavor: &[],
              want: "foo [2.0.8-beta.67 2.0] false" },
        Row { name: "tag16", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=raw,priority=2000,foo"#, r#"type=ref,event=tag"#, r#"type=edge"#],
              flavor: &[],
              want: "foo [v1.1.1] false" },
        Row { name: "tag17", event: "push", git_ref: "refs/tags/p1/v1.0.0", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,"pattern=/^v(\d.\d.\d)$/ig",group=1"#, r#"type=match,pattern=\d.\d.\d"#, r#"type=match,pattern=\d.\d"#, r#"type=ref,event=pr"#, r#"type=sha"#],
              flavor: &[],
              want: "1.0.0 [1.0 sha-860c190] true" },
        Row { name: "tag18", event: "push", git_ref: "refs/tags/p1/v1.0.0", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,pattern=p1/v(\d.\d.\d),group=1"#, r#"type=match,pattern=p1/v(\d.\d),group=1"#, r#"type=match,pattern=p1/v(\d.\d),group=3"#, r#"type=ref,event=pr"#, r#"type=sha"#],
              flavor: &[],
              want: "1.0.0 [1.0 sha-860c190] true" },
        Row { name: "tag19", event: "push", git_ref: "refs/tags/p1/v1.0.0", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,pattern=p1/v(\d.\d.\d),group=1"#, r#"type=match,pattern=p1/v(\d.\d),group=1,suffix="#, r#"type=ref,event=pr"#, r#"type=sha"#],
              flavor: &[r#"suffix=-dev"#],
              want: "1.0.0-dev [1.0 sha-860c190-dev] true" },
        Row { name: "tag20", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=raw,{{tag}}-{{sha}}-foo"#, r#"type=raw,{{base_ref}}-foo"#, r#"type=raw,defbranch-foo,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "v1.1.1-860c190-foo [master-foo] false" },
        Row { name: "tag21", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=semver,pattern={{version}}"#, r#"type=semver,pattern={{major}}.{{minor}}.{{patch}}"#],
              flavor: &[r#"suffix=-dev,onlatest=true"#],
              want: "1.1.1-dev [] true" },
        Row { name: "tag22", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=semver,pattern={{version}}"#, r#"type=semver,pattern={{major}}.{{minor}}.{{patch}}"#],
              flavor: &[r#"prefix=foo-,onlatest=true"#, r#"suffix=-dev,onlatest=true"#],
              want: "foo-1.1.1-dev [] true" },
        Row { name: "tag23", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=pep440,pattern={{raw}}"#, r#"type=pep440,pattern={{major}}.{{minor}}"#],
              flavor: &[],
              want: "v1.1.1 [1.1] true" },
        Row { name: "tag24", event: "push", git_ref: "refs/tags/1.2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=pep440,pattern={{version}}"#, r#"type=pep440,pattern={{major}}.{{minor}}"#],
              flavor: &[],
              want: "1.2 [] true" },
        Row { name: "tag25", event: "push", git_ref: "refs/tags/1.1beta2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=pep440,pattern={{major}}.{{minor}}"#, r#"type=pep440,pattern={{major}}"#],
              flavor: &[],
              want: "1.1b2 [] false" },
        Row { name: "tag26", event: "push", git_ref: "refs/tags/1.0dev4", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=pep440,pattern={{major}}.{{minor}}"#, r#"type=pep440,pattern={{major}}"#],
              flavor: &[],
              want: "1.0.dev4 [] false" },
        Row { name: "tag27", event: "push", git_ref: "refs/tags/1.2.3rc2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=pep440,pattern={{raw}}"#, r#"type=pep440,pattern={{version}}"#, r#"type=pep440,pattern={{major}}.{{minor}}"#, r#"type=pep440,pattern={{major}}"#],
              flavor: &[],
              want: "1.2.3rc2 [] false" },
        Row { name: "tag28", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=pep440,pattern={{version}}"#, r#"type=pep440,pattern={{major}}.{{minor}}.{{patch}}"#, r#"type=pep440,pattern={{major}}.{{minor}}"#, r#"type=pep440,pattern={{major}}"#],
              flavor: &[],
              want: "1.1.1 [1.1 1] true" },
        Row { name: "tag29", event: "push", git_ref: "refs/tags/1.2post1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=pep440,pattern={{version}}"#, r#"type=pep440,pattern={{major}}.{{minor}}"#, r#"type=pep440,pattern={{major}}"#],
              flavor: &[],
              want: "1.2.post1 [] false" },
        Row { name: "tag30", event: "push", git_ref: "refs/tags/sometag", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,event=tag"#, r#"type=pep440,pattern={{version}}"#, r#"type=pep440,pattern={{major}}.{{minor}}"#, r#"type=pep440,pattern={{major}}"#],
              flavor: &[r#"latest=false"#],
              want: "sometag [] false" },
        Row { name: "tag31", event: "push", git_ref: "refs/tags/v2.0.8-beta.67", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=semver,pattern={{raw}}"#],
              flavor: &[],
              want: "v2.0.8-beta.67 [] false" },
        Row { name: "tag32", event: "push", git_ref: "refs/tags/v1.2.3rc2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=pep440,pattern={{raw}}"#, r#"type=pep440,pattern={{major}}.{{minor}}"#],
              flavor: &[],
              want: "v1.2.3rc2 [1.2.3rc2] false" },
        Row { name: "tag34", event: "push", git_ref: "refs/tags/p1/v1.0.0", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=semver,pattern={{version}},"match=v(\d.\d.\d)$""#],
              flavor: &[],
              want: "1.0.0 [] true" },
        Row { name: "push35", event: "push", git_ref: "refs/heads/master", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "",
              rules: &[r#"type=semver,pattern={{version}},value=p1/v1.2.3,"match=v(\d.\d.\d)$""#, r#"type=pep440,pattern={{version}},value=p1/v1.2.3,"match=v(\d.\d.\d)$""#, r#"type=edge"#],
              flavor: &[],
              want: "1.2.3 [edge] true" },
        Row { name: "latest01", event: "push", git_ref: "refs/tags/release1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,"pattern=^release\d{1,2}""#],
              flavor: &[],
              want: "release1 [] true" },
        Row { name: "latest02", event: "push", git_ref: "refs/tags/20200110-RC2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,"pattern=^\d+-RC\d{1,2}""#],
              flavor: &[],
              want: "20200110-RC2 [] true" },
        Row { name: "latest03", event: "push", git_ref: "refs/tags/20200110-RC2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,pattern=\d{8}"#],
              flavor: &[],
              want: "20200110 [] true" },
        Row { name: "latest05", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "v1.1.1 [] true" },
        Row { name: "latest06", event: "push", git_ref: "refs/tags/v2.0.8-beta.67", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,"pattern=\d.\d.\d""#],
              flavor: &[],
              want: "2.0.8 [] true" },
        Row { name: "latest07", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=ref,event=tag"#],
              flavor: &[r#"latest=false"#],
              want: "v1.1.1 [] false" },
        Row { name: "pr01", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "a9c8c5828b91be19d9728548b24759e352367ef1", base_ref: "master",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "pr-15 [] false" },
        Row { name: "pr03", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "a9c8c5828b91be19d9728548b24759e352367ef1", base_ref: "master",
              rules: &[r#"type=ref,event=pr"#, r#"type=sha"#],
              flavor: &[],
              want: "pr-15 [sha-a9c8c58] false" },
        Row { name: "pr04", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "a9c8c5828b91be19d9728548b24759e352367ef1", base_ref: "master",
              rules: &[r#"type=sha,priority=2000"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "sha-a9c8c58 [pr-15] false" },
        Row { name: "pr05", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "a9c8c5828b91be19d9728548b24759e352367ef1", base_ref: "master",
              rules: &[r#"type=ref,event=pr"#],
              flavor: &[r#"prefix=glo-"#, r#"suffix=-bal"#],
              want: "pr-15-bal [] false" },
        Row { name: "pr06", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "a9c8c5828b91be19d9728548b24759e352367ef1", base_ref: "master",
              rules: &[r#"type=ref,event=pr,prefix="#],
              flavor: &[r#"prefix=glo-"#, r#"suffix=-bal"#],
              want: "15-bal [] false" },
        Row { name: "pr07", event: "pull_request_target", git_ref: "refs/pull/15/merge", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "master",
              rules: &[r#"type=sha,priority=2000"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "sha-2665741 [pr-15] false" },
        Row { name: "pr08", event: "pull_request_target", git_ref: "refs/pull/15/merge", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "master",
              rules: &[r#"type=ref,event=pr,prefix="#],
              flavor: &[r#"prefix=glo-"#, r#"suffix=-bal"#],
              want: "15-bal [] false" },
        Row { name: "pr09", event: "pull_request_target", git_ref: "refs/pull/15/merge", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "master",
              rules: &[r#"type=ref,event=tag"#, r#"type=ref,event=pr"#, r#"type=ref,event=branch"#, r#"type=sha"#, r#"type=sha,format=long"#],
              flavor: &[],
              want: "pr-15 [sha-2665741 sha-266574110acf203503badf966df2ea24b5d732d7] false" },
        Row { name: "pr10", event: "pull_request_target", git_ref: "refs/pull/15/merge", sha: "266574110acf203503badf966df2ea24b5d732d7", base_ref: "master",
              rules: &[r#"type=raw,value=mytag-{{base_ref}}"#, r#"type=raw,mytag-defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "mytag-master [] false" },
        Row { name: "pr11", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "a9c8c5828b91be19d9728548b24759e352367ef1", base_ref: "master",
              rules: &[r#"type=raw,value=mytag-{{base_ref}}"#, r#"type=raw,mytag-defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "mytag-master [] false" },
        Row { name: "pr12", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "a9c8c5828b91be19d9728548b24759e352367ef1", base_ref: "master",
              rules: &[r#"type=raw,value={{commit_date YYYY-MM-DD-HHmmSS}}"#],
              flavor: &[],
              want: "2020-01-10T00-30-00Z [] false" },
        Row { name: "head-pr01", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "pr-15 [] false" },
        Row { name: "head-pr03", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=ref,event=pr"#, r#"type=sha"#],
              flavor: &[],
              want: "pr-15 [sha-3370e22] false" },
        Row { name: "head-pr04", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=sha,priority=2000"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "sha-3370e22 [pr-15] false" },
        Row { name: "head-pr05", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=ref,event=pr"#],
              flavor: &[r#"prefix=glo-"#, r#"suffix=-bal"#],
              want: "pr-15-bal [] false" },
        Row { name: "head-pr06", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=ref,event=pr,prefix="#],
              flavor: &[r#"prefix=glo-"#, r#"suffix=-bal"#],
              want: "15-bal [] false" },
        Row { name: "head-pr07", event: "pull_request_target", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=sha,priority=2000"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "sha-3370e22 [pr-15] false" },
        Row { name: "head-pr08", event: "pull_request_target", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=ref,event=pr,prefix="#],
              flavor: &[r#"prefix=glo-"#, r#"suffix=-bal"#],
              want: "15-bal [] false" },
        Row { name: "head-pr09", event: "pull_request_target", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=ref,event=tag"#, r#"type=ref,event=pr"#, r#"type=ref,event=branch"#, r#"type=sha"#, r#"type=sha,format=long"#],
              flavor: &[],
              want: "pr-15 [sha-3370e22 sha-3370e228f2209994d57af4427fe64e71bb79ac96] false" },
        Row { name: "head-pr10", event: "pull_request_target", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=raw,value=mytag-{{base_ref}}"#, r#"type=raw,mytag-defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "mytag-master [] false" },
        Row { name: "head-pr11", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=raw,value=mytag-{{base_ref}}"#, r#"type=raw,mytag-defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "mytag-master [] false" },
        Row { name: "head-pr12", event: "pull_request", git_ref: "refs/pull/15/merge", sha: "3370e228f2209994d57af4427fe64e71bb79ac96", base_ref: "master",
              rules: &[r#"type=raw,value=src-{{commit_date YYYY-MM-DD}}"#],
              flavor: &[],
              want: "src-2020-01-10T00-30-00Z [] false" },
        Row { name: "schedule01", event: "schedule", git_ref: "refs/heads/master", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "nightly [master] false" },
        Row { name: "schedule02", event: "schedule", git_ref: "refs/heads/master", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule,pattern={{date 'YYYYMMDD'}}"#, r#"type=schedule,pattern=source-date-{{commit_date 'YYYY-MM-DD'}}"#],
              flavor: &[],
              want: "20200110 [source-date-2020-01-10] false" },
        Row { name: "schedule03", event: "schedule", git_ref: "refs/heads/master", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule,pattern={{date 'YYYYMMDD-HHmmss'}}"#],
              flavor: &[],
              want: "20200110-003000 [] false" },
        Row { name: "schedule05", event: "schedule", git_ref: "refs/heads/master", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=sha"#],
              flavor: &[],
              want: "nightly [sha-860c190] false" },
        Row { name: "schedule06", event: "schedule", git_ref: "refs/heads/master", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=sha,priority=2000"#, r#"type=raw,value=defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "sha-860c190 [nightly defbranch] false" },
        Row { name: "schedule07", event: "schedule", git_ref: "refs/heads/master", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule"#],
              flavor: &[r#"prefix=glo-"#, r#"suffix=-bal"#],
              want: "glo-nightly-bal [] false" },
        Row { name: "schedule08", event: "schedule", git_ref: "refs/heads/master", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule,pattern={{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}"#, r#"type=schedule,pattern=src-{{commit_date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}"#],
              flavor: &[],
              want: "20200110-093000 [src-20200110-093000] false" },
        Row { name: "release01", event: "release", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=schedule"#, r#"type=ref,event=branch"#, r#"type=ref,event=tag"#, r#"type=ref,event=pr"#],
              flavor: &[],
              want: "v1.1.1 [] true" },
        Row { name: "release02", event: "release", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,event=tag"#, r#"type=raw,value=baseref-{{base_ref}}"#, r#"type=raw,value=defbranch,enable={{is_default_branch}}"#],
              flavor: &[],
              want: "v1.1.1 [baseref-] true" },
        Row { name: "release03", event: "release", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=raw,value=src-{{commit_date 'YYYYMMDD-HHmmss'}}"#, r#"type=raw,value={{date 'YYYYMMDD-HHmmss'}}"#],
              flavor: &[],
              want: "src-20200110-003000 [20200110-003000] false" },
        Row { name: "raw01", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,event=branch"#, r#"type=raw,my"#, r#"type=raw,custom"#, r#"type=raw,tags"#],
              flavor: &[],
              want: "dev [my custom tags] false" },
        Row { name: "raw02", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,event=branch"#, r#"type=raw,my"#],
              flavor: &[],
              want: "dev [my] false" },
        Row { name: "raw03", event: "push", git_ref: "refs/tags/release1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,event=tag"#, r#"type=raw,my"#, r#"type=raw,custom"#, r#"type=raw,tags"#],
              flavor: &[],
              want: "release1 [my custom tags] true" },
        Row { name: "raw04", event: "push", git_ref: "refs/tags/20200110-RC2", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,pattern=\d{8}"#, r#"type=raw,my"#, r#"type=raw,custom"#, r#"type=raw,tags"#],
              flavor: &[r#"latest=false"#],
              want: "20200110 [my custom tags] false" },
        Row { name: "raw05", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=semver,pattern={{version}}"#, r#"type=semver,pattern={{major}}.{{minor}}"#, r#"type=semver,pattern={{major}}"#, r#"type=raw,my"#, r#"type=raw,custom"#, r#"type=raw,tags"#],
              flavor: &[],
              want: "1.1.1 [1.1 1 my custom tags] true" },
        Row { name: "raw06", event: "push", git_ref: "refs/tags/v1.1.1", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "master",
              rules: &[r#"type=raw,my"#, r#"type=raw,custom"#, r#"type=raw,tags"#],
              flavor: &[],
              want: "my [custom tags] false" },
        Row { name: "raw07", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=ref,priority=90,event=branch"#, r#"type=raw,my"#, r#"type=raw,custom"#, r#"type=raw,tags"#],
              flavor: &[r#"latest=true"#],
              want: "my [custom tags dev] true" },
        Row { name: "raw08", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,pattern=\d{8}"#, r#"type=raw,my"#, r#"type=raw,custom"#, r#"type=raw,tags"#],
              flavor: &[r#"latest=false"#],
              want: "my [custom tags] false" },
        Row { name: "raw09", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=match,pattern=\d{8}"#, r#"type=raw,my,prefix=foo-,suffix=-bar"#, r#"type=raw,custom"#, r#"type=raw,tags"#],
              flavor: &[r#"latest=false"#, r#"prefix=glo-"#, r#"suffix=-bal"#],
              want: "foo-my-bar [glo-custom-bal glo-tags-bal] false" },
        Row { name: "raw10", event: "push", git_ref: "refs/heads/dev", sha: "860c1904a1ce19322e91ac35af1ab07466440c37", base_ref: "",
              rules: &[r#"type=raw,foo"#, r#"type=raw,bar,enable=false"#, r#"type=raw,baz,enable=true"#],
              flavor: &[r#"latest=false"#],
              want: "foo [baz] false" },

    ];

    /// What the rules give for `row`, as `main [others] latest` (`-`: no main version).
    fn version_line(row: &Row) -> Result<String> {
        let mut ctx = ctx(row.event, row.git_ref);
        ctx.sha = row.sha.to_owned();
        ctx.default_branch = "master".into();
        ctx.base_ref = Some(row.base_ref.to_owned()).filter(|b| !b.is_empty());
        ctx.commit_time = datetime!(2020-01-10 00:30:00 UTC);
        ctx.time_zones.insert(
            "Asia/Tokyo",
            tz::TimeZone::from_tz_data(&moment::tzif("JST-9")).unwrap(),
        );
        let rules = row
            .rules
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<TagRule>>>()?;
        let flavor = Flavor::parse(row.flavor)?;
        let v = Evaluation {
            ctx: &ctx,
            flavor: &flavor,
            now: datetime!(2020-01-10 00:30:00 UTC),
        }
        .version(&rules)?;
        let partial: Vec<&str> = v.partial.iter().map(|t| t.as_str()).collect();
        Ok(format!(
            "{} [{}] {}",
            v.main.as_ref().map_or("-", |t| t.as_str()),
            partial.join(" "),
            v.latest
        ))
    }

    #[test]
    fn metadata_actions_behaviour_per_rule_type_and_event() {
        let mut wrong = Vec::new();
        for row in METADATA_ACTION {
            match version_line(row) {
                Ok(got) if got == row.want => {}
                Ok(got) => wrong.push(format!(
                    "{}: got `{got}`, metadata-action `{}`",
                    row.name, row.want
                )),
                Err(e) => wrong.push(format!("{}: {e:#}", row.name)),
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} cases differ:\n{}",
            wrong.len(),
            METADATA_ACTION.len(),
            wrong.join("\n")
        );
        // Every event of the issue's list is in the table.
        for event in [
            "push",
            "pull_request",
            "pull_request_target",
            "schedule",
            "workflow_dispatch",
            "release",
            "",
        ] {
            assert!(
                METADATA_ACTION.iter().any(|r| r.event == event),
                "{event:?}"
            );
        }
    }

    /// The examples of metadata-action's README tables, one rule each on a tag push.
    #[test]
    fn readme_tables_of_semver_pep440_and_match() {
        let table = [
            ("v1.2.3", "type=semver,pattern={{minor}}", "2"),
            ("v1.2.3", "type=semver,pattern={{patch}}", "3"),
            ("v1.2.3", "type=semver,pattern=v{{major}}", "v1"),
            (
                "p1/v1.2.3",
                r"type=semver,pattern={{version}},match=v(\d.\d.\d)$",
                "1.2.3",
            ),
            (
                "v2.0.8-beta.67",
                "type=semver,pattern={{major}}",
                "2.0.8-beta.67",
            ),
            ("1.2.3", "type=pep440,pattern={{raw}}", "1.2.3"),
            ("v1.2.3", "type=pep440,pattern={{version}}", "1.2.3"),
            ("1.2.3", "type=pep440,pattern=v{{major}}", "v1"),
            ("v1.2.3rc2", "type=pep440,pattern={{raw}}", "v1.2.3rc2"),
            (
                "1.2.3rc2",
                "type=pep440,pattern={{major}}.{{minor}}",
                "1.2.3rc2",
            ),
            (
                "1.2.3post1",
                "type=pep440,pattern={{major}}.{{minor}}",
                "1.2.3.post1",
            ),
            (
                "1.2.3beta2",
                "type=pep440,pattern={{major}}.{{minor}}",
                "1.2.3b2",
            ),
            (
                "1.0dev4",
                "type=pep440,pattern={{major}}.{{minor}}",
                "1.0.dev4",
            ),
            (
                "1.2",
                "type=pep440,pattern={{major}}.{{minor}}.{{patch}}",
                "1.2.0",
            ),
            (
                "p1/v1.2.3",
                r"type=pep440,pattern={{version}},match=v(\d.\d.\d)$",
                "1.2.3",
            ),
            ("v1.2.3", r"type=match,pattern=\d.\d.\d", "1.2.3"),
            (
                "v2.0.8-beta.67",
                "type=match,pattern=v(.*),group=1",
                "2.0.8-beta.67",
            ),
            (
                "v2.0.8-beta.67",
                r"type=match,pattern=v(\d.\d),group=1",
                "2.0",
            ),
            ("20200110-RC2", r"type=match,pattern=\d+", "20200110"),
            (
                "p1/v1.2.3",
                r"type=match,pattern=p1/v(\d.\d.\d),group=1",
                "1.2.3",
            ),
        ];
        for (tag, rule, want) in table {
            let c = ctx("push", &format!("refs/tags/{tag}"));
            let tags = tags_with(&[rule], &["latest=false"], &c);
            assert_eq!(tags, [want], "{rule} on {tag}");
        }
    }

    #[test]
    fn expression_output_is_escaped_as_handlebars_escapes_it() {
        // A branch may carry `&`: the template gives `a&amp;b`, the ref rule the name itself.
        let c = ctx("push", "refs/heads/a&b");
        assert_eq!(
            tags_with(
                &["type=raw,value={{branch}}", "type=ref,event=branch"],
                &[],
                &c
            ),
            ["a-b", "a-amp-b"]
        );
    }

    #[test]
    fn an_empty_value_still_gives_its_prefix_and_suffix() {
        // metadata-action keeps `x-` when `{{branch}}` is empty on a tag push.
        let c = ctx("push", "refs/tags/v1");
        assert_eq!(
            tags_with(
                &[
                    "type=raw,value={{branch}},prefix=x-",
                    "type=raw,value={{branch}}"
                ],
                &[],
                &c
            ),
            ["x-"]
        );
    }

    #[test]
    fn short_sha_length_applies_to_every_spelling_of_the_commit() {
        let mut c = ctx("push", "refs/heads/dev");
        c.short_sha_len = 12;
        assert_eq!(
            tags_with(&["type=sha", "type=raw,value=git-{{sha}}"], &[], &c),
            ["git-860c1904a1ce", "sha-860c1904a1ce"]
        );
        c.dirty = true;
        assert_eq!(
            tags_with(&["type=sha"], &[], &c),
            ["sha-860c1904a1ce-dirty"]
        );
    }

    #[test]
    fn is_default_branch_follows_the_event_as_metadata_action_does() {
        let rules = [
            "type=raw,value=def,enable={{is_default_branch}}",
            "type=raw,value=not,enable={{is_not_default_branch}}",
        ];
        for (event, git_ref, want) in [
            ("push", "refs/heads/main", "def"),
            ("push", "refs/heads/dev", "not"),
            ("push", "refs/tags/v1", "not"),
            ("pull_request", "refs/pull/1/merge", "not"),
            // These events only ever run on the default branch's last commit.
            ("create", "refs/tags/v1", "def"),
            ("schedule", "refs/heads/dev", "def"),
            ("issues", "refs/heads/dev", "def"),
            ("", "", "not"),
        ] {
            assert_eq!(
                tags_with(&rules, &[], &ctx(event, git_ref)),
                [want],
                "{event} {git_ref}"
            );
        }
    }

    #[test]
    fn the_null_context_gives_no_tags() {
        let mut c = ctx("", "");
        c.sha = String::new();
        assert!(tags_with(
            &["type=sha", "type=ref,event=branch", "type=raw,{{branch}}"],
            &[],
            &c
        )
        .is_empty());
    }

    #[test]
    fn time_zones_named_anywhere_are_listed_for_the_adapter() {
        let rules: Vec<TagRule> = [
            "type=schedule,pattern={{date 'YYYY' tz='Asia/Tokyo'}}",
            "type=raw,value=x,suffix=-{{commit_date 'HH' tz='Europe/Paris'}}",
            "type=raw,value={{date 'YYYY' tz='UTC'}}",
        ]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
        let flavor = Flavor::parse(&["prefix={{date 'MM' tz='America/New_York'}}-"]).unwrap();
        assert_eq!(
            time_zone_names(&rules, &flavor)
                .into_iter()
                .collect::<Vec<_>>(),
            ["America/New_York", "Asia/Tokyo", "Europe/Paris"]
        );
    }
}
