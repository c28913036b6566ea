//! Publishing tags as steps: the plain-data commands `push`, `promote` and `sign` plan, and
//! what became of them. `adapters/publish.rs` runs them.
//!
//! A digest is only known once a step has run, so later steps name it with a placeholder
//! ([`MANIFEST`], [`DIGEST`]) that the executor fills in. A service's steps stop at its first
//! failure: tags are planned immutable first and `latest` last, so stopping early can leave
//! `latest` on the previous image but never on one that its `sha-` tag does not name.
//!
//! The immutable tag is never moved to another image: a push first looks up what the
//! registry holds for it ([`lookup`], [`judge`]). When it holds this image the upload steps
//! are skipped and the other tags are brought to the digest it names; when it holds another,
//! the job is refused before any tag moves.

use serde::Serialize;

use crate::domain::outcome;
use crate::domain::tag::Tag;

/// Replaced by the digest `docker push` printed.
pub const MANIFEST: &str = "{manifest}";
/// Replaced by the digest read with `docker buildx imagetools inspect`.
pub const DIGEST: &str = "{digest}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capture {
    /// `digest: sha256:...` from `docker push`, into [`MANIFEST`].
    Manifest,
    /// The manifest digest from `imagetools inspect --format '{{json .Manifest}}'`, into
    /// [`DIGEST`].
    Digest,
    /// What the registry holds for the job's immutable tag (`docker manifest inspect -v`),
    /// judged against the job's image ([`judge`]).
    Held,
    /// What a `<repository>@<digest>` names (`docker manifest inspect -v`), which must be
    /// the job's image ([`holds`]); the job stops before anything moves when it is not, and
    /// the digest becomes [`DIGEST`] when it is.
    Image,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub argv: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<Capture>,
    /// The tag that points at [`DIGEST`] once this step has succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishes: Option<Tag>,
    /// Uploads the image: skipped when the lookup found it in the registry already, and
    /// bounded by the upload timeout rather than the registry timeout.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub upload: bool,
}

impl Step {
    pub fn new(argv: &[&str]) -> Step {
        Step {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            capture: None,
            publishes: None,
            upload: false,
        }
    }

    pub fn upload(mut self) -> Step {
        self.upload = true;
        self
    }

    pub fn capture(mut self, c: Capture) -> Step {
        self.capture = Some(c);
        self
    }

    pub fn publishes(mut self, tag: &Tag) -> Step {
        self.publishes = Some(tag.clone());
        self
    }
}

/// Points `repository:tag` at whatever `source` names, without pulling or rebuilding.
pub fn retag(repository: &str, tag: &Tag, source: &str) -> Step {
    Step::new(&[
        "docker",
        "buildx",
        "imagetools",
        "create",
        "--tag",
        &format!("{repository}:{tag}"),
        source,
    ])
    .publishes(tag)
}

/// Reads the digest `reference` points at into [`DIGEST`].
pub fn resolve(reference: &str) -> Step {
    Step::new(&[
        "docker",
        "buildx",
        "imagetools",
        "inspect",
        "--format",
        "{{json .Manifest}}",
        reference,
    ])
    .capture(Capture::Digest)
}

/// Asks what `reference` names in the registry, with the manifests' config digests (which
/// are the image ids of Docker's classic image store). `insecure` lets the docker CLI speak
/// plain HTTP, which only a loopback registry may.
pub fn lookup(reference: &str, insecure: bool) -> Step {
    let mut argv = vec!["docker", "manifest", "inspect"];
    if insecure {
        argv.push("--insecure");
    }
    argv.extend(["--verbose", reference]);
    Step::new(&argv).capture(Capture::Held)
}

/// Checks that `<repository>@<digest>` names the job's image before anything moves.
pub fn expect_image(repository: &str, digest: &str, insecure: bool) -> Step {
    Step {
        capture: Some(Capture::Image),
        ..lookup(&format!("{repository}@{digest}"), insecure)
    }
}

