#!/usr/bin/env bash
# Bring up (or repair) the single-node Kubernetes test cluster and print the
# absolute path of its admin kubeconfig as the LAST line of stdout:
#
#     KUBECONFIG=$(tests/cluster/up.sh)
#
# Everything else goes to stderr. Idempotent: a healthy cluster answers in
# about a second; dead components are restarted; a cold machine installs the
# Debian packages, builds Kubernetes 1.20.2 from Debian's source package once
# (5-8 min on 2 shared cores) and caches the binaries outside the state dir.
set -euo pipefail

# Callers read only our last stdout line: keep the real stdout on fd 3 and
# send everything else, including child processes, to stderr.
exec 3>&1 1>&2

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(golang-go etcd-server containerd runc containernetworking-plugins busybox-static
    rsync jq openssl gcc libc6-dev make python3 curl util-linux iproute2 mount)
WAIT_NODE_SECONDS=${KLE_WAIT_NODE_SECONDS:-180}

usage() {
    cat <<EOF
usage: $0 [--help]
Starts the kube-log-exporter test cluster; prints the admin kubeconfig path last on stdout.
Env: KLE_TESTBED_DIR (state, default $STATE), KLE_K8S_BIN_DIR (built binaries, default $K8S_BIN).
EOF
}

# ---------------------------------------------------------------- health

cluster_healthy() {
    local c
    [[ -s $ADMIN_KUBECONFIG ]] || return 1
    for c in "${COMPONENTS[@]}"; do component_running "$c" || return 1; done
    apiserver_ready && node_ready && { ((EUID != 0)) || images_present; }
}

# The kubelet deletes unused images under disk pressure, the locally imported ones included,
# and nothing can pull them back: their absence needs the repair path (which imports them).
images_present() {
    local refs
    refs=$(ctr_k8s images ls -q 2>/dev/null) || return 1
    grep -qxF "$PAUSE_IMAGE" <<<"$refs" && grep -qxF "$BUSYBOX_IMAGE" <<<"$refs"
}

# GET an API path as the admin, with curl: much faster than kubectl for health checks.
api_get() {
    curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
        "$APISERVER_URL$1"
}

apiserver_ready() { [[ $(api_get /readyz 2>/dev/null) == ok ]]; }

# Ready, and (after a kubelet start) reported by the new kubelet, not left over in etcd.
KUBELET_STARTED_EPOCH=0
node_ready() {
    [[ $(api_get "/api/v1/nodes/$NODE_NAME" 2>/dev/null | jq -r --argjson since "$KUBELET_STARTED_EPOCH" \
        '.status.conditions[]? | select(.type == "Ready")
         | (.status == "True" and (.lastHeartbeatTime | fromdateiso8601) >= $since)') == true ]]
}

finish() {
    printf '%s\n' "$ADMIN_KUBECONFIG" >&3
    exit 0
}

# ---------------------------------------------------------------- host setup

missing_packages() {
    local p missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ! command -v kubectl >/dev/null && [[ -z ${KLE_KUBECTL-} ]]; then
        missing+=(kubernetes-client)
    fi
    # An empty array would still print one empty line, read back as a package named "".
    ((${#missing[@]} == 0)) || printf '%s\n' "${missing[@]}"
}

apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null
}

ensure_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]})) || return 0
    log "installing Debian packages: ${missing[*]}"
    # Packages such as etcd-server and containerd would start system-wide
    # daemons that collide with ours (port 2379); forbid service starts while
    # installing, the Debian way.
    local policy=/usr/sbin/policy-rc.d created_policy=
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    apt_get update || log "apt-get update failed; trying the install with the lists we have"
    if ! apt_get install --no-install-recommends "${missing[@]}"; then
        [[ -n $created_policy ]] && rm -f "$policy"
        die "apt-get install failed for: ${missing[*]}"
    fi
    [[ -n $created_policy ]] && rm -f "$policy"
    return 0
}

