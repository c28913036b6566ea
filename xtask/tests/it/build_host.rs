//! A second modern engine on this machine as a build host: started by `engine.sh up --engine
//! modern` with its own state, socket, bridge, subnet, cgroup parent, context and
//! DOCKER_CONFIG, and removed at the end even when the test fails. A service built there
//! through `--context` exports its cache to the registry; the first modern engine
//! (`xtask-modern`) then builds the same commit from that cache and runs none of its RUN
//! steps. A push with a login (a temporary DOCKER_CONFIG, which holds no contexts) reaches
//! the build host, where the image is. Skipped without the modern engine or root, failed
//! without them under `CI=true` or `XTASK_REQUIRE_MODERN_ENGINE=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::fixture::{self, Service};
use crate::common::{self, modern_docker, modern_engine_available, MODERN_CONTEXT};

/// Short: the build host's sockets live under it (a unix socket path has at most 107 bytes).
const STATE: &str = "/tmp/xtask-bh";
const CONTEXT: &str = "xtask-bh";
const BRIDGE: &str = "xtask-bh0";
/// Next to the first modern engine's 172.31.250.1/24.
const CIDR: &str = "172.31.251.1/24";
const CGROUP: &str = "/xtask-bh";
const REGISTRY: &str = "127.0.0.1:5000";
/// The images the fixture needs there: its base and the SBOM generator the plan names.
const IMAGES: [&str; 2] = ["busybox:stable", "xtask/buildkit-syft-scanner:1.18.1"];

/// The second engine, stopped and removed (bridge, rules, context, state) when dropped.
struct BuildHost {
    docker_config: PathBuf,
    host: String,
}

impl BuildHost {
    fn start() -> BuildHost {
        let bh = BuildHost {
            docker_config: Path::new(STATE).join("docker-config"),
            host: format!("unix://{STATE}/modern/docker.sock"),
        };
        if Path::new(STATE).exists() {
            // A run killed before its cleanup.
            bh.remove();
        }
        std::fs::create_dir_all(&bh.docker_config).unwrap();
        let up = bh.engine_sh("up");
        assert!(
            up.status.success(),
            "engine.sh up for the build host: {}",
            common::stderr(&up)
        );
        bh
    }

    /// `engine.sh ACTION --engine modern` as this build host.
    fn engine_sh(&self, action: &str) -> Output {
        let mut c = Command::new("bash");
        c.arg(common::root().join("xtask/engine/engine.sh"))
            .args([action, "--engine", "modern"])
            .env("XTASK_ENGINE_STATE", STATE)
            .env("XTASK_MODERN_CONTEXT", CONTEXT)
            .env("XTASK_MODERN_BRIDGE", BRIDGE)
            .env("XTASK_MODERN_CIDR", CIDR)
            .env("XTASK_MODERN_CGROUP", CGROUP)
            .env("XTASK_MODERN_SEED", "0")
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        if let Some(prefix) = first_engine_prefix() {
            c.env("XTASK_MODERN_PREFIX", prefix);
        }
        c.output().expect("engine.sh runs")
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("docker runs")
    }

    fn remove(&self) {
        let down = self.engine_sh("down");
        if !down.status.success() {
            eprintln!(
                "engine.sh down for the build host: {}",
                common::stderr(&down)
            );
        }
        let _ = std::fs::remove_dir_all(STATE);
    }
}

impl Drop for BuildHost {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Where the first modern engine's Docker 26 is extracted (its socket's directory), so the
/// build host needs no download; `None` when that is not a prefix.
fn first_engine_prefix() -> Option<PathBuf> {
    let o = modern_docker(&[
        "context",
        "inspect",
        "--format",
        "{{.Endpoints.docker.Host}}",
        MODERN_CONTEXT,
    ]);
    let host = common::stdout(&o);
    let sock = Path::new(host.trim().strip_prefix("unix://")?);
    let dir = sock.parent()?;
    dir.join("bin/dockerd").exists().then(|| dir.to_owned())
}

