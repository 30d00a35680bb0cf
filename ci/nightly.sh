#!/usr/bin/env bash
# The nightly job: set up, reproduce every implemented paper, gate on asv regressions against the
# previous commit, record the micro-benchmarks, build the report with the asv site inside it.
# .github/workflows/nightly.yml runs it on CPU and GPU runners; a user runs it the same way:
#
#   ci/nightly.sh                          # everything: default profile on CPU (hours on 2 cores)
#   ci/nightly.sh --quick                  # smoke profile, asv --quick: end to end in minutes
#   ci/nightly.sh --profile full --device cuda --only papers     # the GPU leg
#   ci/nightly.sh --skip setup --skip papers                     # benchmarks and report only
#
# Every selected step runs even if an earlier one failed (so the report still shows what did
# work); the script then exits 1 and names each failed step. --fail-fast stops at the first.
# A dataset that cannot be downloaded (no public URL, no network) is not a failure: its papers
# are reported as "data unavailable" in STATUS/papers.tsv and skipped. Time benchmarks gate only
# on a dedicated machine (--time-gate auto: informational on GitHub-hosted runners, whose timings
# swing 15-30%); quality benchmarks always gate. STATUS/ (default ci/nightly-status) also gets
# the data, paper and benchmark outcomes and, from the report step, the verdict-history summary.
# How the regression gate works and how to compare by hand: ci/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_STEPS=(setup data papers asv micro report)

usage() {
  cat <<'EOF'
usage: ci/nightly.sh [options]

steps (in order): setup data papers asv micro report
  setup   bash scripts/bootstrap.sh (creates .venv, installs the pinned stack)
  data    repro data download for every dataset of the selected papers (only with --download-data);
          a dataset that cannot be fetched is listed in STATUS/data-unavailable, not a failure
  papers  repro run <paper> --profile P --device D for every implemented paper; a paper whose
          data is unavailable is skipped as "data unavailable" (STATUS/papers.tsv)
  asv     asv continuous BASE HEAD: quality beyond --quality-factor fails; time beyond
          --time-factor fails only when the time gate is on (see --time-gate); asv publish
  micro   pytest-benchmark micro-benchmarks (tests/benchmarks), saved and compared to the last run
  report  repro report --out SITE (it copies ci/asv-html into SITE/asv), then the verdict history
          summary STATUS/summary.md and, on a verdict flip or quality regression, STATUS/alert.md

options:
  --quick                 smoke profile, asv --quick, one round per micro-benchmark (or NIGHTLY_QUICK=1)
  --profile NAME          paper profile: smoke, default or full (default: default; smoke with --quick)
  --device cpu|cuda       where the papers train (default: cpu)
  --papers "ID ..."       only these papers (default: every implemented paper, `repro list --implemented`)
  --only STEP             run only this step (repeatable)
  --skip STEP             skip this step (repeatable)
  --download-data         enable the data step ($REPRO_DATA_MIRROR, if set, is passed as --base-url)
  --base REF              asv baseline commit (default: HEAD~1)
  --asv-bench REGEX       only the time/memory benchmarks matching it, e.g. bench_metrics (quality always runs)
  --time-factor F         asv regression threshold for time/memory (default: $ASV_TIME_FACTOR, else 1.10; 1000 with --quick)
  --quality-factor F      threshold for the track_* quality benchmarks (default: $ASV_QUALITY_FACTOR or 1.01)
  --time-gate on|off|auto whether a time regression fails the step (default auto: off on GitHub-hosted
                          runners, $RUNNER_ENVIRONMENT=github-hosted, on elsewhere)
  --status DIR            outcome files of this run (default: ci/nightly-status)
  --results DIR           run records of this job (default: results/nightly)
  --site DIR              report output (default: site)
  --fail-fast             stop at the first failed step
  --dry-run               print the selected steps and settings, run nothing
  -h, --help              this text
EOF
}

log() { printf '\033[1m[nightly]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[nightly] error:\033[0m %s\n' "$*" >&2; exit 2; }

