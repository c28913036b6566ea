//! Property tests of the parsers that read what users and tools write: tag rules and their
//! evaluation, the config, trivy's reports. Whatever the input, they return a value or an
//! error, never panic, and every tag they produce is a valid Docker tag.
//!
//! 256 cases each by default; `PROPTEST_CASES=1000000 cargo test -p xtask --release --bins
//! domain::fuzz` runs a million (docs/architecture.md).

use std::path::Path;

use proptest::prelude::*;
use time::OffsetDateTime;

use crate::domain::config::Config;
use crate::domain::git::fixture;
use crate::domain::report::Report;
use crate::domain::tag::Tag;
use crate::domain::tag_rules::{Evaluation, Flavor, TagRule};

/// Strings made of the pieces rules are written with, so that many of them parse.
fn rule_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("type=".to_owned()),
        Just("semver".to_owned()),
        Just("ref".to_owned()),
        Just("raw".to_owned()),
        Just("sha".to_owned()),
        Just("edge".to_owned()),
        Just("schedule".to_owned()),
        Just(",event=branch".to_owned()),
        Just(",event=tag".to_owned()),
        Just(",event=pr".to_owned()),
        Just(",pattern=".to_owned()),
        Just(",value=".to_owned()),
        Just(",prefix=".to_owned()),
        Just(",suffix=".to_owned()),
        Just(",enable=".to_owned()),
        Just(",priority=".to_owned()),
        Just(",format=long".to_owned()),
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{{version}}".to_owned()),
        Just("{{major}}.{{minor}}".to_owned()),
        Just("{{branch}}".to_owned()),
        Just("{{date 'YYYYMMDD'}}".to_owned()),
        Just("{{is_default_branch}}".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        "[a-z0-9._/-]{0,6}",
        ".{0,3}",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

fn evaluate(rules: &[TagRule], git_ref: &str) -> Vec<Tag> {
    let ctx = fixture("push", git_ref);
    let flavor = Flavor::default();
    let eval = Evaluation {
        ctx: &ctx,
        flavor: &flavor,
        now: OffsetDateTime::UNIX_EPOCH,
    };
    match eval.version(rules) {
        Ok(v) => v.tags(&flavor),
        Err(_) => Vec::new(),
    }
}

proptest! {
    #[test]
    fn tag_rules_parse_or_refuse_and_only_ever_give_valid_tags(
        text in prop_oneof![rule_like(), ".{0,40}"],
        branch in prop_oneof!["[a-zA-Z0-9._/-]{1,40}", ".{1,300}"],
    ) {
        if let Ok(rule) = text.parse::<TagRule>() {
            for git_ref in [format!("refs/heads/{branch}"), "refs/tags/v1.2.3".into(), "refs/pull/7/merge".into()] {
                for tag in evaluate(std::slice::from_ref(&rule), &git_ref) {
                    prop_assert!(Tag::parse(tag.as_str()).is_ok(), "{tag} from {text}");
                }
            }
        }
    }

    #[test]
    fn any_branch_name_gives_valid_distinct_tags_under_the_default_rules(
        branch in ".{1,300}",
    ) {
        let rules: Vec<TagRule> = crate::domain::tag_rules::DEFAULT_RULES
            .iter()
            .map(|r| r.parse().unwrap())
            .collect();
        let tags = evaluate(&rules, &format!("refs/heads/{branch}"));
        for tag in &tags {
            prop_assert!(Tag::parse(tag.as_str()).is_ok(), "{tag}");
        }
        let unique: std::collections::BTreeSet<&str> = tags.iter().map(Tag::as_str).collect();
        prop_assert_eq!(unique.len(), tags.len());
    }

    #[test]
    fn flavors_parse_or_refuse(lines in prop::collection::vec(".{0,30}", 0..4)) {
        let _ = Flavor::parse(&lines);
    }

    #[test]
    fn the_config_loads_or_refuses(
        text in prop_oneof![
            ".{0,200}",
            "\\[project\\]\nname = \"[a-z]{1,8}\"\n\\[services\\.[a-z-]{1,8}\\]\ndockerfile = \"[a-z./]{1,12}\"\nsize_budget_mb = [0-9]{1,20}\n(\\[tags\\]\nrules = \\[\"[ -~]{0,30}\"\\]\n)?",
        ],
    ) {
        let _ = Config::parse(&text, Path::new("xtask/images.toml"));
    }

    #[test]
    fn trivy_reports_parse_or_refuse(
        text in prop_oneof![
            ".{0,200}",
            "\\{\"SchemaVersion\": [0-9]{1,3}, \"ArtifactName\": \"[a-z:]{0,10}\", \"Results\": \\[(\\{\"Target\": \"x\", \"Vulnerabilities\": \\[\\{\"VulnerabilityID\": \"CVE-[0-9]{1,4}\", \"Severity\": \"(HIGH|LOW|CRITICAL|x)\", \"PkgName\": \"p\", \"InstalledVersion\": \"1\"(, \"FixedVersion\": \"2\")?\\}\\]\\})?\\]\\}",
        ],
    ) {
        let _ = Report::parse(&text);
    }
}
