//! The real single-node cluster of `tests/cluster/`, for end-to-end tests.
//!
//! End-to-end tests are `#[ignore]`d, so a plain `cargo test` reports them as ignored rather
//! than passed; `scripts/test.sh` starts the cluster and runs them with `--ignored` and
//! `KLE_E2E_KUBECONFIG` pointing at its admin kubeconfig.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The namespace the fixtures (`tests/cluster/fixtures`) live in.
pub const FIXTURES_NAMESPACE: &str = "kle-e2e";

/// A handle on the running test cluster.
#[derive(Debug, Clone)]
pub struct Testbed {
    kubeconfig: PathBuf,
}

impl Testbed {
    /// The cluster named by `KLE_E2E_KUBECONFIG`; panics with instructions when it is unset,
    /// since only `--ignored` runs reach the e2e tests.
    pub fn from_env() -> Self {
        let kubeconfig = std::env::var_os("KLE_E2E_KUBECONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!(
                    "KLE_E2E_KUBECONFIG is not set: the e2e tests need the test cluster. Run scripts/test.sh, or \
                 KLE_E2E_KUBECONFIG=$(tests/cluster/up.sh) cargo test -p kle-tests --test e2e -- --ignored"
                )
            });
        assert!(
            kubeconfig.is_file(),
            "KLE_E2E_KUBECONFIG={} is not a file",
            kubeconfig.display()
        );
        Self { kubeconfig }
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &PathBuf {
        &self.kubeconfig
    }

    /// Runs kubectl against the cluster; panics with its stderr when it fails.
    pub fn kubectl(&self, args: &[&str]) -> Vec<u8> {
        let output = self.kubectl_output(args, None);
        assert!(
            output.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Runs kubectl with `stdin` as its input and returns whatever it did.
    pub fn kubectl_output(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        use std::io::Write;
        let kubectl = std::env::var("KLE_KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let mut child = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running kubectl");
        let mut input = child.stdin.take().expect("piped stdin");
        if let Some(bytes) = stdin {
            input.write_all(bytes).expect("writing kubectl's stdin");
        }
        drop(input);
        child.wait_with_output().expect("waiting for kubectl")
    }

    /// `kubectl logs --timestamps` of one container (previous instance with `previous`).
    pub fn logs(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Vec<u8> {
        let mut args = vec!["logs", "--timestamps", "-n", namespace, pod, "-c", container];
        if previous {
            args.push("--previous");
        }
        self.kubectl(&args)
    }

    /// Deletes `namespace` if it exists, creates it afresh and waits for its default
    /// ServiceAccount (pods cannot be created before it).
    ///
    /// Pods a restarted kubelet left stuck Terminating (seen after the kubelet-restart test)
    /// would hold the old namespace forever: after a bounded wait they are force-deleted.
    pub fn fresh_namespace(&self, namespace: &str) {
        self.kubectl_output(
            &["delete", "namespace", namespace, "--wait=true", "--timeout=60s"],
            None,
        );
        let gone = || {
            !self
                .kubectl_output(&["get", "namespace", namespace], None)
                .status
                .success()
        };
        if !gone() {
            self.kubectl_output(
                &[
                    "delete",
                    "pods",
                    "--all",
                    "-n",
                    namespace,
                    "--force",
                    "--grace-period=0",
                ],
                None,
            );
            self.wait_for(&format!("namespace {namespace} to go"), Duration::from_secs(120), gone);
        }
        self.kubectl(&["create", "namespace", namespace]);
        self.wait_for(
            &format!("the default ServiceAccount of {namespace}"),
            Duration::from_secs(60),
            || {
                self.kubectl_output(&["get", "serviceaccount", "default", "-n", namespace], None)
                    .status
                    .success()
            },
        );
    }

    /// `kubectl apply -f -` of `yaml`.
    pub fn apply(&self, yaml: &str) {
        let output = self.kubectl_output(&["apply", "-f", "-"], Some(yaml.as_bytes()));
        assert!(
            output.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A field of a pod, by JSONPath (`{.status.containerStatuses[0].restartCount}`); empty when
    /// the pod or the field does not exist.
    pub fn pod_field(&self, namespace: &str, pod: &str, jsonpath: &str) -> String {
        let output = self.kubectl_output(
            &[
                "get",
                "pod",
                "-n",
                namespace,
                pod,
                "-o",
                &format!("jsonpath={jsonpath}"),
            ],
            None,
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// How many pods of `namespace` are in phase `Running`.
    pub fn running_pods(&self, namespace: &str) -> usize {
        let output = self.kubectl_output(
            &[
                "get",
                "pods",
                "-n",
                namespace,
                "-o",
                "jsonpath={.items[*].status.phase}",
            ],
            None,
        );
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .filter(|phase| *phase == "Running")
            .count()
    }

    /// A token for the ServiceAccount `sa` of `namespace`: TokenRequest (a bound token) when
    /// kubectl supports it, else the legacy token Secret of 1.20.
    pub fn service_account_token(&self, namespace: &str, sa: &str) -> String {
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_owned();
        let requested = self.kubectl_output(&["create", "token", sa, "-n", namespace], None);
        if requested.status.success() {
            return text(requested.stdout);
        }
        let mut token = String::new();
        self.wait_for(
            &format!("a token for ServiceAccount {sa}"),
            Duration::from_secs(30),
            || {
                let jsonpath = "jsonpath={.secrets[0].name}";
                let secret = text(self.kubectl(&["get", "serviceaccount", sa, "-n", namespace, "-o", jsonpath]));
                if !secret.is_empty() {
                    let template = "go-template={{.data.token | base64decode}}";
                    token = text(self.kubectl(&["get", "secret", &secret, "-n", namespace, "-o", template]));
                }
                !token.is_empty()
            },
        );
        token
    }

    /// A kubeconfig in `dir` that authenticates as the ServiceAccount `sa` of `namespace`, with
    /// the cluster's CA; its one context, `sa`, defaults to `namespace`.
    pub fn service_account_kubeconfig(&self, namespace: &str, sa: &str, dir: &Path) -> PathBuf {
        let token = self.service_account_token(namespace, sa);
        let path = dir.join("sa.kubeconfig");
        let (server, ca) = self.server_and_ca();
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: sa\nclusters:\n- name: c\n  cluster: {{server: \"{server}\", certificate-authority-data: \"{ca}\"}}\nusers:\n- name: sa\n  user: {{token: \"{token}\"}}\ncontexts:\n- name: sa\n  context: {{cluster: c, user: sa, namespace: {namespace}}}\n"
            ),
        )
        .expect("writing the ServiceAccount's kubeconfig");
        path
    }

    /// A kubeconfig in `dir` with two contexts on this cluster as two different users: `admin`
    /// (the admin's certificate) and `reader` (the ServiceAccount `sa` of `namespace`), both
    /// defaulting to `namespace`; `admin` is current.
    pub fn two_user_kubeconfig(&self, namespace: &str, sa: &str, dir: &Path) -> PathBuf {
        let path = dir.join("two-users.kubeconfig");
        std::fs::write(
            &path,
            self.kubectl(&["config", "view", "--raw", "--flatten", "--minify"]),
        )
        .expect("writing the two users' kubeconfig");
        let file = path.to_str().expect("a UTF-8 temporary path");
        let current = String::from_utf8_lossy(&self.kubectl(&["config", "current-context"]))
            .trim()
            .to_owned();
        let cluster = String::from_utf8_lossy(&self.kubectl(&[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.contexts[0].context.cluster}",
        ]))
        .trim()
        .to_owned();
        let token = self.service_account_token(namespace, sa);
        let user_token = format!("--token={token}");
        let cluster_flag = format!("--cluster={cluster}");
        let namespace_flag = format!("--namespace={namespace}");
        for args in [
            vec!["config", "rename-context", current.as_str(), "admin"],
            vec!["config", "set-context", "admin", namespace_flag.as_str()],
            vec!["config", "set-credentials", "reader", user_token.as_str()],
            vec![
                "config",
                "set-context",
                "reader",
                cluster_flag.as_str(),
                "--user=reader",
                namespace_flag.as_str(),
            ],
        ] {
            // `--kubeconfig` given last wins over the admin one `kubectl` puts first.
            let output = self.kubectl_output(&[&args[..], &["--kubeconfig", file]].concat(), None);
            assert!(
                output.status.success(),
                "kubectl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        path
    }

    /// The API server's URL and CA (base64 PEM) from the admin kubeconfig.
    fn server_and_ca(&self) -> (String, String) {
        let field = |jsonpath: &str| {
            String::from_utf8_lossy(&self.kubectl(&["config", "view", "--raw", "-o", jsonpath]))
                .trim()
                .to_owned()
        };
        (
            field("jsonpath={.clusters[0].cluster.server}"),
            field("jsonpath={.clusters[0].cluster.certificate-authority-data}"),
        )
    }

    /// Polls `ready` every 200 ms until it holds; panics naming `what` after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// containerd's `max_container_log_line_size` on the test cluster (its default): longer lines
/// are stored in parts of this many bytes.
pub const PART_BYTES: usize = 16 * 1024;

/// `kubectl logs --timestamps` output as the exporter writes the API's lines: a line stored in
/// parts keeps the timestamp of its first part only, where the API puts one before every part.
pub fn one_timestamp_per_line(stamped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stamped.len());
    for (i, line) in stamped.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        let Some(space) = line.iter().position(|&b| b == b' ') else {
            out.extend_from_slice(line);
            continue;
        };
        out.extend_from_slice(&line[..=space]);
        let mut rest = &line[space + 1..];
        // Every part but the last is full, and the next part's timestamp follows it.
        while rest.len() > PART_BYTES {
            out.extend_from_slice(&rest[..PART_BYTES]);
            rest = &rest[PART_BYTES..];
            let prefix = rest.iter().position(|&b| b == b' ').map_or(0, |at| at + 1);
            rest = &rest[prefix..];
        }
        out.extend_from_slice(rest);
    }
    out
}

/// `before` ≤ `exported` ≤ `after` as prefixes: for a container that keeps logging, the export
/// holds every line the API had before it started, in order, once, and nothing the API lacks.
pub fn assert_between(label: &str, before: &[u8], exported: &[u8], after: &[u8]) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(!before.is_empty(), "{label}: kubectl showed nothing");
    assert!(
        exported.starts_with(before),
        "{label}: export lacks lines kubectl showed before it ran\nexported head: {}\nkubectl head: {}",
        text(&exported[..exported.len().min(300)]),
        text(&before[..before.len().min(300)])
    );
    assert!(
        after.starts_with(exported),
        "{label}: export has lines kubectl does not show ({} vs {} bytes); first difference at byte {}",
        exported.len(),
        after.len(),
        exported.iter().zip(after).take_while(|(a, b)| a == b).count()
    );
}

/// Stops a component of the test cluster (`kube-apiserver`, `kubelet`), waits until it is
/// gone, and brings it back with `tests/cluster/up.sh`, as a crash and a restart would.
pub fn restart_component(component: &str) {
    let state = std::env::var("KLE_TESTBED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/kube-log-exporter/testbed"));
    let pid = std::fs::read_to_string(state.join("pids").join(format!("{component}.pid"))).unwrap();
    let pid = pid.trim();
    let status = Command::new("kill").arg(pid).status().unwrap();
    assert!(status.success(), "killing {component}");
    // A graceful shutdown takes a while; a new instance cannot bind the port before it ends.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Path::new("/proc").join(pid).exists() {
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let up = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/up.sh");
    let output = Command::new(up).output().unwrap();
    assert!(
        output.status.success(),
        "up.sh after stopping {component}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_their_first_timestamp_only() {
        let ts = |i: usize| format!("2026-11-23T10:00:00.{i:09}Z ");
        let (a, b, c) = (vec![b'a'; PART_BYTES], vec![b'b'; PART_BYTES], vec![b'c'; 5]);
        let stamped = [
            format!("{}short\n{}", ts(1), ts(2)).into_bytes(),
            a.clone(),
            ts(3).into_bytes(),
            b.clone(),
            ts(4).into_bytes(),
            c.clone(),
            format!("\n{}", ts(5)).into_bytes(),
            a.clone(),
            b"\n".to_vec(),
        ]
        .concat();
        let expected = [
            format!("{}short\n{}", ts(1), ts(2)).into_bytes(),
            a.clone(),
            b,
            c,
            format!("\n{}", ts(5)).into_bytes(),
            a,
            b"\n".to_vec(),
        ]
        .concat();
        assert!(one_timestamp_per_line(&stamped) == expected);
    }
}

/// A small xorshift generator for kill trials' timing, reproducible from the seed it prints:
/// `KLE_E2E_SEED` repeats a run's kill times.
#[derive(Debug)]
pub struct KillRng(u64);

impl KillRng {
    /// Seeded from `KLE_E2E_SEED`, else the clock; prints the seed.
    pub fn seeded() -> Self {
        let seed = std::env::var("KLE_E2E_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        eprintln!("kill-trial seed: {seed} (KLE_E2E_SEED={seed} repeats it)");
        KillRng(seed)
    }

    /// The next number below `bound` (0 for a bound of 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}
