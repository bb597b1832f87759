package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"oras.land/oras-go/v2/content"
)

// Entry is one content item of a bundle with the descriptor of its
// manifest (as the bundle index lists it, annotations included).
//
// Item.Layers of an entry read by Read holds the tarball as one layer, or
// the parts in order, with MediaType, Digest and Size only.
type Entry struct {
	Item
	Manifest ocispec.Descriptor
}

// Bundle is a bundle as Read found it.
type Bundle struct {
	// Index is the descriptor Read was given.
	Index ocispec.Descriptor
	// Annotations are the top index's annotations.
	Annotations map[string]string
	// Created is the org.opencontainers.image.created annotation, zero if
	// absent.
	Created time.Time
	// Entries are the registry, package and artifact items, in index order
	// (which PushIndex makes deterministic), without duplicates.
	Entries []Entry
	// Report is the bundle's report, nil if it has none.
	Report *Report
}

// Read reads the bundle whose top index is index: it walks nested indexes
// (at most 8 levels), reads every item's identity from its descriptor's
// annotations, and fetches the manifests of split items (to learn their
// parts) and of the report. Item manifests of unsplit items are not
// fetched: the index, which is what gets signed, carries everything a
// server needs. Use Check to compare every manifest against its
// descriptor.
//
// Every manifest and index is read through a MaxMetadataSize cap and
// digest-verified. A malformed annotation is an error wrapping ErrFormat
// that names the descriptor's digest.
func Read(ctx context.Context, src content.Fetcher, index ocispec.Descriptor) (*Bundle, error) {
	idx, err := readIndex(ctx, src, index, ArtifactTypeBundle)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Index: index, Annotations: idx.Annotations}
	if s, ok := idx.Annotations[ocispec.AnnotationCreated]; ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, formatErrorf("index %s: %s %q: not RFC 3339", index.Digest, ocispec.AnnotationCreated, s)
		}
		b.Created = t
	}
	seen := map[string]bool{}
	var walk func(idx *ocispec.Index, depth int) error
	walk = func(idx *ocispec.Index, depth int) error {
		// Entries are several hundred bytes and a bundle may hold 100k:
		// grow once per index instead of doubling.
		b.Entries = slices.Grow(b.Entries, len(idx.Manifests))
		for _, d := range idx.Manifests {
			if err := ctx.Err(); err != nil {
				return err
			}
			if seen[d.Digest.String()] {
				continue
			}
			seen[d.Digest.String()] = true
			if d.MediaType == ocispec.MediaTypeImageIndex {
				if depth+1 >= maxDepth {
					return formatErrorf("index %s: nested deeper than %d", d.Digest, maxDepth)
				}
				child, err := readIndex(ctx, src, d, ArtifactTypeSubindex)
				if err != nil {
					return err
				}
				if err := walk(child, depth+1); err != nil {
					return err
				}
				continue
			}
			it, parts, err := parseDescriptor(d)
			if err != nil {
				return err
			}
			switch {
			case it.Kind == KindReport:
				if b.Report != nil {
					return formatErrorf("descriptor %s: a second report", d.Digest)
				}
				if b.Report, err = readReport(ctx, src, d); err != nil {
					return err
				}
				continue
			case parts > 0:
				if it, err = loadManifest(ctx, src, d); err != nil {
					return err
				}
			}
			b.Entries = append(b.Entries, Entry{Item: it, Manifest: d})
		}
		return nil
	}
	if err := walk(idx, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// readIndex fetches and decodes an index of the given artifactType.
func readIndex(ctx context.Context, src content.Fetcher, d ocispec.Descriptor, artifactType string) (*ocispec.Index, error) {
	if d.MediaType != ocispec.MediaTypeImageIndex {
		return nil, formatErrorf("index %s: media type %q: want %s", d.Digest, d.MediaType, ocispec.MediaTypeImageIndex)
	}
	b, err := readBounded(ctx, src, d, MaxMetadataSize)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	var idx ocispec.Index
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

// loadManifest fetches the manifest of an item descriptor, checks that it
// matches the descriptor's annotations, and returns the item with the
// manifest's layers (annotations stripped).
func loadManifest(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) (Item, error) {
	want, parts, err := parseDescriptor(d)
	if err != nil {
		return Item{}, err
	}
	b, err := readBounded(ctx, src, d, MaxMetadataSize)
	if err != nil {
		return Item{}, fmt.Errorf("%s: manifest: %w", want, err)
	}
	return checkManifest(b, d, want, parts)
}

// checkManifest decodes manifest bytes and checks them against the item
// the descriptor announced.
func checkManifest(b []byte, d ocispec.Descriptor, want Item, parts int) (Item, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Item{}, fmt.Errorf("%s: manifest %s: decoding: %v: %w", want, d.Digest, err, ErrIntegrity)
	}
	return checkDecoded(&m, d, want, parts)
}

// checkDecoded is checkManifest of a manifest already decoded.
func checkDecoded(m *ocispec.Manifest, d ocispec.Descriptor, want Item, parts int) (Item, error) {
	bad := func(format string, a ...any) (Item, error) {
		return Item{}, fmt.Errorf("%s: manifest %s: %s: %w", want, d.Digest, fmt.Sprintf(format, a...), ErrIntegrity)
	}
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest {
		return bad("not an OCI image manifest")
	}
	if m.ArtifactType != want.Kind.ArtifactType() {
		return bad("artifactType %q, want %s", m.ArtifactType, want.Kind.ArtifactType())
	}
	if !sameBlob(m.Config, emptyConfig()) {
		return bad("config %s is not the empty descriptor", m.Config.Digest)
	}
	got, err := ParseIdentity(m.Annotations)
	if err != nil {
		return bad("%v", err)
	}
	if !sameIdentity(got, want) {
		return bad("identity %q differs from the index's %q", got, want)
	}
	if want.ArtifactsTOML, err = parseArtifactsTOML(m.Annotations); err != nil {
		return bad("%v", err)
	}
	if want.ArtifactsTOML != nil && want.Kind != KindPackage {
		return bad("%s on a %s", AnnotationArtifactsTOML, want.Kind)
	}
	if want.Kind == KindReport {
		return want, nil
	}
	layers := make([]ocispec.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		layers[i] = ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
	}
	switch {
	case parts == 0:
		if len(layers) != 1 || !sameBlob(layers[0], want.Whole) {
			return bad("layers do not match the index's single tarball %s", want.Whole.Digest)
		}
	default:
		if len(layers) != parts {
			return bad("%d layers, the index says %d parts", len(layers), parts)
		}
		whole, err := parseWhole(m.Annotations)
		if err != nil {
			return bad("%v", err)
		}
		if !sameBlob(whole, want.Whole) {
			return bad("whole tarball %s differs from the index's %s", whole.Digest, want.Whole.Digest)
		}
		var sum int64
		for i, l := range layers {
			if l.MediaType != MediaTypePart || l.Size <= 0 || ocigraph.ValidateDigest(l.Digest) != nil {
				return bad("part %d: bad descriptor", i)
			}
			sum += l.Size
		}
		if sum != want.Whole.Size {
			return bad("parts add up to %d bytes, whole is %d", sum, want.Whole.Size)
		}
	}
	want.Layers = layers
	return want, nil
}

func sameIdentity(a, b Item) bool {
	return a.Kind == b.Kind && a.UUID == b.UUID && a.TreeHash == b.TreeHash &&
		a.KeepEmptyHash == b.KeepEmptyHash && a.Name == b.Name &&
		slices.Equal(a.Versions, b.Versions) && a.Platform == b.Platform && a.Registry == b.Registry
}
