package pkgserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ViewMode says which tree a BundleSource advertises for each registry.
type ViewMode string

const (
	// ViewAvailable advertises the newest snapshot with every package
	// version the bundles do not hold removed (the default).
	ViewAvailable ViewMode = "available"
	// ViewFull advertises the newest snapshot unchanged.
	ViewFull ViewMode = "full"
)

// SourceOptions configure NewBundleSource. The zero value builds available
// views and logs nothing.
type SourceOptions struct {
	// View selects the advertised registry trees; "" means ViewAvailable.
	View ViewMode
	// Logger receives view summaries (Info) and problems (Warn, Error).
	// nil discards them.
	Logger *slog.Logger
	// Previous, if set, is the source this one replaces: a registry view
	// whose snapshot and available package set are unchanged is reused
	// instead of rebuilt.
	Previous *BundleSource
	// MemCache, if set, serves small tarballs from memory once they have
	// been read and verified in full (see MemCache). nil: no memory cache.
	MemCache *MemCache
	// Files, if set and the fetcher is a BlobFiler, remembers the files
	// that verified in full, which are then sent without hashing them
	// again while their identity is unchanged (see VerifiedFiles). nil:
	// every request hashes what it sends.
	Files *VerifiedFiles
}

// BundleSource is the Source over verified bundles: the routing table is
// a bundle.Catalog (newest bundle wins), content is streamed from fetcher
// through bundle.Reader (verified while streaming, seekable for ranges),
// and each registry is advertised through its view (see NewBundleSource).
// It is immutable apart from its quarantine, and safe for concurrent use.
type BundleSource struct {
	fetcher content.Fetcher
	mem     *MemCache
	files   *VerifiedFiles
	filer   BlobFiler // fetcher, when its blobs are local files
	cat     *bundle.Catalog
	log     *slog.Logger
	mode    ViewMode
	pkgKey  string // fingerprint of the package set, for view reuse
	regs    []RegistryRef
	views   map[julia.UUID]*View
	counts  map[bundle.Kind]int

	// bad holds the whole-tarball digests of items withdrawn because their
	// bytes failed their digest while being served (digest → error text);
	// suspect those whose reads failed in any way (digest → error text).
	bad, suspect sync.Map
}

// View is the registry tree a BundleSource advertises for one registry.
type View struct {
	// Name and UUID identify the registry.
	Name string
	UUID julia.UUID
	// Snapshot is the tree hash of the snapshot the view was made from.
	Snapshot treehash.Hash
	// Hash is the advertised tree hash: the keep-empty Tar.jl hash of the
	// served tarball (Snapshot when nothing was removed).
	Hash treehash.Hash
	// Size is the size of the served tarball.
	Size int64
	// RemovedVersions and RemovedPackages count what the bundles lack.
	RemovedVersions, RemovedPackages int
	// Packages and Versions count what the view keeps.
	Packages, Versions int

	data []byte // the view tarball; nil when the snapshot is served as is
	key  string
}

// NewBundleSource builds the Source over bundles, whose content fetcher
// reads. The caller must have verified the bundles (signatures, and
// bundle.Check); bundles that did not verify must not be passed.
//
// For each registry uuid it takes the newest snapshot (bundle.Catalog
// order) and, unless opts.View is ViewFull, makes its available view: it
// reads the snapshot tarball in memory (tarx.ReadFiles, nothing unpacked
// to disk), drops from every Versions.toml the versions whose tree the
// bundles lack (yanked versions that are held stay, G21), drops from
// Registry.toml, and drops the directories of, packages with no version
// left, and writes the tree as a deterministic gzip tarball (tarx.WriteFS,
// Tar.jl layout: sorted, no "./" paths, exec bits kept) whose keep-empty
// tree hash is what /registries advertises (pkg-protocol §7.1). When
// nothing is missing the snapshot itself is advertised and served. A
// snapshot that cannot be read is skipped for the next newest one, with
// an error logged; a registry with no readable snapshot is not advertised.
//
// It returns an error only when ctx ends.
func NewBundleSource(ctx context.Context, fetcher content.Fetcher, bundles []*bundle.Bundle, opts SourceOptions) (*BundleSource, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mode := opts.View
	if mode == "" {
		mode = ViewAvailable
	}
	s := &BundleSource{
		fetcher: fetcher, mem: opts.MemCache, files: opts.Files, cat: bundle.NewCatalog(bundles...), log: log, mode: mode,
		views: map[julia.UUID]*View{}, counts: map[bundle.Kind]int{},
	}
	s.filer, _ = fetcher.(BlobFiler)
	seen := map[string]bool{}
	var pkgs []string
	for e := range s.cat.All() {
		k := string(e.Kind) + "/" + e.UUID.String() + "/" + e.TreeHash.String()
		if !seen[k] {
			seen[k] = true
			s.counts[e.Kind]++
			if e.Kind == bundle.KindPackage {
				pkgs = append(pkgs, k)
			}
		}
	}
	slices.Sort(pkgs)
	sum := sha256.Sum256([]byte(strings.Join(pkgs, "\n")))
	s.pkgKey = hex.EncodeToString(sum[:])

	for _, newest := range s.cat.Registries() {
		var v *View
		for _, snap := range s.cat.Snapshots(newest.UUID) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var err error
			if v, err = s.view(ctx, snap, opts.Previous); err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			log.Error("registry snapshot skipped", slog.String("registry", snap.Item.String()), slog.String("error", err.Error()))
			v = nil
		}
		if v == nil {
			continue
		}
		s.views[v.UUID] = v
		s.regs = append(s.regs, RegistryRef{UUID: v.UUID, Hash: v.Hash})
		log.Info("registry advertised", slog.String("registry", v.Name), slog.String("uuid", v.UUID.String()),
			slog.String("hash", v.Hash.String()), slog.String("snapshot", v.Snapshot.String()), slog.String("view", string(mode)),
			slog.Int("packages", v.Packages), slog.Int("versions", v.Versions),
			slog.Int("removed_packages", v.RemovedPackages), slog.Int("removed_versions", v.RemovedVersions))
	}
	return s, nil
}

