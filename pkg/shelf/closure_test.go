package shelf_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// countingStore counts the fetches of each blob.
type countingStore struct {
	*memory.Store
	mu      sync.Mutex // guards fetches
	fetches map[digest.Digest]int
}

func (s *countingStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	s.fetches[d.Digest]++
	s.mu.Unlock()
	return s.Store.Fetch(ctx, d)
}

func (s *countingStore) count(d digest.Digest) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[d]
}

// tarball writes files as a gzip tarball and returns it with its
// skip-empty and keep-empty tree hashes.
func tarball(t *testing.T, files fstest.MapFS) ([]byte, treehash.TarHashes) {
	t.Helper()
	var b bytes.Buffer
	if err := tarx.WriteFS(&b, files, tarx.WriteOptions{SkipEmptyDirs: true}); err != nil {
		t.Fatal(err)
	}
	dec, _, err := tarx.Decompress(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	h, err := treehash.Tar(dec)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), h
}

func pushItem(t *testing.T, s *countingStore, it bundle.Item, tgz []byte) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	layer := ocispec.Descriptor{MediaType: bundle.MediaTypeTarGzip, Digest: digest.FromBytes(tgz), Size: int64(len(tgz))}
	if err := s.Push(ctx, layer, bytes.NewReader(tgz)); err != nil {
		t.Fatal(err)
	}
	it.Layers = []ocispec.Descriptor{layer}
	d, err := bundle.PushItem(ctx, s, it)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestVerify_ClosureFromRecords: the closure takes a package's
// Artifacts.toml files from what its manifest records, so a package
// tarball is read once (by the integrity check), not twice; a package
// without the record (written before it existed) is read for them; and a
// record saying "none" leaves the artifact unreferenced.
func TestVerify_ClosureFromRecords(t *testing.T) {
	ctx := context.Background()
	art, ah := tarball(t, fstest.MapFS{"lib/libfoo.so": {Data: bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 64)}})
	artsTOML := fmt.Sprintf("[Foo]\ngit-tree-sha1 = %q\n", ah.SkipEmpty)
	pkg, ph := tarball(t, fstest.MapFS{
		"Project.toml":   {Data: []byte("name = \"Foo_jll\"\nuuid = \"0a1b2c3d-0000-4000-8000-000000000001\"\n")},
		"Artifacts.toml": {Data: []byte(artsTOML)},
	})
	uuid := julia.MustParseUUID("0a1b2c3d-0000-4000-8000-000000000001")
	regUUID := julia.MustParseUUID("0a1b2c3d-0000-4000-8000-0000000000ee")
	reg, rh := tarball(t, fstest.MapFS{
		"Registry.toml":           {Data: []byte(fmt.Sprintf("name = \"General\"\nuuid = %q\n\n[packages]\n%s = { name = \"Foo_jll\", path = \"F/Foo_jll\" }\n", regUUID, uuid))},
		"F/Foo_jll/Package.toml":  {Data: []byte(fmt.Sprintf("name = \"Foo_jll\"\nuuid = %q\nrepo = \"https://example.invalid/Foo_jll.jl.git\"\n", uuid))},
		"F/Foo_jll/Versions.toml": {Data: []byte(fmt.Sprintf("[\"1.0.0\"]\ngit-tree-sha1 = %q\n", ph.SkipEmpty))},
	})
	for _, tt := range []struct {
		name         string
		record       map[string]string
		reads        int // fetches of the package tarball
		unreferenced bool
	}{
		{"recorded", map[string]string{"Artifacts.toml": artsTOML}, 1, false},
		{"not recorded", nil, 2, false},
		{"recorded none", map[string]string{}, 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &countingStore{Store: memory.New(), fetches: map[digest.Digest]int{}}
			descs := []ocispec.Descriptor{
				pushItem(t, s, bundle.Item{Kind: bundle.KindRegistry, UUID: regUUID, TreeHash: rh.KeepEmpty, Registry: "General"}, reg),
				pushItem(t, s, bundle.Item{Kind: bundle.KindPackage, UUID: uuid, TreeHash: ph.SkipEmpty, KeepEmptyHash: ph.KeepEmpty,
					Name: "Foo_jll", Versions: []string{"1.0.0"}, ArtifactsTOML: tt.record}, pkg),
				pushItem(t, s, bundle.Item{Kind: bundle.KindArtifact, TreeHash: ah.SkipEmpty, Name: "Foo"}, art),
			}
			idx, err := bundle.PushIndex(ctx, s, descs, bundle.IndexOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := shelf.Verify(ctx, s, idx, shelf.VerifyOptions{})
			if tt.unreferenced {
				if !errors.Is(err, shelf.ErrIncomplete) || res.Closure == nil || len(res.Closure.Unreferenced) != 1 {
					t.Fatalf("Verify = %v, closure %+v; want the artifact unreferenced", err, res.Closure)
				}
			} else if err != nil || len(res.Closure.Unlisted)+len(res.Closure.Unreferenced) != 0 || res.Closure.Packages != 1 {
				t.Fatalf("Verify = %v, closure %+v", err, res.Closure)
			}
			if got := s.count(digest.FromBytes(pkg)); got != tt.reads {
				t.Errorf("the package tarball was fetched %d times, want %d", got, tt.reads)
			}
			if res.Bundle == nil || len(res.Bundle.Entries) != 3 {
				t.Errorf("Verify's bundle = %+v, want the 3 entries", res.Bundle)
			}
		})
	}
}
