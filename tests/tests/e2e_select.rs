//! End-to-end: selecting by workload, node and container state, and line filters, against the
//! real test cluster (`tests/cluster/`).
//!
//! One test, so that the CronJob's schedules (one a minute) pass while the other kinds are
//! checked: a follow of `cronjob/tick` starts first and is checked last. Kept small for the CI
//! budget: `KLE_E2E_CRON_SCHEDULES` (default 2) CronJob runs, `KLE_E2E_SELECT_KILLS` (default
//! 4) SIGKILLed runs during the line-filter trial; `KLE_E2E_SEED` repeats the kill times.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use kle_tests::binary::exporter;
use kle_tests::testbed::{KillRng, Testbed};
use serde_json::Value;

const NS: &str = "kle-e2e-select";
/// Lines the StatefulSet's pod writes (a third of them `match N`), 200 a second.
const GENERATED: usize = 3000;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn exporter_in(testbed: &Testbed, args: &[&str]) -> Command {
    let mut command = exporter();
    command.arg("--kubeconfig").arg(testbed.kubeconfig()).args(args);
    command
}

fn run(testbed: &Testbed, args: &[&str]) -> Output {
    exporter_in(testbed, args).output().unwrap()
}

/// A pod template's container: `script` under busybox.
fn container(name: &str, script: &str) -> String {
    format!(
        "      containers:\n      - name: {name}\n        image: kle.local/busybox:1\n        imagePullPolicy: Never\n        \
         command: [\"/bin/sh\", \"-c\", {script:?}]\n"
    )
}

/// Prints `count` lines `NAME i` and sleeps.
fn static_script(name: &str, count: usize) -> String {
    format!("i=1; while [ $i -le {count} ]; do echo \"{name} $i\"; i=$((i+1)); done; exec sleep 2147483647")
}

fn workloads() -> String {
    let web = container("app", &static_script("web", 40));
    let canary = container("app", &static_script("canary", 10));
    let agent = container("agent", &static_script("agent", 15));
    let once = container(
        "once",
        "i=1; while [ $i -le 25 ]; do echo \"once $i\"; i=$((i+1)); done",
    );
    // 200 lines a second: kills land while it writes; several lines share each second.
    let generator = container(
        "gen",
        &format!(
            "i=1; while [ $i -le {GENERATED} ]; do if [ $((i % 3)) -eq 0 ]; then echo \"match $i\"; else echo \"other $i\"; \
             fi; [ $((i % 20)) -eq 0 ] && usleep 100000; i=$((i+1)); done; exec sleep 2147483647"
        ),
    );
    let stray = |name: &str, app: &str| {
        format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {NS}\n  labels: {{app: {app}}}\nspec:\n  \
             terminationGracePeriodSeconds: 0\n  containers:\n  - name: app\n    image: kle.local/busybox:1\n    \
             imagePullPolicy: Never\n    command: [\"/bin/sh\", \"-c\", {:?}]\n",
            static_script(name, 5)
        )
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {NS}}}\nspec:\n  replicas: 2\n  \
         selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      \
         terminationGracePeriodSeconds: 0\n{web}\
         ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web-canary, namespace: {NS}}}\nspec:\n  replicas: 1\n  \
         selector: {{matchLabels: {{app: web, track: canary}}}}\n  template:\n    metadata: {{labels: {{app: web, track: canary}}}}\n    \
         spec:\n      terminationGracePeriodSeconds: 0\n{canary}\
         ---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db, namespace: {NS}}}\nspec:\n  replicas: 1\n  \
         serviceName: db\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    metadata: {{labels: {{app: db}}}}\n    \
         spec:\n      terminationGracePeriodSeconds: 0\n{generator}\
         ---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent, namespace: {NS}}}\nspec:\n  \
         selector: {{matchLabels: {{app: agent}}}}\n  template:\n    metadata: {{labels: {{app: agent}}}}\n    spec:\n      \
         terminationGracePeriodSeconds: 0\n{agent}\
         ---\napiVersion: batch/v1\nkind: Job\nmetadata: {{name: once, namespace: {NS}}}\nspec:\n  template:\n    spec:\n      \
         restartPolicy: Never\n{once}\
         ---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {NS}}}\nspec:\n  selector: {{app: web}}\n  \
         ports: [{{port: 80}}]\n\
         {}{}",
        stray("web-stray", "web"),
        stray("db-stray", "db"),
    )
}

