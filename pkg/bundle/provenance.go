package bundle

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// A provenance record (FORMAT.md §10) says where the push that wrote a
// bundle got each item: the URL it fetched the tarball from, or that the
// destination already held it; and which sources failed to give an item
// before another gave it. It is not part of the bundle (the bundle stays a
// pure function of the request) but an OCI 1.1 referrer of the bundle
// index, written by the pusher and not signed.
const (
	// ArtifactTypeProvenance is the artifactType of a provenance record's
	// manifest.
	ArtifactTypeProvenance = "application/vnd.shoebox.provenance.v1"
	// MediaTypeProvenance is the media type of its layer, the record's
	// JSON, titled ProvenanceTitle (or of its layers, when the record is
	// too large for one: ProvenancePartTitle).
	MediaTypeProvenance = "application/vnd.shoebox.provenance.v1+json"
	// ProvenanceTitle is the record layer's org.opencontainers.image.title.
	ProvenanceTitle = "provenance.json"
	// ProvenanceSchemaVersion is the schemaVersion of the record JSON this
	// package writes and reads.
	ProvenanceSchemaVersion = 1
	// MaxProvenanceSize bounds a record layer's JSON (about 300 bytes an
	// item: ~200,000 items). A larger record is written in parts
	// (EncodeParts), one layer each.
	MaxProvenanceSize = 64 << 20
	// MaxProvenanceParts bounds the layers of a record.
	MaxProvenanceParts = 64
	// maxProvenanceTotal bounds a record's layers together, checked on
	// their descriptors before any is read: what maxProvenanceItems items
	// take (a hostile store must not make a reader hold 64 × 64 MiB).
	maxProvenanceTotal = 512 << 20
	// maxProvenanceItems bounds the items of a record.
	maxProvenanceItems = 1 << 20
	// maxProvenanceURL bounds a recorded URL, and a failed source.
	maxProvenanceURL = 8 << 10
	// maxProvenanceReason bounds the reason of a source failure.
	maxProvenanceReason = 16 << 10
)

// Method says how the push that wrote a record got an item.
type Method string

// The methods of a provenance record item.
const (
	// MethodFetched: the tarball's bytes were read as they are from URL
	// (a Pkg server's resource URL, a static mirror's file:// URL, an
	// Artifacts.toml download URL, a depot's registry tarball).
	MethodFetched Method = "fetched"
	// MethodPacked: shoebox made the tarball from the directory URL names
	// (a depot's package or artifact, an unpacked registry, a registry
	// checkout, the --advisories source), deterministically, and checked
	// its tree hash.
	MethodPacked Method = "packed"
	// MethodReused: the destination already held the item (stored by an
	// earlier push, or an interrupted run of this one); the push fetched
	// nothing for it and cannot say where it came from.
	MethodReused Method = "reused"
	// MethodInventory: the item is not carried: the inside store's
	// inventory (push --inventory) says it holds it.
	MethodInventory Method = "inventory"
)

func (m Method) valid() bool {
	switch m {
	case MethodFetched, MethodPacked, MethodReused, MethodInventory:
		return true
	}
	return false
}

// Provenance is a provenance record.
type Provenance struct {
	// SchemaVersion is ProvenanceSchemaVersion.
	SchemaVersion int `json:"schemaVersion"`
	// Bundle is the digest of the bundle index the record describes (the
	// subject of its manifest).
	Bundle digest.Digest `json:"bundle"`
	// ToolVersion is the version of the tool that pushed.
	ToolVersion string `json:"toolVersion,omitempty"`
	// Items are the bundle's items (its report excepted), sorted by kind,
	// name, uuid, tree hash, platform and digest.
	Items []ProvenanceItem `json:"items"`
	// SourceFailures are the sources that failed to give an item during
	// the push (its content failed verification, the transfer failed
	// after its retries, it stalled) before the next source was tried;
	// sorted (SortSourceFailures). Bundles written before this field had
	// them in their report (Report.SourceFailures).
	SourceFailures []SourceFailure `json:"sourceFailures,omitempty"`

	// Manifest is the record's manifest in the store, set by
	// ReadProvenance (not encoded).
	Manifest ocispec.Descriptor `json:"-"`
}

