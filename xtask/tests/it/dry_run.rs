//! `--dry-run` prints exactly what a real run does. Each case runs the real xtask twice with
//! stand-in `docker`, `trivy` and `cosign` first on PATH (git stays real: the tags come from
//! this repository's context, as committed): once with `--dry-run`, keeping the commands it prints, and
//! once for real, with the stand-ins logging every argv. The acting commands logged must be
//! the printed ones, in order. The read-only queries both runs make (`docker buildx inspect`,
//! `docker image inspect`, ...) may come in between when a plan does not list them; the dry
//! run must make nothing else.
//!
//! A dry run names the values only a real run knows with placeholders: `{manifest}` and
//! `{digest}` (filled in with what the stand-ins print) and `<...>` ones such as `<run id>`,
//! `<created container of api>` or `xtask-trivy-<process id>`. A `<...>` placeholder matches
//! the value the real run has at the same place in the same word, and must match the same
//! value wherever it appears.
//!
//! `ci` plans child `xtask` commands, not tools: its case compares them with the processes
//! that called the stand-ins, as /proc names them (so the ci case needs Linux). `bench` plans
//! both: its case takes the stand-ins' argv where bench called them itself and the calling
//! process where a child `xtask` did. A planned command that may start no stand-in at all
//! (`xtask --help`) leaves no trace in a real run: a row names such commands in `unseen`.
//!
//! No engine is needed and the shared one is never touched. A new case is one row in
//! [`cases!`] at the bottom.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::fixture::{self, Service, GOOD};
use crate::common::*;

/// What the stand-in `docker` answers for the run-time values.
const IMAGE_ID: &str = "sha256:1d0c0ffee1d0c0ffee1d0c0ffee1d0c0ffee1d0c0ffee1d0c0ffee1d0c0ffee";
/// `docker push` prints it, the dry run names it `{manifest}`.
const MANIFEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// `docker buildx imagetools inspect` prints it, the dry run names it `{digest}`.
const DIGEST: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The argv of a stand-in, one line, quoted like `shell_words` in xtask/src/domain/command.rs:
/// a word made only of `[A-Za-z0-9-_./:=@,+%^]` as it is, any other in single quotes with
/// `'\''` for a quote. Appended to `$FAKE_TOOLS_LOG`; the argv of the calling process (its
/// words separated by `\x1f`) to `$FAKE_TOOLS_LOG.callers`.
const LOG_ARGV: &str = r#"LC_ALL=C
export LC_ALL
line=$(basename "$0")
for a in "$@"; do
  case $a in
    ''|*[!A-Za-z0-9_./:=@,+%^-]*)
      q=$(printf '%sx' "$a" | sed "s/'/'\\\\''/g")
      line="$line '${q%x}'" ;;
    *) line="$line $a" ;;
  esac
done
printf '%s\n' "$line" >> "$FAKE_TOOLS_LOG"
if [ -r "/proc/$PPID/cmdline" ]; then
  caller=$(tr '\000' '\037' < "/proc/$PPID/cmdline")
  printf '%s\n' "$caller" >> "$FAKE_TOOLS_LOG.callers"
fi
"#;

/// Answers what xtask parses: a `docker` driver builder, the image id in `--iidfile`, image
/// inspect JSON (labelled with `$FAKE_REVISION`, tagged `$FAKE_REPO_TAGS`; asked by a tag a
/// build gave, with that build's tags and labels), the digests of push and imagetools, a
/// manifest of that image at any `@sha256:` digest, a new id for every container created or
/// started, an empty filesystem for `export`, healthy containers, trivy's report when it
/// runs on Docker and a JUnit report for the e2e runner.
const DOCKER: &str = r#"
value_of() { flag=$1; shift; prev=; for a in "$@"; do [ "$prev" = "$flag" ] && printf '%s' "$a"; prev=$a; done; }
ref_file() { printf '%s.images/%s' "$FAKE_TOOLS_LOG" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_')"; }
new_id() {
  n=$(( $(cat "$FAKE_TOOLS_LOG.ids" 2>/dev/null || echo 0) + 1 ))
  echo "$n" > "$FAKE_TOOLS_LOG.ids"
  printf 'c0ffee%058d\n' "$n"
}
case "$*" in
  'buildx inspect'*) cat <<'EOF'
Name:          default
Driver:        docker
Last Activity: 2026-11-23 15:03:03 +0000 UTC

