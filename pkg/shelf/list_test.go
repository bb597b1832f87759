package shelf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
)

// tagStore is a memory store whose tags resolve to descriptors the test
// chooses (a registry reports no artifactType on resolve) and whose blobs
// the test may damage.
type tagStore struct {
	*memory.Store
	tags    map[string]ocispec.Descriptor
	damaged map[digest.Digest][]byte
}

func (s *tagStore) Tags(context.Context) ([]string, error) {
	return slices.Sorted(maps.Keys(s.tags)), nil
}

func (s *tagStore) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	if d, ok := s.tags[ref]; ok {
		return d, nil
	}
	for _, d := range s.tags { // by digest, as a registry resolves it
		if d.Digest.String() == ref && d.ArtifactType != "" {
			return d, nil
		}
	}
	return s.Store.Resolve(ctx, ref)
}

func (s *tagStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if b, ok := s.damaged[d.Digest]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return s.Store.Fetch(ctx, d)
}

func pushJSON(t *testing.T, s *tagStore, mt string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := content.NewDescriptorFromBytes(mt, b)
	if err := s.Push(context.Background(), d, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatal(err)
	}
	return d
}

func index(t *testing.T, s *tagStore, artifactType string) ocispec.Descriptor {
	t.Helper()
	d := pushJSON(t, s, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex, ArtifactType: artifactType, Manifests: []ocispec.Descriptor{},
		Annotations: map[string]string{"n": artifactType}})
	d.ArtifactType = artifactType
	return d
}

func withoutType(d ocispec.Descriptor) ocispec.Descriptor {
	d.ArtifactType = ""
	return d
}

// TestList_OneRule plays every kind of tag a store can hold against the
// rule: only bundle indexes are listed, whether or not the store reports
// artifactType, and a damaged index is listed so that verify names it.
func TestList_OneRule(t *testing.T) {
	s := &tagStore{Store: memory.New(), tags: map[string]ocispec.Descriptor{}, damaged: map[digest.Digest][]byte{}}
	b := index(t, s, bundle.ArtifactTypeBundle)
	other := index(t, s, "application/vnd.example.other")
	img := pushJSON(t, s, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{}})
	damaged := pushJSON(t, s, ocispec.MediaTypeImageIndex, map[string]string{"n": "damaged"})
	s.damaged[damaged.Digest] = bytes.Repeat([]byte{'x'}, int(damaged.Size))
	sigTag := "sha256-" + b.Digest.Encoded()

	s.tags = map[string]ocispec.Descriptor{
		"v1":               b,
		"v1-alias":         b,
		"registry-style":   withoutType(b),     // a registry: artifactType read from the index
		"other":            other,              // another artifact's index
		"other-registry":   withoutType(other), // the same, read from the index
		"image":            img,                // an image manifest
		"damaged":          damaged,            // bytes that do not match: listed, verify reports it
		sigTag:             b,                  // the referrers fallback tag: never a bundle
		sigTag + ".sig":    b,
		sigTag + ".att":    b,
		"sha256-notatag-x": b, // not the schema: a user tag
	}
	refs, err := shelf.List(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.Tag+"="+r.Index.Digest.Encoded()[:8])
	}
	want := []string{"damaged=" + damaged.Digest.Encoded()[:8], "registry-style=" + b.Digest.Encoded()[:8],
		"sha256-notatag-x=" + b.Digest.Encoded()[:8], "v1=" + b.Digest.Encoded()[:8], "v1-alias=" + b.Digest.Encoded()[:8]}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("List = %v\nwant   %v", got, want)
	}

	// Find applies the same rule to a name the user gave.
	for ref, wantErr := range map[string]bool{"v1": false, "registry-style": false, b.Digest.String(): false,
		"other": true, "other-registry": true, "image": true, sigTag + ".sig": true} {
		r, err := shelf.Find(context.Background(), s, ref)
		switch {
		case wantErr && (!errors.Is(err, shelf.ErrNotBundle) || !errors.Is(err, errdef.ErrNotFound)):
			t.Errorf("Find(%s) = %v, %v; want ErrNotBundle and ErrNotFound", ref, r, err)
		case !wantErr && (err != nil || r.Index.Digest != b.Digest):
			t.Errorf("Find(%s) = %v, %v; want %s", ref, r, err, b.Digest)
		}
	}
	if r, _ := shelf.Find(context.Background(), s, b.Digest.String()); r.Tag != "" || r.Name() != b.Digest.String() {
		t.Errorf("Find(digest) = %+v; want no tag, named by its digest", r)
	}
	if _, err := shelf.Find(context.Background(), s, "missing"); !errors.Is(err, errdef.ErrNotFound) || errors.Is(err, shelf.ErrNotBundle) {
		t.Errorf("Find(missing) = %v; want ErrNotFound only", err)
	}
}
