#!/usr/bin/env bash
# Benchmark: shoebox serve against the physical limit and the peer tools,
# all in one run on this machine (medians of RUNS runs, default 3):
#   1. from a layout: requests/s for ~10 KB package tarballs and MB/s for a
#      100 MB artifact, shoebox serve vs nginx serving the same tarballs as a
#      static StorageMirrorServer directory (sendfile);
#   2. from a registry (distribution v3, the `registry` binary): shoebox serve
#      --store REGISTRY/REPO vs GETs of the same blobs straight from the
#      registry;
#   3. startup time (process start → /healthz 200, the bundle's signature
#      and indexes verified) and RSS with a signed synthetic layout of ITEMS
#      tiny items (default 100,000).
# wrk, the servers and shoebox share the machine's CPUs: the numbers are
# relative to peers measured the same way, not absolute capacity.
#
#   bash hack/bench-serve.sh
#   RUNS=5 DURATION=10 ITEMS=20000 bash hack/bench-serve.sh
set -euo pipefail
BENCH=serve
PACKAGES="${PACKAGES:-200}"
# shellcheck source=bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

DURATION="${DURATION:-5}"
ITEMS="${ITEMS:-100000}"
ART_BYTES="${ART_BYTES:-104857600}"
CONNS="${CONNS:-32}"

for t in wrk nginx curl jq; do command -v "$t" >/dev/null || bash "$HACK/install-tools.sh" apt; done
[[ -x $TOOLS_DIR/registry ]] || bash "$HACK/install-tools.sh" go
(cd "$REPO" && make --no-print-directory build >&2)
SB="$REPO/bin/shoebox"
cd "$E2E_DIR"

# ---------------------------------------------------------------- data
# world A: PACKAGES packages of ~10 KB tarballs (incompressible-ish source
# files), no artifacts; world B: one JLL with one 100 MB artifact.
gen() { # gen DIR ARGS…
  local d="$1"
  shift
  [[ -d $d/static ]] && return 0
  rm -rf "$d" && mkdir -p "$d"
  (cd "$REPO" && go run ./internal/testkit/fixture/cmd/genworld -out "$d/world" -static "$d/static" "$@" >"$d/world.json")
}
log "generating worlds"
gen "$E2E_DIR/a" -seed 31 -packages "$PACKAGES" -versions 1 -files 5 -file-size 7000 -artifact-fraction -1 -real-general-uuid
gen "$E2E_DIR/b" -seed 32 -packages 1 -versions 1 -artifact-fraction 1 -artifact-bytes "$ART_BYTES" -platforms x86_64-linux-gnu -deps -1
# one key signs every bundle: serve verifies (--key), as it runs in production
if [[ ! -f bench-key.pub ]]; then
  rm -f bench-key.key bench-key.pub
  SHOEBOX_PASSWORD=bench "$SB" key generate --output-prefix bench-key >/dev/null
fi
if [[ ! -f layout.signed.done ]]; then
  rm -rf layout
  "$SB" push -q --from "file://$E2E_DIR/a/static" --all --created 2026-11-23T00:00:00Z ./layout:a
  "$SB" push -q --from "file://$E2E_DIR/b/static" --all --all-platforms --created 2026-11-23T00:00:00Z ./layout:b
  SHOEBOX_PASSWORD=bench "$SB" sign -q --key bench-key.key ./layout:a
  SHOEBOX_PASSWORD=bench "$SB" sign -q --key bench-key.key ./layout:b
  touch layout.signed.done
fi
# the nginx document root: both static mirrors, hard-linked
rm -rf www && mkdir -p www && cp -al a/static/. www/ && cp -al b/static/package b/static/artifact www/
find www/package -type f -printf '/package/%P\n' | sort >pkg-paths.txt
art="$(find www/artifact -type f -size +1M -printf '/artifact/%P\n' | head -1)"
[[ -n $art ]] || die "no 100 MB artifact in world b"
npk="$(wc -l <pkg-paths.txt)"
pkbytes="$(find a/static/package -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d", s/NR}')"
log "data: $npk package tarballs (mean $pkbytes bytes), artifact $art ($(stat -c %s "www$art") bytes)"