Nodes:
Name:             default
Endpoint:         default
Status:           running
BuildKit version: v0.12.5
Platforms:        linux/amd64, linux/386
EOF
  ;;
  'info'*) echo '[]' ;;
  'version'*) echo 27.0.0 ;;
  'buildx bake'*) echo '#0 building with "default" instance using docker driver' ;;
  'buildx version'*) echo 'github.com/docker/buildx v0.0.0 stand-in' ;;
  'buildx build'*)
    iid=$(value_of --iidfile "$@")
    [ -n "$iid" ] && printf '%s\n' "@IMAGE_ID@" > "$iid"
    mkdir -p "$FAKE_TOOLS_LOG.images"
    tags= labels= prev=
    for a in "$@"; do
      case $prev in
        --tag) tags="$tags${tags:+, }\"$a\"" ;;
        --label) labels="$labels${labels:+, }\"${a%%=*}\": \"${a#*=}\"" ;;
      esac
      prev=$a
    done
    prev=; for a in "$@"; do [ "$prev" = --tag ] && printf '[%s]\n{%s}\n' "$tags" "$labels" > "$(ref_file "$a")"; prev=$a; done
    echo '#1 [internal] load build definition'
    echo '#1 DONE 0.0s' ;;
  'image inspect --format {{json .RepoTags}} '*) printf '%s\n' "${FAKE_REPO_TAGS:-[]}" ;;
  'image inspect --format'*) echo 1000000 ;;
  'image inspect'*)
    for ref in "$@"; do :; done
    built=$(ref_file "$ref")
    if [ -f "$built" ]; then
      tags=$(sed -n 1p "$built"); labels=$(sed -n 2p "$built")
    else
      tags=${FAKE_REPO_TAGS:-[]}
      labels='{"org.opencontainers.image.title": "stand-in",
             "org.opencontainers.image.revision": "'"$FAKE_REVISION"'",
             "org.opencontainers.image.created": "2026-11-23T15:03:03Z",
             "org.opencontainers.image.version": "0.0.0",
             "org.opencontainers.image.source": "https://example.invalid/stand-in"}'
    fi
    cat <<EOF
[{"Id": "@IMAGE_ID@", "Size": 1000000, "RepoTags": $tags, "Config": {
  "User": "65534", "Cmd": ["sleep", "3600"], "Entrypoint": null,
  "Healthcheck": {"Test": ["CMD", "true"]},
  "Labels": $labels}}]
EOF
  ;;
  'login '*) cat >/dev/null; echo 'Login Succeeded' ;;
  'push '*) echo 'The push refers to repository'; echo "tag: digest: @MANIFEST@ size: 527" ;;
  'manifest inspect'*@sha256:*) printf '[{"Descriptor": {"digest": "@MANIFEST@"}, "SchemaV2Manifest": {"config": {"digest": "@IMAGE_ID@"}}}]\n' ;;
  'manifest inspect'*) echo 'no such manifest' >&2; exit 1 ;;
  'buildx imagetools inspect'*) printf '{\n  "mediaType": "application/vnd.oci.image.index.v1+json",\n  "digest": "@DIGEST@",\n  "size": 402\n}\n' ;;
  'run --rm'*)
    report=$(value_of --output "$@")
    if [ -n "$report" ]; then
      for image in "$@"; do :; done
      printf '{"SchemaVersion": 2, "ArtifactName": "%s", "Results": []}\n' "$image" > "$report"
    else
      out=$(value_of --mount "$@"); out=${out#type=bind,source=}; out=${out%%,target=*}
      echo '<testsuites tests="1" failures="0" errors="0" skipped="0"></testsuites>' > "$out/junit.xml"
    fi ;;
  'create '*|'run '*) new_id ;;
  'network create'*) echo 0123456789abcdef ;;
  'export '*) head -c 1024 /dev/zero ;;
  'inspect --format'*) echo '{"Status": "running", "ExitCode": 0, "Health": {"Status": "healthy"}}' ;;
  'port '*) echo 127.0.0.1:49153 ;;
  'ps '*|'rm '*|'network rm'*) ;;
esac
exit 0
"#;

/// Writes an empty report of the image asked for (the last argument) where `--output` says.
const TRIVY: &str = r#"
for image in "$@"; do :; done
prev=; for a in "$@"; do [ "$prev" = --output ] && printf '{"SchemaVersion": 2, "ArtifactName": "%s", "Results": []}\n' "$image" > "$a"; prev=$a; done
exit 0
"#;

const COSIGN: &str = "exit 0\n";

/// Stands in for `cargo build` (a cold compile of the xtask would take minutes); hands every
/// other subcommand (`cargo metadata`) to the real cargo, `$FAKE_REAL_CARGO`. Only where a
/// row asks for it, with CARGO naming it.
const CARGO: &str = r#"
[ "$1" = build ] && exit 0
exec "$FAKE_REAL_CARGO" "$@"
"#;

/// Commands that only read: both runs may make them, and no plan lists them.
const QUERIES: &[&[&str]] = &[
    &["docker", "buildx", "inspect"],
    &["docker", "info"],
    &["docker", "version"],
    &["docker", "image", "inspect"],
    &["docker", "inspect"],
    &["docker", "port"],
    &["docker", "logs"],
    &["cosign", "version"],
];

fn is_query(argv: &[String]) -> bool {
    QUERIES
        .iter()
        .any(|q| argv.len() >= q.len() && argv.iter().zip(q.iter()).all(|(a, b)| a == b))
}

