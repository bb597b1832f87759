# shellcheck shell=bash
# Harbor as it is deployed: the distribution registry binary over TLS with
# bearer token auth, the double of Harbor core's token service as its realm
# (start_harbor), projects, and robot accounts named as Harbor names them:
#   - push and sign as robot$julia+importer; robot$julia+reader (pull only)
#     cannot push;
#   - copy between two repositories of the project: every blob mounted
#     (the registry's access log shows the mounts and no blob upload);
#   - copy from a lab registry (plain HTTP, htpasswd) with --from-/--to-
#     settings for each side;
#   - verify and serve as the reader robot: a Pkg-faithful install through
#     serve (internal/testkit/pkgclient), and every token serve was issued
#     asked for pull alone;
#   - prune: refused for the importer (no delete permission, nothing
#     changes), done by a robot with delete: the older bundle's manifests
#     deleted by digest, its tags and signature gone, the newer one intact.

stage_harbor() {
  _genworld "$PWD"
  local manifest
  manifest="$(jq -r '.manifests[0]' world.json)"
  cat >harbor.json <<'EOF'
{
  "projects": [{"name": "julia"}],
  "accounts": {
    "robot$julia+importer": {"secret": "imp-secret", "permissions": {"julia": ["pull", "push"]}},
    "robot$julia+reader": {"secret": "read-secret", "permissions": {"julia": ["pull"]}},
    "robot$julia+pruner": {"secret": "prune-secret", "permissions": {"julia": ["pull", "push", "delete"]}}
  }
}
EOF
  start_harbor harbor "$PWD/harbor.json" >/dev/null
  local reg ca tokens
  reg="$(reg_addr harbor)"
  ca="$(reg_get harbor ca)"
  tokens="$(reg_get harbor tokens)"
  local imp='robot$julia+importer' rd='robot$julia+reader'
  # the challenge is Harbor's
  local challenge
  challenge="$(curl -s --cacert "$ca" -o /dev/null -D - "https://$reg/v2/" | tr -d '\r' | sed -n 's/^[Ww]ww-[Aa]uthenticate: //p')"
  assert_contains "$challenge" 'Bearer realm="https://127.0.0.1:' "challenge"
  assert_contains "$challenge" '/service/token",service="harbor-registry"' "challenge"

  # -- push and sign as the importer
  echo imp-secret | shoebox push -q --from "file://$PWD/static" --manifest "$manifest" --platform x86_64-linux-gnu \
    --created 2026-11-23T00:00:00Z --ca-file "$ca" --username "$imp" --password-stdin "$reg/julia/staging:v1" ||
    die "push as $imp failed"
  export SHOEBOX_PASSWORD=e2e-pw
  shoebox key generate --output-prefix release >/dev/null 2>&1 || die "key generate failed"
  docker_login "$reg" "$imp" imp-secret
  expect_rc 0 shoebox sign -q --key release.key --ca-file "$ca" "$reg/julia/staging:v1"
  # the reader cannot push
  echo read-secret | expect_fail_with "registry authentication failed" shoebox push -q --from "file://$PWD/static" \
    --manifest "$manifest" --platform x86_64-linux-gnu --ca-file "$ca" --username "$rd" --password-stdin "$reg/julia/nope:v1"

  # -- staging → bundles in the project: mounted, not uploaded
  echo imp-secret | shoebox copy --json --key release.pub --ca-file "$ca" --username "$imp" --password-stdin \
    "$reg/julia/staging:v1" "$reg/julia/bundles" >copy.json || die "copy staging → bundles failed"
  local reglog mounted uploads
  reglog="$(reg_get harbor logpath)"
  mounted="$(grep -c '"POST /v2/julia/bundles/blobs/uploads/?mount=sha256:[0-9a-f]*&from=julia/staging HTTP/[0-9.]*" 201' "$reglog" || true)"
  uploads="$(grep -c '"PUT /v2/julia/bundles/blobs/uploads/' "$reglog" || true)"
  assert_eq "$(jq '.bundles[0].mounted' copy.json)" "$mounted" "blobs mounted (copy's count = the registry's 201s)"
  ((mounted > 0)) || die "no blob mounted"
  assert_eq 0 "$uploads" "blob uploads into julia/bundles"

  # -- verify as the reader
  local out
  out="$(echo read-secret | shoebox verify --key release.pub --ca-file "$ca" --username "$rd" --password-stdin "$reg/julia/bundles:v1")" ||
    die "verify as $rd failed"
  assert_contains "$out" "signature  ok: signed by" "verify as $rd"

  # -- lab (plain HTTP, basic auth) → harbor (TLS, tokens), settings per side
  start_distribution lab --htpasswd lab:lab-pass >/dev/null
  local lab
  lab="$(reg_addr lab)"
  printf 'read-secret\nlab-pass\n' | shoebox copy -q --key release.pub \
    --from-ca-file "$ca" --from-username "$rd" --from-password-stdin \
    --to-plain-http --to-username lab --to-password-stdin "$reg/julia/bundles:v1" "$lab/mirror/bundles" ||
    die "copy harbor → lab failed"
  printf 'lab-pass\nimp-secret\n' | shoebox copy -q --key release.pub \
    --from-plain-http --from-username lab --from-password-stdin \
    --to-ca-file "$ca" --to-username "$imp" --to-password-stdin "$lab/mirror/bundles:v1" "$reg/julia/fromlab" ||
    die "copy lab → harbor failed"

  # -- serve as the reader; a Pkg-faithful install through it
  local before port addr
  before="$(wc -l <"$tokens")"
  port="$(free_port)"
  addr="127.0.0.1:$port"
  echo read-secret >reader.pw
  "$REPO/bin/shoebox" serve --store "$reg/julia/fromlab" --key release.pub --ca-file "$ca" \
    --username "$rd" --password-stdin --addr "$addr" --reload-interval 0 <reader.pw >serve.log 2>&1 &
  local pid=$!
  echo "$pid" >>"$E2E_PIDS"
  wait_healthy "http://$addr" "$pid" || { cat serve.log >&2; die "serve over harbor did not get ready"; }
  pkginstall -server "http://$addr" -manifest "$manifest" -registry "$(jq -r '.registries[0].uuid' world.json)" >install.json ||
    die "install through serve over harbor failed"
  assert_eq "$(jq '[.requests[] | select(endswith(" 200") | not)] | length' install.json)" 0 "requests that did not answer 200"
  (($(jq .packages install.json) > 0 && $(jq .artifacts install.json) > 0)) || die "nothing installed: $(cat install.json)"
  kill "$pid"
  wait "$pid" || die "serve exited non-zero"
  local grants
  grants="$(tail -n +"$((before + 1))" "$tokens" | grep '^{' || true)"
  [[ -n $grants ]] || die "serve asked for no token"
  assert_eq "" "$(jq -r 'select(.Account != "robot$julia+reader") | .Account' <<<"$grants")" "accounts other than the reader serve used"
  assert_eq "" "$(jq -r '.Scopes[] | select(endswith(":pull") | not)' <<<"$grants")" "scopes other than pull serve asked for"

  # -- prune: a second, newer bundle in julia/bundles, then keep the newest
  local m2
  m2="$(jq -r '.manifests[2]' world.json)"
  echo imp-secret | shoebox push -q --from "file://$PWD/static" --manifest "$m2" --platform x86_64-linux-gnu \
    --created 2026-12-01T00:00:00Z --ca-file "$ca" --username "$imp" --password-stdin "$reg/julia/bundles:v2" ||
    die "push v2 failed"
  expect_rc 0 shoebox sign -q --key release.key --ca-file "$ca" "$reg/julia/bundles:v2"
  local tags0
  tags0="$(shoebox ls --json --ca-file "$ca" "$reg/julia/bundles" | jq -r '[.[].tag] | join(",")')"
  assert_eq "v1,v2" "$tags0" "bundles before the prune"
  echo imp-secret | expect_fail_with "registry authentication failed" shoebox prune --keep-last 1 --ca-file "$ca" \
    --username "$imp" --password-stdin "$reg/julia/bundles"
  assert_eq "$tags0" "$(shoebox ls --json --ca-file "$ca" "$reg/julia/bundles" | jq -r '[.[].tag] | join(",")')" "bundles after a refused prune"
  echo prune-secret | shoebox prune --json --keep-last 1 --ca-file "$ca" --username 'robot$julia+pruner' --password-stdin \
    "$reg/julia/bundles" >prune.json || die "prune as the pruner robot failed"
  assert_eq v1 "$(jq -r '.retired[0].tags | join(",")' prune.json)" "bundle retired"
  (($(jq .deletedManifests prune.json) > 0)) || die "prune deleted no manifest: $(cat prune.json)"
  assert_eq true "$(jq .registryGC prune.json)" "prune says the registry's GC reclaims blobs"
  assert_eq v2 "$(shoebox ls --json --ca-file "$ca" "$reg/julia/bundles" | jq -r '[.[].tag] | join(",")')" "bundles after the prune"
  local v1digest
  v1digest="$(jq -r '.retired[0].digest' prune.json)"
  curl -s --cacert "$ca" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(curl -s --cacert "$ca" -u 'robot$julia+reader:read-secret' \
    "$(sed -n 's/.*realm="\([^"]*\)".*/\1/p' <<<"$challenge")?service=harbor-registry&scope=repository:julia/bundles:pull" | jq -r .token)" \
    -H "Accept: application/vnd.oci.image.index.v1+json" "https://$reg/v2/julia/bundles/manifests/$v1digest" >v1.status
  assert_eq 404 "$(cat v1.status)" "the retired bundle's index in the registry"
  expect_rc 0 shoebox verify -q --key release.pub --ca-file "$ca" "$reg/julia/bundles:v2"
}
