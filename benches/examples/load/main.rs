//! Load harness: kube-log-exporter versus raw transport (`curl`) and `kubectl logs`, on the same
//! bytes from a loopback API server. Prints figures; asserts nothing.
//!
//! ```sh
//! cargo build --release -p kle-cli && ulimit -n 20000
//! cargo run --release -p kle-benches --example load -- --single-mib 1024 --streams 1,100,1000,5000
//! python3 benches/plot_load.py target/load/cost_curve.csv target/load/cost_curve.png
//! ```
//!
//! 1. One stream (`export`, not following): wall, CPU (user+sys) and peak RSS of each tool
//!    (curl to /dev/null and into a file, the exporter to /dev/null and to files, kubectl),
//!    `--reps` rounds of all of them in turn; medians and ranges, and each exporter's wall time
//!    against its peer of the same round.
//! 2. N concurrent follow streams, `--total-mib` spread evenly over N pods: each tool's stdout is
//!    counted by the harness until every line arrived; then CPU and peak RSS are read (the tool
//!    runs under `/usr/bin/time`) and the tool is stopped. Written to `cost_curve.csv`.
//!
//! The exporter runs once per `--http-versions` (default `1.1,2`: `--http-version 1.1`, then
//! `2`), so both are measured on the same bytes in one run.
//!
//! The server runs in this process on its own thread, so it shares the cores with the tool under
//! test; its CPU is not counted for any tool.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod server;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kle_benches::api_log_stream;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

struct Args {
    exporter: PathBuf,
    single_mib: usize,
    total_mib: usize,
    streams: Vec<usize>,
    reps: usize,
    out: PathBuf,
    kubectl_max: usize,
    timeout: Duration,
    http_versions: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        exporter: PathBuf::from("target/release/kube-log-exporter"),
        single_mib: 1024,
        total_mib: 512,
        streams: vec![1, 10, 100, 1000, 5000],
        reps: 3,
        out: PathBuf::from("target/load"),
        kubectl_max: 5000,
        timeout: Duration::from_secs(300),
        http_versions: vec![s("1.1"), s("2")],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--exporter" => args.exporter = value.into(),
            "--single-mib" => args.single_mib = value.parse().unwrap(),
            "--total-mib" => args.total_mib = value.parse().unwrap(),
            "--streams" => {
                args.streams = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().unwrap())
                    .collect()
            }
            "--reps" => args.reps = value.parse().unwrap(),
            "--out" => args.out = value.into(),
            "--kubectl-max" => args.kubectl_max = value.parse().unwrap(),
            "--timeout" => args.timeout = Duration::from_secs(value.parse().unwrap()),
            "--http-versions" => args.http_versions = value.split(',').map(str::to_owned).collect(),
            _ => panic!("unknown flag {flag}"),
        }
    }
    args
}

/// Lines of about 170 bytes (80–200 byte messages) up to `bytes`.
fn stream_of(bytes: usize) -> Bytes {
    api_log_stream((bytes / 170).max(1))
}

#[derive(Clone, Copy, Debug, Default)]
struct Run {
    wall: f64,
    cpu: f64,
    rss_mib: f64,
    complete: bool,
    /// The share of the expected lines that arrived (1 when complete).
    done: f64,
}

fn kubeconfig(dir: &Path, addr: std::net::SocketAddr) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: bench\n    namespace: {}\n\
             current-context: bench\nusers:\n- name: bench\n  user:\n    token: bench\n",
            server::NAMESPACE
        ),
    )
    .unwrap();
    path
}

/// `/usr/bin/time` around `argv`: the tool's own user+sys CPU and max RSS, whatever its children.
fn timed(argv: &[String], time_file: &Path) -> Command {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f").arg("%e %U %S %M").arg("-o").arg(time_file).args(argv);
    cmd
}

fn read_time(time_file: &Path) -> (f64, f64, f64) {
    let text = std::fs::read_to_string(time_file).unwrap_or_default();
    // A killed tool's report starts with "Command terminated by signal"; the figures are last.
    let last = text.lines().last().unwrap_or("");
    let f: Vec<f64> = last.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    if f.len() < 4 {
        return (0.0, 0.0, 0.0);
    }
    (f[0], f[1] + f[2], f[3] / 1024.0)
}

/// Runs a tool that ends by itself, stdout to /dev/null.
fn run_to_end(argv: &[String], work: &Path, env_home: &Path) -> Run {
    let time_file = work.join("time.txt");
    let start = Instant::now();
    let status = timed(argv, &time_file)
        .env("HOME", env_home)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    if !status.status.success() {
        eprintln!(
            "  {} failed: {}",
            argv[0],
            String::from_utf8_lossy(&status.stderr).lines().last().unwrap_or("")
        );
    }
    let (_, cpu, rss_mib) = read_time(&time_file);
    Run {
        wall,
        cpu,
        rss_mib,
        complete: status.status.success(),
        done: 1.0,
    }
}

