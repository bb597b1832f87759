package pkgserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
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
	// Retained, if set, keeps every view the source advertises, and
	// answers for views that earlier sources advertised (see Lookup).
	Retained *ViewStore
}

// BundleSource is the Source over a shelf.Shelf, the verified bundles of a
// store: the routing table is the shelf's bundle.Catalog (newest bundle
// wins), every byte is read through the shelf (shelf.Shelf.Open: verified
// in memory, a verified private copy, or a stream verified while it is
// sent), and each registry is advertised through its view (see
// NewBundleSource). It is immutable and safe for concurrent use.
type BundleSource struct {
	sh     *shelf.Shelf
	cat    *bundle.Catalog
	log    *slog.Logger
	mode   ViewMode
	pkgKey string // fingerprint of the package set, for view reuse
	regs   []RegistryRef
	views  map[julia.UUID]*View
	counts map[bundle.Kind]int

	retained *ViewStore
	derived  derivation
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

// NewBundleSource builds the Source over the verified bundles of sh.
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
func NewBundleSource(ctx context.Context, sh *shelf.Shelf, opts SourceOptions) (*BundleSource, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mode := opts.View
	if mode == "" {
		mode = ViewAvailable
	}
	s := &BundleSource{
		sh: sh, cat: sh.Catalog(), log: log, mode: mode,
		views: map[julia.UUID]*View{}, counts: map[bundle.Kind]int{}, retained: opts.Retained,
	}
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
		if s.retained != nil && v.data != nil {
			s.retained.Put(v.UUID, v.Hash, v.data)
		}
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
	e := snap.Entry
	open := func(ctx context.Context) (io.ReadCloser, error) {
		b, err := s.sh.Open(ctx, &e, 0, e.Whole.Size)
		if err != nil {
			return nil, err
		}
		return readCloser{b.Reader(), b}, nil
	}
	v, err := buildView(ctx, open, e, func(u julia.UUID, h treehash.Hash) bool {
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

// Shelf returns the verified set the source reads.
func (s *BundleSource) Shelf() *shelf.Shelf { return s.sh }

// Lookup implements Source. A registry tree hash that is neither the
// advertised view nor a snapshot of the bundles is looked for among the
// views kept by SourceOptions.Retained, then among the views the bundles
// make as of each earlier verified bundle (at most DefaultDerivedViews
// back): views are a function of the verified bundles in creation order
// (shelf.Shelf.Verified), so any server that verified bundle k can serve
// what any other advertised as of bundle k.
func (s *BundleSource) Lookup(ctx context.Context, r Resource) (Content, error) {
	var e *bundle.Entry
	switch r.Kind {
	case bundle.KindRegistry:
		if v, vok := s.views[r.UUID]; vok && v.data != nil && v.Hash == r.Hash {
			return Content{Size: int64(len(v.data)), Bytes: v.data}, nil
		}
		if e = s.cat.RegistryRef(r.UUID, r.Hash); e != nil {
			break
		}
		// A view advertised before (by this server, or by another over
		// the same bundles): kept, or made again from the bundles.
		if s.retained != nil {
			if data, ok := s.retained.Get(r.UUID, r.Hash); ok {
				return Content{Size: int64(len(data)), Bytes: data}, nil
			}
		}
		data, err := s.derive(ctx, r.UUID, r.Hash)
		if err != nil {
			return Content{}, err
		}
		if data != nil {
			return Content{Size: int64(len(data)), Bytes: data}, nil
		}
	case bundle.KindPackage:
		e = s.cat.PackageRef(r.UUID, r.Hash)
	case bundle.KindArtifact:
		e = s.cat.ArtifactRef(r.Hash)
	}
	if e == nil {
		return Content{}, notFound(r)
	}
	c := Content{Size: e.Whole.Size, Zstd: e.Whole.MediaType == bundle.MediaTypeTarZstd, Bytes: s.sh.Cached(e)}
	if c.Bytes == nil {
		c.Open = func(ctx context.Context, off, n int64) (*shelf.Bytes, error) { return s.sh.Open(ctx, e, off, n) }
		c.Stat = func(ctx context.Context) error { return s.sh.Stat(ctx, e) }
	}
	return c, nil
}

// readCloser closes what it reads.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }
