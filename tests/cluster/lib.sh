# shellcheck shell=bash disable=SC2034  # variables are used by the scripts that source this
# Shared settings and helpers for the test-cluster scripts. Sourced, never run.
#
# Everything mutable lives under $STATE (removed by `down.sh --purge`); the
# expensive Kubernetes build lives under $K8S_BIN (kept across purges).

K8S_VERSION=1.20.2
KLE_CACHE=${KLE_CACHE_DIR:-$HOME/.cache/kube-log-exporter}
STATE=${KLE_TESTBED_DIR:-$KLE_CACHE/testbed}
K8S_BIN=${KLE_K8S_BIN_DIR:-$KLE_CACHE/k8s-bin-$K8S_VERSION}
K8S_SRC_CACHE=$KLE_CACHE/k8s-src
CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

NODE_NAME=testnode
APISERVER_URL=https://127.0.0.1:6443
ADMIN_KUBECONFIG=$STATE/admin.kubeconfig
PKI=$STATE/pki
CONTAINERD_SOCK=$STATE/run/containerd.sock
PAUSE_IMAGE=kle.local/pause:3.2
BUSYBOX_IMAGE=kle.local/busybox:1

# Control-plane and node processes, in start order.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() { printf '[kle-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    local code=1
    if [[ ${1-} =~ ^[0-9]+$ ]]; then code=$1; shift; fi
    printf '[kle-cluster] ERROR: %s\n' "$*" >&2
    exit "$code"
}

kubectl_bin() {
    if [[ -n ${KLE_KUBECTL-} ]]; then printf '%s\n' "$KLE_KUBECTL"; return; fi
    command -v kubectl || printf '%s\n' kubectl
}

# kubectl against the test cluster with the admin identity.
kc() { "$(kubectl_bin)" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=10s "$@"; }

pidfile() { printf '%s/pids/%s.pid\n' "$STATE" "$1"; }
logfile() { printf '%s/logs/%s.log\n' "$STATE" "$1"; }

# The binary a component runs: used both to start it and to recognise its pid,
# so a recycled pid never counts as "running".
component_binary() {
    case $1 in
        containerd) command -v containerd || echo /usr/bin/containerd ;;
        etcd) command -v etcd || echo /usr/bin/etcd ;;
        *) printf '%s/%s\n' "$K8S_BIN" "$1" ;;
    esac
}

# Prints the pid of a recorded component if that process is still the one we started.
component_pid() {
    local name=$1 pid cmd
    pid=$(cat "$(pidfile "$name")" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$(component_binary "$name")"* ]] || return 1
    printf '%s\n' "$pid"
}

component_running() { component_pid "$1" >/dev/null; }

# Last lines of a component's log, for error messages.
log_tail() {
    local f
    f=$(logfile "$1")
    if [[ -f $f ]]; then
        printf -- '--- last lines of %s ---\n' "$f" >&2
        tail -n "${2:-25}" "$f" >&2
        printf -- '--- end of %s ---\n' "$f" >&2
    fi
}

# Processes whose command line mentions the state dir (containerd shims and
# anything else started against our sockets) and all their descendants.
state_dir_processes() {
    python3 - "$STATE" <<'PY'
import os, sys
state = sys.argv[1].rstrip("/") + "/"
children, parent, roots = {}, {}, []
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        with open(f"/proc/{p}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{p}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    children.setdefault(ppid, []).append(int(p))
    parent[int(p)] = ppid
    if state in cmd:
        roots.append(int(p))
# Never our own process or the shells that called us.
mine, pid = set(), os.getpid()
while pid > 1 and pid not in mine:
    mine.add(pid)
    pid = parent.get(pid, 0)
seen, todo = set(mine), [r for r in roots if r not in mine]
while todo:
    pid = todo.pop()
    if pid in seen:
        continue
    seen.add(pid)
    todo.extend(children.get(pid, []))
print("\n".join(str(p) for p in sorted(seen - mine)))
PY
}

# Mount points under the state dir, deepest first.
state_dir_mounts() {
    python3 - "$STATE" <<'PY'
import sys
state = sys.argv[1].rstrip("/") + "/"
def unescape(s):
    return s.encode().decode("unicode_escape")
mounts = []
with open("/proc/self/mountinfo") as f:
    for line in f:
        mp = unescape(line.split()[4])
        if mp.startswith(state):
            mounts.append(mp)
for mp in sorted(set(mounts), key=len, reverse=True):
    print(mp)
PY
}
