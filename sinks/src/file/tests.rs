use std::fs;

use super::*;
use kle_core::testing::{batch, container, container_in, line, split};

fn read(path: impl AsRef<Path>) -> String {
    String::from_utf8(fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn default_file_equals_the_api_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::builder(dir.path()).build().unwrap();
    let mut input = b"2026-11-23T10:00:00.123456789Z first\n2026-11-23T10:00:01Z ".to_vec();
    input.extend(std::iter::repeat_n(b'z', 200));
    input.extend_from_slice(b"\n2026-11-23T10:00:02Z \xff invalid\n2026-11-23T10:00:03Z unterminated");
    let c = container("web-1", "app");
    let pieces = split(&input, 64);
    for i in 0..pieces.len() {
        sink.write(&batch(&c, pieces.slice(i..i + 1))).await.unwrap();
    }
    sink.close().await.unwrap();
    assert_eq!(fs::read(dir.path().join("shop/web-1/app.log")).unwrap(), input);
    assert_eq!(sink.describe(), format!("file:{}", dir.path().display()));
}

#[tokio::test]
async fn appends_across_sink_instances() {
    let dir = tempfile::tempdir().unwrap();
    let c = container("web-1", "app");
    for (i, message) in ["one", "two"].into_iter().enumerate() {
        let mut sink = FileSink::builder(dir.path()).build().unwrap();
        sink.write(&batch(&c, vec![line(&format!("2026-11-23T10:00:0{i}Z"), message)]))
            .await
            .unwrap();
        sink.close().await.unwrap();
    }
    assert_eq!(
        read(dir.path().join("shop/web-1/app.log")),
        "2026-11-23T10:00:00Z one\n2026-11-23T10:00:01Z two\n"
    );
}

#[tokio::test]
async fn least_recently_used_file_is_closed_and_reopened_for_appending() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::builder(dir.path()).with_max_open_files(2).build().unwrap();
    let containers: Vec<_> = ["a", "b", "c"].iter().map(|pod| container(pod, "app")).collect();
    for round in 0..3 {
        for c in &containers {
            let message = format!("{}-{round}", c.pod_name());
            sink.write(&batch(c, vec![line("2026-11-23T10:00:00Z", &message)]))
                .await
                .unwrap();
            assert!(sink.open_files() <= 2);
        }
    }
    // Evicted files still hold unsynced writes: the commit syncs them and lets them go.
    assert!(!sink.closed_unsynced.is_empty());
    sink.commit().await.unwrap();
    assert!(sink.closed_unsynced.is_empty());
    for pod in ["a", "b", "c"] {
        let expected: String = (0..3)
            .map(|round| format!("2026-11-23T10:00:00Z {pod}-{round}\n"))
            .collect();
        assert_eq!(read(dir.path().join(format!("shop/{pod}/app.log"))), expected);
    }
}

#[tokio::test]
async fn commit_syncs_written_files_and_new_directories_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deep/root");
    let mut sink = FileSink::builder(&root).build().unwrap();
    assert!(
        sink.new_dirs.contains(dir.path()),
        "creating the root changed its parent"
    );
    sink.commit().await.unwrap();
    assert!(sink.new_dirs.is_empty());

    let c = container("web-1", "app");
    sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "x")]))
        .await
        .unwrap();
    let dirty: Vec<_> = sink.files.values().map(|f| f.dirty).collect();
    assert_eq!(dirty, [true]);
    assert!(
        sink.new_dirs.contains(&root),
        "the namespace directory was created in the root"
    );
    assert!(
        sink.new_dirs.contains(&root.join("shop/web-1")),
        "the file was created in the pod directory"
    );
    sink.commit().await.unwrap();
    assert!(sink.files.values().all(|f| !f.dirty) && sink.new_dirs.is_empty());

    // Nothing new: nothing to sync, but still a successful commit.
    sink.commit().await.unwrap();
    // An existing file gets no directory sync.
    sink.write(&batch(&c, vec![line("2026-11-23T10:00:01Z", "y")]))
        .await
        .unwrap();
    assert!(sink.new_dirs.is_empty());
    sink.close().await.unwrap();
    assert_eq!(sink.open_files(), 0);
}

#[test]
fn commit_works_outside_a_tokio_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::builder(dir.path()).build().unwrap();
    let c = container("web-1", "app");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "x")])))
        .unwrap();
    drop(rt);
    // A plain executor: no tokio runtime to run the sync on, so it runs inline.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut commit = sink.commit();
    assert!(matches!(commit.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(()))));
}

