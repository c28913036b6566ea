//! `cargo xtask tags`: the tags the current git context gives, without building, and
//! docker/metadata-action's other outputs (`version`, `labels`, `annotations`) as JSON or as
//! a GitHub Actions step's outputs.

use std::collections::BTreeMap;
use std::io::Write as _;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::adapters::exec::usage;
use crate::adapters::workspace::Workspace;
use crate::cli::Json;
use crate::domain::error::{EnvironmentError, UsageError};
use crate::domain::labels::{annotations, repository_labels};
use crate::domain::outcome::Outcome;
use crate::domain::tag_rules::{time_zone_names, Evaluation, Flavor, TagRule};
use crate::render::print_json;

#[derive(Debug, clap::Args)]
#[command(after_help = "Preview another ref with XTASK_GIT_REF, e.g. \
XTASK_GIT_REF=refs/tags/v1.2.3 cargo xtask tags (a release) or refs/pull/7/merge (a pull \
request). In GitHub Actions the ref comes from GITHUB_REF and the event payload, and \
DOCKER_METADATA_PR_HEAD_SHA, DOCKER_METADATA_SHORT_SHA_LENGTH and \
DOCKER_METADATA_ANNOTATIONS_LEVELS work as in docker/metadata-action. See docs/tagging.md.")]
pub struct Args {
    /// A tag rule in docker/metadata-action syntax, e.g. `type=ref,event=branch`; repeat for
    /// more. Replaces the rules in xtask/images.toml.
    #[arg(long = "rule", value_name = "RULE")]
    pub rules: Vec<String>,
    /// A flavor line, e.g. `latest=false` or `prefix=app-`; replaces the configured flavor.
    #[arg(long = "flavor", value_name = "FLAVOR")]
    pub flavors: Vec<String>,
    #[command(flatten)]
    pub output: Json,
    /// How to give the result (default `text`; `--json` is `--format json`).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The tags, one a line.
    Text,
    /// `tags`, `tag-names`, `version`, `labels` and `annotations` as one JSON object.
    Json,
    /// metadata-action's outputs appended to $GITHUB_OUTPUT, and to $GITHUB_ENV as
    /// DOCKER_METADATA_OUTPUT_* unless DOCKER_METADATA_SET_OUTPUT_ENV=false.
    Github,
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let rules: Vec<TagRule> = if args.rules.is_empty() {
        ws.config.tags.rules.clone()
    } else {
        args.rules
            .iter()
            .map(|r| r.parse().map_err(usage))
            .collect::<Result<_>>()?
    };
    let flavor = if args.flavors.is_empty() {
        ws.config.flavor()
    } else {
        Flavor::parse(&args.flavors)
            .context("--flavor")
            .map_err(usage)?
    };
    let mut ctx = ws.git_context()?;
    ctx.time_zones.extend(crate::adapters::tz::load(
        &ws.env,
        &time_zone_names(&rules, &flavor),
    )?);
    let version = Evaluation {
        ctx: &ctx,
        flavor: &flavor,
        now: ws.now,
    }
    .version(&rules)?;
    let tags = version.tags(&flavor);
    if tags.is_empty() {
        eprintln!(
            "warning: no tag was generated for {}: check the tag rules",
            ctx.describe()
        );
    }
    let labels = repository_labels(&ws.config.project, &ctx, &version);
    let outputs = Outputs {
        version: version.main.as_ref().map_or("", |t| t.as_str()).to_owned(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        annotations: annotations(&labels, ws.env.get("DOCKER_METADATA_ANNOTATIONS_LEVELS")),
        labels,
    };
    let format = match args.format {
        Some(f) => f,
        None if args.output.json => Format::Json,
        None => Format::Text,
    };
    match format {
        Format::Json => print_json(&outputs.json(true)),
        Format::Text | Format::Github => {
            eprintln!("tags for {}:", ctx.describe());
            for t in &outputs.tags {
                println!("{t}");
            }
        }
    }
    if format == Format::Github {
        write_github(ws, &outputs)?;
    }
    Ok(Outcome::Clean)
}

/// What metadata-action outputs, for the repository rather than a list of images: so `tags`
/// and `tag-names` are the same list.
struct Outputs {
    version: String,
    tags: Vec<String>,
    labels: BTreeMap<String, String>,
    annotations: Vec<String>,
}

impl Outputs {
    /// metadata-action's `json` output (`tags`, `tag-names`, `labels`, `annotations`), and
    /// `version` with `with_version`.
    fn json(&self, with_version: bool) -> Value {
        let mut v = json!({
            "tags": self.tags,
            "tag-names": self.tags,
            "labels": self.labels,
            "annotations": self.annotations,
        });
        if with_version {
            v["version"] = json!(self.version);
        }
        v
    }

