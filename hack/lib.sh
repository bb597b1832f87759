# shellcheck shell=bash
# hack/lib.sh: helpers for the e2e stages and the benchmarks. Source it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Everything a run makes lives under E2E_DIR (default: a fresh directory under
# $REPO/.e2e/, gitignored): registries' storage, configs, logs, certificates,
# keys, and the docker config (DOCKER_CONFIG) holding the test credentials.
# Every background process started here is recorded in E2E_PIDS and killed by
# stop_all, which lib.sh installs as the EXIT trap (call `trap - EXIT` and your
# own trap calling stop_all if you need a different one).
#
# Registries: `start_distribution NAME [--tls] [--htpasswd user:pass]` and
# `start_docker_registry NAME [...]` start one on 127.0.0.1 and print its
# host:port. Call them directly (not in $(...)) to also get NAME_ADDR exported
# (NAME upper-cased, non-alphanumerics as _), or read it back at any time with
# `reg_addr NAME`. Per registry: `reg_get NAME addr|scheme|ca|user|pass|dir|log`.
# Tool flags for a registry: `oras_flags NAME [from|to]`, `skopeo_flags NAME
# [src|dest]`, `cosign_flags NAME`; `oras_reg NAME SUBCOMMAND ARGS…` runs oras
# with NAME's flags inserted after the subcommand. Credentials for htpasswd
# registries are also written to $DOCKER_CONFIG/config.json, so anything that
# reads docker credentials (cosign, shoebox) finds them.

: "${REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${TOOLS_DIR:=$REPO/.tools/bin}"
export REPO TOOLS_DIR
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export PATH="$TOOLS_DIR:/usr/local/go/bin:$PATH"

if [[ -z "${E2E_DIR:-}" ]]; then
  mkdir -p "$REPO/.e2e"
  E2E_DIR="$(mktemp -d "$REPO/.e2e/run.$(date +%Y%m%d-%H%M%S).XXXX")"
fi
mkdir -p "$E2E_DIR"
: "${E2E_PIDS:=$E2E_DIR/pids}"
export E2E_DIR E2E_PIDS
export DOCKER_CONFIG="${DOCKER_CONFIG_E2E:-$E2E_DIR/docker}"
mkdir -p "$DOCKER_CONFIG"
[[ -s $DOCKER_CONFIG/config.json ]] || echo '{"auths":{}}' >"$DOCKER_CONFIG/config.json"
# distribution v3 exports OpenTelemetry traces to localhost:4318 by default.
export OTEL_TRACES_EXPORTER=none OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none

# ---------------------------------------------------------------- basics

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s] FATAL: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# assert_eq WANT GOT [what]
assert_eq() {
  [[ "$1" == "$2" ]] || die "${3:-value}: want '$1', got '$2'"
  log "ok: ${3:-value} = $2"
}
# assert_contains HAYSTACK NEEDLE [what]
assert_contains() {
  [[ "$1" == *"$2"* ]] || die "${3:-output}: '$2' not found in: $1"
  log "ok: ${3:-output} contains '$2'"
}
# expect_rc WANT CMD…: run CMD, fail unless its exit code is WANT. Output goes to stderr.
expect_rc() {
  local want="$1" rc=0
  shift
  "$@" >&2 || rc=$?
  [[ "$rc" == "$want" ]] || die "exit code $rc, want $want: $*"
  log "ok: exit $rc: $*"
}

# expect_fail_with NEEDLE CMD…: CMD must fail, and its output must contain NEEDLE.
# Sets FAIL_RC to its exit code.
expect_fail_with() {
  local needle="$1" out
  shift
  FAIL_RC=0
  out="$("$@" 2>&1)" || FAIL_RC=$?
  ((FAIL_RC != 0)) || die "succeeded, want a failure: $*"
  [[ $out == *"$needle"* ]] || die "failed (exit $FAIL_RC) without '$needle': $*: $(tail -c 600 <<<"$out")"
  log "ok: exit $FAIL_RC with '$needle': $*"
}

# free_port: print a TCP port free on 127.0.0.1 (the kernel picks it).
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  die "free_port: no free port found"
}

