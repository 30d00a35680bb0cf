#!/usr/bin/env bash
# One command for everything: set up .venv (idempotent), then run a `repro` command or the tests.
#
#   ./repro.sh run adatt          # install, then `repro run adatt` (any repro command works)
#   ./repro.sh test [pytest args] # install (plus chromium/actionlint), then the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "test" ]; then
  shift
  bash scripts/bootstrap.sh --test
  exec .venv/bin/python -m pytest "$@"
fi
bash scripts/bootstrap.sh
exec .venv/bin/repro "$@"
