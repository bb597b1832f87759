#!/usr/bin/env bash
# The e2e runner: interop with real registries and peer tools.
#
#   hack/e2e.sh                    # every stage
#   hack/e2e.sh treehash registries   # only these (stage_treehash, stage_registries)
#
# Stages live in hack/e2e.d/*.sh; each file defines one or more functions
# `stage_<name>()`. Stages run in the sorted order of their files (and of
# definition within a file), each in its own bash process with lib.sh and
# every e2e.d file sourced, `set -euo pipefail`, its own E2E_PIDS (every
# background process it started is killed when it ends) and a time limit
# (E2E_STAGE_TIMEOUT, default 600s). A failing stage does not stop the run.
# The last line is "N passed, M failed"; the exit status is non-zero if any
# stage failed.
#
# Environment: E2E_SKIP_INSTALL=1 skips hack/install-tools.sh; E2E_SKIP_BUILD=1
# skips `make build`; E2E_DIR picks the work directory (default a new one under
# .e2e/); TOOLS_DIR as for install-tools.sh.
set -euo pipefail

HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HACK/.." && pwd)"
export REPO
# shellcheck source=lib.sh
source "$HACK/lib.sh"
E2E_STAGE_TIMEOUT="${E2E_STAGE_TIMEOUT:-600}"
cd "$REPO"
# on the way out (also on Ctrl-C): whatever any stage left running
trap 'stop_all "$E2E_DIR"/stages/*/pids' EXIT

t0=$SECONDS
log "e2e: work dir $E2E_DIR"
if [[ "${E2E_SKIP_INSTALL:-0}" != 1 ]]; then
  ts=$SECONDS
  bash "$HACK/install-tools.sh" || die "install-tools.sh failed"
  log "e2e: tools ready in $((SECONDS - ts))s"
fi
if [[ "${E2E_SKIP_BUILD:-0}" != 1 ]]; then
  ts=$SECONDS
  make --no-print-directory build >&2 || die "make build failed"
  log "e2e: shoebox built in $((SECONDS - ts))s"
fi

# Collect stage_* functions in file order, then definition order.
stage_files=()
while IFS= read -r f; do stage_files+=("$f"); done < <(LC_ALL=C ls "$HACK"/e2e.d/*.sh 2>/dev/null | LC_ALL=C sort)
stages=()
for f in "${stage_files[@]}"; do
  while IFS= read -r fn; do stages+=("$fn"); done < <(sed -nE 's/^[[:space:]]*(function[[:space:]]+)?(stage_[A-Za-z0-9_]+)[[:space:]]*\(\).*/\2/p' "$f")
done
((${#stages[@]})) || die "no stages found in $HACK/e2e.d"

if (($#)); then
  want=()
  for a in "$@"; do
    a="${a#stage_}"
    found=0
    for s in "${stages[@]}"; do
      [[ $s == "stage_$a" ]] && { want+=("$s"); found=1; }
    done
    ((found)) || die "no stage named $a (have: ${stages[*]})"
  done
  stages=("${want[@]}")
fi

passed=0
failed=0
failed_names=()
results=()
for s in "${stages[@]}"; do
  sd="$E2E_DIR/stages/${s#stage_}"
  mkdir -p "$sd"
  log "=== RUN $s"
  ts=$SECONDS
  set +e
  E2E_PIDS="$sd/pids" STAGE_DIR="$sd" STAGE="$s" \
    timeout --kill-after=15 "$E2E_STAGE_TIMEOUT" bash -c '
      set -euo pipefail
      source "$1/lib.sh"
      for f in "$1"/e2e.d/*.sh; do source "$f"; done
      trap stop_all EXIT
      trap "exit 143" TERM INT
      cd "$STAGE_DIR"
      "$2"
    ' _ "$HACK" "$s" 2>&1 | tee "$sd/log"
  rc=${PIPESTATUS[0]}
  set -e
  # in case the stage's own trap could not run (killed)
  stop_all "$sd/pids"
  dt=$((SECONDS - ts))
  if ((rc == 0)); then
    passed=$((passed + 1))
    results+=("PASS $s (${dt}s)")
    echo "PASS $s (${dt}s)"
  else
    failed=$((failed + 1))
    failed_names+=("$s")
    why="exit $rc"
    ((rc == 124 || rc == 137)) && why="timed out after ${E2E_STAGE_TIMEOUT}s"
    results+=("FAIL $s (${dt}s, $why, log: $sd/log)")
    echo "FAIL $s (${dt}s, $why; log: $sd/log)"
  fi
done

echo
echo "== e2e summary ($((SECONDS - t0))s, work dir $E2E_DIR)"
printf '  %s\n' "${results[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
