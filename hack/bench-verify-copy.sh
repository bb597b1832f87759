#!/usr/bin/env bash
# Benchmark: shoebox verify and shoebox copy of a ~1 GB signed bundle, against
# the physical limit and the peer tool, all in one run on one machine:
#   1. verify (signature, every digest, closure) vs openssl dgst -sha256 over
#      the same blob files (the limit: every byte read and hashed once, with
#      SHA-NI; run nproc-parallel, as verify hashes on several cores; one
#      process and sha256sum, which is slower than openssl here, for
#      information); --deep for information
#   2. copy layout → local registry (distribution v3, plain HTTP): shoebox copy
#      (verifying first, the default) vs oras cp --from-oci-layout; shoebox copy
#      --no-verify for information. Runs alternate between the tools, each into a
#      fresh repository.
# Page cache warm for every tool (each is run once before timing). Medians of
# RUNS runs (default 3). Sizes as hack/bench-push.sh: PACKAGES (400),
# ARTIFACT_BYTES (800000) give ~1 GB.
#
#   bash hack/bench-verify-copy.sh             # the full ~1 GB benchmark
#   PACKAGES=40 bash hack/bench-verify-copy.sh # a quick ~100 MB one
set -euo pipefail
BENCH=verify-copy
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_tools
bench_world

# The signed stick.
S="$E2E_DIR/stick-$PACKAGES-$ARTIFACT_BYTES"
export SHOEBOX_PASSWORD=bench
if [[ ! -s $S.ok ]]; then
  rm -rf "$S" "$E2E_DIR/key.key" "$E2E_DIR/key.pub"
  log "pushing the bundle into $S"
  shoebox push -q --from "file://$W/static" --all --versions latest:2 --all-platforms \
    --created 2026-11-23T00:00:00Z "$S:bench"
  shoebox key generate --output-prefix "$E2E_DIR/key" 2>/dev/null
  shoebox sign -q --key "$E2E_DIR/key.key" "$S:bench"
  echo ok >"$S.ok"
fi
PUB="$E2E_DIR/key.pub"
blobs="$(find "$S/blobs" -type f | wc -l)"
bytes="$(du -sb "$S/blobs" | cut -f1)"
log "stick: $blobs blobs, $bytes bytes"

declare -A T

# -- 1. verify
sha_all() { find "$S/blobs" -type f -print0 | xargs -0 sha256sum >/dev/null; }
ossl_all() { find "$S/blobs" -type f -print0 | xargs -0 -n 4096 openssl dgst -sha256 >/dev/null; }
# the limit: as many openssl processes as cores, the blobs split evenly
ossl_par() { find "$S/blobs" -type f -print0 | xargs -0 -P "$(nproc)" -n "$(((blobs + $(nproc) - 1) / $(nproc)))" openssl dgst -sha256 >/dev/null; }
verify() { shoebox verify -q --key "$PUB" "$S:bench"; }
verify_deep() { shoebox verify -q --deep --key "$PUB" "$S:bench"; }
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
vnames=(ossl_par verify ossl_all sha_all verify_deep)
for name in "${vnames[@]}"; do
  "$name" >/dev/null 2>&1 || die "$name failed" # warm the cache, check it works
  : >"$E2E_DIR/$name.runs"
done
# side by side: the tools alternate, so that the machine's drift (the
# other tenants) is shared
for ((i = 0; i < RUNS; i++)); do
  for name in "${vnames[@]}"; do timeit "$name" >>"$E2E_DIR/$name.runs"; done
done
for name in "${vnames[@]}"; do
  T[$name]="$(median <"$E2E_DIR/$name.runs")"
  log "$name: median ${T[$name]} s (runs: $(tr '\n' ' ' <"$E2E_DIR/$name.runs"))"
done

# -- 2. copy layout → registry
start_distribution bench >/dev/null
addr="$(reg_addr bench)"
n=0
copy_reg() { n=$((n + 1)); shoebox copy -q --plain-http --key "$PUB" "$S:bench" "$addr/shoebox$n/bundle"; }
copy_noverify() { n=$((n + 1)); shoebox copy -q --plain-http --no-verify "$S:bench" "$addr/noverify$n/bundle"; }
orascp_reg() { n=$((n + 1)); oras cp -r --from-oci-layout --to-plain-http "$S:bench" "$addr/oras$n/bundle:bench" >/dev/null; }
names=(copy_reg orascp_reg copy_noverify)
for name in "${names[@]}"; do "$name" >/dev/null 2>&1 || die "$name failed"; done # warm
for name in "${names[@]}"; do : >"$E2E_DIR/$name.runs"; done
for ((i = 0; i < RUNS; i++)); do
  for name in "${names[@]}"; do timeit "$name" >>"$E2E_DIR/$name.runs"; done
done
for name in "${names[@]}"; do
  T[$name]="$(median <"$E2E_DIR/$name.runs")"
  log "$name: median ${T[$name]} s (runs: $(tr '\n' ' ' <"$E2E_DIR/$name.runs"))"
done
# what shoebox copied verifies in the registry
shoebox verify -q --plain-http --key "$PUB" "$addr/shoebox1/bundle:bench" || die "the copy does not verify"

ratio() { echo "scale=2; $1 / $2" | bc -l; }
mbps() { echo "scale=1; $bytes / 1048576 / $1" | bc -l; }
cat <<MD | tee "$E2E_DIR/results.md"
### verify and copy benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, load average $LOAD0 at the start, $blobs blobs, $((bytes / 1048576)) MiB, medians of $RUNS, warm cache)

| what | seconds | MiB/s | ratio | target |
| --- | ---: | ---: | ---: | --- |
| \`openssl dgst -sha256\` of every blob, $(nproc) in parallel (the limit) | ${T[ossl_par]} | $(mbps "${T[ossl_par]}") | 1.00 | |
| \`openssl dgst -sha256\`, one process | ${T[ossl_all]} | $(mbps "${T[ossl_all]}") | $(ratio "${T[ossl_all]}" "${T[ossl_par]}") | |
| \`sha256sum\`, one process | ${T[sha_all]} | $(mbps "${T[sha_all]}") | $(ratio "${T[sha_all]}" "${T[ossl_par]}") | |
| shoebox verify (signature, digests, closure) | ${T[verify]} | $(mbps "${T[verify]}") | $(ratio "${T[verify]}" "${T[ossl_par]}") | ≤ 1.2 |
| shoebox verify --deep (+ tree hashes, Tar.jl rules) | ${T[verify_deep]} | $(mbps "${T[verify_deep]}") | $(ratio "${T[verify_deep]}" "${T[ossl_par]}") | |
| oras cp layout → registry (the peer) | ${T[orascp_reg]} | $(mbps "${T[orascp_reg]}") | 1.00 | |
| shoebox copy layout → registry (verifies first) | ${T[copy_reg]} | $(mbps "${T[copy_reg]}") | $(ratio "${T[copy_reg]}" "${T[orascp_reg]}") | ≤ 1.1 |
| shoebox copy --no-verify | ${T[copy_noverify]} | $(mbps "${T[copy_noverify]}") | $(ratio "${T[copy_noverify]}" "${T[orascp_reg]}") | |

Command: \`PACKAGES=$PACKAGES ARTIFACT_BYTES=$ARTIFACT_BYTES RUNS=$RUNS bash hack/bench-verify-copy.sh\`
MD
