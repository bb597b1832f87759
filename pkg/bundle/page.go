package bundle

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// indexPage is a bundle index (top or nested) as Read and Check decode
// it: its entries' annotations go into fields for the keys an item
// descriptor may carry (FORMAT.md §4.1), not a map per entry. Other keys
// are ignored, as §3.1 asks of readers.
type indexPage struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Manifests     []pageEntry       `json:"manifests"`
	Annotations   map[string]string `json:"annotations"`
}

// pageEntry is one descriptor of an index page.
type pageEntry struct {
	MediaType    string          `json:"mediaType"`
	Digest       digest.Digest   `json:"digest"`
	Size         int64           `json:"size"`
	ArtifactType string          `json:"artifactType"`
	Annotations  pageAnnotations `json:"annotations"`
}

// pageAnnotations are the annotations of an item descriptor; nil is
// absent.
type pageAnnotations struct {
	Kind           *string `json:"dev.shoebox.julia.kind"`
	UUID           *string `json:"dev.shoebox.julia.uuid"`
	TreeHash       *string `json:"dev.shoebox.julia.tree-hash"`
	KeepEmptyHash  *string `json:"dev.shoebox.julia.tree-hash.keep-empty"`
	Name           *string `json:"dev.shoebox.julia.name"`
	Versions       *string `json:"dev.shoebox.julia.versions"`
	Platform       *string `json:"dev.shoebox.julia.platform"`
	Registry       *string `json:"dev.shoebox.julia.registry"`
	WholeDigest    *string `json:"dev.shoebox.whole.digest"`
	WholeSize      *string `json:"dev.shoebox.whole.size"`
	WholeMediaType *string `json:"dev.shoebox.whole.media-type"`
	Parts          *string `json:"dev.shoebox.parts"`
}

// get looks a key up.
func (a *pageAnnotations) get(key string) (string, bool) {
	var p *string
	switch key {
	case AnnotationKind:
		p = a.Kind
	case AnnotationUUID:
		p = a.UUID
	case AnnotationTreeHash:
		p = a.TreeHash
	case AnnotationKeepEmptyHash:
		p = a.KeepEmptyHash
	case AnnotationName:
		p = a.Name
	case AnnotationVersions:
		p = a.Versions
	case AnnotationPlatform:
		p = a.Platform
	case AnnotationRegistry:
		p = a.Registry
	case AnnotationWholeDigest:
		p = a.WholeDigest
	case AnnotationWholeSize:
		p = a.WholeSize
	case AnnotationWholeMediaType:
		p = a.WholeMediaType
	case AnnotationParts:
		p = a.Parts
	}
	if p == nil {
		return "", false
	}
	return *p, true
}

// descriptor is the entry's descriptor without annotations.
func (e *pageEntry) descriptor() ocispec.Descriptor {
	return plainDescriptor(ocispec.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size, ArtifactType: e.ArtifactType})
}

// parse reads the entry's item as parseDescriptor does.
func (e *pageEntry) parse() (Item, int, error) {
	return parseEntry(e.descriptor(), e.Annotations.get)
}

// readPage fetches and decodes an index page of the given artifactType,
// with readIndex's checks.
func readPage(ctx context.Context, src content.Fetcher, d ocispec.Descriptor, artifactType string) (*indexPage, error) {
	if d.MediaType != ocispec.MediaTypeImageIndex {
		return nil, formatErrorf("index %s: media type %q: want %s", d.Digest, d.MediaType, ocispec.MediaTypeImageIndex)
	}
	b, err := readBounded(ctx, src, d, MaxMetadataSize)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	var idx indexPage
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, formatErrorf("index %s: %v", d.Digest, err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
		return nil, formatErrorf("index %s: not an OCI image index (schemaVersion %d, mediaType %q)", d.Digest, idx.SchemaVersion, idx.MediaType)
	}
	if idx.ArtifactType != artifactType {
		return nil, formatErrorf("index %s: artifactType %q: want %s", d.Digest, idx.ArtifactType, artifactType)
	}
	return &idx, nil
}
