# shellcheck shell=bash
# `shoebox treehash` agrees with git on a real registry slice, on a directory
# and on a tarball of it, and rejects a tar that Pkg would reject (exit 3).

E2E_REGISTRY_MINI_TREE=44b305d95fdb7501ac6b9923fee0b5e48ae90e11

stage_treehash() {
  local src="$REPO/../shared/testdata/registry-mini" got
  [[ -d $src ]] || die "$src missing (CI checks out ../shared beside the repo)"

  # the directory
  got="$(shoebox treehash "$src")" || die "shoebox treehash $src failed"
  assert_eq "$E2E_REGISTRY_MINI_TREE" "$got" "treehash of registry-mini"

  # git's own tree hash of a copy (git write-tree hashes what is in the index)
  mkdir -p gitcopy
  cp -a "$src/." gitcopy/
  (
    cd gitcopy && git init -q . && git add -A . && git write-tree
  ) >git-tree.txt || die "git write-tree failed"
  assert_eq "$E2E_REGISTRY_MINI_TREE" "$(cat git-tree.txt)" "git write-tree of a copy"

  # a deterministic gzip tarball of it, without ./ prefixes
  tar -C "$src" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -czf mini.tgz $(LC_ALL=C ls -A "$src")
  got="$(shoebox treehash mini.tgz)" || die "shoebox treehash mini.tgz failed"
  assert_eq "$E2E_REGISTRY_MINI_TREE" "$got" "treehash of the .tgz"
  # the same as a plain tar, named misleadingly (format is sniffed, not taken from the name)
  gzip -dc mini.tgz >mini.tar.gz
  got="$(shoebox treehash mini.tar.gz)" || die "shoebox treehash of a plain tar failed"
  assert_eq "$E2E_REGISTRY_MINI_TREE" "$got" "treehash of the plain tar"

  # a tar with a ../evil entry: verification failure, exit 3, naming the entry
  mkdir -p evil/sub
  echo pwned >evil/evil
  echo ok >evil/sub/ok
  tar -C evil/sub --sort=name --owner=0 --group=0 --mtime=@0 -P -czf evil.tgz ok ../evil
  tar -tzf evil.tgz | grep -qx '../evil' || die "test tar has no ../evil entry: $(tar -tzf evil.tgz)"
  expect_fail_with "../evil" shoebox treehash evil.tgz
  assert_eq 3 "$FAIL_RC" "exit code of treehash on a tar with ../evil"
}
