# shellcheck shell=bash
# Real removable media: a FAT32 stick (dosfstools' mkfs.vfat, mounted by
# fusefat) and an exFAT one (exfatprogs' mkfs.exfat, mounted by exfat-fuse,
# through a loop device when it asks for a block device), both through
# FUSE. On each: push (the split path forced with --max-file-size on FAT32,
# so that tarballs are stored as parts), sign, verify --deep, serve (the
# split artifact downloads whole), a dry run on the stick mounted read-only.
# FAT32's directory limit: a 64-hex-digit name takes six entries (checked
# on what fusefat writes), a directory of 10,922 such names is what FAT
# allows, and a push that would overfill blobs/sha256 is refused at plan
# time, in --dry-run too, saying that exFAT has no such limit.

_removable_cleanup() {
  local m d
  if [[ -f $STAGE_DIR/mounts ]]; then
    while read -r m; do fusermount -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || true; done < <(tac "$STAGE_DIR/mounts")
    : >"$STAGE_DIR/mounts"
  fi
  if [[ -f $STAGE_DIR/loops ]]; then
    while read -r d; do losetup -d "$d" 2>/dev/null || true; done <"$STAGE_DIR/loops"
    : >"$STAGE_DIR/loops"
  fi
}

# _mkfs KIND IMAGE: a 96 MiB image of that file system.
_mkfs() {
  rm -f "$2"
  truncate -s 96M "$2"
  case $1 in
  fat32) mkfs.vfat -F 32 "$2" >/dev/null ;;
  exfat) mkfs.exfat "$2" >/dev/null ;;
  esac
}

# _mount KIND IMAGE DIR [ro]
_mount() {
  local kind="$1" img="$2" dir="$3" mode="${4:-rw}" dev
  mkdir -p "$dir"
  case $kind in
  fat32)
    local o=rw+
    [[ $mode == ro ]] && o=ro
    fusefat -o "$o" "$img" "$dir" >/dev/null || die "fusefat $img failed"
    ;;
  exfat)
    local o=()
    [[ $mode == ro ]] && o=(-o ro)
    if ! mount.exfat-fuse "${o[@]}" "$img" "$dir" >/dev/null 2>&1; then
      dev="$(losetup -f --show "$img")" || die "losetup $img failed"
      echo "$dev" >>"$STAGE_DIR/loops"
      mount.exfat-fuse "${o[@]}" "$dev" "$dir" >/dev/null || die "mount.exfat-fuse $dev failed"
    fi
    ;;
  esac
  echo "$dir" >>"$STAGE_DIR/mounts"
  grep -q " $dir " /proc/self/mountinfo || die "$dir is not mounted"
}

_unmount() {
  fusermount -u "$1" || die "fusermount -u $1 failed"
  if [[ -s $STAGE_DIR/loops ]]; then
    while read -r d; do losetup -d "$d" 2>/dev/null || true; done <"$STAGE_DIR/loops"
    : >"$STAGE_DIR/loops"
  fi
}

