#!/usr/bin/env bash
# Regenerate the constraints (lock) files from a working .venv, after a deliberate upgrade:
#
#   bash scripts/lock.sh [VENV]     # default VENV: .venv
#
# constraints/cpu.txt pins every installed distribution (the CPU stack: torch 2.13.0 CPU build,
# fbgemm-gpu-cpu); constraints/gpu.txt is the same with fbgemm-gpu in place of fbgemm-gpu-cpu (the
# CUDA torch wheel pins its nvidia-* and triton dependencies exactly itself). scripts/bootstrap.sh
# installs with `-c constraints/<stack>.txt`, so a fresh machine gets these versions.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
header() {
  printf '# %s\n' "Constraints of the $1 stack: the exact versions scripts/bootstrap.sh installs." \
    "Regenerate with: bash scripts/lock.sh (from a working .venv), and commit the result."
}
frozen=$("$venv/bin/python" -m pip freeze --all --disable-pip-version-check --exclude-editable \
  | grep -v -i -E '^(recrepro|setuptools|wheel)==' \
  | sed -E 's/^(torch==[0-9.]+)\+[a-z0-9]+$/\1/' | LC_ALL=C sort -f)
{ header CPU; echo "$frozen"; } > constraints/cpu.txt
{ header "GPU (CUDA)"; echo "$frozen" | sed -E 's/^fbgemm[-_]gpu[-_]cpu==/fbgemm-gpu==/'; } > constraints/gpu.txt
echo "wrote constraints/cpu.txt and constraints/gpu.txt ($(echo "$frozen" | wc -l) pins each)"
