//! The manifests in `deploy/` stay in step with what the exporter generates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use kle_tests::binary::exporter;

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `file` (after its comment header) is what `rbac` prints with `flags`.
fn assert_generated(file: &str, flags: &[&str]) {
    let output = exporter()
        .arg("rbac")
        .args(flags)
        .args(["--service-account", "kube-log-exporter", "--sa-namespace", "logging"])
        .output()
        .unwrap();
    assert!(output.status.success(), "rbac {flags:?}");
    let generated = String::from_utf8(output.stdout).unwrap();
    let committed = deploy(file);
    let without_header: String = committed
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        without_header, generated,
        "deploy/{file} is stale: regenerate it with the command in its header"
    );
}

#[test]
fn deploy_rbac_is_what_the_rbac_command_prints() {
    assert_generated("rbac.yaml", &["-A", "--follow"]);
    assert_generated("rbac-sharded.yaml", &["-A", "--follow", "--shards", "16"]);
}

#[test]
fn workloads_run_as_the_service_account_rbac_yaml_grants() {
    for file in [
        "cronjob-file.yaml",
        "deployment-file.yaml",
        "cronjob-s3.yaml",
        "deployment-sharded-s3.yaml",
    ] {
        let manifest = deploy(file);
        assert!(
            manifest.contains("serviceAccountName: kube-log-exporter") && manifest.contains("namespace: logging"),
            "{file}"
        );
    }
}

/// The `kle.yaml` of each ConfigMap in `manifest`: the block under `kle.yaml: |`, unindented.
fn embedded_configs(manifest: &str) -> Vec<String> {
    let mut configs = Vec::new();
    let mut lines = manifest.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(indent) = line.find("kle.yaml: |") else {
            continue;
        };
        let body_indent = indent + 2;
        let mut config = String::new();
        while let Some(next) = lines.next_if(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= body_indent) {
            config.push_str(next.get(body_indent..).unwrap_or(""));
            config.push('\n');
        }
        configs.push(config);
    }
    configs
}

#[test]
fn configmap_configs_are_valid_and_used() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["deployment-file.yaml", "cronjob-s3.yaml", "deployment-sharded-s3.yaml"] {
        let manifest = deploy(file);
        let configs = embedded_configs(&manifest);
        assert_eq!(configs.len(), 1, "{file} has one ConfigMap with kle.yaml");
        assert!(manifest.contains("--config=/etc/kube-log-exporter/kle.yaml"), "{file}");
        let path = dir.path().join("kle.yaml");
        std::fs::write(&path, &configs[0]).unwrap();
        let output = exporter()
            .args(["config", "check", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{file}: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            configs[0]
        );
    }
}
