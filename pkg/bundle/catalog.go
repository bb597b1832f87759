package bundle

import (
	"bytes"
	"cmp"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Catalog indexes what several bundles hold, by Julia identity: the
// routing table of a Pkg server and the listing of `shoebox ls`. It is
// immutable once built and safe for concurrent use.
//
// When several bundles hold the same resource, lookups return the entry of
// the newest bundle (by its created annotation; bundles without one count
// as oldest; ties broken by index digest), so the result does not depend on
// the order bundles are given in. Any of them serves the same bytes: the
// tarball digest is the same whenever the tree hash is, or the content was
// verified to have that tree hash.
type Catalog struct {
	// The maps and entries point into the bundles' Entries (never copied:
	// an Entry is several hundred bytes, and a store holds 100k of them).
	packages   map[pkgKey]*Entry
	artifacts  map[treehash.Hash]*Entry
	registries map[julia.UUID][]Snapshot // newest first
	snapshots  map[pkgKey]*Entry
	entries    []*Entry
}

type pkgKey struct {
	uuid julia.UUID
	hash treehash.Hash
}

// Snapshot is one registry snapshot with the created time of the newest
// bundle that holds it.
type Snapshot struct {
	Entry
	Created time.Time
}

// NewCatalog builds a catalog over bundles (nil ones are skipped). The
// catalog refers to the bundles' entries: they must not be modified
// afterwards.
func NewCatalog(bundles ...*Bundle) *Catalog {
	bs := slices.DeleteFunc(slices.Clone(bundles), func(b *Bundle) bool { return b == nil })
	slices.SortStableFunc(bs, func(a, b *Bundle) int {
		return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.Index.Digest.String(), b.Index.Digest.String()))
	})
	n := 0
	for _, b := range bs {
		n += len(b.Entries)
	}
	c := &Catalog{
		packages:   map[pkgKey]*Entry{},
		artifacts:  map[treehash.Hash]*Entry{},
		registries: map[julia.UUID][]Snapshot{},
		snapshots:  map[pkgKey]*Entry{},
		entries:    make([]*Entry, 0, n),
	}
	seen := make(map[digest.Digest]struct{}, n)
	for _, b := range bs {
		for i := range b.Entries {
			e := &b.Entries[i]
			if _, ok := seen[e.Manifest.Digest]; !ok {
				seen[e.Manifest.Digest] = struct{}{}
				c.entries = append(c.entries, e)
			}
			k := pkgKey{e.UUID, e.TreeHash}
			switch e.Kind {
			case KindPackage:
				if _, ok := c.packages[k]; !ok {
					c.packages[k] = e
				}
			case KindArtifact:
				if _, ok := c.artifacts[e.TreeHash]; !ok {
					c.artifacts[e.TreeHash] = e
				}
			case KindRegistry:
				if _, ok := c.snapshots[k]; !ok {
					c.snapshots[k] = e
					c.registries[e.UUID] = append(c.registries[e.UUID], Snapshot{Entry: *e, Created: b.Created})
				}
			}
		}
	}
	for _, snaps := range c.registries {
		slices.SortFunc(snaps, func(a, b Snapshot) int {
			return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.TreeHash.String(), b.TreeHash.String()))
		})
	}
	slices.SortFunc(c.entries, func(a, b *Entry) int { return compareEntries(*a, *b) })
	return c
}

// compareEntries orders entries as PushIndex orders an index.
func compareEntries(a, b Entry) int {
	return compareItems(&a.Item, a.Manifest.Digest, &b.Item, b.Manifest.Digest)
}

// compareItems is the order of an index (FORMAT.md §4): kind, uuid, tree
// hash, platform, name, manifest digest. UUIDs and tree hashes compare as
// bytes, which is how their lowercase hex forms compare (the zero UUID, an
// item without one, first), without making two strings per comparison.
func compareItems(a *Item, ad digest.Digest, b *Item, bd digest.Digest) int {
	return cmp.Or(
		cmp.Compare(a.Kind.order(), b.Kind.order()),
		bytes.Compare(a.UUID[:], b.UUID[:]),
		bytes.Compare(a.TreeHash[:], b.TreeHash[:]),
		strings.Compare(a.Platform, b.Platform),
		strings.Compare(a.Name, b.Name),
		strings.Compare(string(ad), string(bd)),
	)
}

// Package returns the package tree with this uuid and tree hash
// (GET /package/<uuid>/<hash>).
func (c *Catalog) Package(uuid julia.UUID, hash treehash.Hash) (Entry, bool) {
	return deref(c.packages[pkgKey{uuid, hash}])
}

// PackageRef is Package without the copy: the entry must not be modified.
func (c *Catalog) PackageRef(uuid julia.UUID, hash treehash.Hash) *Entry {
	return c.packages[pkgKey{uuid, hash}]
}

// ArtifactRef is Artifact without the copy: the entry must not be modified.
func (c *Catalog) ArtifactRef(hash treehash.Hash) *Entry { return c.artifacts[hash] }

// RegistryRef is Registry without the copy: the entry must not be modified.
func (c *Catalog) RegistryRef(uuid julia.UUID, hash treehash.Hash) *Entry {
	return c.snapshots[pkgKey{uuid, hash}]
}

func deref(e *Entry) (Entry, bool) {
	if e == nil {
		return Entry{}, false
	}
	return *e, true
}

// Artifact returns the artifact tree with this tree hash
// (GET /artifact/<hash>).
func (c *Catalog) Artifact(hash treehash.Hash) (Entry, bool) {
	return deref(c.artifacts[hash])
}

// Registry returns the registry snapshot with this uuid and tree hash
// (GET /registry/<uuid>/<hash>).
func (c *Catalog) Registry(uuid julia.UUID, hash treehash.Hash) (Entry, bool) {
	return deref(c.snapshots[pkgKey{uuid, hash}])
}

// Snapshots returns the snapshots of one registry, newest first: by the
// created time of the newest bundle holding each, then by tree hash.
func (c *Catalog) Snapshots(uuid julia.UUID) []Snapshot {
	return slices.Clone(c.registries[uuid])
}

// Registries returns the newest snapshot of every registry, sorted by
// uuid (the body of GET /registries).
func (c *Catalog) Registries() []Snapshot {
	out := make([]Snapshot, 0, len(c.registries))
	for _, s := range c.registries {
		out = append(out, s[0])
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.UUID.String(), b.UUID.String()) })
	return out
}

// Entries returns every distinct item manifest of every bundle, in index
// order (kind, uuid, tree hash, platform, name, manifest digest).
func (c *Catalog) Entries() []Entry {
	out := make([]Entry, len(c.entries))
	for i, e := range c.entries {
		out[i] = *e
	}
	return out
}

// All yields every entry Entries returns, in the same order, without
// copying them: the entries must not be modified.
func (c *Catalog) All() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		for _, e := range c.entries {
			if !yield(e) {
				return
			}
		}
	}
}