/// A CronJob every minute whose Jobs print 20 lines; `batch/v1` or, before 1.21, `batch/v1beta1`.
fn create_cronjob(testbed: &Testbed) {
    let tick = container(
        "tick",
        "i=1; while [ $i -le 20 ]; do echo \"tick $i $HOSTNAME\"; i=$((i+1)); done",
    );
    let tick = tick
        .replace("\n      ", "\n          ")
        .replacen("      containers", "          containers", 1);
    for version in ["batch/v1", "batch/v1beta1"] {
        let yaml = format!(
            "apiVersion: {version}\nkind: CronJob\nmetadata: {{name: tick, namespace: {NS}}}\nspec:\n  schedule: \"*/1 * * * *\"\n  \
             concurrencyPolicy: Forbid\n  successfulJobsHistoryLimit: 10\n  jobTemplate:\n    spec:\n      template:\n        \
             spec:\n          restartPolicy: Never\n{tick}"
        );
        if testbed
            .kubectl_output(&["apply", "-f", "-"], Some(yaml.as_bytes()))
            .status
            .success()
        {
            return;
        }
    }
    panic!("the cluster serves CronJobs in neither batch/v1 nor batch/v1beta1");
}

fn json(testbed: &Testbed, args: &[&str]) -> Value {
    let args: Vec<&str> = [args, &["-n", NS, "-o", "json"]].concat();
    serde_json::from_slice(&testbed.kubectl(&args)).unwrap()
}

/// Name, labels, controller UID and container states of every pod of the namespace.
struct PodView {
    name: String,
    labels: BTreeMap<String, String>,
    controller: Option<String>,
    phase: String,
}

