#!/usr/bin/env bash
# Import a docker-archive tar (e.g. from mkimage.py) into the test cluster's
# containerd, namespace k8s.io, so pods can use it with imagePullPolicy: Never.
#
#     tests/cluster/import-image.sh /path/to/image.tar
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 1)) || die 2 "usage: $0 <image.tar>"
tar=$1
[[ -f $tar ]] || die 2 "no such file: $tar"
[[ -S $CONTAINERD_SOCK ]] || die "no containerd socket at $CONTAINERD_SOCK; run tests/cluster/up.sh first"
snapshotter=$(cat "$STATE/conf/snapshotter" 2>/dev/null || echo overlayfs)
ctr --address "$CONTAINERD_SOCK" --namespace k8s.io images import \
    --snapshotter "$snapshotter" "$tar" >&2
refs=$(tar -xOf "$tar" manifest.json | python3 -c 'import json,sys; print("\n".join(t for m in json.load(sys.stdin) for t in m.get("RepoTags") or []))')
log "imported: $(echo "$refs" | tr '\n' ' ')"
printf '%s\n' "$refs"
