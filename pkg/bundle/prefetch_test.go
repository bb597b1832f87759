package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// cleanAll is ds as index entries.
func cleanAll(ds []ocispec.Descriptor) []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, len(ds))
	for i, d := range ds {
		out[i] = cleanDescriptor(d)
	}
	return out
}

// gatedFetcher counts the index pages being fetched at once and can hold
// one page's fetch until released.
type gatedFetcher struct {
	content.ReadOnlyStorage
	mu        sync.Mutex
	active    int
	maxActive int
	requested map[digest.Digest]chan struct{} // closed when the page is asked for
	hold      digest.Digest
	release   chan struct{}
}

func (g *gatedFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.MediaType != ocispec.MediaTypeImageIndex {
		return g.ReadOnlyStorage.Fetch(ctx, d)
	}
	g.mu.Lock()
	g.active++
	g.maxActive = max(g.maxActive, g.active)
	if ch, ok := g.requested[d.Digest]; ok {
		close(ch)
		delete(g.requested, d.Digest)
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.active--
		g.mu.Unlock()
	}()
	if d.Digest == g.hold {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.ReadOnlyStorage.Fetch(ctx, d)
}

// pagedBundle pushes n items and a bundle of them in pages of per entries
// under one top index (PushIndex with MaxEntries per would nest pages of
// pages), and returns the top, its pages and the items' descriptors.
func pagedBundle(t *testing.T, s Pusher, n, per int) (ocispec.Descriptor, []ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	var descs, pages []ocispec.Descriptor
	for i := range n {
		it := Item{Kind: KindPackage, UUID: uuidN(i), TreeHash: hashN(i), Name: fmt.Sprintf("P%d", i), Versions: []string{"1.0.0"}}
		descs = append(descs, addItem(t, s, it, []byte(fmt.Sprintf("tarball %d", i)), 1))
	}
	for i := 0; i < n; i += per {
		d, err := pushIndexDoc(ctx, s, ArtifactTypeSubindex, cleanAll(descs[i:i+per]), nil)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, d)
	}
	top, err := pushIndexDoc(ctx, s, ArtifactTypeBundle, pages, nil)
	if err != nil {
		t.Fatal(err)
	}
	return top, pages, descs
}

// The walk of Read and Check fetches the next pages while it is still
// waiting for one: with the first page held, the following ones are asked
// for; never more than prefetchPages at once; the entries come in index
// order all the same.
func TestRead_PrefetchesPages(t *testing.T) {
	ctx := context.Background()
	s := newCountingStore()
	const items, per = 24, 2
	top, pages, descs := pagedBundle(t, s, items, per)
	for _, name := range []string{"Read", "Check"} {
		t.Run(name, func(t *testing.T) {
			g := &gatedFetcher{ReadOnlyStorage: s, requested: map[digest.Digest]chan struct{}{}, hold: pages[0].Digest, release: make(chan struct{})}
			for _, p := range pages[1:prefetchPages] {
				g.requested[p.Digest] = make(chan struct{})
			}
			waits := make([]chan struct{}, 0, prefetchPages-1)
			for _, p := range pages[1:prefetchPages] {
				waits = append(waits, g.requested[p.Digest])
			}
			got := make(chan []Entry, 1)
			errc := make(chan error, 1)
			go func() {
				var (
					b   *Bundle
					err error
				)
				if name == "Read" {
					b, err = Read(ctx, g, top)
				} else {
					var r *CheckReport
					r, err = Check(ctx, g, top, CheckOptions{})
					b = &Bundle{Entries: r.Entries}
				}
				errc <- err
				if b != nil {
					got <- b.Entries
				} else {
					got <- nil
				}
			}()
			// While the first page is held, the next prefetchPages-1 are
			// asked for (a sequential walk would wait forever here; the
			// guard only turns that into a failure).
			for i, w := range waits {
				select {
				case <-w:
				case <-time.After(time.Minute):
					t.Fatalf("page %d not fetched while page 0 was held: no prefetch", i+1)
				}
			}
			close(g.release)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			entries := <-got
			if len(entries) != items {
				t.Fatalf("%d entries, want %d", len(entries), items)
			}
			for i, e := range entries {
				if e.Manifest.Digest != descs[i].Digest {
					t.Errorf("entry %d = %s, want %s (index order)", i, e.Manifest.Digest, descs[i].Digest)
				}
			}
			if g.maxActive > prefetchPages+1 { // + the top index, fetched before
				t.Errorf("%d pages fetched at once, want ≤ %d", g.maxActive, prefetchPages)
			}
			if g.active != 0 {
				t.Errorf("%d fetches still running after %s returned", g.active, name)
			}
		})
	}
}

// A page that fails is reported as the sequential walk reported it, and
// the walk leaves no fetch running behind it.
func TestRead_PrefetchedPageFails(t *testing.T) {
	ctx := context.Background()
	s := newMapStore()
	top, pages, _ := pagedBundle(t, s, 12, 2)
	bad := pages[2].Digest
	b := s.get(bad)
	b[len(b)-2] ^= 1
	s.set(bad, b)
	g := &gatedFetcher{ReadOnlyStorage: s, requested: map[digest.Digest]chan struct{}{}}
	_, err := Read(ctx, g, top)
	if !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrFormat) {
		t.Fatalf("Read with page 2 altered = %v, want an integrity error", err)
	}
	if want := bad.String(); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name page %s", err, want)
	}
	if g.active != 0 {
		t.Errorf("%d fetches still running after Read returned", g.active)
	}
	r, err := Check(ctx, g, top, CheckOptions{})
	if err == nil || len(r.Problems) == 0 || r.Problems[0].Descriptor.Digest != bad {
		t.Fatalf("Check with page 2 altered = %v, problems %v; want one naming %s", err, r.Problems, bad)
	}
	if len(r.Entries) != 10 {
		t.Errorf("Check read %d entries around the bad page, want 10", len(r.Entries))
	}
}
