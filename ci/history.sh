#!/usr/bin/env bash
# Verdict history across nights, kept as run records on the branch `nightly-history`.
#
#   ci/history.sh restore DIR RECORDS   # DIR := the branch's records (empty on the first night),
#                                       # plus tonight's finished runs from RECORDS
#   ci/history.sh publish DIR           # commit DIR to nightly-history and push it (the workflow's token)
#
# The branch holds only records/<paper>/<run-id>/ folders (record.json and figures), one commit
# per night; the report is built from all of them, so each paper's page lists every night's run
# and ci/verdict_history.py finds the claims whose verdict flipped.
set -euo pipefail
cd "$(dirname "$0")/.."
BRANCH="${HISTORY_BRANCH:-nightly-history}"

die() { printf '[history] error: %s\n' "$*" >&2; exit 2; }
log() { printf '[history] %s\n' "$*" >&2; }

restore() {
  local dir="$1" records="$2"
  rm -rf "$dir"
  git worktree prune  # a folder removed above (an earlier run on the same runner) is forgotten too
  if git fetch --quiet --depth=1 origin "$BRANCH" 2>/dev/null; then
    git worktree add --quiet --detach "$dir" FETCH_HEAD
    log "restored $(find "$dir/records" -mindepth 2 -maxdepth 2 -type d 2>/dev/null | wc -l) earlier runs from $BRANCH"
  else
    log "no branch $BRANCH yet: the history starts tonight"
    git worktree add --quiet --detach "$dir" HEAD
    git -C "$dir" checkout --quiet --orphan "$BRANCH"
    git -C "$dir" rm -r -q -f .
  fi
  mkdir -p "$dir/records"
  if [ -d "$records" ]; then
    # finished runs only: unfinished .<run-id>.partial folders stay out of the history
    find "$records" -mindepth 2 -maxdepth 2 -type d ! -name '.*' -print0 | while IFS= read -r -d '' run; do
      paper=$(basename "$(dirname "$run")")
      mkdir -p "$dir/records/$paper"
      cp -R "$run" "$dir/records/$paper/"
    done
  fi
}

publish() {
  local dir="$1"
  [ -d "$dir/records" ] && [ -e "$dir/.git" ] || die "$dir is not a restored history: run restore first"
  git -C "$dir" add records
  if git -C "$dir" diff --cached --quiet; then
    log "nothing new to publish"
    return 0
  fi
  git -C "$dir" -c user.name="recrepro nightly" -c user.email="nightly@users.noreply.github.com" \
    commit --quiet -m "nightly records $(date -u +%Y-%m-%d)"
  git -C "$dir" push --quiet origin "HEAD:refs/heads/$BRANCH"
  log "published to $BRANCH"
}

case "${1:-}" in
  restore) [ $# -eq 3 ] || die "usage: ci/history.sh restore DIR RECORDS"; restore "$2" "$3" ;;
  publish) [ $# -eq 2 ] || die "usage: ci/history.sh publish DIR"; publish "$2" ;;
  *) die "usage: ci/history.sh restore DIR RECORDS | publish DIR" ;;
esac
