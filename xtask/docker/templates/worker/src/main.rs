//! A worker: does its work in a loop until SIGTERM (or Ctrl-C), and shows it is alive by
//! touching a heartbeat file on every beat, so it is health-checked without an HTTP port.
//!
//! Without an argument it runs; `healthcheck` (the image's HEALTHCHECK) exits 0 only if
//! the heartbeat file at $HEARTBEAT_FILE (default /tmp/<name>.heartbeat) is fresh.
//!
//! In a container the worker is PID 1, and the kernel gives PID 1 no default action for
//! SIGTERM: without a handler `docker stop` waits 10 s and then SIGKILLs it. So it handles
//! SIGTERM and exits promptly, removing its heartbeat.

use std::env;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, SignalKind};

const NAME: &str = env!("CARGO_PKG_NAME");

/// How often the worker does a round of work and beats.
const BEAT: Duration = Duration::from_secs(5);

/// A heartbeat older than this means the worker is stuck: a few beats missed.
const STALE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let result = match env::args().nth(1).as_deref() {
        None => run(),
        Some("healthcheck") => healthcheck(),
        Some(other) => Err(format!("unknown subcommand {other:?} (expected `healthcheck`)").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{NAME}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn heartbeat_file() -> PathBuf {
    env::var_os("HEARTBEAT_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| env::temp_dir().join(format!("{NAME}.heartbeat")))
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> Result<(), Box<dyn Error>> {
    let file = heartbeat_file();
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut beats = tokio::time::interval(BEAT);
    eprintln!(
        "{NAME}: running (version {}, revision {}), heartbeat {}",
        env!("CARGO_PKG_VERSION"),
        env::var("APP_REVISION").unwrap_or_else(|_| "unknown".into()),
        file.display()
    );
    loop {
        tokio::select! {
            _ = beats.tick() => {
                work().await;
                std::fs::write(&file, b"")
                    .map_err(|e| format!("cannot write the heartbeat {}: {e}", file.display()))?;
            }
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    eprintln!("{NAME}: shutting down");
    let _ = std::fs::remove_file(&file);
    Ok(())
}

/// One round of the worker's job. Keep each round shorter than [`STALE`], or beat inside it.
async fn work() {}

fn healthcheck() -> Result<(), Box<dyn Error>> {
    let file = heartbeat_file();
    let modified = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .map_err(|e| format!("no heartbeat at {}: {e}", file.display()))?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    judge(age)?;
    Ok(())
}

/// Healthy while the last heartbeat is at most [`STALE`] old.
fn judge(age: Duration) -> Result<(), String> {
    if age > STALE {
        return Err(format!(
            "the last heartbeat is {}s old (more than {}s): the worker is stuck",
            age.as_secs(),
            STALE.as_secs()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_heartbeat_is_healthy_and_a_stale_one_is_not() {
        assert!(judge(Duration::ZERO).is_ok());
        assert!(judge(STALE).is_ok());
        let err = judge(STALE + Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("31s old"), "{err}");
    }
}
