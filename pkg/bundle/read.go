package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"oras.land/oras-go/v2/content"
)

// Entry is one content item of a bundle with the descriptor of its
// manifest (as the bundle index lists it: media type, digest, size and
// artifactType; the annotations it was read from are dropped, since Item
// holds what they say; IndexDescriptor gives them back).
//
// Item.Layers of an entry read by Read holds the tarball as one layer, or
// the parts in order, with MediaType, Digest and Size only.
type Entry struct {
	Item
	Manifest ocispec.Descriptor
}

// IndexDescriptor returns the entry's descriptor as a bundle index lists
// it: the manifest's media type, digest, size and artifactType with the
// annotations of the item's identity, whole tarball and parts (FORMAT.md
// §4.2), which are a function of the item.
func (e Entry) IndexDescriptor() ocispec.Descriptor {
	if e.Manifest.Annotations != nil {
		return cleanDescriptor(e.Manifest) // as EntryOf kept it
	}
	d := ocispec.Descriptor{MediaType: e.Manifest.MediaType, Digest: e.Manifest.Digest, Size: e.Manifest.Size,
		ArtifactType: e.Manifest.ArtifactType}
	it := e.Item
	if n, err := it.normalize(); err == nil {
		it = n
	}
	d.Annotations = it.identityAnnotations()
	if it.Kind != KindReport {
		wholeAnnotations(d.Annotations, it.Whole)
		if len(it.Layers) > 1 {
			d.Annotations[AnnotationParts] = strconv.Itoa(len(it.Layers))
		}
	}
	return d
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
// that names the descriptor's digest. Read is Walk keeping the entries;
// an entry takes well under a kilobyte.
func Read(ctx context.Context, src content.Fetcher, index ocispec.Descriptor) (*Bundle, error) {
	var entries []Entry
	b, err := walk(ctx, src, index, func(n int) { entries = slices.Grow(entries, n) }, func(e Entry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.Entries = entries
	return b, nil
}

// Walk reads the bundle as Read does and calls fn with every entry, in
// index order, without keeping them: it holds one index of the nested
// graph at a time (at most MaxMetadataSize bytes), however many items the
// bundle has. The bundle it returns has no Entries. An error from fn stops
// the walk and is returned.
func Walk(ctx context.Context, src content.Fetcher, index ocispec.Descriptor, fn func(Entry) error) (*Bundle, error) {
	return walk(ctx, src, index, nil, fn)
}

// Header reads only a bundle's top index: the bundle it returns has Index,
// Annotations (with the item counts and size, FORMAT.md §4.2) and Created,
// and no Entries or Report.
func Header(ctx context.Context, src content.Fetcher, index ocispec.Descriptor) (*Bundle, error) {
	idx, err := readPage(ctx, src, index, ArtifactTypeBundle)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Index: index, Annotations: idx.Annotations}
	if b.Created, err = parseCreated(index, idx.Annotations); err != nil {
		return nil, err
	}
	return b, nil
}

// walk is Walk, with grow called with each index's entry count.
func walk(ctx context.Context, src content.Fetcher, index ocispec.Descriptor, grow func(int), fn func(Entry) error) (*Bundle, error) {
	idx, err := readPage(ctx, src, index, ArtifactTypeBundle)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Index: index, Annotations: idx.Annotations}
	if b.Created, err = parseCreated(index, idx.Annotations); err != nil {
		return nil, err
	}
	// Entries are several hundred bytes and a bundle may hold 100k: grow
	// once, to the item count the index announces (§4.2), else once per
	// index page instead of doubling.
	sized := false
	if grow != nil {
		if n := announcedItems(idx.Annotations); n > 0 && n <= maxAnnouncedItems {
			grow(n + 16) // and the few entries no count covers (advisories)
			sized = true
		}
	}
	seen := map[digest.Digest]bool{}
	var visit func(idx *indexPage, depth int) error
	visit = func(idx *indexPage, depth int) error {
		if grow != nil && !sized {
			grow(len(idx.Manifests))
		}
		var pf *pagePrefetch
		if depth == 0 {
			pf = prefetch(ctx, src, idx)
			defer pf.stop()
		}
		for i := range idx.Manifests {
			pe := &idx.Manifests[i]
			d := pe.descriptor()
			if err := ctx.Err(); err != nil {
				return err
			}
			child, childErr := pf.take(ctx, d)
			if seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			if d.MediaType == ocispec.MediaTypeImageIndex {
				if depth+1 >= maxDepth {
					return formatErrorf("index %s: nested deeper than %d", d.Digest, maxDepth)
				}
				if child == nil && childErr == nil {
					child, childErr = readPage(ctx, src, d, ArtifactTypeSubindex)
				}
				if childErr != nil {
					return childErr
				}
				if err := visit(child, depth+1); err != nil {
					return err
				}
				continue
			}
			it, parts, err := pe.parse()
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
				if it, err = loadEntryManifest(ctx, src, d, it, parts); err != nil {
					return err
				}
			}
			if err := fn(Entry{Item: it, Manifest: d}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(idx, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// maxAnnouncedItems bounds the entries Read allocates for up front from
// an index's announced counts (a signed but absurd count cannot make it
// allocate more; beyond it, it grows as it reads).
const maxAnnouncedItems = 4 << 20

// announcedItems is the item count a top index announces (registries,
// packages, artifacts), 0 when it announces none or nonsense.
func announcedItems(a map[string]string) int {
	n := 0
	for _, k := range []string{AnnotationRegistries, AnnotationPackages, AnnotationArtifacts} {
		v, err := strconv.Atoi(a[k])
		if err != nil || v < 0 {
			return 0
		}
		n += v
	}
	return n
}

// parseCreated reads the created annotation of a top index.
func parseCreated(index ocispec.Descriptor, a map[string]string) (time.Time, error) {
	s, ok := a[ocispec.AnnotationCreated]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, formatErrorf("index %s: %s %q: not RFC 3339", index.Digest, ocispec.AnnotationCreated, s)
	}
	return t, nil
}

// plainDescriptor is d without annotations (and without the fields a
// bundle index never sets), its media type and artifactType the package's
// constants when they are: a bundle of 100,000 items keeps one copy of
// each, not 100,000.
func plainDescriptor(d ocispec.Descriptor) ocispec.Descriptor {
	if d.MediaType == ocispec.MediaTypeImageManifest {
		d.MediaType = ocispec.MediaTypeImageManifest
	}
	for _, k := range []Kind{KindPackage, KindArtifact, KindRegistry, KindReport, KindAdvisories} {
		if at := k.ArtifactType(); d.ArtifactType == at {
			d.ArtifactType = at
			break
		}
	}
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
}

// loadEntryManifest is loadManifest of an entry already parsed (want,
// parts) whose descriptor d has no annotations.
func loadEntryManifest(ctx context.Context, src content.Fetcher, d ocispec.Descriptor, want Item, parts int) (Item, error) {
	b, err := readBounded(ctx, src, d, MaxMetadataSize)
	if err != nil {
		return Item{}, fmt.Errorf("%s: manifest: %w", want, err)
	}
	return checkManifest(b, d, want, parts)
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
	var m itemManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Item{}, fmt.Errorf("%s: manifest %s: decoding: %v: %w", want, d.Digest, err, ErrIntegrity)
	}
	layers := make([]ocispec.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		layers[i] = l.descriptor()
	}
	return checkView(manifestView{schemaVersion: m.SchemaVersion, mediaType: m.MediaType, artifactType: m.ArtifactType,
		config: m.Config.descriptor(), layers: layers, get: m.Annotations.get}, d, want, parts)
}

// itemManifest is an item manifest as checkManifest decodes it: its
// annotations into fields for the keys an item manifest may carry (no
// map per manifest: a bundle has 100,000), its blobs without theirs.
type itemManifest struct {
	SchemaVersion int                 `json:"schemaVersion"`
	MediaType     string              `json:"mediaType"`
	ArtifactType  string              `json:"artifactType"`
	Config        plainBlob           `json:"config"`
	Layers        []plainBlob         `json:"layers"`
	Annotations   manifestAnnotations `json:"annotations"`
}

type plainBlob struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

func (b plainBlob) descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
}

// manifestAnnotations are an item manifest's annotations: a descriptor's
// (identity, whole tarball, parts) and the recorded Artifacts.toml files.
type manifestAnnotations struct {
	pageAnnotations
	ArtifactsTOML *string `json:"dev.shoebox.julia.artifacts-toml"`
}

func (a *manifestAnnotations) get(key string) (string, bool) {
	if key == AnnotationArtifactsTOML {
		if a.ArtifactsTOML == nil {
			return "", false
		}
		return *a.ArtifactsTOML, true
	}
	return a.pageAnnotations.get(key)
}

// manifestView is what checkView reads of a decoded item manifest.
type manifestView struct {
	schemaVersion           int
	mediaType, artifactType string
	config                  ocispec.Descriptor
	layers                  []ocispec.Descriptor // MediaType, Digest, Size
	get                     func(key string) (string, bool)
}

// checkDecoded is checkManifest of a manifest already decoded.
func checkDecoded(m *ocispec.Manifest, d ocispec.Descriptor, want Item, parts int) (Item, error) {
	layers := make([]ocispec.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		layers[i] = ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
	}
	return checkView(manifestView{schemaVersion: m.SchemaVersion, mediaType: m.MediaType, artifactType: m.ArtifactType,
		config: m.Config, layers: layers, get: func(k string) (string, bool) { v, ok := m.Annotations[k]; return v, ok }}, d, want, parts)
}

// checkView checks a decoded item manifest against the item its index
// descriptor announced, and returns the item with its layers.
func checkView(m manifestView, d ocispec.Descriptor, want Item, parts int) (Item, error) {
	bad := func(format string, a ...any) (Item, error) {
		return Item{}, fmt.Errorf("%s: manifest %s: %s: %w", want, d.Digest, fmt.Sprintf(format, a...), ErrIntegrity)
	}
	if m.schemaVersion != 2 || m.mediaType != ocispec.MediaTypeImageManifest {
		return bad("not an OCI image manifest")
	}
	if m.artifactType != want.Kind.ArtifactType() {
		return bad("artifactType %q, want %s", m.artifactType, want.Kind.ArtifactType())
	}
	if !sameBlob(m.config, emptyConfig()) {
		return bad("config %s is not the empty descriptor", m.config.Digest)
	}
	got, err := parseIdentity(m.get)
	if err != nil {
		return bad("%v", err)
	}
	if !sameIdentity(got, want) {
		return bad("identity %q differs from the index's %q", got, want)
	}
	if want.ArtifactsTOML, err = parseArtifactsTOMLFrom(m.get); err != nil {
		return bad("%v", err)
	}
	if want.ArtifactsTOML != nil && want.Kind != KindPackage {
		return bad("%s on a %s", AnnotationArtifactsTOML, want.Kind)
	}
	if want.Kind == KindReport {
		return want, nil
	}
	layers := m.layers
	switch {
	case parts == 0:
		if len(layers) != 1 || !sameBlob(layers[0], want.Whole) {
			return bad("layers do not match the index's single tarball %s", want.Whole.Digest)
		}
	default:
		if len(layers) != parts {
			return bad("%d layers, the index says %d parts", len(layers), parts)
		}
		whole, err := parseWholeFrom(m.get)
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
