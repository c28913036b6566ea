//! A throwaway registry with htpasswd auth for push tests: the Debian `docker-registry`
//! on a free 127.0.0.1 port in 5100-5199, killed when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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
        let port = ports
            .clone()
            .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .unwrap_or_else(|| panic!("a free port in {ports:?}"));
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

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