/// The same quoting as xtask's `shell_words`.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits a line printed by `shell_words` (plain words and single-quoted runs) into words.
fn split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A `NAME=value` word in front of the program (an environment prefix).
fn is_env_prefix(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// The digests the dry run cannot know, filled in with what the stand-ins print.
fn fill_in(word: &str) -> String {
    word.replace("{manifest}", MANIFEST)
        .replace("{digest}", DIGEST)
}

/// One command as words: the environment prefix dropped, the digests filled in, and a
/// stand-in named by its path in `bin` named as it logs itself, by its file name.
fn normalise(argv: Vec<String>, bin: &Path) -> Vec<String> {
    let mut argv: Vec<String> = argv
        .into_iter()
        .skip_while(|w| is_env_prefix(w))
        .map(|w| fill_in(&w))
        .collect();
    if let Some(name) = argv
        .first()
        .and_then(|p| Path::new(p).strip_prefix(bin).ok())
        .map(|name| name.display().to_string())
    {
        argv[0] = name;
    }
    argv
}

/// The commands a dry run printed: every line that is not blank or a `#` comment.
fn printed(stdout: &str, bin: &Path) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| normalise(split(l), bin))
        .collect()
}

/// The logged argv lines, in order.
fn logged(log: &Path, bin: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| normalise(split(l), bin))
        .collect()
}

/// The process that called each stand-in (from `<log>.callers`), one per logged line.
fn caller_lines(log: &Path) -> Vec<Vec<String>> {
    let mut path = log.as_os_str().to_owned();
    path.push(".callers");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.trim_end_matches('\x1f')
                .split('\x1f')
                .map(String::from)
                .collect()
        })
        .collect()
}

/// The processes that called the stand-ins (from `<log>.callers`), in order and each once,
/// leaving out `except` (the command under test itself).
fn callers(log: &Path, except: &[String]) -> Vec<Vec<String>> {
    let mut callers: Vec<Vec<String>> = caller_lines(log)
        .into_iter()
        .filter(|argv| argv != except)
        .collect();
    callers.dedup();
    callers
}

/// What `itself` ran, in order: a stand-in's argv where `itself` called it, the calling
/// process where a child did (once for a run of calls from the same command line).
fn own_calls_and_children(log: &Path, bin: &Path, itself: &[String]) -> Vec<Vec<String>> {
    let argvs = logged(log, bin);
    let callers = caller_lines(log);
    assert_eq!(argvs.len(), callers.len(), "one caller per logged call");
    let mut ran = Vec::new();
    let mut child: Option<Vec<String>> = None;
    for (argv, caller) in argvs.into_iter().zip(callers) {
        if caller == itself {
            ran.push(argv);
            child = None;
        } else if child.as_ref() != Some(&caller) {
            ran.push(caller.clone());
            child = Some(caller);
        }
    }
    ran
}

/// A piece of a planned word: text as it is, or a `<...>` placeholder for a run-time value.
#[derive(Debug, PartialEq)]
enum Part<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// A word's text and placeholders. A `<` that no `>` closes before the next `<` (as in a
/// secret stdin's `<<<`) is text.
fn parts(word: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    let (mut text_from, mut at) = (0, 0);
    while let Some(open) = word[at..].find('<').map(|i| at + i) {
        match word[open + 1..].find(['<', '>']).map(|i| open + 1 + i) {
            Some(close) if word[close..].starts_with('>') && close > open + 1 => {
                if open > text_from {
                    parts.push(Part::Text(&word[text_from..open]));
                }
                parts.push(Part::Placeholder(&word[open..=close]));
                text_from = close + 1;
                at = close + 1;
            }
            _ => at = open + 1,
        }
    }
    if text_from < word.len() {
        parts.push(Part::Text(&word[text_from..]));
    }
    parts
}

/// Whether `actual` is the planned word `parts` with its placeholders filled in, each with a
/// non-empty value; the values are pushed onto `found`. A placeholder's value so far (in
/// `bound` or `found`) is tried first, then the shortest value that fits.
fn fill(
    parts: &[Part],
    actual: &str,
    bound: &BTreeMap<String, String>,
    found: &mut Vec<(String, String)>,
) -> bool {
    match parts.split_first() {
        None => actual.is_empty(),
        Some((Part::Text(text), rest)) => actual
            .strip_prefix(text)
            .is_some_and(|actual| fill(rest, actual, bound, found)),
        Some((Part::Placeholder(name), rest)) => {
            let known = bound.get(*name).cloned().or_else(|| {
                found
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            });
            let mut ends: Vec<usize> = (1..=actual.len())
                .filter(|&i| actual.is_char_boundary(i))
                .collect();
            if let Some(i) = known.and_then(|v| ends.iter().position(|&e| actual[..e] == v)) {
                let end = ends.remove(i);
                ends.insert(0, end);
            }
            for end in ends {
                found.push(((*name).to_owned(), actual[..end].to_owned()));
                if fill(rest, &actual[end..], bound, found) {
                    return true;
                }
                found.pop();
            }
            false
        }
    }
}

