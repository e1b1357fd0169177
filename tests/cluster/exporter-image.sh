#!/usr/bin/env bash
# Builds the kube-log-exporter image for the test cluster without a Docker daemon or a
# registry, and imports it into the cluster's containerd. Prints the image ref (last line).
#
#     tests/cluster/exporter-image.sh            # cargo build --release, image, import
#     KLE_EXPORTER_BINARY=path tests/cluster/exporter-image.sh   # use this binary instead
#
# There is no musl target here, so the image holds the glibc release binary plus every
# shared library `ldd` names, at the same paths (the dynamic loader included). The tag is
# the binary's sha256: an unchanged binary is neither re-packed nor re-imported.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

repo=$(cd "$CLUSTER_DIR/../.." && pwd)
binary=${KLE_EXPORTER_BINARY:-}
if [[ -z $binary ]]; then
    (cd "$repo" && cargo build --release --locked -p kle-cli --bin kube-log-exporter >&2)
    binary=$(cd "$repo" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/kube-log-exporter
fi
[[ -x $binary ]] || die 2 "no executable at $binary"

sum=$(sha256sum "$binary" | cut -c1-16)
ref=kle.local/kube-log-exporter:$sum
images=$KLE_CACHE/exporter-images
tar=$images/$sum.tar
[[ -S $CONTAINERD_SOCK ]] || die "no containerd socket at $CONTAINERD_SOCK; run tests/cluster/up.sh first"

if ctr --address "$CONTAINERD_SOCK" --namespace k8s.io images ls -q | grep -qxF "$ref"; then
    log "image $ref already imported"
    printf '%s\n' "$ref"
    exit 0
fi

if [[ ! -f $tar ]]; then
    mkdir -p "$images"
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    # The release profile keeps line tables for backtraces; the image does not need them.
    if command -v strip >/dev/null; then
        strip -o "$rootfs/kube-log-exporter" "$binary"
    else
        install -m 0755 "$binary" "$rootfs/kube-log-exporter"
    fi
    # `ldd` lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the loader
    # "/lib64/ld-linux-x86-64.so.2 (0x...)"; vdso has no file.
    while read -r lib; do
        [[ -n $lib ]] || continue
        install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
    done < <(ldd "$binary" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }')
    mkdir -p "$rootfs/tmp" "$rootfs/etc"
    printf 'root:x:0:0:root:/:/kube-log-exporter\nnobody:x:65534:65534:nobody:/:/kube-log-exporter\n' >"$rootfs/etc/passwd"
    "$CLUSTER_DIR/mkimage.py" "$rootfs" "$ref" "$tar.partial" --entrypoint /kube-log-exporter >&2
    mv "$tar.partial" "$tar"
    log "packed $ref from $binary ($(du -h "$tar" | cut -f1))"
fi
"$CLUSTER_DIR/import-image.sh" "$tar" >/dev/null
printf '%s\n' "$ref"
