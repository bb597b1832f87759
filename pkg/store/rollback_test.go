package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

// listing maps every file under dir to its bytes.
func listing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A rollback after blobs, manifests, a tag and an index save returns the
// layout to the mark byte for byte, in memory too (Close saves nothing
// new), and the same content can be pushed again.
func TestLayout_Rollback(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openLayout(t, dir, store.Options{})
	put := func(b []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes("application/octet-stream", b)
		if err := s.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	pack := func(layers ...ocispec.Descriptor) ocispec.Descriptor {
		d, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{
			Layers: layers, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	old := pack(put([]byte("old layer")))
	if err := s.Tag(ctx, old, "a"); err != nil {
		t.Fatal(err)
	}
	m, err := s.Mark(ctx)
	if err != nil || m == nil {
		t.Fatalf("Mark() = %v, %v", m, err)
	}
	before := listing(t, dir)

	shared := put([]byte("old layer")) // present before: must stay
	fresh := pack(shared, put([]byte("new layer")))
	untagged := pack(put([]byte("another new layer")))
	if err := s.Tag(ctx, fresh, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := s.Rollback(ctx, m)
	if err != nil || n != 4 { // two new layers, two manifests (the empty config was there)
		t.Fatalf("Rollback() = %d, %v; want 4 blob files removed", n, err)
	}
	if _, err := s.Resolve(ctx, "b"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Resolve(b) after rollback = %v, want not found", err)
	}
	for _, c := range []struct {
		d    ocispec.Descriptor
		want bool
	}{{old, true}, {fresh, false}, {untagged, false}} {
		if ok, err := s.Exists(ctx, c.d); ok != c.want || err != nil {
			t.Errorf("Exists(%s) = %v, %v; want %v", c.d.Digest, ok, err, c.want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := listing(t, dir)
	for p, b := range before {
		if filepath.Base(p) == ".shoebox.lock" {
			continue
		}
		if after[p] != b {
			t.Errorf("%s changed by the push and the rollback", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s is left after the rollback", p)
		}
	}

	s2 := openLayout(t, dir, store.Options{})
	s = s2
	again := pack(put([]byte("old layer")), put([]byte("new layer")))
	if again.Digest != fresh.Digest {
		t.Fatalf("re-push made %s, want %s", again.Digest, fresh.Digest)
	}
	if err := s2.Tag(ctx, again, "b"); err != nil {
		t.Fatalf("Tag after rollback: %v", err)
	}
}

// On a full disk the rollback frees the push's blobs before it rewrites
// index.json (which needs room for its temporary file), so that it ends
// with the layout as it was rather than with the push's blobs orphaned.
func TestLayout_RollbackOnAFullDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openLayout(t, dir, store.Options{})
	put := func(b []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes("application/octet-stream", b)
		if err := s.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	put([]byte("there before"))
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := s.Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := listing(t, dir)
	for i := range 18 {
		put([]byte{'n', 'e', 'w', byte(i)})
	}
	blobs := func() int {
		ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	full := 0
	restore := store.SetWriteIndex(func(root string, b []byte, write func() error) error {
		if blobs() > 1 { // the disk is full while the push's blobs are there
			full++
			return &os.PathError{Op: "write", Path: filepath.Join(root, ".index.json.tmp-1"), Err: syscall.ENOSPC}
		}
		return write()
	})
	defer restore()
	n, err := s.Rollback(ctx, m)
	if err != nil || n != 18 || full != 0 {
		t.Fatalf("Rollback() = %d, %v (%d writes on a full disk); want 18 blob files removed, then index.json written", n, err, full)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := listing(t, dir)
	for p, b := range before {
		if filepath.Base(p) != ".shoebox.lock" && after[p] != b {
			t.Errorf("%s changed", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s is left after the rollback", p)
		}
	}
}
