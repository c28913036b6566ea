//! `cargo xtask sign` and `verify --signature` as a user runs them: the planned cosign
//! commands, and real signatures in a registry with htpasswd auth that stop verifying once
//! the tag is moved to an unsigned image.

use std::path::Path;
use std::process::Command;

use crate::common::fixture::{self, xtask_env, Service, GOOD};
use crate::common::registry::Registry;
use crate::common::*;
use serde_json::Value;

const PEM: &str = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nnot-a-real-key\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----";

/// A config with one fixture service that was never built, so no build record of another
/// test's can be found for it.
fn unbuilt(dir: &Path) -> String {
    fixture::write(dir, &[Service::new("vp-sign-dry", GOOD)])
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn dry_run_signs_the_digest_with_the_key_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = unbuilt(dir.path());
    let o = xtask_env(
        &[
            "--config",
            &config,
            "sign",
            "--dry-run",
            "--json",
            "--registry",
            "127.0.0.1:5299/acme",
        ],
        &[("COSIGN_KEY", PEM), ("COSIGN_PASSWORD", "pw-sign-dry-3")],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        !all.contains("pw-sign-dry-3") && !all.contains("not-a-real-key"),
        "{all}"
    );
    let sha = format!("127.0.0.1:5299/acme/vp-sign-dry:sha-{}", &git_head()[..7]);
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        plan_steps(&plan),
        [
            format!("docker buildx imagetools inspect --format {{{{json .Manifest}}}} {sha}"),
            "cosign sign --yes --key env://COSIGN_KEY --tlog-upload=false --allow-insecure-registry \
             --allow-http-registry 127.0.0.1:5299/acme/vp-sign-dry@{digest}"
                .to_owned(),
        ]
    );
    assert!(
        stderr(&o).contains("no record of a build of `vp-sign-dry`"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("not uploaded to the transparency log (loopback registry)"));
}

#[test]
fn keyless_in_github_actions_and_a_clear_error_without_any_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = unbuilt(dir.path());
    let sign = |env: &[(&str, &str)]| {
        xtask_env(
            &[
                "--config",
                &config,
                "sign",
                "--dry-run",
                "--json",
                "--registry",
                "ghcr.io/acme",
            ],
            env,
            None,
        )
    };
    // What a job with `permissions: id-token: write` gets; cosign needs both.
    let url = ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.example/req");
    let token = ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t0ken");
    let o = sign(&[url, token]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        plan_steps(&plan)[1],
        "cosign sign --yes ghcr.io/acme/vp-sign-dry@{digest}"
    );
    assert!(stderr(&o).contains("signing keyless"), "{}", stderr(&o));
    for env in [&[][..], &[url]] {
        let o = sign(env);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("id-token: write"), "{}", stderr(&o));
    }
}

/// True when cosign is on PATH; skipped locally without it, a failure under `CI=true`.
fn cosign_available() -> bool {
    let found = Command::new("cosign").arg("version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but cosign is not installed: `cargo xtask engine up` installs it"
        );
        eprintln!("skipped: cosign is not installed (`cargo xtask engine up` installs it)");
    }
    found
}

fn ok(o: &std::process::Output, what: &str) {
    assert!(o.status.success(), "{what}: {}\n{}", stdout(o), stderr(o));
}

/// `docker ARGS` with the docker config in `config` (the test's own login).
fn docker_in(config: &Path, args: &[&str]) {
    let o = Command::new("docker")
        .env("DOCKER_CONFIG", config)
        .args(args)
        .output()
        .unwrap();
    ok(&o, &format!("docker {args:?}"));
}

#[test]
fn signed_image_verifies_until_its_tag_moves_to_an_unsigned_one() {
    if !engine_available() || !cosign_available() {
        return;
    }
    let registry = Registry::start_in(5200..5300, "signer", "pw-sign-real-5");
    let dir = tempfile::tempdir().unwrap();
    let config = fixture::write(dir.path(), &[Service::new("scale-signed", GOOD)]);
    let config = config.to_str().unwrap();
    let ns = format!("{}/xtask-scale", registry.host());
    let creds = [
        ("REGISTRY_USERNAME", "signer"),
        ("REGISTRY_PASSWORD", "pw-sign-real-5"),
        ("COSIGN_PASSWORD", "pw-cosign-key-9"),
    ];
    let o = Command::new("cosign")
        .args(["generate-key-pair"])
        .env("COSIGN_PASSWORD", "pw-cosign-key-9")
        .current_dir(dir.path())
        .output()
        .unwrap();
    ok(&o, "cosign generate-key-pair");
    let key = dir.path().join("cosign.key");
    let public = dir.path().join("cosign.pub");

    ok(
        &xtask_env(&["--config", config, "build", "--registry", &ns], &[], None),
        "build",
    );
    ok(
        &xtask_env(
            &[
                "--config",
                config,
                "push",
                "--allow-unscanned",
                "--registry",
                &ns,
            ],
            &creds,
            None,
        ),
        "push",
    );
    let o = xtask_env(
        &[
            "--config",
            config,
            "sign",
            "--registry",
            &ns,
            "--key",
            key.to_str().unwrap(),
        ],
        &creds,
        None,
    );
    ok(&o, "sign");
    assert!(!stderr(&o).contains("pw-cosign-key-9") && !stderr(&o).contains("pw-sign-real-5"));
    let sha_tag = format!("sha-{}", &git_head()[..7]);
    let signature_tags: Vec<String> = registry
        .tags("xtask-scale/scale-signed")
        .into_iter()
        .filter(|t| t.ends_with(".sig"))
        .collect();
    assert_eq!(
        signature_tags.len(),
        1,
        "{:?}",
        registry.tags("xtask-scale/scale-signed")
    );

    let verify = || {
        xtask_env(
            &[
                "--config",
                config,
                "verify",
                "--json",
                "--signature",
                "--key",
                public.to_str().unwrap(),
                "--registry",
                &ns,
                "--timeout",
                "30",
            ],
            &creds,
            None,
        )
    };
    let signature = |o: &std::process::Output| -> Value {
        let v: Value = serde_json::from_str(&stdout(o)).expect("verify --json prints JSON");
        v["images"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "signature")
            .cloned()
            .expect("a signature check")
    };
    let o = verify();
    ok(&o, "verify --signature");
    assert_eq!(signature(&o)["status"], "pass", "{}", stdout(&o));

    // Move the tag to a different, unsigned image.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("Dockerfile"),
        "FROM busybox:stable\nLABEL xtask.test=unsigned\nRUN echo moved > /moved\n",
    )
    .unwrap();
    let moved = format!("{ns}/scale-signed:{sha_tag}");
    docker_ok(&["build", "-q", "-t", &moved, other.to_str().unwrap()]);
    let login_dir = dir.path().join("docker-config");
    std::fs::create_dir_all(&login_dir).unwrap();
    let login = Command::new("docker")
        .env("DOCKER_CONFIG", &login_dir)
        .args([
            "login",
            "-u",
            "signer",
            "--password-stdin",
            &registry.host(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"pw-sign-real-5")?;
            c.wait_with_output()
        })
        .unwrap();
    ok(&login, "docker login");
    docker_in(&login_dir, &["push", &moved]);

    let o = verify();
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let check = signature(&o);
    assert_eq!(check["status"], "fail");
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains(&moved) && reason.contains("no signature") && reason.contains("moved"),
        "{reason}"
    );
    assert!(stderr(&o).contains("(signature)"), "{}", stderr(&o));
    let _ = docker(&["rmi", &moved]);
}