# wait_port HOST:PORT [TIMEOUT_SECONDS=30] [PID]: wait until something accepts
# connections there; fails early if PID (the server) has exited.
wait_port() {
  local hp="$1" timeout="${2:-30}" pid="${3:-}" i
  for ((i = 0; i < timeout * 10; i++)); do
    if (exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}") 2>/dev/null; then return 0; fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "wait_port $hp: process $pid exited"
      return 1
    fi
    sleep 0.1
  done
  log "wait_port $hp: nothing listening after ${timeout}s"
  return 1
}

# bg LOGFILE CMD…: start CMD in the background (own stdout/stderr to LOGFILE),
# record its pid for stop_all, and set BG_PID.
bg() {
  local logf="$1"
  shift
  "$@" </dev/null >"$logf" 2>&1 &
  BG_PID=$!
  echo "$BG_PID" >>"$E2E_PIDS"
}

# stop_all: kill every process recorded in E2E_PIDS (TERM, then KILL after 5s).
stop_all() {
  local f pids=() p i
  for f in "$E2E_PIDS" "$@"; do
    [[ -f $f ]] && while read -r p; do [[ -n $p ]] && pids+=("$p"); done <"$f"
  done
  ((${#pids[@]})) || return 0
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  : >"$E2E_PIDS"
}
trap stop_all EXIT

# ---------------------------------------------------------------- TLS

# make_ca_and_cert DIR: DIR/ca.crt, ca.key, server.crt, server.key; the server
# certificate is for 127.0.0.1, ::1 and localhost. Reuses existing files.
make_ca_and_cert() {
  local d="$1"
  mkdir -p "$d"
  [[ -s $d/server.crt && -s $d/ca.crt ]] && return 0
  (
    cd "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -keyout ca.key -out ca.crt -subj "/CN=shoebox e2e CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout server.key -out server.csr -subj "/CN=localhost"
    cat >server.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
EOF
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 30 -out server.crt -extfile server.ext
  ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "make_ca_and_cert $d failed"; }
}

# ---------------------------------------------------------------- registries

# per stage (the runner sets STAGE_DIR), so stages may reuse names
_reg_dir() { echo "${STAGE_DIR:-$E2E_DIR}/reg/$1"; }
reg_get() { cat "$(_reg_dir "$1")/$2" 2>/dev/null; }
reg_addr() { reg_get "$1" addr; }

# docker_login ADDR USER PASS: add credentials to $DOCKER_CONFIG/config.json.
docker_login() {
  local auth tmp
  auth="$(printf '%s:%s' "$2" "$3" | base64 -w0)"
  tmp="$(mktemp "$DOCKER_CONFIG/config.XXXX")"
  jq --arg a "$1" --arg v "$auth" '.auths[$a] = {auth: $v}' "$DOCKER_CONFIG/config.json" >"$tmp"
  mv "$tmp" "$DOCKER_CONFIG/config.json"
}

# _start_registry KIND NAME [--tls] [--htpasswd user:pass] [--token REALM ROOTCERT]
# --token: bearer token auth as Harbor configures it (service harbor-registry,
# issuer harbor-token-issuer; see start_harbor).
_start_registry() {
  local kind="$1" name="$2" tls=0 creds="" realm="" rootcert=""
  shift 2
  while (($#)); do
    case "$1" in
      --tls) tls=1 ;;
      --htpasswd) creds="$2"; shift ;;
      --htpasswd=*) creds="${1#*=}" ;;
      --token) realm="$2" rootcert="$3"; shift 2 ;;
      *) die "start registry $name: unknown option $1" ;;
    esac
    shift
  done
  local d bin
  d="$(_reg_dir "$name")"
  [[ -e $d/addr ]] && die "registry $name already started"
  mkdir -p "$d/data"
  case "$kind" in
    distribution) bin="$TOOLS_DIR/registry" ;;
    docker-registry) bin="/usr/bin/docker-registry" ;;
  esac
  [[ -x $bin ]] || die "$bin not installed (hack/install-tools.sh)"

  local auth_yaml="" tls_yaml="" scheme=http
  if ((tls)); then
    make_ca_and_cert "$E2E_DIR/tls"
    scheme=https
    tls_yaml="  tls:
    certificate: $E2E_DIR/tls/server.crt
    key: $E2E_DIR/tls/server.key"
    echo "$E2E_DIR/tls/ca.crt" >"$d/ca"
    # skopeo's --cert-dir wants a directory of *.crt CA files
    mkdir -p "$d/certs.d"
    cp "$E2E_DIR/tls/ca.crt" "$d/certs.d/ca.crt"
  fi
  if [[ -n $creds ]]; then
    local user="${creds%%:*}" pass="${creds#*:}"
    htpasswd -Bbn "$user" "$pass" >"$d/htpasswd" 2>/dev/null || die "htpasswd failed"
    printf '%s' "$user" >"$d/user"
    printf '%s' "$pass" >"$d/pass"
    auth_yaml="auth:
  htpasswd:
    realm: shoebox-e2e
    path: $d/htpasswd"
  fi
  if [[ -n $realm ]]; then
    auth_yaml="auth:
  token:
    realm: $realm
    service: harbor-registry
    issuer: harbor-token-issuer
    rootcertbundle: $rootcert"
  fi
  echo "$scheme" >"$d/scheme"
  echo "$kind" >"$d/kind"

  local port attempt
  for attempt in 1 2 3; do
    port="$(free_port)"
    cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
  formatter: text
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: shoebox-e2e-$name
$tls_yaml
$auth_yaml
EOF
    echo "$d/log" >"$d/logpath"
    if [[ $kind == distribution ]]; then
      bg "$d/log" "$bin" serve "$d/config.yml"
    else
      bg "$d/log" "$bin" serve "$d/config.yml"
    fi
    echo "$BG_PID" >"$d/pid"
    if wait_port "127.0.0.1:$port" 30 "$BG_PID"; then
      echo "127.0.0.1:$port" >"$d/addr"
      local var
      var="$(echo "$name" | tr '[:lower:]' '[:upper:]' | tr -c 'A-Z0-9\n' '_')_ADDR"
      printf -v "$var" '%s' "127.0.0.1:$port"
      export "${var?}"
      log "$kind $name: $scheme://127.0.0.1:$port${creds:+ (htpasswd ${creds%%:*})} log=$d/log"
      [[ -n $creds ]] && docker_login "127.0.0.1:$port" "${creds%%:*}" "${creds#*:}"
      echo "127.0.0.1:$port"
      return 0
    fi
    kill "$BG_PID" 2>/dev/null || true
    log "$kind $name: attempt $attempt failed; log:"
    tail -n 20 "$d/log" >&2 || true
  done
  die "$kind $name: did not start"
}