/// The placeholders of `planned` and their values, when `actual` is `planned` filled in.
fn matches(
    planned: &[String],
    actual: &[String],
    bound: &BTreeMap<String, String>,
) -> Option<Vec<(String, String)>> {
    let mut found = Vec::new();
    (planned.len() == actual.len()
        && planned
            .iter()
            .zip(actual)
            .all(|(p, a)| fill(&parts(p), a, bound, &mut found)))
    .then_some(found)
}

/// How a real run went along its plan.
#[derive(Debug, Default)]
struct Comparison {
    /// Where the run differs from the plan, one entry per line.
    diff: Vec<String>,
    /// Each placeholder and the value it stands for in the real run.
    bound: BTreeMap<String, String>,
    /// The queries the plan does not list, passed over.
    queries: Vec<String>,
}

/// Walks the real run's commands along the plan: each must be the next planned command with
/// its placeholders filled in (a placeholder always with the same value), except a query
/// the plan does not list there, which is passed over.
fn compare(plan: &[Vec<String>], ran: &[Vec<String>]) -> Comparison {
    compare_but(plan, ran, &[])
}

/// [`compare`], where a planned command that contains all the words of one of `unseen` may
/// be missing from the run (it starts no stand-in that could log it): passed over when the
/// run's next command is a later one.
fn compare_but(plan: &[Vec<String>], ran: &[Vec<String>], unseen: &[&[&str]]) -> Comparison {
    let may_miss = |p: &[String]| {
        unseen
            .iter()
            .any(|words| words.iter().all(|w| p.iter().any(|x| x == w)))
    };
    let mut c = Comparison::default();
    let mut next = 0;
    for argv in ran {
        // The first planned command from `next` on that this one is, over unseen ones only.
        let mut at = next;
        while plan.get(at).is_some_and(|p| may_miss(p))
            && matches(&plan[at], argv, &c.bound).is_none()
        {
            at += 1;
        }
        if plan
            .get(at)
            .is_some_and(|p| matches(p, argv, &c.bound).is_some())
        {
            next = at;
        }
        let planned = plan.get(next);
        match planned.and_then(|p| matches(p, argv, &c.bound)) {
            Some(mut found) => {
                let mut seen = Vec::new();
                found.retain(|pair| {
                    let first = !seen.contains(pair);
                    seen.push(pair.clone());
                    first
                });
                for (name, value) in found {
                    match c.bound.get(&name) {
                        Some(before) if *before != value => c.diff.push(format!(
                            "line {}: {name} stood for {before}, here for {value}:\n  \
                             dry run: {}\n  ran:     {}",
                            next + 1,
                            shell_words(&plan[next]),
                            shell_words(argv)
                        )),
                        Some(_) => {}
                        None => {
                            c.bound.insert(name, value);
                        }
                    }
                }
                next += 1;
            }
            None if is_query(argv) => c.queries.push(shell_words(argv)),
            None => {
                c.diff.push(format!(
                    "line {}:\n  dry run: {}\n  ran:     {}",
                    next + 1,
                    planned.map_or("(nothing)".to_owned(), |p| shell_words(p)),
                    shell_words(argv)
                ));
                next += usize::from(planned.is_some());
            }
        }
    }
    for (i, planned) in plan.iter().enumerate().skip(next) {
        if may_miss(planned) {
            continue;
        }
        c.diff.push(format!(
            "line {}:\n  dry run: {}\n  ran:     (nothing)",
            i + 1,
            shell_words(planned)
        ));
    }
    c
}

/// Writes the stand-in `name` into `bin`: it logs its argv, then runs `body`.
fn stand_in(bin: &Path, name: &str, body: &str) {
    let body = body
        .replace("@IMAGE_ID@", IMAGE_ID)
        .replace("@MANIFEST@", MANIFEST)
        .replace("@DIGEST@", DIGEST);
    let path = bin.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{LOG_ARGV}{body}")).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
}

