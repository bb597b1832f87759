# shellcheck shell=bash
# Evidence that travels with a shipment, against the real tools:
#   - shoebox sbom's CycloneDX 1.6 and SPDX 2.3 validate against the official
#     JSON schemas (hack/sbomschema; CycloneDX from the npm package that
#     install-tools.sh unpacks; SPDX 2.3's spdx-schema.json from the Go
#     module that ships it, see install-tools.sh);
#   - push --advisories carries the advisories, push --fail-on refuses outside;
#   - shoebox attest's attestations verify with cosign v2.6.5 and v3.1.3
#     `verify-attestation --key … --type cyclonedx|spdxjson` on the distribution
#     registry, and a wrong key or type fails;
#   - attested on the stick, carried by `shoebox copy` (under a policy that
#     requires the attestation) into the registry, cosign v2 and v3 verify the
#     copy; a policy requiring an attestation refuses a bundle without one;
#   - cosign v2's own `cosign attest` satisfies shoebox's require_attestations;
#   - where each item was fetched: push's provenance record is a referrer
#     oras discovers (on the stick and on a registry copy), the SBOM reports
#     its URLs as the pusher's word, and the attested SBOM signs them.

# _q CMD…: CMD with its standard output discarded (cosign prints the envelope).
_q() { "$@" >/dev/null; }

