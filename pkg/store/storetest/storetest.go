// Package storetest is the conformance suite every store backend passes
// (after distribution's registry/storage/driver/testsuites): the same
// pushes, fetches, tags, referrers and ingests, with the same
// errdef.ErrNotFound mapping, whether the store is an OCI layout or a
// registry.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

// Media and artifact types used by the fixtures.
const (
	mediaTypeLayer = "application/vnd.shoebox.test.layer"
	artifactItem   = "application/vnd.shoebox.test.item"
	artifactSigA   = "application/vnd.shoebox.test.sig-a"
	artifactSigB   = "application/vnd.shoebox.test.sig-b"
)

// Run runs the suite; open must return a fresh, empty, writable store for
// each subtest (and arrange its cleanup).
func Run(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"PushFetchExists", testPushFetchExists},
		{"PushTwice", testPushTwice},
		{"PushMismatch", testPushMismatch},
		{"TagResolve", testTagResolve},
		{"Tags", testTags},
		{"Referrers", testReferrers},
		{"CopyOut", testCopyOut},
		{"NotFound", testNotFound},
		{"Ingest", testIngest},
		{"IngestSplit", testIngestSplit},
		{"IngestEmpty", testIngestEmpty},
		{"IngestVerifyRejects", testIngestVerifyRejects},
		{"IngestDedup", testIngestDedup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			tt.fn(t, s)
		})
	}
}

// RunReadOnly runs the reading half of the suite. open returns a fresh,
// empty, writable store and a function that reopens the same store
// read-only (after which the writable one is no longer used; RunReadOnly
// closes it first).
func RunReadOnly(t *testing.T, open func(t *testing.T) (rw *store.Store, reopenReadOnly func(t *testing.T) *store.Store)) {
	t.Parallel()
	ctx := context.Background()
	rw, reopen := open(t)
	fx := writeFixture(t, rw)
	if err := rw.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	ro := reopen(t)

	t.Run("Read", func(t *testing.T) {
		got := fetch(t, ro, fx.layer)
		if !bytes.Equal(got, fx.layerData) {
			t.Errorf("Fetch(layer) = %d bytes, want %d", len(got), len(fx.layerData))
		}
		for _, d := range []ocispec.Descriptor{fx.layer, fx.item, fx.sigA} {
			if ok, err := ro.Exists(ctx, d); err != nil || !ok {
				t.Errorf("Exists(%s) = %v, %v; want true", d.Digest, ok, err)
			}
		}
		d, err := ro.Resolve(ctx, "v1")
		if err != nil || d.Digest != fx.item.Digest {
			t.Errorf("Resolve(v1) = %v, %v; want %s", d.Digest, err, fx.item.Digest)
		}
		tags, err := userTags(ro.Tags(ctx))
		if err != nil || !slices.Equal(tags, []string{"v1"}) {
			t.Errorf("Tags() = %v, %v; want [v1]", tags, err)
		}
		refs, err := ro.Referrers(ctx, fx.item, "")
		if err != nil || len(refs) != 2 {
			t.Errorf("Referrers() = %d, %v; want 2", len(refs), err)
		}
		if _, err := ro.Resolve(ctx, "missing"); !errors.Is(err, errdef.ErrNotFound) {
			t.Errorf("Resolve(missing) error = %v, want ErrNotFound", err)
		}
	})
	t.Run("WritesFail", func(t *testing.T) {
		b := []byte("read-only")
		if err := ro.Push(ctx, content.NewDescriptorFromBytes(mediaTypeLayer, b), bytes.NewReader(b)); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Push() error = %v, want ErrReadOnly", err)
		}
		if err := ro.Tag(ctx, fx.item, "v2"); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Tag() error = %v, want ErrReadOnly", err)
		}
		if _, _, err := ro.Ingest(ctx, mediaTypeLayer, bytes.NewReader(b), store.IngestOptions{}); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Ingest() error = %v, want ErrReadOnly", err)
		}
	})
}

// referrersTag is the referrers tag schema of distribution-spec v1.1.
var referrersTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// userTags drops the referrers tag-schema tags a registry without the
// referrers API carries.
func userTags(tags []string, err error) ([]string, error) {
	return slices.DeleteFunc(tags, referrersTag.MatchString), err
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5b0eb0c5))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func push(t *testing.T, s *store.Store, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := content.NewDescriptorFromBytes(mediaType, b)
	if err := s.Push(context.Background(), d, bytes.NewReader(b)); err != nil {
		t.Fatalf("Push(%s) = %v", d.Digest, err)
	}
	return d
}

