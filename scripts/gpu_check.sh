#!/usr/bin/env bash
# GPU check of the robot's path, in one run (under 8 minutes on a desktop GPU or a Jetson Orin):
#   CUDA torch fp32 / fp16, ONNX Runtime CUDA, TensorRT fp16 and int8 engines, for atto and tiny at 480x640:
#   frames per second, parity against torch fp32 (argmax agreement, mIoU difference) on the synthetic fusion
#   model trained in the run, TensorRT engine build time, and GPU memory in use.
#
#   scripts/gpu_check.sh [OUT_DIR]        (default: gpu_check_<date>; nothing outside OUT_DIR is written)
#
# Needs: a CUDA build of torch, tensorrt (10.3 .. 11.x), onnxruntime-gpu and nvidia-modelopt[onnx] (int8
# engines): see docs/deployment.md "TensorRT". Paste the tables it prints into docs/deployment.md "Measured on a GPU".
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi missing or sees no device); run it on the GPU machine" >&2
  exit 1
fi
OUT=${1:-gpu_check_$(date +%Y%m%d_%H%M%S)}
if [[ -e "$OUT" && -n "$(ls -A "$OUT" 2>/dev/null)" ]]; then
  echo "gpu_check: $OUT exists and is not empty; give a new folder" >&2
  exit 2
fi
mkdir -p "$OUT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
PY=${PYTHON:-python3}
RXSSNET=(rxssnet)  # the package installed in the active environment (pip install -e . / colcon)

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$PY" - <<'EOF'
import importlib
for name in ("torch", "tensorrt", "onnxruntime", "modelopt"):
    try:
        module = importlib.import_module(name)
        extra = ""
        if name == "torch":
            extra = f" cuda={module.cuda.is_available()} {module.version.cuda}"
        if name == "onnxruntime":
            extra = f" providers={module.get_available_providers()}"
        print(f"{name} {module.__version__}{extra}")
    except ImportError as error:
        print(f"{name}: not installed ({error})")
EOF

# GPU memory in use, sampled every 0.5 s for the whole run (peak printed at the end)
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 >"$OUT/gpu_memory_mib.txt" 2>/dev/null &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null || true' EXIT

echo "== speed and parity (rxssnet bench; trains the synthetic fusion model into $OUT/fusion first)"
timeout 360 "${RXSSNET[@]}" bench --device cuda --variants atto tiny --sizes 480x640 \
  --backends torch onnxruntime tensorrt --precisions fp32 fp16 int8 --no-authors \
  --warmup 10 --repeat 30 --train-fusion "$OUT/fusion" | tee "$OUT/bench.md"

echo "== fp32 islands of the fp16 precision plan on CUDA (torch fp32 / fp16 plain / fp16 islands / bf16)"
timeout 240 "$PY" -m rxssnet_core.benchmarks.precision_islands --device cuda --repeat 20 | tee "$OUT/islands.md"

echo "== TensorRT engine build time (fixed 480x640, the trained atto model)"
checkpoint=$(find "$OUT/fusion/run" -name best.safetensors 2>/dev/null | sort | head -1)
for precision in fp16 int8; do
  [[ -n $checkpoint ]] || break
  extra=()
  [[ $precision == int8 ]] && extra=(--calibration-dir "$OUT/fusion/data" --calibration-images 32)
  start=$(date +%s%N)
  timeout 120 "${RXSSNET[@]}" export --checkpoint "$checkpoint" --format tensorrt --precision "$precision" \
    --height 480 --width 640 --out "$OUT/atto_$precision.engine" "${extra[@]}" >"$OUT/export_$precision.log" 2>&1 \
    && status=ok || status="FAILED (see $OUT/export_$precision.log)"
  printf '| atto | %s | %d ms | %s |\n' "$precision" $(( ($(date +%s%N) - start) / 1000000 )) "$status"
done

kill $SAMPLER 2>/dev/null || true
echo "== peak GPU memory in use during the run: $(sort -n "$OUT/gpu_memory_mib.txt" | tail -1) MiB"
echo "results in $OUT"
