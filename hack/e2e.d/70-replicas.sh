# shellcheck shell=bash
# Replicas: two `shoebox serve` over one registry (distribution), behind nginx
# (round robin), as a site runs them. A Pkg-faithful install
# (internal/testkit/pkgclient, pkginstall) through the balancer passes:
#   - before: one signed bundle;
#   - during: while a second bundle is copied in (installs run in a loop
#     while shoebox copy writes), and after replica B alone reloaded (B
#     advertises the new registry view; A, asked for what B advertised,
#     reloads on the miss);
#   - after: both reloaded; both advertise byte-identical /registries, and
#     the view advertised first still downloads from both.

_replica_start() { # NAME PORT: serve over the registry; pid in REPLICA_<NAME>
  local name="$1" port="$2"
  "$REPO/bin/shoebox" serve --store "$REG/julia/bundles" --plain-http --key release.pub \
    --addr "127.0.0.1:$port" --reload-interval 0 --log-format json >"serve-$name.log" 2>&1 &
  local pid=$!
  echo "$pid" >>"$E2E_PIDS"
  printf -v "REPLICA_$name" '%s' "$pid"
  wait_healthy "http://127.0.0.1:$port" "$pid" || { cat "serve-$name.log" >&2; die "replica $name did not get ready"; }
}

_install() { # MANIFEST LABEL: one install through the balancer
  pkginstall -server "http://$LB" -manifest "$1" >"install-$2.json" 2>"install-$2.err" ||
    { cat "install-$2.err" >&2; die "install ($2) through the balancer failed"; }
  local bad
  bad="$(jq '[.requests[] | select(endswith(" 200") | not)] | length' "install-$2.json")"
  [[ $bad == 0 ]] || die "install ($2): $bad requests did not answer 200: $(jq -c .requests "install-$2.json")"
}

