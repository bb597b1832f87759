package shelf

import (
	"container/list"
	"sync"

	"github.com/opencontainers/go-digest"
)

// DefaultMemoryItem is the largest tarball kept in memory when
// SetOptions.MemoryItem is 0.
const DefaultMemoryItem = 1 << 20

// memCache keeps recently served small tarballs in memory, least recently
// used evicted first, up to a total size. It is filled only with bytes
// that verified against their digest (a read from offset 0 to the end that
// ended with io.EOF, which the verifying readers return only after the
// digest matched), so serving from it is as safe as serving from the store
// and skips the I/O and the hashing. Entries are keyed by the tarball's
// digest and outlive the Shelves of one Set. It is safe for concurrent
// use.
type memCache struct {
	max, maxItem int64

	// mu guards size, ll and items; Lookup (get) and verified reads (put)
	// take it briefly.
	mu    sync.Mutex
	size  int64
	ll    *list.List // of *memEntry, most recently used first
	items map[digest.Digest]*list.Element
}

type memEntry struct {
	d    digest.Digest
	data []byte
}

// newMemCache returns a cache of at most maxBytes of tarballs, each at
// most maxItem bytes (if ≤ 0, DefaultMemoryItem). It returns nil
// (no cache) if maxBytes ≤ 0.
func newMemCache(maxBytes, maxItem int64) *memCache {
	if maxBytes <= 0 {
		return nil
	}
	if maxItem <= 0 {
		maxItem = DefaultMemoryItem
	}
	return &memCache{max: maxBytes, maxItem: min(maxItem, maxBytes), ll: list.New(), items: map[digest.Digest]*list.Element{}}
}

// fits reports whether a tarball of size bytes may be cached.
func (c *memCache) fits(size int64) bool { return c != nil && size > 0 && size <= c.maxItem }

func (c *memCache) get(d digest.Digest) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[d]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*memEntry).data, true
}

// put stores verified bytes of d.
func (c *memCache) put(d digest.Digest, data []byte) {
	if !c.fits(int64(len(data))) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[d]; ok {
		return
	}
	c.items[d] = c.ll.PushFront(&memEntry{d: d, data: data})
	c.size += int64(len(data))
	for c.size > c.max {
		el := c.ll.Back()
		e := el.Value.(*memEntry)
		c.ll.Remove(el)
		delete(c.items, e.d)
		c.size -= int64(len(e.data))
	}
}

// drop forgets d (its bytes were found bad elsewhere).
func (c *memCache) drop(d digest.Digest) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[d]; ok {
		c.ll.Remove(el)
		delete(c.items, d)
		c.size -= int64(len(el.Value.(*memEntry).data))
	}
}

// Len and Size report the number of tarballs and bytes held.
func (c *memCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Size reports the bytes held.
func (c *memCache) Size() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
