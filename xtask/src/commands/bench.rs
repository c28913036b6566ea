//! `cargo xtask bench`: how fast the builds are on this machine, measured, not assumed.
//!
//! Compares `cargo xtask build` with plain `docker buildx bake` on a bake file generated from
//! the same plan (cold and warm, alternating, medians). The cold rounds also build the old
//! per-service pattern, generated from the same Dockerfiles (each cargo build `-p <service>`),
//! as the baseline of the shared dependency layer, and count how often each crate was compiled
//! on either side ([`compile_counts`]). Then it times a one-line api change, `--affected` with
//! nothing changed, image sizes against budgets and the xtask's own compile and start-up.
//! Writes `target/xtask/bench.json` and `bench.md`. Never a test: timings
//! belong in docs/benchmarks.md, not in assertions. Cold rounds use `--no-cache` on both
//! sides instead of pruning the builder, which may be shared: the layer cache is ignored,
//! BuildKit cache mounts (the cargo registry) survive for both sides alike.
//!
//! Like every acting command it plans first ([`plan`]: the steps, each with the command it
//! runs) and then runs exactly those commands, timing them ([`execute`]); `--dry-run` prints
//! the plan. The files it writes (the bake files, the per-service Dockerfiles, the one-line
//! edit, the results) are said in `#` comment lines, not commands.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::adapters::exec::{self, usage, Command};
use crate::adapters::scratch;
use crate::adapters::workspace::Workspace;
use crate::cli::{Preview, Registry};
use crate::domain::builder::Builder;
use crate::domain::outcome::Outcome;
use crate::domain::plan::{self, BuildPlan, PlanInput, ServicePlan, TARGET_DIR};
use crate::render::{self, Table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rounds of each timed build; medians are reported.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub rounds: usize,
    #[command(flatten)]
    pub registry: Registry,
    #[command(flatten)]
    pub preview: Preview,
}

/// The targets docs/benchmarks.md holds the build to.
const MAX_BAKE_RATIO: f64 = 1.05;
/// The shared layer against the per-service pattern: it must be faster.
const MAX_PER_SERVICE_RATIO: f64 = 1.0;
const MAX_WARM_SECS: f64 = 3.0;
/// A warm no-change build is no slower than bake on the same files.
const MAX_WARM_RATIO: f64 = 1.0;
const MAX_ONE_LINE_SECS: f64 = 15.0;
const MAX_COMPILE_SECS: f64 = 15.0;
const MAX_HELP_MS: f64 = 100.0;
const HELP_RUNS: usize = 10;
/// For the quick questions (`bake --print`, versions, `--help`), not for the timed builds.
const QUICK: Duration = Duration::from_secs(60);
/// The file the one-line change edits, relative to the root.
const ONE_LINE_FILE: &str = "api/src/main.rs";
/// Stands for the empty target directory the cold compile gets, made when it runs.
pub const EMPTY_TARGET_DIR: &str = "<empty target directory>";
/// How the shared dependency layer's cargo builds select the packages (the deps step and the
/// service's own step); the per-service pattern selects `-p <service>` instead.
const SHARED_SELECTION: &str = "--workspace --exclude xtask";
/// The tag of the per-service baseline images, removed after each build.
const PER_SERVICE_TAG: &str = "bench-per-service";

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub machine: BTreeMap<String, String>,
    pub rounds: usize,
    pub cold: Pair,
    /// The per-service pattern, cold, built by bake in the same rounds as `cold`.
    pub per_service: PerService,
    /// How often each crate was compiled by each cold build, one entry per round.
    pub compiles: Compiles,
    pub warm: Pair,
    pub one_line_change: OneLine,
    pub affected_no_change: Affected,
    pub sizes: Vec<Size>,
    pub xtask_cold_compile_secs: f64,
    pub xtask_help_ms: f64,
}

/// xtask and bake times for the same targets, in seconds.
#[derive(Debug, Default, Serialize)]
pub struct Pair {
    pub xtask_secs: Vec<f64>,
    pub bake_secs: Vec<f64>,
    pub xtask_median: f64,
    pub bake_median: f64,
    /// xtask / bake: below 1 the xtask is faster.
    pub ratio: f64,
}

/// Cold builds of all services from the per-service Dockerfiles, by bake.
#[derive(Debug, Default, Serialize)]
pub struct PerService {
    pub secs: Vec<f64>,
    pub median: f64,
    /// bake on the shared-layer Dockerfiles / bake on these: below 1 the shared layer is faster.
    pub ratio: f64,
}

/// The crates each cold build compiled, one [`CompileCount`] per round.
#[derive(Debug, Default, Serialize)]
pub struct Compiles {
    /// `cargo xtask build --no-cache`, from the services' logs (target/xtask/logs/).
    pub xtask: Vec<CompileCount>,
    /// bake on the shared-layer Dockerfiles, from its log.
    pub bake: Vec<CompileCount>,
    /// bake on the per-service Dockerfiles, from its log.
    pub per_service: Vec<CompileCount>,
}

/// How many times each crate (`name vVERSION`) was compiled in one build of all services:
/// by distinct BuildKit vertices, so a vertex shown in two logs counts once.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CompileCount {
    /// Crates from a registry or git.
    pub dependencies: BTreeMap<String, usize>,
    /// The workspace's own crates (a path source: the services and their placeholders).
    pub workspace: BTreeMap<String, usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct OneLine {
    pub secs: Vec<f64>,
    pub median: f64,
    /// Crates other than api that the rebuild compiled (empty: dependencies were cached).
    pub recompiled: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Affected {
    pub ms: Vec<f64>,
    pub median_ms: f64,
    pub builds_started: usize,
}

#[derive(Debug, Serialize)]
pub struct Size {
    pub service: String,
    pub bytes: u64,
    pub budget_mb: u64,
}

/// Cold (`--no-cache` on both sides) or warm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Cold,
    Warm,
}

impl Pass {
    fn label(self) -> &'static str {
        match self {
            Pass::Cold => "cold",
            Pass::Warm => "warm",
        }
    }
}

/// Which side of a pair builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Xtask,
    Bake,
    /// bake on the per-service Dockerfiles (cold only).
    PerService,
}

impl Who {
    fn label(self) -> &'static str {
        match self {
            Who::Xtask => "xtask",
            Who::Bake => "bake",
            Who::PerService => "per-service",
        }
    }
}

impl Pass {
    /// Who builds in this pass.
    fn sides(self) -> &'static [Who] {
        match self {
            Pass::Cold => &[Who::Xtask, Who::Bake, Who::PerService],
            Pass::Warm => &[Who::Xtask, Who::Bake],
        }
    }

    /// Who builds in `round` (1-based), in order: the sides rotate, so each goes first in
    /// turn and none always meets the other's leftovers.
    fn order(self, round: usize) -> Vec<Who> {
        let mut sides = self.sides().to_vec();
        let n = sides.len();
        sides.rotate_left((round - 1) % n);
        sides
    }
}