#[tokio::test]
async fn nasty_label_values_stay_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut sink = FileSink::builder(&root)
        .with_layout("{label:app}/{namespace}/{pod}.log")
        .build()
        .unwrap();
    for (i, value) in ["../x", "../../etc/passwd", "..", "/abs", "a/../../b", "\0", ""]
        .iter()
        .enumerate()
    {
        let c = container_in("ns", &format!("pod-{i}"), "app", &[("app", value)], None);
        sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", value)]))
            .await
            .unwrap();
    }
    sink.close().await.unwrap();
    let outside: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["root"], "nothing written beside the root");
    let mut top: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, [".._.._etc_passwd", ".._x", "_", "_abs", "a_.._.._b"]);
    assert_eq!(read(root.join(".._x/ns/pod-0.log")), "2026-11-23T10:00:00Z ../x\n");
}

#[tokio::test]
async fn date_is_the_utc_date_of_the_first_line_and_sticks_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::builder(dir.path())
        .with_layout("{date}/{pod}.log")
        .build()
        .unwrap();
    let c = container("web-1", "app");
    sink.write(&batch(&c, vec![line("2026-11-23T23:59:59.9+00:00", "late")]))
        .await
        .unwrap();
    sink.write(&batch(&c, vec![line("2026-11-24T00:00:01Z", "next day")]))
        .await
        .unwrap();
    sink.close().await.unwrap();
    assert_eq!(
        read(dir.path().join("2026-11-23/web-1.log")),
        "2026-11-23T23:59:59.9+00:00 late\n2026-11-24T00:00:01Z next day\n"
    );
}

#[tokio::test]
async fn json_files_and_end_container_releases_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::builder(dir.path())
        .with_layout("{namespace}/{pod}.{container}.ndjson")
        .with_format(Format::Json)
        .build()
        .unwrap();
    let c = container("web-1", "app");
    sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "hi")]))
        .await
        .unwrap();
    sink.end_container(&c).await.unwrap();
    assert_eq!(sink.open_files(), 0);
    assert!(sink.routes.is_empty());
    assert_eq!(sink.closed_unsynced.len(), 1, "still to be synced");
    sink.commit().await.unwrap();
    let text = read(dir.path().join("shop/web-1.app.ndjson"));
    let value: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(value["message"], "hi");
    assert_eq!(value["pod"], "web-1");
}

#[tokio::test]
async fn build_refuses_bad_layouts_and_unusable_directories() {
    let dir = tempfile::tempdir().unwrap();
    let err = FileSink::builder(dir.path())
        .with_layout("{namespace}/../{pod}")
        .build()
        .unwrap_err();
    assert!(matches!(err, SinkError::InvalidLayout { .. }), "{err}");
    let err = FileSink::builder(dir.path())
        .with_layout("{namespace}/{uid}.log")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("{uid}"), "{err}");

    let blocker = dir.path().join("a-file");
    fs::write(&blocker, b"").unwrap();
    let err = FileSink::builder(blocker.join("logs")).build().unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_full_disk_names_the_file_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let pod_dir = dir.path().join("shop/web-1");
    fs::create_dir_all(&pod_dir).unwrap();
    // /dev/full fails every write with ENOSPC, like a full disk.
    std::os::unix::fs::symlink("/dev/full", pod_dir.join("app.log")).unwrap();
    let mut sink = FileSink::builder(dir.path()).build().unwrap();
    let c = container("web-1", "app");
    let err = sink
        .write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "x")]))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::DiskFull { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("no space left") && message.contains("shop/web-1/app.log"),
        "{message}"
    );
}

/// A crash after lines were written (even synced) but before the checkpoint recorded them:
/// the next run cuts them off, then writes them again, so each line is there once.
#[tokio::test]
async fn restore_cuts_off_what_was_written_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("old")).unwrap();
    fs::write(dir.path().join("old/earlier.log"), b"from an earlier export\n").unwrap();
    let c = container("web-1", "app");

    let mut first = FileSink::builder(dir.path()).build().unwrap();
    first.restore(None).await.unwrap();
    first
        .write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "one")]))
        .await
        .unwrap();
    first.commit().await.unwrap();
    let state = first.committed_state().expect("a checkpointed sink has state");
    // Written and even synced, but the run dies before saving a checkpoint with it.
    first
        .write(&batch(&c, vec![line("2026-11-23T10:00:01Z", "two")]))
        .await
        .unwrap();
    first.commit().await.unwrap();
    let other = container("web-2", "app");
    first
        .write(&batch(&other, vec![line("2026-11-23T10:00:01Z", "new file")]))
        .await
        .unwrap();
    first.commit().await.unwrap();
    drop(first);

    let mut second = FileSink::builder(dir.path()).build().unwrap();
    second.restore(Some(&state)).await.unwrap();
    second
        .write(&batch(&c, vec![line("2026-11-23T10:00:01Z", "two")]))
        .await
        .unwrap();
    second
        .write(&batch(&other, vec![line("2026-11-23T10:00:01Z", "new file")]))
        .await
        .unwrap();
    second.close().await.unwrap();

    assert_eq!(
        read(dir.path().join("shop/web-1/app.log")),
        "2026-11-23T10:00:00Z one\n2026-11-23T10:00:01Z two\n"
    );
    assert_eq!(
        read(dir.path().join("shop/web-2/app.log")),
        "2026-11-23T10:00:01Z new file\n"
    );
    assert_eq!(
        read(dir.path().join("old/earlier.log")),
        "from an earlier export\n",
        "baseline kept"
    );
    let files = &second.committed_state().unwrap()["files"];
    assert_eq!(files["shop/web-1/app.log"], 50);
    assert_eq!(files["old/earlier.log"], 23);
}