ensure_hosts_entry() {
    # The kubelet refuses a loopback --node-ip; the API server reaches it by
    # hostname instead, so the node name must resolve to 127.0.0.1.
    if ! grep -Eq "^127\.0\.0\.1([[:space:]].*)?[[:space:]]$NODE_NAME([[:space:]]|\$)" /etc/hosts; then
        log "adding '127.0.0.1 $NODE_NAME' to /etc/hosts"
        printf '127.0.0.1 %s\n' "$NODE_NAME" >>/etc/hosts
    fi
}

# ---------------------------------------------------------------- kubernetes build

K8S_BINARIES=(kube-apiserver kubelet kube-controller-manager kube-scheduler)

binaries_cached() {
    local b
    [[ -f $K8S_BIN/.complete ]] || return 1
    # Binaries built before a vendor patch was added are rebuilt.
    grep -qx "$REFLECT2_PATCH" "$K8S_BIN/.patches" 2>/dev/null || return 1
    for b in "${K8S_BINARIES[@]}" pause; do [[ -x $K8S_BIN/$b ]] || return 1; done
}

ensure_deb_src() {
    if apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then return 0; fi
    local list=/etc/apt/sources.list.d/kle-debian-src.sources uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
        | grep -v -e security -e '^$' | head -n1) || true
    [[ -n $uri ]] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null) || true
    [[ -n $uri ]] || uri=http://deb.debian.org/debian
    log "adding a deb-src entry for bookworm main ($uri) in $list"
    cat >"$list" <<EOF
Types: deb-src
URIs: $uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_get update
    apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes' \
        || die "the 'kubernetes' source package is still unknown to apt after adding $list"
}

# Kubernetes 1.20 vendors modern-go/reflect2 v1.0.1, written for Go < 1.18. Go 1.18 changed
# reflect.mapiterinit to fill a caller-allocated iterator, so with Debian's Go 1.19 every map
# that json-iterator encodes makes the runtime write through a garbage pointer: the apiserver
# dies with "fatal error: fault" in mapiternext within seconds. Apply reflect2 v1.0.2's fix.
REFLECT2_PATCH=reflect2-mapiterinit-go1.18
patch_vendor() {
    local dir=$1/vendor/github.com/modern-go/reflect2
    python3 - "$dir" <<'EOF'
import pathlib, sys
d = pathlib.Path(sys.argv[1])
link = d / "unsafe_link.go"
s = link.read_text()
old_hiter = s[s.index("type hiter struct {"):]
old_hiter = old_hiter[:old_hiter.index("\n}\n") + 3]
s = s.replace(old_hiter, """type hiter struct {
	key         unsafe.Pointer
	value       unsafe.Pointer
	t           unsafe.Pointer
	h           unsafe.Pointer
	buckets     unsafe.Pointer
	bptr        unsafe.Pointer
	overflow    *[]unsafe.Pointer
	oldoverflow *[]unsafe.Pointer
	startBucket uintptr
	offset      uint8
	wrapped     bool
	B           uint8
	i           uint8
	bucket      uintptr
	checkBucket uintptr
}
""")
old_decl = "func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) *hiter"
assert old_decl in s, "reflect2 is not the expected v1.0.1"
s = s.replace(old_decl, "func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it *hiter)")
link.write_text(s)
m = d / "unsafe_map.go"
s = m.read_text()
old_iter = "\t\thiter:      mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj)),\n"
assert old_iter in s
s = s.replace("\treturn &UnsafeMapIterator{\n" + old_iter,
    "\tvar it hiter\n\tmapiterinit(type2.rtype, *(*unsafe.Pointer)(obj), &it)\n\treturn &UnsafeMapIterator{\n\t\thiter:      &it,\n")
m.write_text(s)
EOF
}

