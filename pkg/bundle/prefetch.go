package bundle

import (
	"context"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// prefetchPages is how many index pages a walk fetches and decodes ahead of
// the one it is visiting. A bundle of 125,000 items has 126 pages of about
// 700 KB: one at a time, a walk waits for each registry round trip and
// decodes on one core; four ahead overlap both. It also bounds the memory:
// at most this many pages (each at most MaxMetadataSize) wait at once.
const prefetchPages = 4

// pagePrefetch fetches the child pages of one index, in the index's order,
// at most prefetchPages ahead of the walk that takes them. Only the top
// index's children are prefetched (the pages shoebox writes); deeper ones
// are read when visited, so the bound above holds however deep a hostile
// bundle nests.
type pagePrefetch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  chan struct{}
	pages  map[digest.Digest]*fetchedPage // fixed once built: read by all
}

// fetchedPage is one prefetched page: page and err are set before done
// closes; taken belongs to the walk.
type fetchedPage struct {
	done  chan struct{}
	page  *indexPage
	err   error
	taken bool
}

// prefetch starts fetching the nested indexes among idx's entries.
func prefetch(ctx context.Context, src content.Fetcher, idx *indexPage) *pagePrefetch {
	ctx, cancel := context.WithCancel(ctx)
	p := &pagePrefetch{cancel: cancel, slots: make(chan struct{}, prefetchPages), pages: map[digest.Digest]*fetchedPage{}}
	var order []ocispec.Descriptor
	for i := range idx.Manifests {
		d := idx.Manifests[i].descriptor()
		if d.MediaType != ocispec.MediaTypeImageIndex || p.pages[d.Digest] != nil {
			continue
		}
		p.pages[d.Digest] = &fetchedPage{done: make(chan struct{})}
		order = append(order, d)
	}
	p.wg.Go(func() {
		for _, d := range order {
			select {
			case p.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			f := p.pages[d.Digest]
			p.wg.Go(func() {
				f.page, f.err = readPage(ctx, src, d, ArtifactTypeSubindex)
				close(f.done)
			})
		}
	})
	return p
}

// take hands over d's page once fetched, and frees its slot for the next.
// It returns (nil, nil) for a nil p, a page it was not asked to fetch, or one
// already taken: the walk reads the first itself and skips the second as
// seen. Every prefetched page must be taken, in order, for the ones after
// it to be fetched.
func (p *pagePrefetch) take(ctx context.Context, d ocispec.Descriptor) (*indexPage, error) {
	if p == nil {
		return nil, nil
	}
	f := p.pages[d.Digest]
	if f == nil || f.taken {
		return nil, nil
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.taken = true
	<-p.slots
	page, err := f.page, f.err
	f.page = nil
	return page, err
}

// stop cancels the fetches still running and waits for them.
func (p *pagePrefetch) stop() {
	p.cancel()
	p.wg.Wait()
}
