#!/usr/bin/env bash
# The wheels benchmarks/gpu_check.py needs on the lent GPU machine, downloaded here into a folder that travels
# with the run. That machine has torch and transformers (other versions than our pins) and much else, but no
# diffusers, and reaches no registry; scripts/gpu_run.sh installs from this folder what is missing there.
#   bash scripts/gpu_wheels.sh                             # into .whl/ (git ignores it), for its Python 3.12
#   bash scripts/gpu_wheels.sh --python-version 3.11 DIR   # for a local test of gpu_run.sh in a bare venv
#
# What a machine with only torch and transformers (and their dependencies) lacks, found by running the check in
# such a venv: diffusers, which checks at import that `requests` is installed (with its charset_normalizer and
# urllib3; idna and certifi come with transformers' httpx), and Pillow, the one compiled package, which the GPU
# machine has (gpu_run.sh installs a package only where it is missing). gradio is never needed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_VERSION=3.12
DIR=.whl
while (( $# )); do
  case "$1" in
    --python-version) PY_VERSION=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) DIR=$1; shift ;;
  esac
done
PYTHON=${PYTHON:-.venv/bin/python}
LIMIT_MIB=32

PURE=("$(grep -E '^diffusers==' requirements.txt)" requests==2.34.2 charset_normalizer==3.5.3 urllib3==2.8.0)
COMPILED=(pillow==12.3.0)

mkdir -p "$DIR"
rm -f "$DIR"/*.whl
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Pure-Python wheels only (py3-none-any), so they install on any Python 3 and any machine.
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --implementation py --abi none --platform any \
  --python-version "$PY_VERSION" -d "$DIR" "${PURE[@]}"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --implementation cp --python-version "$PY_VERSION" \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$DIR" "${COMPILED[@]}"

for wheel in "$DIR"/*.whl; do
  case "$(basename "$wheel")" in
    pillow-*) ;;
    *-py3-none-any.whl) ;;
    *) echo "not a pure-Python wheel: $wheel" >&2; exit 1 ;;
  esac
done
if grep -rlq --include='*.py' -E '^\s*(import|from) gradio' benchmarks/gpu_*.py benchmarks/random_models.py playground/; then
  echo "the check or playground/ imports gradio, which the GPU machine does not have" >&2
  exit 1
fi
total=$(du -cb "$DIR"/*.whl | tail -1 | cut -f1)
ls -l "$DIR"
echo "$(ls "$DIR"/*.whl | wc -l) wheels, $(( total / 1024 / 1024 )) MiB (limit $LIMIT_MIB MiB; with the tracked files the run carries at most 64 MiB)"
if (( total > LIMIT_MIB * 1024 * 1024 )); then
  echo "the wheels are over $LIMIT_MIB MiB" >&2
  exit 1
fi