# Sets K8S_TREE to the extracted upstream tree (orig tarball = upstream v1.20.2 with vendor/).
ensure_k8s_source() {
    local dl=$K8S_SRC_CACHE/download tree=$K8S_SRC_CACHE/kubernetes-$K8S_VERSION orig
    K8S_TREE=$tree
    if [[ -f $tree/.extracted ]]; then return 0; fi
    mkdir -p "$dl"
    orig=$(find "$dl" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -n1)
    if [[ -z $orig ]]; then
        ensure_deb_src
        log "downloading the Debian source package 'kubernetes' into $dl"
        (cd "$dl" && apt_get source --download-only kubernetes) >&2
        orig=$(find "$dl" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -n1)
        [[ -n $orig ]] || die "apt-get source left no kubernetes_*.orig.tar.* in $dl"
    fi
    log "extracting $(basename "$orig")"
    rm -rf "$tree" "$tree.tmp"
    mkdir -p "$tree.tmp"
    tar -xf "$orig" -C "$tree.tmp" --strip-components=1
    [[ -d $tree.tmp/vendor && -f $tree.tmp/build/pause/linux/pause.c ]] \
        || die "$orig does not look like the upstream Kubernetes tree with vendor/"
    patch_vendor "$tree.tmp" || die "patching the vendored reflect2 for Go >= 1.18 failed"
    mv "$tree.tmp" "$tree"
    touch "$tree/.extracted"
}

build_k8s() {
    local tree out b started
    ensure_k8s_source
    tree=$K8S_TREE
    started=$SECONDS
    local buildlog=$KLE_CACHE/k8s-build.log
    log "building Kubernetes $K8S_VERSION (${K8S_BINARIES[*]}); takes 5-8 min on 2 cores; log: $buildlog"
    # No .git in the tarball: pin the version the binaries report.
    cat >"$tree/.kle-version" <<EOF
KUBE_GIT_COMMIT='faecb196815e248d3ecfb03c680a4507229c2a56'
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_VERSION='v$K8S_VERSION'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
EOF
    local what="cmd/kube-apiserver cmd/kubelet cmd/kube-controller-manager cmd/kube-scheduler"
    run_make() {
        (cd "$tree" && KUBE_GIT_VERSION_FILE="$tree/.kle-version" CGO_ENABLED=0 \
            make WHAT="$what") >>"$buildlog" 2>&1
    }
    : >"$buildlog"
    if ! run_make; then
        # A generator binary left broken by an earlier interrupted run makes
        # every later make fail; start over from a clean _output once.
        log "make failed; retrying once from a clean _output (see $buildlog)"
        rm -rf "$tree/_output"
        run_make || { tail -n 40 "$buildlog" >&2; die "Kubernetes build failed; full log: $buildlog"; }
    fi
    out=$tree/_output/local/bin/linux/amd64
    mkdir -p "$K8S_BIN.tmp"
    for b in "${K8S_BINARIES[@]}"; do cp "$out/$b" "$K8S_BIN.tmp/$b"; done
    # The sandbox ("pause") image's binary, from the same tree.
    gcc -Os -static -DVERSION="v3.2-kle" -o "$K8S_BIN.tmp/pause" "$tree/build/pause/linux/pause.c"
    strip "$K8S_BIN.tmp/pause" 2>/dev/null || true
    rm -rf "$K8S_BIN"
    mv "$K8S_BIN.tmp" "$K8S_BIN"
    echo "$REFLECT2_PATCH" >"$K8S_BIN/.patches"
    "$K8S_BIN/kube-apiserver" --version >"$K8S_BIN/.complete"
    log "built in $((SECONDS - started))s: $(cat "$K8S_BIN/.complete") -> $K8S_BIN"
    # The tree with _output is ~2 GB; the orig tarball stays for rebuilds.
    rm -rf "$tree"
}

ensure_binaries() {
    binaries_cached && return 0
    command -v rsync >/dev/null || die "rsync must be installed before the first make (see testbed notes)"
    build_k8s
}

# ---------------------------------------------------------------- PKI and config

# issue_cert <name> <subject> <extendedKeyUsage> [subjectAltName]
issue_cert() {
    local name=$1 subj=$2 eku=$3 san=${4-} ext
    [[ -s $PKI/$name.crt && -s $PKI/$name.key ]] && return 0
    ext=$(mktemp)
    {
        echo 'basicConstraints=critical,CA:FALSE'
        echo 'keyUsage=critical,digitalSignature,keyEncipherment'
        echo "extendedKeyUsage=$eku"
        [[ -n $san ]] && echo "subjectAltName=$san"
    } >"$ext"
    openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
    openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$ext" "$PKI/$name.csr"
}

