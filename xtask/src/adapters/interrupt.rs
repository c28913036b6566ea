//! Ctrl-C and SIGTERM, once for the whole process: whatever holds something that must not
//! outlive the run (a container, a network, a temporary docker config with a registry login)
//! registers its cleanup here. The first signal runs every registered cleanup, newest first,
//! and exits 130; a second one exits at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

type Cleanup = Box<dyn Fn() + Send>;

static CLEANUPS: Mutex<Vec<(u64, Cleanup)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Keeps a cleanup registered; dropping it (the resource was cleaned up normally)
/// unregisters it.
#[must_use = "the cleanup is unregistered when this is dropped"]
pub struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        let mut cleanups = CLEANUPS.lock().unwrap_or_else(|p| p.into_inner());
        cleanups.retain(|(id, _)| *id != self.0);
    }
}

/// Runs `cleanup` if the process is interrupted while the returned value lives. Fails only
/// when no signal handler can be installed, which the caller reports.
pub fn on_interrupt(cleanup: impl Fn() + Send + 'static) -> Result<Registered, String> {
    INSTALLED.get_or_init(install).clone()?;
    let id = NEXT.fetch_add(1, Ordering::SeqCst);
    CLEANUPS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((id, Box::new(cleanup)));
    Ok(Registered(id))
}

/// Called with the run's result before it becomes the exit code. When the run was
/// interrupted, the cleanup thread ends the process (exit 130), so this never returns: the
/// failure the main thread saw (a child that the same Ctrl-C killed) is not the cause. A
/// failed run waits a moment first, because the children see the signal before the handler
/// does.
pub fn settle(failed: bool) {
    if INSTALLED.get().is_none() {
        return;
    }
    if failed {
        let start = std::time::Instant::now();
        while !INTERRUPTED.load(Ordering::SeqCst)
            && start.elapsed() < std::time::Duration::from_millis(300)
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    while INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn install() -> Result<(), String> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted again: exiting without waiting for cleanup");
            crate::adapters::exec::exit(130);
        }
        eprintln!("\ninterrupted: cleaning up (Ctrl-C again to skip)");
        // The handler returns at once, so that a second signal reaches it.
        std::thread::spawn(|| {
            run_all();
            crate::adapters::exec::exit(130);
        });
    })
    .map_err(|e| format!("cannot handle Ctrl-C: {e}"))
}

fn run_all() {
    let cleanups: Vec<(u64, Cleanup)> =
        std::mem::take(&mut *CLEANUPS.lock().unwrap_or_else(|p| p.into_inner()));
    for (_, cleanup) in cleanups.iter().rev() {
        cleanup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn cleanups_run_newest_first_and_a_dropped_one_not_at_all() {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let add = |name: &'static str| {
            let ran = Arc::clone(&ran);
            on_interrupt(move || ran.lock().unwrap().push(name)).unwrap()
        };
        let first = add("first");
        let gone = add("gone");
        let last = add("last");
        drop(gone);
        run_all();
        assert_eq!(*ran.lock().unwrap(), ["last", "first"]);
        drop((first, last));
    }
}
