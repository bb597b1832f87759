# shellcheck shell=bash
# The registries and peer tools work together here, offline, before shoebox
# relies on them: distribution v3 (plain; TLS + htpasswd), Debian's
# docker-registry 2.8 (TLS + htpasswd), oras push/cp/resolve, skopeo inspect,
# the OCI schema validator (layout and registry modes), and cosign v2/v3
# key-based signing without a transparency log (docs/cosign-offline.md).

E2E_ARTIFACT_TYPE=application/vnd.shoebox.e2e.test.v1
E2E_CREATED=1970-01-01T00:00:00Z

# _push_hello NAME: push the test artifact to registry NAME as e2e/hello:v1, print its manifest digest.
_push_hello() {
  local out
  out="$(oras_reg "$1" push --format json --artifact-type "$E2E_ARTIFACT_TYPE" \
    --annotation "org.opencontainers.image.created=$E2E_CREATED" \
    "$(reg_addr "$1")/e2e/hello:v1" hello.txt:text/plain data.json:application/json)" ||
    die "oras push to $1 failed: $out"
  jq -r .digest <<<"$out"
}

stage_registries() {
  local plain tlsreg dr
  start_distribution d3 >/dev/null
  start_distribution d3tls --tls --htpasswd alice:s3cret-pw >/dev/null
  start_docker_registry dr28 --tls --htpasswd bob:hunter2-pw >/dev/null
  plain="$(reg_addr d3)" tlsreg="$(reg_addr d3tls)" dr="$(reg_addr dr28)"

  # -- auth and TLS are really on
  expect_rc 0 curl -fsS -o /dev/null "http://$plain/v2/"
  assert_eq 401 "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$(reg_get d3tls ca)" "https://$tlsreg/v2/")" "d3tls /v2/ without credentials"
  assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$(reg_get d3tls ca)" -u alice:s3cret-pw "https://$tlsreg/v2/")" "d3tls /v2/ with credentials"
  assert_eq 401 "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$(reg_get dr28 ca)" "https://$dr/v2/")" "dr28 /v2/ without credentials"
  expect_rc 60 curl -sS -o /dev/null "https://$dr/v2/" # untrusted CA

  # -- the same artifact pushed to all three gives the same manifest digest
  mkdir -p art && cd art
  printf 'hello from the shoebox e2e suite\n' >hello.txt
  printf '{"name":"Example","uuid":"7876af07-990d-54b4-ab0e-23690620f79a"}\n' >data.json
  local dg1 dg2 dg3
  dg1="$(_push_hello d3)"
  dg2="$(_push_hello d3tls)"
  dg3="$(_push_hello dr28)"
  [[ $dg1 == sha256:* ]] || die "oras push printed no digest: '$dg1'"
  assert_eq "$dg1" "$dg2" "digest on distribution v3 TLS+htpasswd"
  assert_eq "$dg1" "$dg3" "digest on docker-registry 2.8 TLS+htpasswd"
  # and again: a re-push is the same manifest
  assert_eq "$dg1" "$(_push_hello d3)" "digest of a second push"
  cd ..

  # -- skopeo reads it back byte for byte
  local f raw r
  for r in d3 d3tls dr28; do
    mapfile -t f < <(skopeo_flags "$r")
    skopeo inspect --raw "${f[@]}" "docker://$(reg_addr "$r")/e2e/hello:v1" >"raw-$r.json" ||
      die "skopeo inspect --raw on $r failed"
    assert_eq "$dg1" "sha256:$(sha256_of "raw-$r.json")" "sha256 of the manifest skopeo read from $r"
  done
  raw="$(cat raw-d3.json)"
  assert_eq "$E2E_ARTIFACT_TYPE" "$(jq -r .artifactType <<<"$raw")" "artifactType"
  assert_eq "application/vnd.oci.empty.v1+json" "$(jq -r .config.mediaType <<<"$raw")" "config mediaType"
  assert_eq "$E2E_CREATED" "$(jq -r '.annotations["org.opencontainers.image.created"]' <<<"$raw")" "created annotation"
  assert_eq 2 "$(jq '.layers | length' <<<"$raw")" "layer count"
  # skopeo copy between the registries too (docker-registry 2.8 → distribution v3)
  local sf df
  mapfile -t sf < <(skopeo_flags dr28 src)
  mapfile -t df < <(skopeo_flags d3 dest)
  expect_rc 0 skopeo copy --quiet --preserve-digests "${sf[@]}" "${df[@]}" \
    "docker://$dr/e2e/hello:v1" "docker://$plain/e2e/skopeo-copied:v1"

  # -- oras cp between registries keeps the digest
  local from to
  mapfile -t from < <(oras_flags d3 from)
  mapfile -t to < <(oras_flags d3tls to)
  expect_rc 0 oras cp "${from[@]}" "${to[@]}" "$plain/e2e/hello:v1" "$tlsreg/e2e/copied:v1"
  assert_eq "$dg1" "$(oras_reg d3tls resolve "$tlsreg/e2e/copied:v1")" "digest after oras cp d3 → d3tls"
  mapfile -t from < <(oras_flags d3tls from)
  mapfile -t to < <(oras_flags dr28 to)
  expect_rc 0 oras cp "${from[@]}" "${to[@]}" "$tlsreg/e2e/copied:v1" "$dr/e2e/copied:v1"
  assert_eq "$dg1" "$(oras_reg dr28 resolve "$dr/e2e/copied:v1")" "digest after oras cp d3tls → dr28"
  assert_eq "$dg1" "$(oras_reg d3 resolve "$plain/e2e/skopeo-copied:v1")" "digest after skopeo copy dr28 → d3"

  # -- into an OCI layout, validated against the image-spec schemas
  mapfile -t from < <(oras_flags dr28 from)
  expect_rc 0 oras cp "${from[@]}" --to-oci-layout "$dr/e2e/copied:v1" "layout:v1"
  [[ -f layout/oci-layout && -f layout/index.json ]] || die "oras cp --to-oci-layout wrote no layout"
  assert_eq "$dg1" "$(jq -r '.manifests[0].digest' layout/index.json)" "digest in the layout's index.json"
  expect_rc 0 validate_oci_layout layout
  expect_rc 0 validate_oci_layout --registry "$plain/e2e/hello:v1" --plain-http
  expect_rc 0 validate_oci_layout --registry "$tlsreg/e2e/copied:v1" --ca-file "$(reg_get d3tls ca)" --user alice:s3cret-pw
  expect_rc 0 validate_oci_layout --registry "$dr/e2e/copied@$dg1" --ca-file "$(reg_get dr28 ca)" --user bob:hunter2-pw
  # the validator does catch problems: a flipped byte in a blob ...
  local hex="${dg1#sha256:}" lb
  cp -r layout bad-digest
  lb="bad-digest/blobs/sha256/$hex"
  chmod u+w "$lb"
  sed -i 's/"schemaVersion":2/"schemaVersion":3/' "$lb"
  expect_rc 1 validate_oci_layout bad-digest
  # ... and a manifest that breaks the schema (correct digest and size)
  cp -r layout bad-schema
  jq -c '.layers[0].digest = "not-a-digest"' "layout/blobs/sha256/$hex" | tr -d '\n' >bad-manifest.json
  local bd bs
  bd="$(sha256_of bad-manifest.json)"
  bs="$(stat -c %s bad-manifest.json)"
  cp bad-manifest.json "bad-schema/blobs/sha256/$bd"
  jq --arg d "sha256:$bd" --argjson s "$bs" '.manifests[0].digest = $d | .manifests[0].size = $s' layout/index.json >bad-schema/index.json
  local vout rc=0
  vout="$(validate_oci_layout bad-schema 2>&1)" || rc=$?
  assert_eq 1 "$rc" "validator exit code on a schema violation"
  assert_contains "$vout" "blobs/sha256/$bd" "validator output"
  assert_contains "$vout" "image manifest schema" "validator output"

  # -- cosign v2 signs without a transparency log; v2 and v3 verify (offline)
  cosign_offline_env "$STAGE_DIR/cosign"
  local out
  expect_rc 0 cosign2_sign d3 "$plain/e2e/hello@$dg1"
  # the signature sits at the tag fallback: sha256-<hex>.sig
  local sigdg
  sigdg="$(oras_reg d3 resolve "$plain/e2e/hello:sha256-$hex.sig")" || die "no sha256-$hex.sig tag after cosign2 sign"
  log "ok: signature manifest $sigdg at :sha256-$hex.sig"
  out="$(cosign2_verify d3 "$plain/e2e/hello@$dg1" 2>&1)" || die "cosign2 verify failed: $out"
  assert_contains "$out" "\"docker-manifest-digest\":\"$dg1\"" "cosign2 verify output"
  out="$(cosign3_verify d3 "$plain/e2e/hello@$dg1" 2>&1)" || die "cosign3 verify failed: $out"
  assert_contains "$out" "\"docker-manifest-digest\":\"$dg1\"" "cosign3 verify output"
  # by tag too
  expect_rc 0 cosign2_verify d3 "$plain/e2e/hello:v1"
  # a different key does not verify
  (
    cd "$STAGE_DIR" && mkdir -p other-key && cd other-key &&
      COSIGN_PASSWORD="" cosign2 generate-key-pair --output-key-prefix other >/dev/null 2>&1
  ) || die "generate a second key pair"
  # (cosign v2 exits 12 for "no matching signatures", see cosign's cmd/cosign/errors)
  expect_fail_with "no matching signatures" cosign2 verify --key "$STAGE_DIR/other-key/other.pub" \
    --insecure-ignore-tlog=true --allow-http-registry "$plain/e2e/hello@$dg1"
  assert_eq 12 "$FAIL_RC" "cosign2 exit code for a wrong key"
  expect_fail_with "no matching signatures" cosign3 verify --key "$STAGE_DIR/other-key/other.pub" \
    --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" --insecure-ignore-tlog=true --allow-http-registry "$plain/e2e/hello@$dg1"
  assert_eq 12 "$FAIL_RC" "cosign3 exit code for a wrong key"
  # an unsigned artifact does not verify (same digest, other repo: no .sig there)
  expect_fail_with "no signatures found" cosign2_verify d3 "$plain/e2e/skopeo-copied@$dg1"
  assert_eq 10 "$FAIL_RC" "cosign2 exit code for no signatures"
  expect_fail_with "no signatures found" cosign3_verify d3 "$plain/e2e/skopeo-copied@$dg1"

  # TLS + htpasswd (credentials from DOCKER_CONFIG): v2 signs, v3 signs (bundle referrer), both verify
  expect_rc 0 cosign2_sign d3tls "$tlsreg/e2e/copied@$dg1"
  expect_rc 0 cosign2_verify d3tls "$tlsreg/e2e/copied@$dg1"
  expect_rc 0 cosign3_verify d3tls "$tlsreg/e2e/copied@$dg1"
  expect_rc 0 cosign3_sign dr28 "$dr/e2e/copied@$dg1"
  expect_rc 0 cosign3_verify dr28 "$dr/e2e/copied@$dg1"
  expect_rc 0 cosign2_verify dr28 "$dr/e2e/copied@$dg1" --new-bundle-format --trusted-root "$E2E_COSIGN_TRUSTED_ROOT"
  # docker-registry 2.8 has no referrers API: cosign3 wrote the sha256-<hex> fallback tag (an index)
  local fb
  fb="$(oras_reg dr28 manifest fetch "$dr/e2e/copied:sha256-$hex")" || die "no sha256-$hex referrers fallback tag on dr28"
  assert_eq "application/vnd.dev.sigstore.bundle.v0.3+json" "$(jq -r '.manifests[0].artifactType' <<<"$fb")" "fallback index entry artifactType"

  # signatures travel with oras cp -r and stay valid
  mapfile -t from < <(oras_flags d3 from)
  mapfile -t to < <(oras_flags dr28 to)
  expect_rc 0 oras cp "${from[@]}" "${to[@]}" "$plain/e2e/hello:sha256-$hex.sig" "$dr/e2e/withsig:sha256-$hex.sig"
  expect_rc 0 oras cp "${from[@]}" "${to[@]}" "$plain/e2e/hello:v1" "$dr/e2e/withsig:v1"
  expect_rc 0 cosign2_verify dr28 "$dr/e2e/withsig@$dg1"
  mapfile -t from < <(oras_flags d3 from)
  expect_rc 0 oras cp "${from[@]}" --to-oci-layout "$plain/e2e/hello:sha256-$hex.sig" "layout:sha256-$hex.sig"
  expect_rc 0 validate_oci_layout layout
}