/// A scratch directory: the stand-ins in `bin/`, their logs, and fixture services.
struct Scratch {
    dir: tempfile::TempDir,
    /// Files under the repository root the case writes; removed (or restored) when dropped.
    touched: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl Scratch {
    /// The stand-ins, but for those named in `without`.
    fn new(without: &[&str]) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for (name, body) in [("docker", DOCKER), ("trivy", TRIVY), ("cosign", COSIGN)] {
            if without.contains(&name) {
                continue;
            }
            stand_in(&bin, name, body);
        }
        Scratch {
            dir,
            touched: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `relative` (under the repository root), to be put back as it was when dropped.
    fn write_in_repository(&mut self, relative: &str, contents: &str) {
        let path = root().join(relative);
        if !self.touched.iter().any(|(p, _)| *p == path) {
            self.touched.push((path.clone(), std::fs::read(&path).ok()));
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
    }

    /// Marks `relative` as written by the real run, to be removed (or restored) when dropped.
    fn written_by_the_run(&mut self, relative: &str) {
        let path = root().join(relative);
        if !self.touched.iter().any(|(p, _)| *p == path) {
            self.touched.push((path.clone(), std::fs::read(&path).ok()));
        }
    }

    /// `cargo xtask ARGS...` with the stand-ins first on PATH, logging to `log`.
    fn xtask(&self, args: &[String], env: &[(String, String)], log: &str) -> Output {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
        c.args(args).current_dir(root());
        c.envs(committed_head_env().iter().map(|(k, v)| (k, v)));
        for var in [
            "GITHUB_ACTIONS",
            "GITHUB_STEP_SUMMARY",
            "GITHUB_OUTPUT",
            "GITHUB_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "XTASK_REGISTRY",
            "REGISTRY_USERNAME",
            "REGISTRY_PASSWORD",
            "COSIGN_KEY",
            "COSIGN_PASSWORD",
            // The fake docker on PATH is the engine here, whatever engine the suite runs on.
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
        ] {
            c.env_remove(var);
        }
        c.envs(env.iter().map(|(k, v)| (k, v)))
            .env("PATH", path)
            .env("FAKE_TOOLS_LOG", self.path(log))
            .env("XTASK_RETRY_BASE_MS", "1");
        c.output().expect("xtask runs")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for (path, before) in self.touched.drain(..).rev() {
            match before {
                Some(bytes) => {
                    let _ = std::fs::write(&path, bytes);
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

/// One acting command, as a row of [`cases!`] (fields left out as in [`ROW`]).
struct Case {
    /// The command line without `--dry-run`; `{config}` is the fixture's images.toml and
    /// `{dir}` the scratch directory.
    args: &'static [&'static str],
    /// Added to the environment; in values, `{dir}` is the scratch directory, `{sha7}`
    /// the commit's short sha and `{service}` inside `[...]` each configured service in
    /// turn (`["reg/{service}:x"]` lists every service's). `FAKE_REPO_TAGS` is what the
    /// stand-in's `docker image inspect --format '{{json .RepoTags}}'` answers.
    env: &'static [(&'static str, &'static str)],
    /// Fixture services (GOOD Dockerfiles) in `{config}`; their names keep the files xtask
    /// writes under target/xtask apart from every other test's.
    services: &'static [&'static str],
    /// Services whose `target/xtask/build/<name>.iid` names the stand-in image during the
    /// runs (as if built), with a build record (`target/xtask/record/<name>.json`) of it
    /// tagged `sha-<7>` in 127.0.0.1:5999/acme and pushed as [`DIGEST`], put back as they
    /// were afterwards.
    built: &'static [&'static str],
    /// Files the real run writes under the repository root, removed afterwards; one with
    /// `{service}` stands for that file of every configured service.
    writes: &'static [&'static str],
    /// The case uses the repository's own services (and their files under target/xtask):
    /// it takes its turn with the tests that build them.
    repository: bool,
    /// Stand-ins left out of PATH (e.g. `trivy`, so that scan runs trivy's image on Docker).
    without: &'static [&'static str],
    /// The plan lists child `xtask` commands (ci): the real run's are the processes that
    /// called the stand-ins, and the stand-ins' own argv is not compared.
    children: bool,
    /// The plan lists child `xtask` commands and tools (bench): the real run's are the
    /// stand-ins' argv where the command called them itself, the calling process where a
    /// child did.
    own_calls: bool,
    /// Planned commands (by words they contain) that may start no stand-in, so that a real
    /// run leaves no trace of them: passed over when missing. Each must be planned.
    unseen: &'static [&'static [&'static str]],
    /// A stand-in `cargo` ([`CARGO`]), with CARGO naming it.
    cargo: bool,
}

/// The fields a row leaves out.
const ROW: Case = Case {
    args: &[],
    env: &[],
    services: &[],
    built: &[],
    writes: &[],
    repository: false,
    without: &[],
    children: false,
    own_calls: false,
    unseen: &[],
    cargo: false,
};

/// `text` once per configured service, `{service}` replaced by its name; `text` itself when
/// it has no `{service}`.
fn each_service(text: &str) -> Vec<String> {
    if !text.contains("{service}") {
        return vec![text.to_owned()];
    }
    services()
        .iter()
        .map(|name| text.replace("{service}", name))
        .collect()
}

fn check(case: Case) {
    let _turn = case.repository.then(repository_images);
    let mut s = Scratch::new(case.without);
    let bin = s.path("bin");
    if case.cargo {
        stand_in(&bin, "cargo", CARGO);
    }
    let config = if case.services.is_empty() {
        String::new()
    } else {
        let services: Vec<Service> = case
            .services
            .iter()
            .map(|name| Service::new(name, GOOD))
            .collect();
        fixture::write(s.dir.path(), &services)
            .to_str()
            .unwrap()
            .to_owned()
    };
    let dir = s.dir.path().display().to_string();
    let head = git_head();
    let sha7 = &head[..7];
    for name in case.built {
        s.write_in_repository(
            &format!("target/xtask/build/{name}.iid"),
            &format!("{IMAGE_ID}\n"),
        );
        let repository = format!("127.0.0.1:5999/acme/{name}");
        let record = serde_json::json!({
            "version": 1, "service": name, "repository": repository, "image_id": IMAGE_ID,
            "tags": [format!("sha-{sha7}")], "immutable": format!("sha-{sha7}"),
            "labels": {"org.opencontainers.image.revision": head},
            "revision": head, "dirty": false,
            "pushed": {"repository": repository, "digest": DIGEST, "tags": [format!("sha-{sha7}")]},
        });
        s.write_in_repository(
            &format!("target/xtask/record/{name}.json"),
            &serde_json::to_string_pretty(&record).unwrap(),
        );
    }
    for file in case.writes.iter().flat_map(|f| each_service(f)) {
        s.written_by_the_run(&file);
    }
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{config}", &config).replace("{dir}", &dir))
        .collect();
    let mut env: Vec<(String, String)> = case
        .env
        .iter()
        .map(|(k, v)| {
            let v = v.replace("{dir}", &dir).replace("{sha7}", sha7);
            let v = match v.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                Some(item) if item.contains("{service}") => {
                    format!("[{}]", each_service(item).join(","))
                }
                _ => v,
            };
            ((*k).to_owned(), v)
        })
        .collect();
    env.push(("FAKE_REVISION".into(), head.clone()));
    if case.cargo {
        env.push(("CARGO".into(), bin.join("cargo").display().to_string()));
        env.push(("FAKE_REAL_CARGO".into(), env!("CARGO").into()));
    }
    let mut dry_args = args.clone();
    dry_args.push("--dry-run".into());

    let dry = s.xtask(&dry_args, &env, "dry-run.log");
    assert!(
        dry.status.success(),
        "{dry_args:?}: {}\n{}",
        stdout(&dry),
        stderr(&dry)
    );
    let plan = printed(&stdout(&dry), &bin);
    assert!(!plan.is_empty(), "{dry_args:?} printed no command");
    let dry_acts: Vec<String> = logged(&s.path("dry-run.log"), &bin)
        .iter()
        .map(|argv| shell_words(argv))
        .collect();
    assert!(
        dry_acts.iter().all(|line| is_query(&split(line))),
        "{dry_args:?} made other commands than queries: {dry_acts:#?}"
    );

    let real = s.xtask(&args, &env, "run.log");
    assert!(
        real.status.success(),
        "{args:?}: {}\n{}",
        stdout(&real),
        stderr(&real)
    );
    let itself: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_xtask").to_owned())
        .chain(args.iter().cloned())
        .collect();
    let ran = if case.own_calls {
        own_calls_and_children(&s.path("run.log"), &bin, &itself)
    } else if case.children {
        callers(&s.path("run.log"), &itself)
    } else {
        logged(&s.path("run.log"), &bin)
    };
    let lines = |argvs: &[Vec<String>]| {
        argvs
            .iter()
            .map(|argv| shell_words(argv))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for words in case.unseen {
        assert!(
            plan.iter()
                .any(|p| words.iter().all(|w| p.iter().any(|x| x == w))),
            "no planned command has all of {words:?}"
        );
    }
    let c = compare_but(&plan, &ran, case.unseen);
    assert!(
        c.diff.is_empty(),
        "`cargo xtask {}` ran other commands than its dry run printed:\n{}\n\
         dry run printed:\n{}\nran:\n{}\n(placeholders: {:#?})",
        args.join(" "),
        c.diff.join("\n"),
        lines(&plan),
        lines(&ran),
        c.bound,
    );
    let placeholders: Vec<&str> = plan
        .iter()
        .flatten()
        .flat_map(|w| parts(w))
        .filter_map(|p| match p {
            Part::Placeholder(name) => Some(name),
            Part::Text(_) => None,
        })
        .collect();
    assert!(
        placeholders.iter().all(|p| c.bound.contains_key(*p)),
        "placeholders without a value: {placeholders:?} vs {:#?}",
        c.bound
    );
}

/// The harness itself: a stand-in logs its argv exactly as `shell_words` prints it, and a
/// printed line splits back into the same words.
#[test]
fn stand_ins_log_argv_quoted_like_shell_words() {
    let s = Scratch::new(&[]);
    let argv: Vec<String> = [
        "docker",
        "tag",
        "plain-_./:=@,+%^9",
        "a b",
        "it's",
        "",
        "{{json .Manifest}}",
        "x@{digest}",
        "trailing ",
    ]
    .map(String::from)
    .into();
    let o = Command::new(s.path("bin/docker"))
        .args(&argv[1..])
        .env("FAKE_TOOLS_LOG", s.path("quoting.log"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(s.path("quoting.log")).unwrap();
    assert_eq!(log, format!("{}\n", shell_words(&argv)));
    assert_eq!(split(log.trim_end_matches('\n')), argv);
    assert_eq!(
        normalise(
            split("FOO=1 BAR_2=x /s/bin/trivy image 'x@{digest}'"),
            Path::new("/s/bin")
        ),
        ["trivy", "image", &format!("x@{DIGEST}")]
    );
}

/// The harness itself: placeholders match the real run's values by position and must keep
/// them; `<<<` is no placeholder; queries the plan does not list are passed over.
#[test]
fn placeholders_stand_for_one_value_each() {
    let words = |l: &str| split(l);
    assert_eq!(
        parts("xtask-e2e-<run id>-api"),
        [
            Part::Text("xtask-e2e-"),
            Part::Placeholder("<run id>"),
            Part::Text("-api")
        ]
    );
    assert_eq!(parts("<<<"), [Part::Text("<<<")]);
    assert_eq!(parts("<<a>"), [Part::Text("<"), Part::Placeholder("<a>")]);
    let plan = [
        words("docker network create 'xtask-e2e-<run id>'"),
        words("docker run --name 'xtask-e2e-<run id>-api' --label 'v=<run id>' img"),
        words("docker login --password-stdin host '<<<' '***'"),
        words("docker rm -f '<created container of api>'"),
    ];
    let ran = [
        words("docker network create xtask-e2e-42"),
        words("docker inspect --format x xtask-e2e-42"),
        words("docker run --name xtask-e2e-42-api --label v=42 img"),
        words("docker login --password-stdin host '<<<' '***'"),
        words("docker rm -f c0ffee1"),
    ];
    let c = compare(&plan, &ran);
    assert!(c.diff.is_empty(), "{:#?}", c.diff);
    assert_eq!(c.queries, ["docker inspect --format x xtask-e2e-42"]);
    assert_eq!(c.bound["<run id>"], "42");
    assert_eq!(c.bound["<created container of api>"], "c0ffee1");

    let inconsistent = [
        words("docker network create xtask-e2e-42"),
        words("docker run --name xtask-e2e-43-api --label v=43 img"),
    ];
    let c = compare(&plan[..2], &inconsistent);
    assert_eq!(c.diff.len(), 1, "{:#?}", c.diff);
    assert!(
        c.diff[0].starts_with("line 2: <run id> stood for 42, here for 43"),
        "{:#?}",
        c.diff
    );

    let c = compare(&plan[..2], &[words("docker network create other")]);
    assert_eq!(c.diff.len(), 2, "{:#?}", c.diff);

    // Unseen planned commands are passed over, seen or not; the others are still required.
    let plan = [
        words("xtask --help"),
        words("docker buildx bake --print"),
        words("xtask --help"),
        words("xtask build --affected"),
        words("cargo build"),
        words("xtask --help"),
    ];
    let unseen: &[&[&str]] = &[&["--help"], &["--affected"]];
    let ran = [words("docker buildx bake --print"), words("cargo build")];
    assert!(compare_but(&plan, &ran, unseen).diff.is_empty());
    let ran = [
        words("docker buildx bake --print"),
        words("xtask build --affected"),
        words("cargo build"),
    ];
    assert!(compare_but(&plan, &ran, unseen).diff.is_empty());
    let c = compare_but(&plan, &[words("docker buildx bake --print")], unseen);
    assert_eq!(c.diff.len(), 1, "{:#?}", c.diff);
    assert!(c.diff[0].contains("cargo build"), "{:#?}", c.diff);
}

/// One `#[test]` per row.
macro_rules! cases {
    ($($name:ident: $case:expr,)*) => {
        $(
            #[test]
            fn $name() {
                check($case);
            }
        )*
    };
}

cases! {
    build_runs_what_its_dry_run_prints: Case {
        args: &["--config", "{config}", "build", "--registry", "127.0.0.1:5999/acme"],
        services: &["dryrun-build"],
        writes: &[
            "target/xtask/build/dryrun-build.iid",
            "target/xtask/logs/dryrun-build.log",
            "target/xtask/record/dryrun-build.json",
        ],
        ..ROW
    },
    push_runs_what_its_dry_run_prints: Case {
        args: &[
            "--config", "{config}", "push", "--registry", "127.0.0.1:5999/acme",
            "--allow-unscanned",
        ],
        env: &[
            ("REGISTRY_USERNAME", "dry-user"),
            ("REGISTRY_PASSWORD", "dry-Pa55"),
            (
                "FAKE_REPO_TAGS",
                r#"["127.0.0.1:5999/acme/dryrun-push-a:sha-{sha7}", "127.0.0.1:5999/acme/dryrun-push-b:sha-{sha7}"]"#,
            ),
        ],
        services: &["dryrun-push-a", "dryrun-push-b"],
        built: &["dryrun-push-a", "dryrun-push-b"],
        ..ROW
    },
    promote_runs_what_its_dry_run_prints: Case {
        args: &[
            "--config", "{config}", "promote", "--registry", "127.0.0.1:5999/acme",
            "--from", "sha-0000000", "--to", "v9.9.9,latest,stable",
        ],
        env: &[("REGISTRY_USERNAME", "dry-user"), ("REGISTRY_PASSWORD", "dry-Pa55")],
        services: &["dryrun-promote"],
        ..ROW
    },
    sign_runs_what_its_dry_run_prints: Case {
        args: &[
            "--config", "{config}", "sign", "--registry", "127.0.0.1:5999/acme",
            "--key", "{dir}/cosign.key",
        ],
        env: &[
            ("REGISTRY_USERNAME", "dry-user"),
            ("REGISTRY_PASSWORD", "dry-Pa55"),
            ("COSIGN_PASSWORD", "dry-cosign-pw"),
        ],
        services: &["dryrun-sign"],
        built: &["dryrun-sign"],
        ..ROW
    },
    scan_runs_what_its_dry_run_prints: Case {
        args: &[
            "--config", "{config}", "scan", "dryrun-scan", "--registry", "127.0.0.1:5999/acme",
            "--image", "busybox:stable", "--sarif", "{dir}/trivy.sarif",
        ],
        env: &[("FAKE_REPO_TAGS", r#"["127.0.0.1:5999/acme/dryrun-scan:sha-{sha7}"]"#)],
        services: &["dryrun-scan"],
        built: &["dryrun-scan"],
        writes: &[
            "target/xtask/scan/dryrun-scan.trivy.json",
            "target/xtask/scan/dryrun-scan.trivy.log",
            "target/xtask/scan/dryrun-scan.verdict.json",
            "target/xtask/scan/busybox_stable.trivy.json",
            "target/xtask/scan/busybox_stable.trivy.log",
        ],
        ..ROW
    },
    scan_on_docker_runs_what_its_dry_run_prints: Case {
        args: &[
            "--config", "{config}", "scan", "--registry", "127.0.0.1:5999/acme",
            "--sarif", "{dir}/trivy.sarif",
        ],
        env: &[("FAKE_REPO_TAGS", r#"["127.0.0.1:5999/acme/dryrun-scan-docker:sha-{sha7}"]"#)],
        services: &["dryrun-scan-docker"],
        built: &["dryrun-scan-docker"],
        writes: &[
            "target/xtask/scan/dryrun-scan-docker.trivy.json",
            "target/xtask/scan/dryrun-scan-docker.trivy.log",
            "target/xtask/scan/dryrun-scan-docker.verdict.json",
        ],
        without: &["trivy"],
        ..ROW
    },
    verify_runs_what_its_dry_run_prints: Case {
        args: &["--config", "{config}", "verify", "dryrun-verify", "--image", "busybox:stable"],
        services: &["dryrun-verify"],
        built: &["dryrun-verify"],
        ..ROW
    },
    ci_runs_what_its_dry_run_prints: Case {
        args: &["ci", "--push", "--registry", "127.0.0.1:5999/acme"],
        env: &[
            (
                "FAKE_REPO_TAGS",
                r#"["127.0.0.1:5999/acme/{service}:sha-{sha7}"]"#,
            ),
            ("REGISTRY_USERNAME", "dry-user"),
            ("REGISTRY_PASSWORD", "dry-Pa55"),
            ("COSIGN_KEY", "{dir}/cosign.key"),
            ("COSIGN_PASSWORD", "dry-cosign-pw"),
        ],
        writes: &[
            "target/xtask/build/{service}.iid",
            "target/xtask/logs/{service}.log",
            "target/xtask/record/{service}.json",
            "target/xtask/scan/{service}.trivy.json",
            "target/xtask/scan/{service}.trivy.log",
            "target/xtask/scan/{service}.verdict.json",
            "target/xtask/scan/trivy.sarif",
            "target/xtask/e2e/junit.xml",
        ],
        repository: true,
        children: true,
        ..ROW
    },
    // The one-line change edits api/src/main.rs (and puts it back): the repository's own
    // services. `xtask --help` starts no tool; `build --affected` with nothing changed
    // neither (with a change, as while this file is edited, it builds and is seen).
    bench_runs_what_its_dry_run_prints: Case {
        args: &["bench", "--rounds", "1", "--registry", "127.0.0.1:5999/acme"],
        writes: &[
            "api/src/main.rs",
            "target/xtask/bench.json",
            "target/xtask/bench.md",
            "target/xtask/bench/bake.json",
            "target/xtask/bench/per-service.json",
            "target/xtask/bench/per-service/{service}.Dockerfile",
            "target/xtask/bench/per-service/{service}.Dockerfile.dockerignore",
            "target/xtask/bench/cold-xtask-1.log",
            "target/xtask/bench/cold-bake-1.log",
            "target/xtask/bench/cold-per-service-1.log",
            "target/xtask/bench/warm-xtask-1.log",
            "target/xtask/bench/warm-bake-1.log",
            "target/xtask/bench/sizes.log",
            "target/xtask/bench/one-line-1.log",
            "target/xtask/bench/affected-1.log",
            "target/xtask/bench/compile.log",
            "target/xtask/build/{service}.iid",
            "target/xtask/logs/{service}.log",
        ],
        repository: true,
        own_calls: true,
        unseen: &[&["--help"], &["--affected"]],
        cargo: true,
        ..ROW
    },
    e2e_runs_what_its_dry_run_prints: Case {
        args: &["e2e"],
        built: &["api", "web", "playwright-runner"],
        writes: &["target/xtask/e2e/junit.xml"],
        repository: true,
        ..ROW
    },
}
