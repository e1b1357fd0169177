//! Real-cluster load run: pods logging at a fixed rate on the test cluster (`tests/cluster/`),
//! followed by the exporter (and, with `--kubectl`, by `kubectl logs -f` afterwards). Prints
//! whether each tool keeps up and what it costs; asserts nothing.
//!
//! ```sh
//! cargo build --release -p kle-cli
//! KLE_E2E_KUBECONFIG=$(tests/cluster/up.sh) \
//!     cargo run --release -p kle-benches --example cluster_load -- --pods 50 --rate 100 --kubectl
//! ```
//!
//! - Every pod runs `--containers` (default 1) copies of `logger.c` (built here with
//!   `gcc -static`, imported as an image): each `--rate` lines a second of `--line-bytes` bytes,
//!   numbered, in bursts every 10 ms. The node runs at most 110 pods, so 1,000 follows are
//!   `--pods 100 --containers 10`.
//! - Lag: from a line's timestamp (the container runtime's, when it read the line from the
//!   container) to its arrival on the tool's stdout, read here as it comes. Only lines that
//!   arrive in the measured window count (after `--warmup`).
//! - Keeping up: lines per second arrived against those logged, lag at the end of the window,
//!   and every pod's numbers checked from its first line on: none missing, none twice.
//! - Cost: the tool's CPU (user+sys from `/proc`) as a share of one core, per GiB, and its
//!   resident memory; the API server's, kubelet's and containerd's CPU beside it; the tool's
//!   TCP connections to the API server and the API server's resident memory (and its growth
//!   since just before the tool started) at the end of the window.
//! - The exporter runs once per `--http-versions` (default `2,1.1`, in that order: the API
//!   server's heap grows and does not give memory back at once, so the later run's growth is
//!   the one that may be undercounted; `--restart-apiserver` restarts it before each tool so
//!   that each starts from the same point). `--settle-load X` waits before each tool until the
//!   node's load average is below X (a thousand containers take minutes to start). Each tool's
//!   stderr goes to `$TMPDIR/kle-cluster-load-<tool>.stderr`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use kle_tests::testbed::{Testbed, restart_component};

const NAMESPACE: &str = "kle-load";
const IMAGE: &str = "kle.local/load-logger:1";
/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
const TICKS: f64 = 100.0;

struct Args {
    exporter: PathBuf,
    pods: usize,
    /// Logger containers in each pod (one log stream each).
    containers: usize,
    rate: usize,
    line_bytes: usize,
    seconds: u64,
    warmup: u64,
    kubectl: bool,
    keep: bool,
    /// Restart the API server (and let it settle) before each tool, so that each one's
    /// growth of the API server's memory is measured from the same start.
    restart_apiserver: bool,
    /// Before measuring, wait until the node's 1-minute load average is below this.
    settle_load: f64,
    http_versions: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        exporter: PathBuf::from("target/release/kube-log-exporter"),
        pods: 50,
        containers: 1,
        rate: 100,
        line_bytes: 150,
        seconds: 60,
        warmup: 15,
        kubectl: false,
        keep: false,
        restart_apiserver: false,
        settle_load: f64::INFINITY,
        http_versions: vec!["2".to_owned(), "1.1".to_owned()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--exporter" => args.exporter = value().into(),
            "--pods" => args.pods = value().parse().unwrap(),
            "--containers" => args.containers = value().parse::<usize>().unwrap().max(1),
            "--rate" => args.rate = value().parse().unwrap(),
            "--line-bytes" => args.line_bytes = value().parse().unwrap(),
            "--seconds" => args.seconds = value().parse().unwrap(),
            "--warmup" => args.warmup = value().parse().unwrap(),
            "--kubectl" => args.kubectl = true,
            "--keep" => args.keep = true,
            "--restart-apiserver" => args.restart_apiserver = true,
            "--settle-load" => args.settle_load = value().parse().unwrap(),
            "--http-versions" => args.http_versions = value().split(',').map(str::to_owned).collect(),
            _ => panic!("unknown flag {flag}"),
        }
    }
    args
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds `logger.c` statically and imports it as [`IMAGE`].
fn import_logger_image() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let source = repo().join("benches/examples/cluster_load/logger.c");
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(root.join("logger"))
        .arg(&source)
        .status()
        .expect("gcc (Debian's gcc, on the machine)");
    assert!(status.success(), "gcc failed on {}", source.display());
    let tar = work.path().join("logger.tar");
    let status = Command::new(repo().join("tests/cluster/mkimage.py"))
        .arg(&root)
        .arg(IMAGE)
        .arg(&tar)
        .args(["--entrypoint", "/logger"])
        .status()
        .unwrap();
    assert!(status.success(), "mkimage.py failed");
    let output = Command::new(repo().join("tests/cluster/import-image.sh"))
        .arg(&tar)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "import-image.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn deployment(args: &Args) -> String {
    // Each container tags its lines `<pod>-c<i>` (the logger's HOSTNAME), so that every stream
    // is numbered on its own.
    let containers: String = (0..args.containers)
        .map(|i| {
            format!(
                r#"      - name: logger-{i}
        image: {IMAGE}
        imagePullPolicy: Never
        args: ["{rate}", "{bytes}"]
        env:
        - name: POD
          valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
        - name: HOSTNAME
          value: "$(POD)-c{i}"
"#,
                rate = args.rate,
                bytes = args.line_bytes
            )
        })
        .collect();
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: logger, namespace: {NAMESPACE}}}
spec:
  replicas: {pods}
  selector: {{matchLabels: {{app: kle-load}}}}
  template:
    metadata: {{labels: {{app: kle-load}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
{containers}"#,
        pods = args.pods,
    )
}

/// CPU seconds (user+sys) of a process so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // After the command: state (not a number, skipped), ppid, ..., utime is the 12th number.
    fields.get(10).zip(fields.get(11)).map_or(0.0, |(u, s)| (u + s) / TICKS)
}

