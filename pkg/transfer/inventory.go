package transfer

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// InventorySchemaVersion is the schemaVersion of the inventory JSON this
// package writes and reads.
const InventorySchemaVersion = 1

// MaxInventorySize bounds an inventory file ReadInventory accepts
// (General's 10,000 packages with a few versions each and their artifacts
// stay well under it).
const MaxInventorySize = 256 << 20

// ErrInventory marks an inventory file that is malformed. Test with
// errors.Is.
var ErrInventory = errors.New("invalid inventory")

// Inventory is what a store holds, by digest and by Julia identity:
// `shoebox inventory` writes it inside the air gap, and the outside pushes
// a delta against it (PushOptions.Skip = Inventory.Has): a bundle whose
// index still names every item, but whose layout carries only what the
// inventory lacks. Copying the delta into the inventoried store gives a
// complete bundle; the same inventory always gives the same delta, and
// deltas can be applied in any order once what they were written against is
// in the store.
//
// Its JSON form is deterministic: the same store content gives the same
// bytes (no timestamps; bundles sorted by tag, items by kind, uuid, tree
// hash, platform, name and manifest digest). An Inventory is safe for
// concurrent reads.
type Inventory struct {
	SchemaVersion int `json:"schemaVersion"`
	// Bundles are the store's bundle tags and their index digests.
	Bundles []InventoryBundle `json:"bundles"`
	// Items are the distinct item manifests every bundle references.
	Items []InventoryItem `json:"items"`

	// The lookup tables, built on the first Has or HasDigest (writing an
	// inventory needs none).
	indexOnce  sync.Once
	byResource map[Resource]int
	byDigest   map[digest.Digest]bool
}

// InventoryBundle is one bundle tag of an inventoried store.
type InventoryBundle struct {
	Tag    string        `json:"tag"`
	Digest digest.Digest `json:"digest"`
}

// InventoryItem is one content item of an inventoried store.
type InventoryItem struct {
	Kind     bundle.Kind   `json:"kind"`
	Name     string        `json:"name,omitempty"`
	UUID     julia.UUID    `json:"uuid,omitzero"`
	TreeHash treehash.Hash `json:"treeHash"`
	Platform string        `json:"platform,omitempty"`
	Versions []string      `json:"versions,omitempty"`
	// Manifest is the item manifest's descriptor as a bundle index lists
	// it, with the identity and whole-tarball annotations, so that a
	// delta's index can name the item without holding it.
	Manifest ocispec.Descriptor `json:"manifest"`
	// Layers are the digests of the tarball's blobs (one, or its parts).
	Layers []digest.Digest `json:"layers"`
}

// Resource returns the Pkg resource the item is.
func (it InventoryItem) Resource() Resource {
	return Resource{Kind: ResourceKind(it.Kind), UUID: it.UUID, Hash: it.TreeHash}
}

// Has reports whether the store holds resource r, and returns the item
// manifest's descriptor to reference it by (when several items share r, an
// artifact bound under two names, the first in inventory order). Its
// signature is PushOptions.Skip's.
func (inv *Inventory) Has(r Resource) (ocispec.Descriptor, bool) {
	if inv == nil {
		return ocispec.Descriptor{}, false
	}
	inv.indexOnce.Do(inv.index)
	i, ok := inv.byResource[r]
	if !ok {
		return ocispec.Descriptor{}, false
	}
	return inv.Items[i].Manifest, true
}

// HasDigest reports whether the store holds a bundle index, item manifest
// or tarball blob with digest d.
func (inv *Inventory) HasDigest(d digest.Digest) bool {
	if inv == nil {
		return false
	}
	inv.indexOnce.Do(inv.index)
	return inv.byDigest[d]
}

