package transfer

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/shoebox-jl/shoebox/internal/httpx"
	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// NamedManifest is a parsed Manifest.toml and the path it was read from.
type NamedManifest struct {
	Name     string
	Manifest *julia.Manifest
}

// PushRequest says what a push collects.
type PushRequest struct {
	// Manifests are the inside teams' manifests: every entry that tracks a
	// registered version is carried.
	Manifests []NamedManifest
	// Packages are roots (`--package Name[@spec]`) whose dependency closure
	// is resolved against the registries.
	Packages []julia.Requirement
	// All carries every package of every registry (a general mirror).
	All bool
	// VersionsPerPackage is how many of the newest non-yanked versions of
	// each root (Packages) or of each package (All) are carried; ≤ 0 means
	// 1, AllVersions every one.
	VersionsPerPackage int
	// JuliaVersion, if set, is honoured in Compat when resolving Packages.
	JuliaVersion string
	// Registries restricts the registry snapshots carried, by name or uuid;
	// empty means every registry the source lists.
	Registries []string
}

// AllVersions as PushRequest.VersionsPerPackage carries every version that
// is not yanked (a whole-registry mirror).
const AllVersions = math.MaxInt32

// PushOptions tune Push. The zero value works: every platform-independent
// artifact only, 4 transfers at a time, one blob per tarball.
type PushOptions struct {
	// Platforms are the target platforms whose artifacts are carried.
	Platforms []julia.Platform
	// AllPlatforms carries the artifacts of every platform.
	AllPlatforms bool
	// IncludeLazy also carries lazy artifacts.
	IncludeLazy bool
	// Downloads allows fetching artifacts from their Artifacts.toml download
	// URLs (checking sha256) when no source has them.
	Downloads bool
	// DownloadClient fetches download URLs; nil means a client like a Pkg
	// server source's. Its transport is wrapped under Network.
	DownloadClient *http.Client
	// Network bounds the retries and stalls of download URLs (the zero
	// value is httpx's default policy); sources bring their own.
	Network httpx.Policy
	// AllowMissing records what cannot be found in the bundle's report
	// instead of failing.
	AllowMissing bool
	// Concurrency bounds parallel transfers; ≤ 0 means 4.
	Concurrency int
	// MaxPartSize splits tarballs into parts of at most this many bytes
	// (FAT32: store.FAT32MaxFileSize); 0 stores whole tarballs.
	MaxPartSize int64
	// TempDir is for spooling when the destination is a registry.
	TempDir string
	// Tag is the bundle's tag; "" leaves the bundle untagged.
	Tag string
	// Created, ToolVersion and Inputs go into the bundle index.
	Created time.Time
	// CreatedPinned says Created was asked for (not "now"): a bundle that
	// is otherwise up to date but was created at another time is written
	// again.
	CreatedPinned bool
	ToolVersion   string
	// Skip reports resources the destination side already holds (a delta
	// against an inventory): their item manifests are referenced by the
	// index but nothing is written for them.
	Skip func(Resource) (ocispec.Descriptor, bool)
	// DryRun plans and fetches package tarballs (to find artifacts) but
	// writes nothing to the destination.
	DryRun bool
	// KeepPartial keeps what a failed push stored (verified items,
	// untagged) so that a re-run reuses it. By default a push that fails
	// with an error returns a layout destination to its state before the
	// push (store.Rollback); a push interrupted by ctx keeps its items
	// either way, for the re-run to complete.
	KeepPartial bool
	// Advisories, when not nil, are carried as the bundle's advisories
	// item (bundle.PushAdvisories): OSV files, file name → content.
	Advisories map[string][]byte
	// AdvisoriesSource is where Advisories were read from (a URL; a
	// directory or zip as a file:// URL), for the provenance record.
	AdvisoriesSource string
	// NoProvenance writes no provenance record (see PushResult.Provenance).
	NoProvenance bool
	// Approve, if set, is called once the package versions to carry are
	// known (one PlannedItem per package tree, with its versions), before
	// anything is fetched or written; an error stops the push (an audit
	// that refuses the closure). Dry runs call it too.
	Approve func(packages []PlannedItem) error
	// Room, if set, says what the destination can still take; nil means
	// the destination's own (store.Store.Room: a layout's file system;
	// nothing for a registry). Before it writes the registries and
	// packages, and again before the artifacts, a push checks their blob
	// files against the directory limit (FAT32) and their bytes against
	// the free space, and refuses with store.ErrNoRoom what cannot fit. A
	// dry run checks the directory limit only (its plan states the
	// space).
	Room func() (store.Room, bool, error)
	// Progress, if set, receives events; it must be cheap and safe for
	// concurrent calls.
	Progress func(Event)
	// Logger receives debug and warning lines; nil discards them.
	Logger *slog.Logger
}

// EventType says what happened to an item.
type EventType string

// Progress event types.
const (
	EventPlanned EventType = "planned" // Items/Bytes: totals known so far (Bytes 0: unknown)
	EventStart   EventType = "start"   // an item's transfer began
	EventBytes   EventType = "bytes"   // Bytes more were read from the source
	EventDone    EventType = "done"    // an item was stored
	EventSkipped EventType = "skipped" // the destination already had it
	EventMissing EventType = "missing" // no source had it
	// EventSourceFailed: Source failed to give the item (Err says how: its
	// content failed verification, or the transfer failed after its
	// retries); the next source is tried.
	EventSourceFailed EventType = "source-failed"
)

// Event is one progress report.
type Event struct {
	Type     EventType
	Resource Resource
	Name     string
	Bytes    int64
	// Items is, for EventPlanned, the number of items known so far.
	Items int
	// Source and Err are, for EventSourceFailed, the source that failed
	// and how; Next is the source tried next ("" when none is left).
	Source string
	Err    error
	Next   string
}

// PushResult summarises a push.
type PushResult struct {
	// Index is the bundle index (zero on a dry run).
	Index ocispec.Descriptor
	Tag   string
	// Items counts the bundle's items per kind.
	Items map[bundle.Kind]int
	// Stored counts items whose content was written by this push; Reused
	// counts items the destination already had (dedup, resume, delta).
	Stored, Reused int
	// BytesFetched were read from sources; BytesTotal is the size of every
	// tarball in the bundle.
	BytesFetched, BytesTotal int64
	// Missing lists what could not be provided (with AllowMissing).
	Missing []bundle.Missing
	// Warnings are problems that did not stop the push.
	Warnings []string
	// SourceFailures are the sources that failed to give an item, which
	// was then taken from the next source (or, when the push failed, from
	// none); sorted. They are recorded in the provenance record (see
	// Provenance), never in the bundle: which mirror failed is not part of
	// the request, and the same request is the same bundle.
	SourceFailures []bundle.SourceFailure
	// Plan lists every item (always filled; the whole answer of a dry run).
	Plan []PlannedItem
	// UpToDate says the tag already named the bundle this push would
	// write (same push key, see bundle.AnnotationPushKey) and every blob
	// was there: the bundle was kept as it is and nothing was written.
	UpToDate bool
	// RolledBack counts the blob files a failed push removed from a
	// layout destination to leave it as it was (see
	// PushOptions.KeepPartial).
	RolledBack int
	// Provenance is the manifest of the provenance record written for the
	// bundle (bundle.Provenance: where each item came from, a referrer of
	// the index, not part of the bundle); zero when none was written: a
	// dry run, an up-to-date bundle, a bundle already tagged in the
	// destination (its records stay), PushOptions.NoProvenance.
	Provenance ocispec.Descriptor
}

