package bundle

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestCatalog(t *testing.T) {
	ctx := context.Background()
	s := newMapStore()
	snap := func(n int) ocispec.Descriptor {
		return addItem(t, s, Item{Kind: KindRegistry, UUID: generalUUID, TreeHash: hashN(100 + n), Registry: "General"}, []byte(fmt.Sprintf("registry %d", n)), 1)
	}
	pkg := func(n int, versions ...string) ocispec.Descriptor {
		return addItem(t, s, Item{Kind: KindPackage, UUID: exampleUUID, TreeHash: hashN(n), Name: "Example", Versions: versions}, []byte(fmt.Sprintf("pkg %d", n)), 1)
	}
	art := addItem(t, s, Item{Kind: KindArtifact, TreeHash: hashN(50)}, []byte("art"), 1)
	bundle := func(created time.Time, descs ...ocispec.Descriptor) *Bundle {
		idx, err := PushIndex(ctx, s, descs, IndexOptions{Created: created})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Read(ctx, s, idx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := bundle(t0, snap(1), pkg(1, "1.0.0"), art)
	mid := bundle(t0.Add(time.Hour), snap(2), pkg(1, "1.0.0", "1.0.1"), pkg(2, "2.0.0"))
	newer := bundle(t0.Add(2*time.Hour), snap(3))
	undated := bundle(time.Time{}, snap(4))

	for _, order := range [][]*Bundle{{old, mid, newer, undated}, {undated, newer, nil, mid, old}} {
		c := NewCatalog(order...)
		regs := c.Registries()
		if len(regs) != 1 || regs[0].TreeHash != hashN(103) || !regs[0].Created.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("Registries() = %+v, want snapshot 3", regs)
		}
		var got []int
		for _, sn := range c.Snapshots(generalUUID) {
			got = append(got, int(sn.TreeHash[19])-100)
		}
		if fmt.Sprint(got) != "[3 2 1 4]" {
			t.Errorf("Snapshots() = %v, want [3 2 1 4]", got)
		}
		if _, ok := c.Registry(generalUUID, hashN(101)); !ok {
			t.Error("Registry(snapshot 1) not found")
		}
		// The same tree in two bundles: the newest bundle's entry.
		e, ok := c.Package(exampleUUID, hashN(1))
		if !ok || fmt.Sprint(e.Versions) != "[1.0.0 1.0.1]" {
			t.Errorf("Package(1) = %v, %v; want versions 1.0.0, 1.0.1", e.Item, ok)
		}
		if _, ok := c.Package(exampleUUID, hashN(3)); ok {
			t.Error("Package(3) found")
		}
		if _, ok := c.Package(generalUUID, hashN(1)); ok {
			t.Error("Package(wrong uuid) found")
		}
		if e, ok := c.Artifact(hashN(50)); !ok || e.Manifest.Digest != art.Digest {
			t.Errorf("Artifact() = %v, %v", e.Item, ok)
		}
		if n := len(c.Entries()); n != 8 {
			t.Errorf("Entries() = %d, want 8", n)
		}
	}
}

// compareItems compares UUIDs and tree hashes as bytes; the order must be
// that of their hex forms (FORMAT.md §4 names the strings), the zero UUID
// (an item without one) first, so that a bundle's index is the same bytes
// as before.
func TestCompareItems_OrderOfTheStrings(t *testing.T) {
	byStrings := func(a, b *Item) int {
		key := func(it *Item) string {
			if it.UUID.IsZero() {
				return ""
			}
			return it.UUID.String()
		}
		return cmp.Or(cmp.Compare(a.Kind.order(), b.Kind.order()), strings.Compare(key(a), key(b)),
			strings.Compare(a.TreeHash.String(), b.TreeHash.String()))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var items []Item
	for range 300 {
		var it Item
		it.Kind = []Kind{KindRegistry, KindPackage, KindArtifact}[rng.IntN(3)]
		if rng.IntN(5) > 0 {
			for i := range it.UUID {
				it.UUID[i] = byte(rng.IntN(4) * 85) // few values: many ties
			}
		}
		for i := range it.TreeHash {
			it.TreeHash[i] = byte(rng.IntN(3) * 127)
		}
		items = append(items, it)
	}
	for i := range items {
		for j := range items {
			a, b := &items[i], &items[j]
			if got, want := compareItems(a, "", b, ""), byStrings(a, b); got != want {
				t.Fatalf("compareItems(%s %s, %s %s) = %d, the strings say %d", a.UUID, a.TreeHash, b.UUID, b.TreeHash, got, want)
			}
		}
	}
}
