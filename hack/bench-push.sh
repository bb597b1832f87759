#!/usr/bin/env bash
# Benchmark: shoebox push of ~1 GB in ~2,000 items, against the physical
# limit and the peer tool, all in one run on one machine:
#   1. into a layout:   shoebox push   vs  cp -r of the same tarballs (+ sync)  vs  oras push --oci-layout
#   2. re-push: the same push again (up to date: kept as it is), and under a
#      new tag (the dedup path): time, items stored, blob bytes written
#   3. into a local registry (distribution v3): shoebox push  vs  oras cp --from-oci-layout
# Medians of RUNS runs (default 3). Sizes: PACKAGES (400), ARTIFACT_BYTES (800000).
#
#   bash hack/bench-push.sh            # the full ~1 GB benchmark
#   PACKAGES=40 bash hack/bench-push.sh  # a quick ~100 MB one
set -euo pipefail
BENCH=push
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_tools
bench_world
files="$(find "$W/static" -type f | wc -l)"
bytes="$(du -sb "$W/static" | cut -f1)"
log "world: $files files, $bytes bytes"

SRC="file://$W/static"
# Every timed run writes a fresh directory, and nothing is deleted until the
# end: deleting the previous run's output inside a timed run would bill its
# rm to the next tool, and ext4 without a journal (as here) also makes
# every file created within 60 s of a deletion scan past the deleted
# inodes (fs/ext4/ialloc.c, recently_deleted), which charges the tool that
# creates more files (a layout has a file per manifest) for the
# benchmark's own clean-up. Runs of the three tools are interleaved.
RUNDIR="$E2E_DIR/runs"
rm -rf "$RUNDIR" && mkdir -p "$RUNDIR" && sync
fresh() { mktemp -u "$RUNDIR/$1.XXXXXX"; }
push_layout() { shoebox push -q --from "$SRC" --all --versions latest:2 --all-platforms \
  --created 2026-11-23T00:00:00Z "$(fresh push):bench"; }
cp_layout() { cp -r "$W/static" "$(fresh cp)" && sync; }
oras_layout() {
  local d
  d="$(fresh oras)"
  (cd "$W/static" && find . -type f -printf '%P\n' | sort |
    xargs oras push --oci-layout "$d:bench" --annotation org.opencontainers.image.created=1970-01-01T00:00:00Z >/dev/null)
}

declare -A T
rm -f "$E2E_DIR"/*.all
for ((i = 0; i < RUNS; i++)); do
  for name in cp_layout push_layout oras_layout; do timeit "$name" >>"$E2E_DIR/$name.all"; done
done
for name in cp_layout push_layout oras_layout; do
  T[$name]="$(median <"$E2E_DIR/$name.all")"
  rm -f "$E2E_DIR/$name.all"
  log "$name: median ${T[$name]} s"
done
# the destination of the re-push runs (not timed), then one re-push that
# reports what the bundle holds and what it stored
rm -rf "$E2E_DIR/dst"
shoebox push -q --from "$SRC" --all --versions latest:2 --all-platforms --created 2026-11-23T00:00:00Z "$E2E_DIR/dst:bench"
shoebox push -q --from "$SRC" --all --versions latest:2 --all-platforms --created 2026-11-23T00:00:00Z --json \
  "$E2E_DIR/dst:bench" >"$E2E_DIR/repush.json"
items="$(jq '.items | add' "$E2E_DIR/repush.json")"

# re-push: time, items stored, blob bytes written (blob files new or rewritten)
snap() { find "$E2E_DIR/dst/blobs" -type f -printf '%p %s %T@\n' | sort; }
snap >"$E2E_DIR/before.txt"
repush() { shoebox push -q --from "$SRC" --all --versions latest:2 --all-platforms --created 2026-11-23T00:00:00Z \
  "$E2E_DIR/dst:bench"; }
for ((i = 0; i < RUNS; i++)); do timeit repush; done | median >"$E2E_DIR/repush.t"
upToDate="$(jq -r '.upToDate // false' "$E2E_DIR/repush.json")"
# the same push under a new tag each run: never up to date, so every item is
# planned, found in the layout and reused (the dedup path)
m=0
repush_newtag() { m=$((m + 1)); shoebox push -q --from "$SRC" --all --versions latest:2 --all-platforms \
  --created 2026-11-23T00:00:00Z "$E2E_DIR/dst:dedup$m"; }
for ((i = 0; i < RUNS; i++)); do timeit repush_newtag; done | median >"$E2E_DIR/repush_newtag.t"
snap >"$E2E_DIR/after.txt"
written="$(comm -13 "$E2E_DIR/before.txt" "$E2E_DIR/after.txt" | awk '{s+=$2} END {print s+0}')"
stored="$(jq .stored "$E2E_DIR/repush.json")"

# into a registry: shoebox push vs oras cp of the same bundle
start_distribution bench >/dev/null
addr="$(reg_addr bench)"
n=0
push_reg() { n=$((n + 1)); shoebox push -q --plain-http --from "$SRC" --all --versions latest:2 --all-platforms \
  --created 2026-11-23T00:00:00Z "$addr/shoebox$n/bundle:bench"; }
orascp_reg() { n=$((n + 1)); oras cp -r --from-oci-layout --to-plain-http "$E2E_DIR/dst:bench" "$addr/oras$n/bundle:bench" >/dev/null; }
for name in push_reg orascp_reg; do
  for ((i = 0; i < RUNS; i++)); do timeit "$name"; done | median >"$E2E_DIR/$name.t"
  T[$name]="$(cat "$E2E_DIR/$name.t")"
  log "$name: median ${T[$name]} s"
done
T[repush]="$(cat "$E2E_DIR/repush.t")"
T[repush_newtag]="$(cat "$E2E_DIR/repush_newtag.t")"

ratio() { echo "scale=2; $1 / $2" | bc -l; }
mbps() { echo "scale=1; $bytes / 1048576 / $1" | bc -l; }
cat <<MD | tee "$E2E_DIR/results.md"
### push benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, $files tarballs, $((bytes / 1048576)) MiB, $items items, medians of $RUNS)

| what | seconds | MiB/s | vs cp -r |
| --- | ---: | ---: | ---: |
| cp -r + sync (the limit) | ${T[cp_layout]} | $(mbps "${T[cp_layout]}") | 1.00 |
| shoebox push → layout | ${T[push_layout]} | $(mbps "${T[push_layout]}") | $(ratio "${T[push_layout]}" "${T[cp_layout]}") |
| oras push → layout | ${T[oras_layout]} | $(mbps "${T[oras_layout]}") | $(ratio "${T[oras_layout]}" "${T[cp_layout]}") |
| shoebox re-push (same tag: up to date = $upToDate) | ${T[repush]} | | $(ratio "${T[repush]}" "${T[push_layout]}") of the first push; $stored items stored |
| shoebox re-push under a new tag (dedup: every item planned and reused) | ${T[repush_newtag]} | | $(ratio "${T[repush_newtag]}" "${T[push_layout]}") of the first push; $written blob bytes written by all re-pushes |
| shoebox push → registry | ${T[push_reg]} | $(mbps "${T[push_reg]}") | |
| oras cp layout → registry | ${T[orascp_reg]} | $(mbps "${T[orascp_reg]}") | shoebox/oras = $(ratio "${T[push_reg]}" "${T[orascp_reg]}") |

Command: \`PACKAGES=$PACKAGES ARTIFACT_BYTES=$ARTIFACT_BYTES RUNS=$RUNS bash hack/bench-push.sh\`
MD
rm -rf "$RUNDIR"
