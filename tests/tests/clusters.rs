//! Several clusters in one run (`--context` repeated, `--context-regex`), against two fake API
//! servers named by one kubeconfig: each cluster's lines labelled and kept apart, each with its
//! checkpoint; and the mistakes a user can make, refused before any cluster is contacted. The
//! real cluster's version of this (two contexts, two users) is in e2e_select.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use jiff::Timestamp;
use kle_tests::binary::run_with_kubeconfig as run;
use kle_tests::fake_api::{FakeApiServer, FakeContainer, FakePod, lines, render};

fn start() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fake cluster whose one pod `shop/web-0` logs `count` lines `<word> i`.
async fn cluster(word: &str, count: usize) -> FakeApiServer {
    let server = FakeApiServer::start().await;
    let word = word.to_owned();
    server.add_pod(
        FakePod::new("shop", "web-0")
            .container(FakeContainer::new("app").logs(lines(start(), count, move |i| format!("{word} {i}")))),
    );
    server
}

/// A kubeconfig with one context per server, named as given; the first is current.
fn kubeconfig(path: &Path, clusters: &[(&str, &FakeApiServer)]) {
    let mut yaml = String::from("apiVersion: v1\nkind: Config\npreferences: {}\nclusters:\n");
    for (name, server) in clusters {
        yaml += &format!("- name: {name}\n  cluster:\n    server: {}\n", server.url());
    }
    yaml += "users:\n- name: fake\n  user:\n    token: ";
    yaml += FakeApiServer::TOKEN;
    yaml += "\ncontexts:\n";
    for (name, _) in clusters {
        yaml += &format!("- name: {name}\n  context:\n    cluster: {name}\n    user: fake\n    namespace: shop\n");
    }
    yaml += &format!("current-context: {}\n", clusters[0].0);
    std::fs::write(path, yaml).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_clusters_are_exported_apart_each_with_its_checkpoint() {
    let (prod, staging) = (cluster("prod", 3).await, cluster("staging", 2).await);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubeconfig");
    kubeconfig(&config, &[("prod-eu", &prod), ("staging", &staging)]);
    let out = dir.path().join("out");
    let export = [
        "export",
        "--context",
        "prod-eu",
        "--context",
        "staging",
        "--cluster-name",
        "prod-eu=prod",
        "--sink",
        "file",
        "--dir",
        out.to_str().unwrap(),
        "--layout",
        "{cluster}/{namespace}/{pod}/{container}.log",
    ];
    let output = run(&config, &export).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let prod_log = std::fs::read(out.join("prod/shop/web-0/app.log")).unwrap();
    assert_eq!(prod_log, render(&lines(start(), 3, |i| format!("prod {i}")), true));
    let staging_log = std::fs::read(out.join("staging/shop/web-0/app.log")).unwrap();
    assert_eq!(
        staging_log,
        render(&lines(start(), 2, |i| format!("staging {i}")), true)
    );
    for name in ["prod", "staging"] {
        let checkpoint = out.join(format!(".kube-log-exporter-checkpoint.cluster-{name}.json"));
        assert!(checkpoint.is_file(), "{} is missing", checkpoint.display());
    }
    assert!(!out.join(".kube-log-exporter-checkpoint.json").exists());
    // The exporter's own log says which cluster it speaks of.
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cluster=prod") && stderr.contains("cluster=staging"),
        "{stderr}"
    );

    // Run again with a line more in one cluster: each resumes from its own checkpoint.
    prod.append_log(
        "shop",
        "web-0",
        "app",
        lines(start(), 4, |i| format!("prod {i}")).into_iter().skip(3),
    );
    let output = run(&config, &export).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read(out.join("prod/shop/web-0/app.log")).unwrap(),
        render(&lines(start(), 4, |i| format!("prod {i}")), true)
    );
    assert_eq!(
        std::fs::read(out.join("staging/shop/web-0/app.log")).unwrap(),
        staging_log
    );

    // JSON on standard output: every line says its cluster; --context-regex picks both.
    let output = run(
        &config,
        &[
            "export",
            "--context-regex",
            ".",
            "--cluster-name",
            "prod-eu=prod",
            "-o",
            "json",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut counts = std::collections::BTreeMap::new();
    for line in text(&output.stdout).lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let cluster = record["cluster"].as_str().unwrap().to_owned();
        assert!(record["message"].as_str().unwrap().starts_with(&cluster), "{line}");
        *counts.entry(cluster).or_insert(0) += 1;
    }
    assert_eq!(counts, [("prod".to_owned(), 4), ("staging".to_owned(), 2)].into());
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_mistakes_exit_2_without_contacting_any_cluster() {
    let (a, b) = (cluster("a", 1).await, cluster("b", 1).await);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubeconfig");
    kubeconfig(
        &config,
        &[("a", &a), ("b", &b), ("arn:aws:eks:eu-west-1:1:cluster/c", &b)],
    );
    let both: &[&str] = &["--context", "a", "--context", "b"];
    let s3: &[&str] = &["--sink", "s3", "--s3-url", "s3://logs/k8s"];
    let mistakes: Vec<(Vec<&str>, &str)> = vec![
        (
            [&["export", "--sink", "file", "--dir", "out"], both].concat(),
            "put {cluster} in the file layout",
        ),
        ([&["export"], both, s3].concat(), "put {cluster} in the S3 key template"),
        (vec!["export", "--context-regex", "("], "--context-regex"),
        (vec!["export", "--context-regex", "^zzz"], "no context of"),
        ([&["export", "--cluster-name", "x"], both].concat(), "CONTEXT=NAME"),
        (
            [&["export", "--cluster-name", "a=x", "--cluster-name", "b=x"], both].concat(),
            "both named \"x\"",
        ),
        ([&["export", "--cluster-name", "zz=x"], both].concat(), "does not read"),
        (
            vec![
                "export",
                "--context",
                "arn:aws:eks:eu-west-1:1:cluster/c",
                "--context",
                "a",
            ],
            "--cluster-name 'arn:aws:eks:eu-west-1:1:cluster/c=NAME'",
        ),
        (
            [
                &["follow", "--shards", "2"],
                both,
                s3,
                &[
                    "--s3-key-template",
                    "{cluster}/{pod}/{container}/{first_ts}-{last_ts}-{hash}",
                ],
            ]
            .concat(),
            "one group of replicas per cluster",
        ),
        ([&["check"], both].concat(), "give one --context"),
    ];
    for (args, named) in mistakes {
        let output = run(&config, &args).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} should say {named:?}: {stderr}");
        for server in [&a, &b] {
            assert!(
                server.requests().is_empty(),
                "{args:?} contacted a cluster: {:?}",
                server.requests()
            );
        }
    }
    // A context the kubeconfig lacks is a kubeconfig problem (exit 1, as for one context),
    // found before any cluster is contacted too.
    let output = run(&config, &[&["export", "--context", "nope"], both].concat()).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("context \"nope\" not found"), "{stderr}");
    assert!(a.requests().is_empty() && b.requests().is_empty());
}
