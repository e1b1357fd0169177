#!/usr/bin/env bash
# The project's main job (README): build the exporter and run an export.
#
#   scripts/export.sh [ARGS...]          export with the current kubeconfig (default: all namespaces to out/)
#   scripts/export.sh --local [ARGS...]  bring up the local test cluster and its fixtures first, export from it
#
# ARGS are passed to `kube-log-exporter export`; without any, `-A --sink file --dir out/`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--local" ]]; then
  shift
  KUBECONFIG=$(tests/cluster/up.sh)
  export KUBECONFIG
  tests/cluster/fixtures.sh
fi
if [[ $# -eq 0 ]]; then
  set -- -A --sink file --dir out/
fi
cargo build --release --locked -p kle-cli >&2
# Wherever the target directory is (CARGO_TARGET_DIR included).
exec cargo run --quiet --release --locked -p kle-cli -- export "$@"
