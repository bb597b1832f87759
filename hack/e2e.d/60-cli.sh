# shellcheck shell=bash
# The command line as a shell user meets it: completion scripts that real
# bash, zsh and fish load and answer from (flag values, a layout's tags), the
# version a `make build` binary reports, and usage errors' exit code.

# complete_bash WORDS...: what bash completion offers for the command line
# WORDS (the last word is the one being completed), one per line.
complete_bash() {
  local line="$*"
  PATH="$REPO/bin:$PATH" bash --norc --noprofile -c '
    source /usr/share/bash-completion/bash_completion || exit 1
    source <("$SHOEBOX_BIN" completion bash) || exit 1
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    __start_shoebox shoebox "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
    printf "%s\n" "${COMPREPLY[@]}"' complete "$@" || die "bash completion of '$line' failed"
}

stage_cli() {
  export SHOEBOX_BIN="$REPO/bin/shoebox"
  local got

  # version: the Makefile stamps the commit.
  got="$(shoebox version --json)" || die "shoebox version --json failed"
  assert_eq "$(git -C "$REPO" rev-parse HEAD)" "$(jq -r .commit <<<"$got")" "version --json commit"
  assert_eq "$(go env GOOS)/$(go env GOARCH)" "$(jq -r .platform <<<"$got")" "version --json platform"
  assert_eq '["commit","goVersion","platform","version"]' "$(jq -c 'keys' <<<"$got")" "version --json keys"

  # usage errors exit 2, with the closest command
  expect_fail_with 'did you mean verify?' shoebox verfy x
  assert_eq 2 "$FAIL_RC" "exit code of an unknown command"

  # bash: flag values and a layout's bundle tags (index.json only)
  got="$(complete_bash shoebox push --platform aarch64-l)"
  assert_eq $'aarch64-linux-gnu\naarch64-linux-musl' "$got" "bash: push --platform aarch64-l"
  got="$(complete_bash shoebox serve --registry-view a)"
  assert_eq "available" "$got" "bash: serve --registry-view a"
  mkdir -p stick
  printf '%s' '{"schemaVersion":2,"manifests":[
    {"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,"annotations":{"org.opencontainers.image.ref.name":"2026-11"}},
    {"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":1,"annotations":{"org.opencontainers.image.ref.name":"2026-12"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","size":1,"annotations":{"org.opencontainers.image.ref.name":"sha256-1111111111111111111111111111111111111111111111111111111111111111.sig"}}]}' >stick/index.json
  echo '{"imageLayoutVersion":"1.0.0"}' >stick/oci-layout
  # bash splits words at ':' (COMP_WORDBREAKS): the script puts them back
  got="$(complete_bash shoebox verify ./stick:2026-1)"
  assert_eq $'2026-11\n2026-12' "$got" "bash: verify ./stick:2026-1 (after the colon)"

  # zsh and fish load the scripts and answer through them
  if command -v zsh >/dev/null; then
    "$SHOEBOX_BIN" completion zsh >_shoebox
    zsh -n _shoebox || die "zsh -n: the zsh completion script does not parse"
    got="$(zsh -fc 'autoload -U compinit; compinit -u -D; source ./_shoebox; whence -w _shoebox')"
    assert_eq "_shoebox: function" "$got" "zsh: _shoebox defined"
  else
    die "zsh is not installed (hack/install-tools.sh installs it)"
  fi
  if command -v fish >/dev/null; then
    "$SHOEBOX_BIN" completion fish >shoebox.fish
    got="$(PATH="$REPO/bin:$PATH" fish --no-config -c 'source shoebox.fish; complete -C "shoebox ls --kind a"')"
    assert_eq "artifact" "$got" "fish: ls --kind a"
  else
    die "fish is not installed (hack/install-tools.sh installs it)"
  fi
  log "cli: version, usage errors, bash/zsh/fish completion ok"
}