stage_evidence() {
  _genworld "$PWD"
  local manifest created=2026-11-23T00:00:00Z
  manifest="$(jq -r '.manifests[0]' world.json)"
  local pushargs=(push -q --from "file://$PWD/static" --manifest "$manifest" --platform x86_64-linux-gnu --created "$created")
  # an advisory about a package version the manifest pins (high: CVSS 3.1 7.5)
  shoebox "${pushargs[@]}" ./plain:v1 || die "push failed"
  shoebox inventory ./plain >inv.json || die "inventory failed"
  local name uuid
  read -r name uuid < <(jq -r '[.items[] | select(.kind == "package")][0] | "\(.name) \(.uuid)"' inv.json)
  [[ -n $name && -n $uuid ]] || die "no package in the inventory"
  mkdir -p adv
  cp "$REPO"/testdata/advisories/*.json adv/
  cat >adv/E2E-1.json <<JSON
{"schema_version":"1.7.0","id":"E2E-1","modified":"2026-07-01T00:00:00Z","summary":"e2e advisory",
 "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
 "affected":[{"package":{"ecosystem":"Julia","name":"$name","purl":"pkg:julia/$name?uuid=$uuid"},
   "ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}
JSON
  # the closure is refused outside when the advisory matches and reaches --fail-on
  if shoebox "${pushargs[@]}" --advisories adv --fail-on high ./refused:v1 2>refused.err; then
    die "push --fail-on high accepted a closure with a high advisory"
  fi
  assert_contains "$(cat refused.err)" "push refused" "push --fail-on"
  shoebox "${pushargs[@]}" --advisories adv --json ./stick:v1 >push.json || die "push --advisories failed"
  local digest
  digest="$(jq -r .digest push.json)"
  assert_eq "$(jq -r '.items.advisories' push.json)" 1 "advisories items"
  assert_contains "$(jq -r '.audit.findings[].id' push.json)" "E2E-1" "push audit"

  # SBOMs against the official schemas
  shoebox sbom ./stick:v1 >bom.cdx.json || die "sbom failed"
  shoebox sbom --format spdx ./stick:v1 >bom.spdx.json || die "sbom --format spdx failed"
  assert_contains "$(jq -r '.vulnerabilities[].id' bom.cdx.json)" "E2E-1" "sbom vulnerabilities"
  local schemas="$REPO/.tools/schemas" here="$PWD"
  [[ -f $schemas/cyclonedx/bom-1.6.SNAPSHOT.schema.json ]] || die "no CycloneDX schema: run hack/install-tools.sh schemas"
  (cd "$REPO" && go run ./hack/sbomschema --cyclonedx "$schemas/cyclonedx" "$here/bom.cdx.json") || die "CycloneDX SBOM invalid"
  [[ -f $schemas/spdx/spdx-schema.json ]] || die "no SPDX schema: run hack/install-tools.sh schemas"
  (cd "$REPO" && go run ./hack/sbomschema --spdx "$schemas/spdx/spdx-schema.json" "$here/bom.spdx.json") || die "SPDX SBOM invalid"

  # where each item was fetched: the provenance record beside the bundle
  local regloc
  regloc="$(jq -r '.packages[] | select(.SPDXID | startswith("SPDXRef-Registry-")) | .downloadLocation + " | " + .sourceInfo' bom.spdx.json)"
  assert_contains "$regloc" "file://$PWD/static/registry/" "SPDX downloadLocation of the registry"
  assert_contains "$regloc" "reported by the pusher in provenance record $(jq -r .provenance push.json) (unsigned)" "SPDX sourceInfo of the registry"
  assert_eq "$(oras discover --oci-layout --format json --artifact-type application/vnd.shoebox.provenance.v1 ./stick:v1 |
    jq -r '.referrers[0].digest')" "$(jq -r .provenance push.json)" "oras discover: the stick's provenance record"

  # attestations on a registry copy, verified by cosign v2 and v3
  start_distribution d3 >/dev/null
  local reg r out
  reg="$(reg_addr d3)"
  cosign_offline_env "$STAGE_DIR/cosign"
  export SHOEBOX_PASSWORD="e2e-pw"
  shoebox key generate --output-prefix sb 2>/dev/null || die "shoebox key generate failed"
  for r in att attspdx attbundle; do
    shoebox copy -q --no-verify --plain-http ./stick:v1 "$reg/julia/$r:v1" || die "copy to julia/$r failed"
  done
  expect_rc 0 shoebox attest -q --plain-http --key sb.key "$reg/julia/att:v1"
  expect_rc 0 shoebox attest -q --plain-http --key sb.key "$reg/julia/att:v1" # again: nothing added
  out="$(cosign2 verify-attestation --key sb.pub --type cyclonedx --insecure-ignore-tlog=true --allow-http-registry \
    "$reg/julia/att@$digest" 2>/dev/null)" || die "cosign2 verify-attestation --type cyclonedx failed"
  assert_eq "$(jq -r .payload <<<"$out" | base64 -d | jq -r '.subject[0].digest.sha256')" "${digest#sha256:}" "attestation subject"
  assert_eq "$(jq -r .payload <<<"$out" | base64 -d | jq -r '.predicate.components | map(select(.purl != null)) | length > 0')" true "attested SBOM"
  assert_eq "$(jq -r .payload <<<"$out" | base64 -d | jq -r '[.predicate.components[].externalReferences[]? |
    select(.type == "distribution" and ((.comment // "") | contains("reported by the pusher")))] | length > 0')" true "attested SBOM names the sources"
  assert_eq "$(oras_reg d3 discover --format json --artifact-type application/vnd.shoebox.provenance.v1 "$reg/julia/att:v1" |
    jq -r '.referrers[0].digest')" "$(jq -r .provenance push.json)" "oras discover: the copy's provenance record"
  expect_rc 0 _q cosign3 verify-attestation --key sb.pub --type cyclonedx --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" \
    --insecure-ignore-tlog=true --allow-http-registry "$reg/julia/att@$digest"
  expect_fail_with "no matching attestations" cosign2 verify-attestation --key "$E2E_COSIGN_PUB" --type cyclonedx \
    --insecure-ignore-tlog=true --allow-http-registry "$reg/julia/att@$digest"
  if cosign2 verify-attestation --key sb.pub --type spdxjson --insecure-ignore-tlog=true --allow-http-registry \
    "$reg/julia/att@$digest" >/dev/null 2>&1; then
    die "cosign2 verify-attestation --type spdxjson passed on a CycloneDX attestation"
  fi

  expect_rc 0 shoebox attest -q --plain-http --type spdxjson --key sb.key "$reg/julia/attspdx:v1"
  expect_rc 0 _q cosign2 verify-attestation --key sb.pub --type spdxjson --insecure-ignore-tlog=true --allow-http-registry \
    "$reg/julia/attspdx@$digest"
  expect_rc 0 _q cosign3 verify-attestation --key sb.pub --type spdxjson --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" \
    --insecure-ignore-tlog=true --allow-http-registry "$reg/julia/attspdx@$digest"

  # --format bundle: the Sigstore bundle referrer, as cosign v3 writes attestations
  expect_rc 0 shoebox attest -q --plain-http --format bundle --key sb.key "$reg/julia/attbundle:v1"
  expect_rc 0 _q cosign3 verify-attestation --key sb.pub --type cyclonedx --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" \
    --insecure-ignore-tlog=true --allow-http-registry --new-bundle-format "$reg/julia/attbundle@$digest"
  expect_rc 0 _q cosign2 verify-attestation --key sb.pub --type cyclonedx --insecure-ignore-tlog=true --allow-http-registry \
    --new-bundle-format --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" "$reg/julia/attbundle@$digest"

  # the inside's path: attest on the stick, copy under a policy that requires it
  shoebox sign -q --key sb.key ./stick:v1 || die "sign failed"
  cat >policy.toml <<TOML
require_attestations = ["cyclonedx"]
[[keys]]
name = "release"
path = "sb.pub"
TOML
  expect_fail_with "missing a required attestation" shoebox copy -q --policy policy.toml --plain-http ./stick:v1 "$reg/julia/inside:v1"
  expect_rc 0 shoebox attest -q --key sb.key ./stick:v1
  expect_rc 0 shoebox copy -q --policy policy.toml --plain-http ./stick:v1 "$reg/julia/inside:v1"
  expect_rc 0 shoebox verify --policy policy.toml --plain-http "$reg/julia/inside:v1"
  expect_rc 0 _q cosign2 verify-attestation --key sb.pub --type cyclonedx --insecure-ignore-tlog=true --allow-http-registry \
    "$reg/julia/inside@$digest"
  expect_rc 0 _q cosign3 verify-attestation --key sb.pub --type cyclonedx --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" \
    --insecure-ignore-tlog=true --allow-http-registry "$reg/julia/inside@$digest"

  # cosign's own attestation satisfies the policy too (its key in the policy)
  shoebox copy -q --no-verify --plain-http ./plain:v1 "$reg/julia/cosignatt:v1" || die "copy to julia/cosignatt failed"
  local pdigest
  pdigest="$(jq -r '.bundles[0].digest' <(shoebox inventory ./plain))"
  cosign2_sign d3 "$reg/julia/cosignatt@$pdigest" >/dev/null 2>&1 || die "cosign2 sign failed"
  cat >cpolicy.toml <<TOML
require_attestations = ["cyclonedx"]
[[keys]]
path = "$E2E_COSIGN_PUB"
TOML
  expect_fail_with "missing a required attestation" shoebox verify --policy cpolicy.toml --plain-http "$reg/julia/cosignatt:v1"
  cosign2 attest --yes --key "$E2E_COSIGN_KEY" --type cyclonedx --predicate bom.cdx.json --tlog-upload=false \
    --allow-insecure-registry "$reg/julia/cosignatt@$pdigest" >/dev/null 2>&1 || die "cosign2 attest failed"
  out="$(shoebox verify --policy cpolicy.toml --plain-http "$reg/julia/cosignatt:v1")" || die "verify of cosign's attestation failed: $out"
  assert_contains "$out" "attested   https://cyclonedx.org/bom [cosign-att-tag]: signed by" "shoebox verify of cosign attest"
}