/// A file evicted from the open set and reopened in the same run is not cut again.
#[tokio::test]
async fn restore_cuts_a_file_once_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::builder(dir.path()).with_max_open_files(1).build().unwrap();
    sink.restore(None).await.unwrap();
    let a = container("a", "app");
    let b = container("b", "app");
    for i in 0..3 {
        sink.write(&batch(&a, vec![line("2026-11-23T10:00:00Z", &format!("a{i}"))]))
            .await
            .unwrap();
        sink.write(&batch(&b, vec![line("2026-11-23T10:00:00Z", &format!("b{i}"))]))
            .await
            .unwrap();
    }
    sink.close().await.unwrap();
    assert_eq!(read(dir.path().join("shop/a/app.log")).lines().count(), 3);
    assert_eq!(read(dir.path().join("shop/b/app.log")).lines().count(), 3);
}

#[tokio::test]
async fn gaps_are_marked_in_the_container_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::builder(dir.path()).build().unwrap();
    let c = container("web-1", "app");
    sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", "before")]))
        .await
        .unwrap();
    let gap = kle_core::Gap {
        container: Arc::clone(&c),
        reason: kle_core::GapReason::Rotated,
        after: None,
        until: Some("2026-11-23T10:05:00Z".parse().unwrap()),
    };
    sink.gap(&gap).await.unwrap();
    sink.close().await.unwrap();
    let text = read(dir.path().join("shop/web-1/app.log"));
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].starts_with(
            "2026-11-23T10:05:00.000000000Z [kube-log-exporter] GAP: shop/web-1/app: lines were rotated away"
        ),
        "{text}"
    );
}

/// The same pod name and container name as `c`, in a pod recreated under another UID (a
/// StatefulSet's `web-0` after a rollout).
fn recreated(c: &Arc<Container>, uid: &str) -> Arc<Container> {
    let mut pod = (*c.pod).clone();
    pod.uid = uid.into();
    let mut container = (**c).clone();
    container.pod = Arc::new(pod);
    Arc::new(container)
}

fn state_files(sink: &FileSink) -> serde_json::Value {
    sink.committed_state().expect("a checkpointed sink has state")["files"].clone()
}

/// A follow that sees many short-lived pods come and go: with each one retired after its
/// last commit, the checkpoint state and the journal hold the live containers only.
#[tokio::test]
async fn retired_containers_leave_the_state_so_it_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::builder(dir.path()).build().unwrap();
    sink.restore(None).await.unwrap();
    let live: Vec<_> = ["api-0", "api-1"].iter().map(|pod| container(pod, "app")).collect();
    for i in 0..100 {
        let job = container(&format!("job-{i}"), "app");
        sink.write(&batch(&job, vec![line("2026-11-23T10:00:00Z", &format!("run {i}"))]))
            .await
            .unwrap();
        for c in &live {
            sink.write(&batch(c, vec![line("2026-11-23T10:00:00Z", &format!("tick {i}"))]))
                .await
                .unwrap();
        }
        sink.commit().await.unwrap();
        sink.end_container(&job).await.unwrap();
        sink.retire(&job.key()).await.unwrap();
        sink.commit().await.unwrap();
        let state = sink.committed_state().unwrap();
        assert!(state["files"].as_object().unwrap().len() <= live.len(), "{state}");
        assert!(state["writers"].as_object().unwrap().len() <= live.len(), "{state}");
        assert!(sink.journal.len() <= live.len());
        assert!(sink.lengths.len() <= live.len() && sink.checked.len() <= live.len());
    }
    assert_eq!(
        state_files(&sink).as_object().unwrap().keys().collect::<Vec<_>>(),
        ["shop/api-0/app.log", "shop/api-1/app.log"]
    );
    let journal = fs::read_to_string(dir.path().join(crate::file::state::JOURNAL_FILE)).unwrap();
    assert_eq!(journal.lines().count(), live.len(), "{journal}");
    // The finished files themselves are all there, whole.
    assert_eq!(
        read(dir.path().join("shop/job-99/app.log")),
        "2026-11-23T10:00:00Z run 99\n"
    );
    assert_eq!(read(dir.path().join("shop/api-0/app.log")).lines().count(), 100);
}

