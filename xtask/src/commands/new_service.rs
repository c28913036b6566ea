//! `cargo xtask new-service NAME`: every piece a service needs, in one command.
//!
//! A service is a crate `NAME/` (a small Rust worker that handles SIGTERM as PID 1 and is
//! health-checked through a heartbeat file), its Dockerfile and ignore file in
//! `xtask/docker/`, its member entry in the root `Cargo.toml` and its `[services.NAME]` in
//! `xtask/images.toml`; `cargo metadata` then adds it to `Cargo.lock`, so `--locked` builds
//! keep working. The files come from `xtask/docker/templates/`. [`plan`] decides every file
//! and edit from the files' text (pure, unit-tested); `run` writes them, or prints them with
//! `--dry-run`. The tidy test `every_service_has_all_its_pieces` checks the result.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::adapters::exec::{self, usage, Command};
use crate::adapters::workspace::Workspace;
use crate::cli::Preview;
use crate::domain::config::{validate_service_name, Config};
use crate::domain::outcome::Outcome;
use crate::render::print_json;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Writes NAME/Cargo.toml and NAME/src/main.rs (a worker that beats a heartbeat \
file until SIGTERM; `NAME healthcheck` checks the heartbeat's age), \
xtask/docker/NAME.Dockerfile and its .dockerignore, adds NAME to the workspace members in \
Cargo.toml and [services.NAME] to xtask/images.toml, then runs `cargo metadata` to add it to \
Cargo.lock. Nothing else needs editing. Templates: xtask/docker/templates/."
)]
pub struct Args {
    /// The service's name: its crate, binary, Dockerfile and image, e.g. `billing-worker`.
    pub name: String,
    #[command(flatten)]
    pub preview: Preview,
}

const DOCKERFILE: &str = include_str!("../../docker/templates/worker.Dockerfile");
const DOCKERIGNORE: &str = include_str!("../../docker/templates/worker.Dockerfile.dockerignore");
const MANIFEST: &str = include_str!("../../docker/templates/worker/Cargo.toml.tmpl");
const MAIN: &str = include_str!("../../docker/templates/worker/src/main.rs");
const ENTRY: &str = include_str!("../../docker/templates/service.toml");

/// Names cargo refuses for a package (they clash with Rust's own crates) or that would
/// shadow this repository's own directories.
const RESERVED: [&str; 10] = [
    "core",
    "std",
    "alloc",
    "test",
    "proc_macro",
    "proc-macro",
    "self",
    "super",
    "crate",
    "target",
];

/// What [`plan`] reads: the two files it edits and which of the paths it would create exist.
pub struct Facts<'a> {
    pub cargo_toml: &'a str,
    pub config: &'a Config,
    pub config_text: &'a str,
    /// Whether a repository-relative path exists.
    pub exists: &'a dyn Fn(&Path) -> bool,
}

/// Every file written, repository-relative, with its whole new text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    pub path: PathBuf,
    #[serde(skip)]
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub create: Vec<File>,
    pub edit: Vec<File>,
}

