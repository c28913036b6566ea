//! Tidy tests: checks of the repository itself, run with the unit tests.
//!
//! They keep promises that no compiler checks: every Dockerfile has its ignore file and no
//! `# syntax=` line (it pulls the frontend from Docker Hub and fails offline) and none lists
//! the workspace members by hand (a new member would break every image), every service
//! in the config points at files that exist and has all its pieces (`pieces.rs`: crate,
//! Dockerfile, ignore file, config entry), the docs mention every subcommand, and the CI
//! workflow does its image work only through `cargo xtask`, with actions pinned by commit.
//! And they keep the code's shape: only `adapters/exec.rs` starts processes, `domain/` reads
//! no environment and no clock, and imports run one way (commands use domain and adapters,
//! adapters use domain, domain uses neither; no command imports another).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::adapters::exec;
use crate::domain::config::{Config, CONFIG_FILE};

mod pieces;

fn root() -> PathBuf {
    crate::adapters::workspace::repo_root()
}

/// The files `cargo xtask new-service` writes from, under xtask/docker/templates.
fn templates() -> Vec<PathBuf> {
    let Ok(dir) = fs::read_dir(root().join("xtask/docker/templates")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn dockerfiles() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("xtask/docker"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_dockerfile_has_its_ignore_file() {
    for f in dockerfiles() {
        let ignore = PathBuf::from(format!("{}.dockerignore", f.display()));
        assert!(
            ignore.exists(),
            "{} has no {}",
            f.display(),
            ignore.display()
        );
    }
}

#[test]
fn no_dockerfile_has_a_syntax_line() {
    for f in dockerfiles() {
        let text = fs::read_to_string(&f).unwrap();
        let bad = text.lines().any(|l| {
            l.trim_start()
                .trim_start_matches('#')
                .trim_start()
                .starts_with("syntax=")
        });
        assert!(
            !bad,
            "{} has a `# syntax=` line: it pulls from Docker Hub and fails offline",
            f.display()
        );
    }
}

#[test]
fn every_service_points_at_existing_files() {
    let config = Config::load(&root(), Path::new(CONFIG_FILE)).unwrap();
    for s in config.services.values() {
        assert!(
            root().join(&s.dockerfile).is_file(),
            "{}: {} is missing",
            s.name,
            s.dockerfile.display()
        );
        assert!(
            root().join(s.ignore_file()).is_file(),
            "{}: {} is missing",
            s.name,
            s.ignore_file().display()
        );
        assert!(
            root().join(&s.context).is_dir(),
            "{}: context {} is missing",
            s.name,
            s.context.display()
        );
    }
    let declared: Vec<PathBuf> = config
        .services
        .values()
        .map(|s| root().join(&s.dockerfile))
        .collect();
    for f in dockerfiles() {
        assert!(
            declared.contains(&f),
            "{} is not used by any service in {CONFIG_FILE}",
            f.display()
        );
    }
}

/// The workspace members, as the root `Cargo.toml` lists them.
fn workspace_members() -> Vec<String> {
    let text = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["workspace"]["members"]
        .as_array()
        .expect("the root Cargo.toml lists its members")
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

/// A Dockerfile's instructions, continuation lines joined and comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(body) => {
                current.push_str(body);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out.extend(Some(current).filter(|c| !c.is_empty()));
    out.iter()
        .map(|i| i.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Where `text` names workspace `members` by hand, one line each: a COPY of a member's
/// `Cargo.toml` by name, or one instruction naming several members (a shell loop over them).
fn hard_coded_members(text: &str, members: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for inst in dockerfile_instructions(text) {
        let keyword = inst.split_whitespace().next().unwrap_or_default();
        if ["COPY", "ADD"].contains(&keyword.to_ascii_uppercase().as_str()) {
            for word in inst.split_whitespace() {
                let path = word.trim_start_matches("./");
                if members.iter().any(|m| path == format!("{m}/Cargo.toml")) {
                    found.push(format!("`{keyword} {path}` names a member's manifest"));
                }
            }
        }
        // Leaving the toolkit out of every image (`--exclude xtask`) names no list of members.
        let inst = inst.replace("--exclude xtask", "");
        let words: BTreeSet<&str> = inst
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .collect();
        let named: Vec<&str> = members
            .iter()
            .map(String::as_str)
            .filter(|m| words.contains(m))
            .collect();
        if named.len() > 1 {
            found.push(format!(
                "`{}` names the members {}",
                inst.chars().take(80).collect::<String>().trim_end(),
                named.join(", ")
            ));
        }
    }
    found
}

const DERIVE_MEMBERS: &str = "derive the manifests from the build context as the recipe stage \
     of xtask/docker/api.Dockerfile does (`COPY . .`, then every Cargo.toml `find` finds), so \
     that a new member needs no edit of any Dockerfile";

#[test]
fn no_dockerfile_lists_the_workspace_members() {
    let members = workspace_members();
    let mut files = dockerfiles();
    files.extend(
        templates()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("Dockerfile")),
    );
    for f in files {
        let found = hard_coded_members(&fs::read_to_string(&f).unwrap(), &members);
        assert!(
            found.is_empty(),
            "{} lists workspace members by hand: {}; {DERIVE_MEMBERS}",
            f.display(),
            found.join("; ")
        );
    }
}

/// The text between these lines of a Rust service's Dockerfile: the same in every one, so
/// BuildKit builds the workspace's dependencies once for all of them.
const SHARED_LAYER: (&str, &str) = (
    "# ---- The shared dependency layer",
    "# ---- End of the shared dependency layer.",
);

fn shared_layer(text: &str) -> Option<&str> {
    let start = text.find(SHARED_LAYER.0)?;
    let end = text[start..].find(SHARED_LAYER.1)? + start;
    Some(&text[start..end])
}

#[test]
fn rust_services_share_one_dependency_layer() {
    let reference = root().join("xtask/docker/api.Dockerfile");
    let expected = fs::read_to_string(&reference).unwrap();
    let expected = shared_layer(&expected).expect("api.Dockerfile has the shared layer");
    let mut files = dockerfiles();
    files.extend(
        templates()
            .into_iter()
            .filter(|p| p.ends_with("worker.Dockerfile")),
    );
    let mut rust = 0;
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        if !text.contains("cargo build") {
            continue;
        }
        rust += 1;
        assert_eq!(
            shared_layer(&text),
            Some(expected),
            "{} does not start with the shared dependency layer: copy the lines from `{}` to \
             `{}` of {} unchanged (one compile of the dependencies for every service)",
            f.display(),
            SHARED_LAYER.0,
            SHARED_LAYER.1,
            reference.display()
        );
    }
    assert!(
        rust >= 3,
        "api, web and the worker template are Rust services"
    );
}

#[test]
fn the_member_list_rule_catches_a_hard_coded_list() {
    let members = ["api", "web", "xtask"].map(String::from);
    let old = "COPY Cargo.toml Cargo.lock ./\nCOPY api/Cargo.toml api/\n\
               RUN for member in api web xtask; do \\\n  mkdir -p \"$member/src\"; \\\n    done\n\
               # api and web build at the same time\nENV API_URL=http://api:8080\n\
               COPY web/src web/src\n";
    assert_eq!(
        hard_coded_members(old, &members),
        [
            "`COPY api/Cargo.toml` names a member's manifest",
            "`RUN for member in api web xtask; do mkdir -p \"$member/src\"; done` names \
             the members api, web, xtask"
        ]
    );
}

#[test]
fn every_service_has_all_its_pieces() {
    let missing = pieces::missing_pieces(&root());
    assert!(
        missing.is_empty(),
        "a service is incomplete:\n  {}",
        missing.join("\n  ")
    );
}

/// A checkout with one complete Rust service, `api`, and a toolkit crate without an image.
fn complete_checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"api\", \"xtask\"]\n",
    );
    write("api/Cargo.toml", "[package]\nname = \"api\"\n");
    write("xtask/Cargo.toml", "[package]\nname = \"xtask\"\n");
    write(
        "xtask/images.toml",
        "[services.api]\ndockerfile = \"xtask/docker/api.Dockerfile\"\n",
    );
    write(
        "xtask/docker/api.Dockerfile",
        "RUN cargo build --release --locked -p api\n",
    );
    write("xtask/docker/api.Dockerfile.dockerignore", "*\n");
    dir
}

#[test]
fn the_service_pieces_rule_names_each_missing_piece_and_its_fix() {
    type Change = fn(&Path);
    let check = |change: Change| {
        let dir = complete_checkout();
        change(dir.path());
        pieces::missing_pieces(dir.path())
    };
    assert!(check(|_| {}).is_empty(), "{:?}", check(|_| {}));
    let cases: [(Change, &str); 5] = [
        (
            |d| fs::remove_file(d.join("xtask/docker/api.Dockerfile")).unwrap(),
            "[services.api] in xtask/images.toml names xtask/docker/api.Dockerfile, which is \
             missing: write it",
        ),
        (
            |d| fs::remove_file(d.join("xtask/docker/api.Dockerfile.dockerignore")).unwrap(),
            "service `api`: xtask/docker/api.Dockerfile.dockerignore is missing beside its \
             Dockerfile: write one",
        ),
        (
            |d| fs::write(d.join("Cargo.toml"), "[workspace]\nmembers = [\"xtask\"]\n").unwrap(),
            "service `api`: xtask/docker/api.Dockerfile builds the crate `api`, which is not a \
             workspace member: add \"api\" to [workspace] members in Cargo.toml",
        ),
        (
            |d| {
                fs::write(d.join("Cargo.toml"), "[workspace]\nmembers = [\"xtask\"]\n").unwrap();
                fs::remove_dir_all(d.join("api")).unwrap();
            },
            "service `api`: xtask/docker/api.Dockerfile builds the crate `api`, but there is no \
             api/Cargo.toml: create the crate and add it to [workspace] members (`cargo xtask \
             new-service NAME` writes every piece of a new service)",
        ),
        (
            |d| fs::write(d.join("xtask/images.toml"), "[services]\n").unwrap(),
            "workspace member `api` has xtask/docker/api.Dockerfile but no [services.api] in \
             xtask/images.toml: add it",
        ),
    ];
    for (change, expected) in cases {
        let missing = check(change);
        assert!(
            missing.len() == 1 && missing[0].starts_with(expected),
            "expected one line starting `{expected}`, got {missing:#?}"
        );
    }
}

#[test]
fn docs_mention_every_subcommand() {
    let mut docs = fs::read_to_string(root().join("README.md")).unwrap();
    docs += &fs::read_to_string(root().join("CONTRIBUTING.md")).unwrap();
    for entry in fs::read_dir(root().join("docs")).unwrap() {
        docs += &fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    for sub in crate::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            docs.contains(&format!("cargo xtask {name}")),
            "no doc mentions `cargo xtask {name}`"
        );
    }
}