fn pods(testbed: &Testbed) -> Vec<PodView> {
    json(testbed, &["get", "pods"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pod| PodView {
            name: pod["metadata"]["name"].as_str().unwrap().to_owned(),
            labels: serde_json::from_value(pod["metadata"]["labels"].clone()).unwrap_or_default(),
            controller: controller_uid(&pod["metadata"]),
            phase: pod["status"]["phase"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

fn controller_uid(metadata: &Value) -> Option<String> {
    metadata["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true)
        .and_then(|o| o["uid"].as_str())
        .map(str::to_owned)
}

fn uid(testbed: &Testbed, kind: &str, name: &str) -> String {
    json(testbed, &["get", kind, name])["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// UIDs of the objects of `kind` that `owner` controls.
fn controlled(testbed: &Testbed, kind: &str, owner: &str) -> BTreeSet<String> {
    json(testbed, &["get", kind])["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| controller_uid(&o["metadata"]).as_deref() == Some(owner))
        .map(|o| o["metadata"]["uid"].as_str().unwrap().to_owned())
        .collect()
}

/// `kubectl get pods -l SELECTOR`, as names.
fn by_selector(testbed: &Testbed, selector: &str) -> BTreeSet<String> {
    let names = testbed.kubectl(&[
        "get",
        "pods",
        "-n",
        NS,
        "-l",
        selector,
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    text(&names).split_whitespace().map(str::to_owned).collect()
}

/// The pods of `selector` whose controller is one of `owners`.
fn owned(testbed: &Testbed, selector: &str, owners: &BTreeSet<String>) -> BTreeSet<String> {
    let matching = by_selector(testbed, selector);
    pods(testbed)
        .into_iter()
        .filter(|p| matching.contains(&p.name) && p.controller.as_ref().is_some_and(|c| owners.contains(c)))
        .map(|p| p.name)
        .collect()
}

/// The pods `--dry-run` lists for these selection arguments.
fn selected(testbed: &Testbed, args: &[&str]) -> BTreeSet<String> {
    let output = run(testbed, &[&["export", "-n", NS, "--dry-run"], args].concat());
    assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once(" -> ")?.0.split('/').nth(1).map(str::to_owned))
        .collect()
}

fn wait_running(testbed: &Testbed) {
    testbed.wait_for("the workloads' pods", Duration::from_secs(120), || {
        let pods = pods(testbed);
        let running = |prefix: &str, n: usize| {
            pods.iter()
                .filter(|p| p.name.starts_with(prefix) && p.phase == "Running")
                .count()
                >= n
        };
        running("web-canary-", 1)
            && pods
                .iter()
                .filter(|p| p.labels.get("app").is_some_and(|a| a == "web"))
                .count()
                >= 4
            && running("web-stray", 1)
            && running("db-0", 1)
            && running("db-stray", 1)
            && running("agent-", 1)
            && pods
                .iter()
                .any(|p| p.name.starts_with("once-") && p.phase == "Succeeded")
    });
}

/// `kubectl logs --timestamps` of the pod's only container.
fn logs(testbed: &Testbed, pod: &str) -> String {
    text(&testbed.kubectl(&["logs", "--timestamps", "-n", NS, pod]))
}

/// The one file of `pod` under `dir` (`NS/POD/CONTAINER.log`).
fn file_of(dir: &Path, pod: &str) -> String {
    let pod_dir = dir.join(NS).join(pod);
    let entries: Vec<_> = std::fs::read_dir(&pod_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", pod_dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "one container in {}", pod_dir.display());
    text(&std::fs::read(&entries[0]).unwrap())
}

/// The content of `pod`'s one file under `dir`, if it is there yet.
fn written(dir: &Path, pod: &str) -> Option<String> {
    let mut entries = std::fs::read_dir(dir.join(NS).join(pod)).ok()?;
    let file = entries.next()?.ok()?.path();
    std::fs::read(file).ok().map(|bytes| text(&bytes))
}

fn pods_in(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir.join(NS)) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// SIGTERM: the follow commits and checkpoints, then exits.
fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    child.wait().unwrap()
}

#[test]
#[ignore = "needs the test cluster: scripts/test.sh runs it"]
fn workloads_select_their_pods_and_line_filters_keep_each_matching_line_once() {
    let testbed = Testbed::from_env();
    testbed.fresh_namespace(NS);
    create_cronjob(&testbed);
    let cron_out = tempfile::tempdir().unwrap();
    let follow_log = tempfile::NamedTempFile::new().unwrap();
    // Started before any of its Jobs: every Job it exports starts while it follows.
    let follow = exporter_in(
        &testbed,
        &[
            "follow",
            "-n",
            NS,
            "cj/tick",
            "--sink",
            "file",
            "--dir",
            cron_out.path().to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(follow_log.reopen().unwrap())
    .spawn()
    .unwrap();
    testbed.apply(&workloads());
    wait_running(&testbed);

    line_filter_kill_trials(&testbed);
    let checked = workloads_select_their_own_pods(&testbed);
    eprintln!("workloads: {checked} exported lines equal kubectl logs");
    node_and_state(&testbed);
    cronjob_follow(&testbed, follow, follow_log.path(), cron_out.path());

    testbed.kubectl_output(&["delete", "namespace", NS, "--wait=false"], None);
}

/// SIGKILLed follows of `sts/db` with `--include`, then a run to the end: the file holds
/// exactly the matching lines of `kubectl logs`, each once.
fn line_filter_kill_trials(testbed: &Testbed) {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let args = [
        "-n",
        NS,
        "sts/db",
        "--include",
        "^match",
        "--exclude",
        "^other",
        "--sink",
        "file",
        "--dir",
        dir,
    ];
    let mut rng = KillRng::seeded();
    let (mut kills, mut mid_run) = (0, 0);
    for _ in 0..setting("KLE_E2E_SELECT_KILLS", 4) {
        let mut child = exporter_in(testbed, &[&["follow"], &args[..]].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 + rng.below(2500)));
        if matches!(child.try_wait(), Ok(None)) {
            mid_run += 1;
        }
        kills += 1;
        let _ = child.kill();
        let _ = child.wait();
    }
    let last = format!("{GENERATED}\n");
    testbed.wait_for("the generator's last line", Duration::from_secs(60), || {
        logs(testbed, "db-0").ends_with(&last)
    });
    let output = run(testbed, &[&["export"], &args[..]].concat());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected: String = logs(testbed, "db-0")
        .lines()
        .filter(|l| {
            l.split_once(' ')
                .is_some_and(|(_, message)| message.starts_with("match"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(expected.lines().count(), GENERATED / 3);
    let exported = file_of(out.path(), "db-0");
    assert!(
        exported == expected,
        "the file is not exactly the matching lines:\n{}",
        first_difference(&exported, &expected)
    );
    assert!(
        mid_run > 0,
        "no kill landed while the follow ran: the trial proved nothing"
    );
    eprintln!(
        "line filters: {kills} SIGKILLs ({mid_run} mid-run), {} of {GENERATED} lines kept, each exactly once",
        GENERATED / 3
    );
}

fn first_difference(a: &str, b: &str) -> String {
    let at = a.lines().zip(b.lines()).position(|(x, y)| x != y);
    format!(
        "{} vs {} lines; first difference at line {at:?}: {:?} vs {:?}",
        a.lines().count(),
        b.lines().count(),
        at.and_then(|i| a.lines().nth(i)),
        at.and_then(|i| b.lines().nth(i))
    )
}

/// Each kind's pods equal kubectl's by its selector and ownership (a Service: its selector),
/// though other pods share their labels; the exported lines equal `kubectl logs`.
fn workloads_select_their_own_pods(testbed: &Testbed) -> usize {
    let deployment_sets = controlled(testbed, "replicasets", &uid(testbed, "deployment", "web"));
    let web = owned(testbed, "app=web", &deployment_sets);
    assert_eq!(web.len(), 2, "two replicas: {web:?}");
    let all_web = by_selector(testbed, "app=web");
    assert_eq!(
        all_web.len(),
        4,
        "the canary and the stray pod share the labels: {all_web:?}"
    );
    let replica_set = json(testbed, &["get", "replicasets", "-l", "app=web,!track"])["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let single =
        |kind: &str, name: &str, selector: &str| owned(testbed, selector, &BTreeSet::from([uid(testbed, kind, name)]));
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        ("deployment/web".into(), web.clone()),
        (
            "deploy/web-canary".into(),
            owned(
                testbed,
                "app=web,track=canary",
                &controlled(testbed, "replicasets", &uid(testbed, "deployment", "web-canary")),
            ),
        ),
        (
            format!("rs/{replica_set}"),
            single("replicaset", &replica_set, "app=web"),
        ),
        ("sts/db".into(), single("statefulset", "db", "app=db")),
        ("ds/agent".into(), single("daemonset", "agent", "app=agent")),
        ("job/once".into(), {
            let selector = format!("controller-uid={}", uid(testbed, "job", "once"));
            single("job", "once", &selector)
        }),
        ("svc/web".into(), all_web.clone()),
    ];
    for (reference, expected) in &cases {
        assert!(!expected.is_empty(), "{reference}: kubectl found no pod");
        assert_eq!(&selected(testbed, &[reference]), expected, "{reference}");
    }
    assert!(
        !selected(testbed, &["sts/db"]).contains("db-stray"),
        "ownership keeps the stray pod out"
    );
    // Several workloads: the union, matched here rather than by one server-side selector.
    let union: BTreeSet<String> = web.iter().chain(&cases[3].1).chain(&cases[5].1).cloned().collect();
    assert_eq!(selected(testbed, &["deploy/web", "statefulset/db", "job/once"]), union);

    let out = tempfile::tempdir().unwrap();
    let output = run(
        testbed,
        &[
            "export",
            "-n",
            NS,
            "deploy/web",
            "job/once",
            "ds/agent",
            "--sink",
            "file",
            "--dir",
            out.path().to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected: BTreeSet<String> = web.iter().chain(&cases[4].1).chain(&cases[5].1).cloned().collect();
    assert_eq!(pods_in(out.path()), expected);
    let mut checked = 0;
    for pod in &expected {
        let exported = file_of(out.path(), pod);
        assert_eq!(exported, logs(testbed, pod), "{pod}");
        checked += exported.lines().count();
    }

    let output = run(testbed, &["export", "-n", NS, "deploy/nope"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("deployment/nope: not found"),
        "{}",
        text(&output.stderr)
    );
    checked
}

fn node_and_state(testbed: &Testbed) {
    // The CronJob's pods come and go meanwhile: the check is about the pods that stay.
    let terminated = selected(testbed, &["--container-state", "terminated", "--node", "testnode"]);
    let once = selected(testbed, &["job/once"]);
    assert!(once.is_subset(&terminated), "{once:?} in {terminated:?}");
    let long_running = selected(testbed, &["svc/web", "sts/db", "ds/agent"]);
    assert!(
        terminated.is_disjoint(&long_running),
        "{terminated:?} vs {long_running:?}"
    );
    let running = selected(testbed, &["--container-state", "running", "svc/web"]);
    assert_eq!(running, by_selector(testbed, "app=web"));
    let output = run(testbed, &["export", "-n", NS, "--node", "no-such-node", "--dry-run"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
}

/// The follow started before the CronJob's first Job exported every Job's pod, each equal to
/// `kubectl logs`; a one-shot export of the CronJob afterwards finds the same pods.
fn cronjob_follow(testbed: &Testbed, follow: Child, follow_log: &Path, out: &Path) {
    let schedules = setting("KLE_E2E_CRON_SCHEDULES", 2) as usize;
    let cronjob = uid(testbed, "cronjob", "tick");
    let finished = || -> BTreeSet<String> {
        let jobs = controlled(testbed, "jobs", &cronjob);
        pods(testbed)
            .into_iter()
            .filter(|p| p.phase == "Succeeded" && p.controller.as_ref().is_some_and(|c| jobs.contains(c)))
            .map(|p| p.name)
            .collect()
    };
    testbed.wait_for(
        &format!("{schedules} runs of the CronJob"),
        Duration::from_secs(200),
        || finished().len() >= schedules,
    );
    let done = finished();
    testbed.wait_for(
        "the follow to export the CronJob's pods",
        Duration::from_secs(30),
        || {
            done.iter()
                .all(|pod| written(out, pod).is_some_and(|file| file == logs(testbed, pod)))
        },
    );
    let status = terminate(follow);
    let log = std::fs::read_to_string(follow_log).unwrap_or_default();
    assert!(status.success(), "the follow ended with {status}: {log}");
    let jobs = controlled(testbed, "jobs", &cronjob);
    let theirs: BTreeSet<String> = pods(testbed)
        .into_iter()
        .filter(|p| p.controller.as_ref().is_some_and(|c| jobs.contains(c)))
        .map(|p| p.name)
        .collect();
    let followed = pods_in(out);
    assert!(
        followed.is_subset(&theirs),
        "only the CronJob's pods: {followed:?} vs {theirs:?}"
    );
    for pod in &done {
        assert_eq!(file_of(out, pod), logs(testbed, pod), "{pod}");
    }
    let once = tempfile::tempdir().unwrap();
    let output = run(
        testbed,
        &[
            "export",
            "-n",
            NS,
            "cronjob/tick",
            "--sink",
            "file",
            "--dir",
            once.path().to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        done.is_subset(&pods_in(once.path())),
        "the one-shot export finds every finished Job's pod"
    );
    assert!(pods_in(once.path()).is_subset(&theirs));
    eprintln!(
        "cronjob: {} Job pod(s) followed from before their Job started, each equal to kubectl logs",
        done.len()
    );
}

/// Two kubeconfig contexts on the test cluster as two users (the admin and a ServiceAccount):
/// one run exports both, each cluster's lines under its `{cluster}`, each with its own
/// checkpoint; the ServiceAccount's missing RBAC stops the run before anything is written,
/// naming its cluster; a second run adds nothing; JSON lines and S3 keys carry the cluster.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the test cluster and s3s-fs: scripts/test.sh runs it"]
async fn two_contexts_as_two_users_export_apart_each_with_its_checkpoint() {
    use kle_tests::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
    use kle_tests::testbed::FIXTURES_NAMESPACE as FIXTURES;

    let testbed = Testbed::from_env();
    let sa = "kle-e2e-contexts";
    let forget = || {
        for kind in ["rolebinding", "role", "serviceaccount"] {
            testbed.kubectl_output(&["delete", kind, sa, "-n", FIXTURES, "--ignore-not-found"], None);
        }
    };
    forget();
    testbed.kubectl(&["create", "serviceaccount", sa, "-n", FIXTURES]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = testbed.two_user_kubeconfig(FIXTURES, sa, dir.path());
    let out = dir.path().join("out");
    let both = |extra: &[&str]| {
        let mut command = exporter();
        command
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["export", "--context", "admin", "--context", "reader", "^burst$"])
            .args(extra);
        command
    };
    let to_files = [
        "--sink",
        "file",
        "--dir",
        out.to_str().unwrap(),
        "--layout",
        "{cluster}/{namespace}/{pod}/{container}.log",
    ];

    // The ServiceAccount may not read logs yet: exit 4 for its cluster, nothing written.
    let denied = both(&to_files).output().unwrap();
    let stderr = text(&denied.stderr);
    assert_eq!(denied.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cluster reader: permission denied"), "{stderr}");
    assert!(
        !out.join("admin").exists(),
        "nothing is exported before every cluster is checked"
    );

    let rbac = run(
        &testbed,
        &[
            "rbac",
            "-n",
            FIXTURES,
            "--service-account",
            sa,
            "--sa-namespace",
            FIXTURES,
            "^burst$",
        ],
    );
    assert!(rbac.status.success(), "{}", text(&rbac.stderr));
    testbed.apply(&text(&rbac.stdout));
    let mut exported = None;
    testbed.wait_for("the reader's RBAC to take effect", Duration::from_secs(30), || {
        let output = both(&to_files).output().unwrap();
        let done = output.status.code() != Some(4);
        exported = Some(output);
        done
    });
    let exported = exported.unwrap();
    let stderr = text(&exported.stderr);
    assert!(exported.status.success(), "{stderr}");
    assert!(
        stderr.contains("cluster=admin") && stderr.contains("cluster=reader"),
        "{stderr}"
    );
    let kubectl = testbed.logs(FIXTURES, "burst", "burst", false);
    let file = |cluster: &str| std::fs::read(out.join(cluster).join(FIXTURES).join("burst/burst.log")).unwrap();
    for cluster in ["admin", "reader"] {
        assert!(
            file(cluster) == kubectl,
            "{cluster}: the file differs from kubectl logs --timestamps"
        );
        let checkpoint = out.join(format!(".kube-log-exporter-checkpoint.cluster-{cluster}.json"));
        assert!(checkpoint.is_file(), "{} is missing", checkpoint.display());
    }
    // Each resumes from its own checkpoint: nothing twice.
    let again = both(&to_files).output().unwrap();
    assert!(again.status.success(), "{}", text(&again.stderr));
    for cluster in ["admin", "reader"] {
        assert!(file(cluster) == kubectl, "{cluster}: a second run changed the file");
    }

    // JSON lines say their cluster.
    let json = both(&["-o", "json", "--checkpoint", "none"]).output().unwrap();
    assert!(json.status.success(), "{}", text(&json.stderr));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in text(&json.stdout).lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        *counts
            .entry(record["cluster"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let lines = text(&kubectl).lines().count();
    assert_eq!(
        counts,
        [("admin".to_owned(), lines), ("reader".to_owned(), lines)].into()
    );

    // S3: keys under `{cluster}`, a checkpoint object per cluster.
    let server = S3Server::start();
    server.create_bucket("clusters");
    let endpoint = server.endpoint();
    let template = "{cluster}/{namespace}/{pod}/{container}/{first_ts}-{last_ts}-{lines}-{hash}";
    let to_s3 = [
        "--sink",
        "s3",
        "--s3-url",
        "s3://clusters/archive",
        "--s3-key-template",
        template,
        "--s3-endpoint",
        &endpoint,
        "--s3-allow-http",
    ];
    let s3 = both(&to_s3)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(s3.status.success(), "{}", text(&s3.stderr));
    let objects = server.objects("clusters").await;
    for cluster in ["admin", "reader"] {
        let prefix = format!("archive/{cluster}/{FIXTURES}/burst/burst/");
        let bytes: Vec<u8> = objects
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .flat_map(|(_, bytes)| bytes.clone())
            .collect();
        assert!(
            bytes == kubectl,
            "{cluster}: the objects under {prefix} differ from kubectl logs"
        );
        let checkpoint = format!("archive/.kube-log-exporter-checkpoint.cluster-{cluster}.json");
        assert!(
            objects.contains_key(&checkpoint),
            "{checkpoint} is missing: {:?}",
            objects.keys()
        );
    }
    forget();
}