/// The files `new-service NAME` creates and edits, or why it cannot (bad input).
pub fn plan(name: &str, facts: &Facts) -> Result<Plan> {
    validate_service_name(name)?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) || RESERVED.contains(&name) {
        bail!("`{name}` cannot name a crate: start it with a letter and avoid Rust's own crate names, e.g. `billing-worker`");
    }
    if facts.config.services.contains_key(name) {
        bail!(
            "`{name}` is already a service in {}: pick another name",
            facts.config.path.display()
        );
    }
    let fill = |template: &str| template.replace("{{name}}", name);
    let dockerfile = format!("xtask/docker/{name}.Dockerfile");
    let create = vec![
        File {
            path: PathBuf::from(format!("{name}/Cargo.toml")),
            text: fill(MANIFEST),
        },
        File {
            path: PathBuf::from(format!("{name}/src/main.rs")),
            text: fill(MAIN),
        },
        File {
            path: PathBuf::from(&dockerfile),
            text: fill(DOCKERFILE),
        },
        File {
            path: PathBuf::from(format!("{dockerfile}.dockerignore")),
            text: fill(DOCKERIGNORE),
        },
    ];
    for taken in [Path::new(name), Path::new(&dockerfile)]
        .into_iter()
        .chain(create.iter().map(|f| f.path.as_path()))
    {
        if (facts.exists)(taken) {
            bail!(
                "{} already exists: pick another name, or remove it first",
                taken.display()
            );
        }
    }
    let config_text = append_entry(facts.config_text, &fill(ENTRY));
    Config::parse(&config_text, &facts.config.path).context(
        "the new [services] entry does not load: fix xtask/docker/templates/service.toml",
    )?;
    let edit = vec![
        File {
            path: PathBuf::from("Cargo.toml"),
            text: add_member(facts.cargo_toml, name)?,
        },
        File {
            path: facts.config.path.clone(),
            text: config_text,
        },
    ];
    Ok(Plan {
        name: name.to_owned(),
        create,
        edit,
    })
}

/// The workspace members a root `Cargo.toml` lists.
fn members(cargo_toml: &str) -> Result<Vec<String>> {
    let manifest: toml::Table = toml::from_str(cargo_toml).context("Cargo.toml does not parse")?;
    let list = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .context("Cargo.toml has no [workspace] members list")?;
    Ok(list
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect())
}

/// `cargo_toml` with `name` added at the end of `[workspace] members`, everything else
/// (comments, layout) as it was.
fn add_member(cargo_toml: &str, name: &str) -> Result<String> {
    let by_hand = || format!("add \"{name}\" to [workspace] members in Cargo.toml by hand");
    let before = members(cargo_toml).with_context(by_hand)?;
    if before.iter().any(|m| m == name) {
        bail!("`{name}` is already a workspace member in Cargo.toml: pick another name");
    }
    let workspace = cargo_toml
        .find("[workspace]")
        .with_context(|| format!("no [workspace] table; {}", by_hand()))?;
    let key = cargo_toml[workspace..]
        .find("\nmembers")
        .map(|i| workspace + i)
        .with_context(|| format!("no `members =` line; {}", by_hand()))?;
    let open = key
        + cargo_toml[key..]
            .find('[')
            .with_context(|| format!("`members` is not an array; {}", by_hand()))?;
    let close = open
        + cargo_toml[open..]
            .find(']')
            .with_context(|| format!("`members` is not closed; {}", by_hand()))?;
    let inside = &cargo_toml[open + 1..close];
    let body = inside.trim_end();
    let insert = if inside.contains('\n') {
        let indent = inside
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .map(|l| &l[..l.len() - l.trim_start().len()])
            .unwrap_or("    ");
        let comma = if body.ends_with(',') || body.trim().is_empty() {
            ""
        } else {
            ","
        };
        format!("{body}{comma}\n{indent}\"{name}\",\n")
    } else if body.trim().is_empty() {
        format!("\"{name}\"")
    } else {
        format!("{}, \"{name}\"", body.trim_end_matches(',').trim_end())
    };
    let text = format!(
        "{}{insert}{}",
        &cargo_toml[..open + 1],
        &cargo_toml[close..]
    );
    let after = members(&text).with_context(by_hand)?;
    if after[..after.len().saturating_sub(1)] != before[..]
        || after.last().map(String::as_str) != Some(name)
    {
        bail!(
            "could not add `{name}` to the members in Cargo.toml: {}",
            by_hand()
        );
    }
    Ok(text)
}

/// The config with `entry` appended after one blank line, comments and all kept.
fn append_entry(config: &str, entry: &str) -> String {
    format!("{}\n\n{}", config.trim_end(), entry.trim_start())
}