// view returns the advertised view of one snapshot, reusing prev's when
// nothing it depends on changed.
func (s *BundleSource) view(ctx context.Context, snap bundle.Snapshot, prev *BundleSource) (*View, error) {
	name := snap.Registry
	if name == "" {
		name = snap.Name
	}
	if s.mode == ViewFull {
		return &View{Name: name, UUID: snap.UUID, Snapshot: snap.TreeHash, Hash: snap.TreeHash, Size: snap.Whole.Size}, nil
	}
	key := string(s.mode) + "/" + snap.Whole.Digest.String() + "/" + s.pkgKey
	if prev != nil {
		if pv, ok := prev.views[snap.UUID]; ok && pv.key == key {
			return pv, nil
		}
	}
	v, err := buildView(ctx, s.fetcher, snap.Entry, func(u julia.UUID, h treehash.Hash) bool {
		return s.cat.PackageRef(u, h) != nil
	})
	if err != nil {
		return nil, err
	}
	v.Name, v.key = name, key
	return v, nil
}

// Registries implements Source.
func (s *BundleSource) Registries() []RegistryRef { return slices.Clone(s.regs) }

// Views returns the advertised view of every registry, sorted by uuid.
func (s *BundleSource) Views() []View {
	out := make([]View, 0, len(s.regs))
	for _, r := range s.regs {
		out = append(out, *s.views[r.UUID])
	}
	return out
}

