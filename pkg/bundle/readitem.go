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
// manifest's own annotations.
func ReadItem(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) (Item, error) {
	b, err := readBounded(ctx, src, d, MaxMetadataSize)
	if err != nil {
		return Item{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Item{}, fmt.Errorf("manifest %s: %v: %w", d.Digest, err, ErrFormat)
	}
	it, err := ParseIdentity(m.Annotations)
	if err != nil {
		return Item{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	it.Layers = make([]ocispec.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		it.Layers[i] = ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
	}
	switch {
	case len(m.Layers) == 1:
		it.Whole = it.Layers[0]
	case len(m.Layers) > 1:
		if it.Whole, err = parseWhole(m.Annotations); err != nil {
			return Item{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
	}
	return it, nil
}
