#!/usr/bin/env bash
# Submit one Snakemake job script to Slurm and print its job id.
#
# Called by the cluster-generic executor (cluster/slurm/config.yaml) as
#   cluster/slurm/sbatch-submit.sh --name NAME --threads T --ranks R --runtime MIN --gpus G --mem-mb M JOBSCRIPT
# One job = one node: R tasks (MPI ranks, `mpiexec -n R` inside the job) with
# max(1, T / R) CPUs each, `--time` from resources.runtime [minutes], and
# `--gpus-per-node G` when G > 0.  Environment:
#
#   BALNET_SLURM_PARTITION   partition (-p), optional
#   BALNET_SLURM_ACCOUNT     account (-A), optional
#   BALNET_SLURM_QOS         quality of service (--qos), optional
#   BALNET_SLURM_EXTRA       further sbatch arguments, split on white space
#   BALNET_SLURM_NO_MEM=1    do not pass --mem (clusters whose nodes lack RealMemory)
#   BALNET_SLURM_LOGDIR      directory of the jobs' stdout/stderr (default logs/cluster)
set -euo pipefail

name=smk threads=1 ranks=1 runtime="" gpus=0 mem=""
while [[ $# -gt 1 ]]; do
    case $1 in
        --name) name=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --ranks) ranks=$2; shift 2 ;;
        --runtime) runtime=$2; shift 2 ;;
        --gpus) gpus=$2; shift 2 ;;
        --mem-mb) mem=$2; shift 2 ;;
        *) echo "sbatch-submit.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
jobscript=${1:?usage: sbatch-submit.sh [options] JOBSCRIPT}

int_or() { [[ $1 =~ ^[0-9]+$ ]] && echo "$1" || echo "$2"; }
threads=$(int_or "$threads" 1)
ranks=$(int_or "$ranks" 1)
gpus=$(int_or "$gpus" 0)
(( ranks >= 1 )) || ranks=1
cpt=$(( threads / ranks )); (( cpt >= 1 )) || cpt=1

logdir=${BALNET_SLURM_LOGDIR:-logs/cluster}
mkdir -p "$logdir"
args=(--parsable --export=ALL -J "$name" -N 1 -n "$ranks" -c "$cpt" -o "$logdir/%x-%j.out" -e "$logdir/%x-%j.err")
if [[ $runtime =~ ^[0-9]+$ && $runtime -gt 0 ]]; then args+=(--time "$runtime"); fi
if [[ $gpus -gt 0 ]]; then args+=(--gpus-per-node "$gpus"); fi
if [[ -z ${BALNET_SLURM_NO_MEM:-} && $mem =~ ^[0-9]+$ && $mem -gt 0 ]]; then args+=(--mem "${mem}M"); fi
[[ -n ${BALNET_SLURM_PARTITION:-} ]] && args+=(-p "$BALNET_SLURM_PARTITION")
[[ -n ${BALNET_SLURM_ACCOUNT:-} ]] && args+=(-A "$BALNET_SLURM_ACCOUNT")
[[ -n ${BALNET_SLURM_QOS:-} ]] && args+=(--qos "$BALNET_SLURM_QOS")
if [[ -n ${BALNET_SLURM_EXTRA:-} ]]; then
    read -r -a extra <<< "$BALNET_SLURM_EXTRA"
    args+=("${extra[@]}")
fi
out=$(sbatch "${args[@]}" "$jobscript")
echo "${out%%;*}"          # --parsable prints "ID" or "ID;CLUSTER"
