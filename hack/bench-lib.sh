# shellcheck shell=bash
# Sourced by hack/bench-*.sh after they set BENCH (the benchmark's name):
# the work directory .bench/$BENCH (BENCH_DIR overrides), lib.sh, cleanup of
# the registries and background processes, the shared size knobs, and the
# timing helpers. The ~1 GB world (PACKAGES × 2 versions, artifacts of
# ARTIFACT_BYTES) is generated once and shared by the benchmarks.
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HACK/.." && pwd)"
export REPO
E2E_DIR="${BENCH_DIR:-$REPO/.bench/$BENCH}"
export E2E_DIR
mkdir -p "$E2E_DIR"
# shellcheck source=lib.sh
source "$HACK/lib.sh"
trap 'stop_all' EXIT
rm -rf "$E2E_DIR/reg"

RUNS="${RUNS:-3}"
PACKAGES="${PACKAGES:-400}"
ARTIFACT_BYTES="${ARTIFACT_BYTES:-800000}"
PLATFORMS="x86_64-linux-gnu,aarch64-linux-gnu,x86_64-apple-darwin,aarch64-apple-darwin,x86_64-w64-mingw32,x86_64-linux-musl"

# bench_tools: the peer tools and a fresh bin/shoebox.
bench_tools() {
  [[ -x $TOOLS_DIR/oras && -x $TOOLS_DIR/registry ]] || bash "$HACK/install-tools.sh"
  (cd "$REPO" && make --no-print-directory build >&2)
}

# bench_world: sets W to the shared generated world (W/static is its Pkg
# server directory), generating it when missing.
bench_world() {
  W="$REPO/.bench/push/world-$PACKAGES-$ARTIFACT_BYTES"
  if [[ ! -d $W/static ]]; then
    log "generating the world ($PACKAGES packages × 2 versions, artifacts of $ARTIFACT_BYTES bytes)"
    rm -rf "$W" && mkdir -p "$W"
    (cd "$REPO" && go run ./internal/testkit/fixture/cmd/genworld -out "$W/world" -static "$W/static" -seed 42 \
      -packages "$PACKAGES" -versions 2 -artifact-fraction 0.25 -artifact-bytes "$ARTIFACT_BYTES" \
      -platforms "$PLATFORMS" -yanked-every -1 >"$W/world.json")
  fi
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# timeit CMD…: its wall time in seconds; a failing command aborts the benchmark.
timeit() {
  local t0 t1
  sync # no write-back of the previous run is billed to this one
  t0="$(now)"
  "$@" >/dev/null 2>"$E2E_DIR/last.err" || { cat "$E2E_DIR/last.err" >&2; die "$* failed"; }
  t1="$(now)"
  echo "$t1 - $t0" | bc -l
}
