package shelf_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// artifact pushes a one-file artifact tarball of about size bytes as a
// bundle tagged tag, and returns its tarball.
func artifact(t *testing.T, st *store.Store, seed uint64, size int, tag string) []byte {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	var tb, gz bytes.Buffer
	if err := tarx.WriteTar(&tb, fstest.MapFS{"f": {Data: data, Mode: 0o644}}, tarx.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	h, err := treehash.Tar(bytes.NewReader(tb.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	ctx := context.Background()
	d := ocispec.Descriptor{MediaType: bundle.MediaTypeTarGzip, Digest: digest.FromBytes(gz.Bytes()), Size: int64(gz.Len())}
	if err := st.Push(ctx, d, bytes.NewReader(gz.Bytes())); err != nil {
		t.Fatal(err)
	}
	it, err := bundle.PushItem(ctx, st, bundle.Item{Kind: bundle.KindArtifact, TreeHash: h.SkipEmpty, Layers: []ocispec.Descriptor{d}})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := bundle.PushIndex(ctx, st, []ocispec.Descriptor{it}, bundle.IndexOptions{Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, idx, tag); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes()
}

func openLayout(t *testing.T, dir string, ro bool) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dir}, store.Options{ReadOnly: ro, LazyGraph: ro})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A Set remembers what it verified: a Load that finds nothing new changes
// nothing; a new bundle is verified and added.
func TestSet_Load(t *testing.T) {
	dir := t.TempDir()
	w := openLayout(t, dir, false)
	artifact(t, w, 1, 1000, "a")
	w.Close()
	ro := openLayout(t, dir, true)
	set, err := shelf.NewSet(ro, shelf.SetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sh1, changed, err := set.Load(ctx, false)
	if err != nil || !changed || len(sh1.Bundles()) != 1 || sh1.Reason() != "" || sh1.Bundles()[0].Tags[0] != "a" {
		t.Fatalf("first Load = %+v, %v, %v", sh1, changed, err)
	}
	sh2, changed, err := set.Load(ctx, false)
	if err != nil || changed || sh2 != sh1 {
		t.Fatalf("Load with nothing new = %p (was %p), changed %v, %v", sh2, sh1, changed, err)
	}
	w = openLayout(t, dir, false)
	artifact(t, w, 2, 1000, "b")
	w.Close()
	sh3, changed, err := set.Load(ctx, false)
	if err != nil || !changed || len(sh3.Bundles()) != 2 {
		t.Fatalf("Load after a push = %d bundles, changed %v, %v", len(sh3.Bundles()), changed, err)
	}
	if set.Current() != sh3 {
		t.Error("Current() is not the last Shelf")
	}
}

// A Stream never hands out the last HoldBack bytes of its window before
// the whole tarball verified: over a tarball with a flipped byte, reading
// to the end gives at most n-HoldBack bytes and an integrity error, and
// withdraws the item.
func TestOpen_HoldsBackTheEnd(t *testing.T) {
	dir := t.TempDir()
	w := openLayout(t, dir, false)
	tgz := artifact(t, w, 3, 600<<10, "a")
	w.Close()
	ro := openLayout(t, dir, true)
	set, err := shelf.NewSet(ro, shelf.SetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sh, _, err := set.Load(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	e := sh.Catalog().Entries()[0]
	// A window, verified: exactly its bytes.
	b, err := sh.Open(ctx, &e, 1000, 300<<10)
	if err != nil || b.Stream == nil {
		t.Fatalf("Open = %+v, %v; want a stream", b, err)
	}
	got, err := io.ReadAll(b.Reader())
	b.Close()
	if err != nil || !bytes.Equal(got, tgz[1000:1000+300<<10]) {
		t.Fatalf("window read = %d bytes, %v", len(got), err)
	}
	// Flip the last byte of the tarball.
	blob := filepath.Join(dir, "blobs", "sha256", e.Whole.Digest.Encoded())
	os.Chmod(blob, 0o644)
	f, _ := os.OpenFile(blob, os.O_RDWR, 0)
	f.WriteAt([]byte{tgz[len(tgz)-1] ^ 1}, int64(len(tgz)-1))
	f.Close()
	n := int64(len(tgz))
	b, err = sh.Open(ctx, &e, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(b.Reader())
	b.Close()
	if !errors.Is(err, bundle.ErrIntegrity) || int64(len(got)) > n-shelf.HoldBack || !bytes.Equal(got, tgz[:len(got)]) {
		t.Fatalf("read of a flipped tarball = %d bytes (at most %d), %v; want the head only and an integrity error", len(got), n-shelf.HoldBack, err)
	}
	if _, err := sh.Open(ctx, &e, 0, 10); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("Open after the failure = %v; want withdrawn (not found)", err)
	}
	if s := set.Stats(); s.Withdrawn != 1 || s.Withdrawals != 1 {
		t.Fatalf("stats %+v", s)
	}
}
