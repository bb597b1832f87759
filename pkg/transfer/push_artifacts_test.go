package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// repushFixture pushes every package of the test world (all platforms)
// into a fresh layout and returns the source, the layout's directory, the
// request, the options and the first push's result.
func repushFixture(t *testing.T) (*upstream.PkgServer, string, PushRequest, PushOptions, *PushResult) {
	t.Helper()
	w := testWorld(t)
	src, _ := staticSource(t, w)
	dir := t.TempDir()
	req := PushRequest{All: true, VersionsPerPackage: 3}
	opts := PushOptions{AllPlatforms: true, IncludeLazy: true, Tag: "v1", Created: time.Unix(1, 0).UTC()}
	dst := openLayout(t, dir)
	first, err := Push(context.Background(), src, dst, req, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Items[bundle.KindArtifact] == 0 {
		t.Fatal("fixture: no artifacts")
	}
	dst.Close()
	return src, dir, req, opts, first
}

func bundleEntries(t *testing.T, dst *store.Store, idx ocispec.Descriptor) []bundle.Entry {
	t.Helper()
	b, err := bundle.Read(context.Background(), dst, idx)
	if err != nil {
		t.Fatal(err)
	}
	return b.Entries
}

func artifactSet(es []bundle.Entry) map[treehash.Hash]bool {
	out := map[treehash.Hash]bool{}
	for _, e := range es {
		if e.Kind == bundle.KindArtifact {
			out[e.TreeHash] = true
		}
	}
	return out
}

// A pushed package's manifest records its Artifacts.toml files, and a
// re-push plans its artifacts from them without reading the tarball: here
// every package tarball in the layout is overwritten with zeros (same
// size), and the re-push still finds the same artifacts and writes the
// same bundle.
func TestPush_RepushPlansArtifactsFromManifests(t *testing.T) {
	ctx := context.Background()
	src, dir, req, opts, first := repushFixture(t)
	dst := openLayout(t, dir)
	entries := bundleEntries(t, dst, first.Index)
	withArtifacts := 0
	for _, e := range entries {
		if e.Kind != bundle.KindPackage {
			continue
		}
		it, err := bundle.ReadItem(ctx, dst, e.IndexDescriptor())
		if err != nil {
			t.Fatal(err)
		}
		if it.ArtifactsTOML == nil {
			t.Fatalf("%s: manifest records no Artifacts.toml files", it)
		}
		if len(it.ArtifactsTOML) > 0 {
			withArtifacts++
		}
		p := filepath.Join(dir, "blobs", "sha256", e.Whole.Digest.Encoded())
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, e.Whole.Size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if withArtifacts == 0 {
		t.Fatal("fixture: no package binds artifacts")
	}
	dst.Close()

	dst = openLayout(t, dir)
	again := opts
	again.Tag = "again" // not up to date under this tag: every item is planned and reused
	second, err := Push(ctx, src, dst, req, again)
	if err != nil {
		t.Fatalf("re-push over unreadable package tarballs = %v; it read them", err)
	}
	if second.Index.Digest != first.Index.Digest || second.Stored != 0 {
		t.Errorf("re-push index %s, %d stored; want %s, 0", second.Index.Digest, second.Stored, first.Index.Digest)
	}
	if got, want := artifactSet(bundleEntries(t, dst, second.Index)), artifactSet(entries); !sameSet(got, want) {
		t.Errorf("re-push has %d artifacts, want %d", len(got), len(want))
	}
}

// A bundle written before manifests recorded Artifacts.toml files (here
// made by rewriting the package items without them) still re-pushes: the
// artifacts are found by reading the tarballs, and nothing is written.
func TestPush_RepushOldBundleReadsTarballs(t *testing.T) {
	ctx := context.Background()
	src, dir, req, opts, first := repushFixture(t)
	dst := openLayout(t, dir)
	b, err := bundle.Read(ctx, dst, first.Index)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.PushReport(ctx, dst, *b.Report)
	if err != nil {
		t.Fatal(err)
	}
	descs := []ocispec.Descriptor{rep}
	for _, e := range b.Entries {
		if e.Kind != bundle.KindPackage {
			descs = append(descs, e.IndexDescriptor())
			continue
		}
		it, err := bundle.ReadItem(ctx, dst, e.IndexDescriptor())
		if err != nil {
			t.Fatal(err)
		}
		it.ArtifactsTOML = nil
		d, err := bundle.PushItem(ctx, dst, it)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	refs, err := listRegistries(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	old, err := bundle.PushIndex(ctx, dst, descs, bundle.IndexOptions{Created: opts.Created, ToolVersion: opts.ToolVersion,
		Platforms: []string{"all"}, Inputs: []string{"all packages"}, PushKey: pushKey(req, opts, refs)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Tag(ctx, old, opts.Tag); err != nil {
		t.Fatal(err)
	}
	wantArts := artifactSet(bundleEntries(t, dst, old))
	dst.Close()
	before := blobFiles(t, dir)

	dst = openLayout(t, dir)
	again := opts
	again.Tag = "again" // not up to date under this tag: every item is planned and reused
	second, err := Push(ctx, src, dst, req, again)
	if err != nil {
		t.Fatal(err)
	}
	if second.Index.Digest != old.Digest || second.Stored != 0 {
		t.Errorf("re-push index %s, %d stored; want the old bundle's %s, 0", second.Index.Digest, second.Stored, old.Digest)
	}
	if got := artifactSet(bundleEntries(t, dst, second.Index)); !sameSet(got, wantArts) || len(got) == 0 {
		t.Errorf("re-push has %d artifacts, want %d", len(got), len(wantArts))
	}
	after := blobFiles(t, dir)
	for p, mt := range after {
		if bt, ok := before[p]; !ok || !bt.Equal(mt) {
			t.Errorf("re-push wrote %s", p)
		}
	}
}
