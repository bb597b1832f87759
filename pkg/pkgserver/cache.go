package pkgserver

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Cache is an on-disk read-through cache of blobs in front of a slow
// content.Fetcher (a registry). It is itself a content.Fetcher, so it goes
// where the store went (bundle.Read, bundle.Check, BundleSource).
//
// A miss streams the upstream blob to the caller while copying it to a
// temporary file; the copy enters the cache only when the whole blob was
// read and its size and sha256 digest matched the descriptor, so the cache
// holds nothing unverified. A hit is an *os.File wrapper that can seek
// (ranges) and re-verifies the digest when read from start to end; a hit
// that no longer verifies is removed. When the cache exceeds its size the
// least recently used blobs are removed (readers that have them open keep
// reading). Blobs larger than the limit, and non-sha256 digests, are not
// cached. A Cache is safe for concurrent use; two processes must not share
// a directory.
type Cache struct {
	dir string
	max int64
	up  content.Fetcher

	// mu guards lru, files and size; Fetch, fill completion and eviction
	// take it briefly, never while doing I/O other than os.Remove.
	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recently used first
	files map[digest.Digest]*list.Element
	size  int64

	hits, misses atomic.Int64
	seq          atomic.Int64
}

type cacheEntry struct {
	d    digest.Digest
	size int64
}

// NewCache opens (creating it if needed) the cache directory dir holding
// at most maxBytes of blobs in front of upstream. Blobs left by an earlier
// run are kept, oldest first in line for eviction; temporary files are
// removed.
func NewCache(dir string, maxBytes int64, upstream content.Fetcher) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cache %s: size %d: must be positive", dir, maxBytes)
	}
	c := &Cache{dir: dir, max: maxBytes, up: upstream, lru: list.New(), files: map[digest.Digest]*list.Element{}}
	for _, d := range []string{c.blobDir(), c.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cache %s: %w", dir, err)
		}
	}
	tmps, err := os.ReadDir(c.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	for _, t := range tmps {
		os.Remove(filepath.Join(c.tmpDir(), t.Name()))
	}
	ents, err := os.ReadDir(c.blobDir())
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	type found struct {
		e   cacheEntry
		mod time.Time
	}
	var fs []found
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		info, err := e.Info()
		if d.Validate() != nil || err != nil || !info.Mode().IsRegular() {
			os.Remove(filepath.Join(c.blobDir(), e.Name()))
			continue
		}
		fs = append(fs, found{cacheEntry{d, info.Size()}, info.ModTime()})
	}
	slices.SortFunc(fs, func(a, b found) int { return cmp.Or(b.mod.Compare(a.mod), cmp.Compare(a.e.d, b.e.d)) })
	c.mu.Lock()
	for _, f := range fs {
		e := f.e
		c.files[e.d] = c.lru.PushBack(&e)
		c.size += e.size
	}
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

func (c *Cache) blobDir() string             { return filepath.Join(c.dir, "blobs", "sha256") }
func (c *Cache) tmpDir() string              { return filepath.Join(c.dir, "tmp") }
func (c *Cache) path(d digest.Digest) string { return filepath.Join(c.blobDir(), d.Encoded()) }
func cacheable(d ocispec.Descriptor, max int64) bool {
	return d.Digest.Algorithm() == digest.SHA256 && d.Digest.Validate() == nil && d.Size >= 0 && d.Size <= max
}

// Stats returns the hit and miss counts and what the cache holds.
func (c *Cache) Stats() (hits, misses, bytes, files int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits.Load(), c.misses.Load(), c.size, int64(len(c.files))
}

// Fetch implements content.Fetcher.
func (c *Cache) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if !cacheable(desc, c.max) {
		return c.up.Fetch(ctx, desc)
	}
	c.mu.Lock()
	el, ok := c.files[desc.Digest]
	if ok {
		c.lru.MoveToFront(el)
	}
	c.mu.Unlock()
	if ok {
		f, err := os.Open(c.path(desc.Digest))
		if err == nil {
			if info, err := f.Stat(); err == nil && info.Size() == desc.Size {
				c.hits.Add(1)
				return &hitReader{f: f, c: c, d: desc.Digest, v: desc.Digest.Verifier(), verify: true}, nil
			}
			f.Close()
		}
		c.drop(desc.Digest)
	}
	c.misses.Add(1)
	rc, err := c.up.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(c.tmpDir(), "fill-"+strconv.FormatInt(c.seq.Add(1), 10)+"-*")
	if err != nil {
		return rc, nil // serve uncached
	}
	f := &fill{rc: rc, c: c, desc: desc, tmp: tmp, v: desc.Digest.Verifier()}
	if s, ok := rc.(io.Seeker); ok {
		return &fillSeeker{fill: f, s: s}, nil
	}
	return f, nil
}

