#!/usr/bin/env bash
# Install the peer tools the e2e suite and the benchmarks need.
#
#   hack/install-tools.sh            # everything
#   hack/install-tools.sh go         # only the go-installed tools
#   hack/install-tools.sh apt        # only the Debian packages
#   hack/install-tools.sh schemas    # only the SBOM JSON schemas (npm)
#
# Idempotent: a Go tool whose binary already carries the pinned module version
# (read from its build info with `go version -m`) is skipped, and apt-get runs
# only when a package is missing. Go tools go into TOOLS_DIR (default
# $REPO/.tools/bin, gitignored); they are built with GOBIN set to a temporary
# directory and moved into place under their final name, so a half-built tool
# never sits in TOOLS_DIR. The module cache (GOMODCACHE) and build cache are the
# user's ordinary ones and are reused between runs.
#
# Pins (all build with Go 1.26.8 and GOTOOLCHAIN=local as they are; measured
# 2026-11, see the timings this script prints):
#   oras      oras.land/oras/cmd/oras@v1.3.6
#   registry  github.com/distribution/distribution/v3/cmd/registry@v3.1.2
#   cosign2   github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5
#   cosign3   github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3
# Schemas (npm, into $REPO/.tools/schemas, for pkg/sbom's tests and the
# evidence e2e stage): the CycloneDX 1.6 JSON schema with the spdx and jsf
# schemas it references, from @cyclonedx/cyclonedx-library@10.3.0
# (res/schema/); the SPDX 2.3 JSON schema (spdx/spdx-spec v2.3's
# spdx-schema.json, $id http://spdx.org/rdf/terms/2.3) from the Go module
# github.com/anchore/syft@v1.57.2 (schema/spdx-json/spdx-schema-2.3.json), the
# only package a registry here serves that ships it.
# Debian (bookworm): skopeo, docker-registry (distribution 2.8, kept from
# starting as a system service: we start our own on loopback), apache2-utils
# (htpasswd), openssl, jq, nginx-light (benchmarks; service not started), wrk,
# hyperfine, bash-completion, zsh and fish (completion scripts, e2e 60-cli),
# prometheus (for promtool check metrics on serve's /metrics; its service is
# kept from starting), and removable media through FUSE for e2e 35-removable:
# dosfstools + fusefat (FAT32), exfatprogs + exfat-fuse (exFAT).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$REPO/.tools/bin}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export PATH="/usr/local/go/bin:$PATH"
# Build flags for the tools: reproducible paths, no symbol tables (smaller
# binaries, shorter links; `version` output comes from build info, unaffected).
TOOL_BUILD_FLAGS=(-trimpath -ldflags=-s\ -w)

# name|package@version|module path checked in the binary's build info
GO_TOOLS=(
  "oras|oras.land/oras/cmd/oras@v1.3.6|oras.land/oras"
  "registry|github.com/distribution/distribution/v3/cmd/registry@v3.1.2|github.com/distribution/distribution/v3"
  "cosign2|github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5|github.com/sigstore/cosign/v2"
  "cosign3|github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3|github.com/sigstore/cosign/v3"
)
APT_PACKAGES=(skopeo docker-registry apache2-utils openssl jq nginx-light wrk hyperfine bash-completion zsh fish prometheus dosfstools fusefat exfatprogs exfat-fuse)
# Services some of these packages would start; we never want them running.
APT_SERVICES=(docker-registry nginx prometheus)

say() { printf '[install-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# go_tool_ok NAME MODPATH VERSION: the binary exists and was built from that module version.
go_tool_ok() {
  local bin="$TOOLS_DIR/$1" mod="$2" ver="$3"
  [[ -x "$bin" ]] || return 1
  go version -m "$bin" 2>/dev/null | awk -v m="$mod" -v v="$ver" '$1=="mod" && $2==m && $3==v {ok=1} END {exit !ok}'
}

# build_go_tool "name|pkg@ver|mod": go install into a temp GOBIN, then move.
build_go_tool() {
  local name pkgver mod ver tmp start rc=0
  IFS='|' read -r name pkgver mod <<<"$1"
  ver="${pkgver##*@}"
  if go_tool_ok "$name" "$mod" "$ver"; then
    say "$name: $ver already installed, skipped"
    return 0
  fi
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/shoebox-gobin.XXXXXX")"
  start=$SECONDS
  say "$name: go install $pkgver"
  if GOBIN="$tmp" go install "${TOOL_BUILD_FLAGS[@]}" "$pkgver" >"$LOG_DIR/$name.log" 2>&1; then
    mv -f "$tmp/$(basename "${pkgver%@*}")" "$TOOLS_DIR/$name"
    say "$name: built in $((SECONDS - start))s"
  else
    rc=$?
    say "$name: FAILED after $((SECONDS - start))s (rc=$rc); last lines of $LOG_DIR/$name.log:"
    tail -n 20 "$LOG_DIR/$name.log" >&2 || true
  fi
  rm -rf "$tmp"
  return "$rc"
}

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }

