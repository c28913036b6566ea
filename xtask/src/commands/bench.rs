//! `cargo xtask bench`: how fast the builds are on this machine, measured, not assumed.
//!
//! Compares `cargo xtask build` with plain `docker buildx bake` on a bake file generated from
//! the same plan (cold and warm, alternating, medians), then times a one-line api change,
//! `--affected` with nothing changed, image sizes against budgets and the xtask's own compile
//! and start-up. Writes `target/xtask/bench.json` and `bench.md`. Never a test: timings
//! belong in docs/benchmarks.md, not in assertions. Cold rounds use `--no-cache` on both
//! sides instead of pruning the builder, which may be shared: the layer cache is ignored,
//! BuildKit cache mounts (the cargo registry) survive for both sides alike.
//!
//! Like every acting command it plans first ([`plan`]: the steps, each with the command it
//! runs) and then runs exactly those commands, timing them ([`execute`]); `--dry-run` prints
//! the plan. The files it writes (the bake file, the one-line edit, the results) are said in
//! `#` comment lines, not commands.

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
use crate::adapters::workspace::Workspace;
use crate::cli::{Preview, Registry};
use crate::domain::builder::Builder;
use crate::domain::outcome::Outcome;
use crate::domain::plan::{self, BuildPlan, Output, PlanInput, TARGET_DIR};
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
const MAX_WARM_SECS: f64 = 3.0;
const MAX_ONE_LINE_SECS: f64 = 60.0;
const MAX_COMPILE_SECS: f64 = 20.0;
const MAX_HELP_MS: f64 = 100.0;
const HELP_RUNS: usize = 10;
/// For the quick questions (`bake --print`, versions, `--help`), not for the timed builds.
const QUICK: Duration = Duration::from_secs(60);
/// The file the one-line change edits, relative to the root.
const ONE_LINE_FILE: &str = "api/src/main.rs";
/// Stands for the empty target directory the cold compile gets, made when it runs.
pub const EMPTY_TARGET_DIR: &str = "<empty target directory>";

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub machine: BTreeMap<String, String>,
    pub rounds: usize,
    pub cold: Pair,
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
}

impl Who {
    fn label(self) -> &'static str {
        match self {
            Who::Xtask => "xtask",
            Who::Bake => "bake",
        }
    }
}

/// One step of a run, with the command it runs. `round` counts from 1.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `docker buildx bake --print` must accept the bake file before anything is timed.
    CheckBake(Command),
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
            Step::CheckBake(cmd)
            | Step::Version { cmd, .. }
            | Step::Pair { cmd, .. }
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
            } if first_of_round(*round, *who) => Some(format!(
                "{} round {round}/{rounds}: {}",
                pass.label(),
                if *who == Who::Xtask {
                    "xtask, then bake"
                } else {
                    "bake, then xtask"
                }
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
            Step::CheckBake(_) | Step::Version { .. } | Step::Pair { .. } | Step::Help(_) => None,
        }
    }
}

/// Whether `who` goes first in `round` (1-based): xtask in odd rounds, bake in even ones.
fn first_of_round(round: usize, who: Who) -> bool {
    (round % 2 == 1) == (who == Who::Xtask)
}

/// What a bench run does, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPlan {
    pub rounds: usize,
    /// Where the bake file goes and what it says.
    pub bake_path: PathBuf,
    pub bake: Value,
    /// The logs' directory.
    pub dir: PathBuf,
    pub steps: Vec<Step>,
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
    /// The bake file: [`bake_file`] of the plan both sides build.
    pub bake: Value,
}