// ProvenanceItem is where one item of the bundle came from.
type ProvenanceItem struct {
	Kind     Kind          `json:"kind"`
	Name     string        `json:"name,omitempty"`
	UUID     julia.UUID    `json:"uuid,omitzero"`
	TreeHash treehash.Hash `json:"treeHash"`
	Platform string        `json:"platform,omitempty"`
	// Digest is the whole tarball's (AnnotationWholeDigest): the bytes
	// the record speaks of.
	Digest digest.Digest `json:"digest"`
	Method Method        `json:"method"`
	// URL is where they came from: required for MethodFetched, optional
	// for MethodPacked, absent otherwise. An absolute URL without user
	// information.
	URL string `json:"url,omitempty"`
}

// NewProvenance makes the record of the bundle whose index is index from
// the entries PushIndexEntries was given: origin says, for each item (the
// report excepted), how the push got it and from where.
func NewProvenance(index ocispec.Descriptor, entries []Entry, toolVersion string, origin func(Item) (Method, string)) (*Provenance, error) {
	p := &Provenance{SchemaVersion: ProvenanceSchemaVersion, Bundle: index.Digest, ToolVersion: toolVersion}
	for _, e := range entries {
		// As the index lists it: the identity and whole tarball, canonical.
		it, _, err := parseDescriptor(e.IndexDescriptor())
		if err != nil {
			return nil, fmt.Errorf("provenance: %w", err)
		}
		if it.Kind == KindReport {
			continue
		}
		m, u := origin(it)
		p.Items = append(p.Items, ProvenanceItem{Kind: it.Kind, Name: it.Name, UUID: it.UUID, TreeHash: it.TreeHash,
			Platform: it.Platform, Digest: it.Whole.Digest, Method: m, URL: u})
	}
	// Sorted here, Encode need not copy 100,000 items to sort them.
	slices.SortFunc(p.Items, compareProvenanceItems)
	p.Items = slices.Compact(p.Items)
	return p, nil
}

// Encode returns the record's JSON in its canonical form: items sorted
// and without duplicates, source failures sorted, Go's encoding/json field
// order, no whitespace, no HTML escaping. The same record gives the same bytes. It refuses a
// record Parse would refuse.
func (p *Provenance) Encode() ([]byte, error) {
	return p.encode(MaxProvenanceSize)
}

// errTooLarge is encode's error for a record over its limit.
var errTooLarge = formatErrorf("provenance record too large")

func (p *Provenance) encode(limit int) ([]byte, error) {
	c := *p
	c.SchemaVersion = ProvenanceSchemaVersion
	if !sortedUnique(p.Items) {
		c.Items = slices.Clone(p.Items)
		slices.SortFunc(c.Items, compareProvenanceItems)
		c.Items = slices.Compact(c.Items)
	}
	if c.Items == nil {
		c.Items = []ProvenanceItem{}
	}
	if len(p.SourceFailures) > 0 {
		c.SourceFailures = slices.Clone(p.SourceFailures)
		SortSourceFailures(c.SourceFailures)
	} else {
		c.SourceFailures = nil
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("provenance: encoding: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d (EncodeParts writes it in parts)", errTooLarge, len(b), limit)
	}
	return b, nil
}

// ProvenancePartTitle is the title of part i (0-based) of a record
// written in parts: provenance.json, provenance-2.json, …
func ProvenancePartTitle(i int) string {
	if i == 0 {
		return ProvenanceTitle
	}
	return fmt.Sprintf("provenance-%d.json", i+1)
}

// EncodeParts returns the record as one or more JSON documents, each at
// most MaxProvenanceSize bytes: one (Encode's bytes) when it fits, else
// parts that are each a complete record with the same schemaVersion,
// bundle and toolVersion, holding a run of the sorted items in order, the
// source failures in the first (FORMAT.md §10). ReadProvenance merges
// them back.
func (p *Provenance) EncodeParts() ([][]byte, error) {
	return p.encodeParts(MaxProvenanceSize)
}