install_apt() {
  local missing=() p start=$SECONDS policy_added=0
  for p in "${APT_PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    say "apt: all of ${APT_PACKAGES[*]} already installed, skipped"
    return 0
  fi
  say "apt: installing ${missing[*]}"
  # Keep maintainer scripts from starting services (invoke-rc.d honours this).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  local rc=0
  {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Use-Pty=0 "${missing[@]}"
  } >"$LOG_DIR/apt.log" 2>&1 || rc=$?
  ((policy_added)) && as_root rm -f /usr/sbin/policy-rc.d
  # Belt and braces: if a service got enabled or started anyway, stop and disable it.
  local s
  for s in "${APT_SERVICES[@]}"; do
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
      as_root systemctl disable --now "$s" >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/$s ]]; then
      as_root /etc/init.d/"$s" stop >/dev/null 2>&1 || true
      command -v update-rc.d >/dev/null && as_root update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
  done
  if ((rc != 0)); then
    say "apt: FAILED after $((SECONDS - start))s (rc=$rc); last lines of $LOG_DIR/apt.log:"
    tail -n 20 "$LOG_DIR/apt.log" >&2 || true
    return "$rc"
  fi
  say "apt: done in $((SECONDS - start))s"
}

SCHEMA_DIR="${SCHEMA_DIR:-$REPO/.tools/schemas}"
CDX_NPM="@cyclonedx/cyclonedx-library@10.3.0"
CDX_SCHEMAS=(bom-1.6.SNAPSHOT.schema.json spdx.SNAPSHOT.schema.json jsf-0.82.SNAPSHOT.schema.json)
SPDX_MOD="github.com/anchore/syft@v1.57.2"
SPDX_FILE="schema/spdx-json/spdx-schema-2.3.json"

install_schemas() {
  local dst="$SCHEMA_DIR/cyclonedx" f tmp start=$SECONDS
  if [[ -f $dst/.from && "$(cat "$dst/.from")" == "$CDX_NPM" ]]; then
    say "schemas: $CDX_NPM already unpacked, skipped"
    return 0
  fi
  command -v npm >/dev/null || { say "schemas: npm not found"; return 1; }
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/shoebox-schemas.XXXXXX")"
  if ! (cd "$tmp" && npm pack --silent "$CDX_NPM" >"$LOG_DIR/schemas.log" 2>&1); then
    say "schemas: npm pack $CDX_NPM FAILED:"; tail -n 20 "$LOG_DIR/schemas.log" >&2; rm -rf "$tmp"; return 1
  fi
  mkdir -p "$tmp/x" "$dst"
  tar -xzf "$tmp"/*.tgz -C "$tmp/x"
  for f in "${CDX_SCHEMAS[@]}"; do
    mv -f "$tmp/x/package/res/schema/$f" "$dst/$f" || { rm -rf "$tmp"; return 1; }
  done
  echo "$CDX_NPM" >"$dst/.from"
  rm -rf "$tmp"
  say "schemas: $CDX_NPM unpacked into $dst in $((SECONDS - start))s"
}

install_spdx_schema() {
  local dst="$SCHEMA_DIR/spdx" dir start=$SECONDS
  if [[ -f $dst/.from && "$(cat "$dst/.from")" == "$SPDX_MOD" ]]; then
    say "schemas: $SPDX_MOD's SPDX schema already there, skipped"
    return 0
  fi
  if ! dir="$(GOFLAGS=-mod=mod go mod download -json "$SPDX_MOD" 2>"$LOG_DIR/spdx-schema.log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || [[ -z $dir ]]; then
    say "schemas: go mod download $SPDX_MOD FAILED:"; tail -n 20 "$LOG_DIR/spdx-schema.log" >&2; return 1
  fi
  # the file must be SPDX 2.3's own schema, whatever the module does next
  grep -q '"\$id" : "http://spdx.org/rdf/terms/2.3"' "$dir/$SPDX_FILE" && grep -q '"title" : "SPDX 2.3"' "$dir/$SPDX_FILE" ||
    { say "schemas: $dir/$SPDX_FILE is not the SPDX 2.3 schema"; return 1; }
  mkdir -p "$dst"
  cp -f "$dir/$SPDX_FILE" "$dst/spdx-schema.json.tmp" && chmod 644 "$dst/spdx-schema.json.tmp" && mv -f "$dst/spdx-schema.json.tmp" "$dst/spdx-schema.json"
  echo "$SPDX_MOD" >"$dst/.from"
  say "schemas: SPDX 2.3 schema from $SPDX_MOD into $dst in $((SECONDS - start))s"
}

main() {
  local what="${1:-all}" total=$SECONDS
  mkdir -p "$TOOLS_DIR"
  LOG_DIR="${TOOLS_LOG_DIR:-$TOOLS_DIR/../log}"
  mkdir -p "$LOG_DIR"
  command -v go >/dev/null || { say "go not found"; exit 1; }
  say "go: $(go version), GOMODCACHE=$(go env GOMODCACHE), TOOLS_DIR=$TOOLS_DIR, logs in $LOG_DIR"

  # Two lanes on two cores: apt (mostly I/O) beside the Go builds; the Go
  # builds themselves in two lanes so downloads overlap with compiles:
  # lane 1 oras, registry, cosign3; lane 2 cosign2 (the longest).
  local pids=() names=() fail=0 i
  trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM
  if [[ $what == all || $what == apt ]]; then
    install_apt & pids+=($!); names+=(apt)
  fi
  if [[ $what == all || $what == schemas ]]; then
    install_schemas & pids+=($!); names+=(schemas)
    install_spdx_schema & pids+=($!); names+=(spdx-schema)
  fi
  if [[ $what == all || $what == go ]]; then
    { r=0; for i in 0 1 3; do build_go_tool "${GO_TOOLS[$i]}" || r=1; done; exit $r; } &
    pids+=($!); names+=("oras,registry,cosign3")
    build_go_tool "${GO_TOOLS[2]}" & pids+=($!); names+=(cosign2)
  fi
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { say "${names[$i]}: failed"; fail=1; }
  done
  say "total: $((SECONDS - total))s"
  exit "$fail"
}

main "$@"
