package shelf

import (
	"cmp"
	"container/list"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

// copies are the verified private copies of tarballs, in a directory only
// the server writes: <dir>/blobs/sha256/<hex>, filled through <dir>/tmp.
// A copy enters only once the whole tarball verified while it was being
// read (a fill is published by the verifying stream at its io.EOF), so the
// server can send it by sendfile(2), whole or any range of it, without
// hashing again: nothing on the stick or in the registry can change it.
// Copies found at start (an earlier run's) are not trusted until a read
// from them verified again. The least recently used are removed when the
// copies exceed max bytes (readers that have one open keep reading it).
type copies struct {
	dir string
	max int64

	// mu guards lru, m and size; lookups, publishing and eviction take it
	// briefly, never during I/O but os.Remove.
	mu   sync.Mutex
	lru  *list.List // of *copyEntry, most recently used first
	m    map[digest.Digest]*list.Element
	size int64

	hits, fills atomic.Int64
	seq         atomic.Int64
}

type copyEntry struct {
	d        digest.Digest
	id       store.FileID // the file as published (or found), checked on every open
	verified bool         // read and verified by this process
}

// newCopies opens (creating it, mode 0700) the copies directory dir
// holding at most max bytes. Temporary files are removed; copies of an
// earlier run are kept, unverified.
func newCopies(dir string, max int64) (*copies, error) {
	c := &copies{dir: dir, max: max, lru: list.New(), m: map[digest.Digest]*list.Element{}}
	for _, d := range []string{dir, c.blobDir(), c.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("copies %s: %w", dir, err)
		}
	}
	tmps, err := os.ReadDir(c.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("copies %s: %w", dir, err)
	}
	for _, t := range tmps {
		os.Remove(filepath.Join(c.tmpDir(), t.Name()))
	}
	ents, err := os.ReadDir(c.blobDir())
	if err != nil {
		return nil, fmt.Errorf("copies %s: %w", dir, err)
	}
	type found struct {
		e   *copyEntry
		mod int64
	}
	var fs []found
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		p := filepath.Join(c.blobDir(), e.Name())
		info, err := os.Lstat(p)
		if d.Validate() != nil || err != nil || !info.Mode().IsRegular() {
			os.Remove(p)
			continue
		}
		fs = append(fs, found{&copyEntry{d: d, id: store.FileIdentityOf(info)}, info.ModTime().UnixNano()})
	}
	slices.SortFunc(fs, func(a, b found) int { return cmp.Or(cmp.Compare(b.mod, a.mod), cmp.Compare(a.e.d, b.e.d)) })
	c.mu.Lock()
	for _, f := range fs {
		c.m[f.e.d] = c.lru.PushBack(f.e)
		c.size += f.e.id.Size
	}
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

func (c *copies) blobDir() string             { return filepath.Join(c.dir, "blobs", "sha256") }
func (c *copies) tmpDir() string              { return filepath.Join(c.dir, "tmp") }
func (c *copies) path(d digest.Digest) string { return filepath.Join(c.blobDir(), d.Encoded()) }

// fits reports whether a tarball of size bytes with digest d may be copied.
func (c *copies) fits(d digest.Digest, size int64) bool {
	return c != nil && d.Algorithm() == digest.SHA256 && d.Validate() == nil && size > 0 && size <= c.max
}

// open opens d's copy, checked on the descriptor against what was
// published: the same file, regular, of size bytes. verified says whether
// this process verified it; an unverified copy is read through a verifier.
// ok is false when there is no usable copy.
func (c *copies) open(d digest.Digest, size int64) (f *os.File, verified, ok bool) {
	if !c.fits(d, size) {
		return nil, false, false
	}
	c.mu.Lock()
	el, found := c.m[d]
	var e copyEntry
	if found {
		c.lru.MoveToFront(el)
		e = *el.Value.(*copyEntry)
	}
	c.mu.Unlock()
	if !found {
		return nil, false, false
	}
	f, err := openNoFollow(c.path(d))
	if err == nil {
		id, serr := store.FileIdentity(f)
		if serr == nil && id.Mode.IsRegular() && id.Size == size && id.Dev == e.id.Dev && id.Ino == e.id.Ino {
			c.hits.Add(1)
			return f, e.verified, true
		}
		f.Close()
	}
	c.drop(d)
	return nil, false, false
}

// markVerified records that d's copy, as identified by id, verified.
func (c *copies) markVerified(d digest.Digest, id store.FileID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[d]; ok {
		e := el.Value.(*copyEntry)
		if e.id.Dev == id.Dev && e.id.Ino == id.Ino {
			e.verified = true
		}
	}
}

// drop removes d's copy.
func (c *copies) drop(d digest.Digest) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if el, ok := c.m[d]; ok {
		c.size -= el.Value.(*copyEntry).id.Size
		c.lru.Remove(el)
		delete(c.m, d)
	}
	c.mu.Unlock()
	os.Remove(c.path(d))
}

// has reports whether a copy of d is held (verified or not).
func (c *copies) has(d digest.Digest) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[d]
	return ok
}

// fill is a copy being written while a tarball is read and verified.
type fill struct {
	c    *copies
	d    digest.Digest
	size int64
	f    *os.File // nil once abandoned or published
	n    int64
}

// newFill starts a copy of d, or returns nil when it cannot be made.
func (c *copies) newFill(d digest.Digest, size int64) *fill {
	if !c.fits(d, size) || c.has(d) {
		return nil
	}
	f, err := os.CreateTemp(c.tmpDir(), "fill-"+strconv.FormatInt(c.seq.Add(1), 10)+"-*")
	if err != nil {
		return nil
	}
	return &fill{c: c, d: d, size: size, f: f}
}

// write appends the next bytes of the tarball.
func (f *fill) write(p []byte) {
	if f == nil || f.f == nil {
		return
	}
	if _, err := f.f.Write(p); err != nil || f.n+int64(len(p)) > f.size {
		f.abandon()
		return
	}
	f.n += int64(len(p))
}

// publish makes the fill d's copy; the caller has verified every byte.
func (f *fill) publish() {
	if f == nil || f.f == nil {
		return
	}
	defer f.abandon()
	if f.n != f.size {
		return
	}
	id, err := store.FileIdentity(f.f)
	if err != nil || f.f.Chmod(0o400) != nil || f.f.Close() != nil {
		return
	}
	name := f.f.Name()
	f.f = nil
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[f.d]; ok {
		os.Remove(name) // a concurrent fill won
		return
	}
	if err := os.Rename(name, c.path(f.d)); err != nil {
		os.Remove(name)
		return
	}
	c.m[f.d] = c.lru.PushFront(&copyEntry{d: f.d, id: id, verified: true})
	c.size += f.size
	c.fills.Add(1)
	c.evictLocked()
}

// abandon removes an unpublished fill.
func (f *fill) abandon() {
	if f == nil || f.f == nil {
		return
	}
	f.f.Close()
	os.Remove(f.f.Name())
	f.f = nil
}

func (c *copies) evictLocked() {
	for c.size > c.max && c.lru.Len() > 0 {
		el := c.lru.Back()
		e := el.Value.(*copyEntry)
		c.lru.Remove(el)
		delete(c.m, e.d)
		c.size -= e.id.Size
		os.Remove(c.path(e.d))
	}
}

// stats reports what the copies hold and how they were used.
func (c *copies) stats() (hits, fills, bytes, files int64) {
	if c == nil {
		return 0, 0, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits.Load(), c.fills.Load(), c.size, int64(len(c.m))
}