/// Resident set and its peak, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The pids of every process whose command name starts with one of `names`, by name.
fn processes(names: &[&'static str]) -> HashMap<&'static str, Vec<u32>> {
    let mut found: HashMap<&'static str, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if let Some(name) = names.iter().find(|n| comm.trim().starts_with(**n)) {
            found.entry(*name).or_default().push(pid);
        }
    }
    found
}

const COMPONENTS: [&str; 4] = ["kube-apiserver", "kubelet", "containerd", "etcd"];

/// What one line told: when it was logged and which pod's line it was.
#[derive(Default)]
struct Tally {
    /// Lag of each line that arrived in the window, in microseconds.
    lags: Vec<i64>,
    /// Bytes that arrived in the window.
    bytes: u64,
    /// Per pod: the last number seen.
    last: HashMap<String, u64>,
    missing: u64,
    repeated: u64,
    unparsed: u64,
    /// Lag of the lines of the window's last second.
    final_lags: Vec<i64>,
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const DONE: u8 = 2;

/// Reads a tool's stdout line by line as it arrives, judging every line.
fn read_lines(
    child: &mut Child,
    phase: Arc<AtomicU8>,
    tally: Arc<Mutex<Tally>>,
    window_end: Arc<Mutex<Option<SystemTime>>>,
) -> std::thread::JoinHandle<()> {
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(1 << 20, stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                break;
            }
            let arrived = SystemTime::now();
            let mut tally = tally.lock().unwrap();
            let Some((logged, pod, seq)) = parse(&line) else {
                tally.unparsed += 1;
                continue;
            };
            match tally.last.get(pod).copied() {
                Some(last) if seq == last + 1 => {}
                Some(last) if seq <= last => tally.repeated += 1,
                Some(last) => tally.missing += seq - last - 1,
                None => {}
            }
            tally.last.insert(pod.to_owned(), seq);
            if phase.load(Ordering::Acquire) == MEASURE {
                let arrived_ns = arrived.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as i128;
                let lag = ((arrived_ns - logged.as_nanosecond()) / 1000) as i64;
                tally.lags.push(lag);
                tally.bytes += line.len() as u64;
                if let Some(end) = *window_end.lock().unwrap()
                    && end
                        .duration_since(arrived)
                        .is_ok_and(|left| left < Duration::from_secs(1))
                {
                    tally.final_lags.push(lag);
                }
            }
        }
    })
}

/// `<timestamp> <pod> <n> xxx`, optionally after kubectl's `[pod/NAME/logger] ` prefix.
fn parse(line: &[u8]) -> Option<(Timestamp, &str, u64)> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let text = match text.strip_prefix('[') {
        Some(prefixed) => prefixed.split_once("] ")?.1,
        None => text,
    };
    let mut words = text.split(' ');
    let logged: Timestamp = words.next()?.parse().ok()?;
    let pod = words.next()?;
    let seq = words.next()?.parse().ok()?;
    Some((logged, pod, seq))
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

