#!/usr/bin/env bash
# Apply the end-to-end fixtures (namespace kle-e2e) and wait until they are in
# their checkable state: pods Running and Ready, the Job Complete, the crasher
# restarted once (so `logs --previous` has something). Idempotent.
#
#     KUBECONFIG=$(tests/cluster/up.sh) tests/cluster/fixtures.sh
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=kle-e2e
FIXTURES=$CLUSTER_DIR/fixtures
TIMEOUT=${KLE_FIXTURES_TIMEOUT:-180}
: "${KUBECONFIG:=$ADMIN_KUBECONFIG}"
export KUBECONFIG
KUBECTL=$(kubectl_bin)
k() { "$KUBECTL" --request-timeout=20s "$@"; }

# Bounded poll: wait_until <seconds> <description> <command...>
wait_until() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            k -n "$NS" get pods -o wide >&2 || true
            die "timed out after ${secs}s waiting for $what (kubelet log: $(logfile kubelet))"
        fi
        sleep 1
    done
}

# Pods need the namespace's ServiceAccount and its token secret before the
# ServiceAccount admission plugin lets them in.
sa_has_token() { [[ -n $(k -n "$NS" get serviceaccount default -o 'jsonpath={.secrets[0].name}') ]]; }

crasher_restarted() {
    local n
    n=$(k -n "$NS" get pod crasher -o 'jsonpath={.status.containerStatuses[0].restartCount}')
    [[ ${n:-0} -ge 1 ]]
}

k apply -f "$FIXTURES/00-namespace.yaml" >&2
wait_until 60 "ServiceAccount $NS/default with a token" sa_has_token
# A pod the kubelet evicted (disk pressure, say) stays Failed forever and `apply` leaves it so:
# delete it, the loop below creates it again. The Job's pods are the Job controller's.
failed=$(k -n "$NS" get pods --field-selector=status.phase=Failed -o 'jsonpath={range .items[*]}{.metadata.name}{" "}{end}')
for pod in $failed; do
    [[ $pod == job-complete-* ]] && continue
    log "recreating failed (evicted?) pod $pod"
    k -n "$NS" delete pod "$pod" --grace-period=0 --wait=true >&2
done
# Pod specs are immutable: a fixture whose definition changed is recreated.
errs=$(mktemp)
trap 'rm -f "$errs"' EXIT
for f in "$FIXTURES"/*.yaml; do
    if ! k apply -f "$f" >&2 2>"$errs"; then
        cat "$errs" >&2
        log "recreating $(basename "$f" .yaml)"
        k replace --force --grace-period=1 -f "$f" >&2
    fi
done

log "waiting for the fixtures (up to ${TIMEOUT}s)"
wait_until "$TIMEOUT" "fixture pods to be Ready" \
    k -n "$NS" wait --for=condition=Ready --timeout=5s \
    pod/counter pod/burst pod/two-containers pod/with-init pod/weird-bytes pod/rotator pod/crasher
wait_until "$TIMEOUT" "job/job-complete to complete" \
    k -n "$NS" wait --for=condition=complete --timeout=5s job/job-complete
wait_until "$TIMEOUT" "pod/crasher to restart once" crasher_restarted
log "fixtures ready in namespace $NS"