// PlannedItem is one item of a push plan.
type PlannedItem struct {
	Resource Resource
	Name     string
	Versions []string
	Platform string
	// Size is the tarball size, -1 if unknown.
	Size int64
	// InDestination says the destination already holds it.
	InDestination bool
}

// MissingError is returned when items cannot be found and AllowMissing is
// off. It wraps ErrNotFound.
type MissingError struct{ Missing []bundle.Missing }

func (e *MissingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d item(s) not found:", len(e.Missing))
	for _, m := range e.Missing {
		b.WriteString("\n  ")
		b.WriteString(describeMissing(m))
	}
	b.WriteString("\n(use --allow-missing to record them in the bundle instead)")
	return b.String()
}

func (e *MissingError) Unwrap() error { return ErrNotFound }

func describeMissing(m bundle.Missing) string {
	var id string
	switch m.Kind {
	case bundle.KindArtifact:
		id = "artifact " + m.Name + " " + m.TreeHash.String()
		if m.Platform != "" {
			id += " (" + m.Platform + ")"
		}
	case bundle.KindPackage:
		id = "package " + m.Name
		if m.Version != "" {
			id += "@" + m.Version
		}
		id += " " + m.UUID.String() + " " + m.TreeHash.String()
	default:
		id = string(m.Kind) + " " + m.Name + " " + m.UUID.String() + " " + m.TreeHash.String()
	}
	s := id + ": " + m.Reason
	if len(m.RequiredBy) > 0 {
		s += " (required by " + strings.Join(m.RequiredBy, ", ") + ")"
	}
	return s
}

// registrySnapshot is a registry fetched for planning.
type registrySnapshot struct {
	ref     RegistryRef
	reg     *julia.Registry
	fsys    fs.FS
	tarball []byte
	hashes  treehash.TarHashes
}

// pkgPlan is one package tree to carry.
type pkgPlan struct {
	res        Resource
	name       string
	registry   string
	versions   stringSet
	requiredBy stringSet
}

// artPlan is one artifact tree to carry.
type artPlan struct {
	res        Resource
	name       string
	platform   string
	downloads  []julia.Download
	requiredBy stringSet
}

type pusher struct {
	src  Source
	dst  *store.Store
	req  PushRequest
	opts PushOptions
	// regRefs are the registries the sources list; key is the push key.
	regRefs []RegistryRef
	key     string
	// bundles are the destination's bundles read so far, by index digest.
	bundles map[digest.Digest]*bundle.Bundle
	log     *slog.Logger

	// sources are the members of src, tried in order for each item.
	sources []Source

	mu       sync.Mutex     // guards the fields below
	items    []bundle.Entry // the index's entries, without annotations (bundle.EntryOf)
	missing  []bundle.Missing
	failures []bundle.SourceFailure
	warnings []string
	result   PushResult
	arts     map[treehash.Hash]*artPlan
	existing map[string]existingItem // identity key → item already in the destination
	flushed  time.Time               // last Flush request
	flushReq chan struct{}           // to the flusher goroutine
	flushDur atomic.Int64            // how long the last Flush took, in ns
	prov     provenanceLog           // where each item came from
}

// flusher saves the destination's index whenever asked, until done closes.
func (p *pusher) flusher(ctx context.Context, done <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	for {
		select {
		case <-done:
			return
		case <-p.flushReq:
			t0 := time.Now()
			if err := p.dst.Flush(ctx); err != nil {
				p.log.Warn("saving the layout index", "error", err)
			}
			p.flushDur.Store(int64(time.Since(t0)))
		}
	}
}

// flushEvery is how often a push saves a layout's index while it runs, at
// most: a save lists every item stored so far, so it is spaced to at
// least flushSpacing times its own last duration (a push of 350,000 items
// would otherwise spend its time rewriting an index.json that grows with
// it, back to back).
const (
	flushEvery   = 2 * time.Second
	flushSpacing = 10
)

// Push collects what req asks for from src and writes it into dst as one
// bundle: a registry snapshot per registry, every package version, and every
// artifact their Artifacts.toml files list for the target platforms. Every
// tarball is verified (Tar.jl's rules, the right tree hash) while it streams
// into the store; nothing unverified becomes visible. Items dst already holds
// (from earlier bundles, or an interrupted run of this push) are not fetched
// again. The bundle index is written and tagged last.
//
// A push that fails with an error (a missing item without AllowMissing, a
// tarball that does not verify, a source that fails) leaves a layout
// destination as it was: everything it stored is removed again (see
// PushOptions.KeepPartial). One interrupted through ctx keeps what it
// stored, so that a re-run completes it.
func Push(ctx context.Context, src Source, dst *store.Store, req PushRequest, opts PushOptions) (*PushResult, error) {
	res, mark, err := push(ctx, src, dst, req, opts)
	if err == nil || mark == nil || ctx.Err() != nil {
		return res, err
	}
	n, rerr := dst.Rollback(context.WithoutCancel(ctx), mark)
	if rerr != nil {
		return res, errors.Join(err, fmt.Errorf("leaving %s as it was: %w", dst.Ref().Location(), rerr))
	}
	res.RolledBack = n
	return res, err
}