stage_replicas() {
  local here="$PWD"
  (cd "$REPO" && go run ./internal/testkit/fixture/cmd/genworld -out "$here/world" -static "$here/static" \
    -seed 7 -packages 12 -versions 2 -artifact-fraction 0.4 -real-general-uuid \
    -platforms x86_64-linux-gnu >"$here/world.json") || die "genworld failed"
  local m0 m2
  m0="$(jq -r '.manifests[0]' world.json)"
  m2="$(jq -r '.manifests[2]' world.json)"
  export SHOEBOX_PASSWORD=e2e-pw
  shoebox key generate --output-prefix release >/dev/null 2>&1 || die "key generate failed"

  start_distribution lb >/dev/null
  REG="$(reg_addr lb)"
  shoebox push -q --from "file://$PWD/static" --manifest "$m0" --platform x86_64-linux-gnu \
    --created 2026-01-01T00:00:00Z ./stick:2026-01 || die "push 2026-01 failed"
  shoebox sign -q --key release.key ./stick:2026-01 || die "sign failed"
  shoebox copy -q --key release.pub --plain-http ./stick:2026-01 "$REG/julia/bundles" || die "copy 2026-01 failed"

  local pa pb pl
  pa="$(free_port)" pb="$(free_port)" pl="$(free_port)"
  _replica_start A "$pa"
  _replica_start B "$pb"
  mkdir -p nginx
  cat >nginx/nginx.conf <<EOF
daemon off;
pid $PWD/nginx/nginx.pid;
error_log $PWD/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log $PWD/nginx/access.log;
  upstream shoebox {
    server 127.0.0.1:$pa;
    server 127.0.0.1:$pb;
  }
  server {
    listen 127.0.0.1:$pl;
    location / {
      proxy_pass http://shoebox;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
  bg nginx/out.log nginx -c "$PWD/nginx/nginx.conf" -p "$PWD/nginx"
  wait_port "127.0.0.1:$pl" 20 "$BG_PID" || { cat nginx/error.log nginx/out.log >&2; die "nginx did not start"; }
  LB="127.0.0.1:$pl"
  local v1
  v1="$(curl -sf "http://$LB/registries")" || die "/registries through the balancer failed"

  # -- before
  _install "$m0" before
  log "ok: install through the balancer, one bundle"

  # -- during: a second bundle pushed outside and copied in while installs run
  shoebox push -q --from "file://$PWD/static" --manifest "$m2" --platform x86_64-linux-gnu \
    --created 2026-02-01T00:00:00Z ./stick:2026-02 || die "push 2026-02 failed"
  shoebox sign -q --key release.key ./stick:2026-02 || die "sign failed"
  shoebox copy -q --key release.pub --plain-http ./stick:2026-02 "$REG/julia/bundles" >copy.log 2>&1 &
  local cpid=$! i=0
  while kill -0 "$cpid" 2>/dev/null; do
    _install "$m0" "during-copy-$i"
    i=$((i + 1))
  done
  wait "$cpid" || { cat copy.log >&2; die "copy 2026-02 failed"; }
  _install "$m0" "during-copy-$i"
  log "ok: $((i + 1)) installs through the balancer while the bundle was copied in"

  # B reloads, A not: the new view is advertised by B only
  kill -HUP "$REPLICA_B"
  local vb va k
  for ((k = 0; k < 200; k++)); do
    vb="$(curl -sf "http://127.0.0.1:$pb/registries")"
    [[ $vb != "$v1" ]] && break
    sleep 0.05
  done
  [[ $vb != "$v1" ]] || die "B did not advertise a new view after SIGHUP"
  va="$(curl -sf "http://127.0.0.1:$pa/registries")"
  assert_eq "$v1" "$va" "A's view before it reloads"
  # installs of what both replicas hold, while they advertise different
  # views: a client may get B's view and download it, or packages, from A
  for k in 1 2 3 4; do _install "$m0" "split-$k"; done
  log "ok: installs through the balancer while the replicas advertised different views"
  # A, asked for the view B advertised, reloads (once) and serves it
  local newview="${vb%%$'\n'*}"
  curl -sf -o /dev/null "http://127.0.0.1:$pa$newview" || die "A: GET $newview (advertised by B) failed"
  assert_eq "$vb" "$(curl -sf "http://127.0.0.1:$pa/registries")" "A's view after a miss made it reload"
  local misses
  misses="$(curl -sf "http://127.0.0.1:$pa/metrics" | awk '/^shoebox_serve_miss_reloads_total/ {print $2}')"
  ((misses >= 1)) || die "A served B's view without reloading on a miss (miss reloads: $misses)"
  for k in 1 2; do _install "$m2" "new-$k"; done
  log "ok: installs of the new bundle's manifest through the balancer"

  # -- after: both reloaded
  kill -HUP "$REPLICA_A"
  sleep 0.2
  _install "$m2" after
  _install "$m0" after-old
  assert_eq "$(curl -sf "http://127.0.0.1:$pa/registries")" "$(curl -sf "http://127.0.0.1:$pb/registries")" "/registries of A and B"
  local old="${v1%%$'\n'*}" a b
  a="$(curl -sf "http://127.0.0.1:$pa$old" | sha256sum)" || die "A: the first view is gone"
  b="$(curl -sf "http://127.0.0.1:$pb$old" | sha256sum)" || die "B: the first view is gone"
  assert_eq "$a" "$b" "the first view's bytes from A and B"
  # both replicas answered installs (round robin)
  local ua ub
  ua="$(grep -c '"msg":"request".*"path":"/package/' serve-A.log || true)"
  ub="$(grep -c '"msg":"request".*"path":"/package/' serve-B.log || true)"
  ((ua > 0 && ub > 0)) || die "the balancer did not spread the installs: A answered $ua package requests, B $ub"
  log "ok: package requests answered by A: $ua, by B: $ub"
  kill "$REPLICA_A" "$REPLICA_B"
  wait "$REPLICA_A" || die "A exited non-zero"
  wait "$REPLICA_B" || die "B exited non-zero"
}
