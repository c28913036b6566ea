//! `--dry-run` prints exactly what a real run does. Each case runs the real xtask twice with
//! stand-in `docker`, `trivy` and `cosign` first on PATH (git stays real: the tags come from
//! this repository's context): once with `--dry-run`, keeping the commands it prints, and
//! once for real, with the stand-ins logging every argv. The acting commands logged must be
//! the printed ones, in order, once the placeholders the dry run prints for run-time values
//! are filled in. The read-only queries both runs make (`docker buildx inspect`,
//! `docker image inspect`, ...) are not part of a plan; the dry run must make nothing else.
//!
//! No engine is needed and the shared one is never touched. A new case is one row in
//! [`cases!`] at the bottom.

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
/// `'\''` for a quote. Appended to `$FAKE_TOOLS_LOG`.
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
"#;

/// Answers what xtask parses: a `docker` driver builder, the image id in `--iidfile`, image
/// inspect JSON, the digests of push and imagetools, healthy containers and a JUnit report
/// for the e2e runner.
const DOCKER: &str = r#"
value_of() { flag=$1; shift; prev=; for a in "$@"; do [ "$prev" = "$flag" ] && printf '%s' "$a"; prev=$a; done; }
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
  'buildx build'*)
    iid=$(value_of --iidfile "$@")
    [ -n "$iid" ] && printf '%s\n' "@IMAGE_ID@" > "$iid"
    echo '#1 [internal] load build definition'
    echo '#1 DONE 0.0s' ;;
  'image inspect --format'*) echo 1000000 ;;
  'image inspect'*) echo '[{"Id": "@IMAGE_ID@", "Size": 1000000, "Config": {"User": "65534"}}]' ;;
  'login '*) cat >/dev/null; echo 'Login Succeeded' ;;
  'push '*) echo 'The push refers to repository'; echo "tag: digest: @MANIFEST@ size: 527" ;;
  'buildx imagetools inspect'*) printf '{\n  "mediaType": "application/vnd.oci.image.index.v1+json",\n  "digest": "@DIGEST@",\n  "size": 402\n}\n' ;;
  'run --rm'*)
    out=$(value_of --mount "$@"); out=${out#type=bind,source=}; out=${out%%,target=*}
    echo '<testsuites tests="1" failures="0" errors="0" skipped="0"></testsuites>' > "$out/junit.xml" ;;
  'run '*|'network create'*) echo 0123456789abcdef ;;
  'inspect --format'*) echo '{"Status": "running", "Health": {"Status": "healthy"}}' ;;
  'port '*) echo 127.0.0.1:49153 ;;
esac
exit 0
"#;

/// Writes an empty report where `--output` says.
const TRIVY: &str = r#"
prev=; for a in "$@"; do [ "$prev" = --output ] && echo '{"SchemaVersion": 2, "Results": []}' > "$a"; prev=$a; done
exit 0
"#;

const COSIGN: &str = "exit 0\n";

