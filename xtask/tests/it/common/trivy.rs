//! The stand-in `trivy` the CLI tests put first on PATH: it records its argv and replays the
//! reports in trivy's format (see tests/fixtures/trivy and [`fixtures`]).

use std::path::PathBuf;

use super::{committed_head_env, root, xtask_env};

/// A stand-in `trivy` (tests/fixtures/trivy) first on PATH, replaying real trivy reports.
pub struct StandIn {
    dir: tempfile::TempDir,
}

impl StandIn {
    pub fn new() -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::copy(root().join("xtask/tests/fixtures/trivy"), bin.join("trivy")).unwrap();
        StandIn { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `cargo xtask scan ARGS...` with the stand-in first on PATH, in `mode`.
    pub fn scan(&self, args: &[&str], mode: &str) -> std::process::Output {
        self.scan_env(args, &[("TRIVY_STANDIN_MODE", mode)])
    }

    pub fn scan_env(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
        let mut full = vec!["scan"];
        full.extend_from_slice(args);
        self.xtask(&full, extra)
    }

    /// `cargo xtask ARGS...` with the stand-in first on PATH and `extra` in the environment.
    pub fn xtask(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap()
        );
        let fixtures = fixtures();
        let argv = self.path("argv");
        let mut env = vec![
            ("PATH", path.as_str()),
            ("TRIVY_STANDIN_FIXTURES", fixtures.to_str().unwrap()),
            ("TRIVY_STANDIN_ARGV", argv.to_str().unwrap()),
        ];
        // The images are the stand-ins', never the repository's files: a contributor's
        // uncommitted changes must not make them a dirty build.
        let committed = committed_head_env();
        env.extend(committed.iter().map(|(k, v)| (*k, v.as_str())));
        env.extend_from_slice(extra);
        xtask_env(args, &env)
    }

    /// The argv of each stand-in run, in order.
    pub fn invocations(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.path("argv")).unwrap_or_default();
        text.split_terminator("---\n")
            .map(|run| run.lines().map(String::from).collect())
            .collect()
    }

    /// A config with one service and `extra` (a `[scan]` table).
    pub fn config(&self, extra: &str) -> String {
        let base = "[project]\nname = \"xtask-itest\"\n[services.api]\n\
                    dockerfile = \"xtask/docker/api.Dockerfile\"\nsize_budget_mb = 100\n";
        let path = self.path("images.toml");
        std::fs::write(&path, format!("{base}{extra}\n")).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// A config whose ignore list is `yaml`.
    pub fn ignoring(&self, yaml: &str) -> String {
        let ignore = self.path("ignore.yaml");
        std::fs::write(&ignore, yaml).unwrap();
        self.config(&format!("[scan]\nignore_file = \"{}\"", ignore.display()))
    }
}

/// The reports the stand-in replays: the real trivy reports when the run asks for them with
/// `XTASK_TRIVY_FIXTURES=DIR` (`.ci/run` does; missing then is a failure), otherwise the
/// repository's own small reports in trivy's format (tests/fixtures/reports).
pub fn fixtures() -> PathBuf {
    match std::env::var_os("XTASK_TRIVY_FIXTURES") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("debian-buster.json.golden").is_file(),
                "XTASK_TRIVY_FIXTURES={} asks for the real trivy reports, but they are not there",
                dir.display()
            );
            dir
        }
        None => root().join("xtask/tests/fixtures/reports"),
    }
}