const WORKFLOW: &str = ".github/workflows/ci.yml";

fn workflow_steps() -> Vec<(String, yaml_serde::Value)> {
    let text = fs::read_to_string(root().join(WORKFLOW)).unwrap();
    let doc: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    let jobs = doc["jobs"].as_mapping().expect("the workflow has jobs");
    jobs.iter()
        .flat_map(|(name, job)| {
            let name = name.as_str().unwrap().to_owned();
            job["steps"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |step| (name.clone(), step))
        })
        .collect()
}

#[test]
fn workflow_builds_scans_verifies_and_pushes_only_through_cargo_xtask() {
    const IMAGE_WORK: [&str; 9] = [
        "docker build",
        "buildx",
        "trivy",
        "push",
        "verify",
        "docker login",
        "docker run",
        "cosign",
        "playwright",
    ];
    for (job, step) in workflow_steps() {
        let Some(run) = step["run"].as_str() else {
            continue;
        };
        for line in run.lines().map(str::trim) {
            let lower = line.to_lowercase();
            if IMAGE_WORK.iter().any(|w| lower.contains(w)) {
                assert!(
                    line.starts_with("cargo xtask "),
                    "{WORKFLOW}: job `{job}` runs `{line}`; image work goes through `cargo xtask` so that it runs the same locally"
                );
            }
        }
    }
}