/// One step of a run, with the command it runs. `round` counts from 1.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `docker buildx bake --print` must accept `file` before anything is timed.
    CheckBake { file: PathBuf, cmd: Command },
    /// A version for the machine table; a failure leaves it empty.
    Version { key: &'static str, cmd: Command },
    /// A timed build of the cold or the warm pair, its stderr into `log`.
    Pair {
        pass: Pass,
        round: usize,
        who: Who,
        cmd: Command,
        log: PathBuf,
    },
    /// Removes the per-service images a per-service build just made (they are only timed).
    Remove(Command),
    /// One more warm xtask build (all cached, so cheap), for the sizes its report gives.
    Sizes { cmd: Command, log: PathBuf },
    /// The api build after a line never built before is appended to `edit`, which is put
    /// back as it was afterwards.
    OneLine {
        round: usize,
        edit: PathBuf,
        cmd: Command,
        log: PathBuf,
    },
    /// `build --affected --base HEAD` with nothing changed.
    Affected {
        round: usize,
        cmd: Command,
        log: PathBuf,
    },
    /// The xtask's compile into an empty target directory, which [`EMPTY_TARGET_DIR`] in
    /// the command stands for.
    Compile { cmd: Command, log: PathBuf },
    /// One of the `--help` runs.
    Help(Command),
}

impl Step {
    pub fn command(&self) -> &Command {
        match self {
            Step::CheckBake { cmd, .. }
            | Step::Version { cmd, .. }
            | Step::Pair { cmd, .. }
            | Step::Remove(cmd)
            | Step::Sizes { cmd, .. }
            | Step::OneLine { cmd, .. }
            | Step::Affected { cmd, .. }
            | Step::Compile { cmd, .. }
            | Step::Help(cmd) => cmd,
        }
    }

    /// What a dry run says before this step's command, as a `#` comment line.
    fn heading(&self, rounds: usize) -> Option<String> {
        match self {
            Step::Version { key: "docker", .. } => Some("versions, for the machine table".into()),
            Step::Pair {
                pass, round, who, ..
            } if pass.order(*round)[0] == *who => Some(format!(
                "{} round {round}/{rounds}: {}",
                pass.label(),
                pass.order(*round)
                    .iter()
                    .map(|w| w.label())
                    .collect::<Vec<_>>()
                    .join(", then ")
            )),
            Step::Sizes { .. } => Some("image sizes, from one more warm xtask build".into()),
            Step::OneLine { round, edit, .. } => Some(format!(
                "one-line api change {round}/{rounds}: append `// bench edit <timestamp>` to \
                 {}, put back after the build",
                edit.display()
            )),
            Step::Affected { round, .. } => {
                Some(format!("`--affected`, nothing changed {round}/{rounds}"))
            }
            Step::Compile { .. } => Some(format!(
                "xtask cold compile, into an empty temporary directory ({EMPTY_TARGET_DIR})"
            )),
            Step::CheckBake { .. }
            | Step::Version { .. }
            | Step::Pair { .. }
            | Step::Remove(_)
            | Step::Help(_) => None,
        }
    }
}

/// A file the run writes before its first command.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub path: PathBuf,
    pub text: String,
    /// What it is, for the dry run.
    pub what: String,
}

/// What a bench run does, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPlan {
    pub rounds: usize,
    /// The bake files, the per-service Dockerfiles and their ignore files.
    pub files: Vec<Written>,
    /// The logs' directory.
    pub dir: PathBuf,
    /// The build logs `cargo xtask build` writes, one per service: a cold xtask build's
    /// compiles are counted in them.
    pub service_logs: Vec<PathBuf>,
    pub steps: Vec<Step>,
}

/// A service as the bench needs it: its name, its Dockerfile and its ignore file (paths
/// relative to the root, and their text).
pub struct BenchService {
    pub name: String,
    pub dockerfile: PathBuf,
    pub text: String,
    pub ignore: Option<String>,
}

/// What the plan depends on: all of it known before anything runs.
pub struct BenchInput<'a> {
    pub root: &'a Path,
    /// This xtask's executable.
    pub exe: &'a str,
    /// The cargo that compiles the xtask.
    pub cargo: &'a str,
    pub namespace: &'a str,
    pub rounds: usize,
    /// The plan both sides build: the bake files are read off it.
    pub build: &'a BuildPlan,
    /// Every service the plan builds.
    pub services: &'a [BenchService],
}