// push does the work of Push. Before its first write it marks dst (unless
// opts.KeepPartial or a dry run) and returns the mark, for Push to roll
// back to on an error; from then on a failure still returns the result so
// far (what was stored, and what was rolled back).
func push(ctx context.Context, src Source, dst *store.Store, req PushRequest, opts PushOptions) (res *PushResult, mark *store.Mark, err error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if req.VersionsPerPackage <= 0 {
		req.VersionsPerPackage = 1
	}
	p := &pusher{src: src, sources: upstream.Members(src), dst: dst, req: req, opts: opts, log: opts.Logger,
		arts: map[treehash.Hash]*artPlan{}, existing: map[string]existingItem{}, flushed: time.Now(),
		flushReq: make(chan struct{}, 1)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if res != nil {
			res.SourceFailures = p.sortedFailures()
		}
	}()
	done, stopped := make(chan struct{}), make(chan struct{})
	go p.flusher(ctx, done, stopped)
	defer func() { close(done); <-stopped }()
	p.result.Items = map[bundle.Kind]int{}
	refs, err := listRegistries(ctx, p.src)
	if err != nil {
		return nil, nil, err
	}
	p.regRefs, p.key = refs, pushKey(req, opts, refs)
	if ok, err := p.upToDate(ctx, p.key); err != nil || ok {
		if err != nil {
			return nil, nil, err
		}
		return &p.result, nil, nil
	}
	if !opts.DryRun && !opts.KeepPartial {
		if mark, err = dst.Mark(ctx); err != nil {
			return nil, nil, err
		}
	}
	if err := p.loadExisting(ctx); err != nil {
		return &p.result, mark, err
	}
	regs, err := p.registries(ctx)
	if err != nil {
		return &p.result, mark, err
	}
	pkgs, err := p.planPackages(regs)
	if err != nil {
		return &p.result, mark, err
	}
	if opts.Approve != nil {
		plan := make([]PlannedItem, 0, len(pkgs))
		for _, pp := range pkgs {
			plan = append(plan, PlannedItem{Resource: pp.res, Name: pp.name, Versions: pp.versions.sorted(), Size: -1})
		}
		if err := opts.Approve(plan); err != nil {
			return &p.result, mark, err
		}
	}
	p.emit(Event{Type: EventPlanned, Items: len(regs) + len(pkgs)})
	if err := p.checkRoom(fmt.Sprintf("this push (%d registries, %d packages, then their artifacts)", len(regs), len(pkgs)),
		p.plannedPackages(ctx, regs, pkgs), true); err != nil {
		return &p.result, mark, err
	}

	for _, r := range regs {
		if err := p.pushRegistry(ctx, r); err != nil {
			return &p.result, mark, err
		}
	}
	p.grow(len(regs) + len(pkgs))
	if err := p.each(ctx, len(pkgs), func(ctx context.Context, i int) error { return p.pushPackage(ctx, pkgs[i]) }); err != nil {
		return &p.result, mark, err
	}
	arts := p.sortedArtifacts()
	p.emit(Event{Type: EventPlanned, Items: len(regs) + len(pkgs) + len(arts)})
	if err := p.checkRoom(fmt.Sprintf("this push's %d artifacts", len(arts)), p.plannedArtifacts(ctx, arts), false); err != nil {
		return &p.result, mark, err
	}
	p.grow(len(arts))
	if err := p.each(ctx, len(arts), func(ctx context.Context, i int) error { return p.pushArtifact(ctx, arts[i]) }); err != nil {
		return &p.result, mark, err
	}
	sort.Slice(p.missing, func(i, j int) bool { return describeMissing(p.missing[i]) < describeMissing(p.missing[j]) })
	p.result.Missing = p.missing
	p.result.Warnings = p.warnings
	slices.SortFunc(p.result.Plan, comparePlanned)
	if len(p.missing) > 0 && !opts.AllowMissing {
		return &p.result, mark, &MissingError{Missing: p.missing}
	}
	if opts.DryRun {
		return &p.result, mark, nil
	}
	return &p.result, mark, p.finish(ctx)
}

// comparePlanned orders a push's plan: kind, name, uuid, tree hash (the
// last two as bytes, the order of their hex forms; no string made per
// comparison: a plan may list 125,000 items).
func comparePlanned(a, b PlannedItem) int {
	return cmp.Or(
		strings.Compare(string(a.Resource.Kind), string(b.Resource.Kind)),
		strings.Compare(a.Name, b.Name),
		bytes.Compare(a.Resource.UUID[:], b.Resource.UUID[:]),
		bytes.Compare(a.Resource.Hash[:], b.Resource.Hash[:]),
	)
}

// each runs f for 0..n-1 with bounded concurrency; the first error cancels
// the rest.
func (p *pusher) each(ctx context.Context, n int, f func(context.Context, int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Concurrency)
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { return f(ctx, i) })
	}
	return g.Wait()
}

func (p *pusher) emit(e Event) {
	if p.opts.Progress != nil {
		p.opts.Progress(e)
	}
}

func identityKey(kind bundle.Kind, uuid julia.UUID, h treehash.Hash) string {
	return string(kind) + "/" + uuid.String() + "/" + h.String()
}

// loadExisting reads every bundle already tagged in the destination, so the
// items they hold are reused rather than fetched again.
func (p *pusher) loadExisting(ctx context.Context) error {
	refs, err := shelf.List(ctx, p.dst)
	if err != nil {
		return fmt.Errorf("%s: %w", p.dst.Ref(), err)
	}
	read := map[digest.Digest]bool{} // tags naming the same bundle count once
	for _, r := range refs {
		t, desc := r.Tag, r.Index
		if read[desc.Digest] {
			continue
		}
		read[desc.Digest] = true
		p.prov.tag(desc.Digest)
		b, err := p.readBundle(ctx, desc)
		if err != nil {
			p.log.Warn("ignoring unreadable bundle", "tag", t, "error", err)
			continue
		}
		for _, e := range b.Entries {
			p.existing[identityKey(e.Kind, e.UUID, e.TreeHash)] = existingItem{Entry: e, indexed: true}
		}
	}
	// Items of an interrupted run of this push: a layout lists untagged item
	// manifests (flushed as the push goes) until an index points at them.
	for _, d := range p.dst.Roots() {
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		it, err := bundle.ReadItem(ctx, p.dst, d)
		if err != nil || it.Kind == bundle.KindReport {
			continue
		}
		k := identityKey(it.Kind, it.UUID, it.TreeHash)
		if _, ok := p.existing[k]; !ok {
			p.existing[k] = existingItem{Entry: bundle.Entry{Item: it, Manifest: d}}
		}
	}
	return nil
}

// existingItem is an item the destination holds.
type existingItem struct {
	bundle.Entry
	// indexed: Manifest is the item's descriptor in a bundle index, with
	// its annotations, as PushItem would return it; otherwise (an untagged
	// root) it is a plain descriptor.
	indexed bool
}

// reuse returns an item the destination already holds in full (its layers
// present), with the annotated descriptor of its manifest. versions, for
// packages, are the versions this push wants listed: when they differ from
// the stored item's, a new item manifest over the same layers is written
// (no content is fetched again). A package's Artifacts.toml files come
// from its manifest (Entry.ArtifactsTOML; nil if it does not record them).
func (p *pusher) reuse(ctx context.Context, res Resource, kind bundle.Kind, versions []string) (bundle.Entry, bool) {
	x, ok := p.existing[identityKey(kind, res.UUID, res.Hash)]
	e := x.Entry
	if !ok {
		return e, false
	}
	for _, l := range e.Layers {
		if ok, err := p.dst.BlobExists(ctx, l); err != nil || !ok {
			return e, false
		}
	}
	it := e.Item
	if kind == bundle.KindPackage {
		// The index entry lacks what only the manifest records (the
		// package's Artifacts.toml files); read it, so that the item
		// written for this push is the same manifest when the versions
		// are.
		m, err := bundle.ReadItem(ctx, p.dst, e.IndexDescriptor())
		if err != nil || !sameItem(m, it) {
			p.log.Warn("not reusing stored item", "item", it.String(), "error", err)
			return e, false
		}
		it.ArtifactsTOML = m.ArtifactsTOML
		e.Item.ArtifactsTOML = m.ArtifactsTOML
		if !sameVersions(it.Versions, versions) {
			x.indexed = false // a new manifest for the new version list
			it.Versions = versions
		}
	}
	if p.opts.DryRun {
		return e, true
	}
	if x.indexed {
		// The same item manifest as in the bundle it came from: nothing to
		// write if the manifest is there. It is reached from a tagged
		// index, so its blob being there is enough (a stat; no graph).
		if ok, err := p.dst.BlobExists(ctx, e.Manifest); err == nil && ok {
			return e, true
		}
	}
	d, err := bundle.PushItem(ctx, p.dst, it)
	if err != nil {
		p.log.Warn("not reusing stored item", "item", it.String(), "error", err)
		return e, false
	}
	e.Item, e.Manifest = it, d
	return e, true
}