# start_distribution NAME [--tls] [--htpasswd user:pass]: distribution v3 (TOOLS_DIR/registry).
start_distribution() { _start_registry distribution "$@"; }

# start_harbor NAME CONFIG: Harbor as deployed, minus its UI: distribution v3
# over TLS with bearer token auth, and the double of Harbor core's token
# service (internal/testkit/testregistry/cmd/tokenservice, built here) as its
# realm, with the projects and accounts of CONFIG (JSON, see
# testregistry.TokenConfig). Prints host:port; the token service's log of
# every token issued (one JSON line each: account, scopes, access) is
# `reg_get NAME tokens`.
start_harbor() {
  local name="$1" config="$2" d b port
  d="$(_reg_dir "$name")"
  mkdir -p "$d"
  b="$E2E_DIR/bin/tokenservice"
  if [[ ! -x $b ]]; then
    mkdir -p "$E2E_DIR/bin"
    (cd "$REPO" && go build -o "$b" ./internal/testkit/testregistry/cmd/tokenservice) || die "building tokenservice failed"
  fi
  make_ca_and_cert "$E2E_DIR/tls"
  port="$(free_port)"
  bg "$d/tokens.log" "$b" -addr "127.0.0.1:$port" -config "$config" -root-cert "$d/token-root.pem" \
    -tls-cert "$E2E_DIR/tls/server.crt" -tls-key "$E2E_DIR/tls/server.key"
  wait_port "127.0.0.1:$port" 30 "$BG_PID" || { cat "$d/tokens.log" >&2; die "tokenservice did not start"; }
  echo "$d/tokens.log" >"$d/tokens"
  _start_registry distribution "$name" --tls --token "https://127.0.0.1:$port/service/token" "$d/token-root.pem"
}
# start_docker_registry NAME [--tls] [--htpasswd user:pass]: Debian's docker-registry 2.8.
start_docker_registry() { _start_registry docker-registry "$@"; }

