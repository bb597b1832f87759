package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"oras.land/oras-go/v2/content"
)

// IndexOptions are the bundle-level facts PushIndex writes into the top
// index's annotations. The zero value is valid and writes only the summary.
type IndexOptions struct {
	// Created is written as org.opencontainers.image.created (RFC 3339, UTC,
	// seconds). It is the only timestamp of the format, and what "newest"
	// means when several bundles hold snapshots of one registry. Zero: left out.
	Created time.Time
	// ToolVersion is written as AnnotationToolVersion when not empty.
	ToolVersion string
	// Platforms are the target platform triplets, written sorted as
	// AnnotationPlatforms when not empty.
	Platforms []string
	// Inputs name what the bundle was collected from (Manifest.toml paths,
	// package specs), written as a JSON array in AnnotationInputs when not
	// empty.
	Inputs []string
	// PushKey is written as AnnotationPushKey when not empty.
	PushKey string
	// Annotations are extra annotations for the top index. Keys under
	// "dev.shoebox." and org.opencontainers.image.created are reserved and
	// rejected.
	Annotations map[string]string
	// MaxEntries is the most descriptors one index holds; larger bundles
	// nest child indexes (artifactType ArtifactTypeSubindex). If ≤ 0,
	// DefaultMaxEntries (1000) is used; values below 2 are raised to 2.
	MaxEntries int
}

// PushIndex writes a bundle: an image index (artifactType
// ArtifactTypeBundle) over the item descriptors returned by PushItem and
// PushReport, sorted deterministically (kind, uuid, tree hash, platform,
// name, digest) and deduplicated by digest, with the summary and opts in its
// annotations. When there are more than opts.MaxEntries items it writes
// child indexes of at most MaxEntries entries each, level by level, and the
// top index lists those. It returns the top index's descriptor.
//
// The same items and options always give the same bytes. Every descriptor
// must carry the annotations PushItem wrote; at most one may be a report.
func PushIndex(ctx context.Context, dst Pusher, items []ocispec.Descriptor, opts IndexOptions) (ocispec.Descriptor, error) {
	byDigest := map[string]int{}
	var list []keyed
	for _, d := range items {
		it, _, err := parseDescriptor(d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if i, ok := byDigest[d.Digest.String()]; ok {
			if !sameDescriptor(list[i].desc, d) {
				return ocispec.Descriptor{}, formatErrorf("descriptor %s given twice with different fields", d.Digest)
			}
			continue
		}
		byDigest[d.Digest.String()] = len(list)
		list = append(list, keyed{desc: cleanDescriptor(d), it: it})
	}
	return pushIndex(ctx, dst, list, opts)
}

// PushIndexEntries is PushIndex over entries (EntryOf of the descriptors
// PushItem and PushReport returned, or entries Read gave): the same
// bytes, but each item's index annotations are made as its page of the
// index is written instead of being held for every item at once (a bundle
// of 100,000 items would hold 100,000 annotation maps).
func PushIndexEntries(ctx context.Context, dst Pusher, entries []Entry, opts IndexOptions) (ocispec.Descriptor, error) {
	byDigest := make(map[digest.Digest]int, len(entries))
	list := make([]keyed, 0, len(entries))
	for _, e := range entries {
		if e.Manifest.Annotations != nil {
			// Listed as it is (EntryOf keeps reports and split items
			// so): its annotations decide, as in PushIndex.
			it, _, err := parseDescriptor(e.Manifest)
			if err != nil {
				return ocispec.Descriptor{}, err
			}
			e.Item = it
		}
		if i, ok := byDigest[e.Manifest.Digest]; ok {
			if !sameBlob(list[i].desc, e.Manifest) || !sameIdentity(list[i].it, e.Item) {
				return ocispec.Descriptor{}, formatErrorf("descriptor %s given twice with different fields", e.Manifest.Digest)
			}
			continue
		}
		byDigest[e.Manifest.Digest] = len(list)
		list = append(list, keyed{desc: e.Manifest, it: e.Item, lazy: e.Manifest.Annotations == nil})
	}
	return pushIndex(ctx, dst, list, opts)
}

// EntryOf reads an item descriptor of a bundle index (as PushItem and
// PushReport return them) into an Entry, for PushIndexEntries: the
// annotations are dropped (the Item holds them), but a report's, which
// also say how many items are missing.
func EntryOf(d ocispec.Descriptor) (Entry, error) {
	it, parts, err := parseDescriptor(d)
	if err != nil {
		return Entry{}, err
	}
	if it.Kind == KindReport || parts > 0 {
		// A report's annotations also count what is missing; a split
		// item's its parts, which its Item does not hold until its
		// manifest is read. Rare: kept as they are.
		return Entry{Item: it, Manifest: cleanDescriptor(d)}, nil
	}
	return Entry{Item: it, Manifest: plainDescriptor(d)}, nil
}

// keyed is one index entry being written: its descriptor (with its
// annotations, or without when lazy: made from it when written) and item.
type keyed struct {
	desc ocispec.Descriptor
	it   Item
	lazy bool
}

// indexDesc is the descriptor the index lists.
func (k keyed) indexDesc() ocispec.Descriptor {
	if !k.lazy {
		return k.desc
	}
	return Entry{Item: k.it, Manifest: k.desc}.IndexDescriptor()
}

// pushIndex sorts and writes the entries.
func pushIndex(ctx context.Context, dst Pusher, list []keyed, opts IndexOptions) (ocispec.Descriptor, error) {
	slices.SortFunc(list, func(a, b keyed) int { return compareItems(&a.it, a.desc.Digest, &b.it, b.desc.Digest) })

	ann, err := indexAnnotations(opts)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	counts := map[Kind]int{}
	wholes := map[string]bool{}
	var size int64
	reports := 0
	for _, k := range list {
		counts[k.it.Kind]++
		if k.it.Kind == KindReport {
			reports++
			if m, ok := k.desc.Annotations[AnnotationMissing]; ok {
				ann[AnnotationMissing] = m
			}
			continue
		}
		if !wholes[k.it.Whole.Digest.String()] {
			wholes[k.it.Whole.Digest.String()] = true
			size += k.it.Whole.Size
		}
	}
	if reports > 1 {
		return ocispec.Descriptor{}, formatErrorf("%d reports; a bundle holds at most one", reports)
	}
	ann[AnnotationRegistries] = strconv.Itoa(counts[KindRegistry])
	ann[AnnotationPackages] = strconv.Itoa(counts[KindPackage])
	ann[AnnotationArtifacts] = strconv.Itoa(counts[KindArtifact])
	ann[AnnotationSize] = strconv.FormatInt(size, 10)

	maxEntries := opts.MaxEntries
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	maxEntries = max(maxEntries, 2)
	// The first level a page at a time (the items' annotations are made
	// for one page at a time), then the pages of pages.
	var entries []ocispec.Descriptor
	if len(list) <= maxEntries {
		for _, k := range list {
			entries = append(entries, k.indexDesc())
		}
	} else {
		page := make([]ocispec.Descriptor, 0, maxEntries)
		for chunk := range slices.Chunk(list, maxEntries) {
			page = page[:0]
			for _, k := range chunk {
				page = append(page, k.indexDesc())
			}
			d, err := pushIndexDoc(ctx, dst, ArtifactTypeSubindex, page, nil)
			if err != nil {
				return ocispec.Descriptor{}, err
			}
			entries = append(entries, d)
		}
	}
	for len(entries) > maxEntries {
		var next []ocispec.Descriptor
		for chunk := range slices.Chunk(entries, maxEntries) {
			d, err := pushIndexDoc(ctx, dst, ArtifactTypeSubindex, chunk, nil)
			if err != nil {
				return ocispec.Descriptor{}, err
			}
			next = append(next, d)
		}
		entries = next
	}
	return pushIndexDoc(ctx, dst, ArtifactTypeBundle, entries, ann)
}

// cleanDescriptor keeps the fields an index entry carries.
func cleanDescriptor(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType, Annotations: d.Annotations}
}