func fetch(t *testing.T, s *store.Store, d ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := s.Fetch(context.Background(), d)
	if err != nil {
		t.Fatalf("Fetch(%s) = %v", d.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Fetch(%s): reading: %v", d.Digest, err)
	}
	return b
}

func manifest(t *testing.T, s *store.Store, artifactType string, layers []ocispec.Descriptor, subject *ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	d, err := oras.PackManifest(context.Background(), s, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{
		Layers:              layers,
		Subject:             subject,
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatalf("PackManifest(%s) = %v", artifactType, err)
	}
	return d
}

// fixture is a tagged item manifest over one layer, with two referrers.
type fixture struct {
	layerData   []byte
	layer, item ocispec.Descriptor
	sigA, sigB  ocispec.Descriptor
}

func writeFixture(t *testing.T, s *store.Store) fixture {
	t.Helper()
	fx := fixture{layerData: randomBytes(1, 3000)}
	fx.layer = push(t, s, mediaTypeLayer, fx.layerData)
	fx.item = manifest(t, s, artifactItem, []ocispec.Descriptor{fx.layer}, nil)
	if err := s.Tag(context.Background(), fx.item, "v1"); err != nil {
		t.Fatalf("Tag(v1) = %v", err)
	}
	fx.sigA = manifest(t, s, artifactSigA, []ocispec.Descriptor{push(t, s, mediaTypeLayer, []byte("sig a"))}, &fx.item)
	fx.sigB = manifest(t, s, artifactSigB, []ocispec.Descriptor{push(t, s, mediaTypeLayer, []byte("sig b"))}, &fx.item)
	return fx
}

func testPushFetchExists(t *testing.T, s *store.Store) {
	ctx := context.Background()
	b := randomBytes(2, 10000)
	d := push(t, s, mediaTypeLayer, b)
	if ok, err := s.Exists(ctx, d); err != nil || !ok {
		t.Fatalf("Exists() = %v, %v; want true", ok, err)
	}
	if got := fetch(t, s, d); !bytes.Equal(got, b) {
		t.Fatalf("Fetch() = %d bytes, want the %d pushed", len(got), len(b))
	}
	other := content.NewDescriptorFromBytes(mediaTypeLayer, []byte("never pushed"))
	if ok, err := s.Exists(ctx, other); err != nil || ok {
		t.Fatalf("Exists(never pushed) = %v, %v; want false", ok, err)
	}
}

func testPushTwice(t *testing.T, s *store.Store) {
	b := []byte("twice")
	push(t, s, mediaTypeLayer, b)
	push(t, s, mediaTypeLayer, b)
	m := manifest(t, s, artifactItem, nil, nil)
	if err := s.Push(context.Background(), m, bytes.NewReader(fetch(t, s, m))); err != nil {
		t.Fatalf("Push(manifest again) = %v", err)
	}
}

func testPushMismatch(t *testing.T, s *store.Store) {
	ctx := context.Background()
	d := content.NewDescriptorFromBytes(mediaTypeLayer, []byte("the real content"))
	if err := s.Push(ctx, d, strings.NewReader("something else!")); err == nil {
		t.Fatal("Push(wrong content) = nil, want an error")
	}
	if ok, _ := s.Exists(ctx, d); ok {
		t.Fatal("Exists() = true after a rejected push")
	}
}

func testTagResolve(t *testing.T, s *store.Store) {
	ctx := context.Background()
	l := push(t, s, mediaTypeLayer, []byte("layer"))
	m1 := manifest(t, s, artifactItem, []ocispec.Descriptor{l}, nil)
	m2 := manifest(t, s, artifactSigA, []ocispec.Descriptor{l}, nil)
	if err := s.Tag(ctx, m1, "v1"); err != nil {
		t.Fatalf("Tag() = %v", err)
	}
	for _, ref := range []string{"v1", m1.Digest.String()} {
		d, err := s.Resolve(ctx, ref)
		if err != nil || d.Digest != m1.Digest || d.MediaType != m1.MediaType || d.Size != m1.Size {
			t.Errorf("Resolve(%s) = %+v, %v; want %s", ref, d, err, m1.Digest)
		}
	}
	if err := s.Tag(ctx, m2, "v1"); err != nil {
		t.Fatalf("Tag(retag) = %v", err)
	}
	if d, err := s.Resolve(ctx, "v1"); err != nil || d.Digest != m2.Digest {
		t.Errorf("Resolve(v1) after retag = %s, %v; want %s", d.Digest, err, m2.Digest)
	}
}

func testTags(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := manifest(t, s, artifactItem, nil, nil)
	for _, tag := range []string{"zeta", "alpha", "mid-1.2"} {
		if err := s.Tag(ctx, m, tag); err != nil {
			t.Fatalf("Tag(%s) = %v", tag, err)
		}
	}
	got, err := userTags(s.Tags(ctx))
	if want := []string{"alpha", "mid-1.2", "zeta"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("Tags() = %v, %v; want %v", got, err, want)
	}
}

func testReferrers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	fx := writeFixture(t, s)
	digests := func(ds []ocispec.Descriptor) []digest.Digest {
		var out []digest.Digest
		for _, d := range ds {
			out = append(out, d.Digest)
		}
		slices.Sort(out)
		return out
	}
	want := []digest.Digest{fx.sigA.Digest, fx.sigB.Digest}
	slices.Sort(want)
	got, err := s.Referrers(ctx, fx.item, "")
	if err != nil || !slices.Equal(digests(got), want) {
		t.Fatalf("Referrers(all) = %v, %v; want %v", digests(got), err, want)
	}
	got, err = s.Referrers(ctx, fx.item, artifactSigB)
	if err != nil || len(got) != 1 || got[0].Digest != fx.sigB.Digest || got[0].ArtifactType != artifactSigB {
		t.Fatalf("Referrers(%s) = %+v, %v; want only %s", artifactSigB, got, err, fx.sigB.Digest)
	}
	got, err = s.Referrers(ctx, fx.sigA, "")
	if err != nil || len(got) != 0 {
		t.Fatalf("Referrers(no referrers) = %v, %v; want none", got, err)
	}
	preds, err := s.Predecessors(ctx, fx.item)
	if err != nil || !slices.Contains(digests(preds), fx.sigA.Digest) {
		t.Fatalf("Predecessors(item) = %v, %v; want it to contain %s", digests(preds), err, fx.sigA.Digest)
	}
}

func testCopyOut(t *testing.T, s *store.Store) {
	ctx := context.Background()
	fx := writeFixture(t, s)
	dst := memory.New()
	opts := oras.DefaultExtendedCopyOptions
	if _, err := oras.ExtendedCopy(ctx, s, "v1", dst, "v1", opts); err != nil {
		t.Fatalf("ExtendedCopy() = %v", err)
	}
	for _, d := range []ocispec.Descriptor{fx.layer, fx.item, fx.sigA, fx.sigB} {
		if ok, err := dst.Exists(ctx, d); err != nil || !ok {
			t.Errorf("copied store lacks %s (%s): %v", d.Digest, d.MediaType, err)
		}
	}
	// And back in: copying an existing graph is a no-op that succeeds.
	if _, err := oras.Copy(ctx, dst, "v1", s, "v1-again", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("Copy(back) = %v", err)
	}
}

func testNotFound(t *testing.T, s *store.Store) {
	ctx := context.Background()
	missing := content.NewDescriptorFromBytes(mediaTypeLayer, []byte("missing"))
	if _, err := s.Fetch(ctx, missing); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Fetch(missing) error = %v, want ErrNotFound", err)
	}
	missingManifest := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2}`))
	if _, err := s.Fetch(ctx, missingManifest); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Fetch(missing manifest) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Resolve(ctx, "no-such-tag"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Resolve(no-such-tag) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Resolve(ctx, missingManifest.Digest.String()); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Resolve(missing digest) error = %v, want ErrNotFound", err)
	}
	if err := s.Tag(ctx, missingManifest, "dangling"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Tag(missing manifest) error = %v, want ErrNotFound", err)
	}
}

func testIngest(t *testing.T, s *store.Store) {
	ctx := context.Background()
	b := randomBytes(3, 2<<20+17)
	want := content.NewDescriptorFromBytes(mediaTypeLayer, b)
	calls := 0
	whole, parts, err := s.Ingest(ctx, mediaTypeLayer, bytes.NewReader(b), store.IngestOptions{
		Verify: func(d ocispec.Descriptor) error {
			calls++
			if d.Digest != want.Digest || d.Size != want.Size || d.MediaType != mediaTypeLayer {
				return fmt.Errorf("verify got %+v, want %+v", d, want)
			}
			return nil
		},
		Annotations: map[string]string{"k": "v"},
	})
	if err != nil {
		t.Fatalf("Ingest() = %v", err)
	}
	if calls != 1 {
		t.Errorf("Verify called %d times, want 1", calls)
	}
	if whole.Digest != want.Digest || whole.Size != want.Size || whole.Annotations["k"] != "v" {
		t.Errorf("Ingest() whole = %+v, want %s %d with annotation k=v", whole, want.Digest, want.Size)
	}
	if len(parts) != 1 || parts[0].Digest != want.Digest || parts[0].Annotations["k"] != "v" {
		t.Fatalf("Ingest() parts = %+v, want one part equal to the whole", parts)
	}
	if got := fetch(t, s, parts[0]); !bytes.Equal(got, b) {
		t.Fatalf("Fetch(ingested) = %d bytes, want %d", len(got), len(b))
	}
}

func testIngestSplit(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for _, n := range []int{1, 999, 1000, 1001, 4500, 5000} {
		b := randomBytes(uint64(100+n), n)
		whole, parts, err := s.Ingest(ctx, mediaTypeLayer, iotestOneByteReader(b), store.IngestOptions{MaxPartSize: 1000})
		if err != nil {
			t.Fatalf("Ingest(%d bytes) = %v", n, err)
		}
		if want := (n + 999) / 1000; len(parts) != want {
			t.Errorf("Ingest(%d bytes) gave %d parts, want %d", n, len(parts), want)
		}
		if whole.Digest != digest.FromBytes(b) || whole.Size != int64(n) {
			t.Errorf("Ingest(%d bytes) whole = %s %d, want %s %d", n, whole.Digest, whole.Size, digest.FromBytes(b), n)
		}
		var cat []byte
		for i, p := range parts {
			if p.Size > 1000 || p.Size <= 0 {
				t.Errorf("part %d size %d, want 1..1000", i, p.Size)
			}
			cat = append(cat, fetch(t, s, p)...)
		}
		if !bytes.Equal(cat, b) {
			t.Errorf("Ingest(%d bytes): concatenated parts differ from the input", n)
		}
	}
}

// iotestOneByteReader returns b through a reader that returns odd-sized
// reads, to exercise part boundaries that do not fall on read boundaries.
func iotestOneByteReader(b []byte) io.Reader {
	return &choppyReader{b: b}
}

type choppyReader struct {
	b []byte
	i int
}

func (r *choppyReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	r.i++
	n := min(len(p), len(r.b), 1+(r.i*337)%1500)
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

func testIngestEmpty(t *testing.T, s *store.Store) {
	whole, parts, err := s.Ingest(context.Background(), mediaTypeLayer, bytes.NewReader(nil), store.IngestOptions{MaxPartSize: 1000})
	if err != nil {
		t.Fatalf("Ingest(empty) = %v", err)
	}
	if whole.Size != 0 || whole.Digest != digest.FromBytes(nil) || len(parts) != 1 || parts[0].Size != 0 {
		t.Fatalf("Ingest(empty) = %+v, %+v; want one empty part", whole, parts)
	}
	if got := fetch(t, s, parts[0]); len(got) != 0 {
		t.Fatalf("Fetch(empty part) = %d bytes", len(got))
	}
}

var errBadTreeHash = errors.New("tree hash mismatch")

func testIngestVerifyRejects(t *testing.T, s *store.Store) {
	ctx := context.Background()
	b := randomBytes(4, 2500)
	_, _, err := s.Ingest(ctx, mediaTypeLayer, bytes.NewReader(b), store.IngestOptions{
		MaxPartSize: 1000,
		Verify:      func(ocispec.Descriptor) error { return errBadTreeHash },
	})
	if !errors.Is(err, errBadTreeHash) {
		t.Fatalf("Ingest() error = %v, want %v", err, errBadTreeHash)
	}
	for off := 0; off < len(b); off += 1000 {
		part := b[off:min(off+1000, len(b))]
		d := content.NewDescriptorFromBytes(mediaTypeLayer, part)
		if ok, err := s.Exists(ctx, d); err != nil || ok {
			t.Errorf("Exists(part at %d) = %v, %v after a rejected ingest; want false", off, ok, err)
		}
	}
	if ok, _ := s.Exists(ctx, content.NewDescriptorFromBytes(mediaTypeLayer, b)); ok {
		t.Error("Exists(whole) = true after a rejected ingest")
	}
}

func testIngestDedup(t *testing.T, s *store.Store) {
	ctx := context.Background()
	b := randomBytes(5, 3500)
	w1, p1, err := s.Ingest(ctx, mediaTypeLayer, bytes.NewReader(b), store.IngestOptions{MaxPartSize: 1000})
	if err != nil {
		t.Fatalf("Ingest(1) = %v", err)
	}
	w2, p2, err := s.Ingest(ctx, mediaTypeLayer, bytes.NewReader(b), store.IngestOptions{MaxPartSize: 1000})
	if err != nil {
		t.Fatalf("Ingest(2) = %v", err)
	}
	if w1.Digest != w2.Digest || len(p1) != len(p2) {
		t.Fatalf("re-ingest gave %s/%d parts, want %s/%d", w2.Digest, len(p2), w1.Digest, len(p1))
	}
	for i := range p1 {
		if p1[i].Digest != p2[i].Digest {
			t.Errorf("part %d: %s then %s", i, p1[i].Digest, p2[i].Digest)
		}
	}
}
