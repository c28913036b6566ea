//! Ctrl-C at a bad moment, as a terminal sends it: SIGINT to the command's process group.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

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
    // setsid: the command leads its own process group, as a job in a terminal does.
    let mut child = Command::new("setsid")
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .args(["promote", "--from", "sha-1234567", "--to", "v9.9.9"])
        .args(["--registry", &format!("127.0.0.1:{port}/acme")])
        .env("REGISTRY_USERNAME", "ci")
        .env("REGISTRY_PASSWORD", "s3cret-never-left-behind")
        .env("TMPDIR", tmp.path())
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
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
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
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