quick="${NIGHTLY_QUICK:-0}" profile="" device=cpu papers="" download_data=0 base=HEAD~1 fail_fast=0 dry_run=0 asv_bench=""
time_factor="${ASV_TIME_FACTOR:-}" quality_factor="${ASV_QUALITY_FACTOR:-1.01}" time_gate=auto
results=results/nightly site=site status=ci/nightly-status
only=() skip=()

is_step() { local s; for s in "${ALL_STEPS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --profile) need_value "$@"; profile="$2"; shift ;;
    --device) need_value "$@"; device="$2"; shift ;;
    --papers) need_value "$@"; papers="$2"; shift ;;
    --only) need_value "$@"; is_step "$2" || die "unknown step '$2' (steps: ${ALL_STEPS[*]})"; only+=("$2"); shift ;;
    --skip) need_value "$@"; is_step "$2" || die "unknown step '$2' (steps: ${ALL_STEPS[*]})"; skip+=("$2"); shift ;;
    --download-data) download_data=1 ;;
    --base) need_value "$@"; base="$2"; shift ;;
    --asv-bench) need_value "$@"; asv_bench="$2"; shift ;;
    --time-factor) need_value "$@"; time_factor="$2"; shift ;;
    --quality-factor) need_value "$@"; quality_factor="$2"; shift ;;
    --time-gate) need_value "$@"; time_gate="$2"; shift ;;
    --status) need_value "$@"; status="$2"; shift ;;
    --results) need_value "$@"; results="$2"; shift ;;
    --site) need_value "$@"; site="$2"; shift ;;
    --fail-fast) fail_fast=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

[ -n "$profile" ] || { [ "$quick" = 1 ] && profile=smoke || profile=default; }
# --quick times every benchmark once, first call included: unchanged code measured up to 3x apart
# between two commits even on a quiet machine. So the quick time gate only fails on benchmarks
# that fail to run (x1000); quality numbers repeat exactly and keep x1.01.
[ -n "$time_factor" ] || { [ "$quick" = 1 ] && time_factor=1000 || time_factor=1.10; }
case "$profile" in smoke|default|full) ;; *) die "--profile must be smoke, default or full, not '$profile'" ;; esac
case "$device" in cpu|cuda) ;; *) die "--device must be cpu or cuda, not '$device'" ;; esac
case "$time_gate" in
  on|off) ;;
  auto) if [ "${RUNNER_ENVIRONMENT:-}" = github-hosted ]; then time_gate=off; else time_gate=on; fi ;;
  *) die "--time-gate must be on, off or auto, not '$time_gate'" ;;
esac