/// The steps of a run, pure.
pub fn plan(input: &BenchInput) -> BenchPlan {
    let root = input.root;
    let dir = root.join(TARGET_DIR).join("bench");
    let bake_path = dir.join("bake.json");
    let bake_arg = bake_path.display().to_string();
    let rounds = input.rounds;
    let xtask_build = |extra: &[&str]| {
        Command::new(input.exe)
            .args(["build", "--registry", input.namespace, "--json"])
            .args(extra.iter().copied())
            .dir(root)
    };
    let bake_build = |extra: &[&str]| {
        Command::new("docker")
            .args(["buildx", "bake", "--progress", "plain", "--file", &bake_arg])
            .args(extra.iter().copied())
            .dir(root)
    };
    let log = |name: String| dir.join(name);

    let mut steps = vec![Step::CheckBake(
        Command::new("docker")
            .args(["buildx", "bake", "--file", &bake_arg, "--print"])
            .dir(root)
            .timeout(QUICK),
    )];
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
    for (pass, extra) in [(Pass::Cold, &["--no-cache"][..]), (Pass::Warm, &[][..])] {
        for round in 1..=rounds {
            // Alternate who goes first, so neither always meets the other's leftovers.
            let order = if first_of_round(round, Who::Xtask) {
                [Who::Xtask, Who::Bake]
            } else {
                [Who::Bake, Who::Xtask]
            };
            for who in order {
                let cmd = match who {
                    Who::Xtask => xtask_build(extra),
                    Who::Bake => bake_build(extra),
                };
                let log = log(format!("{}-{}-{round}.log", pass.label(), who.label()));
                steps.push(Step::Pair {
                    pass,
                    round,
                    who,
                    cmd,
                    log,
                });
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
    BenchPlan {
        rounds,
        bake_path,
        bake: input.bake.clone(),
        dir,
        steps,
    }
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
            output: Output::Load,
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
    let bench = plan(&BenchInput {
        root,
        exe: &exe,
        cargo: &cargo,
        namespace: &namespace,
        rounds: args.rounds,
        bake: bake_file(&build),
    });

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
    say(&format!(
        "write {}: one bake target per service, read off the build plan",
        shown(&bench.bake_path)
    ));
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
    fs::create_dir_all(&bench.dir)?;
    fs::write(&bench.bake_path, serde_json::to_string_pretty(&bench.bake)?)?;
    let rounds = bench.rounds;
    let mut results = Results {
        machine: machine(),
        rounds,
        ..Results::default()
    };
    let mut help = Vec::new();
    for step in &bench.steps {
        match step {
            Step::CheckBake(cmd) => {
                let print = exec::output(cmd)?;
                if !print.success {
                    bail!(
                        "`docker buildx bake --print` rejects {}: {}",
                        bench.bake_path.display(),
                        print.stderr
                    );
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
                eprintln!(
                    "bench: {} round {round}/{rounds}: {} {secs:.1}s",
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
                let target = tempfile::tempdir()?;
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
        targets.insert(s.name.clone(), target);
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
        "warm rebuild, no change, all services".to_owned(),
        format!(
            "xtask {:.1}s, bake {:.1}s, ratio {:.2}",
            r.warm.xtask_median, r.warm.bake_median, r.warm.ratio
        ),
        format!("< {MAX_WARM_SECS} s"),
        pass(r.warm.xtask_median < MAX_WARM_SECS),
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

    #[test]
    fn the_bake_file_builds_what_the_plan_builds() {
        let config = config();
        let builder = Builder::parse_inspect(DOCKER_DRIVER).unwrap();
        let ctx = ctx();
        let env = Env::default();
        let plan = plan::plan(
            &PlanInput {
                config: &config,
                ctx: &ctx,
                builder: &builder,
                builder_flag: None,
                env: &env,
                namespace: "xtask-fast".into(),
                output: Output::Load,
                no_cache: false,
                now: OffsetDateTime::UNIX_EPOCH,
                platforms: &[],
                registry_configured: false,
            },
            &config.select(&[]).unwrap(),
        )
        .unwrap();
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

    fn bench_plan(rounds: usize) -> BenchPlan {
        plan(&BenchInput {
            root: Path::new("/repo"),
            exe: "/repo/target/debug/xtask",
            cargo: "/bin/cargo",
            namespace: "xtask-bench",
            rounds,
            bake: json!({}),
        })
    }

    #[test]
    fn the_plan_alternates_who_goes_first_and_runs_each_measure_per_round() {
        let bench = bench_plan(2);
        let lines: Vec<String> = bench.steps.iter().map(|s| s.command().shell()).collect();
        let bake = "docker buildx bake --progress plain --file /repo/target/xtask/bench/bake.json";
        let xtask = "/repo/target/debug/xtask build --registry xtask-bench --json";
        let mut expected = vec![
            "docker buildx bake --file /repo/target/xtask/bench/bake.json --print".to_owned(),
            "docker version --format '{{.Server.Version}}'".to_owned(),
            "docker buildx version".to_owned(),
            format!("{xtask} --no-cache"),
            format!("{bake} --no-cache"),
            format!("{bake} --no-cache"),
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
                "cold-bake-2.log",
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
    fn the_report_says_pass_or_miss_per_target() {
        let mut r = Results {
            rounds: 1,
            ..Results::default()
        };
        r.cold.ratio = 1.2;
        r.one_line_change.recompiled = vec!["serde".into()];
        r.xtask_help_ms = 5.0;
        let md = report_markdown(&r);
        assert!(md.contains("ratio 1.20 | ratio <= 1.05 | MISS"), "{md}");
        assert!(md.contains("recompiled serde"), "{md}");
        assert!(md.contains("5 ms | < 100 ms | pass"), "{md}");
    }
}
