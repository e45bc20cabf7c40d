#!/usr/bin/env bash
# gpu-check: one prepared, unattended run that installs what the GPU path needs, trains the same small
# models with PyTorch, XGBoost and TensorFlow.js on the GPU and on the CPU, prints samples/s side by
# side, and exits non-zero naming every framework that did not train on the GPU by its own account
# (fell back to the CPU, cannot see the GPU, or is not installed). docs/gpu.md explains it.
#
#   scripts/gpu-check.sh [--cuda11 | --no-cuda11] [--offline] [--size small|full] [--out DIR]
#
#   --cuda11      install the CUDA 11.8 + cuDNN 8.6 libraries tfjs-node-gpu needs from PyPI's
#                 nvidia-*-cu11 wheels into .tools/cuda11 (1.7 GB download, 2.8 GB on disk). Default:
#                 only when nvidia-smi lists a GPU (an earlier install is used either way).
#   --no-cuda11   never: libtensorflow looks for CUDA 11 on the system's library path.
#   --offline     install nothing; use what is there (GPU_CHECK_PYTHON, else .tools/py, else python3).
#                 Default: offline when `npm ping` cannot reach the registry.
#   --size        full: MLP 5 s per run, XGBoost 1,000,000 rows x 100 rounds; small: 1 s, 50,000 x 10.
#                 Default: full when nvidia-smi lists a GPU, small otherwise.
#   --out DIR     logs, JSON rows, table.md (default .tools/gpu-check).
#
# Exit status: 0 only when all three trained on the GPU; 1 otherwise; 2 on a usage error.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/.tools/gpu-check
CUDA11=auto OFFLINE=auto SIZE=auto
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --cuda11) CUDA11=yes ;;
    --no-cuda11) CUDA11=no ;;
    --offline) OFFLINE=yes ;;
    --size) SIZE=${2:-}; shift ;;
    --out) OUT=${2:-}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu-check: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case $SIZE in auto | small | full) ;; *) echo "gpu-check: --size small|full" >&2; exit 2 ;; esac
mkdir -p "$OUT" && rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/table.md
say() { echo "[gpu-check] $*" >&2; }
started=$(date +%s)

# ---- the machine
GPU_LINE="no NVIDIA GPU visible (nvidia-smi $(command -v nvidia-smi >/dev/null && echo 'lists none' || echo 'not found'))"
GPU_VISIBLE=no
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  GPU_VISIBLE=yes
  GPU_LINE=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 |
    awk -F', ' '{print $1 ", " $2 ", driver " $3}')
fi
[ "$SIZE" = auto ] && { [ $GPU_VISIBLE = yes ] && SIZE=full || SIZE=small; }
if [ "$SIZE" = full ]; then SECS=5 XGB_ROWS=1000000 XGB_ROUNDS=100; else SECS=1 XGB_ROWS=50000 XGB_ROUNDS=10; fi
if [ "$OFFLINE" = auto ]; then
  if command -v npm >/dev/null 2>&1 && timeout 20 npm ping --fetch-timeout=5000 --fetch-retries=0 >/dev/null 2>&1; then
    OFFLINE=no
  else
    OFFLINE=yes
  fi
fi
[ "$CUDA11" = auto ] && { [ $GPU_VISIBLE = yes ] && CUDA11=yes || CUDA11=existing; }
say "GPU: $GPU_LINE; $(nproc) CPUs; size $SIZE; $([ $OFFLINE = yes ] && echo 'offline: installing nothing' || echo 'installing through the project scripts')"

# ---- installs: each step's output goes to its log; a failed step leaves its framework's rows to say so
STEPS=()
step() { # step NAME LOG COMMAND...: runs it, records "NAME 12 s" or "NAME FAILED"
  local name=$1 log=$2 t0=$SECONDS rc
  shift 2
  "$@" >"$OUT/$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then STEPS+=("$name $((SECONDS - t0)) s"); else
    STEPS+=("$name FAILED ($log)")
    say "$name failed (exit $rc); the end of $OUT/$log:"
    tail -n 5 "$OUT/$log" | sed 's/^/    /' >&2
  fi
  return $rc
}
LD_CUDA11=
if [ "$OFFLINE" = no ]; then
  say "installing: npm packages and the native backend (scripts/setup.js), the Python venv (python-env.js), tfjs-node-gpu$([ $CUDA11 = yes ] && echo ', CUDA 11 libraries (1.7 GB)')"
  step setup setup.log node scripts/setup.js npm tfjs-node
  step python-env python-env.log node scripts/lib/python-env.js
  step tfjs-node-gpu tfjs-node-gpu.log bash scripts/gpu/install-tfjs-node-gpu.sh
  if [ "$CUDA11" = yes ] && step cuda11 cuda11.log bash scripts/gpu/install-cuda11.sh; then
    LD_CUDA11=$(tail -n 1 "$OUT/cuda11.log")
  fi