    /// Each output by the name metadata-action gives it, lists one item a line.
    fn named(&self) -> Vec<(&'static str, String)> {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vec![
            ("version", self.version.clone()),
            ("tags", self.tags.join("\n")),
            ("tag-names", self.tags.join("\n")),
            ("labels", labels.join("\n")),
            ("annotations", self.annotations.join("\n")),
            ("json", self.json(false).to_string()),
        ]
    }
}

/// Appends the outputs to `GITHUB_OUTPUT`, and to `GITHUB_ENV` as `DOCKER_METADATA_OUTPUT_*`
/// unless `DOCKER_METADATA_SET_OUTPUT_ENV` says no, as metadata-action does.
fn write_github(ws: &Workspace, outputs: &Outputs) -> Result<()> {
    let Some(output) = ws.env.get("GITHUB_OUTPUT") else {
        return Err(EnvironmentError::new(
            "--format github appends to the file GITHUB_OUTPUT names, and GITHUB_OUTPUT is not \
             set: run it as a GitHub Actions step, or set GITHUB_OUTPUT to a file",
        ));
    };
    let named = outputs.named();
    append(output, &file_commands(&named))?;
    let set_env = match ws.env.get("DOCKER_METADATA_SET_OUTPUT_ENV") {
        None => true,
        Some(v) => parse_bool(v).ok_or_else(|| {
            UsageError::new(format!(
                "DOCKER_METADATA_SET_OUTPUT_ENV={v} is not a boolean: set true or false"
            ))
        })?,
    };
    let mut written = "GITHUB_OUTPUT".to_owned();
    if let (true, Some(env_file)) = (set_env, ws.env.get("GITHUB_ENV")) {
        let exported: Vec<(String, String)> = named
            .iter()
            .map(|(name, value)| (env_name(name), value.clone()))
            .collect();
        append(env_file, &file_commands(&exported))?;
        written += " and GITHUB_ENV (DOCKER_METADATA_OUTPUT_*)";
    }
    let names: Vec<&str> = named.iter().map(|(n, _)| *n).collect();
    eprintln!("wrote {} to {written}", names.join(", "));
    Ok(())
}

fn append(path: &str, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {path} to append the step's outputs"))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {path}"))
}

/// `tag-names` → `DOCKER_METADATA_OUTPUT_TAG_NAMES`.
fn env_name(output: &str) -> String {
    let name: String = output
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("DOCKER_METADATA_OUTPUT_{name}")
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// GitHub's file-command syntax: `name=value`, or for a value of several lines
/// `name<<DELIMITER`, the lines, `DELIMITER`, with a delimiter the value does not contain.
fn file_commands<N: AsRef<str>>(outputs: &[(N, String)]) -> String {
    let mut out = String::new();
    for (name, value) in outputs {
        let name = name.as_ref();
        if !value.contains(['\n', '\r']) {
            out += &format!("{name}={value}\n");
            continue;
        }
        let delimiter = (0..)
            .map(|n| {
                format!(
                    "XTASK_{}_EOF{n}",
                    name.to_ascii_uppercase().replace('-', "_")
                )
            })
            .find(|d| !value.contains(d.as_str()))
            .expect("some delimiter is not in the value");
        out += &format!("{name}<<{delimiter}\n{value}\n{delimiter}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_commands_use_heredocs_for_lines_and_never_a_delimiter_in_the_value() {
        let text = file_commands(&[
            ("version", "1.2.3".to_owned()),
            ("tags", "1.2.3\nlatest".to_owned()),
            ("labels", "a=XTASK_LABELS_EOF0\nb=c".to_owned()),
        ]);
        expect_test::expect![[r#"
            version=1.2.3
            tags<<XTASK_TAGS_EOF0
            1.2.3
            latest
            XTASK_TAGS_EOF0
            labels<<XTASK_LABELS_EOF1
            a=XTASK_LABELS_EOF0
            b=c
            XTASK_LABELS_EOF1
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn outputs_are_exported_under_metadata_actions_names() {
        assert_eq!(env_name("tag-names"), "DOCKER_METADATA_OUTPUT_TAG_NAMES");
        assert_eq!(env_name("json"), "DOCKER_METADATA_OUTPUT_JSON");
        assert_eq!(parse_bool("FALSE"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