/// Whether `reference` (`repository@digest`), which holds `held`, is `image` ([`is_image`]);
/// `Err` says what it is instead.
pub fn holds(reference: &str, image: &Image, held: &Held) -> Result<(), String> {
    let digest = reference.rsplit_once('@').map_or("", |(_, d)| d);
    let image_id = image.id.as_str();
    match held {
        Held::Absent => Err(format!(
            "{reference} is not in the registry: push the image first (cargo xtask push \
             --staging TAG)"
        )),
        Held::Found { .. } if is_image(image, digest, held) => Ok(()),
        Held::Found { configs, .. } => Err(format!(
            "{reference} is not image {image_id} (its config is {}): the record and the \
             registry disagree, so nothing was moved",
            if configs.is_empty() {
                "unknown".to_owned()
            } else {
                configs.join(", ")
            }
        )),
    }
}

/// Whether `digest`, which holds `held`, is `image`: its id is the digest, a manifest or a
/// config there (an image id is a config digest in Docker's classic store and the manifest
/// or index digest in the containerd store), or every config the build recorded is among
/// the configs there. The last is what a cached rebuild keeps where provenance is attached:
/// its index (the image id) is new, its image manifests and configs are the same bytes
/// (moby/buildkit#3421). It only ever recognises an image the registry already holds, so
/// an edited config digest can make a push upload nothing, never upload something else.
pub fn is_image(image: &Image, digest: &str, held: &Held) -> bool {
    let Held::Found {
        manifests, configs, ..
    } = held
    else {
        return false;
    };
    let id = image.id.as_str();
    id == digest
        || configs.iter().chain(manifests).any(|d| d == id)
        || (!image.configs.is_empty() && image.configs.iter().all(|c| configs.contains(c)))
}

/// What the registry holds for a tag, as `docker manifest inspect --verbose` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    Absent,
    Found {
        /// An index (a list of manifests) rather than one manifest.
        index: bool,
        /// The manifest's digest, or the digests of the index's manifests.
        manifests: Vec<String>,
        /// Their config digests.
        configs: Vec<String>,
    },
}

/// What a push does about its immutable tag, given what the registry holds for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Not there yet: upload the image.
    Upload,
    /// There, naming this image as an index: upload nothing and point the other tags at it
    /// (`imagetools create` copies an index as it is).
    Reuse,
    /// There, naming this image as a bare manifest (an earlier push stopped between its
    /// `docker push` and wrapping that in an index): upload nothing, and give the other tags
    /// that same manifest with `docker push`, since `imagetools create` would wrap it in an
    /// index of another digest.
    ReuseManifest,
    /// There, naming another image: nothing may move. The reason says what is there and
    /// what to do.
    Refuse(String),
}

/// Whether the immutable tag of `repository` (`image.immutable`), which names `digest` and
/// holds `held`, already names `image` ([`is_image`]).
pub fn judge(repository: &str, image: &Image, digest: &str, held: &Held) -> Judgement {
    let Held::Found { index, .. } = held else {
        return Judgement::Upload;
    };
    let (tag, image_id, commit) = (&image.immutable, &image.id, &image.commit);
    match (is_image(image, digest, held), index) {
        (true, true) => Judgement::Reuse,
        (true, false) => Judgement::ReuseManifest,
        (false, _) => Judgement::Refuse(format!(
            "{repository}:{tag} already holds {digest}, not this build (image {image_id}), \
             and the immutable tag is never moved: rebuild from a clean checkout of commit \
             {commit} to push the same image again, or commit the change and push the new commit"
        )),
    }
}

/// `latest` (and flavored `latest-*`) tags move last.
pub fn latest_last(tags: &mut [Tag]) {
    tags.sort_by_key(|t| t.as_str().starts_with("latest"));
}

