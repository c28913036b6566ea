//! The only place that starts processes, and what an error means for the exit code.
//!
//! A [`Command`] is data (domain/command.rs); this module runs it: [`output`] captures,
//! [`read`] captures and insists on success, [`stdout`] captures stdout while stderr goes
//! to the terminal, [`status`] lets the child talk to the terminal, [`quiet`] discards its
//! output, [`stream`] hands over its output line by line, [`pipe`] hands over its stdout as
//! bytes, [`to_file`] sends it to a log. Every runner honours the command's timeout by
//! killing the child together with every process it started (`docker buildx` runs the
//! `docker-buildx` plugin as its child, which would otherwise keep the output open and the
//! run waiting). A secret reaches the child only on its stdin. Once the run's engine is
//! pinned ([`pin_engine`]), every child gets its `DOCKER_HOST` and no `DOCKER_CONTEXT`
//! (domain/endpoint.rs says why).
//!
//! The error classes that decide the exit code are in domain/error.rs (re-exported here).

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};

#[allow(unused_imports)]
pub use crate::domain::command::{shell_words, Command, EnvValue, Secret, Stdin};
#[allow(unused_imports)]
pub use std::process::ExitCode;

pub use crate::domain::error::{exit_code, tool, usage, EnvironmentError, ToolError, UsageError};

use crate::domain::endpoint::Endpoint;

/// The engine every child of this run talks to, once chosen.
static ENGINE: OnceLock<Endpoint> = OnceLock::new();

/// Pins `engine` for every child started from now on; the first pin of a run holds.
pub fn pin_engine(engine: Endpoint) {
    let _ = ENGINE.set(engine);
}

/// The engine pinned for this run's children, if one was chosen.
pub fn pinned_engine() -> Option<&'static Endpoint> {
    ENGINE.get()
}