ensure_pki() {
    mkdir -p "$PKI"
    chmod 700 "$PKI"
    if [[ ! -s $PKI/ca.crt || ! -s $PKI/ca.key ]]; then
        log "generating the cluster PKI in $PKI"
        openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
        openssl req -x509 -new -key "$PKI/ca.key" -subj '/CN=kle-testbed-ca' -days 3650 -sha256 \
            -addext 'basicConstraints=critical,CA:TRUE' \
            -addext 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign' \
            -out "$PKI/ca.crt" 2>/dev/null
    fi
    issue_cert apiserver '/CN=kube-apiserver' serverAuth \
        'IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local'
    issue_cert admin '/O=system:masters/CN=kle-admin' clientAuth
    issue_cert apiserver-kubelet-client '/O=system:masters/CN=kube-apiserver-kubelet-client' clientAuth
    issue_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
    issue_cert kubelet-server "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,IP:127.0.0.1"
    if [[ ! -s $PKI/sa.key || ! -s $PKI/sa.pub ]]; then
        openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
        openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    fi
    chmod 600 "$PKI"/*.key
}

# write_kubeconfig <file> <cert name>: self-contained (embedded certs) so any client can use it.
write_kubeconfig() {
    local file=$1 cert=$2 tmp
    tmp=$(mktemp "$file.XXXXXX")
    cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kle-testbed
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$cert.crt")
    client-key-data: $(base64 -w0 <"$PKI/$cert.key")
contexts:
- name: kle-testbed
  context:
    cluster: kle-testbed
    user: $cert
current-context: kle-testbed
EOF
    chmod 600 "$tmp"
    mv "$tmp" "$file"
}

choose_snapshotter() {
    # overlayfs cannot stack on overlayfs (e.g. when the state dir is itself in a container).
    if [[ $(stat -f -c %T "$STATE") == overlayfs ]]; then echo native; else echo overlayfs; fi
}

write_configs() {
    local conf=$STATE/conf snapshotter
    mkdir -p "$conf" "$STATE/cni/net.d" "$STATE/run" "$STATE/containerd" "$STATE/kubelet"
    snapshotter=$(choose_snapshotter)
    printf '%s\n' "$snapshotter" >"$conf/snapshotter"
    write_kubeconfig "$ADMIN_KUBECONFIG" admin
    write_kubeconfig "$conf/kubelet.kubeconfig" kubelet-client

    cat >"$conf/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
plugin_dir = ""
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = ""

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The sandbox lacks CAP_SYS_RESOURCE; without this runc fails with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Keep pod network namespaces under the state dir so down.sh can clean them.
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "$snapshotter"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF

    # ptp + host-local: a loopback-only config fails with "failed to find
    # network info for sandbox". No masquerade, so no iptables needed.
    cat >"$STATE/cni/net.d/10-kle-ptp.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kle-ptp",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "10.88.0.0/16"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF

    cat >"$conf/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: AlwaysAllow
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
rotateCertificates: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# Small logs so rotation tests do not wait long: the 'rotator' fixture writes
# ~65 KB/s. 2Mi (not 1Mi) keeps 'weird-bytes' (a 1 MiB line) from rotating.
containerLogMaxSize: 2Mi
containerLogMaxFiles: 2
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
# Never garbage-collect the locally imported images: they cannot be pulled back.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
}

# ---------------------------------------------------------------- images

import_image() {
    local tar=$1 ref=$2
    if ctr_k8s images ls -q 2>/dev/null | grep -qxF "$ref"; then return 0; fi
    "$CLUSTER_DIR/import-image.sh" "$tar" >&2
}

ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

ensure_images() {
    local img=$STATE/images busybox
    mkdir -p "$img"
    if [[ ! -s $img/pause.tar ]]; then
        rm -rf "$img/pause-root"
        mkdir -p "$img/pause-root"
        cp "$K8S_BIN/pause" "$img/pause-root/pause"
        python3 "$CLUSTER_DIR/mkimage.py" "$img/pause-root" "$PAUSE_IMAGE" "$img/pause.tar" --entrypoint /pause
        rm -rf "$img/pause-root"
    fi
    if [[ ! -s $img/busybox.tar ]]; then
        busybox=$(command -v busybox || echo /bin/busybox)
        rm -rf "$img/busybox-root"
        mkdir -p "$img/busybox-root"
        python3 "$CLUSTER_DIR/mkimage.py" --busybox "$busybox" "$img/busybox-root" "$BUSYBOX_IMAGE" \
            "$img/busybox.tar" --cmd /bin/sh
        rm -rf "$img/busybox-root"
    fi
    import_image "$img/pause.tar" "$PAUSE_IMAGE"
    import_image "$img/busybox.tar" "$BUSYBOX_IMAGE"
}

# ---------------------------------------------------------------- processes

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# start_component <name> <args...>: detached, pid and log recorded.
start_component() {
    local name=$1 log
    shift
    log=$(logfile "$name")
    mkdir -p "$STATE/pids" "$STATE/logs"
    # Keep one previous log around, but do not let logs grow without bound.
    if [[ -f $log && $(stat -c %s "$log") -gt 50000000 ]]; then mv -f "$log" "$log.1"; fi
    printf '==== %s starting %s\n' "$(date -Is)" "$name" >>"$log"
    # fd 3 is our caller's stdout and fd 9 our lock: a daemon holding either
    # would make `$(up.sh)` or the next up.sh wait forever.
    setsid "$(component_binary "$name")" "$@" </dev/null >>"$log" 2>&1 3>&- 9>&- &
    echo $! >"$(pidfile "$name")"
    log "started $name (pid $!, log $log)"
}

# wait_for <seconds> <component> <description> <command...>
wait_for() {
    local secs=$1 comp=$2 what=$3 deadline
    shift 3
    deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ! component_running "$comp"; then
            log_tail "$comp"
            die "$comp exited while waiting for $what; see $(logfile "$comp")"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$comp"
            die "timed out after ${secs}s waiting for $what; see $(logfile "$comp")"
        fi
        sleep 0.5
    done
}

ensure_containerd() {
    component_running containerd && return 0
    # Stale state from a containerd that died (or a reboot): shims still
    # running against it would be orphaned; stop them and reset the state dir.
    "$CLUSTER_DIR/down.sh" --only-containers >&2 || true
    rm -f "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc"
    start_component containerd --config "$STATE/conf/containerd.toml"
    wait_for 60 containerd "the containerd socket" ctr --address "$CONTAINERD_SOCK" version
}

# shellcheck disable=SC2317  # called through wait_for
etcd_healthy() { curl -fsS --max-time 2 http://127.0.0.1:2379/health | grep -q '"health":"true"'; }

ensure_etcd() {
    component_running etcd && return 0
    port_busy 2379 && die "port 2379 is taken by another process (a system etcd?); stop it: $(ss -Hltnp 'sport = :2379')"
    start_component etcd --name "$NODE_NAME" --data-dir "$STATE/etcd" \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls '' \
        --quota-backend-bytes=2147483648 --auto-compaction-retention=1
    wait_for 60 etcd "etcd health on 127.0.0.1:2379" etcd_healthy
}

# HTTP/2: 100 streams per connection, as API servers allow since the CVE-2023-44487 fix (Go's
# default, 250, before), so tests see the pool open a connection per hundred log streams.
ensure_apiserver() {
    if ! component_running kube-apiserver; then
        port_busy 6443 && die "port 6443 is taken by another process: $(ss -Hltnp 'sport = :6443')"
        start_component kube-apiserver \
            --etcd-servers=http://127.0.0.1:2379 \
            --bind-address=127.0.0.1 --secure-port=6443 --insecure-port=0 \
            --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
            --client-ca-file="$PKI/ca.crt" \
            --authorization-mode=Node,RBAC \
            --service-account-issuer=https://kubernetes.default.svc.cluster.local \
            --service-account-signing-key-file="$PKI/sa.key" \
            --service-account-key-file="$PKI/sa.pub" \
            --api-audiences=https://kubernetes.default.svc.cluster.local \
            --service-cluster-ip-range=10.96.0.0/16 \
            --allow-privileged=true \
            --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
            --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
            --kubelet-preferred-address-types=Hostname \
            --http2-max-streams-per-connection=100 \
            --profiling=false
    fi
    wait_for 120 kube-apiserver "the API server /readyz" apiserver_ready
}

ensure_controllers() {
    if ! component_running kube-controller-manager; then
        start_component kube-controller-manager \
            --kubeconfig="$ADMIN_KUBECONFIG" \
            --bind-address=127.0.0.1 --secure-port=10257 --port=0 \
            --leader-elect=false \
            --use-service-account-credentials=true \
            --service-account-private-key-file="$PKI/sa.key" \
            --root-ca-file="$PKI/ca.crt" \
            --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
            --controllers='*' \
            --allocate-node-cidrs=false \
            --profiling=false
    fi
    if ! component_running kube-scheduler; then
        start_component kube-scheduler \
            --kubeconfig="$ADMIN_KUBECONFIG" \
            --bind-address=127.0.0.1 --secure-port=10259 --port=0 \
            --leader-elect=false --profiling=false
    fi
}

ensure_kubelet() {
    component_running kubelet && return 0
    KUBELET_STARTED_EPOCH=$(date +%s)
    start_component kubelet \
        --kubeconfig="$STATE/conf/kubelet.kubeconfig" \
        --config="$STATE/conf/kubelet-config.yaml" \
        --root-dir="$STATE/kubelet" \
        --container-runtime=remote \
        --container-runtime-endpoint="unix://$CONTAINERD_SOCK" \
        --image-service-endpoint="unix://$CONTAINERD_SOCK" \
        --hostname-override="$NODE_NAME" \
        --cgroups-per-qos=false --enforce-node-allocatable='' \
        --fail-swap-on=false
}

default_sa_exists() { api_get /api/v1/namespaces/default/serviceaccounts/default; }

# ---------------------------------------------------------------- main

main() {
    case ${1-} in
        -h | --help) usage; exit 0 ;;
        '') ;;
        *) usage; exit 2 ;;
    esac

    # Fast path, no root or lock needed.
    if cluster_healthy; then finish; fi

    if ((EUID != 0)); then
        local missing
        missing=$(missing_packages | tr '\n' ' ')
        [[ -n ${missing// /} ]] && die 2 "not root and packages missing ($missing); run tests/cluster/up.sh as root"
        die 2 "the test cluster runs containerd and the kubelet and must be started as root"
    fi

    mkdir -p "$STATE"
    exec 9>"$STATE/.up.lock"
    if ! flock -w 1800 9; then die "another up.sh has held $STATE/.up.lock for 30 minutes"; fi
    # Someone else may have brought it up while we waited for the lock.
    if cluster_healthy; then finish; fi

    local started=$SECONDS
    ensure_packages
    ensure_hosts_entry
    ensure_binaries
    ensure_pki
    write_configs
    ensure_containerd
    ensure_images
    ensure_etcd
    ensure_apiserver
    ensure_controllers
    ensure_kubelet

    wait_for "$WAIT_NODE_SECONDS" kubelet "node $NODE_NAME to become Ready" node_ready
    local deadline=$((SECONDS + 120))
    until default_sa_exists >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log_tail kube-controller-manager
            die "no ServiceAccount default/default after 120s; see $(logfile kube-controller-manager)"
        fi
        component_running kube-controller-manager || ensure_controllers
        sleep 0.5
    done
    log "cluster ready in $((SECONDS - started))s; kubeconfig: $ADMIN_KUBECONFIG"
    finish
}

main "$@"