struct Measured {
    name: String,
    lines_per_s: f64,
    mib_per_s: f64,
    lag_ms: [f64; 5],
    final_p99_ms: f64,
    missing: u64,
    repeated: u64,
    unparsed: u64,
    cpu_share: f64,
    cpu_per_gib: f64,
    rss: (f64, f64),
    components: Vec<(&'static str, f64)>,
    /// The tool's established TCP connections to the API server's port.
    connections: usize,
    /// The API server's resident memory at the end, and its growth since before the tool.
    api_rss_mib: (f64, f64),
}

/// The API server's port on the test cluster.
const API_PORT: u16 = 6443;

/// Established TCP connections of `pid` to `port` (its socket inodes in `/proc/net/tcp{,6}`).
fn tcp_connections_to(pid: u32, port: u16) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().into_owned();
                    link.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    let remote = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|table| {
            std::fs::read_to_string(table)
                .unwrap_or_default()
                .lines()
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|row| {
            let f: Vec<&str> = row.split_whitespace().collect();
            // rem_address, st (01 = ESTABLISHED), inode
            f.len() > 9 && f[2].ends_with(&remote) && f[3] == "01" && inodes.contains(f[9])
        })
        .count()
}

fn api_server_rss() -> f64 {
    processes(&["kube-apiserver"])
        .get("kube-apiserver")
        .map_or(0.0, |pids| pids.iter().map(|p| rss_mib(*p).0).sum())
}

/// The node's 1-minute load average.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Restarts the API server if asked, then waits until the node is quiet enough to measure.
fn settle(testbed: &Testbed, args: &Args) {
    if args.restart_apiserver {
        eprintln!("restarting the API server");
        restart_component("kube-apiserver");
        // Its caches fill from etcd and the kubelet and controllers reconnect.
        std::thread::sleep(Duration::from_secs(20));
    }
    testbed.wait_for(
        &format!("the load average to fall below {}", args.settle_load),
        Duration::from_secs(1800),
        || load_average() < args.settle_load,
    );
}

fn measure(name: &str, argv: &[String], args: &Args) -> Measured {
    let name = name.to_owned();
    let api_rss_before = api_server_rss();
    let stderr = std::env::temp_dir().join(format!("kle-cluster-load-{}.stderr", name.replace(['/', ' '], "-")));
    eprintln!("{name}: its stderr goes to {}", stderr.display());
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", argv[0]));
    let pid = child.id();
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let window_end = Arc::new(Mutex::new(None));
    let reader = read_lines(&mut child, phase.clone(), tally.clone(), window_end.clone());
    std::thread::sleep(Duration::from_secs(args.warmup));
    let components = processes(&COMPONENTS);
    let component_cpu = |c: &HashMap<&'static str, Vec<u32>>| -> Vec<(&'static str, f64)> {
        COMPONENTS
            .iter()
            .map(|n| {
                (
                    *n,
                    c.get(n).map_or(0.0, |pids| pids.iter().map(|p| cpu_seconds(*p)).sum()),
                )
            })
            .collect()
    };
    let cpu_before = cpu_seconds(pid);
    let components_before = component_cpu(&components);
    let started = Instant::now();
    *window_end.lock().unwrap() = Some(SystemTime::now() + Duration::from_secs(args.seconds));
    phase.store(MEASURE, Ordering::Release);
    std::thread::sleep(Duration::from_secs(args.seconds));
    phase.store(DONE, Ordering::Release);
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let components_after = component_cpu(&components);
    let rss = rss_mib(pid);
    // The tool runs under no wrapper here: its own sockets.
    let connections = tcp_connections_to(pid, API_PORT);
    let api_rss = api_server_rss();
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
    let _ = reader.join();
    let mut tally = std::mem::take(&mut *tally.lock().unwrap());
    tally.lags.sort_unstable();
    tally.final_lags.sort_unstable();
    let gib = tally.bytes as f64 / (1u64 << 30) as f64;
    Measured {
        name,
        lines_per_s: tally.lags.len() as f64 / wall,
        mib_per_s: tally.bytes as f64 / wall / (1 << 20) as f64,
        lag_ms: [0.5, 0.9, 0.99, 0.999, 1.0].map(|p| percentile(&tally.lags, p)),
        final_p99_ms: percentile(&tally.final_lags, 0.99),
        missing: tally.missing,
        repeated: tally.repeated,
        unparsed: tally.unparsed,
        cpu_share: cpu / wall * 100.0,
        cpu_per_gib: cpu / gib,
        rss,
        components: components_before
            .iter()
            .zip(&components_after)
            .map(|((n, before), (_, after))| (*n, (after - before) / wall * 100.0))
            .collect(),
        connections,
        api_rss_mib: (api_rss, api_rss - api_rss_before),
    }
}

