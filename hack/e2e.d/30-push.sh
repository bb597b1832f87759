# shellcheck shell=bash
# shoebox push writes OCI that the peers read: a generated Julia world served
# as a static Pkg-server directory is pushed into a layout; oras and skopeo
# read the layout; every manifest validates against the image-spec schemas;
# oras cp copies the bundle into a registry with the same digest; shoebox
# pushes straight to distribution v3 (TLS + htpasswd) and Debian's
# docker-registry 2.8 and gets the same bundle digest everywhere.

# _genworld DIR: a small world with every tree feature, plus its static mirror.
_genworld() {
  (cd "$REPO" && go run ./internal/testkit/fixture/cmd/genworld -out "$1/world" -static "$1/static" \
    -seed 11 -packages 10 -versions 2 -artifact-fraction 0.4 -all-features \
    -platforms x86_64-linux-gnu,aarch64-linux-gnu,x86_64-w64-mingw32 >"$1/world.json") ||
    die "genworld failed"
}

stage_push() {
  _genworld "$PWD"
  local manifest created=2026-11-23T00:00:00Z
  manifest="$(jq -r '.manifests[0]' world.json)"
  [[ -f $manifest ]] || die "genworld wrote no manifest ($manifest)"

  # -- into a layout
  shoebox push -q --from "file://$PWD/static" --manifest "$manifest" \
    --platform x86_64-linux-gnu --platform aarch64-linux-gnu --created "$created" \
    --json ./stick:v1 >push1.json || die "shoebox push to a layout failed"
  local digest
  digest="$(jq -r .digest push1.json)"
  [[ $digest == sha256:* ]] || die "push printed no digest: $(cat push1.json)"
  assert_eq 0 "$(jq .reused push1.json)" "items reused by the first push"

  # a re-push writes no blob and gives the same digest
  local before after
  before="$(find stick/blobs -type f | sort | xargs sha256sum | sha256sum)"
  shoebox push -q --from "file://$PWD/static" --manifest "$manifest" \
    --platform x86_64-linux-gnu --platform aarch64-linux-gnu --created "$created" --json ./stick:v1 >push2.json
  after="$(find stick/blobs -type f | sort | xargs sha256sum | sha256sum)"
  assert_eq "$before" "$after" "blobs after a re-push"
  assert_eq "$digest" "$(jq -r .digest push2.json)" "digest of the re-push"
  assert_eq 0 "$(jq .stored push2.json)" "items stored by the re-push"

  # -- the peers read the layout
  validate_oci_layout stick || die "image-spec schema validation of the layout failed"
  assert_eq "$digest" "$(oras resolve --oci-layout stick:v1)" "oras resolve of the layout tag"
  oras manifest fetch --oci-layout stick:v1 >index.json
  assert_eq "application/vnd.shoebox.bundle.v1" "$(jq -r .artifactType index.json)" "bundle artifactType"
  local first
  first="$(jq -r '.manifests[0].digest' index.json)"
  oras manifest fetch --oci-layout "stick@$first" >item.json
  assert_eq "application/vnd.oci.empty.v1+json" "$(jq -r .config.mediaType item.json)" "item config"
  skopeo inspect --raw "oci:stick:v1" >skopeo-index.json || die "skopeo cannot read the layout"
  assert_eq "$digest" "sha256:$(sha256_of skopeo-index.json)" "sha256 of the index skopeo read"

  # -- oras cp to a registry keeps every digest
  start_distribution d3 >/dev/null
  local plain to
  plain="$(reg_addr d3)"
  mapfile -t to < <(oras_flags d3 to)
  expect_rc 0 oras cp -r --from-oci-layout "${to[@]}" stick:v1 "$plain/julia/bundle:v1"
  assert_eq "$digest" "$(oras_reg d3 resolve "$plain/julia/bundle:v1")" "digest after oras cp to distribution"
  validate_oci_layout --registry "$plain/julia/bundle:v1" --plain-http || die "schema validation in the registry failed"
  # oras pulls an item's tarball by its title; its sha256 is the layer digest
  mkdir -p pulled
  expect_rc 0 oras_reg d3 pull "$plain/julia/bundle@$first" -o pulled
  local title
  title="$(jq -r '.layers[0].annotations["org.opencontainers.image.title"]' item.json)"
  assert_eq "$(jq -r '.layers[0].digest' item.json)" "sha256:$(sha256_of "pulled/$title")" "sha256 of the tarball oras pulled"

  # -- shoebox pushes straight to registries with TLS and htpasswd
  start_distribution d3tls --tls --htpasswd alice:s3cret-pw >/dev/null
  start_docker_registry dr28 --tls --htpasswd bob:hunter2-pw >/dev/null
  local r addr
  for r in d3tls dr28; do
    addr="$(reg_addr "$r")"
    printf '%s\n' "$(reg_get "$r" pass)" | shoebox push -q --from "file://$PWD/static" --manifest "$manifest" \
      --platform x86_64-linux-gnu --platform aarch64-linux-gnu --created "$created" \
      --ca-file "$(reg_get "$r" ca)" --username "$(reg_get "$r" user)" --password-stdin \
      --json "$addr/julia/bundle:v1" >"push-$r.json" || die "shoebox push to $r failed"
    assert_eq "$digest" "$(jq -r .digest "push-$r.json")" "bundle digest pushed to $r"
    assert_eq "$digest" "$(oras_reg "$r" resolve "$addr/julia/bundle:v1")" "oras resolve on $r"
  done
  # wrong credentials: a clear error, exit 1, nothing tagged
  addr="$(reg_addr d3tls)"
  local out
  out="$(printf 'wrong\n' | shoebox push -q --from "file://$PWD/static" --manifest "$manifest" \
    --ca-file "$(reg_get d3tls ca)" --username alice --password-stdin "$addr/julia/other:v1" 2>&1)" && die "push with a wrong password succeeded"
  assert_contains "$out" "authentication" "error for a wrong password"
}