#[test]
fn workflow_actions_are_pinned_by_commit() {
    for (job, step) in workflow_steps() {
        let Some(uses) = step["uses"].as_str() else {
            continue;
        };
        if uses.starts_with("./") {
            continue;
        }
        let pinned = uses.split_once('@').is_some_and(|(_, rev)| {
            rev.len() == 40
                && rev
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        });
        assert!(
            pinned,
            "{WORKFLOW}: job `{job}` uses `{uses}`; pin it to a full commit SHA with a `# vX.Y.Z` comment"
        );
    }
}

#[test]
fn workflow_never_interpolates_untrusted_input_into_scripts() {
    for (job, step) in workflow_steps() {
        let Some(run) = step["run"].as_str() else {
            continue;
        };
        assert!(
            !run.contains("${{"),
            "{WORKFLOW}: job `{job}` interpolates an expression into a script: pass it through `env:`\n{run}"
        );
    }
}

/// Validates the workflow against its JSON schema with `check-jsonschema` (offline: the
/// schema is built in). Skipped where it is not installed, except under `CI=true`, where
/// `cargo xtask engine up` installs it.
#[test]
fn workflow_matches_the_github_schema() {
    if exec::find("check-jsonschema").is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but check-jsonschema is not installed: `cargo xtask engine up` installs it"
        );
        eprintln!("skipped: check-jsonschema is not installed (`pip install check-jsonschema`)");
        return;
    }
    let check = exec::Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows", WORKFLOW])
        .dir(root());
    let out = exec::output(&check).unwrap();
    assert!(
        out.success,
        "{WORKFLOW} does not match the GitHub workflow schema:\n{}{}",
        out.stdout, out.stderr
    );
}

