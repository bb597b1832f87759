# shellcheck shell=bash
# Every peer tool is there and reports the pinned version (install-tools.sh).
# oras and cosign have no --version flag: their `version` subcommand is used.

# _assert_version WHAT WANT CMD…: the command's output contains WANT.
_assert_version() {
  local what="$1" want="$2" out rc=0
  shift 2
  out="$("$@" 2>&1)" || rc=$?
  # wrk -v prints its version and then exits 1 (usage); anything else must succeed.
  if ((rc != 0)) && [[ $what != wrk ]]; then
    die "$what: '$*' exited $rc: $out"
  fi
  [[ $out == *"$want"* ]] || die "$what: want version '$want' in output of '$*', got: $(head -c 400 <<<"$out")"
  log "ok: $what $want"
}

stage_tools() {
  # Go-installed pins (hack/install-tools.sh)
  _assert_version oras 'Version:    1.3.6' oras version
  _assert_version registry 'github.com/distribution/distribution/v3 v3.1.2' registry --version
  _assert_version cosign2 'GitVersion:    v2.6.5' cosign2 version
  _assert_version cosign3 'GitVersion:    v3.1.3' cosign3 version
  # the right binary under the right name: module paths from the build info
  go version -m "$(command -v cosign2)" | grep -qE '^[[:space:]]+mod[[:space:]]+github.com/sigstore/cosign/v2[[:space:]]+v2\.6\.5' ||
    die "cosign2 is not built from github.com/sigstore/cosign/v2 v2.6.5"
  go version -m "$(command -v cosign3)" | grep -qE '^[[:space:]]+mod[[:space:]]+github.com/sigstore/cosign/v3[[:space:]]+v3\.1\.3' ||
    die "cosign3 is not built from github.com/sigstore/cosign/v3 v3.1.3"
  # the tools in TOOLS_DIR, not something else on PATH
  local t
  for t in oras registry cosign2 cosign3; do
    assert_eq "$TOOLS_DIR/$t" "$(command -v "$t")" "path of $t"
  done

  # Debian bookworm packages (the snapshot the image uses)
  _assert_version skopeo 'skopeo version 1.9.3' skopeo --version
  _assert_version docker-registry 'github.com/docker/distribution 2.8.2' docker-registry --version
  _assert_version jq 'jq-1.6' jq --version
  _assert_version openssl 'OpenSSL 3.0.' openssl version
  _assert_version nginx 'nginx/1.22.1' nginx -v
  _assert_version wrk 'wrk debian/4.1.0' wrk -v
  _assert_version hyperfine 'hyperfine 1.15.0' hyperfine --version
  _assert_version htpasswd 'apache2-utils 2.4.' dpkg-query -W -f='${Package} ${Version}\n' apache2-utils
  command -v htpasswd >/dev/null || die "htpasswd not on PATH"

  # apt must not have left a docker-registry or nginx service running
  # (the system service runs with the packaged config; ours use their own)
  if pgrep -f 'docker-registry .*/etc/docker/registry/config.yml' >/dev/null; then
    die "the docker-registry system service is running (install-tools.sh should have stopped it)"
  fi
  if pgrep -f 'nginx: master process /usr/sbin/nginx$' >/dev/null; then
    log "warning: a system nginx is running"
  fi
  go version | grep -q 'go1.26' || die "want Go 1.26.x, got $(go version)"
  log "ok: $(go version)"
}