/// Image tags on the first modern engine, removed when dropped.
struct ModernTags(Vec<String>);

impl Drop for ModernTags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = modern_docker(&["rmi", "-f", tag]);
        }
    }
}

/// A `docker` first on PATH that logs the engine variables and argv of every call.
fn docker_logger(dir: &Path) -> (PathBuf, PathBuf) {
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v docker"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("docker.log");
    let script = format!(
        "#!/bin/sh\nprintf 'DOCKER_HOST=%s DOCKER_CONTEXT=%s DOCKER_CONFIG=%s %s\\n' \
         \"$DOCKER_HOST\" \"$DOCKER_CONTEXT\" \"$DOCKER_CONFIG\" \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        real.trim()
    );
    let path = bin.join("docker");
    std::fs::write(&path, script).unwrap();
    Command::new("chmod")
        .args(["+x", path.to_str().unwrap()])
        .status()
        .unwrap();
    (bin, log)
}

/// Per RUN step of a `--progress plain` log: its header and whether it ran (printed
/// output, or an exit of its own) rather than being taken from the cache.
fn run_steps(log: &str) -> Vec<(String, bool)> {
    let mut headers = BTreeMap::new();
    let mut ran = BTreeMap::new();
    for line in log.lines() {
        let Some((id, rest)) = line
            .strip_prefix('#')
            .and_then(|l| l.split_once(' '))
            .filter(|(id, _)| id.chars().all(|c| c.is_ascii_digit()))
        else {
            continue;
        };
        if rest.contains("] RUN ") && rest.starts_with('[') {
            headers.insert(id.to_owned(), rest.to_owned());
        } else if headers.contains_key(id) {
            // `#8 0.123 ran: 2`: the step's own output, with its time.
            let timed = rest
                .split_once(' ')
                .is_some_and(|(t, _)| t.contains('.') && t.parse::<f64>().is_ok());
            if timed {
                ran.insert(id.to_owned(), true);
            }
        }
    }
    headers
        .into_iter()
        .map(|(id, header)| {
            let ran = ran.get(&id).copied().unwrap_or(false);
            (header, ran)
        })
        .collect()
}

fn log_of(service: &str) -> String {
    std::fs::read_to_string(common::root().join(format!("target/xtask/logs/{service}.log")))
        .unwrap()
}