func sameDescriptor(a, b ocispec.Descriptor) bool {
	if !sameBlob(a, b) || a.ArtifactType != b.ArtifactType || len(a.Annotations) != len(b.Annotations) {
		return false
	}
	for k, v := range a.Annotations {
		if w, ok := b.Annotations[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func indexAnnotations(opts IndexOptions) (map[string]string, error) {
	ann := map[string]string{}
	for k, v := range opts.Annotations {
		if strings.HasPrefix(k, "dev.shoebox.") || k == ocispec.AnnotationCreated {
			return nil, formatErrorf("annotation %s is reserved", k)
		}
		ann[k] = v
	}
	if !opts.Created.IsZero() {
		ann[ocispec.AnnotationCreated] = opts.Created.UTC().Format(time.RFC3339)
	}
	if opts.ToolVersion != "" {
		ann[AnnotationToolVersion] = opts.ToolVersion
	}
	if opts.PushKey != "" {
		if _, ok := ocigraph.SHA256Hex(digest.Digest("sha256:" + opts.PushKey)); !ok {
			return nil, formatErrorf("push key %q is not 64 lowercase hex digits", opts.PushKey)
		}
		ann[AnnotationPushKey] = opts.PushKey
	}
	if len(opts.Platforms) > 0 {
		ps := slices.Clone(opts.Platforms)
		slices.Sort(ps)
		ps = slices.Compact(ps)
		for _, p := range ps {
			if !validToken(p) {
				return nil, formatErrorf("platform %q is not a triplet", p)
			}
		}
		ann[AnnotationPlatforms] = strings.Join(ps, ",")
	}
	if len(opts.Inputs) > 0 {
		b, err := json.Marshal(opts.Inputs)
		if err != nil {
			return nil, fmt.Errorf("encoding inputs: %w", err)
		}
		ann[AnnotationInputs] = string(b)
	}
	return ann, nil
}

// pushIndexDoc writes one index document and returns its descriptor.
func pushIndexDoc(ctx context.Context, dst Pusher, artifactType string, entries []ocispec.Descriptor, ann map[string]string) (ocispec.Descriptor, error) {
	idx := ocispec.Index{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageIndex,
		ArtifactType: artifactType,
		Manifests:    entries,
		Annotations:  ann,
	}
	if len(ann) == 0 {
		idx.Annotations = nil
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encoding index: %w", err)
	}
	if len(b) > MaxMetadataSize {
		return ocispec.Descriptor{}, formatErrorf("index of %d entries is %d bytes, limit %d; lower MaxEntries", len(entries), len(b), MaxMetadataSize)
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b)
	desc.ArtifactType = artifactType
	if err := pushIfAbsent(ctx, dst, desc, b); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("index %s: pushing: %w", desc.Digest, err)
	}
	return desc, nil
}