/// A retired file, absent from the state, is left whole by a later run, even when a pod of
/// the same name writes to it again, and whatever its modification time says.
#[tokio::test]
async fn a_retired_file_is_never_cut_back_when_its_path_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop/web-0/app.log");
    let old = container("web-0", "app");

    let mut first = FileSink::builder(dir.path()).build().unwrap();
    first.restore(None).await.unwrap();
    first
        .write(&batch(&old, vec![line("2026-11-23T10:00:00Z", "old pod")]))
        .await
        .unwrap();
    first.commit().await.unwrap();
    first.end_container(&old).await.unwrap();
    first.retire(&old.key()).await.unwrap();
    first.commit().await.unwrap();
    let state = first.committed_state().unwrap();
    assert_eq!(state["files"], serde_json::json!({}), "{state}");
    drop(first);

    // Modified "after" the checkpoint as far as its clock goes: no matter.
    let future = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    File::options()
        .append(true)
        .open(&file)
        .unwrap()
        .set_modified(future)
        .unwrap();

    let new = recreated(&old, "uid-new");
    let mut second = FileSink::builder(dir.path()).build().unwrap();
    second.restore(Some(&state)).await.unwrap();
    second
        .write(&batch(&new, vec![line("2026-11-23T11:00:00Z", "new pod")]))
        .await
        .unwrap();
    second.commit().await.unwrap();
    assert_eq!(
        read(&file),
        "2026-11-23T10:00:00Z old pod\n2026-11-23T11:00:00Z new pod\n"
    );
    assert_eq!(state_files(&second)["shop/web-0/app.log"], 58);
}

/// The new pod writes to the retired file and the run dies before its next checkpoint: the
/// next run cuts the file back to the old pod's lines (the journal's length), not to nothing,
/// and writes the new pod's lines once.
#[tokio::test]
async fn a_crash_after_a_retired_file_was_written_again_cuts_back_to_its_finished_length() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop/web-0/app.log");
    let old = container("web-0", "app");
    let new = recreated(&old, "uid-new");

    let mut first = FileSink::builder(dir.path()).build().unwrap();
    first.restore(None).await.unwrap();
    first
        .write(&batch(&old, vec![line("2026-11-23T10:00:00Z", "old pod")]))
        .await
        .unwrap();
    first.commit().await.unwrap();
    first.retire(&old.key()).await.unwrap();
    first.commit().await.unwrap();
    let state = first.committed_state().unwrap();
    // Written and synced; the checkpoint holding it is never saved.
    first
        .write(&batch(&new, vec![line("2026-11-23T11:00:00Z", "new pod")]))
        .await
        .unwrap();
    first.commit().await.unwrap();
    drop(first);

    let mut second = FileSink::builder(dir.path()).build().unwrap();
    second.restore(Some(&state)).await.unwrap();
    second
        .write(&batch(&new, vec![line("2026-11-23T11:00:00Z", "new pod")]))
        .await
        .unwrap();
    second.close().await.unwrap();
    assert_eq!(
        read(&file),
        "2026-11-23T10:00:00Z old pod\n2026-11-23T11:00:00Z new pod\n"
    );
}

/// Retirements do not change what happens to a file a crashed run created after its last
/// checkpoint: it is still cut back to nothing, and the resumed lines are written once.
#[tokio::test]
async fn a_file_created_after_the_checkpoint_is_still_cut_back_after_retirements() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = FileSink::builder(dir.path()).build().unwrap();
    first.restore(None).await.unwrap();
    for pod in ["job-1", "job-2"] {
        let job = container(pod, "app");
        first
            .write(&batch(&job, vec![line("2026-11-23T10:00:00Z", pod)]))
            .await
            .unwrap();
        first.commit().await.unwrap();
        first.retire(&job.key()).await.unwrap();
    }
    first.commit().await.unwrap();
    let state = first.committed_state().unwrap();
    let late = container("job-3", "app");
    first
        .write(&batch(&late, vec![line("2026-11-23T10:00:01Z", "late")]))
        .await
        .unwrap();
    first.commit().await.unwrap();
    drop(first);

    let mut second = FileSink::builder(dir.path()).build().unwrap();
    second.restore(Some(&state)).await.unwrap();
    second
        .write(&batch(&late, vec![line("2026-11-23T10:00:01Z", "late")]))
        .await
        .unwrap();
    second.close().await.unwrap();
    assert_eq!(
        read(dir.path().join("shop/job-3/app.log")),
        "2026-11-23T10:00:01Z late\n"
    );
    assert_eq!(
        read(dir.path().join("shop/job-1/app.log")),
        "2026-11-23T10:00:00Z job-1\n"
    );
}

