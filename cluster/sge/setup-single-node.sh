#!/usr/bin/env bash
# Install and start a single-node Grid Engine (Debian 12 gridengine 8.1.9) on this host, as root.
#
# Used by CI to run the pipeline through a real scheduler (`snakemake --profile cluster`).
# Idempotent: re-running it on a configured host only (re)starts the daemons and
# re-applies the configuration.  No systemd needed (daemons are started through
# their init scripts).  Afterwards:
#
#     export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
#     qsub -b y -sync y true && qstat -f
#
# What it does (each step is needed on a fresh machine):
#   * preseeds debconf so the packages configure the cell "default" with this
#     host as master, then installs gridengine-master/-exec/-client;
#   * aliases this host name to "localhost" (127.0.0.1 resolves to "localhost",
#     and the qmaster would otherwise refuse its own clients);
#   * sets min_uid/min_gid 0 (root jobs would go to state Eqw) and fast
#     scheduling/flush intervals (~1 s job turnaround instead of ~15 s);
#   * creates the parallel environments smp ($pe_slots) and mpi ($fill_up),
#     the host group @allhosts and the queue all.q with one slot per online CPU
#     (getconf, not nproc: nproc obeys OMP_NUM_THREADS, which CI sets to 1).
#
# Stop it with:  qconf -ke "$(hostname)"; qconf -km
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "setup-single-node.sh: must run as root" >&2
    exit 1
fi

export SGE_ROOT=/var/lib/gridengine
export SGE_CELL=default
HOST=$(hostname)
NSLOTS_HOST=${BALNET_SGE_SLOTS:-$(getconf _NPROCESSORS_ONLN)}
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

log() { echo "[sge-setup] $*"; }

