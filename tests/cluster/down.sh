#!/usr/bin/env bash
# Stop the test cluster: every recorded component, every container it ran,
# every mount under the state dir. Idempotent.
#
#     tests/cluster/down.sh            # stop; state (etcd data, PKI, images) kept
#     tests/cluster/down.sh --purge    # stop and delete the state dir
#
# The cached Kubernetes binaries ($K8S_BIN) are never deleted.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
usage: $0 [--purge]
  --purge            also delete the state dir $STATE (never the binaries in $K8S_BIN)
  --only-containers  (used by up.sh) kill containers and shims only, keep the components
EOF
}

# stop_pids <timeout seconds> <pid...>: TERM, wait, then KILL.
stop_pids() {
    local timeout=$1 deadline p alive
    shift
    (($#)) || return 0
    [[ -n $* ]] || return 0
    kill -TERM "$@" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while :; do
        alive=()
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
        ((${#alive[@]})) || return 0
        if ((SECONDS >= deadline)); then
            log "still alive after ${timeout}s, sending KILL: ${alive[*]}"
            kill -KILL "${alive[@]}" 2>/dev/null || true
            sleep 0.5
            return 0
        fi
        sleep 0.2
    done
}

# stop_components <timeout> <name...>: all at once, so a stop costs one wait.
stop_components() {
    local timeout=$1 name pid pids=()
    shift
    for name in "$@"; do
        if pid=$(component_pid "$name"); then
            log "stopping $name (pid $pid)"
            pids+=("$pid")
        fi
    done
    stop_pids "$timeout" "${pids[@]}"
    for name in "$@"; do rm -f "$(pidfile "$name")"; done
}

# Kill and delete every container task through containerd, while it still runs.
kill_tasks() {
    component_running containerd || return 0
    [[ -S $CONTAINERD_SOCK ]] || return 0
    local ctr=(timeout 20 ctr --address "$CONTAINERD_SOCK" --namespace k8s.io) ids id
    ids=$("${ctr[@]}" tasks ls -q 2>/dev/null) || return 0
    for id in $ids; do
        "${ctr[@]}" tasks delete --force "$id" >/dev/null 2>&1 || true
    done
    [[ -z $ids ]] || log "killed $(wc -w <<<"$ids") container tasks"
}

# Shims, pod processes and anything else still running against the state dir,
# except the components we recorded (when only the containers must go).
kill_leftovers() {
    local keep=() pids=() p c
    if [[ ${1-} == --keep-components ]]; then
        for c in "${COMPONENTS[@]}"; do
            p=$(component_pid "$c") && keep+=("$p")
        done
    fi
    while read -r p; do
        [[ -n $p ]] || continue
        [[ " ${keep[*]} " == *" $p "* ]] && continue
        pids+=("$p")
    done < <(state_dir_processes)
    ((${#pids[@]})) || return 0
    log "stopping ${#pids[@]} leftover processes (shims/containers): ${pids[*]}"
    stop_pids 10 "${pids[@]}"
}

# unmount_under <dir>: every mount below it, deepest first.
unmount_under() {
    local prefix=$1 mp n=0
    while read -r mp; do
        [[ -n $mp && $mp == "$prefix"/* ]] || continue
        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "could not unmount $mp"
        n=$((n + 1))
    done < <(state_dir_mounts)
    ((n == 0)) || log "unmounted $n mounts under $prefix"
}

# Runtime state is like /run: meaningless once containerd and its shims are gone.
reset_runtime_state() {
    rm -rf --one-file-system "$STATE/containerd/state" "$STATE/cni/ipam" 2>/dev/null || true
    rm -f "$CONTAINERD_SOCK" "$CONTAINERD_SOCK.ttrpc"
}

main() {
    local purge='' only_containers=''
    while (($#)); do
        case $1 in
            --purge) purge=1 ;;
            --only-containers) only_containers=1 ;;
            -h | --help) usage; exit 0 ;;
            *) usage; exit 2 ;;
        esac
        shift
    done
    if [[ ! -d $STATE ]]; then
        log "nothing to stop: no state dir $STATE"
        exit 0
    fi
    ((EUID == 0)) || die 2 "down.sh must run as root (it stops containers and unmounts)"

    if [[ -n $only_containers ]]; then
        kill_tasks
        kill_leftovers --keep-components
        unmount_under "$STATE/containerd"
        component_running containerd || reset_runtime_state
        exit 0
    fi

    # The kubelet first, so it does not restart the containers we kill.
    stop_components 20 kubelet
    kill_tasks
    stop_components 20 kube-scheduler kube-controller-manager kube-apiserver
    stop_components 20 etcd containerd
    kill_leftovers
    unmount_under "$STATE"
    reset_runtime_state

    if [[ -n $purge ]]; then
        if [[ -n $(state_dir_mounts) ]]; then
            die "mounts remain under $STATE; not deleting it: $(state_dir_mounts | tr '\n' ' ')"
        fi
        rm -rf --one-file-system "$STATE"
        log "purged $STATE (kept binaries in $K8S_BIN)"
    else
        log "stopped; state kept in $STATE"
    fi
}

main "$@"