fn main() {
    let args = parse_args();
    let exporter = std::fs::canonicalize(&args.exporter)
        .expect("build the exporter first: cargo build --release -p kle-cli")
        .to_string_lossy()
        .into_owned();
    let testbed = Testbed::from_env();
    let kubeconfig = testbed.kubeconfig().to_string_lossy().into_owned();
    eprintln!("building and importing {IMAGE}");
    import_logger_image();
    testbed.fresh_namespace(NAMESPACE);
    testbed.apply(&deployment(&args));
    eprintln!("waiting for {} pods", args.pods);
    testbed.wait_for("the logger pods to run", Duration::from_secs(600), || {
        testbed.running_pods(NAMESPACE) >= args.pods
    });
    let streams = (args.pods * args.containers + 10).to_string();
    let argv = |parts: &[&str]| parts.iter().map(|part| (*part).to_owned()).collect::<Vec<_>>();
    let mut tools: Vec<(String, Vec<String>)> = args
        .http_versions
        .iter()
        .map(|version| {
            (
                format!("exporter HTTP/{version}"),
                argv(&[
                    &exporter,
                    "--kubeconfig",
                    &kubeconfig,
                    "follow",
                    "-n",
                    NAMESPACE,
                    "-l",
                    "app=kle-load",
                    "--tail",
                    "0",
                    "-o",
                    "raw",
                    "--timestamps",
                    "--checkpoint",
                    "none",
                    "--no-preflight",
                    "--http-version",
                    version,
                    "--max-streams",
                    &streams,
                ]),
            )
        })
        .collect();
    if args.kubectl {
        tools.push((
            "kubectl logs -f".to_owned(),
            argv(&[
                "kubectl",
                "--kubeconfig",
                &kubeconfig,
                "logs",
                "-f",
                "-n",
                NAMESPACE,
                "-l",
                "app=kle-load",
                "--prefix",
                "--all-containers",
                "--timestamps",
                "--tail=0",
                "--max-log-requests",
                &streams,
            ]),
        ));
    }
    let expected = (args.pods * args.containers * args.rate) as f64;
    println!(
        "\n## {} pods x {} containers x {} lines/s x {} bytes = {expected:.0} lines/s, {:.2} MiB/s logged; {} s measured after {} s\n",
        args.pods,
        args.containers,
        args.rate,
        args.line_bytes,
        expected * args.line_bytes as f64 / (1 << 20) as f64,
        args.seconds,
        args.warmup
    );
    let results: Vec<Measured> = tools
        .iter()
        .map(|(name, argv)| {
            settle(&testbed, &args);
            measure(name, argv, &args)
        })
        .collect();
    println!(
        "| tool | lines/s arrived | MiB/s | lag p50 / p90 / p99 / p99.9 / max (ms) | p99 in last second | missing | twice | CPU % of a core | CPU s/GiB | RSS (peak) MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for m in &results {
        let [p50, p90, p99, p999, max] = m.lag_ms;
        println!(
            "| {} | {:.0} | {:.2} | {p50:.0} / {p90:.0} / {p99:.0} / {p999:.0} / {max:.0} | {:.0} | {} | {} | {:.1} | {:.1} | {:.1} ({:.1}) |",
            m.name,
            m.lines_per_s,
            m.mib_per_s,
            m.final_p99_ms,
            m.missing,
            m.repeated,
            m.cpu_share,
            m.cpu_per_gib,
            m.rss.0,
            m.rss.1
        );
        if m.unparsed > 0 {
            eprintln!("  {}: {} lines not in the logger's format", m.name, m.unparsed);
        }
    }
    println!("\nThe tool's TCP connections to the API server, and the API server's resident memory, at the end:\n");
    println!("| tool | connections | API server RSS MiB | its growth while the tool ran, MiB |");
    println!("|---|---|---|---|");
    for m in &results {
        println!(
            "| {} | {} | {:.1} | {:+.1} |",
            m.name, m.connections, m.api_rss_mib.0, m.api_rss_mib.1
        );
    }
    println!("\nCluster components' CPU (% of a core) while each tool ran:\n");
    println!("| tool | {} |", COMPONENTS.join(" | "));
    println!("|---|{}", "---|".repeat(COMPONENTS.len()));
    for m in &results {
        let cells: Vec<String> = m.components.iter().map(|(_, pct)| format!("{pct:.1}")).collect();
        println!("| {} | {} |", m.name, cells.join(" | "));
    }
    if !args.keep {
        testbed.kubectl_output(&["delete", "namespace", NAMESPACE, "--wait=false"], None);
    }
}