/// The steps that point every tag but `first` at the digest resolved before them
/// ([`DIGEST`]), each once, `latest` last.
pub fn retag_others(repository: &str, tags: &[Tag], first: &Tag) -> Vec<Step> {
    let mut others: Vec<Tag> = tags.iter().filter(|t| *t != first).cloned().collect();
    others.dedup();
    latest_last(&mut others);
    let source = format!("{repository}@{DIGEST}");
    others
        .iter()
        .map(|t| retag(repository, t, &source))
        .collect()
}

/// One service's (or image's) steps.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub name: String,
    pub repository: String,
    pub steps: Vec<Step>,
    /// What a push publishes, for judging what the registry holds ([`judge`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
}

/// The local image a push job publishes and its immutable tag.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub id: String,
    /// Its config digest per platform, as the build recorded them (none for an older
    /// record): the same across cached rebuilds where the id is not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<String>,
    pub immutable: Tag,
    pub commit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    pub repository: String,
    pub digest: Option<String>,
    pub tags: Vec<Published>,
    pub result: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The registry held the image already: nothing was uploaded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Published,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub tag: Tag,
    pub digest: String,
}

/// Everything a push or promote will do, decided before anything is sent.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub registry: String,
    /// `docker login` argv when credentials are given (the password goes to its stdin).
    pub login: Option<Vec<String>>,
    pub services: Vec<Job>,
    pub notes: Vec<String>,
}

/// How a failed registry command failed, from what it printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// Credentials missing or refused: retrying cannot help.
    Auth,
    /// The network or the registry had a moment: worth another try.
    Transient,
    /// The registry holds another image under the immutable tag: nothing was moved.
    Refused,
    Other,
}