/// The steps of a run, pure. Fails when a Rust service's Dockerfile has no per-service
/// variant (its cargo builds do not select the packages as the shared layer does).
pub fn plan(input: &BenchInput) -> Result<BenchPlan> {
    let root = input.root;
    let dir = root.join(TARGET_DIR).join("bench");
    let bake_path = dir.join("bake.json");
    let per_service_path = dir.join("per-service.json");
    let per_service_dir = dir.join("per-service");
    let rounds = input.rounds;
    let xtask_build = |extra: &[&str]| {
        Command::new(input.exe)
            .args(["build", "--registry", input.namespace, "--json"])
            .args(extra.iter().copied())
            .dir(root)
    };
    let bake_build = |file: &Path, extra: &[&str]| {
        Command::new("docker")
            .args(["buildx", "bake", "--progress", "plain", "--file"])
            .arg(file.display().to_string())
            .args(extra.iter().copied())
            .dir(root)
    };
    let log = |name: String| dir.join(name);

    let mut files = vec![Written {
        path: bake_path.clone(),
        text: serde_json::to_string_pretty(&bake_file(input.build)).expect("plain data"),
        what: "one bake target per service, read off the build plan".into(),
    }];
    let mut dockerfiles = BTreeMap::new();
    for s in input.services {
        let name = s.dockerfile.file_name().unwrap_or(s.dockerfile.as_os_str());
        let path = per_service_dir.join(name);
        let source = s.dockerfile.display().to_string();
        files.push(Written {
            text: per_service_dockerfile(&s.text, &s.name, &source)?,
            what: if s.text.lines().any(selects_workspace) {
                format!("{source} with each cargo build `-p {}`", s.name)
            } else {
                format!("{source} as it is (no cargo build)")
            },
            path: path.clone(),
        });
        if let Some(ignore) = &s.ignore {
            let mut ignore_path = path.clone().into_os_string();
            ignore_path.push(".dockerignore");
            files.push(Written {
                path: ignore_path.into(),
                text: ignore.clone(),
                what: format!("{source}.dockerignore, beside it"),
            });
        }
        dockerfiles.insert(s.name.clone(), path);
    }
    files.push(Written {
        path: per_service_path.clone(),
        text: serde_json::to_string_pretty(&per_service_bake_file(input.build, &dockerfiles))
            .expect("plain data"),
        what: format!(
            "the same targets on the per-service Dockerfiles, tagged `{PER_SERVICE_TAG}`"
        ),
    });

    let mut steps = Vec::new();
    for file in [&bake_path, &per_service_path] {
        steps.push(Step::CheckBake {
            file: file.clone(),
            cmd: Command::new("docker")
                .args(["buildx", "bake", "--file"])
                .arg(file.display().to_string())
                .arg("--print")
                .dir(root)
                .timeout(QUICK),
        });
    }
    for (key, args) in [
        (
            "docker",
            &["version", "--format", "{{.Server.Version}}"][..],
        ),
        ("buildx", &["buildx", "version"][..]),
    ] {
        steps.push(Step::Version {
            key,
            cmd: Command::new("docker")
                .args(args.iter().copied())
                .timeout(QUICK),
        });
    }
    let per_service_images: Vec<String> = input
        .build
        .services
        .iter()
        .map(|s| format!("{}:{PER_SERVICE_TAG}", s.image))
        .collect();
    for (pass, extra) in [(Pass::Cold, &["--no-cache"][..]), (Pass::Warm, &[][..])] {
        for round in 1..=rounds {
            for who in pass.order(round) {
                let cmd = match who {
                    Who::Xtask => xtask_build(extra),
                    Who::Bake => bake_build(&bake_path, extra),
                    Who::PerService => bake_build(&per_service_path, extra),
                };
                let log = log(format!("{}-{}-{round}.log", pass.label(), who.label()));
                steps.push(Step::Pair {
                    pass,
                    round,
                    who,
                    cmd,
                    log,
                });
                if who == Who::PerService {
                    steps.push(Step::Remove(
                        Command::new("docker")
                            .args(["image", "rm"])
                            .args(per_service_images.iter().cloned())
                            .timeout(QUICK),
                    ));
                }
            }
        }
    }
    steps.push(Step::Sizes {
        cmd: xtask_build(&[]),
        log: log("sizes.log".into()),
    });
    for round in 1..=rounds {
        steps.push(Step::OneLine {
            round,
            edit: PathBuf::from(ONE_LINE_FILE),
            cmd: xtask_build(&["api"]),
            log: log(format!("one-line-{round}.log")),
        });
    }
    for round in 1..=rounds {
        steps.push(Step::Affected {
            round,
            cmd: xtask_build(&["--affected", "--base", "HEAD"]),
            log: log(format!("affected-{round}.log")),
        });
    }
    steps.push(Step::Compile {
        cmd: Command::new(input.cargo)
            .args(["build", "-p", "xtask", "--target-dir", EMPTY_TARGET_DIR])
            .dir(root),
        log: log("compile.log".into()),
    });
    for _ in 0..HELP_RUNS {
        steps.push(Step::Help(
            Command::new(input.exe).arg("--help").timeout(QUICK),
        ));
    }
    Ok(BenchPlan {
        rounds,
        files,
        service_logs: input
            .build
            .services
            .iter()
            .map(|s| {
                root.join(TARGET_DIR)
                    .join("logs")
                    .join(format!("{}.log", s.name))
            })
            .collect(),
        dir,
        steps,
    })
}

/// A line (not a comment) of a cargo build that selects the packages as the shared layer does.
fn selects_workspace(line: &str) -> bool {
    !line.trim_start().starts_with('#') && line.contains(SHARED_SELECTION)
}