// sameVersions reports whether two version lists hold the same versions.
func sameVersions(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// registries lists, fetches and verifies the registry snapshots to carry.
func (p *pusher) registries(ctx context.Context) ([]*registrySnapshot, error) {
	refs := p.regRefs
	var out []*registrySnapshot
	for _, ref := range refs {
		res := Resource{Kind: KindRegistry, UUID: ref.UUID, Hash: ref.Hash}
		var snap *registrySnapshot
		_, err := p.fetch(ctx, res, "", nil, func(_ Source, rc io.ReadCloser) (err error) {
			snap, err = readSnapshot(ref, rc)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", res, err)
		}
		if !wanted(p.req.Registries, snap.reg) {
			continue
		}
		out = append(out, snap)
	}
	for _, want := range p.req.Registries {
		found := false
		for _, r := range out {
			found = found || r.reg.Name == want || r.reg.UUID.String() == want
		}
		if !found {
			return nil, fmt.Errorf("registry %q: not listed by %s: %w", want, p.src.Name(), ErrNotFound)
		}
	}
	return out, nil
}

// readSnapshot reads and checks a registry tarball a source gave: Tar.jl's
// rules, the keep-empty tree hash, canonical paths, a Registry.toml of the
// right uuid. What fails is the source's fault (upstream.BadContent).
func readSnapshot(ref RegistryRef, rc io.Reader) (*registrySnapshot, error) {
	cr := &countingReader{r: rc}
	data, err := io.ReadAll(io.LimitReader(cr, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	s := scan(bytes.NewReader(data), false)
	if s.err != nil {
		return nil, upstream.BadContent(s.err)
	}
	if s.hashes.KeepEmpty != ref.Hash {
		return nil, upstream.BadContent(fmt.Errorf("tarball has keep-empty tree hash %s: %w", s.hashes.KeepEmpty, treehash.ErrMismatch))
	}
	if err := checkRawPaths(data); err != nil {
		return nil, upstream.BadContent(err)
	}
	dec, _, err := tarx.Decompress(bytes.NewReader(data))
	if err != nil {
		return nil, upstream.BadContent(err)
	}
	fsys, err := tarx.ReadFiles(dec, tarx.Limits{})
	dec.Close()
	if err != nil {
		return nil, upstream.BadContent(err)
	}
	reg, err := julia.ReadRegistry(fsys)
	if err != nil {
		return nil, upstream.BadContent(err)
	}
	if reg.UUID != ref.UUID {
		return nil, upstream.BadContent(fmt.Errorf("its Registry.toml has uuid %s", reg.UUID))
	}
	return &registrySnapshot{ref: ref, reg: reg, fsys: fsys, tarball: data, hashes: s.hashes}, nil
}

// checkRawPaths rejects a registry tarball whose entry paths are not in
// the canonical form ("Registry.toml", "E/Example/Package.toml"): Pkg ≥1.7
// reads a registry tarball in memory and looks its files up by their exact
// tar path, so a "./" prefix, which no tree hash sees, makes the registry
// unloadable (pkg-protocol G3).
func checkRawPaths(tarball []byte) error {
	dec, _, err := tarx.Decompress(bytes.NewReader(tarball))
	if err != nil {
		return err
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the tarball: %w", err)
		}
		name := h.Name
		if h.Typeflag == tar.TypeDir {
			if name == "." || name == "./" {
				continue
			}
			name = strings.TrimSuffix(name, "/")
		}
		var parts []string
		for _, p := range strings.Split(name, "/") {
			if p != "" && p != "." {
				parts = append(parts, p)
			}
		}
		if strings.Join(parts, "/") != name {
			return fmt.Errorf("tarball entry %q: path not in canonical form; Pkg looks registry files up by their exact path and could not load this registry (pkg-protocol G3)%.0w", h.Name, treehash.ErrTarEntry)
		}
	}
}

func wanted(names []string, reg *julia.Registry) bool {
	if len(names) == 0 {
		return true
	}
	return slices.Contains(names, reg.Name) || slices.Contains(names, reg.UUID.String())
}

// listRegistries asks every member of a source that can list registries;
// for a uuid listed several times the first source wins.
func listRegistries(ctx context.Context, src Source) ([]RegistryRef, error) {
	members := upstream.Members(src)
	seen := map[julia.UUID]bool{}
	var out []RegistryRef
	for _, m := range members {
		l, ok := m.(upstream.RegistryLister)
		if !ok {
			continue
		}
		refs, err := l.Registries(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: listing registries: %w", m.Name(), err)
		}
		for _, r := range refs {
			if !seen[r.UUID] {
				seen[r.UUID] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// planPackages turns manifests, package roots and --all into package trees.
func (p *pusher) planPackages(regs []*registrySnapshot) ([]*pkgPlan, error) {
	plans := map[string]*pkgPlan{}
	add := func(uuid julia.UUID, h treehash.Hash, name, version, registry, by string) {
		k := identityKey(bundle.KindPackage, uuid, h)
		pp := plans[k]
		if pp == nil {
			pp = &pkgPlan{res: Resource{Kind: KindPackage, UUID: uuid, Hash: h}, name: name,
				registry: registry}
			plans[k] = pp
		}
		if version != "" {
			pp.versions.add(version)
		}
		if by != "" {
			pp.requiredBy.add(by)
		}
		if pp.registry == "" {
			pp.registry = registry
		}
	}
	registryOf := func(uuid julia.UUID) string {
		for _, r := range regs {
			if _, ok := r.reg.Packages[uuid]; ok {
				return r.reg.Name
			}
		}
		return ""
	}
	listed := newListing(regs)
	var unlisted []string
	for _, m := range p.req.Manifests {
		for _, e := range m.Manifest.Entries {
			if !e.Fetchable() {
				continue
			}
			// What verify and copy check inside (the closure): a registry
			// snapshot of the bundle lists the package at its tree hash.
			// Refused here, where it can be fixed.
			why, err := listed.why(e.UUID, e.TreeHash)
			if err != nil {
				return nil, err
			}
			if why != "" {
				unlisted = append(unlisted, fmt.Sprintf("%s: %s %s %s %s: %s", m.Name, e.Name, e.Version, e.UUID, e.TreeHash, why))
				continue
			}
			add(e.UUID, e.TreeHash, e.Name, e.Version, registryOf(e.UUID), m.Name)
		}
	}
	if len(unlisted) > 0 {
		return nil, &UnlistedError{Entries: unlisted, Registries: registryNames(regs)}
	}
	for _, root := range p.req.Packages {
		resolved := false
		for _, r := range regs {
			if !hasPackage(r.reg, root) {
				continue
			}
			res, err := julia.Resolve(r.reg, r.fsys, []julia.Requirement{root}, julia.ResolveOptions{
				VersionsPerPackage: p.req.VersionsPerPackage, JuliaVersion: p.req.JuliaVersion})
			if err != nil {
				return nil, fmt.Errorf("package %s: resolving in %s: %w", root.Name, r.reg.Name, err)
			}
			for _, rp := range res.Packages {
				add(rp.UUID, rp.TreeHash, rp.Name, rp.Version.String(), r.reg.Name, "package "+root.Name)
			}
			resolved = true
			break
		}
		if !resolved {
			return nil, fmt.Errorf("package %s: in none of the registries %s: %w", root.Name, registryNames(regs), ErrNotFound)
		}
	}
	if p.req.All {
		for _, r := range regs {
			uuids := make([]julia.UUID, 0, len(r.reg.Packages))
			for u := range r.reg.Packages {
				uuids = append(uuids, u)
			}
			slices.SortFunc(uuids, func(a, b julia.UUID) int { return bytes.Compare(a[:], b[:]) })
			for _, u := range uuids {
				rp := r.reg.Packages[u]
				pkg, err := julia.ReadPackage(r.fsys, rp.Path)
				if err != nil {
					return nil, fmt.Errorf("registry %s: %w", r.reg.Name, err)
				}
				n := 0
				for _, v := range newestFirst(pkg) {
					if v.info.Yanked {
						continue
					}
					add(u, v.info.TreeHash, pkg.Name, v.version, r.reg.Name, "registry "+r.reg.Name)
					if n++; n >= p.req.VersionsPerPackage {
						break
					}
				}
			}
		}
	}
	out := make([]*pkgPlan, 0, len(plans))
	for _, pp := range plans {
		out = append(out, pp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].res.Hash.String() < out[j].res.Hash.String()
	})
	return out, nil
}

// UnlistedError refuses manifest entries that no carried registry snapshot
// lists at their tree hash: the bundle would fail verify's closure check
// inside (and Pkg ≥1.8 would not ask a server for a package its registries
// lack, pkg-protocol G8). It wraps shelf.ErrIncomplete.
type UnlistedError struct {
	// Entries name each entry ("Manifest.toml: Name 1.2.3 <uuid> <tree
	// hash>: why"); Registries the snapshots looked in.
	Entries    []string
	Registries string
}

func (e *UnlistedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d manifest %s not listed at %s tree hash by the registries carried (%s); verify and copy would refuse the bundle:",
		len(e.Entries), plural(len(e.Entries), "entry is", "entries are"), plural(len(e.Entries), "its", "their"), e.Registries)
	for _, s := range e.Entries {
		b.WriteString("\n  ")
		b.WriteString(s)
	}
	return b.String()
}

func (e *UnlistedError) Unwrap() error { return shelf.ErrIncomplete }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listing answers, from the carried registry snapshots, whether a package
// version is listed; each package's Versions.toml is read once.
type listing struct {
	regs   []*registrySnapshot
	hashes map[julia.UUID]map[treehash.Hash]bool
}

func newListing(regs []*registrySnapshot) *listing {
	return &listing{regs: regs, hashes: map[julia.UUID]map[treehash.Hash]bool{}}
}

// why returns "" when a carried registry lists uuid at h, else why not.
func (l *listing) why(uuid julia.UUID, h treehash.Hash) (string, error) {
	set, ok := l.hashes[uuid]
	var in []string
	if !ok {
		set = map[treehash.Hash]bool{}
		for _, r := range l.regs {
			rp, ok := r.reg.Packages[uuid]
			if !ok {
				continue
			}
			pkg, err := julia.ReadPackage(r.fsys, rp.Path)
			if err != nil {
				return "", fmt.Errorf("registry %s: %w", r.reg.Name, err)
			}
			for _, v := range pkg.Versions {
				set[v.TreeHash] = true
			}
		}
		l.hashes[uuid] = set
	}
	if set[h] {
		return "", nil
	}
	for _, r := range l.regs {
		if _, ok := r.reg.Packages[uuid]; ok {
			in = append(in, r.reg.Name)
		}
	}
	if len(in) == 0 {
		return "in no registry carried", nil
	}
	return "no version of it in " + strings.Join(in, ", ") + " has this tree hash", nil
}

type namedVersion struct {
	version string
	v       julia.Version
	info    julia.VersionInfo
}

func newestFirst(pkg *julia.Package) []namedVersion {
	var vs []namedVersion
	for s, info := range pkg.Versions {
		v, err := julia.ParseVersion(s)
		if err != nil {
			continue
		}
		vs = append(vs, namedVersion{s, v, info})
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].v.Compare(vs[j].v) > 0 })
	return vs
}

func hasPackage(reg *julia.Registry, r julia.Requirement) bool {
	for u, p := range reg.Packages {
		if p.Name == r.Name && (r.UUID.IsZero() || r.UUID == u) {
			return true
		}
	}
	return false
}

func registryNames(regs []*registrySnapshot) string {
	var n []string
	for _, r := range regs {
		n = append(n, r.reg.Name+" "+r.ref.UUID.String()+" at "+r.ref.Hash.String())
	}
	if len(n) == 0 {
		return "(none listed)"
	}
	return strings.Join(n, ", ")
}

func (p *pusher) addMissing(m bundle.Missing) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.missing = append(p.missing, m)
}

// grow makes room in the plan and the entries for n more items at once
// (appending one at a time doubles them: up to half of 125,000 entries of
// ~400 bytes unused).
func (p *pusher) grow(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.result.Plan = slices.Grow(p.result.Plan, n)
	p.items = slices.Grow(p.items, n+2) // + the report and advisories
}

func (p *pusher) record(item PlannedItem, desc ocispec.Descriptor, kind bundle.Kind, stored bool, fetched, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if stored && !p.opts.DryRun && time.Since(p.flushed) > max(flushEvery, flushSpacing*time.Duration(p.flushDur.Load())) {
		// Save the layout's index now and then, so a killed push leaves its
		// stored items findable for the re-run. The save (which first makes
		// the new blobs durable) runs beside the transfers, not in their way.
		select {
		case p.flushReq <- struct{}{}:
		default: // one is already pending
		}
		p.flushed = time.Now()
	}
	p.result.Plan = append(p.result.Plan, item)
	p.result.Items[kind]++
	p.result.BytesFetched += fetched
	p.result.BytesTotal += size
	if stored {
		p.result.Stored++
		p.prov.mark(&p.prov.stored, item.Resource)
	} else {
		p.result.Reused++
	}
	if desc.Digest != "" {
		e, err := bundle.EntryOf(desc)
		if err != nil {
			// Descriptors come from PushItem or a verified bundle: a bad
			// one is a bug; PushIndex names it.
			e = bundle.Entry{Manifest: desc}
		}
		p.items = append(p.items, e)
	}
}

func (p *pusher) pushRegistry(ctx context.Context, r *registrySnapshot) error {
	res := Resource{Kind: KindRegistry, UUID: r.ref.UUID, Hash: r.ref.Hash}
	item := PlannedItem{Resource: res, Name: r.reg.Name, Size: int64(len(r.tarball))}
	if d, ok := p.skipped(res); ok {
		item.InDestination = true
		p.record(item, d, bundle.KindRegistry, false, 0, int64(len(r.tarball)))
		p.emit(Event{Type: EventSkipped, Resource: res, Name: r.reg.Name})
		return nil
	}
	if e, ok := p.reuse(ctx, res, bundle.KindRegistry, nil); ok {
		item.InDestination = true
		p.record(item, e.IndexDescriptor(), bundle.KindRegistry, false, int64(len(r.tarball)), int64(len(r.tarball)))
		p.emit(Event{Type: EventSkipped, Resource: res, Name: r.reg.Name, Bytes: int64(len(r.tarball))})
		return nil
	}
	p.emit(Event{Type: EventStart, Resource: res, Name: r.reg.Name})
	if p.opts.DryRun {
		p.record(item, ocispec.Descriptor{}, bundle.KindRegistry, true, int64(len(r.tarball)), int64(len(r.tarball)))
		return nil
	}
	whole, parts, _, err := ingestChecked(ctx, p.dst, bytes.NewReader(r.tarball), p.opts.MaxPartSize, p.opts.TempDir, false,
		func(h treehash.TarHashes) error {
			if h.KeepEmpty != r.ref.Hash {
				return fmt.Errorf("keep-empty tree hash %s: %w", h.KeepEmpty, treehash.ErrMismatch)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("%s: storing: %w", res, err)
	}
	layers, w := layersOf(whole, parts)
	desc, err := bundle.PushItem(ctx, p.dst, bundle.Item{Kind: bundle.KindRegistry, UUID: r.ref.UUID, TreeHash: r.ref.Hash,
		Registry: r.reg.Name, Layers: layers, Whole: w})
	if err != nil {
		return fmt.Errorf("%s: %w", res, err)
	}
	p.record(item, desc, bundle.KindRegistry, true, whole.Size, whole.Size)
	p.emit(Event{Type: EventDone, Resource: res, Name: r.reg.Name, Bytes: whole.Size})
	return nil
}

// countingReader counts the bytes read from a source, reports them as
// progress events (when p is set), and remembers the error the source
// failed with, if any.
type countingReader struct {
	r    io.Reader
	n    int64
	p    *pusher
	res  Resource
	last int64
	err  error // the source's read error, not io.EOF
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	if c.p != nil && (c.n-c.last >= 256<<10 || err != nil) {
		c.p.emit(Event{Type: EventBytes, Resource: c.res, Bytes: c.n - c.last})
		c.last = c.n
	}
	return n, err
}

// fetch offers res from the push's sources, then from extra (an
// artifact's download URLs), to use (upstream.Chain.Try): a source that
// lacks it, fails, or gives content that fails verification is passed
// over for the next, and each failure is reported (an EventSourceFailed,
// the result, the provenance record). label names the item for those
// reports ("package Example@0.5.3"); "" means the resource itself.
func (p *pusher) fetch(ctx context.Context, res Resource, label string, extra []Source, use func(Source, io.ReadCloser) error) (Source, error) {
	chain := upstream.Chain(append(slices.Clone(p.sources), extra...))
	src, err := chain.Try(ctx, res, func(f upstream.Failure) { p.sourceFailed(res, label, f) }, use)
	if err == nil {
		p.prov.fetched(res, src)
	}
	return src, err
}

// sourceFailed records that a source failed to give an item.
func (p *pusher) sourceFailed(res Resource, label string, f upstream.Failure) {
	name := label
	if name == "" {
		name = res.String()
	}
	p.mu.Lock()
	// As the record keeps it: no credentials (in the source, or in a URL
	// the error quotes), printable, bounded.
	p.failures = append(p.failures, bundle.CleanSourceFailure(bundle.SourceFailure{Kind: bundle.Kind(res.Kind), Item: name,
		UUID: res.UUID, TreeHash: res.Hash, Source: upstream.RedactURL(f.Source), Reason: upstream.RedactURLs(f.Err.Error())}))
	p.mu.Unlock()
	// The progress line and the log get no credentials either.
	src, ferr := upstream.RedactURL(f.Source), upstream.RedactedError(f.Err)
	p.log.Debug("source failed", "item", name, "source", src, "next", upstream.RedactURL(f.Next), "error", ferr)
	p.emit(Event{Type: EventSourceFailed, Resource: res, Name: name, Source: src, Err: ferr, Next: upstream.RedactURL(f.Next)})
}

// sortedFailures returns the source failures so far, sorted.
func (p *pusher) sortedFailures() []bundle.SourceFailure {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.failures)
	bundle.SortSourceFailures(out)
	return out
}

// stringSet is a small set of strings kept sorted: a package's versions,
// the packages that require an item (one or two, mostly). A map each would
// cost a few hundred bytes per item, 125,000 items at General scale.
type stringSet []string

func (s *stringSet) add(v string) {
	if i, found := slices.BinarySearch(*s, v); !found {
		*s = slices.Insert(*s, i, v)
	}
}

// sorted returns the members in order: a copy (the set may grow), never
// nil (a report lists an empty set as []).
func (s stringSet) sorted() []string { return append([]string{}, s...) }

func (p *pusher) pushPackage(ctx context.Context, pp *pkgPlan) error {
	versions := pp.versions.sorted()
	item := PlannedItem{Resource: pp.res, Name: pp.name, Versions: versions, Size: -1}
	if e, ok := p.reuse(ctx, pp.res, bundle.KindPackage, versions); ok {
		// Its Artifacts.toml files, as its manifest records them (or, for
		// items written before it did, read back from the tarball).
		if files := e.ArtifactsTOML; files != nil {
			if err := p.collectArtifacts(pp, toBytes(files)); err != nil {
				return err
			}
		} else if err := p.artifactsFromStore(ctx, pp, e); err != nil {
			return err
		}
		item.Size, item.InDestination = e.Whole.Size, true
		p.record(item, e.IndexDescriptor(), bundle.KindPackage, false, 0, e.Whole.Size)
		p.emit(Event{Type: EventSkipped, Resource: pp.res, Name: pp.name, Bytes: e.Whole.Size})
		return nil
	}
	// A package the other side holds (delta) is still read from the source,
	// to find the artifacts it needs, but not written.
	skipDesc, skip := p.skipped(pp.res)
	p.emit(Event{Type: EventStart, Resource: pp.res, Name: pp.name})
	label := "package " + pp.name + "@" + strings.Join(versions, ",")
	var (
		whole   ocispec.Descriptor
		parts   []ocispec.Descriptor
		scanR   scanResult
		fetched int64
	)
	_, err := p.fetch(ctx, pp.res, label, nil, func(_ Source, rc io.ReadCloser) (err error) {
		whole, parts, scanR, fetched, err = p.store(ctx, pp.res, rc, true, skip)
		return err
	})
	if fe := (*upstream.FetchError)(nil); errors.As(err, &fe) && fe.Missing() {
		p.addMissing(bundle.Missing{Kind: bundle.KindPackage, Name: pp.name, UUID: pp.res.UUID, TreeHash: pp.res.Hash,
			Version: strings.Join(versions, ","), RequiredBy: pp.requiredBy.sorted(), Reason: err.Error()})
		p.emit(Event{Type: EventMissing, Resource: pp.res, Name: pp.name})
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", label, pp.res.UUID, pp.res.Hash, err)
	}
	if err := p.collectArtifacts(pp, scanR.artifacts); err != nil {
		return err
	}
	if skip {
		item.Size, item.InDestination = whole.Size, true
		p.record(item, skipDesc, bundle.KindPackage, false, fetched, whole.Size)
		p.emit(Event{Type: EventSkipped, Resource: pp.res, Name: pp.name, Bytes: whole.Size})
		return nil
	}
	var desc ocispec.Descriptor
	if !p.opts.DryRun {
		layers, w := layersOf(whole, parts)
		desc, err = bundle.PushItem(ctx, p.dst, bundle.Item{Kind: bundle.KindPackage, UUID: pp.res.UUID, TreeHash: pp.res.Hash,
			KeepEmptyHash: keepIfDifferent(scanR.hashes), Name: pp.name, Versions: versions, Registry: pp.registry,
			Layers: layers, Whole: w, ArtifactsTOML: scanR.artifactsTOML()})
		if err != nil {
			return fmt.Errorf("package %s: %w", pp.name, err)
		}
	}
	item.Size = whole.Size
	p.record(item, desc, bundle.KindPackage, true, fetched, whole.Size)
	p.emit(Event{Type: EventDone, Resource: pp.res, Name: pp.name, Bytes: whole.Size})
	return nil
}

// sameItem reports whether a manifest read back describes the item an
// index entry announced (identity and tarball).
func sameItem(m, e bundle.Item) bool {
	return m.Kind == e.Kind && m.UUID == e.UUID && m.TreeHash == e.TreeHash && m.KeepEmptyHash == e.KeepEmptyHash &&
		m.Whole.Digest == e.Whole.Digest && len(m.Layers) == len(e.Layers)
}

func toBytes(files map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for p, b := range files {
		out[p] = []byte(b)
	}
	return out
}

func keepIfDifferent(h treehash.TarHashes) treehash.Hash {
	if h.KeepEmpty != h.SkipEmpty {
		return h.KeepEmpty
	}
	return treehash.Hash{}
}

// artifactsFromStore re-reads a package the destination holds to find the
// artifacts it needs.
func (p *pusher) artifactsFromStore(ctx context.Context, pp *pkgPlan, e bundle.Entry) error {
	rc, err := bundle.Open(ctx, p.dst, e)
	if err != nil {
		return fmt.Errorf("package %s: reading back from %s: %w", pp.name, p.dst.Ref(), err)
	}
	defer rc.Close()
	s := scan(rc, true)
	if s.err != nil {
		return fmt.Errorf("package %s: reading back from %s: %w", pp.name, p.dst.Ref(), s.err)
	}
	return p.collectArtifacts(pp, s.artifacts)
}

// collectArtifacts selects, from a package's Artifacts.toml files, the
// artifacts to carry.
func (p *pusher) collectArtifacts(pp *pkgPlan, files map[string][]byte) error {
	paths := make([]string, 0, len(files))
	for f := range files {
		paths = append(paths, f)
	}
	sort.Strings(paths)
	for _, f := range paths {
		arts, err := julia.ParseArtifacts(f, files[f])
		if err != nil {
			return fmt.Errorf("package %s %s: %w", pp.name, pp.res.Hash, err)
		}
		if !p.opts.AllPlatforms {
			arts = julia.SelectArtifacts(arts, p.opts.Platforms, p.opts.IncludeLazy)
		} else if !p.opts.IncludeLazy {
			arts = slices.DeleteFunc(arts, func(a julia.Artifact) bool { return a.Lazy })
		}
		p.mu.Lock()
		for _, a := range arts {
			ap := p.arts[a.TreeHash]
			if ap == nil {
				ap = &artPlan{res: Resource{Kind: KindArtifact, Hash: a.TreeHash}, name: a.Name}
				if a.Platform != nil {
					ap.platform = a.Platform.Triplet()
				}
				p.arts[a.TreeHash] = ap
			}
			ap.downloads = append(ap.downloads, a.Downloads...)
			ap.requiredBy.add(pp.name)
		}
		p.mu.Unlock()
	}
	return nil
}

func (p *pusher) sortedArtifacts() []*artPlan {
	out := make([]*artPlan, 0, len(p.arts))
	for _, a := range p.arts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].res.Hash.String() < out[j].res.Hash.String()
	})
	return out
}

