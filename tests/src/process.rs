//! A storage server process for a test: started on a free loopback port with a directory of
//! its own, waited for until it listens, killed on drop. [`crate::s3`] runs s3s-fs and
//! [`crate::azure`] runs Azurite through it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process and what it needs to be started again.
#[derive(Debug)]
pub struct ServerProcess {
    name: &'static str,
    binary: PathBuf,
    /// Arguments; `{port}` and `{dir}` are replaced by the port and the data directory.
    args: Vec<String>,
    child: Option<Child>,
    dir: tempfile::TempDir,
    logs: tempfile::TempDir,
    port: u16,
}

impl ServerProcess {
    /// Starts `binary` with `args` (`{port}` and `{dir}` replaced) and waits until it listens.
    pub fn start(name: &'static str, binary: PathBuf, args: &[&str]) -> Self {
        let mut server = Self {
            name,
            binary,
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            child: None,
            dir: tempfile::tempdir().expect("creating the server's directory"),
            logs: tempfile::tempdir().expect("creating the server's log directory"),
            port: free_port(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .ok();
        let output = || {
            log.as_ref()
                .and_then(|file| file.try_clone().ok())
                .map_or_else(Stdio::null, Stdio::from)
        };
        let port = self.port.to_string();
        let dir = self.dir.path().display().to_string();
        let args: Vec<String> = self
            .args
            .iter()
            .map(|arg| arg.replace("{port}", &port).replace("{dir}", &dir))
            .collect();
        let child = Command::new(&self.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {} ({}): {err}", self.name, self.binary.display()));
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "{} exited at start with {status} (port {} taken?); its log: {}",
                    self.name,
                    self.port,
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {addr} within 30 s",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.logs.path().join(format!("{}.log", self.name))
    }

    /// Kills the server; its data stays for [`ServerProcess::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The path of a tool a test needs: the environment variable `var`, else `cached` under
/// `~/.cache/kube-log-exporter/`. Panics with what to run when it is missing: a test that
/// needs a server must not pass without it.
pub fn tool(var: &str, cached: &str, script: &str, test: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/kube-log-exporter").join(cached)
    });
    assert!(
        path.is_file(),
        "this test needs {}, not found: run scripts/test.sh, or {var}=$({script}) cargo test -p kle-tests --test \
         {test} -- --ignored",
        path.display()
    );
    path
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("the bound address").port()
}
