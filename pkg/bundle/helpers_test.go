package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// countingStore counts the pushes that reach a memory store.
type countingStore struct {
	*memory.Store
	mu     sync.Mutex
	pushes int
}

func newCountingStore() *countingStore { return &countingStore{Store: memory.New()} }

func (s *countingStore) Push(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	s.mu.Lock()
	s.pushes++
	s.mu.Unlock()
	return s.Store.Push(ctx, d, r)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushes
}

// mapStore is a content.Storage over a map whose bytes tests may change.
type mapStore struct {
	mu    sync.Mutex
	blobs map[digest.Digest][]byte
}

var _ content.Storage = (*mapStore)(nil)

func newMapStore() *mapStore { return &mapStore{blobs: map[digest.Digest][]byte{}} }

func (s *mapStore) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(b))), nil
}

func (s *mapStore) Push(_ context.Context, d ocispec.Descriptor, r io.Reader) error {
	b, err := content.ReadAll(r, d)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[d.Digest]; ok {
		return errdef.ErrAlreadyExists
	}
	s.blobs[d.Digest] = b
	return nil
}

func (s *mapStore) Exists(_ context.Context, d ocispec.Descriptor) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.blobs[d.Digest]
	return ok, nil
}

// set replaces (or with nil deletes) the bytes stored under d.
func (s *mapStore) set(d digest.Digest, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b == nil {
		delete(s.blobs, d)
		return
	}
	s.blobs[d] = b
}

func (s *mapStore) get(d digest.Digest) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.blobs[d])
}

// pushBlob stores b and returns its descriptor.
func pushBlob(t testing.TB, dst content.Pusher, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := content.NewDescriptorFromBytes(mediaType, b)
	d.Annotations = nil
	if err := dst.Push(context.Background(), d, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("Push(%s) = %v", d.Digest, err)
	}
	return d
}

type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	body     string
	linkname string
}

// makeTarGz builds a deterministic gzip tarball.
func makeTarGz(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.linkname, Format: tar.FormatUSTAR}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	exampleUUID = julia.MustParseUUID("7876af07-990d-54b4-ab0e-23690620f79a")
	generalUUID = julia.MustParseUUID("23338594-aafe-5451-b93e-139f81909106")
	exampleHash = treehash.MustParse("46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc")
)

// uuidN and hashN make distinct identities for generated items.
func uuidN(n int) julia.UUID {
	var u julia.UUID
	u[0] = 0x10
	u[14] = byte(n >> 8)
	u[15] = byte(n)
	return u
}

func hashN(n int) treehash.Hash {
	var h treehash.Hash
	h[0] = 0xab
	h[18] = byte(n >> 8)
	h[19] = byte(n)
	return h
}

func gzipReader(b []byte) (io.Reader, error) { return gzip.NewReader(bytes.NewReader(b)) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
