package pkgserver

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Defaults of ViewStoreOptions.
const (
	// DefaultRetainedViews is how many registry views a ViewStore keeps.
	DefaultRetainedViews = 128
	// DefaultRetainedMemory is how many bytes of them it keeps in memory.
	DefaultRetainedMemory = 64 << 20
	// DefaultDerivedViews is how many bundles back a BundleSource derives
	// the views it could have advertised (see BundleSource.Lookup).
	DefaultDerivedViews = 64
)

// ViewStoreOptions configure NewViewStore. The zero value keeps
// DefaultRetainedViews views, DefaultRetainedMemory bytes of them in
// memory and none on disk.
type ViewStoreOptions struct {
	// Dir, if set, is a directory only this server writes, where views
	// that leave memory are kept (created with mode 0700; files of an
	// earlier run are verified before they are served).
	Dir string
	// Max bounds the views kept, in memory and on disk together (least
	// recently advertised or served first out); ≤ 0 means
	// DefaultRetainedViews.
	Max int
	// Memory bounds the bytes of views kept in memory; ≤ 0 means
	// DefaultRetainedMemory. Without Dir, a view that leaves memory is
	// gone (a BundleSource may still derive it).
	Memory int64
	// Logger receives what is kept, spilled, dropped and refused; nil
	// discards it.
	Logger *slog.Logger
}

// ViewStore keeps the registry views a server advertised, so that a view
// stays downloadable after a reload advertises a newer one: for a client
// between its /registries request and the registry download, a depot
// that holds the older view, and another replica that has not reloaded
// yet. Each BundleSource built with it (SourceOptions.Retained) puts the
// views it advertises, and answers /registry/<uuid>/<hash> from it when
// its own views do not have that hash. It is safe for concurrent use.
type ViewStore struct {
	dir    string
	max    int
	memMax int64
	log    *slog.Logger

	// mu guards everything below; Put and Get take it briefly (file
	// reads and writes happen outside it).
	mu    sync.Mutex
	views map[viewKey]*list.Element // of *retained
	order *list.List                // front: most recently used
	mem   int64
}

type viewKey struct {
	uuid julia.UUID
	hash treehash.Hash
}

type retained struct {
	key     viewKey
	data    []byte // nil when only on disk
	size    int64
	file    bool // on disk
	trusted bool // the file was written by this process, or verified
}