stage_removable() {
  for t in mkfs.vfat fusefat mkfs.exfat mount.exfat-fuse fusermount; do
    command -v "$t" >/dev/null || die "$t missing: hack/install-tools.sh installs dosfstools fusefat exfatprogs exfat-fuse"
  done
  [[ -c /dev/fuse ]] || die "/dev/fuse missing"
  trap '_removable_cleanup; stop_all' EXIT
  local here="$PWD"
  (cd "$REPO" && go run ./internal/testkit/fixture/cmd/genworld -out "$here/world" -static "$here/static" \
    -seed 7 -packages 8 -versions 2 -artifact-fraction 0.5 -artifact-bytes 150000 -real-general-uuid \
    -platforms x86_64-linux-gnu >"$here/world.json") || die "genworld failed"
  local m created=2026-11-23T00:00:00Z
  m="$(jq -r '.manifests[0]' world.json)"
  SHOEBOX_PASSWORD=demo shoebox key generate --output-prefix demo >/dev/null || die "key generate failed"

  local kind
  for kind in fat32 exfat; do
    log "--- $kind"
    _mkfs "$kind" "$kind.img"
    _mount "$kind" "$kind.img" "$here/$kind"
    local split=()
    [[ $kind == fat32 ]] && split=(--max-file-size 64K)
    shoebox push -q --from "file://$here/static" --manifest "$m" --platform x86_64-linux-gnu --created "$created" \
      "${split[@]}" --json "$here/$kind/stick:v1" >"push-$kind.json" || die "push onto $kind failed"
    local digest
    digest="$(jq -r .digest "push-$kind.json")"
    [[ $digest == sha256:* ]] || die "push onto $kind printed no digest"
    if [[ $kind == fat32 ]]; then
      # the split path: some item manifests list parts
      local parts
      parts="$(grep -l 'application/vnd.shoebox.part' "$kind"/stick/blobs/sha256/* 2>/dev/null | wc -l)"
      ((parts > 0)) || die "no item was split into parts on FAT32"
      log "ok: $parts item manifests list parts on FAT32"
      local big
      big="$(find "$kind/stick/blobs/sha256" -type f -size +64k | wc -l)"
      assert_eq 0 "$big" "blob files over --max-file-size on FAT32"
    fi
    SHOEBOX_PASSWORD=demo shoebox sign -q --key demo.key "$here/$kind/stick:v1" || die "sign on $kind failed"
    shoebox verify -q --deep --key demo.pub "$here/$kind/stick:v1" || die "verify --deep on $kind failed"

    # serve from the stick: the split artifacts download whole
    local port addr pid
    port="$(free_port)"
    addr="127.0.0.1:$port"
    bg "serve-$kind.log" "$REPO/bin/shoebox" serve --store "$here/$kind/stick" --key demo.pub --addr "$addr" --reload-interval 0
    pid=$BG_PID
    wait_healthy "http://$addr" "$pid" 60 || { cat "serve-$kind.log" >&2; die "serve on $kind did not come up"; }
    local arts h n=0
    arts="$(shoebox ls --json --kind artifact "$here/$kind/stick:v1" | jq -r '.[].treeHash')"
    [[ -n $arts ]] || die "no artifact in the bundle"
    for h in $arts; do
      curl -sf "http://$addr/artifact/$h" -o art.tgz || die "GET /artifact/$h from $kind failed"
      assert_eq "$(sha256_of "static/artifact/$h")" "$(sha256_of art.tgz)" "sha256 of artifact $h served from $kind"
      n=$((n + 1))
    done
    curl -sf "http://$addr/registries" | grep -q '^/registry/' || die "/registries from $kind is empty"
    kill "$pid"
    wait "$pid" 2>/dev/null || true

    # the stick read-only: a dry run plans against it; a push says why not
    _unmount "$here/$kind"
    _mount "$kind" "$kind.img" "$here/$kind" ro
    local before after
    before="$(find "$kind/stick" -type f | sort | xargs sha256sum | sha256sum)"
    shoebox push --dry-run --json --from "file://$here/static" --manifest "$m" --platform x86_64-linux-gnu \
      "$here/$kind/stick:v2" >"dry-$kind.json" || die "push --dry-run on a read-only $kind stick failed"
    assert_eq true "$(jq '.dryRun' "dry-$kind.json")" "dry run JSON on read-only $kind"
    assert_eq "$(jq '.plan.total.items' "dry-$kind.json")" "$(jq '.plan.total.inDestination' "dry-$kind.json")" "items already on the $kind stick"
    expect_fail_with "read-only" shoebox push -q --from "file://$here/static" --manifest "$m" "$here/$kind/stick:v2"
    after="$(find "$kind/stick" -type f | sort | xargs sha256sum | sha256sum)"
    assert_eq "$before" "$after" "the read-only $kind stick"
    _unmount "$here/$kind"
  done

  # standard input from /dev/null is no terminal: no prompt, a usage error
  # naming the password sources
  local out rc=0
  out="$(env -u SHOEBOX_PASSWORD -u COSIGN_PASSWORD "$REPO/bin/shoebox" sign --key demo.key "$here/exfat/stick:v1" </dev/null 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit code of sign with stdin from /dev/null and no password"
  assert_contains "$out" "SHOEBOX_PASSWORD" "sign's usage error"
  assert_contains "$out" "--key-password-stdin" "sign's usage error"

  # --- FAT32's directory limit
  log "--- FAT32 directory limit"
  local fatdir="$E2E_DIR/bin/fatdir"
  mkdir -p "$E2E_DIR/bin"
  (cd "$REPO" && go build -o "$fatdir" ./hack/fatdir) || die "building hack/fatdir failed"
  # what fusefat writes: six entries a 64-hex-digit name
  _mkfs fat32 lim.img
  _mount fat32 lim.img "$here/lim"
  mkdir "$here/lim/six"
  local i
  for i in 1 2 3; do : >"$here/lim/six/$(printf '%064x' "$i")"; done
  _unmount "$here/lim"
  assert_eq $((2 + 3 * 6)) "$("$fatdir" -entries lim.img six)" "directory entries of 3 blob names (. and .. included)"
  # 10,922 such names fill a directory to FAT's 65,536 entries but for two
  "$fatdir" lim.img full 10922 || die "fatdir failed"
  assert_eq $((2 + 10922 * 6)) "$("$fatdir" -entries lim.img full)" "directory entries of 10,922 blob names"
  (( 2 + 10923 * 6 > 65536 )) || die "10,923 names would fit"
  fsck.fat -n lim.img >/dev/null || die "fsck.fat finds the filled image broken"
  _mount fat32 lim.img "$here/lim"
  assert_eq 10922 "$(ls "$here/lim/full" | wc -l)" "files fusefat lists in the full directory"
  _unmount "$here/lim"

  # a push that would overfill blobs/sha256 is refused at plan time
  _mkfs fat32 near.img
  "$fatdir" near.img stick/blobs/sha256 10915 || die "fatdir failed"
  _mount fat32 near.img "$here/near"
  expect_fail_with "exFAT (no such limit)" shoebox push --dry-run --from "file://$here/static" --manifest "$m" "$here/near/stick:v1"
  assert_contains "$(shoebox push -q --from "file://$here/static" --manifest "$m" "$here/near/stick:v1" 2>&1 || true)" \
    "whose directories hold at most 65,536 entries: blobs/sha256 can hold 10922 blob files" "the FAT32 refusal"
  [[ -e $here/near/stick/index.json ]] && die "the refused push left index.json"
  assert_eq 10915 "$(ls "$here/near/stick/blobs/sha256" | wc -l)" "blob files after the refused push"
  _unmount "$here/near"
  log "removable media: ok"
}