/// `cargo metadata`: it adds the new member to Cargo.lock (and fails if the workspace does
/// not load with it).
fn lock_command(ws: &Workspace) -> Command {
    let cargo = ws.env.get("CARGO").unwrap_or("cargo");
    Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(ws.root.join("Cargo.toml").display().to_string())
        .dir(&ws.root)
}

#[derive(Serialize)]
struct Report<'a> {
    service: &'a str,
    dry_run: bool,
    create: Vec<&'a Path>,
    edit: Vec<&'a Path>,
    run: &'a Command,
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    let read = |path: &Path| {
        std::fs::read_to_string(ws.root.join(path))
            .with_context(|| format!("cannot read {}", path.display()))
    };
    let cargo_toml = read(Path::new("Cargo.toml"))?;
    let config_text = read(&ws.config.path)?;
    let exists = |p: &Path| ws.root.join(p).exists();
    let plan = plan(
        &args.name,
        &Facts {
            cargo_toml: &cargo_toml,
            config: &ws.config,
            config_text: &config_text,
            exists: &exists,
        },
    )
    .map_err(usage)?;
    let lock = lock_command(ws);
    let report = Report {
        service: &plan.name,
        dry_run: args.preview.dry_run,
        create: plan.create.iter().map(|f| f.path.as_path()).collect(),
        edit: plan
            .edit
            .iter()
            .map(|f| f.path.as_path())
            .chain([Path::new("Cargo.lock")])
            .collect(),
        run: &lock,
    };
    if args.preview.dry_run {
        if args.preview.json() {
            print_json(&report);
        } else {
            print_plan(&report);
        }
        return Ok(Outcome::Clean);
    }
    for file in &plan.create {
        let path = ws.root.join(&file.path);
        std::fs::create_dir_all(path.parent().expect("a file has a directory"))
            .with_context(|| format!("cannot create the directory of {}", file.path.display()))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, file.text.as_bytes()))
            .with_context(|| format!("cannot create {}", file.path.display()))?;
    }
    for file in &plan.edit {
        std::fs::write(ws.root.join(&file.path), &file.text)
            .with_context(|| format!("cannot write {}", file.path.display()))?;
    }
    exec::read(&lock).with_context(|| {
        format!(
            "the files are written, but cargo does not load the workspace with `{}`: fix what \
             it says, then run `cargo metadata` to update Cargo.lock",
            plan.name
        )
    })?;
    if args.preview.json() {
        print_json(&report);
    } else {
        print_plan(&report);
        let name = &plan.name;
        eprintln!(
            "\nnext: put the work in {name}/src/main.rs (`work`), then `cargo xtask build {name}` \
             and `cargo xtask verify {name}`"
        );
    }
    Ok(Outcome::Clean)
}