# 1. packages -----------------------------------------------------------------
if ! command -v qconf >/dev/null 2>&1 || [[ ! -x /etc/init.d/gridengine-master ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debconf-utils >/dev/null
    for p in gridengine-common gridengine-master gridengine-client gridengine-exec; do
        cat <<SEL | debconf-set-selections
$p shared/gridengineconfig boolean true
$p shared/gridenginecell string default
$p shared/gridenginemaster string $HOST
SEL
    done
    log "installing gridengine packages"
    apt-get install -y -qq --no-install-recommends \
        gridengine-master gridengine-exec gridengine-client >/dev/null
fi

COMMON=$SGE_ROOT/$SGE_CELL/common
if [[ ! -d $COMMON ]]; then
    echo "setup-single-node.sh: $COMMON missing after install (debconf preseed failed?)" >&2
    exit 1
fi

# 2. host name alias (before the qmaster starts) --------------------------------
if [[ ! -f $COMMON/host_aliases ]] || ! grep -qx "$HOST localhost" "$COMMON/host_aliases"; then
    echo "$HOST localhost" > "$COMMON/host_aliases"
    chown sgeadmin:sgeadmin "$COMMON/host_aliases" 2>/dev/null || true
fi
echo "$HOST" > "$COMMON/act_qmaster"
chown sgeadmin:sgeadmin "$COMMON/act_qmaster" 2>/dev/null || true

wait_qstat() {
    for _ in $(seq 1 100); do
        if qstat >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "setup-single-node.sh: qmaster does not answer" >&2
    return 1
}

# 3. qmaster ------------------------------------------------------------------
if ! qstat >/dev/null 2>&1; then
    log "starting qmaster"
    /etc/init.d/gridengine-master start >/dev/null 2>&1 || true
fi
wait_qstat

# 4. global configuration (before the exec daemon reads it) ----------------------
qconf -sconf global > "$TMPD/global"
sed -i -E \
    -e 's/^(min_uid[[:space:]]+).*/\10/' \
    -e 's/^(min_gid[[:space:]]+).*/\10/' \
    "$TMPD/global"
set_conf() {  # file key value: replace or append "key value"
    if grep -qE "^$2[[:space:]]" "$1"; then
        sed -i -E "s|^($2[[:space:]]+).*|\\1$3|" "$1"
    else
        echo "$2 $3" >> "$1"
    fi
}
# reporting_params (possibly continued over several lines) holds the accounting
# flush times: rewrite it as one line with flush_time 1 s and immediate accounting.
awk 'BEGIN{skip=0}
     /^reporting_params/ {skip=1}
     skip==1 { if ($0 !~ /\\$/) {skip=0}; next }
     {print}' "$TMPD/global" > "$TMPD/global.new"
echo "reporting_params accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00" >> "$TMPD/global.new"
mv "$TMPD/global.new" "$TMPD/global"
qconf -Mconf "$TMPD/global" >/dev/null 2>&1 || true

qconf -ssconf > "$TMPD/sched"
set_conf "$TMPD/sched" schedule_interval 0:0:1
set_conf "$TMPD/sched" flush_submit_sec 1
set_conf "$TMPD/sched" flush_finish_sec 1
set_conf "$TMPD/sched" job_load_adjustments NONE
set_conf "$TMPD/sched" load_adjustment_decay_time 0:0:0
qconf -Msconf "$TMPD/sched" >/dev/null 2>&1 || true

# 5. hosts, parallel environments, host group, queue ------------------------------
qconf -as "$HOST" >/dev/null 2>&1 || true
qconf -ah "$HOST" >/dev/null 2>&1 || true

make_pe() {  # name allocation_rule
    cat > "$TMPD/pe_$1" <<PE
pe_name            $1
slots              9999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    $2
control_slaves     TRUE
job_is_first_task  FALSE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
PE
    if qconf -sp "$1" >/dev/null 2>&1; then
        qconf -Mp "$TMPD/pe_$1" >/dev/null 2>&1
    else
        qconf -Ap "$TMPD/pe_$1" >/dev/null 2>&1
    fi
}
make_pe smp '$pe_slots'
make_pe mpi '$fill_up'
make_pe make '$round_robin'

cat > "$TMPD/hgrp" <<HG
group_name @allhosts
hostlist $HOST
HG
if qconf -shgrp @allhosts >/dev/null 2>&1; then
    qconf -Mhgrp "$TMPD/hgrp" >/dev/null 2>&1
else
    qconf -Ahgrp "$TMPD/hgrp" >/dev/null 2>&1
fi

if ! qconf -sq all.q >/dev/null 2>&1; then
    EDITOR=true qconf -aq all.q >/dev/null 2>&1 || true
fi
qconf -mattr queue hostlist @allhosts all.q >/dev/null 2>&1 || true
qconf -mattr queue slots "$NSLOTS_HOST" all.q >/dev/null 2>&1 || true
qconf -rattr queue load_thresholds NONE all.q >/dev/null 2>&1 || true
qconf -mattr queue pe_list "make smp mpi" all.q >/dev/null 2>&1 || true

# 6. exec daemon ------------------------------------------------------------------
if ! pgrep -x sge_execd >/dev/null 2>&1; then
    log "starting execd"
    /etc/init.d/gridengine-exec start >/dev/null 2>&1 || true
fi

# 7. wait until the queue instance is usable, then a smoke job ----------------------
for _ in $(seq 1 100); do
    if qstat -f -q all.q 2>/dev/null | grep -q "all.q@" && \
       ! qstat -f -q all.q 2>/dev/null | grep -E "all.q@" | grep -qE '[[:space:]](a|u|au|E|d)[[:space:]]*$'; then
        break
    fi
    sleep 0.2
done
qmod -c 'all.q' >/dev/null 2>&1 || true
qmod -e 'all.q' >/dev/null 2>&1 || true

mkdir -p "$TMPD/smoke"
if ! (cd "$TMPD/smoke" && timeout 60 qsub -sync y -b y -o /dev/null -e /dev/null -N sge-smoke true >/dev/null); then
    echo "setup-single-node.sh: smoke job failed" >&2
    qstat -f >&2 || true
    exit 1
fi
log "Grid Engine ready on $HOST ($NSLOTS_HOST slots; SGE_ROOT=$SGE_ROOT SGE_CELL=$SGE_CELL)"
