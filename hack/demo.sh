#!/usr/bin/env bash
# The main job on the embedded default — a local OCI layout, no registry and
# no network: the outside pushes what a project needs onto a "stick" and
# signs it; the inside verifies it and serves it to Julia's Pkg.
#
#   make demo                 # runs it all, checks the server, stops it
#   DEMO_SERVE=1 make demo    # …and keeps serving until Ctrl-C
#
# The Julia world (registry, packages, artifacts, manifests) is generated
# deterministically by internal/testkit/fixture: no real package code is stored in
# this repository and nothing is downloaded.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
D="${DEMO_DIR:-$REPO/demo}"
SB="$REPO/bin/shoebox"
PORT="${DEMO_PORT:-8000}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[[ -x $SB ]] || make --no-print-directory build
rm -rf "$D" && mkdir -p "$D"

step "a Julia world: a General registry, packages, JLL artifacts for 5 platforms, manifests"
go run ./internal/testkit/fixture/cmd/genworld -out "$D/world" -static "$D/mirror" -seed 1 -packages 12 -versions 3 \
  -real-general-uuid -all-features \
  -platforms x86_64-linux-gnu,aarch64-linux-gnu,x86_64-apple-darwin,aarch64-apple-darwin,x86_64-w64-mingw32 >"$D/world.json"
manifest="$(find "$D/world" -path '*v2.0*' -name Manifest.toml | sort | head -n 1)"
echo "mirror (a static Pkg server directory): $D/mirror"
echo "the inside team's manifest:             $manifest"

step "outside: shoebox push — the manifest's closure for Linux x86_64 and aarch64, onto the stick"
"$SB" push --from "file://$D/mirror" --manifest "$manifest" \
  --platform x86_64-linux-gnu --platform aarch64-linux-gnu "$D/stick:demo"
"$SB" ls "$D/stick"

step "outside: a demo signing key (cosign-compatible) and shoebox sign"
export SHOEBOX_PASSWORD=demo
"$SB" key generate --output-prefix "$D/demo"
"$SB" sign --key "$D/demo.key" "$D/stick:demo"

step "inside: shoebox verify — the signature, every digest, every tree hash, Pkg.instantiate of the manifest"
"$SB" verify --deep --key "$D/demo.pub" --manifest "$manifest" "$D/stick:demo"

step "inside: shoebox serve, straight from the stick"
"$SB" serve "$D/stick" --key "$D/demo.pub" --addr "127.0.0.1:$PORT" --print-client-config
"$SB" serve "$D/stick" --key "$D/demo.pub" --addr "127.0.0.1:$PORT" 2>"$D/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$D/serve.log"; exit 1; }
  sleep 0.1
done
echo "GET /registries:"
curl -fsS "http://127.0.0.1:$PORT/registries"
read -r name uuid hash < <("$SB" ls --kind package "$D/stick:demo" | awk 'NR == 2 {print $2, $4, $5}')
echo "GET /package/$uuid/$hash ($name), as Pkg.instantiate would:"
curl -fsS -o "$D/pkg.tar.gz" -w '  %{http_code} %{content_type}, %{size_download} bytes\n' "http://127.0.0.1:$PORT/package/$uuid/$hash"
echo "  tree hash of what was served: $("$SB" treehash "$D/pkg.tar.gz") (Pkg checks it equals $hash)"

if [[ ${DEMO_SERVE:-0} == 1 ]]; then
  echo
  echo "serving on http://127.0.0.1:$PORT — set JULIA_PKG_SERVER=http://127.0.0.1:$PORT; Ctrl-C to stop"
  wait "$pid"
else
  kill -TERM "$pid"
  wait "$pid" && echo "server stopped cleanly (SIGTERM)"
fi