/// The old per-service pattern, generated from a service's Dockerfile: its cargo builds
/// select only `package` (`-p <package>`) where the shared layer selects the workspace, so
/// each service compiles its own dependencies. A Dockerfile without the shared selection
/// (not a Rust service) is the same in both patterns and stays as it is. `source` names it.
pub fn per_service_dockerfile(text: &str, package: &str, source: &str) -> Result<String> {
    let builds = text.lines().filter(|l| selects_workspace(l)).count();
    if builds != 0 && builds != 2 {
        bail!(
            "{source} has {builds} cargo build(s) with `{SHARED_SELECTION}`, not the shared \
             layer's two (the dependencies, then the service): no per-service variant to compare with"
        );
    }
    let mut out = String::new();
    for line in text.lines() {
        if selects_workspace(line) {
            out += &line.replace(SHARED_SELECTION, &format!("-p {package}"));
        } else {
            out += line;
        }
        out.push('\n');
    }
    out += &if builds == 0 {
        format!("# Copied by `cargo xtask bench` from {source}: no cargo build, the same in both patterns.\n")
    } else {
        format!(
            "# Generated by `cargo xtask bench` from {source}: the per-service pattern (each cargo \
             build `-p {package}`),\n# the baseline the shared dependency layer is measured \
             against. Not for use.\n"
        )
    };
    Ok(out)
}

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    if args.rounds == 0 {
        return Err(usage(anyhow::anyhow!("--rounds must be at least 1")));
    }
    let root = &ws.root;
    let namespace = args.registry.namespace(ws)?;
    let builder = Builder::detect(None)?;
    let ctx = ws.git_context()?;
    let services = ws.config.select(&[])?;
    let build = plan::plan(
        &PlanInput {
            config: &ws.config,
            ctx: &ctx,
            builder: &builder,
            builder_flag: None,
            env: &ws.env,
            namespace: namespace.clone(),
            no_cache: false,
            now: ws.now,
            platforms: &[],
            registry_configured: plan::registry_configured(
                args.registry.value.as_deref(),
                &ws.env,
                &ws.config,
            ),
        },
        &services,
    )?;
    let exe = std::env::current_exe()?.display().to_string();
    // The cargo that runs this xtask (`cargo xtask` sets CARGO), as adapters/cargo.rs asks.
    let cargo = ws.env.get("CARGO").unwrap_or(env!("CARGO")).to_owned();
    let mut bench_services = Vec::new();
    for s in &services {
        let read = |path: &Path| {
            fs::read_to_string(root.join(path))
                .with_context(|| format!("reading {}", path.display()))
        };
        bench_services.push(BenchService {
            name: s.name.clone(),
            text: read(&s.dockerfile)?,
            ignore: read(&s.ignore_file()).ok(),
            dockerfile: s.dockerfile.clone(),
        });
    }
    let bench = plan(&BenchInput {
        root,
        exe: &exe,
        cargo: &cargo,
        namespace: &namespace,
        rounds: args.rounds,
        build: &build,
        services: &bench_services,
    })?;

    if args.preview.dry_run {
        print_plan(root, &bench, args.preview.json());
        return Ok(Outcome::Clean);
    }

    let results = execute(root, &bench)?;
    let markdown = report_markdown(&results);
    fs::write(
        root.join(TARGET_DIR).join("bench.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    fs::write(root.join(TARGET_DIR).join("bench.md"), &markdown)?;
    if args.preview.json() {
        render::print_json(&results);
    } else {
        print!("{markdown}");
    }
    eprintln!("bench: wrote {TARGET_DIR}/bench.json and {TARGET_DIR}/bench.md");
    Ok(Outcome::Clean)
}

/// The plan as a dry run prints it: the commands one per line, what is written in between
/// as `#` comments; with `--json` `{"commands": [...]}`, the comments as notes on stderr.
fn print_plan(root: &Path, bench: &BenchPlan, json: bool) {
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let say = |text: &str| {
        if json {
            eprintln!("note: {text}");
        } else {
            println!("# {text}");
        }
    };
    for file in &bench.files {
        say(&format!("write {}: {}", shown(&file.path), file.what));
    }
    let mut previous: Option<&Step> = None;
    for step in &bench.steps {
        if let Some(heading) = step.heading(bench.rounds) {
            say(&heading);
        }
        if matches!(step, Step::Help(_)) && !matches!(previous, Some(Step::Help(_))) {
            say(&format!("`cargo xtask --help`, {HELP_RUNS} runs"));
        }
        previous = Some(step);
        if !json {
            println!("{}", step.command());
        }
    }
    if json {
        render::print_commands(bench.steps.iter().map(Step::command), true);
    }
    say(&format!(
        "write {TARGET_DIR}/bench.json and {TARGET_DIR}/bench.md; logs in {}",
        shown(&bench.dir)
    ));
}

/// Runs the plan's commands, in order, and times them. Writes the bake file first and the
/// logs into the plan's directory.
pub fn execute(root: &Path, bench: &BenchPlan) -> Result<Results> {
    for file in &bench.files {
        if let Some(dir) = file.path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(&file.path, &file.text)
            .with_context(|| format!("writing {}", file.path.display()))?;
    }
    fs::create_dir_all(&bench.dir)?;
    let rounds = bench.rounds;
    let mut results = Results {
        machine: machine(),
        rounds,
        ..Results::default()
    };
    let mut help = Vec::new();
    for step in &bench.steps {
        match step {
            Step::CheckBake { file, cmd } => {
                let print = exec::output(cmd)?;
                if !print.success {
                    bail!(
                        "`docker buildx bake --print` rejects {}: {}",
                        file.display(),
                        print.stderr
                    );
                }
            }
            Step::Remove(cmd) => {
                // Only a leftover if it fails: the next round's build moves the tag anyway.
                if !exec::quiet(cmd)? {
                    eprintln!("bench: warning: `{cmd}` failed");
                }
            }
            Step::Version { key, cmd } => {
                let version = exec::output(cmd)
                    .map(|o| o.stdout.trim().to_owned())
                    .unwrap_or_default();
                results.machine.insert((*key).into(), version);
            }
            Step::Pair {
                pass,
                round,
                who,
                cmd,
                log,
            } => {
                let secs = timed(cmd, log)?.0;
                let mut said = String::new();
                if *pass == Pass::Cold {
                    let texts: Vec<String> = match who {
                        Who::Xtask => bench
                            .service_logs
                            .iter()
                            .map(|l| fs::read_to_string(l).unwrap_or_default())
                            .collect(),
                        Who::Bake | Who::PerService => vec![fs::read_to_string(log)?],
                    };
                    let counts = compile_counts(texts.iter().map(String::as_str));
                    said = format!(", {}", describe_counts(&counts));
                    match who {
                        Who::Xtask => results.compiles.xtask.push(counts),
                        Who::Bake => results.compiles.bake.push(counts),
                        Who::PerService => results.compiles.per_service.push(counts),
                    }
                }
                eprintln!(
                    "bench: {} round {round}/{rounds}: {} {secs:.1}s{said}",
                    pass.label(),
                    who.label()
                );
                let pair = match pass {
                    Pass::Cold => &mut results.cold,
                    Pass::Warm => &mut results.warm,
                };
                match who {
                    Who::Xtask => pair.xtask_secs.push(secs),
                    Who::Bake => pair.bake_secs.push(secs),
                    Who::PerService => results.per_service.secs.push(secs),
                }
            }
            Step::Sizes { cmd, log } => {
                let (_, out) = timed(cmd, log)?;
                let report: Value =
                    serde_json::from_slice(&out).context("build --json printed no JSON")?;
                for s in report["services"].as_array().into_iter().flatten() {
                    results.sizes.push(Size {
                        service: s["name"].as_str().unwrap_or_default().to_owned(),
                        bytes: s["size_bytes"].as_u64().unwrap_or_default(),
                        budget_mb: s["size_budget_mb"].as_u64().unwrap_or_default(),
                    });
                }
            }
            Step::OneLine {
                round,
                edit,
                cmd,
                log,
            } => {
                // A line never built before, or the layer cache would answer.
                let stamp = OffsetDateTime::now_utc().unix_timestamp_nanos();
                let _restore =
                    Restore::append(&root.join(edit), &format!("// bench edit {stamp}\n"))?;
                let secs = timed(cmd, log)?.0;
                let build_log = fs::read_to_string(root.join(TARGET_DIR).join("logs/api.log"))?;
                let recompiled = dependency_recompiles(&build_log, "api");
                eprintln!(
                    "bench: one-line api change {round}/{rounds}: {secs:.1}s, {} dependencies \
                     recompiled",
                    recompiled.len()
                );
                results.one_line_change.secs.push(secs);
                results.one_line_change.recompiled.extend(recompiled);
            }
            Step::Affected { cmd, log, .. } => {
                let (secs, out) = timed(cmd, log)?;
                let report: Value =
                    serde_json::from_slice(&out).context("build --json printed no JSON")?;
                let started = report["services"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["result"] != "skipped")
                    .count();
                eprintln!(
                    "bench: --affected, nothing changed: {:.0} ms, {started} build(s) started",
                    secs * 1000.0
                );
                results.affected_no_change.ms.push(secs * 1000.0);
                results.affected_no_change.builds_started += started;
            }
            Step::Compile { cmd, log } => {
                let target = scratch::TempDir::new("xtask-bench-target-")?;
                let cmd = cmd.bind(EMPTY_TARGET_DIR, &target.path().display().to_string());
                results.xtask_cold_compile_secs = timed(&cmd, log)?.0;
                eprintln!(
                    "bench: xtask cold compile {:.1}s",
                    results.xtask_cold_compile_secs
                );
            }
            Step::Help(cmd) => {
                let started = Instant::now();
                if !exec::quiet(cmd)? {
                    bail!("`cargo xtask --help` failed");
                }
                help.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    for pair in [&mut results.cold, &mut results.warm] {
        pair.xtask_median = median(&pair.xtask_secs);
        pair.bake_median = median(&pair.bake_secs);
        pair.ratio = ratio(pair.xtask_median, pair.bake_median);
    }
    results.per_service.median = median(&results.per_service.secs);
    results.per_service.ratio = ratio(results.cold.bake_median, results.per_service.median);
    results.one_line_change.median = median(&results.one_line_change.secs);
    results.affected_no_change.median_ms = median(&results.affected_no_change.ms);
    results.xtask_help_ms = median(&help);
    Ok(results)
}

/// Runs `cmd` with stderr into `log`; returns its wall time and stdout. A failing command
/// fails the benchmark: a time for a broken build means nothing.
///
/// exec has no runner that captures stdout while stderr goes to a file, so stderr is
/// captured too and written to `log` once the command has finished.
fn timed(cmd: &Command, log: &Path) -> Result<(f64, Vec<u8>)> {
    let mut file = fs::File::create(log)?;
    let started = Instant::now();
    let out = exec::output(cmd)?;
    let secs = started.elapsed().as_secs_f64();
    file.write_all(out.stderr.as_bytes())
        .with_context(|| format!("writing {}", log.display()))?;
    if !out.success {
        bail!("`{cmd}` failed; its output is in {}", log.display());
    }
    Ok((secs, out.stdout.into_bytes()))
}

/// Appends a line to a file and puts the original back when dropped.
struct Restore {
    path: PathBuf,
    original: String,
}

impl Restore {
    fn append(path: &Path, line: &str) -> Result<Restore> {
        let original = fs::read_to_string(path)?;
        fs::write(path, format!("{original}{line}"))?;
        Ok(Restore {
            path: path.to_owned(),
            original,
        })
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Err(e) = fs::write(&self.path, &self.original) {
            eprintln!("error: could not restore {}: {e}", self.path.display());
        }
    }
}

/// A bake file (JSON format) with one target per service of `plan`, read off the plan's own
/// `docker buildx build` argv so both sides build exactly the same thing.
pub fn bake_file(plan: &BuildPlan) -> Value {
    bake_file_with(plan, |_, target| target)
}

/// [`bake_file`] on the per-service Dockerfiles (`dockerfiles`, by service), each image
/// tagged only [`PER_SERVICE_TAG`], so the shared-layer images keep their tags.
pub fn per_service_bake_file(plan: &BuildPlan, dockerfiles: &BTreeMap<String, PathBuf>) -> Value {
    bake_file_with(plan, |s, mut target| {
        if let Some(path) = dockerfiles.get(&s.name) {
            target["dockerfile"] = json!(path.display().to_string());
        }
        target["tags"] = json!([format!("{}:{PER_SERVICE_TAG}", s.image)]);
        target
    })
}

/// The bake file of `plan`, each target as `edit` makes it.
fn bake_file_with(plan: &BuildPlan, edit: impl Fn(&ServicePlan, Value) -> Value) -> Value {
    let mut targets = serde_json::Map::new();
    for s in &plan.services {
        let mut tags = Vec::new();
        let mut labels = BTreeMap::new();
        let mut args = BTreeMap::new();
        let mut cache_from = Vec::new();
        let mut cache_to = Vec::new();
        let mut dockerfile = String::new();
        let mut i = 3;
        while i + 1 < s.argv.len() {
            let (flag, value) = (s.argv[i].as_str(), s.argv[i + 1].clone());
            let split = |v: &str| {
                let (k, v) = v.split_once('=').unwrap_or((v, ""));
                (k.to_owned(), v.to_owned())
            };
            match flag {
                "--file" => dockerfile = value,
                "--tag" => tags.push(value),
                "--label" => {
                    let (k, v) = split(&value);
                    labels.insert(k, v);
                }
                "--build-arg" => {
                    let (k, v) = split(&value);
                    args.insert(k, v);
                }
                "--cache-from" => cache_from.push(value),
                "--cache-to" => cache_to.push(value),
                _ if flag.starts_with("--") && !value.starts_with("--") => {}
                _ => {
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        let context = s.argv.last().cloned().unwrap_or_else(|| ".".into());
        let mut target = json!({
            "context": context,
            "dockerfile": dockerfile,
            "tags": tags,
            "labels": labels,
            "args": args,
            "output": ["type=docker"],
        });
        if !cache_from.is_empty() {
            target["cache-from"] = json!(cache_from);
        }
        if !cache_to.is_empty() {
            target["cache-to"] = json!(cache_to);
        }
        targets.insert(s.name.clone(), edit(s, target));
    }
    let names: Vec<&String> = targets.keys().collect();
    json!({ "group": { "default": { "targets": names } }, "target": targets })
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The crates a cargo build log compiled, other than `own`.
pub fn dependency_recompiles(log: &str, own: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("Compiling ")? + "Compiling ".len()..];
            let name = rest.split_whitespace().next()?;
            (name != own).then(|| name.to_owned())
        })
        .collect()
}

/// How many times each crate was compiled in the BuildKit plain logs `logs` of one build of
/// all services (one log per service, or bake's one). A vertex is a `#N` within a log; a
/// vertex shown in two logs (BuildKit shares a step both builds have, and may stream its
/// output to both) prints the same header and the same lines at the same times there, so a
/// compile is one (step header, time, crate) and counted once however many logs show it.
pub fn compile_counts<'a>(logs: impl IntoIterator<Item = &'a str>) -> CompileCount {
    let mut seen = std::collections::BTreeSet::new();
    let mut counts = CompileCount::default();
    for log in logs {
        let mut headers: BTreeMap<&str, &str> = BTreeMap::new();
        for line in log.lines() {
            let Some((id, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else {
                continue;
            };
            if !id.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            if rest.starts_with('[') {
                headers.insert(id, rest.trim());
                continue;
            }
            let Some((time, text)) = rest.split_once(' ') else {
                continue;
            };
            let Some(compiled) = text.trim_start().strip_prefix("Compiling ") else {
                continue;
            };
            let mut words = compiled.split_whitespace();
            let (Some(name), Some(version)) = (words.next(), words.next()) else {
                continue;
            };
            let header = headers.get(id).copied().unwrap_or_default();
            let krate = format!("{name} {version}");
            if !seen.insert((header.to_owned(), time.to_owned(), krate.clone())) {
                continue;
            }
            // A path source, `(/src/api)`: the workspace's own crate.
            let map = if words.next().is_some_and(|w| w.starts_with("(/")) {
                &mut counts.workspace
            } else {
                &mut counts.dependencies
            };
            *map.entry(krate).or_default() += 1;
        }
    }
    counts
}

/// The most times each crate was compiled, over `counts` (the rounds).
fn most(counts: &[&CompileCount]) -> CompileCount {
    let mut out = CompileCount::default();
    for c in counts {
        for (from, to) in [
            (&c.dependencies, &mut out.dependencies),
            (&c.workspace, &mut out.workspace),
        ] {
            for (k, n) in from {
                let e = to.entry(k.clone()).or_default();
                *e = (*e).max(*n);
            }
        }
    }
    out
}

/// The crates compiled more than once, most first, as `name vX N times`.
fn compiled_more_often(c: &CompileCount) -> Vec<String> {
    let mut more: Vec<(&String, &usize)> = c.dependencies.iter().filter(|(_, n)| **n > 1).collect();
    more.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    more.iter().map(|(k, n)| format!("{k} {n}x")).collect()
}

/// One line: how many dependencies, compiled how often, and the workspace crates.
fn describe_counts(c: &CompileCount) -> String {
    let mut by_times: BTreeMap<usize, usize> = BTreeMap::new();
    for n in c.dependencies.values() {
        *by_times.entry(*n).or_default() += 1;
    }
    let deps = if by_times.is_empty() {
        "no dependency compiled".to_owned()
    } else {
        by_times
            .iter()
            .rev()
            .map(|(times, crates)| format!("{crates} dependencies compiled {times}x"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let workspace = c
        .workspace
        .iter()
        .map(|(k, n)| format!("{} {n}x", k.split(' ').next().unwrap_or(k)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{deps}; workspace crates {workspace}")
}

fn pass(ok: bool) -> String {
    if ok { "pass" } else { "MISS" }.into()
}

/// The results as a markdown table: what was measured, the target, pass or miss.
pub fn report_markdown(r: &Results) -> String {
    let mut t = Table::new(["measure", "result", "target", "verdict"]);
    t.row([
        format!("cold build, all services (median of {})", r.rounds),
        format!(
            "xtask {:.1}s, bake {:.1}s, ratio {:.2}",
            r.cold.xtask_median, r.cold.bake_median, r.cold.ratio
        ),
        format!("ratio <= {MAX_BAKE_RATIO}"),
        pass(r.cold.ratio <= MAX_BAKE_RATIO),
    ]);
    t.row([
        format!(
            "cold build, shared layer vs per-service Dockerfiles (bake, median of {})",
            r.rounds
        ),
        format!(
            "shared {:.1}s, per-service {:.1}s, ratio {:.2}",
            r.cold.bake_median, r.per_service.median, r.per_service.ratio
        ),
        format!("ratio < {MAX_PER_SERVICE_RATIO:.1}"),
        pass(r.per_service.ratio > 0.0 && r.per_service.ratio < MAX_PER_SERVICE_RATIO),
    ]);
    let shared = most(
        &r.compiles
            .xtask
            .iter()
            .chain(&r.compiles.bake)
            .collect::<Vec<_>>(),
    );
    let more = compiled_more_often(&shared);
    t.row([
        "cold build, compiles per dependency (shared layer: xtask and bake)".to_owned(),
        if shared.dependencies.is_empty() {
            "no dependency compile seen in the logs".to_owned()
        } else if more.is_empty() {
            format!(
                "each dependency compiled once ({} crates); {}",
                shared.dependencies.len(),
                describe_counts(&shared)
                    .split_once("; ")
                    .map_or("", |(_, w)| w)
            )
        } else {
            format!("compiled more often: {}", more.join(", "))
        },
        "each dependency once".to_owned(),
        pass(!shared.dependencies.is_empty() && more.is_empty()),
    ]);
    let per_service = most(&r.compiles.per_service.iter().collect::<Vec<_>>());
    let examples = compiled_more_often(&per_service);
    t.row([
        "cold build, compiles per dependency (per-service Dockerfiles)".to_owned(),
        format!(
            "{}{}",
            describe_counts(&per_service),
            if examples.is_empty() {
                String::new()
            } else {
                format!(
                    " (e.g. {})",
                    examples
                        .iter()
                        .take(4)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
        "the baseline".to_owned(),
        "-".to_owned(),
    ]);
    t.row([
        "warm rebuild, no change, all services".to_owned(),
        format!(
            "xtask {:.1}s, bake {:.1}s, ratio {:.2}",
            r.warm.xtask_median, r.warm.bake_median, r.warm.ratio
        ),
        format!("ratio <= {MAX_WARM_RATIO:.1}, < {MAX_WARM_SECS} s"),
        pass(r.warm.ratio <= MAX_WARM_RATIO && r.warm.xtask_median < MAX_WARM_SECS),
    ]);
    let deps = &r.one_line_change.recompiled;
    t.row([
        "one-line change in api/src".to_owned(),
        format!(
            "{:.1}s, {}",
            r.one_line_change.median,
            if deps.is_empty() {
                "no dependency recompiled".to_owned()
            } else {
                format!("recompiled {}", deps.join(", "))
            }
        ),
        format!("< {MAX_ONE_LINE_SECS} s, no dependency recompiled"),
        pass(r.one_line_change.median < MAX_ONE_LINE_SECS && deps.is_empty()),
    ]);
    t.row([
        "`--affected`, nothing changed".to_owned(),
        format!(
            "{:.0} ms, {} build(s) started",
            r.affected_no_change.median_ms, r.affected_no_change.builds_started
        ),
        "no build started".to_owned(),
        pass(r.affected_no_change.builds_started == 0),
    ]);
    for s in &r.sizes {
        t.row([
            format!("image size: {}", s.service),
            crate::render::megabytes(s.bytes),
            format!("<= {} MB", s.budget_mb),
            pass(s.bytes <= s.budget_mb * 1_000_000),
        ]);
    }
    t.row([
        "xtask cold compile (dev profile)".to_owned(),
        format!("{:.1}s", r.xtask_cold_compile_secs),
        format!("< {MAX_COMPILE_SECS} s"),
        pass(r.xtask_cold_compile_secs < MAX_COMPILE_SECS),
    ]);
    t.row([
        format!("`cargo xtask --help`, warm (median of {HELP_RUNS})"),
        format!("{:.0} ms", r.xtask_help_ms),
        format!("< {MAX_HELP_MS} ms"),
        pass(r.xtask_help_ms < MAX_HELP_MS),
    ]);
    format!(
        "{}\nCompiles per crate in a cold build of all services (the most over the rounds):\n\n{}",
        t.render_markdown(),
        compiles_markdown(&r.compiles)
    )
}

/// Per crate, how many times each cold build compiled it (the most over the rounds).
fn compiles_markdown(c: &Compiles) -> String {
    let sides =
        [&c.xtask, &c.bake, &c.per_service].map(|rounds| most(&rounds.iter().collect::<Vec<_>>()));
    let mut t = Table::new([
        "crate",
        "xtask (shared)",
        "bake (shared)",
        "bake (per-service)",
    ]);
    for workspace in [false, true] {
        fn pick(s: &CompileCount, workspace: bool) -> &BTreeMap<String, usize> {
            if workspace {
                &s.workspace
            } else {
                &s.dependencies
            }
        }
        let crates: std::collections::BTreeSet<&String> = sides
            .iter()
            .flat_map(|s| pick(s, workspace).keys())
            .collect();
        for k in crates {
            let mut row = vec![if workspace {
                format!("{k} (workspace)")
            } else {
                k.clone()
            }];
            row.extend(
                sides
                    .iter()
                    .map(|s| pick(s, workspace).get(k).copied().unwrap_or(0).to_string()),
            );
            t.row(row);
        }
    }
    t.render_markdown()
}

/// Where the numbers came from, as far as no command is needed (the versions are steps).
fn machine() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    m.insert(
        "nproc".into(),
        std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    m.insert("memory".into(), field(&read("/proc/meminfo"), "MemTotal"));
    m.insert("cpu".into(), field(&read("/proc/cpuinfo"), "model name"));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::builder::tests::DOCKER_DRIVER;
    use crate::domain::env::Env;
    use crate::domain::plan::tests::{config, ctx};

    fn build_plan() -> BuildPlan {
        let config = config();
        let builder = Builder::parse_inspect(DOCKER_DRIVER).unwrap();
        let ctx = ctx();
        let env = Env::default();
        plan::plan(
            &PlanInput {
                config: &config,
                ctx: &ctx,
                builder: &builder,
                builder_flag: None,
                env: &env,
                namespace: "xtask-fast".into(),
                no_cache: false,
                now: OffsetDateTime::UNIX_EPOCH,
                platforms: &[],
                registry_configured: false,
            },
            &config.select(&[]).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_bake_file_builds_what_the_plan_builds() {
        let plan = build_plan();
        let ctx = ctx();
        let bake = bake_file(&plan);
        assert_eq!(bake["group"]["default"]["targets"], json!(["api", "web"]));
        let web = &bake["target"]["web"];
        assert_eq!(web["context"], ".");
        assert_eq!(web["dockerfile"], "xtask/docker/web.Dockerfile");
        assert_eq!(web["output"], json!(["type=docker"]));
        assert_eq!(
            web["cache-to"],
            Value::Null,
            "no cache export, no inline metadata"
        );
        assert_eq!(web["args"]["FEATURES"], "tls");
        assert_eq!(web["args"]["REVISION"], ctx.sha.as_str());
        assert_eq!(web["labels"]["org.opencontainers.image.title"], "web");
        let tags: Vec<String> = plan.services[1]
            .tags
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(web["tags"], json!(tags));
        assert!(bake["target"]["api"]["labels"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.starts_with("org.opencontainers.image.")));
    }

    #[test]
    fn the_per_service_bake_file_differs_only_in_dockerfiles_and_tags() {
        let plan = build_plan();
        let dockerfiles = BTreeMap::from([(
            "web".to_owned(),
            PathBuf::from("/repo/target/xtask/bench/per-service/web.Dockerfile"),
        )]);
        let mut shared = bake_file(&plan);
        let mut per_service = per_service_bake_file(&plan, &dockerfiles);
        let web = &per_service["target"]["web"];
        assert_eq!(
            web["dockerfile"],
            "/repo/target/xtask/bench/per-service/web.Dockerfile"
        );
        assert_eq!(web["tags"], json!(["xtask-fast/web:bench-per-service"]));
        for bake in [&mut shared, &mut per_service] {
            for target in ["api", "web"] {
                let t = bake["target"][target].as_object_mut().unwrap();
                t.remove("dockerfile");
                t.remove("tags");
            }
        }
        assert_eq!(shared, per_service);
    }

    /// A Dockerfile with the shared layer's two package selections.
    const RUST_DOCKERFILE: &str = "FROM rust AS build\n\
        # cargo build --release --locked --workspace --exclude xtask, once\n\
        RUN cargo build --release --locked --workspace --exclude xtask\n\
        COPY api/src api/src\n\
        RUN touch api/src/main.rs \\\n && cargo build --release --locked --workspace --exclude xtask \\\n && cp target/release/api /usr/local/bin/api\n";

    #[test]
    fn the_per_service_dockerfile_selects_only_its_package_in_both_builds() {
        let variant = per_service_dockerfile(RUST_DOCKERFILE, "api", "api.Dockerfile").unwrap();
        let code: Vec<&str> = variant
            .lines()
            .filter(|l| l.contains("cargo build") && !l.starts_with('#'))
            .collect();
        assert_eq!(
            code,
            [
                "RUN cargo build --release --locked -p api",
                " && cargo build --release --locked -p api \\"
            ]
        );
        assert!(
            variant.contains("# cargo build --release --locked --workspace --exclude xtask, once")
        );
        assert!(variant.ends_with(
            "the baseline the shared dependency layer is measured against. Not for use.\n"
        ));
        let node = "FROM node\nRUN npm ci\n";
        let copied = per_service_dockerfile(node, "runner", "runner.Dockerfile").unwrap();
        assert!(copied.starts_with(node), "{copied}");
        let err = per_service_dockerfile(
            "RUN cargo build --release --locked --workspace --exclude xtask\n",
            "api",
            "api.Dockerfile",
        )
        .unwrap_err();
        assert!(err.to_string().contains("1 cargo build(s)"), "{err}");
    }

    fn bench_plan(rounds: usize) -> BenchPlan {
        let build = build_plan();
        let services = ["api", "web"].map(|name| BenchService {
            name: name.into(),
            dockerfile: format!("xtask/docker/{name}.Dockerfile").into(),
            text: RUST_DOCKERFILE.replace("api", name),
            ignore: Some("*\n".into()),
        });
        plan(&BenchInput {
            root: Path::new("/repo"),
            exe: "/repo/target/debug/xtask",
            cargo: "/bin/cargo",
            namespace: "xtask-bench",
            rounds,
            build: &build,
            services: &services,
        })
        .unwrap()
    }

    #[test]
    fn the_plan_rotates_who_goes_first_and_runs_each_measure_per_round() {
        let bench = bench_plan(2);
        let lines: Vec<String> = bench.steps.iter().map(|s| s.command().shell()).collect();
        let bake = "docker buildx bake --progress plain --file /repo/target/xtask/bench/bake.json";
        let per_service =
            "docker buildx bake --progress plain --file /repo/target/xtask/bench/per-service.json --no-cache";
        let rm =
            "docker image rm xtask-fast/api:bench-per-service xtask-fast/web:bench-per-service";
        let xtask = "/repo/target/debug/xtask build --registry xtask-bench --json";
        let mut expected = vec![
            "docker buildx bake --file /repo/target/xtask/bench/bake.json --print".to_owned(),
            "docker buildx bake --file /repo/target/xtask/bench/per-service.json --print"
                .to_owned(),
            "docker version --format '{{.Server.Version}}'".to_owned(),
            "docker buildx version".to_owned(),
            format!("{xtask} --no-cache"),
            format!("{bake} --no-cache"),
            per_service.to_owned(),
            rm.to_owned(),
            format!("{bake} --no-cache"),
            per_service.to_owned(),
            rm.to_owned(),
            format!("{xtask} --no-cache"),
            xtask.to_owned(),
            bake.to_owned(),
            bake.to_owned(),
            xtask.to_owned(),
            xtask.to_owned(),
            format!("{xtask} api"),
            format!("{xtask} api"),
            format!("{xtask} --affected --base HEAD"),
            format!("{xtask} --affected --base HEAD"),
            "/bin/cargo build -p xtask --target-dir '<empty target directory>'".to_owned(),
        ];
        expected.extend(std::iter::repeat_n(
            "/repo/target/debug/xtask --help".to_owned(),
            HELP_RUNS,
        ));
        assert_eq!(lines, expected);
        let logs: Vec<String> = bench
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Pair { log, .. } => Some(log.display().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            logs,
            [
                "cold-xtask-1.log",
                "cold-bake-1.log",
                "cold-per-service-1.log",
                "cold-bake-2.log",
                "cold-per-service-2.log",
                "cold-xtask-2.log",
                "warm-xtask-1.log",
                "warm-bake-1.log",
                "warm-bake-2.log",
                "warm-xtask-2.log"
            ]
            .map(|name| format!("/repo/target/xtask/bench/{name}"))
        );
        assert!(bench
            .steps
            .iter()
            .all(|s| s.command().dir.is_some() || s.command().timeout.is_some()));
        let written: Vec<String> = bench
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        assert_eq!(
            written,
            [
                "bake.json",
                "per-service/api.Dockerfile",
                "per-service/api.Dockerfile.dockerignore",
                "per-service/web.Dockerfile",
                "per-service/web.Dockerfile.dockerignore",
                "per-service.json"
            ]
            .map(|name| format!("/repo/target/xtask/bench/{name}"))
        );
        assert_eq!(
            bench.service_logs,
            ["api", "web"].map(|s| PathBuf::from(format!("/repo/target/xtask/logs/{s}.log")))
        );
    }

    #[test]
    fn the_one_line_edit_and_the_files_written_are_comments_not_commands() {
        let bench = bench_plan(1);
        let one_line = bench
            .steps
            .iter()
            .find(|s| matches!(s, Step::OneLine { .. }))
            .unwrap();
        let heading = one_line.heading(1).unwrap();
        assert!(heading.contains("append `// bench edit <timestamp>` to api/src/main.rs"));
        let compile = bench
            .steps
            .iter()
            .find(|s| matches!(s, Step::Compile { .. }));
        let bound = compile.unwrap().command().bind(EMPTY_TARGET_DIR, "/tmp/t");
        assert_eq!(
            bound.shell(),
            "/bin/cargo build -p xtask --target-dir /tmp/t"
        );
    }

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(ratio(90.0, 100.0), 0.9);
        assert_eq!(ratio(1.0, 0.0), 0.0);
    }

    #[test]
    fn dependency_recompiles_leave_out_the_service_itself() {
        let log = "#12 [build 5/8] RUN cargo build\n#12 0.51    Compiling serde v1.0.228\n\
                   #12 3.20    Compiling tokio v1.48.0\n#14 1.02    Compiling api v0.1.0 (/src/api)\n\
                   #14 9.90     Finished `release` profile";
        assert_eq!(dependency_recompiles(log, "api"), ["serde", "tokio"]);
        assert!(dependency_recompiles("#14 1.0    Compiling api v0.1.0\n", "api").is_empty());
    }

    #[test]
    fn a_vertex_shown_in_two_logs_counts_once_and_workspace_crates_apart() {
        // web's build shares api's dependency step and streams its output too (same step,
        // same lines, same times); the per-service step of each compiles tokio on its own.
        let api = "#15 [build 5/7] RUN cargo build --workspace\n\
                   #15 0.51    Compiling tokio v1.54.1\n\
                   #15 0.90    Compiling api v0.1.0 (/src/api)\n\
                   #18 [build 7/7] RUN cargo build --workspace\n\
                   #18 0.40    Compiling api v0.1.0 (/src/api)\n";
        let web = "#16 [build 5/7] RUN cargo build --workspace\n\
                   #16 0.51    Compiling tokio v1.54.1\n\
                   #16 0.90    Compiling api v0.1.0 (/src/api)\n\
                   #19 [build 8/8] RUN cargo build --workspace\n\
                   #19 0.41    Compiling web v0.1.0 (/src/web)\n\
                   #20 [build 5/8] RUN cargo build -p web\n\
                   #20 0.52    Compiling tokio v1.54.1\n\
                   #20 0.60    Compiling serde v1.0.229\n";
        let c = compile_counts([api, web]);
        assert_eq!(
            c.dependencies,
            BTreeMap::from([("serde v1.0.229".into(), 1), ("tokio v1.54.1".into(), 2)])
        );
        assert_eq!(
            c.workspace,
            BTreeMap::from([("api v0.1.0".into(), 2), ("web v0.1.0".into(), 1)])
        );
        assert_eq!(compiled_more_often(&c), ["tokio v1.54.1 2x"]);
        assert_eq!(
            describe_counts(&c),
            "1 dependencies compiled 2x, 1 dependencies compiled 1x; workspace crates api 2x, web 1x"
        );
        assert_eq!(compile_counts([api, api]), compile_counts([api]));
    }

    #[test]
    fn the_report_says_pass_or_miss_per_target() {
        let mut r = Results {
            rounds: 1,
            ..Results::default()
        };
        r.cold.ratio = 1.2;
        r.cold.bake_median = 60.0;
        r.per_service.median = 80.0;
        r.per_service.ratio = 0.75;
        let once = compile_counts(["#1 [b] RUN x\n#1 0.5    Compiling tokio v1.54.1\n"]);
        r.compiles.xtask.push(once.clone());
        r.compiles.bake.push(once);
        r.compiles.per_service.push(compile_counts([
            "#1 [b] RUN x\n#1 0.5    Compiling tokio v1.54.1\n#2 [c] RUN y\n#2 0.5    Compiling tokio v1.54.1\n",
        ]));
        r.one_line_change.recompiled = vec!["serde".into()];
        r.xtask_help_ms = 5.0;
        let md = report_markdown(&r);
        assert!(md.contains("ratio 1.20 | ratio <= 1.05 | MISS"), "{md}");
        assert!(
            md.contains("shared 60.0s, per-service 80.0s, ratio 0.75 | ratio < 1.0 | pass"),
            "{md}"
        );
        assert!(
            md.contains("each dependency compiled once (1 crates)"),
            "{md}"
        );
        assert!(
            md.contains("(e.g. tokio v1.54.1 2x) | the baseline"),
            "{md}"
        );
        assert!(md.contains("| tokio v1.54.1 | 1 | 1 | 2 |"), "{md}");
        r.compiles.bake.push(r.compiles.per_service[0].clone());
        let md = report_markdown(&r);
        assert!(
            md.contains("compiled more often: tokio v1.54.1 2x | each dependency once | MISS"),
            "{md}"
        );
        assert!(md.contains("recompiled serde"), "{md}");
        assert!(md.contains("5 ms | < 100 ms | pass"), "{md}");
    }
}
