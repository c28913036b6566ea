//! `cargo xtask bench`: how fast the builds are on this machine, measured, not assumed.
//!
//! Compares `cargo xtask build` with plain `docker buildx bake` on a bake file generated from
//! the same plan (cold and warm, alternating, medians), then times a one-line api change,
//! `--affected` with nothing changed, image sizes against budgets and the xtask's own compile
//! and start-up. Writes `target/xtask/bench.json` and `bench.md`. Never a test: timings
//! belong in docs/benchmarks.md, not in assertions. Cold rounds use `--no-cache` on both
//! sides instead of pruning the builder, which may be shared: the layer cache is ignored,
//! BuildKit cache mounts (the cargo registry) survive for both sides alike.

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
use crate::cli::Registry;
use crate::domain::builder::Builder;
use crate::domain::outcome::Outcome;
use crate::domain::plan::{self, BuildPlan, Output, PlanInput, TARGET_DIR};
use crate::render::Table;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rounds of each timed build; medians are reported.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub rounds: usize,
    #[command(flatten)]
    pub registry: Registry,
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

pub fn run(ws: &Workspace, args: &Args) -> Result<Outcome> {
    if args.rounds == 0 {
        return Err(usage(anyhow::anyhow!("--rounds must be at least 1")));
    }
    let root = &ws.root;
    let dir = root.join(TARGET_DIR).join("bench");
    fs::create_dir_all(&dir)?;
    let namespace = args.registry.namespace(ws)?;
    let builder = Builder::detect(None)?;
    let ctx = ws.git_context()?;
    let services = ws.config.select(&[])?;
    let plan = plan::plan(
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
    let bake = dir.join("bake.json");
    fs::write(&bake, serde_json::to_string_pretty(&bake_file(&plan))?)?;
    let bake_arg = bake.display().to_string();
    let print = exec::output(
        &Command::new("docker")
            .args(["buildx", "bake", "--file", &bake_arg, "--print"])
            .dir(root)
            .timeout(QUICK),
    )?;
    if !print.success {
        bail!(
            "`docker buildx bake --print` rejects {}: {}",
            bake.display(),
            print.stderr
        );
    }

    let exe = std::env::current_exe()?;
    let exe = exe.display().to_string();
    let mut results = Results {
        machine: machine(),
        rounds: args.rounds,
        ..Results::default()
    };
    let xtask_build = |extra: &[&str]| {
        let mut argv = vec![exe.clone(), "build".into(), "--registry".into()];
        argv.push(namespace.clone());
        argv.extend(["--json".to_owned()]);
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv
    };
    let bake_build = |extra: &[&str]| {
        let mut argv: Vec<String> = ["docker", "buildx", "bake", "--progress", "plain", "--file"]
            .map(String::from)
            .into();
        argv.push(bake_arg.clone());
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv
    };

    for (label, extra, pair) in [
        ("cold", &["--no-cache"][..], &mut results.cold),
        ("warm", &[][..], &mut results.warm),
    ] {
        for round in 0..args.rounds {
            // Alternate who goes first, so neither always meets the other's leftovers.
            let order = if round % 2 == 0 {
                ["xtask", "bake"]
            } else {
                ["bake", "xtask"]
            };
            for who in order {
                let argv = if who == "xtask" {
                    xtask_build(extra)
                } else {
                    bake_build(extra)
                };
                let log = dir.join(format!("{label}-{who}-{}.log", round + 1));
                let secs = timed(root, &argv, &log)?.0;
                eprintln!(
                    "bench: {label} round {}/{}: {who} {secs:.1}s",
                    round + 1,
                    args.rounds
                );
                match who {
                    "xtask" => pair.xtask_secs.push(secs),
                    _ => pair.bake_secs.push(secs),
                }
            }
        }
        pair.xtask_median = median(&pair.xtask_secs);
        pair.bake_median = median(&pair.bake_secs);
        pair.ratio = ratio(pair.xtask_median, pair.bake_median);
    }

    // Image sizes from one more warm xtask build (all cached, so cheap).
    let (_, out) = timed(root, &xtask_build(&[]), &dir.join("sizes.log"))?;
    let report: Value = serde_json::from_slice(&out).context("build --json printed no JSON")?;
    for s in report["services"].as_array().into_iter().flatten() {
        results.sizes.push(Size {
            service: s["name"].as_str().unwrap_or_default().to_owned(),
            bytes: s["size_bytes"].as_u64().unwrap_or_default(),
            budget_mb: s["size_budget_mb"].as_u64().unwrap_or_default(),
        });
    }

    let main_rs = root.join("api/src/main.rs");
    for round in 0..args.rounds {
        // A line never built before, or the layer cache would answer.
        let stamp = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let _restore = Restore::append(&main_rs, &format!("// bench edit {stamp}\n"))?;
        let log = dir.join(format!("one-line-{}.log", round + 1));
        let secs = timed(root, &xtask_build(&["api"]), &log)?.0;
        let build_log = fs::read_to_string(root.join(TARGET_DIR).join("logs/api.log"))?;
        let recompiled = dependency_recompiles(&build_log, "api");
        eprintln!(
            "bench: one-line api change {}/{}: {secs:.1}s, {} dependencies recompiled",
            round + 1,
            args.rounds,
            recompiled.len()
        );
        results.one_line_change.secs.push(secs);
        results.one_line_change.recompiled.extend(recompiled);
    }
    results.one_line_change.median = median(&results.one_line_change.secs);

    for round in 0..args.rounds {
        let argv = xtask_build(&["--affected", "--base", "HEAD"]);
        let log = dir.join(format!("affected-{}.log", round + 1));
        let (secs, out) = timed(root, &argv, &log)?;
        let report: Value = serde_json::from_slice(&out).context("build --json printed no JSON")?;
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
    results.affected_no_change.median_ms = median(&results.affected_no_change.ms);

    let target = tempfile::tempdir()?;
    let argv: Vec<String> = vec![
        env!("CARGO").into(),
        "build".into(),
        "-p".into(),
        "xtask".into(),
        "--target-dir".into(),
        target.path().display().to_string(),
    ];
    results.xtask_cold_compile_secs = timed(root, &argv, &dir.join("compile.log"))?.0;
    eprintln!(
        "bench: xtask cold compile {:.1}s",
        results.xtask_cold_compile_secs
    );
    let mut help = Vec::new();
    for _ in 0..HELP_RUNS {
        let started = Instant::now();
        let ok = exec::quiet(&Command::new(&exe).arg("--help").timeout(QUICK))?;
        if !ok {
            bail!("`cargo xtask --help` failed");
        }
        help.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    results.xtask_help_ms = median(&help);

    let markdown = report_markdown(&results);
    fs::write(
        root.join(TARGET_DIR).join("bench.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    fs::write(root.join(TARGET_DIR).join("bench.md"), &markdown)?;
    print!("{markdown}");
    eprintln!("bench: wrote {TARGET_DIR}/bench.json and {TARGET_DIR}/bench.md");
    Ok(Outcome::Clean)
}

/// Runs `argv` in `root` with stderr into `log`; returns its wall time and stdout. A
/// failing command fails the benchmark: a time for a broken build means nothing.
///
/// exec has no runner that captures stdout while stderr goes to a file, so stderr is
/// captured too and written to `log` once the command has finished.
fn timed(root: &Path, argv: &[String], log: &Path) -> Result<(f64, Vec<u8>)> {
    let cmd = Command::from_argv(argv).dir(root);
    let mut file = fs::File::create(log)?;
    let started = Instant::now();
    let out = exec::output(&cmd)?;
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

/// Where the numbers came from.
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
    let version = |args: &[&str]| {
        exec::output(
            &Command::new("docker")
                .args(args.iter().copied())
                .timeout(QUICK),
        )
        .map(|o| o.stdout.trim().to_owned())
        .unwrap_or_default()
    };
    m.insert(
        "docker".into(),
        version(&["version", "--format", "{{.Server.Version}}"]),
    );
    m.insert("buildx".into(), version(&["buildx", "version"]));
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
        assert_eq!(web["cache-to"], json!(["type=inline"]));
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
