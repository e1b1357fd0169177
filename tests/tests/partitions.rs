//! A Hive-partitioned NDJSON archive written by the object sink, read by DuckDB (PyPI
//! `duckdb`, installed by `tests/duckdb/up.sh` into a cached virtual environment): every line
//! is counted once, the partition columns come from the keys, and a partition filter prunes.
//!
//! `#[ignore]`d like the other tests that need a tool from outside Rust; `scripts/test.sh` runs
//! it with `--ignored` and `KLE_DUCKDB_PYTHON`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use futures::TryStreamExt as _;
use jiff::{SignedDuration, Timestamp};
use kle_core::container::PodInfo;
use kle_core::lines::Lines;
use kle_core::{Container, LogBatch, Sink};
use kle_sinks::encode::Format;
use kle_sinks::object::{Compression, ObjectSink};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt as _};

/// The python that imports duckdb: `KLE_DUCKDB_PYTHON`, else the cache `tests/duckdb/up.sh`
/// installs into.
fn python() -> PathBuf {
    kle_tests::process::tool(
        "KLE_DUCKDB_PYTHON",
        "duckdb/venv/bin/python",
        "tests/duckdb/up.sh",
        "partitions",
    )
}

/// DuckDB's answer to `sql` over the NDJSON files under `root`, as JSON rows.
fn duckdb(root: &std::path::Path, sql: &str) -> serde_json::Value {
    let script = r#"
import duckdb, json, sys
root, sql = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"create view logs as select * from read_json_auto('{root}/**/*.ndjson*', hive_partitioning = true, format = 'newline_delimited')")
print(json.dumps([list(map(str, row)) for row in con.execute(sql).fetchall()]))
"#;
    let output = Command::new(python())
        .args(["-c", script])
        .arg(root)
        .arg(sql)
        .output()
        .expect("running python with duckdb");
    assert!(
        output.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn container(pod: &str, name: &str) -> Arc<Container> {
    let pod = PodInfo::new("shop", pod, format!("uid-{pod}")).with_node("node-1");
    Arc::new(Container::new(Arc::new(pod), name))
}

/// `count` lines a minute apart from `start`, as the API sends them.
fn lines(start: Timestamp, count: usize, tag: &str) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let ts = start + SignedDuration::from_mins(i as i64);
            format!("{} {tag} line {i}", ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")).into_bytes()
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs duckdb: scripts/test.sh installs it (tests/duckdb/up.sh) and runs this with --ignored"]
async fn duckdb_reads_the_partitioned_archive_and_counts_every_line_once() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    // Two days, several hours: 23:00 on the 23rd to 00:59 on the 24th, a line a minute.
    let start: Timestamp = "2026-11-23T23:00:00Z".parse().unwrap();
    let containers = [("web-0", "app", 120), ("web-1", "app", 90), ("web-0", "sidecar", 30)];
    for (compression, prefix) in [(Compression::None, "plain"), (Compression::Gzip, "gzip")] {
        let mut sink = ObjectSink::builder(Arc::clone(&store), "logs")
            .with_prefix(prefix)
            .with_key_template(
                "dt={date}/hour={hour}/{namespace}/{pod}/{container}/{first_ts}-{last_ts}-{lines}-{hash}",
            )
            .with_format(Format::Json)
            .with_compression(compression)
            .with_max_object_bytes(2 * 1024)
            .build()
            .unwrap();
        for (pod, name, count) in containers {
            let c = container(pod, name);
            let all = lines(start, count, &format!("{pod}/{name}"));
            for chunk in all.chunks(7) {
                let batch = chunk.iter().fold(Lines::builder(), |b, line| b.full(line)).build();
                sink.write(&LogBatch::new(Arc::clone(&c), batch)).await.unwrap();
            }
        }
        sink.commit().await.unwrap();
    }

    // The bucket as files, where DuckDB reads them.
    let dir = tempfile::tempdir().unwrap();
    let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert!(
        metas.len() > 6,
        "small objects: several per container ({})",
        metas.len()
    );
    for meta in &metas {
        let path = dir.path().join(meta.location.as_ref());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let bytes = store.get(&meta.location).await.unwrap().bytes().await.unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    let total: usize = containers.iter().map(|(_, _, n)| n).sum();
    for prefix in ["plain", "gzip"] {
        let root = dir.path().join(prefix);
        let counted = duckdb(
            &root,
            "select count(*), count(distinct (namespace, pod, container, timestamp, message)) from logs",
        );
        assert_eq!(
            counted,
            serde_json::json!([[total.to_string(), total.to_string()]]),
            "{prefix}"
        );
        // Partition columns from the keys: the first line's date and hour.
        let by_partition = duckdb(
            &root,
            "select dt, hour, count(*) from logs group by all order by dt, hour",
        );
        let partitions: Vec<(String, String)> = by_partition
            .as_array()
            .unwrap()
            .iter()
            .map(|row| (row[0].as_str().unwrap().to_owned(), row[1].as_str().unwrap().to_owned()))
            .collect();
        assert!(
            partitions.contains(&("2026-11-23".into(), "23".into()))
                && partitions.contains(&("2026-11-24".into(), "00".into())),
            "{by_partition}"
        );
        // A partition filter reads only that day's objects; each line is in the partition of its
        // object's first line, so the day's lines are those of objects that started that day.
        let day = duckdb(
            &root,
            "select count(*), min(timestamp) >= '2026-11-24' from logs where dt = '2026-11-24'",
        );
        let rows = day.as_array().unwrap();
        let in_day: usize = rows[0][0].as_str().unwrap().parse().unwrap();
        assert!(in_day > 0 && in_day < total, "{day}");
        assert_eq!(rows[0][1], "True", "objects start in their partition: {day}");
    }
}