/// Failed, naming each failed job and its first error line, when any job failed.
pub fn verdict(outcomes: &[Outcome], verb: &str) -> outcome::Outcome {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.result == Status::Failed)
        .map(|o| match &o.error {
            Some(e) => format!("{}: {}", o.name, e.lines().next().unwrap_or_default()),
            None => o.name.clone(),
        })
        .collect();
    outcome::Outcome::failed_if(!failed.is_empty(), || {
        format!("{verb} failed for {}", failed.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<Tag> {
        names.iter().map(|t| Tag::parse(t).unwrap()).collect()
    }

    #[test]
    fn latest_moves_last_and_the_rest_keep_their_order() {
        let mut t = tags(&["main", "latest", "main-20261120-090507", "sha-860c190"]);
        latest_last(&mut t);
        assert_eq!(
            t.iter().map(Tag::as_str).collect::<Vec<_>>(),
            ["main", "main-20261120-090507", "sha-860c190", "latest"]
        );
    }

    fn image(id: &str, configs: &[&str]) -> Image {
        Image {
            id: id.to_owned(),
            configs: configs.iter().map(|s| s.to_string()).collect(),
            immutable: tags(&["sha-860c190"])[0].clone(),
            commit: "860c190".to_owned(),
        }
    }

    fn check_judge(image_id: &str, digest: &str, held: Held) -> Judgement {
        judge("r/api", &image(image_id, &[]), digest, &held)
    }

    fn found(index: bool, manifests: &[&str], configs: &[&str]) -> Held {
        Held::Found {
            index,
            manifests: manifests.iter().map(|s| s.to_string()).collect(),
            configs: configs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_same_image_is_reused_and_another_refused() {
        assert_eq!(check_judge("C", "-", Held::Absent), Judgement::Upload);
        // Classic store: the id is the config of the manifest the index wraps.
        assert_eq!(
            check_judge("C", "I", found(true, &["M"], &["C"])),
            Judgement::Reuse
        );
        // ... or of the bare manifest an interrupted push left.
        assert_eq!(
            check_judge("C", "M", found(false, &["M"], &["C"])),
            Judgement::ReuseManifest
        );
        // containerd store: the id is the index (or manifest) digest itself.
        assert_eq!(
            check_judge("I", "I", found(true, &["M1", "M2"], &["C1", "C2"])),
            Judgement::Reuse
        );
        let Judgement::Refuse(why) = check_judge("C2", "M", found(false, &["M"], &["C"])) else {
            panic!("another image is refused")
        };
        assert!(
            why.starts_with("r/api:sha-860c190 already holds M, not this build (image C2)")
                && why.contains("clean checkout of commit 860c190")
                && why.contains("new commit"),
            "{why}"
        );
    }

    #[test]
    fn a_rebuild_with_new_provenance_is_the_same_image_by_its_configs() {
        // containerd store with provenance: the rebuild's index B is new, its image config
        // C (one per platform) is the one the registry's index A already holds.
        let held = found(true, &["M", "Att"], &["C", "AttC"]);
        let rebuilt = image("B", &["C"]);
        assert_eq!(judge("r/api", &rebuilt, "A", &held), Judgement::Reuse);
        assert_eq!(holds("r/api@A", &rebuilt, &held), Ok(()));
        // Every platform's config must be there, not just one of them.
        let two = found(true, &["M1", "M2", "Att"], &["C1", "C2", "AttC"]);
        assert_eq!(
            judge("r/api", &image("B", &["C1", "C2"]), "A", &two),
            Judgement::Reuse
        );
        let Judgement::Refuse(why) = judge("r/api", &image("B", &["C1", "C3"]), "A", &two) else {
            panic!("a platform whose config is not there is another image")
        };
        assert!(
            why.contains("already holds A, not this build (image B)"),
            "{why}"
        );
        // Another config, or none recorded (an older record): judged by the id alone.
        assert!(matches!(
            judge("r/api", &image("B", &["C2"]), "A", &held),
            Judgement::Refuse(_)
        ));
        assert!(matches!(
            judge("r/api", &image("B", &[]), "A", &held),
            Judgement::Refuse(_)
        ));
        assert!(holds("r/api@A", &image("B", &["C2"]), &held).is_err());
        assert_eq!(
            judge("r/api", &rebuilt, "-", &Held::Absent),
            Judgement::Upload
        );
    }

    #[test]
    fn a_digest_holds_the_image_whose_config_it_names() {
        let r = "r/api@sha256:D";
        let holds = |r: &str, id: &str, held: &Held| holds(r, &image(id, &[]), held);
        assert_eq!(holds(r, "C", &found(true, &["M"], &["C"])), Ok(()));
        assert_eq!(holds(r, "sha256:D", &found(true, &["M"], &["X"])), Ok(()));
        let why = holds(r, "C2", &found(true, &["M"], &["C"])).unwrap_err();
        assert!(
            why.starts_with("r/api@sha256:D is not image C2 (its config is C)")
                && why.ends_with("nothing was moved"),
            "{why}"
        );
        assert!(holds(r, "C", &Held::Absent)
            .unwrap_err()
            .contains("not in the registry"));
        assert_eq!(
            expect_image("r/api", "sha256:D", false).argv.join(" "),
            "docker manifest inspect --verbose r/api@sha256:D"
        );
    }

    #[test]
    fn lookup_speaks_plain_http_only_when_told() {
        assert_eq!(
            lookup("127.0.0.1:5000/a/api:sha-1", true).argv.join(" "),
            "docker manifest inspect --insecure --verbose 127.0.0.1:5000/a/api:sha-1"
        );
        assert_eq!(
            lookup("ghcr.io/a/api:sha-1", false).argv.join(" "),
            "docker manifest inspect --verbose ghcr.io/a/api:sha-1"
        );
    }

    #[test]
    fn retag_points_a_tag_at_a_source() {
        let s = retag(
            "r.io/acme/api",
            &tags(&["v1"])[0],
            &format!("r.io/acme/api@{DIGEST}"),
        );
        assert_eq!(
            s.argv.join(" "),
            "docker buildx imagetools create --tag r.io/acme/api:v1 r.io/acme/api@{digest}"
        );
        assert_eq!(s.publishes.as_ref().map(Tag::as_str), Some("v1"));
    }
}