# oras_flags NAME [from|to]: oras flags to reach registry NAME, one per line
# (for `mapfile -t`), or space-separated on one line with OFS=' '.
oras_flags() {
  local name="$1" pre="${2:+--$2-}" out=()
  pre="${pre:---}"
  if [[ $(reg_get "$name" scheme) == http ]]; then
    out+=("${pre}plain-http")
  else
    out+=("${pre}ca-file" "$(reg_get "$name" ca)")
  fi
  if [[ -n $(reg_get "$name" user) ]]; then
    out+=("${pre}username" "$(reg_get "$name" user)" "${pre}password" "$(reg_get "$name" pass)")
  fi
  printf '%s\n' "${out[@]}"
}

# oras_reg NAME SUBCOMMAND ARGS…: oras with NAME's connection flags.
oras_reg() {
  local name="$1" sub="$2" f
  shift 2
  mapfile -t f < <(oras_flags "$name")
  oras "$sub" "${f[@]}" "$@"
}

# skopeo_flags NAME [src|dest]: skopeo flags (TLS verification, cert dir, creds), one per line.
skopeo_flags() {
  local name="$1" pre="${2:+--$2-}" d
  pre="${pre:---}"
  d="$(_reg_dir "$name")"
  if [[ $(reg_get "$name" scheme) == http ]]; then
    printf '%s\n' "${pre}tls-verify=false"
  else
    printf '%s\n' "${pre}cert-dir" "$d/certs.d"
  fi
  if [[ -n $(reg_get "$name" user) ]]; then
    printf '%s\n' "${pre}creds" "$(reg_get "$name" user):$(reg_get "$name" pass)"
  fi
}

# cosign_flags NAME: --allow-http-registry or --registry-cacert (credentials come from DOCKER_CONFIG).
cosign_flags() {
  if [[ $(reg_get "$1" scheme) == http ]]; then
    printf '%s\n' --allow-http-registry
  else
    printf '%s\n' --registry-cacert "$(reg_get "$1" ca)"
  fi
}

# ---------------------------------------------------------------- cosign offline
# Per docs/cosign-offline.md. `cosign_offline_env [DIR]` (default $E2E_DIR/cosign)
# makes a key pair (empty password) and the empty trusted root / signing config,
# and exports:
#   COSIGN_PASSWORD=""            no prompt
#   SIGSTORE_REKOR_PUBLIC_KEY     any file: cosign v2 verify then skips the TUF CDN
#   E2E_COSIGN_DIR, E2E_COSIGN_KEY, E2E_COSIGN_PUB, E2E_COSIGN_TRUSTED_ROOT, E2E_COSIGN_SIGNING_CONFIG
#   TUF_ROOT                      inside E2E_COSIGN_DIR, never ~/.sigstore
# (Not COSIGN_KEY etc.: cosign reads every COSIGN_<FLAG> variable as that flag,
# so an exported COSIGN_SIGNING_CONFIG silently turns on --signing-config.)
# Use: cosign2 sign --key "$E2E_COSIGN_KEY" --tlog-upload=false -y …
#      cosign2 verify --key "$E2E_COSIGN_PUB" --insecure-ignore-tlog=true …
#      cosign3 sign --key "$E2E_COSIGN_KEY" --signing-config "$E2E_COSIGN_SIGNING_CONFIG" --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" -y …
#      cosign3 verify --key "$E2E_COSIGN_PUB" --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" --insecure-ignore-tlog=true …
# or the wrappers cosign2_sign/cosign2_verify/cosign3_sign/cosign3_verify NAME REF [extra flags].
cosign_offline_env() {
  local d="${1:-$E2E_DIR/cosign}"
  mkdir -p "$d"
  export COSIGN_PASSWORD=""
  export E2E_COSIGN_DIR="$d" E2E_COSIGN_KEY="$d/cosign.key" E2E_COSIGN_PUB="$d/cosign.pub"
  export E2E_COSIGN_TRUSTED_ROOT="$d/empty-trusted-root.json" E2E_COSIGN_SIGNING_CONFIG="$d/empty-signing-config.json"
  export TUF_ROOT="$d/tuf"
  if [[ ! -s $E2E_COSIGN_KEY ]]; then
    cosign2 generate-key-pair --output-key-prefix "$d/cosign" >"$d/keygen.log" 2>&1 ||
      { cat "$d/keygen.log" >&2; die "cosign2 generate-key-pair failed"; }
  fi
  # any file will do; unused with --insecure-ignore-tlog
  export SIGSTORE_REKOR_PUBLIC_KEY="$E2E_COSIGN_PUB"
  [[ -s $E2E_COSIGN_TRUSTED_ROOT ]] || printf '%s\n' \
    '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}' \
    >"$E2E_COSIGN_TRUSTED_ROOT"
  if [[ ! -s $E2E_COSIGN_SIGNING_CONFIG ]]; then
    # cosign v3 writes it (no services); the same JSON by hand if that ever fails.
    cosign3 signing-config create --out "$E2E_COSIGN_SIGNING_CONFIG" >/dev/null 2>&1 ||
      printf '%s\n' '{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","rekorTlogConfig":{},"tsaConfig":{}}' \
        >"$E2E_COSIGN_SIGNING_CONFIG"
  fi
}

