#!/usr/bin/env bash
# Submit one Snakemake job script to Grid Engine and print its job id.
#
# Called by the cluster-generic executor (cluster/config.yaml) as
#   cluster/qsub-submit.sh --name NAME --threads T --ranks R --runtime MIN --gpus G JOBSCRIPT
# and builds the qsub line from the job's resources and these environment variables:
#
#   BALNET_SGE_GROUP         TSUBAME group: adds `-g GROUP` (TSUBAME's qsub; without
#                            it TSUBAME runs a <= 10 min "trial" job). Unset: no -g.
#   BALNET_SGE_RESOURCE      resource request for every job, e.g. "node_f=1" or
#                            "gpu_1=1" on TSUBAME 4.0 (passed as `-l VALUE`).
#   BALNET_SGE_CPU_RESOURCE  resource request for jobs with gpus=0 (e.g. "cpu_4=1");
#                            default BALNET_SGE_RESOURCE.
#   BALNET_SGE_PE            parallel environment for the slots (`-pe PE SLOTS`,
#                            SLOTS = max(threads, mpi_ranks)). Default: "smp" when no
#                            resource type is set (plain Grid Engine), none otherwise
#                            (TSUBAME's resource types fix the cores).
#   BALNET_SGE_QUEUE         queue (`-q`), optional.
#   BALNET_SGE_EXTRA         further qsub arguments, split on white space.
#   BALNET_SGE_LOGDIR        directory of the jobs' stdout/stderr (default logs/cluster).
#
# The walltime comes from resources.runtime [minutes] as `-l h_rt=H:MM:SS`
# (TSUBAME requires it); set BALNET_SGE_NO_HRT=1 where h_rt is not requestable.
set -euo pipefail

name=smk threads=1 ranks=1 runtime="" gpus=0
while [[ $# -gt 1 ]]; do
    case $1 in
        --name) name=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --ranks) ranks=$2; shift 2 ;;
        --runtime) runtime=$2; shift 2 ;;
        --gpus) gpus=$2; shift 2 ;;
        *) echo "qsub-submit.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
jobscript=${1:?usage: qsub-submit.sh [options] JOBSCRIPT}

int_or() { [[ $1 =~ ^[0-9]+$ ]] && echo "$1" || echo "$2"; }
threads=$(int_or "$threads" 1)
ranks=$(int_or "$ranks" 1)
gpus=$(int_or "$gpus" 0)
slots=$(( threads > ranks ? threads : ranks ))

logdir=${BALNET_SGE_LOGDIR:-logs/cluster}
mkdir -p "$logdir"            # qsub puts jobs whose -o/-e directory is missing into Eqw
name=${name//[^A-Za-z0-9_.-]/_}
[[ $name =~ ^[A-Za-z] ]] || name="j$name"

args=(-terse -cwd -V -S /bin/bash -N "$name" -o "$logdir/" -e "$logdir/")
[[ -n ${BALNET_SGE_GROUP:-} ]] && args+=(-g "$BALNET_SGE_GROUP")

resource=${BALNET_SGE_RESOURCE:-}
if [[ $gpus -eq 0 && -n ${BALNET_SGE_CPU_RESOURCE:-} ]]; then
    resource=$BALNET_SGE_CPU_RESOURCE
fi
[[ -n $resource ]] && args+=(-l "$resource")

pe=${BALNET_SGE_PE:-}
if [[ -z $pe && -z $resource ]]; then pe=smp; fi
if [[ -n $pe && $slots -gt 1 ]]; then args+=(-pe "$pe" "$slots"); fi

if [[ -z ${BALNET_SGE_NO_HRT:-} && $runtime =~ ^[0-9]+$ && $runtime -gt 0 ]]; then
    args+=(-l "h_rt=$((runtime / 60)):$(printf %02d $((runtime % 60))):00")
fi
[[ -n ${BALNET_SGE_QUEUE:-} ]] && args+=(-q "$BALNET_SGE_QUEUE")
if [[ -n ${BALNET_SGE_EXTRA:-} ]]; then
    read -r -a extra <<< "$BALNET_SGE_EXTRA"
    args+=("${extra[@]}")
fi

# -terse prints the job id only (some qsub versions print "ID.TASKS" for arrays)
out=$(qsub "${args[@]}" "$jobscript")
echo "${out%%.*}"
