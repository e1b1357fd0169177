#!/usr/bin/env bash
# Install (once) the local S3 server the S3 sink's tests run against, and print the absolute
# path of its binary as the LAST line of stdout:
#
#     KLE_S3S_FS=$(tests/s3/up.sh)
#
# The server is s3s-fs (crates.io): an S3 API over a directory that checks SigV4 signatures and
# the 5 MiB multipart minimum, like AWS. Building it takes about 3 min on 2 shared cores, so the
# binary is cached under ~/.cache/kube-log-exporter/s3s-fs; a second run only checks it starts.
# Each test starts its own server process on a free port (tests/src/s3.rs); nothing runs here.
set -euo pipefail

# Callers read only our last stdout line.
exec 3>&1 1>&2

VERSION=${KLE_S3S_FS_VERSION:-0.14.1}
ROOT=${KLE_S3S_FS_ROOT:-$HOME/.cache/kube-log-exporter/s3s-fs}
BIN=$ROOT/bin/s3s-fs
STAMP=$ROOT/.version

installed() {
    [[ -x $BIN && -f $STAMP && $(cat "$STAMP") == "$VERSION" ]] && "$BIN" --help >/dev/null 2>&1
}

if ! installed; then
    command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup.rs) first" >&2; exit 1; }
    echo "installing s3s-fs $VERSION into $ROOT (about 3 min, once)" >&2
    started=$(date +%s)
    # --locked: the versions s3s-fs was released with, which build on this project's rustc.
    cargo install "s3s-fs@$VERSION" --features binary --locked --root "$ROOT" --force
    printf '%s\n' "$VERSION" >"$STAMP"
    echo "s3s-fs installed in $(( $(date +%s) - started )) s" >&2
    installed || { echo "s3s-fs was installed but '$BIN --help' fails; delete $ROOT and retry" >&2; exit 1; }
fi

printf '%s\n' "$BIN" >&3