// NewViewStore returns a ViewStore; with opts.Dir, the views an earlier
// run left there are listed (and verified when first served).
func NewViewStore(opts ViewStoreOptions) (*ViewStore, error) {
	s := &ViewStore{dir: opts.Dir, max: opts.Max, memMax: opts.Memory, log: opts.Logger,
		views: map[viewKey]*list.Element{}, order: list.New()}
	if s.max <= 0 {
		s.max = DefaultRetainedViews
	}
	if s.memMax <= 0 {
		s.memMax = DefaultRetainedMemory
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("retained views: %w", err)
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("retained views: %w", err)
	}
	for _, e := range ents {
		k, ok := parseViewFile(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		s.views[k] = s.order.PushBack(&retained{key: k, size: fi.Size(), file: true})
	}
	s.trim()
	return s, nil
}

func viewFileName(k viewKey) string { return k.uuid.String() + "-" + k.hash.String() + ".tar.gz" }

func parseViewFile(name string) (viewKey, bool) {
	base, ok := strings.CutSuffix(name, ".tar.gz")
	if !ok || len(base) != 36+1+40 || base[36] != '-' {
		return viewKey{}, false
	}
	u, err1 := julia.ParseUUID(base[:36])
	h, err2 := treehash.Parse(base[37:])
	return viewKey{u, h}, err1 == nil && err2 == nil
}

// Put keeps a view's tarball (data is not copied: it must not change);
// with a directory, it is also written there at once, so that a restart
// keeps it.
func (s *ViewStore) Put(uuid julia.UUID, hash treehash.Hash, data []byte) {
	k := viewKey{uuid, hash}
	s.mu.Lock()
	if el, ok := s.views[k]; ok {
		r := el.Value.(*retained)
		if r.data == nil {
			r.data = data
			s.mem += int64(len(data))
		}
		s.order.MoveToFront(el)
		s.mu.Unlock()
		s.trim()
		return
	}
	r := &retained{key: k, data: data, size: int64(len(data))}
	s.views[k] = s.order.PushFront(r)
	s.mem += int64(len(data))
	s.mu.Unlock()
	if s.dir != "" {
		err := writeFileAtomic(s.dir, viewFileName(k), data)
		s.mu.Lock()
		r.file, r.trusted = err == nil, err == nil
		s.mu.Unlock()
		if err != nil {
			s.log.Warn("registry view not written to the cache directory", slog.String("hash", hash.String()), slog.String("error", err.Error()))
		}
	}
	s.log.Info("registry view retained", slog.String("uuid", uuid.String()), slog.String("hash", hash.String()), slog.Int("bytes", len(data)))
	s.trim()
}

// Get returns a kept view's tarball; a view kept on disk by an earlier run
// is verified (its keep-empty tree hash must be its name's) before it is
// served, and dropped when it is not.
func (s *ViewStore) Get(uuid julia.UUID, hash treehash.Hash) ([]byte, bool) {
	k := viewKey{uuid, hash}
	s.mu.Lock()
	el, ok := s.views[k]
	if !ok {
		s.mu.Unlock()
		return nil, false
	}
	r := el.Value.(*retained)
	s.order.MoveToFront(el)
	if r.data != nil {
		data := r.data
		s.mu.Unlock()
		return data, true
	}
	trusted := r.trusted
	s.mu.Unlock()

	path := filepath.Join(s.dir, viewFileName(k))
	data, err := os.ReadFile(path)
	if err == nil && !trusted {
		err = checkViewHash(data, hash)
	}
	s.mu.Lock()
	if err != nil {
		if el, ok := s.views[k]; ok && el.Value.(*retained) == r {
			s.order.Remove(el)
			delete(s.views, k)
		}
		s.mu.Unlock()
		s.log.Warn("retained registry view dropped", slog.String("file", path), slog.String("error", err.Error()))
		os.Remove(path)
		return nil, false
	}
	r.trusted = true
	if r.data == nil {
		r.data = data
		s.mem += int64(len(data))
	}
	s.mu.Unlock()
	s.trim()
	return data, true
}

// checkViewHash checks that a view tarball has tree hash h (keep-empty,
// as Pkg checks registries).
func checkViewHash(data []byte, h treehash.Hash) error {
	dec, _, err := tarx.Decompress(bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer dec.Close()
	got, err := treehash.Tar(dec)
	if err != nil {
		return err
	}
	if got.KeepEmpty != h {
		return fmt.Errorf("tree hash %s, want %s", got.KeepEmpty, h)
	}
	return nil
}

// trim drops the least recently used views beyond Max (their files
// too), and keeps at most Memory bytes of views in memory: a view with a
// file leaves memory only, one without leaves the store.
func (s *ViewStore) trim() {
	var files []viewKey
	s.mu.Lock()
	for len(s.views) > s.max {
		el := s.order.Back()
		r := el.Value.(*retained)
		s.order.Remove(el)
		delete(s.views, r.key)
		if r.data != nil {
			s.mem -= int64(len(r.data))
		}
		if r.file {
			files = append(files, r.key)
		}
		s.log.Info("retained registry view dropped (--retain-views)", slog.String("uuid", r.key.uuid.String()), slog.String("hash", r.key.hash.String()))
	}
	for el := s.order.Back(); el != nil && s.mem > s.memMax; {
		prev := el.Prev()
		if r := el.Value.(*retained); r.data != nil && el != s.order.Front() {
			s.mem -= int64(len(r.data))
			r.data = nil
			if !r.file {
				s.order.Remove(el)
				delete(s.views, r.key)
			}
		}
		el = prev
	}
	s.mu.Unlock()
	for _, k := range files {
		os.Remove(filepath.Join(s.dir, viewFileName(k)))
	}
}

// Len reports how many views the store keeps, and how many bytes of them
// are in memory.
func (s *ViewStore) Len() (views int, memory int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.views), s.mem
}

// writeFileAtomic writes data to dir/name through a temporary file.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

// derivation is a BundleSource's memory of the views it could have
// advertised as of each earlier verified bundle (see Lookup).
type derivation struct {
	// mu serialises derivations and guards prefix and done.
	mu     sync.Mutex
	prefix map[prefixKey]treehash.Hash // the view of the n oldest bundles
	done   map[julia.UUID]bool         // every prefix tried
}

type prefixKey struct {
	uuid julia.UUID
	n    int
}

// derive looks for the view of registry uuid with tree hash h among the
// views the verified bundles make as of each earlier one (oldest first,
// the shelf's creation order): the view of a prefix is what
// NewBundleSource would advertise over those bundles alone, so every
// server that verified them makes the same bytes. The newest prefixes are
// tried first, at most DefaultDerivedViews of them, each computed once per
// source; a hash none of them makes is known not found from then on. It
// returns nil when no prefix makes h.
func (s *BundleSource) derive(ctx context.Context, uuid julia.UUID, h treehash.Hash) ([]byte, error) {
	if s.mode == ViewFull {
		return nil, nil // snapshots are served as they are
	}
	d := &s.derived
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prefix == nil {
		d.prefix, d.done = map[prefixKey]treehash.Hash{}, map[julia.UUID]bool{}
	}
	bundles := s.sh.Verified()
	lowest := max(1, len(bundles)-DefaultDerivedViews)
	if d.done[uuid] {
		found := false
		for n := len(bundles) - 1; n >= lowest && !found; n-- {
			found = d.prefix[prefixKey{uuid, n}] == h
		}
		if !found {
			return nil, nil
		}
	}
	for n := len(bundles) - 1; n >= lowest; n-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if ph, ok := d.prefix[prefixKey{uuid, n}]; ok && ph != h {
			continue
		}
		v, err := prefixView(ctx, s, bundles[:n], uuid)
		if err != nil {
			return nil, err
		}
		if v == nil {
			d.prefix[prefixKey{uuid, n}] = treehash.Hash{}
			continue
		}
		d.prefix[prefixKey{uuid, n}] = v.Hash
		if v.Hash != h {
			continue
		}
		if v.data == nil {
			return nil, nil // the snapshot itself: the catalog serves it
		}
		if s.retained != nil {
			s.retained.Put(uuid, h, v.data)
		}
		s.log.Info("registry view derived", slog.String("uuid", uuid.String()), slog.String("hash", h.String()),
			slog.Int("bundles", n), slog.String("as_of", bundles[n-1].Index.Digest.String()))
		return v.data, nil
	}
	d.done[uuid] = true
	return nil, nil
}

// prefixView is the available view of registry uuid over bundles: nil
// when none of them holds a snapshot of it (or none can be read).
func prefixView(ctx context.Context, s *BundleSource, bundles []*bundle.Bundle, uuid julia.UUID) (*View, error) {
	cat := bundle.NewCatalog(bundles...)
	for _, snap := range cat.Snapshots(uuid) {
		e := snap.Entry
		open := func(ctx context.Context) (io.ReadCloser, error) {
			b, err := s.sh.Open(ctx, &e, 0, e.Whole.Size)
			if err != nil {
				return nil, err
			}
			return readCloser{b.Reader(), b}, nil
		}
		v, err := buildView(ctx, open, e, func(u julia.UUID, h treehash.Hash) bool { return cat.PackageRef(u, h) != nil })
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	return nil, nil
}