#[test]
fn a_build_host_warms_the_registry_cache_for_another_engine() {
    if !modern_engine_available() {
        return;
    }
    let root = Command::new("id").arg("-u").output().unwrap();
    if common::stdout(&root).trim() != "0" {
        let required = std::env::var("CI").as_deref() == Ok("true")
            || std::env::var_os("XTASK_REQUIRE_MODERN_ENGINE").is_some_and(|v| v == "1");
        assert!(!required, "starting a second engine needs root");
        eprintln!("skipped: starting a second engine needs root");
        return;
    }
    let host = BuildHost::start();
    // Its image store starts empty: the fixture's base and the SBOM generator, from the
    // first engine (seconds; seeding would take minutes).
    let copy = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker --context {MODERN_CONTEXT} save {} | DOCKER_HOST={} docker load -q",
            IMAGES.join(" "),
            host.host
        ))
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    assert!(copy.status.success(), "{}", common::stderr(&copy));

    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let name = format!("bh-host-{}", std::process::id());
    // `$((1+1))` prints `ran: 2` only when the step runs: the header shows the expression.
    let dockerfile = format!(
        "FROM busybox:stable\n\
         RUN echo \"ran: $((1+1))\" && echo {unique} > /built-by\n\
         RUN echo \"ran: $((2+2))\" && sleep 1 && echo second > /second\n\
         USER 65534\n\
         HEALTHCHECK --interval=1s --timeout=3s --retries=3 CMD [\"true\"]\n\
         CMD [\"sleep\", \"3600\"]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    // fixture::write names the SBOM generator the engines have (BuildKit's default one is on
    // Docker Hub).
    let config = fixture::write(dir.path(), &[Service::new(&name, &dockerfile)]);
    let config = config.to_str().unwrap();
    let namespace = format!("{REGISTRY}/bh-{unique}");
    let image = format!("{namespace}/{name}");
    let on_host = |args: &[&str], env: &[(&str, &str)], path: Option<&Path>| {
        let docker_config = host.docker_config.to_str().unwrap().to_owned();
        let mut all = vec![("DOCKER_CONFIG", docker_config.as_str())];
        all.extend_from_slice(env);
        let mut argv = vec!["--context", CONTEXT, "--config", config];
        argv.extend_from_slice(args);
        fixture::xtask_env(&argv, &all, path)
    };
    let on_modern = |args: &[&str]| {
        let mut argv = vec!["--context", MODERN_CONTEXT, "--config", config];
        argv.extend_from_slice(args);
        fixture::xtask_env(&argv, &[], None)
    };
    let build = ["build", "--registry", namespace.as_str()];

    // The same plan on either engine, and each says which engine it is for.
    let plan = |o: Output| -> Value {
        assert!(o.status.success(), "{}", common::stderr(&o));
        serde_json::from_str(&common::stdout(&o)).unwrap()
    };
    let dry = [&build[..], &["--dry-run", "--json"]].concat();
    let there = plan(on_host(&dry, &[], None));
    let here = plan(on_modern(&dry));
    assert_eq!(there["services"], here["services"]);
    assert_eq!(there["engine"]["context"], CONTEXT);
    assert_eq!(there["engine"]["host"], host.host.as_str());
    assert_eq!(here["engine"]["context"], MODERN_CONTEXT);
    let cache =
        format!("--cache-to type=registry,ref={image}:buildcache,mode=max,ignore-error=true");
    let sha_tag = format!("{image}:sha-{}", &common::git_head()[..7]);
    let argv = there["services"][0]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(argv.contains(&cache), "{argv}");

    // On the build host: every RUN step runs, and the cache goes to the registry.
    let o = on_host(&build, &[], None);
    assert!(
        o.status.success(),
        "build on the host: {}",
        common::stderr(&o)
    );
    assert!(
        common::stderr(&o).contains(&format!("on docker context `{CONTEXT}` ({}", host.host)),
        "{}",
        common::stderr(&o)
    );
    let steps = run_steps(&log_of(&name));
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(steps.iter().all(|(_, ran)| *ran), "{steps:?}");
    let built = String::from_utf8(
        host.docker(&["image", "inspect", "--format", "{{.Id}}", &sha_tag])
            .stdout,
    )
    .unwrap();
    assert!(built.trim().starts_with("sha256:"), "not on the build host");

    // A push with a login runs docker with a temporary DOCKER_CONFIG, where no context is:
    // every docker it runs is pinned to the build host, which has the image.
    let (bin, log) = docker_logger(dir.path());
    let login = [
        ("REGISTRY_USERNAME", "bh"),
        ("REGISTRY_PASSWORD", "bh-pass"),
    ];
    let o = on_host(
        &[
            "push",
            "--registry",
            &namespace,
            "--allow-unscanned",
            "--json",
        ],
        &login,
        Some(&bin),
    );
    assert!(
        o.status.success(),
        "push from the host: {}",
        common::stderr(&o)
    );
    let report: Value = serde_json::from_str(&common::stdout(&o)).unwrap();
    assert_eq!(report["services"][0]["result"], "published", "{report}");
    assert_eq!(
        report["services"][0]["digest"].as_str(),
        Some(built.trim()),
        "the pushed image is the one the build host built"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let pinned = format!("DOCKER_HOST={} DOCKER_CONTEXT= ", host.host);
    // The context is resolved once, first; every call after it is pinned.
    let (first, rest) = calls.split_once('\n').unwrap();
    assert!(
        first.ends_with(&format!(
            "context inspect --format {{{{.Endpoints.docker.Host}}}} {CONTEXT}"
        )),
        "{calls}"
    );
    assert!(
        rest.lines().all(|l| l.starts_with(&pinned)),
        "every docker the push ran talks to the build host:\n{calls}"
    );
    let login_line = calls
        .lines()
        .find(|l| l.contains(" login "))
        .unwrap_or_else(|| panic!("no login:\n{calls}"));
    assert!(
        !login_line.contains(&format!("DOCKER_CONFIG={} ", host.docker_config.display())),
        "the login went to a temporary DOCKER_CONFIG: {login_line}"
    );
    assert!(!calls.contains("bh-pass"), "the password reached an argv");

    // On the first modern engine, the same commit from the registry cache: no RUN step runs.
    let tags: Vec<String> = there["services"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    let _cleanup = ModernTags(tags);
    let o = on_modern(&build);
    assert!(
        o.status.success(),
        "build on xtask-modern: {}",
        common::stderr(&o)
    );
    let log = log_of(&name);
    assert!(
        log.contains(&format!("importing cache manifest from {image}:buildcache")),
        "{log}"
    );
    let steps = run_steps(&log);
    assert_eq!(steps.len(), 2, "{steps:?}\n{log}");
    assert!(
        steps.iter().all(|(_, ran)| !ran),
        "every RUN step comes from the build host's cache: {steps:?}\n{log}"
    );
}

#[test]
fn run_steps_tell_cached_from_run() {
    let log = "#5 [2/3] RUN echo \"ran: $((1+1))\"\n#5 CACHED\n\
               #6 [3/3] RUN echo \"ran: $((2+2))\"\n#6 0.213 ran: 4\n#6 DONE 0.3s\n\
               #7 [3/3] RUN true\n#7 sha256:9ca1 106B / 106B done\n#7 extracting sha256:9ca1 done\n#7 DONE 0.1s\n";
    let steps = run_steps(log);
    assert_eq!(
        steps.iter().map(|(_, ran)| *ran).collect::<Vec<_>>(),
        [false, true, false]
    );
}

/// `cargo xtask ARGS...` with a docker config of its own, holding no context.
fn without_contexts(args: &[&str], docker_config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(common::root())
        .env("DOCKER_CONFIG", docker_config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("xtask runs")
}

#[test]
fn a_missing_context_is_one_error_naming_where_it_came_from_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let docker_config = dir.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let o = without_contexts(
        &["--context", "bh-nowhere", "build", "--dry-run"],
        &docker_config,
    );
    assert_eq!(o.status.code(), Some(3), "{}", common::stderr(&o));
    let err = common::stderr(&o);
    assert_eq!(err.lines().count(), 1, "one error: {err}");
    assert!(
        err.starts_with("error: docker context `bh-nowhere` (from --context) does not exist")
            && err.contains("`docker context ls`")
            && err.contains("docker context create bh-nowhere --docker host="),
        "{err}"
    );
    // Named by the config, the same error says so; a command that uses no engine runs.
    let config = fixture::write(dir.path(), &[Service::new("bh-nowhere", fixture::GOOD)]);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[build]\n", "[build]\ncontext = \"bh-nowhere\"\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let o = without_contexts(&["--config", config, "build", "--dry-run"], &docker_config);
    assert_eq!(o.status.code(), Some(3), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("`bh-nowhere` (from [build] context) does not exist"),
        "{}",
        common::stderr(&o)
    );
    let o = without_contexts(&["--config", config, "tags"], &docker_config);
    assert!(o.status.success(), "{}", common::stderr(&o));
}

#[test]
fn a_context_name_docker_would_refuse_is_bad_input_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = fixture::write(dir.path(), &[Service::new("bh-odd", fixture::GOOD)]);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[build]\n", "[build]\ncontext = \"ssh://h\"\n"),
    )
    .unwrap();
    let o = without_contexts(&["--config", config.to_str().unwrap(), "tags"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    let err = common::stderr(&o);
    assert!(
        err.contains("[build] context") && err.contains("is not a docker context name"),
        "{err}"
    );
}