// index builds the lookup tables.
func (inv *Inventory) index() {
	inv.byResource = map[Resource]int{}
	inv.byDigest = map[digest.Digest]bool{}
	for _, b := range inv.Bundles {
		inv.byDigest[b.Digest] = true
	}
	for i, it := range inv.Items {
		if _, ok := inv.byResource[it.Resource()]; !ok {
			inv.byResource[it.Resource()] = i
		}
		inv.byDigest[it.Manifest.Digest] = true
		for _, l := range it.Layers {
			inv.byDigest[l] = true
		}
	}
}

// WriteTo writes the inventory's deterministic JSON (indented, with a
// final newline).
func (inv *Inventory) WriteTo(w io.Writer) (int64, error) {
	// The bytes of json.MarshalIndent(inv, "", "  "), an item at a time
	// (a General-sized inventory is 100 MB of JSON).
	cw := &countWriter{w: bufio.NewWriterSize(w, 256<<10)}
	fmt.Fprintf(cw, "{\n  \"schemaVersion\": %d,\n", inv.SchemaVersion)
	if err := writeIndentedArray(cw, "bundles", inv.Bundles, ",\n"); err != nil {
		return cw.n, err
	}
	if err := writeIndentedArray(cw, "items", inv.Items, "\n"); err != nil {
		return cw.n, err
	}
	cw.WriteString("}\n")
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, cw.w.(*bufio.Writer).Flush()
}

// writeIndentedArray writes `  "name": [ … ]` as MarshalIndent indents a
// field of the top object, one element at a time, then end.
func writeIndentedArray[T any](cw *countWriter, name string, elems []T, end string) error {
	if len(elems) == 0 {
		cw.WriteString("  \"" + name + "\": []" + end)
		return cw.err
	}
	cw.WriteString("  \"" + name + "\": [\n")
	for i, e := range elems {
		b, err := json.MarshalIndent(e, "    ", "  ")
		if err != nil {
			return fmt.Errorf("encoding inventory: %w", err)
		}
		cw.WriteString("    ")
		cw.Write(b)
		if i < len(elems)-1 {
			cw.WriteString(",")
		}
		cw.WriteString("\n")
	}
	cw.WriteString("  ]" + end)
	return cw.err
}

// countWriter counts what it writes and keeps the first error.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countWriter) WriteString(s string) { c.Write([]byte(s)) }

// compareItems orders items: kind, uuid, tree hash, platform, name,
// manifest digest.
func compareItems(a, b InventoryItem) int {
	return cmp.Or(
		cmp.Compare(a.Kind, b.Kind),
		bytes.Compare(a.UUID[:], b.UUID[:]),
		bytes.Compare(a.TreeHash[:], b.TreeHash[:]),
		cmp.Compare(a.Platform, b.Platform),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Manifest.Digest, b.Manifest.Digest),
	)
}

// ReadInventory parses an inventory (read through MaxInventorySize),
// strictly: unknown fields, another schemaVersion, a descriptor whose
// annotations do not carry the item's identity, or a malformed digest is
// an error wrapping ErrInventory that names the item.
func ReadInventory(r io.Reader) (*Inventory, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInventorySize+1))
	if err != nil {
		return nil, fmt.Errorf("inventory: reading: %w", err)
	}
	if len(data) > MaxInventorySize {
		return nil, fmt.Errorf("inventory: larger than %d bytes: %w", MaxInventorySize, ErrInventory)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var inv Inventory
	if err := dec.Decode(&inv); err != nil {
		return nil, fmt.Errorf("inventory: decoding: %v: %w", err, ErrInventory)
	}
	if dec.More() {
		return nil, fmt.Errorf("inventory: data after the JSON object: %w", ErrInventory)
	}
	if inv.SchemaVersion != InventorySchemaVersion {
		return nil, fmt.Errorf("inventory: schemaVersion %d, want %d: %w", inv.SchemaVersion, InventorySchemaVersion, ErrInventory)
	}
	for i, b := range inv.Bundles {
		if err := ocigraph.ValidateDigest(b.Digest); err != nil {
			return nil, fmt.Errorf("inventory: bundle %d (%q): digest: %v: %w", i, b.Tag, err, ErrInventory)
		}
	}
	for i, it := range inv.Items {
		if err := checkItem(it); err != nil {
			return nil, fmt.Errorf("inventory: item %d (%s %s %s): %v: %w", i, it.Kind, it.Name, it.TreeHash, err, ErrInventory)
		}
	}
	return &inv, nil
}