cat >paths.lua <<'EOF'
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
EOF

# wrk_rps BASE PATHFILE: requests/s of one run
wrk_rps() {
  WRK_PATHS="$2" wrk -t2 -c"$CONNS" -d"${DURATION}s" -s paths.lua "$1" | awk '/^Requests\/sec:/ {print $2}'
}
# wrk_mbs URL: MiB/s of one run (4 connections on one large file)
wrk_mbs() {
  wrk -t2 -c4 -d"${DURATION}s" "$1" | awk '/^Transfer\/sec:/ {
    v=$2; u=v; gsub(/[0-9.]/,"",u); gsub(/[A-Za-z]/,"",v)
    m = (u=="GB") ? 1024 : (u=="MB") ? 1 : (u=="KB") ? 1/1024 : 1/1048576
    printf "%.1f\n", v*m }'
}
runs() { local i; for ((i = 0; i < RUNS; i++)); do "$@"; done | median; }
declare -A R

# ---------------------------------------------------------------- 1. layout
port_n="$(free_port)"
cat >nginx.conf <<EOF
worker_processes auto;
pid $E2E_DIR/nginx.pid;
error_log $E2E_DIR/nginx.err warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 1000000;
  types { } default_type application/x-gzip;
  server { listen 127.0.0.1:$port_n; root $E2E_DIR/www; }
}
EOF
bg nginx.log nginx -c "$E2E_DIR/nginx.conf" -p "$E2E_DIR"
wait_port "127.0.0.1:$port_n" 10 "$BG_PID" || die "nginx did not start"
port_s="$(free_port)"
bg serve-layout.log "$SB" serve --store ./layout --key bench-key.pub --addr "127.0.0.1:$port_s" --access-log=false --reload-interval 0
wait_port "127.0.0.1:$port_s" 60 "$BG_PID" || die "shoebox serve did not start"
# same bytes from both
p1="$(head -1 pkg-paths.txt)"
[[ "$(curl -sf "http://127.0.0.1:$port_n$p1" | sha256sum)" == "$(curl -sf "http://127.0.0.1:$port_s$p1" | sha256sum)" ]] || die "nginx and shoebox differ on $p1"

# warm both up, then alternate nginx and shoebox runs, so that drift of the
# machine (frequency, the other tenant) does not favour whoever runs first
for port in $port_n $port_s; do
  WRK_PATHS="$E2E_DIR/pkg-paths.txt" wrk -t2 -c"$CONNS" -d1s -s paths.lua "http://127.0.0.1:$port" >/dev/null
  wrk -t2 -c4 -d1s "http://127.0.0.1:$port$art" >/dev/null
done
rm -f rps.nginx rps.shoebox mbs.nginx mbs.shoebox
for ((i = 0; i < RUNS; i++)); do
  for who in nginx shoebox; do
    port=$port_n
    [[ $who == shoebox ]] && port=$port_s
    wrk_rps "http://127.0.0.1:$port" "$E2E_DIR/pkg-paths.txt" >>"rps.$who"
    wrk_mbs "http://127.0.0.1:$port$art" >>"mbs.$who"
  done
done
for who in nginx shoebox; do
  R[rps_layout_$who]="$(median <"rps.$who")"
  R[mbs_layout_$who]="$(median <"mbs.$who")"
  log "layout, $who: ${R[rps_layout_$who]} req/s (packages; runs: $(tr '\n' ' ' <"rps.$who")), ${R[mbs_layout_$who]} MiB/s (artifact)"
done
stop_all

# ---------------------------------------------------------------- 2. registry
start_distribution bench >/dev/null
raddr="$(reg_addr bench)"
"$SB" push -q --from "file://$E2E_DIR/a/static" --all --created 2026-11-23T00:00:00Z --plain-http "$raddr/bench/julia:a"
"$SB" push -q --from "file://$E2E_DIR/b/static" --all --all-platforms --created 2026-11-23T00:00:00Z --plain-http "$raddr/bench/julia:b"
SHOEBOX_PASSWORD=bench "$SB" sign -q --key bench-key.key --plain-http "$raddr/bench/julia:a"
SHOEBOX_PASSWORD=bench "$SB" sign -q --key bench-key.key --plain-http "$raddr/bench/julia:b"
# the same tarballs as registry blob URLs (push stores upstream tarballs byte for byte)
while read -r p; do echo "/v2/bench/julia/blobs/sha256:$(sha256_of "www$p")"; done <pkg-paths.txt >blob-paths.txt
artblob="/v2/bench/julia/blobs/sha256:$(sha256_of "www$art")"
port_r="$(free_port)"
bg serve-registry.log "$SB" serve --store "$raddr/bench/julia" --plain-http --key bench-key.pub --addr "127.0.0.1:$port_r" --access-log=false --reload-interval 0
wait_port "127.0.0.1:$port_r" 120 "$BG_PID" || die "shoebox serve (registry) did not start"
# The first fetch of the artifact through shoebox (from the registry,
# hashed as it streams, its verified copy made) against one GET of the blob
# from the registry itself; later fetches come from the copy (below).
mib_of() { echo "scale=1; $(stat -c %s "www$art") / 1048576 / $1" | bc -l; }
first_get() { curl -sf -o /dev/null -w '%{time_total}' "$1"; }
wait_healthy "http://127.0.0.1:$port_r" "" 120 || die "shoebox serve (registry) not ready"
R[first_reg_registry]="$(mib_of "$(first_get "http://$raddr$artblob")")"
R[first_reg_shoebox]="$(mib_of "$(first_get "http://127.0.0.1:$port_r$art")")"
log "first fetch of the artifact: registry ${R[first_reg_registry]} MiB/s, through shoebox ${R[first_reg_shoebox]} MiB/s"
for who in registry shoebox; do
  if [[ $who == registry ]]; then
    R[rps_reg_$who]="$(runs wrk_rps "http://$raddr" "$E2E_DIR/blob-paths.txt")"
    R[mbs_reg_$who]="$(runs wrk_mbs "http://$raddr$artblob")"
  else
    R[rps_reg_$who]="$(runs wrk_rps "http://127.0.0.1:$port_r" "$E2E_DIR/pkg-paths.txt")"
    R[mbs_reg_$who]="$(runs wrk_mbs "http://127.0.0.1:$port_r$art")"
  fi
  log "registry, $who: ${R[rps_reg_$who]} req/s (packages), ${R[mbs_reg_$who]} MiB/s (artifact)"
done
stop_all

# ---------------------------------------------------------------- 3. startup
if [[ ! -f big-$ITEMS.done ]]; then
  log "writing a synthetic layout of $ITEMS items"
  mkdir -p "$REPO/.bench/serve/gen"
  cat >"$REPO/.bench/serve/gen/main.go" <<'EOF'
// Writes N tiny artifact items (one 1-file tarball each) and one bundle
// index over them into a new layout, for the startup benchmark.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing/fstest"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

func main() {
	n, _ := strconv.Atoi(os.Args[2])
	ctx := context.Background()
	st, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: os.Args[1]}, store.Options{})
	if err != nil {
		panic(err)
	}
	var items []ocispec.Descriptor
	for i := 0; i < n; i++ {
		var tb, gz bytes.Buffer
		fsys := fstest.MapFS{"f": {Data: []byte(fmt.Sprintf("item %d\n", i)), Mode: 0o644}}
		if err := tarx.WriteTar(&tb, fsys, tarx.WriteOptions{}); err != nil {
			panic(err)
		}
		h, err := treehash.Tar(bytes.NewReader(tb.Bytes()))
		if err != nil {
			panic(err)
		}
		if err := tarx.WriteFS(&gz, fsys, tarx.WriteOptions{Level: 1}); err != nil {
			panic(err)
		}
		d := ocispec.Descriptor{MediaType: bundle.MediaTypeTarGzip, Digest: digest.FromBytes(gz.Bytes()), Size: int64(gz.Len())}
		if err := st.Push(ctx, d, bytes.NewReader(gz.Bytes())); err != nil {
			panic(err)
		}
		it, err := bundle.PushItem(ctx, st, bundle.Item{Kind: bundle.KindArtifact, TreeHash: h.SkipEmpty, Layers: []ocispec.Descriptor{d}})
		if err != nil {
			panic(err)
		}
		items = append(items, it)
	}
	idx, err := bundle.PushIndex(ctx, st, items, bundle.IndexOptions{Created: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		panic(err)
	}
	if err := st.Tag(ctx, idx, "big"); err != nil {
		panic(err)
	}
	if err := st.Close(); err != nil {
		panic(err)
	}
}
EOF
  rm -rf "big-$ITEMS"
  (cd "$REPO" && go run ./.bench/serve/gen "$E2E_DIR/big-$ITEMS" "$ITEMS")
  # signed, as a real store is: startup verifies the signature
  SHOEBOX_PASSWORD=bench "$SB" sign --key bench-key.key "./big-$ITEMS:big" >/dev/null
  touch "big-$ITEMS.done"
fi
startup_once() {
  local port t0 t1 pid i
  port="$(free_port)"
  sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true # cold cache when allowed (root)
  t0="$(date +%s.%N)"
  "$SB" serve --store "./big-$ITEMS" --key bench-key.pub --addr "127.0.0.1:$port" --access-log=false --reload-interval 0 \
    </dev/null >startup.log 2>&1 &
  pid=$!
  echo "$pid" >>"$E2E_PIDS"
  for ((i = 0; i < 6000; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" 2>/dev/null)" == 200 ]] && break
    sleep 0.01
  done
  t1="$(date +%s.%N)"
  local rss hwm
  rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
  hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$(echo "$t1 - $t0" | bc -l) $rss $hwm"
}
: >startup.txt
for ((i = 0; i < RUNS; i++)); do startup_once >>startup.txt; done
R[startup_s]="$(awk '{print $1}' startup.txt | median)"
R[startup_rss_mib]="$(awk '{print $2/1024}' startup.txt | median)"
R[startup_hwm_mib]="$(awk '{print $3/1024}' startup.txt | median)"
log "startup with $ITEMS items: ${R[startup_s]} s, RSS ${R[startup_rss_mib]} MiB (peak ${R[startup_hwm_mib]} MiB)"

# ---------------------------------------------------------------- report
ratio() { echo "scale=2; $1 / $2" | bc -l; }
cat <<EOF | tee "$E2E_DIR/result.txt"
shoebox serve benchmark ($(nproc) CPUs, $(date -u +%Y-%m-%d), medians of $RUNS runs of ${DURATION}s; wrk -t2, $CONNS connections for packages, 4 for the artifact)
                              nginx / registry      shoebox serve      ratio   target
layout:   package req/s       ${R[rps_layout_nginx]}            ${R[rps_layout_shoebox]}          $(ratio "${R[rps_layout_shoebox]}" "${R[rps_layout_nginx]}")    >= 0.8
layout:   artifact MiB/s      ${R[mbs_layout_nginx]}            ${R[mbs_layout_shoebox]}          $(ratio "${R[mbs_layout_shoebox]}" "${R[mbs_layout_nginx]}")    >= 0.9
registry: package req/s       ${R[rps_reg_registry]}            ${R[rps_reg_shoebox]}          $(ratio "${R[rps_reg_shoebox]}" "${R[rps_reg_registry]}")
registry: artifact MiB/s      ${R[mbs_reg_registry]}            ${R[mbs_reg_shoebox]}          $(ratio "${R[mbs_reg_shoebox]}" "${R[mbs_reg_registry]}")    >= 0.9 (repeat downloads: the verified copy)
registry: first fetch MiB/s   ${R[first_reg_registry]}            ${R[first_reg_shoebox]}          $(ratio "${R[first_reg_shoebox]}" "${R[first_reg_registry]}")    (one GET each, cold)
startup, $ITEMS items: ${R[startup_s]} s (target < 2), RSS ${R[startup_rss_mib]} MiB, peak ${R[startup_hwm_mib]} MiB (target < 300)
package tarballs: $npk, mean $pkbytes bytes; artifact $(stat -c %s "www$art") bytes
EOF
