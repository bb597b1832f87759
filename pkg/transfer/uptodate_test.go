package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// A re-push is up to date only when nothing that decides the bundle
// changed and the store still holds every blob: a deleted tarball, a
// pinned creation time that differs, or another request makes it a full
// (dedup) push again.
func TestPush_UpToDate(t *testing.T) {
	ctx := context.Background()
	w := testWorld(t)
	src, _ := staticSource(t, w)
	dir := t.TempDir()
	ms := manifestsOf(t, w)
	opts := PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1", Created: time.Unix(1, 0).UTC(), CreatedPinned: true}
	push := func(req PushRequest, o PushOptions) *PushResult {
		t.Helper()
		dst := openLayout(t, dir)
		defer dst.Close()
		res, err := Push(ctx, src, dst, req, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := push(PushRequest{Manifests: ms}, opts)
	if first.UpToDate || first.Stored == 0 {
		t.Fatalf("first push: UpToDate=%v Stored=%d", first.UpToDate, first.Stored)
	}
	again := push(PushRequest{Manifests: ms}, opts)
	if !again.UpToDate || again.Index.Digest != first.Index.Digest || again.Reused != first.Stored+first.Reused || again.BytesTotal != first.BytesTotal {
		t.Fatalf("re-push: UpToDate=%v index %s reused %d bytes %d; want up to date, %s, %d, %d",
			again.UpToDate, again.Index.Digest, again.Reused, again.BytesTotal, first.Index.Digest, first.Stored+first.Reused, first.BytesTotal)
	}

	// A tarball gone from the store: pushed again.
	dst := openLayout(t, dir)
	b, err := bundle.Read(ctx, dst, first.Index)
	dst.Close()
	if err != nil {
		t.Fatal(err)
	}
	var gone bundle.Entry
	for _, e := range b.Entries {
		if e.Kind == bundle.KindPackage {
			gone = e
			break
		}
	}
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", gone.Whole.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}
	repaired := push(PushRequest{Manifests: ms}, opts)
	if repaired.UpToDate || repaired.Stored != 1 || repaired.Index.Digest != first.Index.Digest {
		t.Errorf("re-push with %s deleted: UpToDate=%v Stored=%d index %s; want a push storing it again, same index", gone.Item, repaired.UpToDate, repaired.Stored, repaired.Index.Digest)
	}

	// Another pinned creation time: a new bundle.
	later := opts
	later.Created = time.Unix(2, 0).UTC()
	if res := push(PushRequest{Manifests: ms}, later); res.UpToDate || res.Index.Digest == first.Index.Digest || res.Stored != 0 {
		t.Errorf("re-push created later: UpToDate=%v index %s Stored=%d; want a new index, nothing stored", res.UpToDate, res.Index.Digest, res.Stored)
	}
	// "now" (not pinned) keeps the bundle as it is.
	now := later
	now.Created, now.CreatedPinned = time.Unix(3, 0).UTC(), false
	if res := push(PushRequest{Manifests: ms}, now); !res.UpToDate {
		t.Errorf("re-push without a pinned time: not up to date")
	}
	// Another request (more platforms): not up to date.
	more := later
	more.AllPlatforms = true
	if res := push(PushRequest{Manifests: ms}, more); res.UpToDate {
		t.Errorf("re-push for all platforms: up to date, want a new bundle")
	}
}

// The push key changes with the registry snapshot and the request, not
// with the source.
func TestPushKey(t *testing.T) {
	w := testWorld(t)
	ms := manifestsOf(t, w)
	src, _ := staticSource(t, w)
	refs, err := listRegistries(context.Background(), src)
	if err != nil || len(refs) == 0 {
		t.Fatalf("listRegistries = %v, %v", refs, err)
	}
	req := PushRequest{Manifests: ms}
	opts := PushOptions{Platforms: []julia.Platform{linux}}
	k := pushKey(req, opts, refs)
	if len(k) != 64 || k != pushKey(req, opts, refs) {
		t.Fatalf("pushKey = %q, not a stable sha256", k)
	}
	moved := append([]RegistryRef(nil), refs...)
	moved[0].Hash[0] ^= 1
	all := opts
	all.AllPlatforms = true
	versions := PushRequest{Manifests: ms, VersionsPerPackage: 2}
	for name, other := range map[string]string{
		"registry moved": pushKey(req, opts, moved),
		"all platforms":  pushKey(req, all, refs),
		"versions":       pushKey(versions, opts, refs),
		"tool version":   pushKey(req, PushOptions{Platforms: opts.Platforms, ToolVersion: "v9"}, refs),
	} {
		if other == k {
			t.Errorf("%s: same push key", name)
		}
	}
}