_cosign_reg_flags() { mapfile -t _CF < <(cosign_flags "$1"); }
# cosign2_sign NAME REF@sha256:… [flags…]
cosign2_sign() {
  local n="$1" r="$2"; shift 2; _cosign_reg_flags "$n"
  cosign2 sign --key "$E2E_COSIGN_KEY" --tlog-upload=false -y "${_CF[@]}" "$@" "$r"
}
# cosign2_verify NAME REF [flags…]
cosign2_verify() {
  local n="$1" r="$2"; shift 2; _cosign_reg_flags "$n"
  cosign2 verify --key "$E2E_COSIGN_PUB" --insecure-ignore-tlog=true "${_CF[@]}" "$@" "$r"
}
# cosign3_sign NAME REF@sha256:… [flags…]
cosign3_sign() {
  local n="$1" r="$2"; shift 2; _cosign_reg_flags "$n"
  cosign3 sign --key "$E2E_COSIGN_KEY" --signing-config "$E2E_COSIGN_SIGNING_CONFIG" \
    --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" -y "${_CF[@]}" "$@" "$r"
}
# cosign3_verify NAME REF [flags…]
cosign3_verify() {
  local n="$1" r="$2"; shift 2; _cosign_reg_flags "$n"
  cosign3 verify --key "$E2E_COSIGN_PUB" --trusted-root "$E2E_COSIGN_TRUSTED_ROOT" \
    --insecure-ignore-tlog=true "${_CF[@]}" "$@" "$r"
}

# ---------------------------------------------------------------- shoebox, layouts

# shoebox ARGS…: the binary `make build` wrote.
shoebox() {
  [[ -x $REPO/bin/shoebox ]] || die "$REPO/bin/shoebox missing: run make build"
  "$REPO/bin/shoebox" "$@"
}

# validate_oci_layout DIR: every manifest and index in the layout against the
# image-spec JSON schemas (hack/ocischema, built once per run).
validate_oci_layout() {
  local b="$E2E_DIR/bin/ocischema"
  if [[ ! -x $b ]]; then
    mkdir -p "$E2E_DIR/bin"
    (cd "$REPO" && go build -o "$b" ./hack/ocischema) || die "building hack/ocischema failed"
  fi
  "$b" "$@"
}

# wait_healthy BASE_URL [PID] [TIMEOUT_SECONDS=60]: wait until BASE_URL/healthz
# answers 200 (a serve that loaded and verified its bundles); fails early if
# PID has exited.
wait_healthy() {
  local base="$1" pid="${2:-}" timeout="${3:-60}" i
  for ((i = 0; i < timeout * 20; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz" 2>/dev/null)" == 200 ]] && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "wait_healthy $base: process $pid exited"
      return 1
    fi
    sleep 0.05
  done
  log "wait_healthy $base: not healthy after ${timeout}s"
  return 1
}

# pkginstall ARGS…: the Pkg-faithful client's instantiate
# (internal/testkit/pkgclient/cmd/pkginstall, built once per run):
# pkginstall -server URL -manifest M [-registry UUID] [-depot DIR].
pkginstall() {
  local b="$E2E_DIR/bin/pkginstall"
  if [[ ! -x $b ]]; then
    mkdir -p "$E2E_DIR/bin"
    (cd "$REPO" && go build -o "$b" ./internal/testkit/pkgclient/cmd/pkginstall) || die "building pkginstall failed"
  fi
  "$b" "$@"
}

# sha256_of FILE: hex digest.
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