fi
if [ -z "$LD_CUDA11" ] && [ "$CUDA11" != no ] && [ -f "$ROOT/.tools/cuda11/.retrain-pins" ]; then
  LD_CUDA11=$(bash scripts/gpu/install-cuda11.sh 2>/dev/null | tail -n 1) # already installed: just the path
fi

# ---- the Python half: PyTorch and XGBoost (and the MLP's data for the tfjs half)
PY=${GPU_CHECK_PYTHON:-}
[ -z "$PY" ] && { [ -x "$ROOT/.tools/py/bin/python" ] && PY=$ROOT/.tools/py/bin/python || PY=$(command -v python3); }
say "PyTorch and XGBoost with $PY"
PYTHONUNBUFFERED=1 timeout 900 "$PY" scripts/gpu/bench_py.py --out "$OUT/python.json" --data "$OUT/mlp.bin" \
  --seconds "$SECS" --xgb-rows "$XGB_ROWS" --xgb-rounds "$XGB_ROUNDS" 2>&1 | tee "$OUT/python.log" >&2

# ---- the TensorFlow.js half: the project's CPU backend, then the tfjs-node-gpu build
TFJS_GPU_PKG=$ROOT/.tools/tfjs-gpu/node_modules/@tensorflow/tfjs-node-gpu
if command -v node >/dev/null 2>&1 && [ -d node_modules/@tensorflow/tfjs ] && [ -d node_modules/tsx ] && [ -f "$OUT/mlp.bin" ]; then
  say "TensorFlow.js: tensorflow (tfjs-node, CPU), then tensorflow-gpu (tfjs-node-gpu$([ -n "$LD_CUDA11" ] && echo ', CUDA 11 from .tools/cuda11'))"
  TF_CPP_MIN_LOG_LEVEL=2 timeout 300 node --import tsx scripts/gpu/bench-tfjs.ts --backend tensorflow \
    --data "$OUT/mlp.bin" --out "$OUT/tfjs-cpu.json" --seconds "$SECS" 2>"$OUT/tfjs-cpu.log"
  # libtensorflow 2.9 has no Hopper (sm_90) kernels: the driver compiles its PTX; LAZY compiles only the
  # kernels used, and the cache keeps them for the next run. Level 0 logs the devices libtensorflow creates.
  LD_LIBRARY_PATH=${LD_CUDA11}${LD_CUDA11:+:}${LD_LIBRARY_PATH:-} TF_CPP_MIN_LOG_LEVEL=0 CUDA_MODULE_LOADING=LAZY \
    CUDA_CACHE_MAXSIZE=4294967296 timeout 900 node --import tsx scripts/gpu/bench-tfjs.ts --backend tensorflow-gpu \
    --package "$TFJS_GPU_PKG" --data "$OUT/mlp.bin" --out "$OUT/tfjs-gpu.json" --seconds "$SECS" 2>"$OUT/tfjs-gpu.log"
else
  say "TensorFlow.js: not run (needs node, the project's npm packages and the MLP data)"
  for b in gpu cpu; do
    echo '[{"framework":"tfjs","asked":"'"$([ $b = gpu ] && echo tensorflow-gpu || echo tensorflow)"'","on_gpu":null,"rate":null,"error":"not installed: node or the npm packages are missing"}]' >"$OUT/tfjs-$b.json"
  done
fi

# ---- the table and the verdict
INSTALLS="none (offline)"
[ ${#STEPS[@]} -gt 0 ] && INSTALLS=$(printf '%s, ' "${STEPS[@]}") && INSTALLS=${INSTALLS%, }
MACHINE="GPU: $GPU_LINE | $(nproc) CPUs | size $SIZE | installs: $INSTALLS"
python3 scripts/gpu/report.py --dir "$OUT" --machine "$MACHINE"
rc=$?
say "$(($(date +%s) - started)) s; logs, results.json and table.md in ${OUT#"$ROOT"/}"
exit $rc
