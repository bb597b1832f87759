package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

// In a lazy layout, Predecessors and Referrers of what index.json lists
// are answered from index.json's manifests alone: here the bundle's item
// manifest is damaged, so any walk of the graph fails (as a normal open
// shows), and yet the signature of the tagged index is found.
func TestLayout_LazyPredecessorsDoNotWalk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openLayout(t, dir, store.Options{})
	put := func(mediaType string, b []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(mediaType, b)
		if err := s.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	layer := put("application/octet-stream", []byte("layer"))
	item, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, "application/vnd.test.item", oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"}})
	if err != nil {
		t.Fatal(err)
	}
	ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{item}})
	idx := put(ocispec.MediaTypeImageIndex, ib)
	if err := s.Tag(ctx, idx, "bundle"); err != nil {
		t.Fatal(err)
	}
	sig, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, "application/vnd.test.sig", oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{put("application/octet-stream", []byte("sig"))}, Subject: &idx,
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "blobs", "sha256", item.Digest.Encoded())
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), int(item.Size)), 0o644); err != nil {
		t.Fatal(err)
	}

	if _, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{ReadOnly: true}); err == nil {
		t.Fatal("a full open walked past the missing item manifest; the test proves nothing")
	}
	lazy := openLayout(t, dir, store.Options{ReadOnly: true, LazyGraph: true})
	preds, err := lazy.Predecessors(ctx, idx)
	if err != nil || len(preds) != 1 || preds[0].Digest != sig.Digest {
		t.Fatalf("Predecessors(index) = %v, %v; want [%s]", preds, err, sig.Digest)
	}
	refs, err := lazy.Referrers(ctx, idx, "")
	if err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest || refs[0].ArtifactType != "application/vnd.test.sig" {
		t.Fatalf("Referrers(index) = %+v, %v; want the signature", refs, err)
	}
	preds, err = lazy.Predecessors(ctx, item)
	if err != nil || !slices.Equal([]digest.Digest{preds[0].Digest}, []digest.Digest{idx.Digest}) {
		t.Fatalf("Predecessors(item) = %v, %v; want [%s]", preds, err, idx.Digest)
	}
}

// A writable lazy layout reads no manifest until it writes, and its first
// write builds the graph, so the index it saves keeps every manifest the
// old index listed (tagged and untagged) next to the new ones.
func TestLayout_LazyWriterKeepsIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openLayout(t, dir, store.Options{})
	pack := func(s *store.Store, layer string) ocispec.Descriptor {
		b := []byte(layer)
		d := content.NewDescriptorFromBytes("application/octet-stream", b)
		if err := s.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		m, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{
			Layers: []ocispec.Descriptor{d}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tagged, untagged := pack(s, "a"), pack(s, "b")
	if err := s.Tag(ctx, tagged, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}

	// Opening and reading tags and blobs writes nothing; Close saves nothing.
	lazy := openLayout(t, dir, store.Options{LazyGraph: true})
	if d, err := lazy.Resolve(ctx, "v1"); err != nil || d.Digest != tagged.Digest {
		t.Fatalf("Resolve(v1) = %v, %v", d.Digest, err)
	}
	if err := lazy.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "index.json")); string(after) != string(before) {
		t.Fatalf("a lazy open and close rewrote index.json:\n%s\nwas\n%s", after, before)
	}

	lazy = openLayout(t, dir, store.Options{LazyGraph: true})
	var roots []digest.Digest
	for _, d := range lazy.Roots() { // index.json's manifests, no walk
		roots = append(roots, d.Digest)
	}
	want := []digest.Digest{tagged.Digest, untagged.Digest}
	slices.Sort(want)
	if !slices.Equal(roots, want) {
		t.Errorf("lazy Roots() = %v, want %v", roots, want)
	}
	fresh := pack(lazy, "c")
	if err := lazy.Tag(ctx, fresh, "v2"); err != nil {
		t.Fatal(err)
	}
	if err := lazy.Close(); err != nil {
		t.Fatal(err)
	}
	full := openLayout(t, dir, store.Options{ReadOnly: true})
	for _, d := range []ocispec.Descriptor{tagged, untagged, fresh} {
		if ok, err := full.Exists(ctx, d); !ok || err != nil {
			t.Errorf("after a lazy writer: Exists(%s) = %v, %v; want it indexed", d.Digest, ok, err)
		}
	}
	if tags, err := full.Tags(ctx); err != nil || !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Errorf("Tags() = %v, %v; want [v1 v2]", tags, err)
	}
}
