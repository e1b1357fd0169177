#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, unit and fake-API-server
# tests, then the end-to-end tests against a real single-node Kubernetes cluster, which
# tests/cluster/up.sh builds from Debian's packages on first use and caches under ~/.cache.
#
#   scripts/test.sh               everything
#   KLE_SKIP_CLUSTER=1 scripts/test.sh   everything but the real cluster (e2e tests reported as ignored)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "formatting"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit, doc and fake-API-server tests"
cargo test --workspace --locked

if [[ "${KLE_SKIP_CLUSTER:-0}" == 1 ]]; then
  step "KLE_SKIP_CLUSTER=1: end-to-end tests against the real cluster skipped"
  exit 0
fi

step "real cluster (tests/cluster/up.sh)"
kubeconfig=$(tests/cluster/up.sh)
KUBECONFIG="$kubeconfig" tests/cluster/fixtures.sh

step "the exporter's image for in-cluster tests (tests/cluster/exporter-image.sh, from the release binary)"
image=$(tests/cluster/exporter-image.sh | tail -n1)

step "end-to-end tests against the real cluster (e2e*: CLI, exactly-once, in-cluster)"
KLE_E2E_KUBECONFIG="$kubeconfig" KLE_E2E_EXPORTER_IMAGE="$image" \
  cargo test -p kle-tests --locked --test 'e2e*' -- --ignored --test-threads=1
