//! Ctrl-C at a bad moment, as a terminal sends it: SIGINT to the command's process group.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::e2e::leftovers;

/// A registry that accepts connections and never answers: login hangs until interrupted.
fn stalling_registry() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in accept.incoming() {
            held.push(conn);
        }
    });
    (listener, port)
}

/// `xtask ARGS...` leading its own process group (setsid), as a job in a terminal does.
fn in_own_group(args: &[&str]) -> Command {
    let mut cmd = Command::new("setsid");
    cmd.arg(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Ctrl-C as a terminal sends it: SIGINT to the whole process group of `child`.
fn ctrl_c(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
}

fn docker_configs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("xtask-docker-config-"))
        .collect()
}

#[test]
fn an_interrupted_login_leaves_no_credentials_behind() {
    if !engine_available() {
        return;
    }
    let (_registry, port) = stalling_registry();
    let tmp = tempfile::tempdir().unwrap();
    let registry = format!("127.0.0.1:{port}/acme");
    let mut child = in_own_group(&[
        "promote",
        "--from",
        "sha-1234567",
        "--to",
        "v9.9.9",
        "--registry",
        &registry,
    ])
    .env("REGISTRY_USERNAME", "ci")
    .env("REGISTRY_PASSWORD", "s3cret-never-left-behind")
    .env("TMPDIR", tmp.path())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while docker_configs(tmp.path()).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no temporary docker config appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "promote ended before logging in"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    ctrl_c(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        docker_configs(tmp.path()).is_empty(),
        "the login outlived the run: {:?}",
        docker_configs(tmp.path())
    );
    assert!(!stderr.contains("s3cret-never-left-behind"), "{stderr}");
}

/// Files under `dir` (recursively) that are not owned by the user running the tests.
fn foreign_files(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata(root()).unwrap().uid();
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let meta = e.metadata().unwrap();
            if meta.uid() != me {
                found.push(format!("{} (uid {})", e.path().display(), meta.uid()));
            }
            if meta.is_dir() {
                todo.push(e.path());
            }
        }
    }
    found
}

/// Ctrl-C as a terminal sends it (SIGINT to the process group) while the services start and
/// while the suite runs: exit 130, and no container, network or foreign-owned report is left.
#[test]
fn an_interrupted_run_exits_130_and_leaves_nothing() {
    if !engine_available() {
        return;
    }
    let _turn = repository_images();
    let o = xtask(&["build", "--registry", "xtask-e2e"]);
    assert!(o.status.success(), "build failed: {}", stderr(&o));
    // (moment, what must exist first): the network alone, or the runner container too.
    for role in ["", "-runner"] {
        let mut child = in_own_group(&["e2e", "--registry", "xtask-e2e"])
            .spawn()
            .unwrap();
        let prefix = format!("xtask-e2e-{}", child.id());
        let started = Instant::now();
        loop {
            let (containers, networks) = leftovers(&prefix);
            let there = if role.is_empty() {
                !networks.is_empty()
            } else {
                containers.lines().any(|c| c == format!("{prefix}{role}"))
            };
            if there {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "e2e ended before {prefix}{role} appeared"
            );
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{prefix}{role} never appeared"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        ctrl_c(&child);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(130),
            "interrupted at {prefix}{role}: {err}"
        );
        let (containers, networks) = leftovers(&prefix);
        assert!(
            containers.is_empty(),
            "containers left behind: {containers}"
        );
        assert!(networks.is_empty(), "networks left behind: {networks}");
        let foreign = foreign_files(&root().join("target/xtask/e2e"));
        assert!(
            foreign.is_empty(),
            "report files not owned by the user: {foreign:?}"
        );
    }
}

/// Containers of any verify run started by process `pid` (the label's value starts with it).
fn verify_containers_of(pid: u32) -> Vec<String> {
    docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "label=xtask.verify",
        "--format",
        "{{.ID}} {{.Label \"xtask.verify\"}}",
    ])
    .lines()
    .filter(|l| {
        l.split_once(' ')
            .is_some_and(|(_, run)| run.starts_with(&format!("{pid}-")))
    })
    .map(str::to_owned)
    .collect()
}

/// Ctrl-C at moments from the first tenth of a second (containers being created) to
/// seconds in (waiting for health): exit 130 every time, and no container of the run left.
#[test]
fn an_interrupted_verify_exits_130_and_leaves_no_container() {
    use crate::common::fixture::{self, Service, GOOD};
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Healthy only after a minute: every interrupt below lands while verify is still at work.
    let slow = GOOD.replace("--interval=1s", "--interval=60s --start-period=60s");
    let config = fixture::write(dir.path(), &[Service::new("vi-slow", &slow)]);
    let config = config.to_str().unwrap();
    let o = xtask(&["--config", config, "build", "--registry", "xtask-vi"]);
    assert!(o.status.success(), "build: {}", stderr(&o));
    for after_ms in [100, 300, 600, 1000, 2000, 4000] {
        let child = in_own_group(&["--config", config, "verify"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(after_ms));
        ctrl_c(&child);
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "after {after_ms} ms: {err}");
        let left = verify_containers_of(pid);
        assert!(
            left.is_empty(),
            "after {after_ms} ms, left behind: {left:?}"
        );
    }
    let _ = docker(&["image", "rm", "--force", "xtask-vi/vi-slow"]);
}