/// Commands that only read: both runs may make them, and no plan lists them.
const QUERIES: &[&[&str]] = &[
    &["docker", "buildx", "inspect"],
    &["docker", "info"],
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

/// The run-time values in a word, named: the digests the dry run cannot know (filled in with
/// what the stand-ins print), and e2e's run id (the process id, different in each run).
fn fill_in(word: &str) -> String {
    let word = word
        .replace("{manifest}", MANIFEST)
        .replace("{digest}", DIGEST);
    let prefix = "xtask-e2e-";
    let mut out = String::new();
    let mut rest = word.as_str();
    while let Some(i) = rest.find(prefix) {
        let after = &rest[i + prefix.len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        out.push_str(&rest[..i + prefix.len()]);
        out.push_str(if digits > 0 { "{run}" } else { "" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

fn normalise(argv: Vec<String>) -> String {
    let argv: Vec<String> = argv
        .into_iter()
        .skip_while(|w| is_env_prefix(w))
        .map(|w| fill_in(&w))
        .collect();
    shell_words(&argv)
}

/// The commands a dry run printed: every line that is not blank or a `#` comment.
fn printed(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| normalise(split(l)))
        .collect()
}

/// The logged argv lines, split into the acting commands and the queries.
fn logged(log: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (queries, acts): (Vec<Vec<String>>, Vec<Vec<String>>) =
        text.lines().map(split).partition(|argv| is_query(argv));
    (
        acts.into_iter().map(normalise).collect(),
        queries.into_iter().map(normalise).collect(),
    )
}

/// A scratch directory: the stand-ins in `bin/`, their logs, and fixture services.
struct Scratch {
    dir: tempfile::TempDir,
    /// Files under the repository root the case writes; removed (or restored) when dropped.
    touched: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for (name, body) in [("docker", DOCKER), ("trivy", TRIVY), ("cosign", COSIGN)] {
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
    fn xtask(&self, args: &[String], env: &[(&str, &str)], log: &str) -> Output {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
        c.args(args).current_dir(root());
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
        ] {
            c.env_remove(var);
        }
        c.envs(env.iter().copied())
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

/// One acting command, as a row of [`cases!`].
struct Case {
    /// The command line without `--dry-run`; `{config}` is the fixture's images.toml and
    /// `{dir}` the scratch directory.
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// Fixture services (GOOD Dockerfiles) in `{config}`; their names keep the files xtask
    /// writes under target/xtask apart from every other test's.
    services: &'static [&'static str],
    /// Services whose `target/xtask/build/<name>.iid` names the stand-in image during the
    /// runs (as if built), put back as they were afterwards.
    built: &'static [&'static str],
    /// Files the real run writes under the repository root, removed afterwards.
    writes: &'static [&'static str],
    /// The case uses the repository's own services (and their files under target/xtask):
    /// it takes its turn with the tests that build them.
    repository: bool,
}

fn check(case: Case) {
    let _turn = case.repository.then(repository_images);
    let mut s = Scratch::new();
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
    for name in case.built {
        s.write_in_repository(
            &format!("target/xtask/build/{name}.iid"),
            &format!("{IMAGE_ID}\n"),
        );
    }
    for file in case.writes {
        s.written_by_the_run(file);
    }
    let dir = s.dir.path().display().to_string();
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{config}", &config).replace("{dir}", &dir))
        .collect();
    let mut dry_args = args.clone();
    dry_args.push("--dry-run".into());

    let dry = s.xtask(&dry_args, case.env, "dry-run.log");
    assert!(
        dry.status.success(),
        "{dry_args:?}: {}\n{}",
        stdout(&dry),
        stderr(&dry)
    );
    let plan = printed(&stdout(&dry));
    assert!(!plan.is_empty(), "{dry_args:?} printed no command");
    let (dry_acts, dry_queries) = logged(&s.path("dry-run.log"));
    assert!(
        dry_acts.is_empty(),
        "{dry_args:?} acted: {dry_acts:#?}\n(queries: {dry_queries:#?})"
    );

    let real = s.xtask(&args, case.env, "run.log");
    assert!(
        real.status.success(),
        "{args:?}: {}\n{}",
        stdout(&real),
        stderr(&real)
    );
    let (acts, queries) = logged(&s.path("run.log"));
    let diff: Vec<String> = (0..plan.len().max(acts.len()))
        .filter(|&i| plan.get(i) != acts.get(i))
        .map(|i| {
            format!(
                "line {}:\n  dry run: {}\n  ran:     {}",
                i + 1,
                plan.get(i).map_or("(nothing)", String::as_str),
                acts.get(i).map_or("(nothing)", String::as_str)
            )
        })
        .collect();
    assert!(
        diff.is_empty(),
        "`cargo xtask {}` ran other commands than its dry run printed:\n{}\n\
         dry run printed:\n{}\nran:\n{}\n(queries: {queries:#?})",
        args.join(" "),
        diff.join("\n"),
        plan.join("\n"),
        acts.join("\n"),
    );
}

/// The harness itself: a stand-in logs its argv exactly as `shell_words` prints it, and a
/// printed line splits back into the same words.
#[test]
fn stand_ins_log_argv_quoted_like_shell_words() {
    let s = Scratch::new();
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
        normalise(split("FOO=1 BAR_2=x docker run 'xtask-e2e-4242-api'")),
        "docker run 'xtask-e2e-{run}-api'"
    );
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
        env: &[],
        services: &["dryrun-build"],
        built: &[],
        writes: &["target/xtask/build/dryrun-build.iid", "target/xtask/logs/dryrun-build.log"],
        repository: false,
    },
    push_runs_what_its_dry_run_prints: Case {
        args: &[
            "--config", "{config}", "push", "--registry", "127.0.0.1:5999/acme",
            "--allow-unscanned",
        ],
        env: &[("REGISTRY_USERNAME", "dry-user"), ("REGISTRY_PASSWORD", "dry-Pa55")],
        services: &["dryrun-push-a", "dryrun-push-b"],
        built: &["dryrun-push-a", "dryrun-push-b"],
        writes: &[],
        repository: false,
    },
    promote_runs_what_its_dry_run_prints: Case {
        args: &[
            "--config", "{config}", "promote", "--registry", "127.0.0.1:5999/acme",
            "--from", "sha-0000000", "--to", "v9.9.9,latest,stable",
        ],
        env: &[("REGISTRY_USERNAME", "dry-user"), ("REGISTRY_PASSWORD", "dry-Pa55")],
        services: &["dryrun-promote"],
        built: &[],
        writes: &[],
        repository: false,
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
        built: &[],
        writes: &[],
        repository: false,
    },
    e2e_runs_what_its_dry_run_prints: Case {
        args: &["e2e"],
        env: &[],
        services: &[],
        built: &["api", "web", "playwright-runner"],
        writes: &["target/xtask/e2e/junit.xml"],
        repository: true,
    },
}
