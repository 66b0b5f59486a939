#!/usr/bin/env bash
# Install and start a single-node Slurm (Debian 12 slurm-wlm 22.05) on this host, as root.
# Idempotent.  For trying the Slurm profile on one machine:
#     sudo cluster/slurm/setup-single-node.sh && snakemake --profile cluster/slurm
# This host is controller and only node (its `slurmd -C` line), no accounting daemon
# (the status script falls back to `scontrol show job`), job completion log in
# /var/log/slurm/jobcomp.log.  Stop it with: scontrol shutdown
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
    echo "setup-single-node.sh: must run as root" >&2
    exit 1
fi
HOST=$(hostname)

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
chown slurm:slurm /var/spool/slurmctld /var/log/slurm 2>/dev/null || true
chown munge:munge /run/munge      # munged runs as user munge and needs its socket directory
if ! pgrep -x munged >/dev/null; then
    /etc/init.d/munge start >/dev/null
fi

node=$(slurmd -C | head -n1)   # NodeName=... CPUs=... RealMemory=...
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=balnet
SlurmctldHost=$HOST
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MinJobAge=600
ReturnToService=2
$node State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

if ! scontrol ping 2>/dev/null | grep -q UP; then
    pgrep -x slurmctld >/dev/null || slurmctld
fi
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 100); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then break; fi
    sleep 0.2
done
scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
timeout 60 srun -N1 -n1 true
echo "[slurm-setup] Slurm ready on $HOST: $(sinfo -h -o '%P %D %c %t')"