func (p *Provenance) encodeParts(limit int) ([][]byte, error) {
	c := *p
	if !sortedUnique(c.Items) {
		c.Items = slices.Clone(p.Items)
		slices.SortFunc(c.Items, compareProvenanceItems)
		c.Items = slices.Compact(c.Items)
	}
	if b, err := c.encode(limit); err == nil {
		return [][]byte{b}, nil
	} else if !errors.Is(err, errTooLarge) {
		return nil, err
	}
	// Too large: cut the items into runs that fit, measured one by one
	// (an item's JSON and its comma).
	head := c
	head.Items = nil
	var parts [][]byte
	for start := 0; start < len(c.Items); {
		part := head
		if len(parts) > 0 {
			part.SourceFailures = nil
		}
		part.Items = []ProvenanceItem{}
		empty, err := part.encode(limit)
		if err != nil {
			return nil, err
		}
		size, end := len(empty), start
		for end < len(c.Items) {
			b, err := json.Marshal(c.Items[end])
			if err != nil {
				return nil, fmt.Errorf("provenance: encoding: %w", err)
			}
			if size+len(b)+1 > limit {
				break
			}
			size += len(b) + 1
			end++
		}
		if end == start {
			return nil, formatErrorf("provenance record: item %d does not fit in %d bytes", start, limit)
		}
		part.Items = c.Items[start:end]
		b, err := part.encode(limit)
		if err != nil {
			return nil, err
		}
		parts = append(parts, b)
		start = end
	}
	if len(parts) > MaxProvenanceParts {
		return nil, formatErrorf("provenance record: %d parts of %d bytes, limit %d", len(parts), limit, MaxProvenanceParts)
	}
	return parts, nil
}

// sortedUnique says items are in compareProvenanceItems order without
// duplicates: Encode's form already.
func sortedUnique(items []ProvenanceItem) bool {
	for i := 1; i < len(items); i++ {
		if compareProvenanceItems(items[i-1], items[i]) >= 0 {
			return false
		}
	}
	return true
}

func compareProvenanceItems(a, b ProvenanceItem) int {
	return cmp.Or(
		cmp.Compare(a.Kind.order(), b.Kind.order()),
		strings.Compare(a.Name, b.Name),
		bytes.Compare(a.UUID[:], b.UUID[:]), // as their hex forms compare
		bytes.Compare(a.TreeHash[:], b.TreeHash[:]),
		strings.Compare(a.Platform, b.Platform),
		strings.Compare(string(a.Digest), string(b.Digest)),
		strings.Compare(string(a.Method), string(b.Method)),
		strings.Compare(a.URL, b.URL),
	)
}

// ParseProvenance decodes a record's JSON. Unknown fields are ignored;
// another schemaVersion, an unknown kind or method, a bad digest or tree
// hash, a URL where none belongs (or none where one must be), a URL that
// is not absolute or carries user information, a source failure without
// an item, source or reason, or with control characters, are errors
// wrapping ErrFormat. Items and failures need not be sorted.
func ParseProvenance(b []byte) (*Provenance, error) {
	if len(b) > MaxProvenanceSize {
		return nil, formatErrorf("provenance record is %d bytes, limit %d", len(b), MaxProvenanceSize)
	}
	var p Provenance
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, formatErrorf("provenance record: %v", err)
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Provenance) validate() error {
	if p.SchemaVersion != ProvenanceSchemaVersion {
		return formatErrorf("provenance record: schemaVersion %d, want %d", p.SchemaVersion, ProvenanceSchemaVersion)
	}
	if ocigraph.ValidateDigest(p.Bundle) != nil {
		return formatErrorf("provenance record: bundle %q: not a digest", p.Bundle)
	}
	if !printable(p.ToolVersion, 256) {
		return formatErrorf("provenance record: toolVersion %q: want at most 256 printable characters", p.ToolVersion)
	}
	if len(p.Items) > maxProvenanceItems {
		return formatErrorf("provenance record: %d items, limit %d", len(p.Items), maxProvenanceItems)
	}
	for i, it := range p.Items {
		if err := it.validate(); err != nil {
			return formatErrorf("provenance record: item %d: %v", i, err)
		}
	}
	if len(p.SourceFailures) > maxProvenanceItems {
		return formatErrorf("provenance record: %d source failures, limit %d", len(p.SourceFailures), maxProvenanceItems)
	}
	for i, f := range p.SourceFailures {
		if err := validateSourceFailure(f); err != nil {
			return formatErrorf("provenance record: source failure %d: %v", i, err)
		}
	}
	return nil
}

