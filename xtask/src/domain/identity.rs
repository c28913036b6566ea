//! Identity decisions, each made here and nowhere else: an image's repository, the short
//! commit id, how a tag names uncommitted changes on top of it, the tag that never moves,
//! which tags a build from uncommitted changes may publish, where `build` records an image
//! id, a namespace's registry host and whether that host is this machine.

use std::path::PathBuf;

use anyhow::Result;

use crate::domain::config::Service;
use crate::domain::error::UsageError;
use crate::domain::git::GitContext;
use crate::domain::plan::TARGET_DIR;
use crate::domain::tag::Tag;

/// How many hex digits of a commit id name it in tags and messages (`sha-1a2b3c4`).
pub const SHORT_SHA_LEN: usize = 7;

/// The first [`SHORT_SHA_LEN`] characters of a commit id (all of it when shorter).
pub fn short_sha(sha: &str) -> &str {
    sha.get(..SHORT_SHA_LEN).unwrap_or(sha)
}

/// `<namespace>/<image>`: where a service's image lives.
pub fn repository(namespace: &str, service: &Service) -> String {
    format!("{namespace}/{}", service.image_name())
}

/// The tag that names one build and is never moved: the one carrying the commit id
/// (`sha-...`, whatever its prefix or suffix), else the first that is not `latest`.
/// Push publishes it first, scan and sign address the image by it.
pub fn immutable<'a>(tags: &'a [Tag], short_sha: &str) -> Option<&'a Tag> {
    tags.iter()
        .find(|t| t.as_str().contains(short_sha))
        .or_else(|| tags.iter().find(|t| !t.as_str().starts_with("latest")))
        .or(tags.first())
}

/// The immutable tag of a build of commit `sha`, from the tags the rules gave it.
pub fn immutable_tag(tags: &[Tag], sha: &str) -> Result<Tag> {
    immutable(tags, short_sha(sha))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the tag rules give no tag for commit {}", short_sha(sha)))
}

/// How tags name the revision a build is of: the commit id (short or long, as given), and
/// `<id>-dirty` when the working tree had uncommitted changes, so that a build of changes on
/// top of a commit never carries the tag of the commit's own build.
pub fn revision(commit: &str, dirty: bool) -> String {
    if dirty {
        format!("{commit}{DIRTY}")
    } else {
        commit.to_owned()
    }
}

/// What marks a revision as uncommitted changes on top of a commit.
pub const DIRTY: &str = "-dirty";

/// Whether a build of `ctx` may be published at all: from uncommitted changes only when
/// `allow_dirty` (`--allow-dirty`) asks for it; otherwise bad input, saying what to do.
pub fn may_publish(ctx: &GitContext, allow_dirty: bool) -> Result<()> {
    if ctx.dirty && !allow_dirty {
        return Err(dirty_refused(&ctx.sha));
    }
    Ok(())
}

fn dirty_refused(sha: &str) -> anyhow::Error {
    UsageError::new(format!(
        "the working tree has uncommitted changes, so the images are not the build of \
         commit {}: commit them and build again, or pass --allow-dirty",
        short_sha(sha)
    ))
}

/// The tags a build of commit `sha` (`dirty` when from uncommitted changes, as its build
/// record says) may publish. From a clean tree, all of them. From uncommitted changes, none
/// (bad input) unless `allow_dirty`, and then only the tags naming the dirty revision
/// (`sha-<7>-dirty`): every other tag (`sha-<7>`, the branch, its timestamp, `latest`) would
/// pass the changes off as the commit, or move a tag a clean build owns.
pub fn publishable_revision(
    tags: &[Tag],
    sha: &str,
    dirty: bool,
    allow_dirty: bool,
) -> Result<Vec<Tag>> {
    if dirty && !allow_dirty {
        return Err(dirty_refused(sha));
    }
    if !dirty {
        return Ok(tags.to_vec());
    }
    let marked = revision(short_sha(sha), true);
    // The commit's digits then `-dirty`, however many digits the rules give
    // (DOCKER_METADATA_SHORT_SHA_LENGTH may lengthen them).
    let names_dirty_commit = |t: &Tag| {
        t.as_str().find(short_sha(sha)).is_some_and(|at| {
            let rest = &t.as_str()[at..];
            let digits = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
            rest[digits..].starts_with(DIRTY)
        })
    };
    let dirty: Vec<Tag> = tags
        .iter()
        .filter(|t| names_dirty_commit(t))
        .cloned()
        .collect();
    if dirty.is_empty() {
        return Err(UsageError::new(format!(
            "the working tree has uncommitted changes and no tag names them ({marked}): add a \
             `type=sha` rule to [tags] rules, or commit and build again"
        )));
    }
    Ok(dirty)
}

/// How a plan names the image id of `reference` before the engine is asked for it.
pub fn image_id_placeholder(reference: &str) -> String {
    format!("<image id of {reference}>")
}

/// Where `build` records a service's image id, relative to the repository root.
pub fn iid_file(service: &str) -> PathBuf {
    PathBuf::from(format!("{TARGET_DIR}/build/{service}.iid"))
}

