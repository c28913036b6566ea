//! A throwaway registry with htpasswd auth for push tests: the Debian `docker-registry`
//! on a free 127.0.0.1 port in 5100-5199, killed when dropped; and registries that misbehave
//! (one that stalls, one that answers 500), written here on a plain TCP listener.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Registry {
    pub port: u16,
    pub user: String,
    pub password: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Registry {
    /// Starts a registry that accepts `user`/`password` (bcrypt in its htpasswd file).
    pub fn start(user: &str, password: &str) -> Registry {
        Registry::start_in(5100..5200, user, password)
    }

    /// Like [`Registry::start`], on a free port in `ports`.
    pub fn start_in(ports: std::ops::Range<u16>, user: &str, password: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash(password, 5).unwrap();
        std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
        // Tests run in parallel: a port another test of this process picked is not free
        // even before its registry listens on it.
        let port = {
            let mut claimed = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
            let port = ports
                .clone()
                .find(|p| !claimed.contains(p) && TcpListener::bind(("127.0.0.1", *p)).is_ok())
                .unwrap_or_else(|| panic!("a free port in {ports:?}"));
            claimed.push(port);
            port
        };
        let mut r = Registry {
            port,
            user: user.into(),
            password: password.into(),
            dir,
            child: None,
        };
        r.restart();
        r
    }

    fn config(&self) -> PathBuf {
        let d = self.dir.path();
        let path = d.join("config.yml");
        std::fs::write(
            &path,
            format!(
                "version: 0.1\nlog: {{ level: warn }}\n\
                 storage:\n  filesystem: {{ rootdirectory: {} }}\n\
                 http: {{ addr: 127.0.0.1:{} }}\n\
                 auth:\n  htpasswd: {{ realm: xtask-vp, path: {} }}\n",
                d.join("data").display(),
                self.port,
                d.join("htpasswd").display()
            ),
        )
        .unwrap();
        path
    }

    /// (Re)starts it on the same port and storage; waits for /v2/ to answer 401.
    pub fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("registry.log")).unwrap();
        self.child = Some(
            Command::new("docker-registry")
                .arg("serve")
                .arg(self.config())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("docker-registry is installed (`cargo xtask engine up`)"),
        );
        let started = Instant::now();
        while self.status("/v2/", false) != 401 {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "the registry on {} exited ({status}): {}",
                    self.port,
                    std::fs::read_to_string(self.dir.path().join("registry.log"))
                        .unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "registry did not answer on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Its pid, for a test that has it killed from elsewhere.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The file in the registry's storage that names the manifest `name:tag` points at;
    /// the registry rewrites it whenever that tag's manifest is PUT.
    pub fn tag_link(&self, name: &str, tag: &str) -> PathBuf {
        self.dir.path().join(format!(
            "data/docker/registry/v2/repositories/{name}/_manifests/tags/{tag}/current/link"
        ))
    }

    /// Kills the registry (SIGKILL) the moment `name:tag` is written with another manifest
    /// than the one it names now (or is first written, when it does not exist yet): right
    /// after the PUT that moved it. Stops watching when the returned value is dropped.
    pub fn kill_when_tag_moves(&self, name: &str, tag: &str) -> Watch {
        let link = self.tag_link(name, tag);
        let before = std::fs::read(&link).ok();
        let pid = self.pid();
        let fired = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (Arc::clone(&fired), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let now = std::fs::read(&link).ok();
                if now.is_some() && now != before {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                    f.store(true, Ordering::SeqCst);
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Watch { fired, stop }
    }

    fn curl(&self, args: &[&str], path: &str, auth: bool) -> std::process::Output {
        let mut c = Command::new("curl");
        c.args(["-s", "--max-time", "5"]).args(args);
        if auth {
            c.arg("-u").arg(format!("{}:{}", self.user, self.password));
        }
        c.arg(format!("http://{}{path}", self.host()))
            .output()
            .unwrap()
    }

    /// The HTTP status of GET `path`.
    pub fn status(&self, path: &str, auth: bool) -> u16 {
        let o = self.curl(&["-o", "/dev/null", "-w", "%{http_code}"], path, auth);
        String::from_utf8_lossy(&o.stdout).parse().unwrap_or(0)
    }

    /// The tags of `name`, sorted; empty when the repository does not exist.
    pub fn tags(&self, name: &str) -> Vec<String> {
        let o = self.curl(&[], &format!("/v2/{name}/tags/list"), true);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// The digest `name:tag` points at (`Docker-Content-Digest`), if any.
    pub fn digest(&self, name: &str, tag: &str) -> Option<String> {
        let accept = [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
        ];
        let mut args = vec!["-I"];
        let headers: Vec<String> = accept.iter().map(|a| format!("Accept: {a}")).collect();
        for h in &headers {
            args.extend(["-H", h]);
        }
        let o = self.curl(&args, &format!("/v2/{name}/manifests/{tag}"), true);
        String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest")
                .then(|| v.trim().to_owned())
        })
    }
}

/// The ports the registries of this test process listen on.
static CLAIMED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        CLAIMED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|p| *p != self.port);
    }
}

/// A watch started by [`Registry::kill_when_tag_moves`].
pub struct Watch {
    fired: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Watch {
    /// Whether it killed the registry.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// How a [`FakeRegistry`] answers everything but `GET /v2/`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Reads the request and never answers (the connection stays open).
    Stall,
    /// `500 Internal Server Error`.
    ServerError,
}

/// A registry on a free 127.0.0.1 port in `ports` that answers `GET /v2/` with 200 `{}`
/// (so docker takes it for a registry speaking plain HTTP) and then misbehaves. Stops
/// accepting when dropped.
pub struct FakeRegistry {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeRegistry {
    pub fn start(ports: std::ops::Range<u16>, how: Misbehaviour) -> FakeRegistry {
        let listener = ports
            .clone()
            .find_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .unwrap_or_else(|| panic!("a free port in {ports:?}"));
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let keep = conn.try_clone().unwrap();
                        held.push(keep);
                        std::thread::spawn(move || serve(conn, how));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeRegistry { port, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Answers the requests of one connection until it closes or a request is left hanging.
fn serve(conn: TcpStream, how: Misbehaviour) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    // A TLS handshake (docker tries https first): answer as Go's plain-HTTP server does, so
    // the client falls back to http.
    if reader
        .fill_buf()
        .map(|b| b.first() == Some(&0x16))
        .unwrap_or(false)
    {
        let _ = out.write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        );
        return;
    }
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let h = header.trim();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        let _ = std::io::Read::read_exact(&mut reader, &mut body);
        let path = request.split_whitespace().nth(1).unwrap_or_default();
        let answer = if request.starts_with("GET ") && path == "/v2/" {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
             Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n{}"
        } else if how == Misbehaviour::ServerError {
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\
             Content-Length: 21\r\n\r\ninternal server error"
        } else {
            // Stall: keep the connection open and never answer.
            std::thread::sleep(Duration::from_secs(3600));
            return;
        };
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