// validateSourceFailure checks a source failure of a record: a kind of
// item, printable text (what inspect prints comes from whoever wrote the
// store), and a source that keeps no credentials.
func validateSourceFailure(f SourceFailure) error {
	switch f.Kind {
	case KindRegistry, KindPackage, KindArtifact:
	default:
		return fmt.Errorf("kind %q", f.Kind)
	}
	switch {
	case f.Item == "" || !printable(f.Item, 1024):
		return fmt.Errorf("%s: item %q: want 1 to 1024 printable characters", f.Kind, f.Item)
	case f.Source == "" || !printable(f.Source, maxProvenanceURL):
		return fmt.Errorf("%s: source of %s: want 1 to %d printable characters", f.Kind, f.Item, maxProvenanceURL)
	case f.Reason == "" || !printable(f.Reason, maxProvenanceReason):
		return fmt.Errorf("%s: reason for %s: want 1 to %d printable characters", f.Kind, f.Item, maxProvenanceReason)
	}
	if u, err := url.Parse(f.Source); err == nil && u.User != nil {
		return fmt.Errorf("%s: source of %s holds user information", f.Kind, f.Item)
	}
	return nil
}

func (it ProvenanceItem) validate() error {
	switch it.Kind {
	case KindRegistry, KindPackage, KindArtifact, KindAdvisories:
	default:
		return fmt.Errorf("kind %q", it.Kind)
	}
	if it.TreeHash.IsZero() {
		return fmt.Errorf("%s %s: no tree hash", it.Kind, it.Name)
	}
	if ocigraph.ValidateDigest(it.Digest) != nil {
		return fmt.Errorf("%s %s: digest %q", it.Kind, it.Name, it.Digest)
	}
	if !printable(it.Name, 1024) || !printable(it.Platform, 256) {
		return fmt.Errorf("%s %s: name or platform not printable or too long", it.Kind, it.TreeHash)
	}
	if !it.Method.valid() {
		return fmt.Errorf("%s %s: method %q: want fetched, packed, reused or inventory", it.Kind, it.Name, it.Method)
	}
	switch {
	case it.Method == MethodFetched && it.URL == "":
		return fmt.Errorf("%s %s: fetched from no URL", it.Kind, it.Name)
	case (it.Method == MethodReused || it.Method == MethodInventory) && it.URL != "":
		return fmt.Errorf("%s %s: method %s has no URL", it.Kind, it.Name, it.Method)
	case it.URL != "":
		if err := checkURL(it.URL); err != nil {
			return fmt.Errorf("%s %s: url %q: %v", it.Kind, it.Name, it.URL, err)
		}
	}
	return nil
}

