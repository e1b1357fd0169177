//! The manifests in `deploy/` stay in step with what the exporter generates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use kle_tests::binary::exporter;

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn deploy_rbac_is_what_the_rbac_command_prints() {
    let output = exporter()
        .args([
            "rbac",
            "-A",
            "--follow",
            "--service-account",
            "kube-log-exporter",
            "--sa-namespace",
            "logging",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let generated = String::from_utf8(output.stdout).unwrap();
    let committed = deploy("rbac.yaml");
    let without_header: String = committed
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        without_header, generated,
        "deploy/rbac.yaml is stale: regenerate it with the command in its header"
    );
}

#[test]
fn workloads_run_as_the_service_account_rbac_yaml_grants() {
    for file in ["cronjob-file.yaml", "deployment-file.yaml", "cronjob-s3.yaml"] {
        let manifest = deploy(file);
        assert!(
            manifest.contains("serviceAccountName: kube-log-exporter") && manifest.contains("namespace: logging"),
            "{file}"
        );
    }
}