/// A file two instances write (one file per pod) is kept until both are retired; an
/// instance written only by an earlier run is retired from the state that run saved.
#[tokio::test]
async fn a_shared_file_is_kept_until_its_last_writer_is_retired_even_in_a_later_run() {
    let dir = tempfile::tempdir().unwrap();
    let layout = "{namespace}/{pod}.log";
    let a = container("web-0", "a");
    let b = container("web-0", "b");
    let mut first = FileSink::builder(dir.path()).with_layout(layout).build().unwrap();
    first.restore(None).await.unwrap();
    for c in [&a, &b] {
        first
            .write(&batch(c, vec![line("2026-11-23T10:00:00Z", &c.name)]))
            .await
            .unwrap();
    }
    first.commit().await.unwrap();
    first.retire(&a.key()).await.unwrap();
    first.commit().await.unwrap();
    assert_eq!(state_files(&first)["shop/web-0.log"], 46, "b still writes it");
    let state = first.committed_state().unwrap();
    drop(first);

    let mut second = FileSink::builder(dir.path()).with_layout(layout).build().unwrap();
    second.restore(Some(&state)).await.unwrap();
    second.retire(&b.key()).await.unwrap();
    second.commit().await.unwrap();
    let state = second.committed_state().unwrap();
    assert_eq!(state["files"], serde_json::json!({}), "{state}");
    assert!(state.get("writers").is_none(), "{state}");
    assert_eq!(read(dir.path().join("shop/web-0.log")).lines().count(), 2);
}

/// Two clusters' sinks under one directory: `{cluster}` keeps their files apart, each line
/// says its cluster, and each keeps its own journal and checkpoint beside the files.
#[tokio::test]
async fn clusters_share_a_directory_through_cluster_in_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let layout = "{cluster}/{namespace}/{pod}/{container}.ndjson";
    let c = container("web-1", "app");
    for cluster in ["prod", "staging"] {
        let mut sink = FileSink::builder(dir.path())
            .with_layout(layout)
            .with_format(Format::Json)
            .with_cluster(Some(cluster))
            .build()
            .unwrap();
        // A checkpointed run (its first), which keeps the journal.
        sink.restore(None).await.unwrap();
        sink.write(&batch(&c, vec![line("2026-11-23T10:00:00Z", cluster)]))
            .await
            .unwrap();
        sink.commit().await.unwrap();
        let journal = dir
            .path()
            .join(format!(".kube-log-exporter-file-lengths.cluster-{cluster}.journal"));
        assert!(journal.exists(), "{} is missing", journal.display());
    }
    for cluster in ["prod", "staging"] {
        let text = read(dir.path().join(cluster).join("shop/web-1/app.ndjson"));
        assert!(
            text.starts_with(&format!(
                "{{\"timestamp\":\"2026-11-23T10:00:00Z\",\"cluster\":\"{cluster}\","
            )),
            "{text}"
        );
        assert!(text.contains(&format!("\"message\":\"{cluster}\"")), "{text}");
    }
    assert!(!dir.path().join(crate::file::state::JOURNAL_FILE).exists());

    let config = crate::file::FileConfig::new(dir.path()).with_layout(layout);
    let own = |config: &crate::file::FileConfig| config.own_file(kle_core::checkpoint::CHECKPOINT_FILE);
    assert_eq!(own(&config), dir.path().join(".kube-log-exporter-checkpoint.json"));
    let mut prod = config.clone();
    prod.cluster = Some("prod".into());
    assert_eq!(
        own(&prod),
        dir.path().join(".kube-log-exporter-checkpoint.cluster-prod.json")
    );
    // A layout that does not split by cluster keeps the one checkpoint it always had.
    let mut unsplit = crate::file::FileConfig::new(dir.path());
    unsplit.cluster = Some("prod".into());
    assert_eq!(own(&unsplit), dir.path().join(".kube-log-exporter-checkpoint.json"));
}
