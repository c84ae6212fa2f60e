#!/usr/bin/env bash
# Run benchmarks/gpu_check.py on the lent GPU machine in one command, inside a time limit:
#   1. install the carried wheels (bash scripts/gpu_wheels.sh made them, in .whl/) of the packages missing there,
#      with pip --no-deps --no-index into a scratch folder put on PYTHONPATH (the machine's own packages stay);
#   2. run the check with --budget-seconds = what is left of GPU_CHECK_SECONDS after the install, under a hard
#      `timeout` a little later, writing gpu_check.json and gpu_check.log into $OUT (or benchmarks/results/).
#
#   bash scripts/gpu_run.sh                           # the GPU run (the device tool's command; carry [".whl"])
#   bash scripts/gpu_run.sh --device cpu --quick      # the same steps here, on the CPU (arguments go to the check)
#
# Settings: PYTHON (python3), GPU_WHEELS (.whl), GPU_CHECK_SECONDS (450: whole-run budget; the check's sections
# that would not fit are skipped and recorded), GPU_CHECK_SITE (/tmp/gpu-check-site).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
PYTHON=${PYTHON:-python3}
WHEELS=${GPU_WHEELS:-.whl}
SECONDS_TOTAL=${GPU_CHECK_SECONDS:-450}
SITE=${GPU_CHECK_SITE:-/tmp/gpu-check-site}
RESULTS=${OUT:-benchmarks/results}
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TOKENIZERS_PARALLELISM=false

echo "== machine"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PYTHON" -c "import sys, torch, transformers; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, torch.cuda.is_available(), '| transformers', transformers.__version__)" || exit 1

echo "== 1. carried wheels of the packages missing here ($WHEELS)"
missing=$("$PYTHON" - "$WHEELS" <<'EOF'
import importlib.metadata, pathlib, sys
names = sorted({wheel.name.split("-")[0] for wheel in pathlib.Path(sys.argv[1]).glob("*.whl")})
def installed(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
for name in names:
    version = installed(name)
    print(f"   {name}: {'already here, ' + version if version else 'missing'}", file=sys.stderr)
print(" ".join(name for name in names if installed(name) is None))
EOF
)
if [[ -n "$missing" ]]; then
  rm -rf "$SITE"
  # --find-links picks, per package, the carried wheel that fits this Python (Pillow is carried for one version)
  "$PYTHON" -m pip install -q --no-deps --no-index --no-compile --no-cache-dir --find-links "$WHEELS" \
    --target "$SITE" $missing || { echo "installing the carried wheels failed" >&2; exit 1; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PYTHON" -c "import diffusers, PIL; print('diffusers', diffusers.__version__, '| Pillow', PIL.__version__)" || exit 1

# The random models (about 6 GB at full size) are written and read back once: into memory where there is room.
scratch=()
shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')
if [[ "${shm_free:-0}" =~ ^[0-9]+$ ]] && (( shm_free > 24 * 1024 * 1024 )); then
  scratch=(--scratch-dir /dev/shm)
fi

left=$(( SECONDS_TOTAL - ($(date +%s) - started) ))
echo "== 2. benchmarks/gpu_check.py: $left s of budget left after $(( $(date +%s) - started )) s of set-up"
timeout -k 10 $(( left + 30 )) "$PYTHON" benchmarks/gpu_check.py --out "$RESULTS/gpu_check.json" \
  --budget-seconds "$left" "${scratch[@]}" "$@" 2>&1 | tee "$RESULTS/gpu_check.log"
status=${PIPESTATUS[0]}
echo "== done in $(( $(date +%s) - started )) s, exit status $status; $RESULTS/gpu_check.json"
exit "$status"
