# shellcheck shell=bash
# Trust interop with the real binaries, offline (docs/cosign-offline.md):
#   - cosign v2.6.5 and v3.1.3 `verify --key` accept what `shoebox sign` writes on
#     the distribution registry (the .sig tag; and the Sigstore bundle with --format bundle);
#   - `shoebox verify` accepts what both cosign versions write, in every format
#     (v2 .sig tag, v2 --registry-referrers-mode=oci-1-1, v2 --new-bundle-format,
#     v3 default bundle);
#   - a key from `cosign generate-key-pair` signs with shoebox, and a key from
#     `shoebox key generate` signs with cosign;
#   - `shoebox copy` carries every format registry → layout → registry, cosign still
#     verifies at the end; unsigned and tampered bundles are refused with exit 3;
#   - signatures bind tags: `shoebox sign` records the tag in the signed payload
#     (cosign shows it and still verifies), a policy's tags are checked against it
#     (cosign's own `-a dev.shoebox.tag=TAG` counts), never against renamed tags.

# _trust_formats REF: the signature formats shoebox verify --json reports (comma-separated).
_trust_formats() {
  jq -r '.bundles[0].signature.formats | join(",")' "$1"
}

stage_trust() {
  _genworld "$PWD"
  local manifest created=2026-11-23T00:00:00Z
  manifest="$(jq -r '.manifests[0]' world.json)"
  shoebox push -q --from "file://$PWD/static" --manifest "$manifest" --platform x86_64-linux-gnu \
    --created "$created" --json ./stick:v1 >push.json || die "shoebox push failed"
  local digest
  digest="$(jq -r .digest push.json)"
  [[ $digest == sha256:* ]] || die "push printed no digest"

  start_distribution d3 >/dev/null
  local reg
  reg="$(reg_addr d3)"
  cosign_offline_env "$STAGE_DIR/cosign"
  export SHOEBOX_PASSWORD="e2e-pw"
  shoebox key generate --output-prefix sb 2>/dev/null || die "shoebox key generate failed"

  # one repository per case, each holding the unsigned bundle
  local r
  for r in sb sbbundle cosignkey c2tag c2oci c2bundle c3 sbcosign c2tagged; do
    shoebox copy -q --no-verify --plain-http ./stick:v1 "$reg/julia/$r:v1" || die "copy to julia/$r failed"
  done

  # -- shoebox signs, cosign verifies
  expect_rc 0 shoebox sign -q --plain-http --key sb.key "$reg/julia/sb:v1"
  expect_rc 0 cosign2 verify --key sb.pub --insecure-ignore-tlog=true --allow-http-registry "$reg/julia/sb@$digest"
  expect_rc 0 cosign3 verify --key sb.pub --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" --insecure-ignore-tlog=true \
    --allow-http-registry "$reg/julia/sb@$digest"
  # the simple-signing payload names the registry repository, as cosign writes it
  local out
  out="$(cosign2 verify --key sb.pub --insecure-ignore-tlog=true --allow-http-registry "$reg/julia/sb@$digest" 2>/dev/null)"
  assert_contains "$out" "\"docker-reference\":\"$reg/julia/sb\"" "cosign2 verify claims"
  assert_contains "$out" "\"docker-manifest-digest\":\"$digest\"" "cosign2 verify claims"
  # ... and the tag it was signed for, inside the signed payload
  assert_contains "$out" '"dev.shoebox.tag":"v1"' "cosign2 verify claims"
  # a wrong key: cosign says no
  expect_fail_with "no matching signatures" cosign2 verify --key "$E2E_COSIGN_PUB" --insecure-ignore-tlog=true \
    --allow-http-registry "$reg/julia/sb@$digest"

  # --format bundle: cosign v3 verifies the Sigstore bundle, cosign v2 with --new-bundle-format
  expect_rc 0 shoebox sign -q --plain-http --format bundle --key sb.key "$reg/julia/sbbundle:v1"
  expect_rc 0 cosign3 verify --key sb.pub --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" --insecure-ignore-tlog=true \
    --allow-http-registry --new-bundle-format "$reg/julia/sbbundle@$digest"
  expect_rc 0 cosign2 verify --key sb.pub --insecure-ignore-tlog=true --allow-http-registry \
    --new-bundle-format --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" "$reg/julia/sbbundle@$digest"

  # a cosign key (empty password, on stdin) signs with shoebox
  printf '' | shoebox sign -q --plain-http --key-password-stdin --key "$E2E_COSIGN_KEY" "$reg/julia/cosignkey:v1" ||
    die "shoebox sign with a cosign key failed"
  expect_rc 0 cosign2_verify d3 "$reg/julia/cosignkey@$digest"
  expect_rc 0 cosign3_verify d3 "$reg/julia/cosignkey@$digest"

  # -- cosign signs, shoebox verifies every format
  expect_rc 0 cosign2_sign d3 "$reg/julia/c2tag@$digest"
  COSIGN_EXPERIMENTAL=1 cosign2_sign d3 "$reg/julia/c2oci@$digest" --registry-referrers-mode=oci-1-1 >&2 ||
    die "cosign2 sign oci-1-1 failed"
  expect_rc 0 cosign2_sign d3 "$reg/julia/c2bundle@$digest" --new-bundle-format
  expect_rc 0 cosign3_sign d3 "$reg/julia/c3@$digest"
  local want
  for r in c2tag:cosign-sig-tag c2oci:cosign-sig-referrer c2bundle:sigstore-bundle c3:sigstore-bundle; do
    want="${r#*:}"
    r="${r%%:*}"
    shoebox verify --plain-http --key "$E2E_COSIGN_PUB" --json "$reg/julia/$r:v1" >"verify-$r.json" ||
      die "shoebox verify of cosign's $r signature failed: $(cat "verify-$r.json")"
    assert_eq "$want" "$(_trust_formats "verify-$r.json")" "formats shoebox found in julia/$r"
    assert_eq ok "$(jq -r '.bundles[0].signature.outcome' "verify-$r.json")" "outcome in julia/$r"
    # the wrong key: signed only by unknown keys, exit 3
    expect_fail_with "signed only by unknown keys" shoebox verify --plain-http --key sb.pub "$reg/julia/$r:v1"
    assert_eq 3 "$FAIL_RC" "shoebox verify exit code for a wrong key on julia/$r"
  done

  # a tag policy reads the tag from the signed data: cosign's signature without the
  # claim is not covered, with `-a dev.shoebox.tag=v1` it is
  printf 'tags = ["v*"]\n[[keys]]\npath = "%s"\n' "$E2E_COSIGN_PUB" >tags.toml
  expect_fail_with "not signed for a tag the policy covers" shoebox verify --plain-http --policy tags.toml "$reg/julia/c2tag:v1"
  assert_eq 3 "$FAIL_RC" "shoebox verify exit code for a signature made for no tag"
  expect_rc 0 cosign2_sign d3 "$reg/julia/c2tagged@$digest" -a dev.shoebox.tag=v1
  expect_rc 0 shoebox verify --plain-http --policy tags.toml "$reg/julia/c2tagged:v1"

  # a shoebox key signs with cosign (same password), shoebox and cosign verify
  COSIGN_PASSWORD="$SHOEBOX_PASSWORD" cosign2 sign --key sb.key --tlog-upload=false -y --allow-http-registry \
    "$reg/julia/sbcosign@$digest" >&2 || die "cosign2 sign with a shoebox key failed"
  expect_rc 0 shoebox verify --plain-http --key sb.pub "$reg/julia/sbcosign:v1"
  expect_rc 0 cosign3 verify --key sb.pub --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" --insecure-ignore-tlog=true \
    --allow-http-registry "$reg/julia/sbcosign@$digest"

  # -- copy carries the signatures: registry → layout → another registry
  shoebox copy -q --plain-http --key "$E2E_COSIGN_PUB" "$reg/julia/c3:v1" ./carried >&2 || die "copy registry → layout failed"
  shoebox verify --key "$E2E_COSIGN_PUB" --deep --json ./carried:v1 >carried.json || die "verify of the carried layout failed"
  assert_eq sigstore-bundle "$(_trust_formats carried.json)" "formats in the carried layout"
  assert_eq ok "$(jq -r '.bundles[0].signature.outcome' carried.json)" "outcome in the carried layout"
  assert_eq ok "$(jq -r 'first(.result)' ./carried/.shoebox/import.log)" "import log result"
  start_docker_registry dr28 >/dev/null
  local dr
  dr="$(reg_addr dr28)"
  shoebox copy -q --plain-http --key "$E2E_COSIGN_PUB" ./carried:v1 "$dr/julia/inside:v1" >&2 || die "copy layout → registry failed"
  expect_rc 0 cosign3_verify dr28 "$dr/julia/inside@$digest"
  expect_rc 0 cosign2_verify dr28 "$dr/julia/inside@$digest" --new-bundle-format --trusted-root "$E2E_COSIGN_TRUSTED_ROOT"
  # every signature format at once: the .sig tag of julia/c2tag and the bundle of julia/c3 meet in one layout
  shoebox copy -q --plain-http --key "$E2E_COSIGN_PUB" "$reg/julia/c2tag:v1" ./carried >&2 || die "second copy into the layout failed"
  shoebox verify --key "$E2E_COSIGN_PUB" --json ./carried:v1 >carried2.json || die "verify after the second copy failed"
  assert_eq cosign-sig-tag,sigstore-bundle "$(_trust_formats carried2.json)" "formats after two copies"

  # -- refusals: unsigned, tampered
  expect_fail_with "unsigned" shoebox copy --plain-http --key sb.pub ./stick:v1 "$reg/julia/refused:v1"
  assert_eq 3 "$FAIL_RC" "copy exit code for an unsigned bundle"
  expect_fail_with "no bundle" shoebox verify --plain-http --key sb.pub "$reg/julia/refused"
  cp -r carried tampered
  chmod -R u+w tampered
  local blob
  blob="$(jq -r '.manifests[] | select(.annotations["dev.shoebox.julia.kind"]=="package") | .annotations["dev.shoebox.whole.digest"]' \
    "tampered/blobs/sha256/${digest#sha256:}" | head -n1)"
  printf 'x' | dd of="tampered/blobs/sha256/${blob#sha256:}" bs=1 seek=100 conv=notrunc 2>/dev/null
  expect_fail_with "integrity check failed: mismatched digest" shoebox verify --key "$E2E_COSIGN_PUB" ./tampered:v1
  assert_eq 3 "$FAIL_RC" "verify exit code for a tampered blob"
  expect_fail_with "not copied" shoebox copy --plain-http --key "$E2E_COSIGN_PUB" ./tampered:v1 "$reg/julia/tampered:v1"
  assert_eq 3 "$FAIL_RC" "copy exit code for a tampered blob"
  # a bundle signed for v1, its tag renamed in index.json: refused under a policy for prod-*
  shoebox copy -q --no-verify ./stick:v1 ./renamed >&2 || die "copy to ./renamed failed"
  expect_rc 0 shoebox sign -q --key sb.key ./renamed:v1
  sed -i 's/"org.opencontainers.image.ref.name":"v1"/"org.opencontainers.image.ref.name":"prod-1"/' renamed/index.json
  printf 'tags = ["prod-*"]\n[[keys]]\npath = "sb.pub"\n' >prod.toml
  expect_fail_with "trusted keys signed it for v1; the policy covers prod-" shoebox verify --policy prod.toml ./renamed:prod-1
  assert_eq 3 "$FAIL_RC" "verify exit code for a renamed tag"
}