func (p *pusher) pushArtifact(ctx context.Context, ap *artPlan) error {
	item := PlannedItem{Resource: ap.res, Name: ap.name, Platform: ap.platform, Size: -1}
	if d, ok := p.skipped(ap.res); ok {
		item.InDestination = true
		p.record(item, d, bundle.KindArtifact, false, 0, 0)
		p.emit(Event{Type: EventSkipped, Resource: ap.res, Name: ap.name})
		return nil
	}
	if e, ok := p.reuse(ctx, ap.res, bundle.KindArtifact, nil); ok {
		item.Size, item.InDestination = e.Whole.Size, true
		p.record(item, e.IndexDescriptor(), bundle.KindArtifact, false, 0, e.Whole.Size)
		p.emit(Event{Type: EventSkipped, Resource: ap.res, Name: ap.name, Bytes: e.Whole.Size})
		return nil
	}
	p.emit(Event{Type: EventStart, Resource: ap.res, Name: ap.name})
	// After the sources, the Artifacts.toml download URLs, sha256-checked.
	var urls []Source
	if p.opts.Downloads {
		dl := upstream.Downloads{Client: p.opts.DownloadClient, Policy: p.opts.Network}
		for _, d := range ap.downloads {
			urls = append(urls, dl.Source(ap.res.Hash, d))
		}
	}
	var (
		whole   ocispec.Descriptor
		parts   []ocispec.Descriptor
		scanR   scanResult
		fetched int64
	)
	_, err := p.fetch(ctx, ap.res, "artifact "+ap.name, urls, func(_ Source, rc io.ReadCloser) (err error) {
		whole, parts, scanR, fetched, err = p.store(ctx, ap.res, rc, false, false)
		return err
	})
	if fe := (*upstream.FetchError)(nil); errors.As(err, &fe) && fe.Missing() {
		reason := err.Error()
		if !p.opts.Downloads && len(ap.downloads) > 0 {
			reason += "; download URLs not tried (use --downloads)"
		}
		p.addMissing(bundle.Missing{Kind: bundle.KindArtifact, Name: ap.name, TreeHash: ap.res.Hash, Platform: ap.platform,
			RequiredBy: ap.requiredBy.sorted(), Reason: reason})
		p.emit(Event{Type: EventMissing, Resource: ap.res, Name: ap.name})
		return nil
	}
	if err != nil {
		return fmt.Errorf("artifact %s %s: %w", ap.name, ap.res.Hash, err)
	}
	var desc ocispec.Descriptor
	if !p.opts.DryRun {
		layers, w := layersOf(whole, parts)
		desc, err = bundle.PushItem(ctx, p.dst, bundle.Item{Kind: bundle.KindArtifact, TreeHash: ap.res.Hash,
			KeepEmptyHash: keepIfDifferent(scanR.hashes), Name: ap.name, Platform: ap.platform, Layers: layers, Whole: w})
		if err != nil {
			return fmt.Errorf("artifact %s: %w", ap.name, err)
		}
	}
	item.Size = whole.Size
	p.record(item, desc, bundle.KindArtifact, true, fetched, whole.Size)
	p.emit(Event{Type: EventDone, Resource: ap.res, Name: ap.name, Bytes: whole.Size})
	return nil
}