/// The code of a Rust source with comments, string literals and its `#[cfg(test)]` module
/// removed: what the layer rules judge (a test may use fixtures from any layer, and a doc
/// comment may name what it forbids).
fn production_code(text: &str) -> String {
    without_test_modules(&without_comments_and_strings(text))
}

/// Drops every `#[cfg(test)]` module, braces matched (strings are already gone, so a brace
/// in one cannot mislead the count).
fn without_test_modules(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find('{').filter(|&o| !after[..o].contains(';')) else {
            // `#[cfg(test)]` on an item without a body (`use`, `mod x;`): drop that line.
            rest = after.split_once(';').map_or("", |(_, r)| r);
            continue;
        };
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn without_comments_and_strings(text: &str) -> String {
    let mut code = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            'r' if chars.peek() == Some(&'#') || chars.peek() == Some(&'"') => {
                let mut hashes = 0;
                while chars.peek() == Some(&'#') {
                    chars.next();
                    hashes += 1;
                }
                if chars.peek() != Some(&'"') {
                    code.push('r');
                    code.push_str(&"#".repeat(hashes));
                    continue;
                }
                chars.next();
                let close = format!("\"{}", "#".repeat(hashes));
                let mut body = String::new();
                for c in chars.by_ref() {
                    body.push(c);
                    if body.ends_with(&close) {
                        break;
                    }
                }
                code.push_str("\"\"");
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
                code.push_str("\"\"");
            }
            '\'' => {
                // A char literal such as '"' must not open a string; a lifetime is left alone.
                let rest: String = chars.clone().take(3).collect();
                if let Some(end) = ["\\'", "'"]
                    .iter()
                    .find_map(|_| rest.find('\'').filter(|&i| i <= 2))
                {
                    for _ in 0..=end {
                        chars.next();
                    }
                    code.push_str("' '");
                } else {
                    code.push(c);
                }
            }
            _ => code.push(c),
        }
    }
    code
}

/// `(path under xtask/src, its production code)` for every Rust source of the xtask.
fn sources(src: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, production_code(&fs::read_to_string(&path).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, src, &mut out);
    out.sort();
    out
}

/// What a file in each layer must not use, and why.
const LAYER_RULES: &[(&str, &[&str], &str)] = &[
    (
        "",
        &["xshell", "duct", "std::process", "MetadataCommand", "which"],
        "only adapters/exec.rs starts processes and finds tools: build a `Command` and run it \
         with `exec`, find a tool with `exec::find`",
    ),
    (
        "domain/",
        &[
            "crate::adapters",
            "crate::commands",
            "crate::render",
            "crate::cli",
            "std::env",
            "SystemTime",
            "Instant::now",
            "now_utc",
            "now_local",
        ],
        "domain/ is pure: it takes the environment, the clock and tool facts as data",
    ),
    (
        "adapters/",
        &["crate::commands", "crate::render", "crate::cli"],
        "adapters use the domain only",
    ),
    (
        "render/",
        &["crate::commands", "crate::adapters"],
        "render/ formats domain data only",
    ),
];