fn print_plan(report: &Report) {
    let (create, edit) = if report.dry_run {
        ("would create", "would edit")
    } else {
        ("created", "edited")
    };
    for path in &report.create {
        println!("{create} {}", path.display());
    }
    for path in &report.edit {
        println!("{edit} {}", path.display());
    }
    let ran = if report.dry_run { "would run" } else { "ran" };
    println!("{ran} {}", report.run);
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARGO_TOML: &str = "[workspace]\n# the services\nmembers = [\"api\", \"web\", \"xtask\"]\nresolver = \"2\"\n\n[profile.dev]\ndebug = false\n";

    const CONFIG: &str = "# the services\n[project]\nname = \"acme\"\n\n[services.api]\n\
        dockerfile = \"xtask/docker/api.Dockerfile\"\nsize_budget_mb = 100\n";

    fn check(name: &str, existing: &[&str]) -> Result<Plan> {
        let config = Config::parse(CONFIG, Path::new("xtask/images.toml")).unwrap();
        let exists = |p: &Path| existing.iter().any(|e| Path::new(e) == p);
        plan(
            name,
            &Facts {
                cargo_toml: CARGO_TOML,
                config: &config,
                config_text: CONFIG,
                exists: &exists,
            },
        )
    }

    fn edited(plan: &Plan, path: &str) -> String {
        plan.edit
            .iter()
            .find(|f| f.path == Path::new(path))
            .unwrap()
            .text
            .clone()
    }

    #[test]
    fn a_new_service_is_a_crate_a_dockerfile_an_ignore_file_a_member_and_an_entry() {
        let plan = check("billing-worker", &[]).unwrap();
        let created: Vec<_> = plan
            .create
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        assert_eq!(
            created,
            [
                "billing-worker/Cargo.toml",
                "billing-worker/src/main.rs",
                "xtask/docker/billing-worker.Dockerfile",
                "xtask/docker/billing-worker.Dockerfile.dockerignore",
            ]
        );
        for f in &plan.create {
            assert!(
                !f.text.contains("{{"),
                "{} has a placeholder left",
                f.path.display()
            );
        }
        assert_eq!(
            edited(&plan, "Cargo.toml"),
            CARGO_TOML.replace("\"xtask\"]", "\"xtask\", \"billing-worker\"]")
        );
        let config = edited(&plan, "xtask/images.toml");
        assert!(
            config.starts_with(CONFIG),
            "comments and entries are kept: {config}"
        );
        let loaded = Config::parse(&config, Path::new("xtask/images.toml")).unwrap();
        let s = &loaded.services["billing-worker"];
        assert_eq!(
            s.dockerfile,
            Path::new("xtask/docker/billing-worker.Dockerfile")
        );
        assert!(s.healthcheck);
        let dockerfile = &plan.create[2].text;
        assert!(
            dockerfile.contains("cp target/release/billing-worker /usr/local/bin/billing-worker")
        );
        assert!(dockerfile.contains("CMD [\"/usr/local/bin/billing-worker\", \"healthcheck\"]"));
        assert!(plan.create[3].text.contains("!billing-worker/src\n"));
    }

    #[test]
    fn a_name_already_taken_is_refused() {
        let err =
            |name: &str, existing: &[&str]| format!("{:#}", check(name, existing).unwrap_err());
        assert!(err("api", &[]).contains("`api` is already a service in xtask/images.toml"));
        assert!(err("docs", &["docs"]).contains("docs already exists"));
        assert!(err("xtask", &[]).contains("`xtask` is already a workspace member"));
        assert!(err("w", &["xtask/docker/w.Dockerfile"])
            .contains("xtask/docker/w.Dockerfile already exists"));
    }

    #[test]
    fn a_name_that_is_not_a_service_or_crate_name_is_refused() {
        for bad in ["Worker", "-w", "a b", "9lives", "std", ""] {
            assert!(check(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_member_is_added_to_a_multi_line_list_keeping_its_layout() {
        let text = "[workspace]\nmembers = [\n    \"api\",\n    # the toolkit\n    \"xtask\"\n]\n";
        assert_eq!(
            add_member(text, "worker").unwrap(),
            "[workspace]\nmembers = [\n    \"api\",\n    # the toolkit\n    \"xtask\",\n    \"worker\",\n]\n"
        );
        let trailing = "[workspace]\nmembers = [\n  \"api\",\n]\n";
        assert_eq!(
            add_member(trailing, "worker").unwrap(),
            "[workspace]\nmembers = [\n  \"api\",\n  \"worker\",\n]\n"
        );
        assert_eq!(
            add_member("[workspace]\nmembers = []\n", "worker").unwrap(),
            "[workspace]\nmembers = [\"worker\"]\n"
        );
    }

    #[test]
    fn a_manifest_without_a_members_list_says_to_add_it_by_hand() {
        let err = format!(
            "{:#}",
            add_member("[package]\nname = \"x\"\n", "worker").unwrap_err()
        );
        assert!(
            err.contains("add \"worker\" to [workspace] members in Cargo.toml by hand"),
            "{err}"
        );
    }
}
