#!/usr/bin/env bash
# Install (once) Azurite, Microsoft's open-source Azure Storage server (the npm package
# `azurite`), which the object sink's Azure Blob tests run against, and print the absolute path
# of its blob server as the LAST line of stdout:
#
#     KLE_AZURITE=$(tests/azure/up.sh)
#
# Node.js and npm come from Debian (apt-get) when missing; Azurite is installed with npm into
# ~/.cache/kube-log-exporter/azurite, so a second run only checks that it starts. Each test
# starts its own Azurite process on a free port with its own directory (tests/src/azure.rs);
# nothing runs here.
set -euo pipefail

# Callers read only our last stdout line.
exec 3>&1 1>&2

VERSION=${KLE_AZURITE_VERSION:-3.37.0}
ROOT=${KLE_AZURITE_ROOT:-$HOME/.cache/kube-log-exporter/azurite}
BIN=$ROOT/node_modules/.bin/azurite-blob
STAMP=$ROOT/.version

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    command -v apt-get >/dev/null || { echo "node and npm are missing and there is no apt-get: install Node.js (20 or later) and npm" >&2; exit 1; }
    echo "installing Node.js and npm from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
fi

installed() {
    [[ -x $BIN && -f $STAMP && $(cat "$STAMP") == "$VERSION" ]] && "$BIN" --help >/dev/null 2>&1
}

if ! installed; then
    echo "installing azurite $VERSION into $ROOT (about a minute, once)" >&2
    mkdir -p "$ROOT"
    # Azurite declares Node >= 22 but its blob server runs on Debian's Node 20; the engine
    # warnings are expected.
    npm install --prefix "$ROOT" --no-audit --no-fund --loglevel=error "azurite@$VERSION"
    printf '%s\n' "$VERSION" >"$STAMP"
    installed || { echo "azurite was installed but '$BIN --help' fails; delete $ROOT and retry" >&2; exit 1; }
fi

printf '%s\n' "$BIN" >&3