// checkURL accepts an absolute URL without user information, of printable
// characters, at most maxProvenanceURL bytes.
func checkURL(s string) error {
	if !printable(s, maxProvenanceURL) || strings.ContainsAny(s, " \t") {
		return fmt.Errorf("not printable, or longer than %d bytes", maxProvenanceURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme == "" || !u.IsAbs() {
		return fmt.Errorf("not an absolute URL")
	}
	if u.User != nil {
		return fmt.Errorf("holds user information")
	}
	return nil
}

// printable: valid UTF-8 without control characters, at most max bytes.
func printable(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// ReadProvenance reads the provenance record whose manifest is d, a
// referrer of the bundle index subject: the manifest (at most
// MaxMetadataSize bytes, digest-checked) must have ArtifactTypeProvenance,
// subject as its subject and one to MaxProvenanceParts
// MediaTypeProvenance layers, whose JSON (each at most MaxProvenanceSize
// bytes, digest-checked) must parse (ParseProvenance), name subject as its
// bundle and, for a record in parts, agree on the tool version; the parts'
// items and source failures are merged in layer order. Errors wrap
// ErrFormat or ErrIntegrity and name the manifest.
func ReadProvenance(ctx context.Context, src content.Fetcher, d ocispec.Descriptor, subject digest.Digest) (*Provenance, error) {
	b, err := readBounded(ctx, src, d, MaxMetadataSize)
	if err != nil {
		return nil, fmt.Errorf("provenance record %s: %w", d.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, formatErrorf("provenance record %s: %v", d.Digest, err)
	}
	switch {
	case m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != ArtifactTypeProvenance:
		return nil, formatErrorf("provenance record %s: media type %q, artifactType %q: want %s, %s", d.Digest,
			m.MediaType, m.ArtifactType, ocispec.MediaTypeImageManifest, ArtifactTypeProvenance)
	case m.Subject == nil || m.Subject.Digest != subject:
		return nil, formatErrorf("provenance record %s: its subject is not the bundle %s", d.Digest, subject)
	case len(m.Layers) == 0 || len(m.Layers) > MaxProvenanceParts:
		return nil, formatErrorf("provenance record %s: %d layers, want 1 to %d", d.Digest, len(m.Layers), MaxProvenanceParts)
	}
	var total int64
	for _, l := range m.Layers {
		total += max(l.Size, 0)
	}
	if total > maxProvenanceTotal {
		return nil, formatErrorf("provenance record %s: layers of %d bytes in all, limit %d", d.Digest, total, maxProvenanceTotal)
	}
	var p *Provenance
	for i, l := range m.Layers {
		if l.MediaType != MediaTypeProvenance {
			return nil, formatErrorf("provenance record %s: layer %d is %q, want %s", d.Digest, i, l.MediaType, MediaTypeProvenance)
		}
		blob, err := readBounded(ctx, src, l, MaxProvenanceSize)
		if err != nil {
			return nil, fmt.Errorf("provenance record %s: %w", d.Digest, err)
		}
		part, err := ParseProvenance(blob)
		if err != nil {
			return nil, fmt.Errorf("provenance record %s: layer %d: %w", d.Digest, i, err)
		}
		if part.Bundle != subject {
			return nil, formatErrorf("provenance record %s: describes bundle %s, not %s", d.Digest, part.Bundle, subject)
		}
		if p == nil {
			p = part
			continue
		}
		if part.ToolVersion != p.ToolVersion {
			return nil, formatErrorf("provenance record %s: layer %d written by %q, layer 0 by %q", d.Digest, i, part.ToolVersion, p.ToolVersion)
		}
		if len(p.Items)+len(part.Items) > maxProvenanceItems {
			return nil, formatErrorf("provenance record %s: more than %d items", d.Digest, maxProvenanceItems)
		}
		p.Items = append(p.Items, part.Items...)
		p.SourceFailures = append(p.SourceFailures, part.SourceFailures...)
	}
	if len(m.Layers) > 1 && !sortedUnique(p.Items) {
		// Parts are runs of one sorted list: a part twice, or out of
		// order, is not a record EncodeParts wrote.
		return nil, formatErrorf("provenance record %s: its %d parts' items are not one sorted run", d.Digest, len(m.Layers))
	}
	p.Manifest = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d.Digest, Size: d.Size, ArtifactType: ArtifactTypeProvenance}
	return p, nil
}

// Counts returns how many items the record gives each method.
func (p *Provenance) Counts() map[Method]int {
	out := map[Method]int{}
	for _, it := range p.Items {
		out[it.Method]++
	}
	return out
}

// CleanSourceFailure returns f as a record holds it: control characters
// (a multi-line error) become spaces, invalid UTF-8 becomes U+FFFD, the
// item, source and reason are cut to the limits a reader accepts, user
// information is removed from the source, and an empty field says
// "unknown". A failure it returns passes ParseProvenance's checks when its
// kind is registry, package or artifact.
func CleanSourceFailure(f SourceFailure) SourceFailure {
	f.Item = cleanText(f.Item, 1024)
	f.Reason = cleanText(f.Reason, maxProvenanceReason)
	f.Source = cleanText(f.Source, maxProvenanceURL)
	if u, err := url.Parse(f.Source); err == nil && u.User != nil {
		u.User = nil
		f.Source = u.String()
	}
	f.Source = cleanText(f.Source, maxProvenanceURL)
	return f
}

// cleanText makes s printable (control characters become spaces, invalid
// UTF-8 U+FFFD), at most max bytes (cut at a character, ending in "…"),
// and not empty.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		cut := max - len("…")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		s = "unknown"
	}
	return s
}