/// Whether `code` names `path` as a whole word (`duct::cmd` but not `production`).
fn uses(code: &str, path: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(path).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + path.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// Every breach of the layer rules in `files`, one line each.
fn layer_violations(files: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, code) in files {
        for (layer, needles, why) in LAYER_RULES {
            if !path.starts_with(layer) || (layer.is_empty() && path == "adapters/exec.rs") {
                continue;
            }
            for needle in *needles {
                if uses(code, needle) {
                    found.push(format!("{path} uses `{needle}`: {why}"));
                }
            }
        }
        if let Some(own) = path.strip_prefix("commands/") {
            let own = own.trim_end_matches(".rs");
            for line in code.lines().filter(|l| l.contains("crate::commands::")) {
                let other = line.split("crate::commands::").nth(1).unwrap_or_default();
                let other: String = other
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if other != own {
                    found.push(format!(
                        "{path} uses `crate::commands::{other}`: a command does not import \
                         another; move what they share into domain/ or adapters/"
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn the_code_keeps_its_layers() {
    let found = layer_violations(&sources(&root().join("xtask/src")));
    assert!(
        found.is_empty(),
        "layer rules broken:
  {}",
        found.join(
            "
  "
        )
    );
}

#[test]
fn the_layer_rules_catch_what_they_forbid() {
    let file = |path: &str, code: &str| (path.to_owned(), production_code(code));
    let found = layer_violations(&[
        file(
            "commands/a.rs",
            "use xshell::cmd;\nuse crate::commands::b;\nfn production() {}\n",
        ),
        file("domain/x.rs", "fn f() { std::env::var(\"HOME\"); }\n"),
        file("adapters/y.rs", "use crate::commands::build;\n"),
        file("adapters/exec.rs", "use duct::cmd;\n"),
        file(
            "domain/ok.rs",
            "//! std::process is not used here\nconst S: &str = \"std::env\";\n\
             #[cfg(test)]\nmod tests { use crate::adapters::git; fn f() { let _ = \"}\"; } }\n",
        ),
        file(
            "domain/after.rs",
            "#[cfg(test)]\nmod tests {}\nfn home() { std::env::var(\"HOME\"); }\n",
        ),
    ]);
    assert_eq!(
        found
            .iter()
            .map(|l| l.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        [
            "commands/a.rs uses `xshell`",
            "commands/a.rs uses `crate",
            "domain/x.rs uses `std",
            "adapters/y.rs uses `crate",
            "domain/after.rs uses `std"
        ],
        "{found:#?}"
    );
}

/// `--help` of the toolkit and of every subcommand, as one snapshot: a flag renamed,
/// dropped or re-documented shows up in review. `UPDATE_EXPECT=1 cargo test -p xtask
/// --bins help` rewrites it.
#[test]
fn help_texts_match_their_snapshot() {
    let mut cli = crate::cli::Cli::command().term_width(100);
    let mut text = format!("$ cargo xtask --help\n{}\n", cli.render_long_help());
    let names: Vec<String> = cli
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        let sub = cli.find_subcommand_mut(&name).unwrap();
        let help = sub.clone().term_width(100).render_long_help();
        text += &format!("\n$ cargo xtask {name} --help\n{help}\n");
    }
    expect_test::expect_file!["../snapshots/help.txt"].assert_eq(&text);
}

/// Every test docs/architecture.md names as holding an invariant exists.
#[test]
fn the_invariants_name_tests_that_exist() {
    let doc = fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let section = doc
        .split("## Invariants")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/architecture.md has an Invariants section");
    let mut code = String::new();
    for dir in ["xtask/src", "xtask/tests"] {
        let mut stack = vec![root().join(dir)];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    code += &fs::read_to_string(path).unwrap();
                }
            }
        }
    }
    let mut named = 0;
    for row in section.lines().filter(|l| l.starts_with("| ")) {
        let Some(tests) = row.rsplit(" | ").next() else {
            continue;
        };
        for name in tests.split('`').skip(1).step_by(2) {
            let Some(f) = name.rsplit("::").next().filter(|f| *f != "*") else {
                continue;
            };
            if !name.contains("::") {
                continue;
            }
            named += 1;
            assert!(
                code.contains(&format!("fn {f}(")),
                "docs/architecture.md names `{name}`, but no test `{f}` exists"
            );
        }
    }
    assert!(named >= 10, "only {named} tests named");
}