/// Where buildx writes a service's build metadata (`--metadata-file`), among it the image's
/// config digest when the result is one manifest.
pub fn metadata_file(service: &str) -> PathBuf {
    PathBuf::from(format!("{TARGET_DIR}/build/{service}.metadata.json"))
}

/// The config digest(s) of a build's image: what stays the same when the same inputs are
/// built again. An image id does not always: where the builder attaches provenance (Docker
/// 26's containerd store) the id is the digest of an index that also holds the attestation
/// manifests, and provenance records the build's own id and times, so a cached rebuild gets
/// a new index around byte-identical image manifests and configs (never reproducible, by
/// design: moby/buildkit#3421). buildx writes `containerimage.config.digest` into the
/// metadata file only when BuildKit's own exporter made one manifest; for an index it
/// writes none, nor does Docker's classic-store exporter (Docker 20.10 writes only
/// `containerimage.digest`, the image id). Then the configs are the ones the exporter
/// printed ([`exported_config`]), one per platform. Empty when neither says.
pub fn image_configs(metadata: Option<&str>, exported: &[String]) -> Vec<String> {
    let from_metadata = metadata
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .and_then(|m| {
            m["containerimage.config.digest"]
                .as_str()
                .map(str::to_owned)
        });
    let mut configs: Vec<String> = match from_metadata {
        Some(c) => vec![c],
        None => exported.to_vec(),
    };
    configs.retain(|c| is_digest(c));
    configs.sort();
    configs.dedup();
    configs
}