// OpenBlobFile implements BlobFiler for the blobs the cache holds, so that
// BundleSource can send cached blobs that verified before by sendfile
// (see VerifiedFiles). A blob the cache does not hold is
// errdef.ErrNotFound: the caller fetches it through Fetch, which fills
// the cache. The file is not verified here.
func (c *Cache) OpenBlobFile(_ context.Context, desc ocispec.Descriptor) (*os.File, error) {
	if !cacheable(desc, c.max) {
		return nil, fmt.Errorf("%s: not cacheable: %w", desc.Digest, errdef.ErrNotFound)
	}
	c.mu.Lock()
	el, ok := c.files[desc.Digest]
	if ok {
		c.lru.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s: not cached: %w", desc.Digest, errdef.ErrNotFound)
	}
	f, err := os.Open(c.path(desc.Digest))
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", desc.Digest, err, errdef.ErrNotFound)
	}
	c.hits.Add(1)
	return f, nil
}

// drop removes a blob from the cache.
func (c *Cache) drop(d digest.Digest) {
	c.mu.Lock()
	if el, ok := c.files[d]; ok {
		c.size -= el.Value.(*cacheEntry).size
		c.lru.Remove(el)
		delete(c.files, d)
	}
	c.mu.Unlock()
	os.Remove(c.path(d))
}

// add publishes a verified temporary file as blob d.
func (c *Cache) add(d digest.Digest, size int64, tmp string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.files[d]; ok {
		os.Remove(tmp) // a concurrent fill won
		return
	}
	if err := os.Rename(tmp, c.path(d)); err != nil {
		os.Remove(tmp)
		return
	}
	c.files[d] = c.lru.PushFront(&cacheEntry{d, size})
	c.size += size
	c.evictLocked()
}

func (c *Cache) evictLocked() {
	for c.size > c.max && c.lru.Len() > 0 {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.files, e.d)
		c.size -= e.size
		os.Remove(c.path(e.d))
	}
}

// hitReader reads a cached blob, verifying it when read from 0 to the end.
type hitReader struct {
	f      *os.File
	c      *Cache
	d      digest.Digest
	v      digest.Verifier
	verify bool
}

func (h *hitReader) Read(p []byte) (int, error) {
	n, err := h.f.Read(p)
	if h.verify {
		h.v.Write(p[:n])
		if err == io.EOF && !h.v.Verified() {
			h.c.drop(h.d)
			return n, fmt.Errorf("cached blob %s: %w", h.d, content.ErrMismatchedDigest)
		}
	}
	return n, err
}

func (h *hitReader) Seek(off int64, whence int) (int64, error) {
	pos, err := h.f.Seek(off, whence)
	if err == nil {
		h.verify = pos == 0
		h.v = h.d.Verifier()
	}
	return pos, err
}

func (h *hitReader) Close() error { return h.f.Close() }

// fill streams an upstream blob and copies it into a temporary file that
// becomes a cache entry if the whole blob verifies.
type fill struct {
	rc   io.ReadCloser
	c    *Cache
	desc ocispec.Descriptor
	tmp  *os.File // nil once abandoned or published
	v    digest.Verifier
	n    int64
}

func (f *fill) Read(p []byte) (int, error) {
	n, err := f.rc.Read(p)
	if f.tmp != nil && n > 0 {
		f.v.Write(p[:n])
		f.n += int64(n)
		if _, werr := f.tmp.Write(p[:n]); werr != nil || f.n > f.desc.Size {
			f.abandon()
		}
	}
	if errors.Is(err, io.EOF) && f.tmp != nil {
		if f.n == f.desc.Size && f.v.Verified() && f.tmp.Close() == nil {
			name := f.tmp.Name()
			f.tmp = nil
			f.c.add(f.desc.Digest, f.n, name)
		} else {
			f.abandon()
		}
	}
	return n, err
}

func (f *fill) abandon() {
	if f.tmp != nil {
		f.tmp.Close()
		os.Remove(f.tmp.Name())
		f.tmp = nil
	}
}

func (f *fill) Close() error {
	f.abandon()
	return f.rc.Close()
}

// fillSeeker is a fill over a seekable upstream reader: a seek anywhere
// but to where the fill already is ends the fill.
type fillSeeker struct {
	*fill
	s io.Seeker
}

func (f *fillSeeker) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekStart && off == f.n && f.tmp != nil {
		return off, nil
	}
	f.abandon()
	return f.s.Seek(off, whence)
}