// Counts returns the number of distinct items per kind.
func (s *BundleSource) Counts() map[bundle.Kind]int {
	out := make(map[bundle.Kind]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Catalog returns the routing table.
func (s *BundleSource) Catalog() *bundle.Catalog { return s.cat }

// Quarantined returns the whole-tarball digests of the items withdrawn
// because their bytes did not match their digest while being served,
// sorted. They stay withdrawn (404) for the life of this source; the
// caller re-checks the bundles holding them before building the next one.
// A transfer that merely broke off (a registry dropping the connection)
// withdraws nothing: see Suspects.
func (s *BundleSource) Quarantined() []digest.Digest { return keys(&s.bad) }

// Suspects returns the whole-tarball digests of the items whose reads
// failed in any way while being served (including Quarantined ones),
// sorted: the bundles holding them deserve a check at the next reload.
func (s *BundleSource) Suspects() []digest.Digest { return keys(&s.suspect) }

func keys(m *sync.Map) []digest.Digest {
	var out []digest.Digest
	m.Range(func(k, _ any) bool {
		out = append(out, k.(digest.Digest))
		return true
	})
	slices.Sort(out)
	return out
}

// Lookup implements Source.
func (s *BundleSource) Lookup(_ context.Context, r Resource) (Content, error) {
	var e *bundle.Entry
	switch r.Kind {
	case bundle.KindRegistry:
		if v, vok := s.views[r.UUID]; vok && v.data != nil && v.Hash == r.Hash {
			data := v.data
			return Content{Size: int64(len(data)), Bytes: data, Open: func(context.Context) (io.ReadSeekCloser, error) {
				return nopCloser{bytes.NewReader(data)}, nil
			}}, nil
		}
		e = s.cat.RegistryRef(r.UUID, r.Hash)
	case bundle.KindPackage:
		e = s.cat.PackageRef(r.UUID, r.Hash)
	case bundle.KindArtifact:
		e = s.cat.ArtifactRef(r.Hash)
	}
	if e == nil {
		return Content{}, notFound(r)
	}
	if why, bad := s.bad.Load(e.Whole.Digest); bad {
		return Content{}, fmt.Errorf("%s: withdrawn: %s: %w", r, why, errdef.ErrNotFound)
	}
	zstd := e.Whole.MediaType == bundle.MediaTypeTarZstd
	if data, ok := s.mem.get(e.Whole.Digest); ok {
		return Content{Size: int64(len(data)), Zstd: zstd, Bytes: data, Open: func(context.Context) (io.ReadSeekCloser, error) {
			return nopCloser{bytes.NewReader(data)}, nil
		}}, nil
	}
	return Content{
		Size: e.Whole.Size,
		Zstd: zstd,
		Open: func(ctx context.Context) (io.ReadSeekCloser, error) { return s.open(ctx, e) },
	}, nil
}

// open returns e's tarball positioned at 0: a file that verified before
// as it is (the server sends it by sendfile), else a reader that verifies
// while it streams.
func (s *BundleSource) open(ctx context.Context, e *bundle.Entry) (io.ReadSeekCloser, error) {
	w := &watchReader{s: s, e: e, from0: true}
	var fetcher content.Fetcher = s.fetcher
	if f, id, settled, ok := s.openFile(ctx, e.Whole); ok {
		if s.files.verified(e.Whole.Digest, id) {
			return f, nil
		}
		w.of = &oneFile{f: f, d: e.Whole.Digest, next: s.fetcher}
		fetcher = w.of
		w.seal, w.sealOK = id, settled
	}
	br, err := bundle.NewReader(ctx, fetcher, *e)
	if err != nil {
		if w.of != nil {
			w.of.close()
		}
		return nil, err
	}
	w.Reader = br
	if s.mem.fits(e.Whole.Size) {
		w.fill, w.buf = true, make([]byte, 0, e.Whole.Size)
	}
	return w, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// watchReader withdraws its item when its bytes fail their digest, and
// marks it suspect on any read error but the caller's cancellation. With
// fill set it copies what it reads from offset 0 into buf and hands it to
// the memory cache when bundle.Reader ends with io.EOF, which it does only
// after the whole tarball verified; any other Seek stops the copy.
//
// When it reads a file it opened itself (of set), a read from 0 that
// ends with io.EOF also remembers the file in VerifiedFiles, if the file
// had settled (sealOK).
type watchReader struct {
	*bundle.Reader
	s    *BundleSource
	e    *bundle.Entry
	fill bool
	buf  []byte

	of     *oneFile
	from0  bool // reading from offset 0 with nothing skipped
	seal   fileID
	sealOK bool
}

func (w *watchReader) Seek(offset int64, whence int) (int64, error) {
	n, err := w.Reader.Seek(offset, whence)
	w.from0 = err == nil && n == 0
	if w.from0 {
		w.buf = w.buf[:0]
	} else {
		w.fill, w.buf = false, nil
	}
	return n, err
}

// Close closes the reader and the file it was handed, if unused.
func (w *watchReader) Close() error {
	err := w.Reader.Close()
	if w.of != nil {
		w.of.close()
	}
	return err
}

func (w *watchReader) Read(p []byte) (int, error) {
	n, err := w.Reader.Read(p)
	if w.fill {
		if int64(len(w.buf)+n) > w.e.Whole.Size {
			w.fill, w.buf = false, nil
		} else {
			w.buf = append(w.buf, p[:n]...)
		}
	}
	if err == io.EOF && w.from0 && w.sealOK {
		w.s.files.put(w.e.Whole.Digest, w.seal)
		w.sealOK = false
	}
	if err == io.EOF && w.fill {
		if int64(len(w.buf)) == w.e.Whole.Size {
			w.s.mem.put(w.e.Whole.Digest, w.buf)
		}
		w.fill, w.buf = false, nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return n, err
	}
	w.fill, w.buf = false, nil
	w.s.suspect.LoadOrStore(w.e.Whole.Digest, err.Error())
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) {
		w.s.mem.drop(w.e.Whole.Digest)
		w.s.files.drop(w.e.Whole.Digest)
		if _, loaded := w.s.bad.LoadOrStore(w.e.Whole.Digest, err.Error()); !loaded {
			w.s.log.Error("item withdrawn: content failed verification", slog.String("item", w.e.Item.String()),
				slog.String("digest", w.e.Whole.Digest.String()), slog.String("error", err.Error()))
		}
	}
	return n, err
}