/// The config digest a line of BuildKit's plain progress names, when it is the image
/// exporter's `#5 exporting config sha256:... done`, or the classic store's `#20 writing
/// image sha256:... done` (an image id there is the digest of its config).
pub fn exported_config(line: &str) -> Option<&str> {
    let (_, rest) = line.strip_prefix('#')?.split_once(' ')?;
    let digest = rest
        .strip_prefix("exporting config ")
        .or_else(|| rest.strip_prefix("writing image "))?
        .split(' ')
        .next()?;
    is_digest(digest).then_some(digest)
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The registry of `<namespace>/<image>` references: the namespace's first component when
/// it looks like a host (has a `.` or a `:`, or is `localhost`), as Docker decides it.
pub fn registry_host(namespace: &str) -> Option<&str> {
    let first = namespace.split('/').next()?;
    (first.contains(['.', ':']) || first == "localhost").then_some(first)
}

/// The registry a push goes to, or a usage error saying how to name one.
pub fn require_host(namespace: &str) -> Result<String> {
    registry_host(namespace).map(str::to_owned).ok_or_else(|| {
        UsageError::new(format!(
            "`{namespace}` names local images only: set the registry with --registry, \
             XTASK_REGISTRY or [registry] namespace, e.g. `ghcr.io/acme` or `127.0.0.1:5000/acme`"
        ))
    })
}

/// Whether a registry host is this machine (`localhost`, `127.x`, `[::1]`, with or without
/// a numeric port): such a registry may speak plain HTTP and has no transparency log.
pub fn loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<Tag> {
        names.iter().map(|t| Tag::parse(t).unwrap()).collect()
    }

    #[test]
    fn short_sha_is_seven_characters_or_the_whole_id() {
        assert_eq!(short_sha("1a2b3c4d5e6f"), "1a2b3c4");
        assert_eq!(short_sha("1a2"), "1a2");
    }

    #[test]
    fn the_immutable_tag_is_the_one_naming_the_commit_whatever_its_spelling() {
        for (built, want) in [
            (&["latest", "main", "sha-1a2b3c4"][..], "sha-1a2b3c4"),
            (&["latest", "git-1a2b3c4-amd64"][..], "git-1a2b3c4-amd64"),
            (&["latest", "main-20261203"][..], "main-20261203"),
            (&["latest"][..], "latest"),
        ] {
            let t = tags(built);
            assert_eq!(
                immutable(&t, "1a2b3c4").unwrap().as_str(),
                want,
                "{built:?}"
            );
        }
        assert!(immutable(&[], "1a2b3c4").is_none());
    }

    #[test]
    fn a_registry_host_is_the_first_component_only_when_it_looks_like_one() {
        for (namespace, host) in [
            ("ghcr.io/acme", Some("ghcr.io")),
            ("ghcr.io", Some("ghcr.io")),
            ("127.0.0.1:5000/acme", Some("127.0.0.1:5000")),
            ("localhost/acme", Some("localhost")),
            ("shipyard", None),
            ("acme/team", None),
        ] {
            assert_eq!(registry_host(namespace), host, "{namespace}");
        }
        let e = require_host("shipyard").unwrap_err();
        assert!(e.to_string().contains("--registry"));
        assert_eq!(crate::domain::error::exit_code(&e), 2);
    }

    #[test]
    fn loopback_is_this_machine_with_or_without_a_numeric_port() {
        for host in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(loopback(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "registry.local:5000",
            "localhost:abc",
            "localhost.example.com",
            "10.0.0.1:5000",
        ] {
            assert!(!loopback(host), "{host}");
        }
    }

    #[test]
    fn a_build_without_a_sha_rule_is_still_addressed_by_its_immutable_tag() {
        // `[tags]` with only a branch-timestamp rule: no `sha-` tag was ever built, so
        // scan and sign must not look for one.
        let built = tags(&["main-20261203-170315", "latest"]);
        let sha = "860c1904a1ce19322e91ac35af1ab07466440c37";
        assert_eq!(
            immutable_tag(&built, sha).unwrap().as_str(),
            "main-20261203-170315"
        );
        let suffixed = tags(&["latest", "sha-860c190-amd64"]);
        assert_eq!(
            immutable_tag(&suffixed, sha).unwrap().as_str(),
            "sha-860c190-amd64"
        );
        assert!(immutable_tag(&[], sha).is_err());
    }

    fn publishable(tags: &[Tag], ctx: &GitContext, allow_dirty: bool) -> Result<Vec<Tag>> {
        publishable_revision(tags, &ctx.sha, ctx.dirty, allow_dirty)
    }

    #[test]
    fn a_dirty_build_is_published_only_when_asked_and_only_under_its_dirty_tags() {
        let built = tags(&["main", "main-20261120-090507", "latest", "sha-860c190"]);
        let clean = crate::domain::git::fixture("push", "refs/heads/main");
        for allow_dirty in [false, true] {
            assert_eq!(publishable(&built, &clean, allow_dirty).unwrap(), built);
        }
        let mut dirty = clean.clone();
        dirty.dirty = true;
        let built = tags(&[
            "main",
            "main-20261120-090507",
            "latest",
            "sha-860c190-dirty",
        ]);
        let refused = publishable(&built, &dirty, false).unwrap_err();
        assert_eq!(crate::domain::error::exit_code(&refused), 2);
        let message = refused.to_string();
        assert!(
            message.contains("uncommitted changes") && message.ends_with("or pass --allow-dirty"),
            "{message}"
        );
        // Asked for, it publishes the tags naming the dirty revision only: never a tag that
        // passes the changes off as the commit (`sha-860c190`, `main`, its timestamp, `latest`).
        assert_eq!(
            publishable(&built, &dirty, true).unwrap(),
            tags(&["sha-860c190-dirty"])
        );
        let refused = publishable(&tags(&["main", "latest"]), &dirty, true).unwrap_err();
        assert_eq!(crate::domain::error::exit_code(&refused), 2);
        assert!(refused.to_string().contains("type=sha"), "{refused}");
        // A longer short sha (DOCKER_METADATA_SHORT_SHA_LENGTH) names the same dirty build.
        dirty.short_sha_len = 12;
        let long = tags(&["main", &format!("sha-{}-dirty", &dirty.sha[..12])]);
        assert_eq!(publishable(&long, &dirty, true).unwrap(), long[1..]);
    }

    #[test]
    fn the_iid_file_is_under_the_build_directory() {
        assert_eq!(iid_file("api"), PathBuf::from("target/xtask/build/api.iid"));
        assert_eq!(
            metadata_file("api"),
            PathBuf::from("target/xtask/build/api.metadata.json")
        );
    }

    #[test]
    fn the_image_configs_come_from_the_metadata_or_else_the_exporter() {
        let c = |n: char| format!("sha256:{}", n.to_string().repeat(64));
        // One manifest (the classic store): buildx names its config.
        let one = format!(r#"{{"containerimage.config.digest": "{}"}}"#, c('a'));
        assert_eq!(image_configs(Some(&one), &[c('b')]), [c('a')]);
        // An index with attestations (measured on Docker 26): no config digest in the
        // metadata, one `exporting config` line per platform.
        let index = format!(r#"{{"containerimage.digest": "{}"}}"#, c('d'));
        let progress = [
            format!("#5 exporting manifest {} done", c('m')),
            format!("#5 exporting config {} done", c('b')),
            format!("#5 exporting attestation manifest {} done", c('e')),
            format!("#5 exporting config {} done", c('a')),
            format!("#5 exporting manifest list {} done", c('d')),
            "#5 exporting config sha256:short done".to_owned(),
        ];
        let exported: Vec<String> = progress
            .iter()
            .filter_map(|l| exported_config(l))
            .map(str::to_owned)
            .collect();
        assert_eq!(image_configs(Some(&index), &exported), [c('a'), c('b')]);
        // Docker 20.10's classic store: the metadata names only the image id, which is the
        // config the exporter wrote.
        let classic = format!(r#"{{"containerimage.digest": "{}"}}"#, c('f'));
        let written = format!("#20 writing image {} done", c('f'));
        let exported: Vec<String> = exported_config(&written)
            .map(str::to_owned)
            .into_iter()
            .collect();
        assert_eq!(image_configs(Some(&classic), &exported), [c('f')]);
        assert!(image_configs(None, &[]).is_empty());
        assert!(image_configs(Some("not json"), &[]).is_empty());
    }
}