/// Runs a following tool until its stdout has carried `lines` lines, then stops it.
fn run_until_lines(argv: &[String], work: &Path, env_home: &Path, lines: u64, timeout: Duration) -> Run {
    let time_file = work.join("time.txt");
    let start = Instant::now();
    let mut child = timed(argv, &time_file)
        .env("HOME", env_home)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let count = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                seen.fetch_add(count, Ordering::Relaxed);
            }
        })
    };
    while seen.load(Ordering::Relaxed) < lines && start.elapsed() < timeout {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = start.elapsed().as_secs_f64();
    let complete = seen.load(Ordering::Relaxed) >= lines;
    let done = (seen.load(Ordering::Relaxed) as f64 / lines as f64).min(1.0);
    if !complete {
        eprintln!(
            "  {}: {} of {lines} lines after {wall:.1} s",
            argv[0],
            seen.load(Ordering::Relaxed)
        );
    }
    // The tool is time's child; stop it so time reports its figures.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap_or_default();
    for pid in children.split_whitespace() {
        let _ = Command::new("kill").arg("-TERM").arg(pid).status();
    }
    let _ = child.wait();
    let _ = counter.join();
    let (_, cpu, rss_mib) = read_time(&time_file);
    Run {
        wall,
        cpu,
        rss_mib,
        complete,
        done,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn summary(runs: &[Run]) -> String {
    let field = |f: fn(&Run) -> f64| {
        let v: Vec<f64> = runs.iter().map(f).collect();
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        (median(v), lo, hi)
    };
    let (w, wl, wh) = field(|r| r.wall);
    let (c, cl, ch) = field(|r| r.cpu);
    let (m, _, _) = field(|r| r.rss_mib);
    format!("{w:7.2} s ({wl:.2}–{wh:.2}) | {c:6.2} s ({cl:.2}–{ch:.2}) | {m:7.1} MiB")
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.out).unwrap();
    let work = tempfile::tempdir().unwrap();
    let exporter =
        std::fs::canonicalize(&args.exporter).expect("build the exporter first: cargo build --release -p kle-cli");
    let exporter = exporter.to_string_lossy().into_owned();

    if args.single_mib > 0 {
        single_stream(&args, &exporter, work.path());
    }
    if !args.streams.is_empty() {
        many_streams(&args, &exporter, work.path());
    }
}

fn single_stream(args: &Args, exporter: &str, work: &Path) {
    let data = stream_of(args.single_mib << 20);
    let bytes = data.len();
    let server = server::start(1, data);
    let kc = kubeconfig(work, server.addr).to_string_lossy().into_owned();
    let url = format!(
        "http://{}/api/v1/namespaces/{}/pods/pod-0/log?container=app&timestamps=true",
        server.addr,
        server::NAMESPACE
    );
    let dir = work.join("files");
    let dir_s = dir.to_string_lossy().into_owned();
    let common = |extra: &[&str]| {
        let mut v = vec![
            s(exporter),
            s("--kubeconfig"),
            kc.clone(),
            s("export"),
            s("-n"),
            s(server::NAMESPACE),
        ];
        v.extend(["--checkpoint", "none", "--no-preflight"].map(s));
        v.extend(extra.iter().map(|e| s(e)));
        v
    };
    let curl_file = work.join("curl.out").to_string_lossy().into_owned();
    let first = args.http_versions.first().cloned().unwrap_or_else(|| s("1.1"));
    let mut tools: Vec<(String, Vec<String>)> = vec![
        (
            s("curl (raw transport)"),
            vec![s("curl"), s("-s"), s("-o"), s("/dev/null"), url.clone()],
        ),
        (
            s("curl -o FILE (raw transport into a file)"),
            vec![s("curl"), s("-s"), s("-o"), curl_file.clone(), url.clone()],
        ),
        (
            format!("exporter -o raw --timestamps > /dev/null (HTTP/{first})"),
            common(&["-o", "raw", "--timestamps", "--http-version", &first]),
        ),
        (
            format!("exporter --sink file (HTTP/{first})"),
            common(&["--sink", "file", "--dir", &dir_s, "--http-version", &first]),
        ),
        (
            s("kubectl logs --timestamps"),
            vec![
                s("kubectl"),
                s("--kubeconfig"),
                kc.clone(),
                s("logs"),
                s("pod-0"),
                s("--timestamps"),
            ],
        ),
    ];
    // The other HTTP versions, after the rows the ratios below were first written for.
    for version in args.http_versions.iter().skip(1) {
        tools.push((
            format!("exporter -o raw --timestamps > /dev/null (HTTP/{version})"),
            common(&["-o", "raw", "--timestamps", "--http-version", version]),
        ));
    }
    println!(
        "\n## One stream of {:.2} GiB ({} runs each; median (range))\n",
        bytes as f64 / GIB,
        args.reps
    );
    println!("| tool | wall | CPU user+sys | peak RSS | GiB/s |");
    println!("|---|---|---|---|---|");
    // Round-robin, so that a machine getting busier or quieter weighs on every tool alike.
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); tools.len()];
    for _ in 0..args.reps {
        for ((name, argv), runs) in tools.iter().zip(&mut runs) {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(&curl_file);
            runs.push(run_to_end(argv, work, work));
            if name.contains("--sink file") {
                let written: u64 = walk(&dir);
                if written != bytes as u64 {
                    eprintln!("  file sink wrote {written} bytes for {bytes} served");
                }
            }
        }
    }
    let mut medians = Vec::new();
    for ((name, _), runs) in tools.iter().zip(&runs) {
        let wall = median(runs.iter().map(|r| r.wall).collect());
        medians.push(wall);
        println!("| {name} | {} | {:.2} |", summary(runs), bytes as f64 / GIB / wall);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&curl_file);
    // Each run's ratio to the curl run of the same round, so the ranges are fair too.
    let ratio = |tool: usize, base: usize| {
        let r: Vec<f64> = runs[tool]
            .iter()
            .zip(&runs[base])
            .map(|(a, b)| a.wall / b.wall)
            .collect();
        let (lo, hi) = r.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        format!("{:.2}x ({lo:.2}-{hi:.2})", median(r))
    };
    println!(
        "\nwall time, median of per-round ratios (range): exporter to stdout / curl {}; \
         exporter to files / curl into a file {}; exporter to stdout / kubectl {}",
        ratio(2, 0),
        ratio(3, 1),
        ratio(2, 4)
    );
    for (i, version) in args.http_versions.iter().enumerate().skip(1) {
        println!(
            "exporter to stdout over HTTP/{version} / curl {}; / exporter over HTTP/{first} {}",
            ratio(4 + i, 0),
            ratio(4 + i, 2)
        );
    }
}

