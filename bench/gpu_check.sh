#!/usr/bin/env bash
# One-command GPU check: the step limits below add up to 460 s (< 8 minutes): CuPy tests, the simulate / Lyapunov /
# FIM / DSNN benches at GPU sizes, the demo sweep with backend cupy, a row-partitioned run
# over the node's GPUs, and one results table.
#
#   bash bench/gpu_check.sh [OUTDIR]        # default OUTDIR: gpu_check (created; logs + results.md)
#
# Every step has its own time limit, is logged to OUTDIR/<step>.log, and is recorded in
# OUTDIR/results.md as ok / FAILED (exit code) / TIMEOUT with its wall time; the script goes on
# after a failure and exits non-zero if any step failed.  Needs CuPy with a CUDA device; the
# partitioned step also needs mpiexec + mpi4py (skipped otherwise).
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check}
mkdir -p "$OUT"
RES="$OUT/results.md"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-4}
PY=${PYTHON:-python3}
FAILED=0

{
  echo "# balnet GPU check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- host: $(uname -n)"
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -4 | tr '\n' ';')"
  echo "- $($PY -c 'import cupy, numpy; print(f"CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, numpy {numpy.__version__}")' 2>&1 | tail -1)"
  echo
  echo "| step | status | wall s | log |"
  echo "|---|---|---:|---|"
} > "$RES"

step() {  # step NAME LIMIT_SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local st="ok"
  if [ $rc -eq 124 ]; then st="TIMEOUT (${limit} s)"; FAILED=1
  elif [ $rc -ne 0 ]; then st="FAILED (exit $rc)"; FAILED=1; fi
  echo "| $name | $st | $((SECONDS - t0)) | $name.log |" >> "$RES"
  echo "$name: $st ($((SECONDS - t0)) s)"
}

if ! $PY -c 'import cupy; assert cupy.cuda.runtime.getDeviceCount() > 0' > /dev/null 2>&1; then
  echo "| (all) | no CuPy with a CUDA device: nothing run | 0 | |" >> "$RES"
  echo "no CuPy with a CUDA device"; exit 2
fi

# 1. every CuPy test (numpy-vs-CuPy parity, fused kernels, batched QR, speed paths)
step pytest_cupy 110 $PY -m pytest -q -k cupy -p no:cacheprovider tests
# 2. benches at GPU sizes (tables land in the logs)
step bench_simulate 70 $PY bench/bench_simulate.py --backend cupy --N 4096 8192 --B 1 256 1024 --dtype float32 float64 --min-time 0.2
step bench_lyapunov 40 $PY bench/bench_lyapunov.py --backend cupy --N 2000 4000 --min-time 0.1
step bench_fim 35 $PY bench/bench_fim.py --backend cupy --M 1000 2000 4000 --no-jac --rounds 3
step bench_dsnn 35 $PY bench/bench_dsnn.py --backend cupy --hidden 256 1024 --B 2000 --rounds 2
# 3. the demo sweep on the GPU (tiny test config, backend cupy), into a scratch directory
SWEEP="$OUT/sweep"
mkdir -p "$SWEEP"
$PY - "$SWEEP/config.yaml" <<'EOF'
import sys, yaml
c = yaml.safe_load(open("tests/workflow/config.yaml"))
c.setdefault("simulation", {})["backend"] = "cupy"
yaml.safe_dump(c, open(sys.argv[1], "w"))
EOF
step sweep_cupy 70 snakemake --cores 4 --configfile "$PWD/$SWEEP/config.yaml" --directory "$SWEEP" --snakefile "$PWD/Snakefile" -q
# 4. one network split by rows over the node's GPUs, compared with the unpartitioned run
NG=$($PY -c 'import cupy; print(cupy.cuda.runtime.getDeviceCount())')
if command -v mpiexec > /dev/null && $PY -c 'import mpi4py' 2> /dev/null; then
  A="--N 8192 --g 1.5 --J0 1.0 --T 2 --dt 0.05 --n-record 16 --seed 3 --backend cupy -q"
  step partition_serial 40 $PY -m balnet simulate $A -o "$OUT/serial.h5"
  step partition_rows 40 mpiexec -n "$(( NG > 1 ? NG : 2 ))" $PY -m balnet simulate $A --partition rows -o "$OUT/rows.h5"
  step partition_compare 20 $PY -c "
from balnet.engine.io import read
import numpy as np
a, _ = read('$OUT/serial.h5'); b, _ = read('$OUT/rows.h5')
d = max(float(np.max(np.abs(a[k] - b[k]))) for k in ('nu_E', 'nu_I', 'm', 'x', 'final_state'))
print('max abs difference', d); assert d < 1e-10, d"
else
  echo "| partition | skipped: no mpiexec/mpi4py | 0 | |" >> "$RES"
fi

{
  echo
  echo "## Tables"
  for b in bench_simulate bench_lyapunov bench_fim bench_dsnn; do
    echo
    echo "### $b"
    echo
    grep -E '^(\||#)' "$OUT/$b.log" 2>/dev/null || echo "(no table: see $b.log)"
  done
  echo
  echo "### pytest -k cupy"
  echo
  tail -3 "$OUT/pytest_cupy.log" | sed 's/^/    /'
} >> "$RES"
echo "results: $RES"
exit $FAILED