/// A child that ran past its command's timeout and was killed.
#[derive(Debug)]
pub struct TimedOut {
    pub command: String,
    pub after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` did not finish within {}s and was stopped",
            self.command,
            self.after.as_secs()
        )
    }
}

impl std::error::Error for TimedOut {}

/// What a finished child said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub success: bool,
    /// Its exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// How a finished child ended, for runners whose output went elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub success: bool,
    /// Its exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it, where the platform says.
    pub signal: Option<i32>,
}

impl Exit {
    fn of(status: std::process::ExitStatus) -> Exit {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal = None;
        Exit {
            success: status.success(),
            code: status.code(),
            signal,
        }
    }
}

/// `exited with code 1`, `was killed by signal 9`: how the child ended, for messages.
impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exited with code {code}"),
            (None, Some(signal)) => write!(f, "was killed by signal {signal}"),
            (None, None) => write!(f, "was killed by a signal"),
        }
    }
}

impl Output {
    fn of(status: ExitStatus, stdout: &[u8], stderr: &[u8]) -> Output {
        Output {
            success: status.success(),
            code: status.code(),
            stdout: String::from_utf8_lossy(stdout).into_owned(),
            stderr: String::from_utf8_lossy(stderr).into_owned(),
        }
    }
}

/// Starts `cmd` with the given stdout and stderr, hands the child to `consume` (which reads
/// whatever pipes it was given), waits for it and returns what `consume` returned and how
/// the child ended. A watchdog thread kills the child and every process below it once the
/// command's timeout has passed; the wait itself blocks, so a child is seen to end at once.
fn run<T>(
    cmd: &Command,
    stdout: Stdio,
    stderr: Stdio,
    consume: impl FnOnce(&mut Child) -> T,
) -> Result<(T, ExitStatus)> {
    let mut command = std::process::Command::new(&cmd.program);
    command.args(&cmd.args).stdout(stdout).stderr(stderr);
    #[cfg(unix)]
    if cmd.shielded {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    if let Some(dir) = &cmd.dir {
        command.current_dir(dir);
    }
    if let Some(engine) = ENGINE.get() {
        command
            .env("DOCKER_HOST", &engine.host)
            .env_remove("DOCKER_CONTEXT");
    }
    for (name, value) in &cmd.env {
        match value {
            EnvValue::Plain(v) => command.env(name, v),
        };
    }
    command.stdin(match &cmd.stdin {
        Stdin::Null => Stdio::null(),
        Stdin::Inherit => Stdio::inherit(),
        Stdin::Secret(_) => Stdio::piped(),
    });
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start `{}`", cmd.program))?;
    // The command holds this process's copies of the pipe ends the child was given; while
    // they are open, a reader of the pipe never sees its end.
    drop(command);
    let pid = child.id();
    let (done, watch) = mpsc::channel::<()>();
    let timed_out = AtomicBool::new(false);
    let (value, status) = std::thread::scope(|scope| {
        if let (Some(mut input), Stdin::Secret(secret)) = (child.stdin.take(), &cmd.stdin) {
            // Written from a thread, so a child that does not read it cannot block this one.
            scope.spawn(move || input.write_all(secret.expose().as_bytes()));
        }
        if let Some(timeout) = cmd.timeout {
            let timed_out = &timed_out;
            scope.spawn(move || {
                if watch.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                    timed_out.store(true, Ordering::SeqCst);
                    kill_tree(pid);
                }
            });
        }
        let value = consume(&mut child);
        let status = child.wait();
        let _ = done.send(());
        (value, status)
    });
    if timed_out.load(Ordering::SeqCst) {
        return Err(anyhow::Error::new(TimedOut {
            command: cmd.to_string(),
            after: cmd.timeout.unwrap_or_default(),
        }));
    }
    Ok((value, status?))
}

/// Reads the child's captured stdout and stderr to their ends, both at once (a child that
/// fills one pipe while the other is read would wait forever).
fn read_both(child: &mut Child) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    std::thread::scope(|scope| {
        if let Some(mut stderr) = stderr {
            let err = &mut err;
            scope.spawn(move || stderr.read_to_end(err));
        }
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_end(&mut out);
        }
    });
    (out, err)
}

/// Runs `cmd` with stdout and stderr captured; a non-zero exit is not an error.
pub fn output(cmd: &Command) -> Result<Output> {
    let ((out, err), status) = run(cmd, Stdio::piped(), Stdio::piped(), read_both)?;
    Ok(Output::of(status, &out, &err))
}

/// Runs `cmd` with its stdout captured and its stderr on the terminal, so a person sees
/// its progress live; the [`Output`]'s stderr is empty. A non-zero exit is not an error.
pub fn stdout(cmd: &Command) -> Result<Output> {
    let ((out, _), status) = run(cmd, Stdio::piped(), Stdio::inherit(), read_both)?;
    Ok(Output::of(status, &out, &[]))
}

/// Runs `cmd` and returns its stdout without trailing whitespace; a non-zero exit is an
/// error that carries the command and its stderr.
pub fn read(cmd: &Command) -> Result<String> {
    let out = output(cmd)?;
    if !out.success {
        bail!("`{cmd}` failed: {}", out.stderr.trim());
    }
    Ok(out.stdout.trim_end().to_owned())
}

/// Runs `cmd` with the terminal as its stdout and stderr; returns whether it succeeded.
pub fn status(cmd: &Command) -> Result<bool> {
    let ((), status) = run(cmd, Stdio::inherit(), Stdio::inherit(), |_| ())?;
    Ok(status.success())
}

/// Runs `cmd` with its output discarded; returns whether it succeeded.
pub fn quiet(cmd: &Command) -> Result<bool> {
    let ((), status) = run(cmd, Stdio::null(), Stdio::null(), |_| ())?;
    Ok(status.success())
}

/// Runs `cmd` with stdout and stderr appended to `log`; returns how it ended.
pub fn to_file(cmd: &Command, log: File) -> Result<Exit> {
    let stdout = log.try_clone().context("cannot share the log file")?;
    let ((), status) = run(cmd, stdout.into(), log.into(), |_| ())?;
    Ok(Exit::of(status))
}

/// Runs `cmd`, handing every line of its combined stdout and stderr to `on_line`.
/// Returns whether it exited successfully; failing to start it at all is an error.
pub fn stream(cmd: &Command, mut on_line: impl FnMut(&str)) -> Result<bool> {
    let (reader, writer) = std::io::pipe().context("cannot create a pipe")?;
    let stderr = writer.try_clone().context("cannot create a pipe")?;
    let (read, status) = run(cmd, writer.into(), stderr.into(), |_| {
        let mut lines = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            match lines.read_until(b'\n', &mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => on_line(String::from_utf8_lossy(&line).trim_end()),
                Err(e) => return Err(e),
            }
            line.clear();
        }
    })?;
    read?;
    Ok(status.success())
}

/// Runs `cmd`, handing its stdout as a byte stream to `consume` (a tar archive, say) while
/// its stderr is captured. Whatever `consume` leaves unread is drained, so the child can
/// finish. Returns what `consume` returned and how the child ended; the [`Output`]'s
/// stdout is empty, as `consume` had it.
pub fn pipe<T>(cmd: &Command, consume: impl FnOnce(&mut dyn Read) -> T) -> Result<(T, Output)> {
    let ((value, err), status) = run(cmd, Stdio::piped(), Stdio::piped(), |child| {
        let mut err = Vec::new();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let value = std::thread::scope(|scope| {
            if let Some(mut stderr) = stderr {
                let err = &mut err;
                scope.spawn(move || stderr.read_to_end(err));
            }
            let mut stdout = stdout.expect("stdout was piped");
            let value = consume(&mut stdout);
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
            value
        });
        (value, err)
    })?;
    Ok((value, Output::of(status, &[], &err)))
}

/// Kills (SIGKILL) `pid` and every process below it. The whole tree is read from /proc
/// before anything is killed, since a killed parent's children move to init; where there is
/// no /proc only `pid` is killed. The child is not reaped before its wait returns, so its
/// pid cannot have been reused.
fn kill_tree(pid: u32) {
    let mut tree: Vec<u32> = vec![pid];
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may contain spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(pid, ppid)| *ppid == parent && !tree.contains(pid))
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    // `kill` (procps) where it is installed, else the shell's own `kill` (a slim container
    // image has no procps, and every system has sh).
    let pids: Vec<String> = tree.iter().map(u32::to_string).collect();
    let kill = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .args(&pids)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    if kill("kill", &["-KILL"]).is_err() {
        let _ = kill("sh", &["-c", "kill -KILL \"$@\"", "sh"]);
    }
}

/// Where `program` would be found on PATH (or `program` itself when it names a path): the
/// one place tools are looked up.
pub fn find(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return executable(Path::new(program)).then(|| PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| executable(path))
}

fn executable(path: &Path) -> bool {
    let Ok(meta) = path.metadata() else {
        return false;
    };
    #[cfg(unix)]
    return meta.is_file()
        && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
    #[cfg(not(unix))]
    return meta.is_file();
}

/// This process's id, for names that must not collide between concurrent runs.
pub fn process_id() -> u32 {
    std::process::id()
}

/// Ends this process at once (after a signal, when cleanup is done).
pub fn exit(code: i32) -> ! {
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(script: &str) -> Command {
        Command::new("sh").args(["-c", script])
    }

    #[test]
    fn find_looks_on_path_and_takes_a_path_as_it_is() {
        let sh = find("sh").expect("sh is on PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(find(&sh.display().to_string()), Some(sh));
        assert_eq!(find("xtask-no-such-tool"), None);
        // A directory or a file that is not executable is no tool.
        assert_eq!(find("/"), None);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(find(&plain.display().to_string()), None);
    }

    #[test]
    fn stream_reports_lines_and_status() {
        let mut seen = Vec::new();
        let ok = stream(&sh("echo one; echo two >&2; exit 3"), |l| {
            seen.push(l.to_owned())
        })
        .unwrap();
        assert!(!ok);
        assert_eq!(seen, ["one", "two"]);
    }

    #[test]
    fn pipe_hands_over_stdout_bytes_and_keeps_stderr() {
        let cmd = sh("printf 'ab\\000cd'; echo oops >&2; exit 2");
        let (bytes, out) = pipe(&cmd, |r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        })
        .unwrap();
        assert_eq!(bytes.unwrap(), b"ab\0cd");
        assert!(!out.success);
        assert_eq!(out.code, Some(2));
        assert_eq!(out.stderr, "oops\n");
        // What the consumer leaves unread is drained, so the child still finishes.
        let big = sh("head -c 1000000 /dev/zero");
        let (first, out) = pipe(&big, |r| r.read(&mut [0; 10]).unwrap()).unwrap();
        assert!(first > 0 && out.success);
    }

    #[test]
    fn output_and_to_file_read_the_exit_code() {
        let out = output(&sh("echo out; echo err >&2; exit 4")).unwrap();
        assert_eq!(
            (
                out.success,
                out.code,
                out.stdout.as_str(),
                out.stderr.as_str()
            ),
            (false, Some(4), "out\n", "err\n")
        );
        assert_eq!(output(&sh("true")).unwrap().code, Some(0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let exit = to_file(
            &sh("echo one; echo two >&2; exit 5"),
            File::create(&path).unwrap(),
        )
        .unwrap();
        assert_eq!((exit.success, exit.code), (false, Some(5)));
        assert_eq!(exit.to_string(), "exited with code 5");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        let ok = to_file(&sh("true"), File::create(&path).unwrap()).unwrap();
        assert!(ok.success && ok.code == Some(0));
    }

    #[test]
    fn a_child_killed_by_a_signal_has_no_exit_code() {
        let out = output(&sh("kill -9 $$")).unwrap();
        assert!(!out.success && out.code.is_none(), "{out:?}");
        let dir = tempfile::tempdir().unwrap();
        let exit = to_file(
            &sh("kill -9 $$"),
            File::create(dir.path().join("log")).unwrap(),
        )
        .unwrap();
        assert_eq!(exit.code, None);
        assert_eq!(exit.to_string(), "was killed by signal 9");
    }

    #[test]
    fn stdout_captures_stdout_only_and_keeps_the_exit_code() {
        // The child's stderr goes to this process's stderr, not into the Output.
        let out = stdout(&sh(
            "echo out; echo '(exec test: stderr stays live)' >&2; exit 3",
        ))
        .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "");
        assert_eq!((out.success, out.code), (false, Some(3)));
        let fed = stdout(&sh("cat").stdin(Stdin::Secret(Secret::new("in")))).unwrap();
        assert_eq!((fed.stdout.as_str(), fed.code), ("in", Some(0)));
    }

    #[test]
    fn read_returns_stdout_and_fails_with_stderr() {
        assert_eq!(read(&sh("echo hello")).unwrap(), "hello");
        let err = read(&sh("echo nope >&2; exit 1")).unwrap_err();
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
    }

    #[test]
    fn a_secret_reaches_the_child_on_stdin_and_is_never_shown() {
        let cmd = sh("read line; echo \"got $line\"").stdin(Stdin::Secret(Secret::new("s3cret")));
        assert_eq!(read(&cmd).unwrap(), "got s3cret");
        assert!(!cmd.to_string().contains("s3cret"), "{cmd}");
    }

    #[test]
    fn a_shielded_child_leads_its_own_process_group() {
        let script = "read -r _ _ _ _ group _ < /proc/$$/stat; echo $$ $group";
        let ids = |cmd: Command| -> (String, String) {
            let out = read(&cmd).unwrap();
            let (pid, group) = out.trim().split_once(' ').unwrap();
            (pid.to_owned(), group.to_owned())
        };
        let (pid, group) = ids(sh(script).shielded());
        assert_eq!(
            pid, group,
            "a shielded child is the leader of its own group"
        );
        let (pid, group) = ids(sh(script));
        assert_ne!(pid, group, "a plain child stays in the caller's group");
    }

    #[test]
    fn every_runner_kills_a_child_past_its_timeout() {
        let slow = sh("exec sleep 5").timeout(Duration::from_millis(200));
        let started = Instant::now();
        for err in [
            output(&slow).unwrap_err(),
            stdout(&slow).unwrap_err(),
            quiet(&slow).unwrap_err(),
            to_file(&slow, tempfile::tempfile().unwrap()).unwrap_err(),
            stream(&slow, |_| {}).unwrap_err(),
            pipe(&slow, |_| ()).unwrap_err(),
        ] {
            assert!(err.downcast_ref::<TimedOut>().is_some(), "{err:#}");
        }
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn a_timed_out_child_is_killed_with_the_processes_it_started() {
        // The grandchild holds the output pipe open, as the docker-buildx plugin does.
        let forks = sh("sleep 30 & sleep 30; wait").timeout(Duration::from_millis(300));
        let started = Instant::now();
        let err = stream(&forks, |_| {}).unwrap_err();
        assert!(err.downcast_ref::<TimedOut>().is_some(), "{err:#}");
        let err = output(&forks).unwrap_err();
        assert!(err.downcast_ref::<TimedOut>().is_some(), "{err:#}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "waited {:?} for the grandchildren",
            started.elapsed()
        );
    }
}
