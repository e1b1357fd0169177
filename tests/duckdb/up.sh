#!/usr/bin/env bash
# Install (once) DuckDB's Python package (PyPI `duckdb`), with which a test reads the object
# sink's NDJSON archive as a Hive-partitioned table, and print the absolute path of a python
# that imports it as the LAST line of stdout:
#
#     KLE_DUCKDB_PYTHON=$(tests/duckdb/up.sh)
#
# Installed into a virtual environment under ~/.cache/kube-log-exporter/duckdb (python3-venv
# from Debian when missing); a second run only checks the import.
set -euo pipefail

exec 3>&1 1>&2

VERSION=${KLE_DUCKDB_VERSION:-1.4.2}
ROOT=${KLE_DUCKDB_ROOT:-$HOME/.cache/kube-log-exporter/duckdb}
PY=$ROOT/venv/bin/python
STAMP=$ROOT/.version

installed() {
    [[ -x $PY && -f $STAMP && $(cat "$STAMP") == "$VERSION" ]] && "$PY" -c 'import duckdb' 2>/dev/null
}

if ! installed; then
    echo "installing duckdb $VERSION into $ROOT (once)" >&2
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
    "$ROOT/venv/bin/pip" install --quiet --disable-pip-version-check "duckdb==$VERSION"
    printf '%s\n' "$VERSION" >"$STAMP"
    installed || { echo "duckdb was installed but does not import; delete $ROOT and retry" >&2; exit 1; }
fi

printf '%s\n' "$PY" >&3