fn walk(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

fn many_streams(args: &Args, exporter: &str, work: &Path) {
    let csv_path = args.out.join("cost_curve.csv");
    let mut csv = std::fs::File::create(&csv_path).unwrap();
    writeln!(
        csv,
        "tool,streams,bytes,wall_s,cpu_s,cpu_s_per_gib,peak_rss_mib,complete"
    )
    .unwrap();
    println!(
        "\n## Concurrent follow streams ({} MiB spread over the streams)\n",
        args.total_mib
    );
    println!("| streams | tool | wall s | CPU s | CPU s / GiB | peak RSS MiB | complete |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &args.streams {
        let per_stream = stream_of((args.total_mib << 20) / n);
        let lines_per = per_stream.iter().filter(|&&b| b == b'\n').count() as u64;
        let bytes = per_stream.len() as u64 * n as u64;
        let server = server::start(n, per_stream);
        let kc = kubeconfig(work, server.addr).to_string_lossy().into_owned();
        let mut tools: Vec<(String, Vec<String>)> = args
            .http_versions
            .iter()
            .map(|version| {
                let argv = [
                    exporter,
                    "--kubeconfig",
                    &kc,
                    "follow",
                    "-n",
                    server::NAMESPACE,
                    "-l",
                    "app=bench",
                    "--http-version",
                    version,
                    "--max-streams",
                ]
                .into_iter()
                .map(s)
                .chain([n.to_string()])
                .chain(["--checkpoint", "none", "--no-preflight", "-o", "raw", "--timestamps"].map(s))
                .collect();
                (format!("exporter HTTP/{version}"), argv)
            })
            .collect();
        if n <= args.kubectl_max {
            tools.push((
                s("kubectl"),
                [
                    "kubectl",
                    "--kubeconfig",
                    &kc,
                    "logs",
                    "-f",
                    "-l",
                    "app=bench",
                    "--prefix",
                    "--timestamps",
                    "--tail=-1",
                    "--max-log-requests",
                ]
                .into_iter()
                .map(s)
                .chain([n.to_string()])
                .collect(),
            ));
        }
        for (name, argv) in &tools {
            let run = run_until_lines(argv, work, work, lines_per * n as u64, args.timeout);
            // An incomplete run (kubectl's client-side throttling) is charged for what arrived.
            let per_gib = run.cpu / (bytes as f64 * run.done / GIB);
            println!(
                "| {n} | {name} | {:.2} | {:.2} | {per_gib:.2} | {:.1} | {} |",
                run.wall, run.cpu, run.rss_mib, run.complete
            );
            writeln!(
                csv,
                "{name},{n},{bytes},{:.3},{:.3},{per_gib:.3},{:.1},{}",
                run.wall, run.cpu, run.rss_mib, run.complete
            )
            .unwrap();
        }
        drop(server);
    }
    println!("\nwrote {}", csv_path.display());
}