// checkItem checks that an item's fields agree with its descriptor.
func checkItem(it InventoryItem) error {
	switch it.Kind {
	case bundle.KindRegistry, bundle.KindPackage, bundle.KindArtifact:
	default:
		return fmt.Errorf("kind %q", it.Kind)
	}
	if it.Manifest.MediaType != ocispec.MediaTypeImageManifest {
		return fmt.Errorf("manifest media type %q", it.Manifest.MediaType)
	}
	if err := ocigraph.ValidateDigest(it.Manifest.Digest); err != nil {
		return fmt.Errorf("manifest digest: %v", err)
	}
	if it.Manifest.Size <= 0 || it.Manifest.Size > bundle.MaxMetadataSize {
		return fmt.Errorf("manifest size %d", it.Manifest.Size)
	}
	id, err := bundle.ParseIdentity(it.Manifest.Annotations)
	if err != nil {
		return fmt.Errorf("manifest annotations: %v", err)
	}
	if id.Kind != it.Kind || id.UUID != it.UUID || id.TreeHash != it.TreeHash || id.Platform != it.Platform {
		return fmt.Errorf("manifest annotations name %s, not this item", id)
	}
	if len(it.Layers) == 0 {
		return errors.New("no layers")
	}
	for _, l := range it.Layers {
		if err := ocigraph.ValidateDigest(l); err != nil {
			return fmt.Errorf("layer digest %q: %v", l, err)
		}
	}
	return nil
}

// InventoryTarget is what BuildInventory reads: content, tag resolution and
// the tag list. *store.Store satisfies it.
type InventoryTarget interface {
	content.Fetcher
	content.Resolver
	Tags(ctx context.Context) ([]string, error)
}

// BuildInventory lists what a store holds: every bundle (shelf.List's
// rule: tags that are signatures, referrers indexes or other artifacts are
// skipped) and every item its index names, with its identity, annotated manifest
// descriptor and layer digests. A bundle that cannot be read is an error
// naming its tag.
func BuildInventory(ctx context.Context, target InventoryTarget) (*Inventory, error) {
	refs, err := shelf.List(ctx, target)
	if err != nil {
		return nil, err
	}
	inv := &Inventory{SchemaVersion: InventorySchemaVersion, Bundles: []InventoryBundle{}, Items: []InventoryItem{}}
	seen := map[digest.Digest]bool{}
	for _, r := range refs {
		t, d := r.Tag, r.Index
		_, err := bundle.Walk(ctx, target, d, func(e bundle.Entry) error {
			if seen[e.Manifest.Digest] || e.Kind == bundle.KindAdvisories {
				return nil // advisories are not Pkg resources: a push carries its own
			}
			seen[e.Manifest.Digest] = true
			it := InventoryItem{Kind: e.Kind, Name: e.Name, UUID: e.UUID, TreeHash: e.TreeHash, Platform: e.Platform,
				Versions: e.Versions, Manifest: e.IndexDescriptor(), Layers: make([]digest.Digest, 0, len(e.Layers))}
			for _, l := range e.Layers {
				it.Layers = append(it.Layers, l.Digest)
			}
			inv.Items = append(inv.Items, it)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", t, err)
		}
		inv.Bundles = append(inv.Bundles, InventoryBundle{Tag: t, Digest: d.Digest})
	}
	slices.SortFunc(inv.Bundles, func(a, b InventoryBundle) int {
		return cmp.Or(strings.Compare(a.Tag, b.Tag), cmp.Compare(a.Digest, b.Digest))
	})
	slices.SortFunc(inv.Items, compareItems)
	return inv, nil
}