selected() {
  local s
  if [ ${#only[@]} -gt 0 ]; then
    for s in "${only[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
  fi
  for s in "${skip[@]+"${skip[@]}"}"; do [ "$s" = "$1" ] && return 1; done
  [ "$1" != data ] || [ "$download_data" = 1 ]
}

# The tools of .venv; NIGHTLY_PY / NIGHTLY_ASV stand in for them in tests/ci/test_nightly_script.py.
PY="${NIGHTLY_PY:-.venv/bin/python}"
REPRO=.venv/bin/repro
ASV="${NIGHTLY_ASV:-.venv/bin/asv}"

need_venv() {
  [ -x "$PY" ] || die ".venv is missing: run the setup step (bash scripts/bootstrap.sh) first"
  mkdir -p "$status"
}

# The selected paper ids, one line; fails (rather than selecting nothing) if they cannot be listed.
paper_ids() {
  local ids="$papers"
  if [ -z "$ids" ]; then
    ids=$("$REPRO" list --implemented --json | "$PY" -c 'import json, sys; print(*(p["id"] for p in json.load(sys.stdin)))')
  fi
  [ -n "$ids" ] || die "no papers selected: \`repro list --implemented\` lists none"
  echo "$ids"
}

# ------------------------------------------------------------------ steps

step_setup() {
  bash scripts/bootstrap.sh
}

# The dataset ids the given papers read, one line.
datasets_of() {
  "$PY" -c 'import sys; from repro.registry import get_paper
print(*sorted({d for p in sys.argv[1:] for d in get_paper(p).datasets}))' "$@"
}

step_data() {
  need_venv
  local ids datasets unavailable=()
  ids=$(paper_ids)
  # shellcheck disable=SC2086  # word splitting of the id list is intended
  datasets=$(datasets_of $ids)
  for id in $datasets; do
    log "data: $id"
    "$REPRO" data download "$id" ${REPRO_DATA_MIRROR:+--base-url "$REPRO_DATA_MIRROR"} || unavailable+=("$id")
  done
  printf '%s\n' "${unavailable[@]+"${unavailable[@]}"}" | sed '/^$/d' > "$status/data-unavailable"
  if [ ${#unavailable[@]} -gt 0 ]; then
    log "data: unavailable (their papers are reported as such, the night goes on): ${unavailable[*]}"
  fi
}

step_papers() {
  need_venv
  local ids failed=() missing needs
  ids=$(paper_ids)
  : > "$status/papers.tsv"
  for id in $ids; do
    needs=$(datasets_of "$id")
    missing=""
    # Only what this invocation's data step found counts (a file left by an earlier call does not).
    if [ "$profile" != smoke ] && selected data && [ -s "$status/data-unavailable" ]; then
      # shellcheck disable=SC2086  # one dataset id per word
      missing=$(printf '%s\n' $needs | grep -Fx -f "$status/data-unavailable" | tr '\n' ' ' || true)
    fi
    if [ -n "$missing" ]; then
      log "papers: $id: data unavailable (${missing% }), skipped"
      printf '%s\tdata unavailable: %s\n' "$id" "${missing% }" >> "$status/papers.tsv"
      continue
    fi
    log "papers: repro run $id --profile $profile --device $device"
    if "$REPRO" run "$id" --profile "$profile" --device "$device" --results "$results"; then
      printf '%s\tok\n' "$id" >> "$status/papers.tsv"
    else
      failed+=("$id")
      printf '%s\tfailed\n' "$id" >> "$status/papers.tsv"
    fi
  done
  [ ${#failed[@]} -eq 0 ] || { log "papers: failed: ${failed[*]} (their messages are above)"; return 1; }
}

# One asv gate: run BASE and HEAD, fail on a change beyond factor $1 among benchmarks matching $2.
# asv continuous skips its comparison table when any benchmark failed on either commit, so then
# the stored results are compared here for the record (the gate still fails).
gate() {
  "$ASV" continuous "${common[@]}" --factor "$1" --bench "$2" "$base" HEAD && return 0
  log "asv: a benchmark failed or regressed; the comparison of the stored results:"
  "$ASV" compare --machine "$machine" --factor "$1" --split "$base" HEAD || true
  return 1
}

step_asv() {
  need_venv
  git rev-parse --verify --quiet "$base^{commit}" >/dev/null \
    || die "asv: baseline '$base' is not a commit here (a shallow clone? fetch with depth >= 2)"
  local rc=0
  machine="${ASV_MACHINE:-$(hostname)}"
  common=(--machine "$machine" --show-stderr)
  # Quick: one sample per benchmark. Otherwise alternate the two commits round by round, so that
  # a change in machine load hits both sides instead of the one that happened to run second.
  if [ "$quick" = 1 ]; then common+=(--quick); else common+=(--interleave-rounds); fi
  "$ASV" machine --yes --machine "$machine" >/dev/null
  # asv counts every number as lower-is-better; quality is tracked as 1 - AUC and NE, so a
  # quality drop is an increase like a slowdown. Timings are noisy, quality numbers are
  # repeatable bit for bit on one machine: hence two gates with their own thresholds.
  : > "$status/asv-regressions"
  log "asv: time and memory, $base vs HEAD, beyond x$time_factor (gate $time_gate)"
  # asv ORs several --bench regexes, so --asv-bench joins this one as a lookahead.
  if ! gate "$time_factor" "^(?!bench_quality\.)(?=.*(?:$asv_bench))"; then
    if [ "$time_gate" = on ]; then
      rc=1
      echo "time: a benchmark regressed beyond x$time_factor or failed ($base vs HEAD)" >> "$status/asv-regressions"
    else
      log "asv: time changes above are informational on this runner (--time-gate off)"
      echo "time (informational, shared runner): a benchmark moved beyond x$time_factor or failed ($base vs HEAD)" \
        >> "$status/asv-regressions"
    fi
  fi
  log "asv: quality (track_*), $base vs HEAD, fail beyond x$quality_factor"
  if ! gate "$quality_factor" '^bench_quality\.'; then
    rc=1
    echo "quality: a track_* benchmark regressed beyond x$quality_factor or failed ($base vs HEAD)" >> "$status/asv-regressions"
  fi
  "$ASV" publish
  [ "$rc" = 0 ] || log "asv: regressions or failing benchmarks (tables above; '+' marks a regression)"
  return "$rc"
}

step_micro() {
  need_venv
  local args=(tests/benchmarks --benchmark-only --benchmark-autosave -p no:cacheprovider -q)
  [ "$quick" = 1 ] && args+=(--benchmark-min-rounds=1 --benchmark-max-time=0 --benchmark-warmup=off)
  # Compare with the last saved run of this machine when there is one (informational: the gate is asv).
  if compgen -G ".benchmarks/*/*.json" >/dev/null; then args+=(--benchmark-compare); fi
  .venv/bin/pytest "${args[@]}"
}

step_report() {
  need_venv
  "$REPRO" report --results "$results" --out "$site"
  if [ -f ci/asv-html/index.html ] && [ ! -f "$site/asv/index.html" ]; then
    log "report: ci/asv-html exists but $site/asv/index.html does not"
    return 1
  fi
  log "report: $site/index.html"
  "$PY" ci/verdict_history.py --results "$results" --summary "$status/summary.md" --alert "$status/alert.md" \
    --asv-status "$status/asv-regressions" >/dev/null
  if [ -f "$status/papers.tsv" ]; then
    { echo; echo "### Papers tonight"; echo; echo "| paper | outcome |"; echo "| --- | --- |"
      sed 's/\t/ | /; s/^/| /; s/$/ |/' "$status/papers.tsv"; } >> "$status/summary.md"
  fi
  [ -z "${GITHUB_STEP_SUMMARY:-}" ] || cat "$status/summary.md" >> "$GITHUB_STEP_SUMMARY"
  [ ! -f "$status/alert.md" ] || log "report: verdict flips or quality regressions: $status/alert.md"
}

# ------------------------------------------------------------------ driver

if [ "$dry_run" = 1 ]; then
  steps=()
  for s in "${ALL_STEPS[@]}"; do selected "$s" && steps+=("$s"); done
  echo "steps: ${steps[*]}"
  echo "papers: profile=$profile device=$device results=$results ids=${papers:-<every implemented paper>}"
  echo "asv: base=$base bench=${asv_bench:-<all>} time-factor=$time_factor time-gate=$time_gate quality-factor=$quality_factor quick=$quick"
  echo "report: $site"
  exit 0
fi

failed_steps=()
for s in "${ALL_STEPS[@]}"; do
  selected "$s" || continue
  log "=== $s"
  started=$SECONDS
  set +e
  ( set -e; "step_$s" )
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    log "=== $s: ok ($((SECONDS - started)) s)"
  else
    log "=== $s: FAILED (exit $rc, $((SECONDS - started)) s)"
    failed_steps+=("$s")
    [ "$fail_fast" = 0 ] || break
  fi
done

if [ ${#failed_steps[@]} -gt 0 ]; then
  printf '\033[1;31m[nightly] failed steps: %s\033[0m\n' "${failed_steps[*]}" >&2
  exit 1
fi
log "all selected steps passed"
