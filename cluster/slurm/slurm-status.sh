#!/usr/bin/env bash
# Print the state of a Slurm job for Snakemake: running, success or failed.
#
#   cluster/slurm/slurm-status.sh JOBID
#
# Asks squeue first (pending/running jobs), then sacct (needs slurmdbd), then
# `scontrol show job` (recently finished jobs, works without accounting).
# COMPLETED -> success; FAILED, CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY,
# PREEMPTED, BOOT_FAIL, DEADLINE -> failed (Snakemake retries: `retries`);
# anything else (PENDING, RUNNING, CONFIGURING, COMPLETING, SUSPENDED,
# REQUEUED ...) -> running.  A job no command knows about is "running" for up
# to BALNET_SLURM_ACCT_WAIT seconds (default 120), then "failed".
set -uo pipefail
jobid=${1:?usage: slurm-status.sh JOBID}

map() {
    case $1 in
        COMPLETED) echo success ;;
        FAILED|CANCELLED*|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE|REVOKED|SPECIAL_EXIT) echo failed ;;
        *) echo running ;;
    esac
}

state=$(squeue -h -j "$jobid" -o %T 2>/dev/null | head -n1)
if [[ -z $state ]]; then
    state=$(sacct -j "$jobid" -X -n -P -o State 2>/dev/null | head -n1 | awk '{print $1}')
fi
if [[ -z $state ]]; then
    state=$(scontrol show job "$jobid" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n1 | cut -d= -f2)
fi
if [[ -n $state ]]; then
    map "$state"
    exit 0
fi

marks=${TMPDIR:-/tmp}/balnet-slurm-status-$(id -u)
mkdir -p "$marks"
mark=$marks/$jobid
now=$(date +%s)
[[ -f $mark ]] || echo "$now" > "$mark"
if (( now - $(cat "$mark") > ${BALNET_SLURM_ACCT_WAIT:-120} )); then echo failed; else echo running; fi
