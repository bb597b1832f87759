package bundle

import (
	"context"
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// ReadItem reads an item manifest found without its index descriptor (for
// example an untagged root of a layout left by an interrupted push) and
// returns its identity, layers and whole tarball descriptor, from the
// manifest's own annotations. The manifest is read through the
// MaxMetadataSize cap, digest-verified, and checked as Check checks a
// manifest against its index entry: artifactType, empty config, a single
// tarball layer or two or more parts adding up to the annotated whole.
func ReadItem(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) (Item, error) {
	b, err := readBounded(ctx, src, d, MaxMetadataSize)
	if err != nil {
		return Item{}, fmt.Errorf("manifest %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Item{}, formatErrorf("manifest %s: %v", d.Digest, err)
	}
	want, err := ParseIdentity(m.Annotations)
	if err != nil {
		return Item{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if want.Kind == KindReport {
		return Item{}, formatErrorf("manifest %s: a report, not an item", d.Digest)
	}
	parts := 0
	switch {
	case len(m.Layers) == 1:
		l := m.Layers[0]
		want.Whole = ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
		if !isTarballType(l.MediaType) {
			return Item{}, formatErrorf("manifest %s: layer media type %q: want %s or %s", d.Digest, l.MediaType, MediaTypeTarGzip, MediaTypeTarZstd)
		}
	case len(m.Layers) > 1:
		parts = len(m.Layers)
		if want.Whole, err = parseWhole(m.Annotations); err != nil {
			return Item{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
	default:
		return Item{}, formatErrorf("manifest %s: no layers", d.Digest)
	}
	return checkDecoded(&m, d, want, parts)
}
