# shellcheck shell=bash
# shoebox serve, the real binary: a small generated world pushed into a
# layout and signed with a demo key; serve on a free port; curl checks the
# Pkg protocol (/registries, a package byte for byte against the source
# tarball, HEAD, Range, 404s), /healthz, /meta and /metrics; a bundle pushed
# while serving appears after SIGHUP; SIGTERM ends it with exit 0 within a
# few seconds.

stage_serve() {
  local here="$PWD"
  (cd "$REPO" && go run ./internal/testkit/fixture/cmd/genworld -out "$here/world" -static "$here/static" \
    -seed 5 -packages 8 -versions 2 -artifact-fraction 0.4 -real-general-uuid \
    -platforms x86_64-linux-gnu >"$here/world.json") || die "genworld failed"
  local m0 m1
  m0="$(jq -r '.manifests[0]' world.json)"
  m1="$(jq -r '.manifests[2]' world.json)"
  shoebox push -q --from "file://$PWD/static" --manifest "$m0" --platform x86_64-linux-gnu \
    --created 2026-11-23T00:00:00Z ./stick:v1 || die "push failed"

  local verify=()
  if SHOEBOX_PASSWORD=demo shoebox key generate --output-prefix demo >/dev/null 2>&1 &&
    SHOEBOX_PASSWORD=demo shoebox sign --key demo.key ./stick:v1 >/dev/null; then
    verify=(--key demo.pub)
    log "signed v1 with a demo key"
  else
    verify=(--insecure-no-verify)
    log "shoebox key/sign unavailable: serving with --insecure-no-verify"
  fi

  local port addr
  port="$(free_port)"
  addr="127.0.0.1:$port"
  # the binary itself (not the shoebox function, whose subshell would get the signals)
  bg serve.log "$REPO/bin/shoebox" serve --store ./stick "${verify[@]}" --addr "$addr" --reload-interval 0 --log-format json
  local pid=$BG_PID
  wait_port "$addr" 30 "$pid" || { cat serve.log >&2; die "serve did not listen"; }
  local base="http://$addr"

  assert_eq "ok" "$(curl -sf "$base/healthz")" "/healthz"
  curl -sf "$base/registries" >registries.txt || die "/registries failed"
  [[ $(wc -l <registries.txt) -ge 1 ]] || die "/registries is empty"
  grep -qvE '^/registry/([a-z0-9]+-){4}[a-z0-9]+/[0-9a-f]{40}$' registries.txt && die "bad /registries line: $(cat registries.txt)"
  assert_eq "$(cat registries.txt)" "$(curl -sf "$base/registries.eager")" "/registries.eager body"
  assert_contains "$(cat registries.txt)" "/registry/23338594-aafe-5451-b93e-139f81909106/" "General under its real uuid"

  # the registry view downloads and its keep-empty tree hash is the advertised one
  local regpath reghash
  regpath="$(head -1 registries.txt)"
  reghash="${regpath##*/}"
  curl -sf "$base$regpath" -o registry.tgz || die "GET $regpath failed"
  assert_eq "$reghash" "$(shoebox treehash registry.tgz | awk '{print $1}')" "tree hash of the served registry"

  # a package of the manifest: the same bytes as the source tarball
  local uuid hash
  read -r uuid hash < <(awk -F' = ' '/^\[\[/{u=""; h=""} /^uuid = /{gsub(/"/,"",$2); u=$2} /^git-tree-sha1 = /{gsub(/"/,"",$2); h=$2} u!="" && h!="" {print u, h; exit}' "$m0")
  [[ -n $uuid && -n $hash ]] || die "no package entry in $m0"
  curl -sf -D pkg.headers "$base/package/$uuid/$hash" -o pkg.tgz || die "GET /package/$uuid/$hash failed"
  assert_eq "$(sha256_of "static/package/$uuid/$hash")" "$(sha256_of pkg.tgz)" "sha256 of the served package"
  local size
  size="$(stat -c %s pkg.tgz)"
  assert_contains "$(tr -d '\r' <pkg.headers)" "Content-Type: application/x-gzip" "package content type"
  assert_contains "$(tr -d '\r' <pkg.headers)" "Cache-Control: public, max-age=31536000, immutable" "package caching"
  assert_contains "$(tr -d '\r' <pkg.headers)" "Etag: \"$hash\"" "package ETag"
  grep -qi '^content-encoding' pkg.headers && die "a Content-Encoding was sent"

  # HEAD and Range
  local head
  head="$(curl -sfI "$base/package/$uuid/$hash" | tr -d '\r')"
  assert_contains "$head" "HTTP/1.1 200" "HEAD status"
  assert_contains "$head" "Content-Length: $size" "HEAD Content-Length"
  assert_eq "206 10" "$(curl -s -o range.bin -w '%{http_code} %{size_download}' -H 'Range: bytes=0-9' "$base/package/$uuid/$hash")" "Range 0-9"
  assert_eq "$(head -c 10 pkg.tgz | sha256sum | cut -d' ' -f1)" "$(sha256_of range.bin)" "Range bytes"
  assert_eq "416" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=2-1' "$base/package/$uuid/$hash")" "Range 2-1"
  assert_eq "404" "$(curl -s -o /dev/null -w '%{http_code}' "$base/package/${uuid^^}/$hash")" "uppercase uuid"
  assert_eq "404" "$(curl -s -o /dev/null -w '%{http_code}' "$base/artifact/0000000000000000000000000000000000000000")" "unknown artifact"

  # /meta and /metrics
  curl -sf "$base/meta" >meta.json || die "/meta failed"
  assert_eq "v1" "$(jq -r '.bundles[0].tags[0]' meta.json)" "/meta bundle tag"
  assert_eq "true" "$(jq -r '.serving' meta.json)" "/meta serving"
  curl -sf "$base/metrics" >metrics.txt || die "/metrics failed"
  assert_contains "$(cat metrics.txt)" 'shoebox_serve_requests_total{kind="package",status="200"} 2' "/metrics package GET + HEAD count"
  assert_contains "$(cat metrics.txt)" "shoebox_serve_up 1" "/metrics up"
  # the latency histogram counts every package request, whatever its status
  local npkg
  npkg="$(awk -F'} ' '/^shoebox_serve_requests_total\{kind="package",/ {n += $2} END {print n}' metrics.txt)"
  assert_contains "$(cat metrics.txt)" "shoebox_serve_request_duration_seconds_count{kind=\"package\"} $npkg" "/metrics latency histogram"
  assert_contains "$(cat metrics.txt)" "shoebox_build_info{commit=\"$(git -C "$REPO" rev-parse HEAD)\"" "/metrics build info"
  assert_contains "$(cat metrics.txt)" "process_resident_memory_bytes " "/metrics process collector"
  assert_contains "$(cat metrics.txt)" "go_goroutines " "/metrics Go collector"
  # the exposition as Prometheus parses and lints it
  command -v promtool >/dev/null || die "promtool missing (hack/install-tools.sh installs Debian's prometheus package)"
  promtool check metrics <metrics.txt >promtool.out 2>&1 || die "promtool check metrics: $(cat promtool.out)"

  # a bundle pushed (and signed) while serving appears after SIGHUP
  shoebox push -q --from "file://$PWD/static" --manifest "$m1" --platform x86_64-linux-gnu \
    --created 2026-11-24T00:00:00Z ./stick:v2 || die "second push failed"
  if [[ ${verify[0]} == --key ]]; then
    SHOEBOX_PASSWORD=demo shoebox sign --key demo.key ./stick:v2 >/dev/null || die "signing v2 failed"
  fi
  kill -HUP "$pid"
  local i n=0
  for ((i = 0; i < 100; i++)); do
    n="$(curl -sf "$base/meta" | jq '.bundles | length')"
    [[ $n == 2 ]] && break
    sleep 0.1
  done
  assert_eq 2 "$n" "bundles served after SIGHUP"

  # the one who holds the stick replaces blobs by symbolic links to a file of
  # the server's: a package served before is answered from its verified
  # copy (the original bytes); one never read is refused (502), withdrawn
  # (404), and nothing of the link's target leaves
  local blob
  blob="stick/blobs/sha256/$(sha256_of pkg.tgz)"
  chmod u+w stick/blobs/sha256 && rm -f "$blob" && ln -s /etc/passwd "$blob"
  assert_eq "206 81" "$(curl -s -o range.bin -w '%{http_code} %{size_download}' -r 0-80 "$base/package/$uuid/$hash")" "Range of a verified package whose blob became a link"
  assert_eq "$(head -c 81 pkg.tgz | sha256sum | cut -d' ' -f1)" "$(sha256_of range.bin)" "its bytes"
  local u2 h2
  read -r u2 h2 < <(awk -F' = ' '/^\[\[/{u=""; h=""} /^uuid = /{gsub(/"/,"",$2); u=$2} /^git-tree-sha1 = /{gsub(/"/,"",$2); h=$2} u!="" && h!="" {print u, h; u=""; h=""}' "$m1" |
    while read -r a b; do [[ $a == "$uuid" ]] || { echo "$a $b"; break; }; done)
  if [[ -n $u2 && -f static/package/$u2/$h2 ]]; then
    blob="stick/blobs/sha256/$(sha256_of "static/package/$u2/$h2")"
    rm -f "$blob" && ln -s /etc/passwd "$blob"
    assert_eq "502 0" "$(curl -s -o range.bin -w '%{http_code} %{size_download}' -r 0-80 "$base/package/$u2/$h2")" "Range of a never-read package whose blob is a link"
    assert_eq "404" "$(curl -s -o /dev/null -w '%{http_code}' "$base/package/$u2/$h2")" "the same package after the failure"
    assert_contains "$(curl -sf "$base/metrics")" "shoebox_serve_withdrawals_total 1" "/metrics withdrawals"
    assert_contains "$(cat serve.log)" '"msg":"item withdrawn: not served until its blob changes and verifies"' "withdrawal log line"
  fi

  # SIGTERM: graceful, exit 0, within a few seconds
  kill -TERM "$pid"
  local rc=0 t0=$SECONDS
  wait "$pid" || rc=$?
  assert_eq 0 "$rc" "serve exit code after SIGTERM"
  ((SECONDS - t0 <= 5)) || die "serve took $((SECONDS - t0))s to stop"
  assert_contains "$(cat serve.log)" '"msg":"shutting down"' "shutdown log line"
}