// finish writes the report and the bundle index, then tags it.
func (p *pusher) finish(ctx context.Context) error {
	// The bundle's entries, the report and advisories appended: p.items
	// is not used again (125,000 entries: no copy).
	items := p.items
	p.items = nil
	var reqs []bundle.Request
	var inputs []string
	for _, m := range p.req.Manifests {
		reqs = append(reqs, bundle.Request{Type: "manifest", Value: m.Name})
		inputs = append(inputs, m.Name)
	}
	for _, r := range p.req.Packages {
		s := r.Text
		if s == "" {
			s = r.Name
			if r.Spec != nil {
				s += "@" + r.Spec.String()
			}
		}
		reqs = append(reqs, bundle.Request{Type: "package", Value: s})
		inputs = append(inputs, "package "+s)
	}
	if p.req.All {
		reqs = append(reqs, bundle.Request{Type: "registry", Value: "all"})
		inputs = append(inputs, "all packages")
	}
	var platforms []string
	for _, pl := range p.opts.Platforms {
		platforms = append(platforms, pl.Triplet())
	}
	if p.opts.AllPlatforms {
		platforms = []string{"all"}
	}
	rep, err := bundle.PushReport(ctx, p.dst, bundle.Report{Requests: reqs, Platforms: platforms, Missing: p.missing})
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	repEntry, err := bundle.EntryOf(rep)
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	items = append(items, repEntry)
	if p.opts.Advisories != nil {
		adv, err := bundle.PushAdvisories(ctx, p.dst, p.opts.Advisories)
		if err != nil {
			return fmt.Errorf("writing the advisories: %w", err)
		}
		advEntry, err := bundle.EntryOf(adv)
		if err != nil {
			return fmt.Errorf("writing the advisories: %w", err)
		}
		items = append(items, advEntry)
		p.result.Items[bundle.KindAdvisories]++
	}
	idx, err := bundle.PushIndexEntries(ctx, p.dst, items, bundle.IndexOptions{
		Created: p.opts.Created, ToolVersion: p.opts.ToolVersion, Platforms: platforms, Inputs: inputs, PushKey: p.key})
	if err != nil {
		return fmt.Errorf("writing the bundle index: %w", err)
	}
	p.result.Index = idx
	// The record before the tag: whoever finds the tag finds the record,
	// and a failure here leaves no new tag (a layout is rolled back).
	if p.result.Provenance, err = p.writeProvenance(ctx, idx, items); err != nil {
		return err
	}
	if p.opts.Tag != "" {
		if err := p.dst.Tag(ctx, idx, p.opts.Tag); err != nil {
			return fmt.Errorf("tagging %s as %q: %w", idx.Digest, p.opts.Tag, err)
		}
		p.result.Tag = p.opts.Tag
	}
	return nil
}

