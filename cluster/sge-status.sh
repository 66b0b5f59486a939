#!/usr/bin/env bash
# Print the state of a Grid Engine job for Snakemake: running, success or failed.
#
#   cluster/sge-status.sh JOBID
#
# * job listed by qstat: "running" (pending, transferring, running, suspended),
#   except error states (E, e.g. Eqw: the job can never start), which are
#   deleted and reported "failed";
# * job gone: its accounting record (qacct -j) decides: failed == 0 and
#   exit_status == 0 -> "success", anything else (non-zero exit, killed by qdel
#   or h_rt: 137, node failure) -> "failed", so Snakemake retries it (`retries`).
# * no accounting record yet (accounting is flushed asynchronously): "running"
#   for up to BALNET_SGE_ACCT_WAIT seconds (default 120) after the job left
#   qstat, then "failed".
set -uo pipefail
jobid=${1:?usage: sge-status.sh JOBID}

state=$(qstat 2>/dev/null | awk -v id="$jobid" '$1 == id {print $5; exit}')
if [[ -n $state ]]; then
    if [[ $state == *E* ]]; then
        qdel "$jobid" >/dev/null 2>&1 || true
        echo failed
    else
        echo running
    fi
    exit 0
fi

acct=$(qacct -j "$jobid" 2>/dev/null)
if [[ -n $acct ]]; then
    # the last record wins (job ids can be reused after a restart of the qmaster)
    failed=$(awk '$1 == "failed" {v = $2} END {print v}' <<< "$acct")
    exit_status=$(awk '$1 == "exit_status" {v = $2} END {print v}' <<< "$acct")
    if [[ $failed == 0 && $exit_status == 0 ]]; then
        echo success
    else
        echo failed
    fi
    exit 0
fi

# neither queued nor accounted (yet)
marks=${TMPDIR:-/tmp}/balnet-sge-status-$(id -u)
mkdir -p "$marks"
mark=$marks/$jobid
now=$(date +%s)
[[ -f $mark ]] || echo "$now" > "$mark"
first=$(cat "$mark")
if (( now - first > ${BALNET_SGE_ACCT_WAIT:-120} )); then
    echo failed
else
    echo running
fi