// layersOf turns what Ingest returned into an item's layers: the tarball
// itself, or its parts (media type bundle.MediaTypePart) with the whole
// tarball's descriptor.
func layersOf(whole ocispec.Descriptor, parts []ocispec.Descriptor) ([]ocispec.Descriptor, ocispec.Descriptor) {
	if len(parts) <= 1 {
		return parts, ocispec.Descriptor{}
	}
	out := make([]ocispec.Descriptor, len(parts))
	for i, d := range parts {
		out[i] = ocispec.Descriptor{MediaType: bundle.MediaTypePart, Digest: d.Digest, Size: d.Size}
	}
	return out, ocispec.Descriptor{MediaType: whole.MediaType, Digest: whole.Digest, Size: whole.Size}
}

// skipped asks the delta (PushOptions.Skip) whether the other side already
// holds a resource; its item manifest descriptor is then referenced as is.
func (p *pusher) skipped(res Resource) (ocispec.Descriptor, bool) {
	if p.opts.Skip == nil {
		return ocispec.Descriptor{}, false
	}
	d, ok := p.opts.Skip(res)
	if ok {
		p.prov.mark(&p.prov.delta, res)
	}
	return d, ok
}

// store reads one package or artifact tarball from a source once: into the
// destination while it is verified (Tar.jl's rules, the skip-empty tree hash
// Pkg checks), or, on a dry run or for an item the other side already holds,
// only verified. It returns the stored blobs, what the read found, and the
// bytes read.
func (p *pusher) store(ctx context.Context, res Resource, rc io.Reader, wantArtifacts, readOnly bool) (
	whole ocispec.Descriptor, parts []ocispec.Descriptor, found scanResult, fetched int64, err error) {
	cr := &countingReader{r: rc, p: p, res: res}
	check := func(h treehash.TarHashes) error {
		if h.SkipEmpty != res.Hash {
			return fmt.Errorf("tree hash %s: %w", h.SkipEmpty, treehash.ErrMismatch)
		}
		return nil
	}
	if p.opts.DryRun || readOnly {
		found = scan(cr, wantArtifacts)
		if found.err == nil {
			found.err = check(found.hashes)
		}
		if cr.err == nil {
			// The stream was read to its end: what failed is its content.
			found.err = upstream.BadContent(found.err)
		}
		whole.Size = cr.n
		return whole, nil, found, cr.n, found.err
	}
	whole, parts, found, err = ingestChecked(ctx, p.dst, cr, p.opts.MaxPartSize, p.opts.TempDir, wantArtifacts, check)
	return whole, parts, found, cr.n, err
}
