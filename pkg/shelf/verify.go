package shelf

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// ErrIncomplete marks a bundle (or a store) whose content does not hang
// together for Pkg: a package that no registry snapshot lists at its tree
// hash, an artifact that no bundled package's Artifacts.toml references, or
// something a Manifest.toml needs that the store lacks. Test with errors.Is.
var ErrIncomplete = errors.New("incomplete for Pkg")

// Target is what Verify reads: content and tag resolution
// (oras.ReadOnlyTarget). *store.Store and Overlay satisfy it.
type Target interface {
	content.ReadOnlyStorage
	content.Resolver
}

// VerifyOptions tune Verify. The zero value checks integrity (every index,
// manifest and blob digest) and closure, with 4 workers, and no signatures.
type VerifyOptions struct {
	// Policy is the trust policy the bundle's signatures are judged
	// against (trust.Verify): its keys, threshold and, when it has Tags,
	// the tags the signatures must have been made for (inside the signed
	// data: the tags a store gives the bundle never count). nil skips the
	// signature check: VerifyResult.Signature is then nil.
	Policy *trust.Policy
	// Signatures is where signatures are looked for; nil means src.
	Signatures trust.ReadOnlyTarget
	// IndexesOnly checks the bundle's indexes only (every index present,
	// matching its digest and well formed: bundle.Read), not its item
	// manifests and blobs, and skips the closure: what a server does at
	// start, since it verifies every tarball's bytes as it serves them.
	IndexesOnly bool
	// Deep also decompresses every tarball and checks Tar.jl's rules and
	// its tree hashes (bundle.CheckOptions.Deep). It is ignored with
	// IndexesOnly.
	Deep bool
	// NoClosure skips the closure check.
	NoClosure bool
	// Known, when it is the bundle at index as bundle.Read read it before
	// (a server reloading), is taken instead of reading the indexes again.
	Known *bundle.Bundle
	// Context are other bundles (of the same store, or of the store a
	// delta is meant for) whose registry snapshots may list the bundle's
	// packages. Their tarballs are read from src.
	Context []*bundle.Bundle
	// Concurrency bounds the items checked at once; ≤ 0 means 4.
	Concurrency int
	// Progress, if set, receives bundle.Check's events (serialized).
	Progress func(bundle.CheckEvent)
}

// VerifyResult is what Verify found about one bundle.
type VerifyResult struct {
	// Index is the bundle's top index.
	Index ocispec.Descriptor
	// Signature is the signature verdict (Signature.Tags: the tags the
	// counted signatures were made for); nil when no policy was given.
	Signature *trust.Result
	// Check is the integrity report; nil with IndexesOnly.
	Check *bundle.CheckReport
	// Closure is the closure report; nil with NoClosure or IndexesOnly, or
	// when the integrity check failed (what is broken cannot be read).
	Closure *ClosureReport
	// Bundle is the bundle as read (bundle.Read) when its indexes are
	// intact, else nil.
	Bundle *bundle.Bundle
}

// ClosureReport says whether a bundle's items hang together.
type ClosureReport struct {
	// Packages and Artifacts count the items checked.
	Packages, Artifacts int
	// Registries names the registry snapshots that were read to find the
	// packages ("General 1f2e…"), sorted.
	Registries []string
	// Unlisted are the packages that no registry snapshot of the bundle or
	// its context lists at their tree hash.
	Unlisted []bundle.Entry
	// Unreferenced are the artifacts that no package of the bundle
	// references in an Artifacts.toml.
	Unreferenced []bundle.Entry
}

// Err is nil when the closure holds, else an error wrapping ErrIncomplete
// that names every unlisted package and unreferenced artifact.
func (r *ClosureReport) Err() error {
	if r == nil || len(r.Unlisted)+len(r.Unreferenced) == 0 {
		return nil
	}
	var lines []string
	for _, e := range r.Unlisted {
		lines = append(lines, fmt.Sprintf("%s: not listed at this tree hash in any registry snapshot", e.Item))
	}
	for _, e := range r.Unreferenced {
		lines = append(lines, fmt.Sprintf("%s: referenced by no Artifacts.toml of the bundle's packages", e.Item))
	}
	return fmt.Errorf("closure: %w: %s", ErrIncomplete, strings.Join(lines, "; "))
}

// Verify checks one bundle: its signatures satisfy the trust policy
// (first, and unless no policy is given: trusted keys, threshold, and the
// tags signed for when the policy has Tags),
// the integrity of everything it references (bundle.Check: every index,
// manifest and blob, streamed on opts.Concurrency workers; deeply with
// opts.Deep; only the indexes with opts.IndexesOnly), and its closure
// (every package listed at its tree hash in a registry snapshot of the
// bundle or of opts.Context; every artifact referenced by a bundled
// package's Artifacts.toml, read from the package tarballs). verify, copy
// and serve all decide with it.
//
// It runs every check even when an earlier one fails, so the result tells
// everything, and returns the failures joined: a *trust.VerificationError
// for signatures (trust.OutcomeNotCovered when the signatures were not
// made for a tag the policy covers), bundle.ErrIntegrity (or
// bundle.ErrFormat) and ErrIncomplete. Other errors (I/O, transport,
// cancellation) come with a nil result.
func Verify(ctx context.Context, src Target, index ocispec.Descriptor, opts VerifyOptions) (*VerifyResult, error) {
	res := &VerifyResult{Index: index}
	var fails []error
	if opts.Policy != nil {
		sigs := opts.Signatures
		if sigs == nil {
			sigs = src
		}
		r, err := trust.Verify(ctx, sigs, index, opts.Policy)
		var ve *trust.VerificationError
		switch {
		case err == nil:
		case errors.As(err, &ve):
			fails = append(fails, err)
		case corrupt(err):
			// The store's content is damaged where the signatures are
			// looked for (a manifest that does not match its digest): an
			// integrity failure, which Check names too.
			fails = append(fails, fmt.Errorf("bundle %s: reading signatures: %w: %w", index.Digest, bundle.ErrIntegrity, err))
		default:
			return nil, fmt.Errorf("bundle %s: verifying signatures: %w", index.Digest, err)
		}
		res.Signature = r
	}

	if opts.IndexesOnly && opts.Known != nil && opts.Known.Index.Digest == index.Digest {
		res.Bundle = opts.Known
		return res, errors.Join(fails...)
	}
	if opts.IndexesOnly {
		b, err := bundle.Read(ctx, src, index)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !errors.Is(err, bundle.ErrIntegrity) && !errors.Is(err, bundle.ErrFormat) && !corrupt(err) && !errors.Is(err, errdef.ErrNotFound) {
				return nil, fmt.Errorf("bundle %s: %w", index.Digest, err)
			}
			if !errors.Is(err, bundle.ErrIntegrity) && !errors.Is(err, bundle.ErrFormat) {
				err = fmt.Errorf("%w: %w", bundle.ErrIntegrity, err)
			}
			fails = append(fails, fmt.Errorf("bundle %s: %w", index.Digest, err))
		}
		res.Bundle = b
		return res, errors.Join(fails...)
	}

	rep, err := bundle.Check(ctx, src, index, bundle.CheckOptions{Deep: opts.Deep, Concurrency: opts.Concurrency, Progress: opts.Progress})
	res.Check = rep
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, bundle.ErrIntegrity) {
			return nil, err
		}
		fails = append(fails, rep.Err())
	}
	if err == nil {
		// Check read every index and manifest: its bundle is Read's, with
		// each package's recorded Artifacts.toml files.
		res.Bundle = rep.Bundle
	}
	if err == nil && !opts.NoClosure {
		cl, err := checkClosure(ctx, src, rep.Entries, opts)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: closure: %w", index.Digest, err)
		}
		res.Closure = cl
		if err := cl.Err(); err != nil {
			fails = append(fails, fmt.Errorf("bundle %s: %w", index.Digest, err))
		}
	}
	return res, errors.Join(fails...)
}

// checkClosure checks that every package is listed in a registry snapshot
// and every artifact is referenced by a package of the bundle.
func checkClosure(ctx context.Context, src content.Fetcher, entries []bundle.Entry, opts VerifyOptions) (*ClosureReport, error) {
	rep := &ClosureReport{}
	// Pointers: a bundle may hold 100,000 entries of several hundred
	// bytes each.
	var pkgs, arts, regs []*bundle.Entry
	for i := range entries {
		switch e := &entries[i]; e.Kind {
		case bundle.KindPackage:
			pkgs = append(pkgs, e)
		case bundle.KindArtifact:
			arts = append(arts, e)
		case bundle.KindRegistry:
			regs = append(regs, e)
		}
	}
	rep.Packages, rep.Artifacts = len(pkgs), len(arts)
	// The bundle's own snapshots first, then the context's, each once.
	seen := map[digest.Digest]bool{}
	for _, e := range regs {
		seen[e.Manifest.Digest] = true
	}
	for _, b := range opts.Context {
		for i := range b.Entries {
			if e := &b.Entries[i]; e.Kind == bundle.KindRegistry && !seen[e.Manifest.Digest] {
				seen[e.Manifest.Digest] = true
				regs = append(regs, e)
			}
		}
	}

	// Every Artifacts.toml of every package: as its manifest records it
	// (FORMAT.md §3.4, digest-checked by Check), else read from its
	// tarball.
	referenced := map[treehash.Hash]bool{}
	var mu sync.Mutex // guards referenced; taken by the package readers
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cmp.Or(max(opts.Concurrency, 0), 4))
	if len(arts) > 0 {
		for _, p := range pkgs {
			if p.ArtifactsTOML != nil && len(p.ArtifactsTOML) == 0 {
				continue // recorded: none
			}
			g.Go(func() error {
				files := p.ArtifactsTOML
				if files == nil {
					var err error
					if files, err = artifactsTOMLs(gctx, src, *p); err != nil {
						return err
					}
				}
				for name, body := range files {
					list, err := julia.ParseArtifacts(name, []byte(body))
					if err != nil {
						return fmt.Errorf("%s: %w", p.Item, err)
					}
					mu.Lock()
					for _, a := range list {
						referenced[a.TreeHash] = true
					}
					mu.Unlock()
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, a := range arts {
		if !referenced[a.TreeHash] {
			rep.Unreferenced = append(rep.Unreferenced, *a)
		}
	}

	// Registry snapshots, read lazily: most bundles need only their own.
	left := pkgs
	used := map[string]bool{}
	for _, r := range regs {
		if len(left) == 0 {
			break
		}
		snap, err := loadSnapshot(ctx, src, *r)
		if err != nil {
			return nil, err
		}
		var still []*bundle.Entry
		for _, p := range left {
			ok, err := snap.lists(p.UUID, p.TreeHash)
			if err != nil {
				return nil, err
			}
			if ok {
				used[r.Name+" "+r.TreeHash.String()] = true
			} else {
				still = append(still, p)
			}
		}
		left = still
	}
	for _, p := range left {
		rep.Unlisted = append(rep.Unlisted, *p)
	}
	for k := range used {
		rep.Registries = append(rep.Registries, k)
	}
	slices.Sort(rep.Registries)
	return rep, nil
}

// maxArtifactsTOML caps how much of one Artifacts.toml is read.
const maxArtifactsTOML = 8 << 20

// artifactsTOMLs reads a package tarball once, verified while it streams,
// under Tar.jl's rules, and returns the bodies of every
// (Julia)Artifacts.toml in it (bundle.IsArtifactsTOML), by path.
func artifactsTOMLs(ctx context.Context, src content.Fetcher, e bundle.Entry) (map[string]string, error) {
	rc, err := bundle.Open(ctx, src, e)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	defer rc.Close()
	dec, _, err := tarx.Decompress(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: reading tarball: %w", e.Item, err)
	}
	defer dec.Close()
	files := map[string][]byte{}
	_, err = treehash.TarVisit(dec, func(te *treehash.Entry) io.Writer {
		if te.Type != treehash.TypeFile || !bundle.IsArtifactsTOML(te.Path) {
			return nil
		}
		if te.Size > maxArtifactsTOML {
			return nil
		}
		b := &bytes.Buffer{}
		files[te.Path] = nil // a later entry of the same path wins, as in the tree
		return writerFunc(func(p []byte) (int, error) {
			b.Write(p)
			files[te.Path] = b.Bytes()
			return len(p), nil
		})
	})
	if err == nil {
		// Read to the end, so that the digest is checked.
		_, err = io.Copy(io.Discard, rc)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading tarball: %w", e.Item, err)
	}
	out := make(map[string]string, len(files))
	for k, v := range files {
		out[k] = string(v)
	}
	return out, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// snapshot is one registry snapshot's files, read for lookups.
type snapshot struct {
	entry bundle.Entry
	fsys  fs.FS
	reg   *julia.Registry

	// mu guards hashes, the tree hashes per package uuid found so far.
	mu     sync.Mutex
	hashes map[julia.UUID]map[treehash.Hash]bool
}

// loadSnapshot reads a registry tarball into memory (bundle.ReadRegistry:
// the whole tarball, so its digest is checked) and parses Registry.toml.
func loadSnapshot(ctx context.Context, src content.Fetcher, e bundle.Entry) (*snapshot, error) {
	fsys, reg, err := bundle.ReadRegistry(ctx, src, e)
	if err != nil {
		return nil, err
	}
	return &snapshot{entry: e, reg: reg, fsys: fsys, hashes: map[julia.UUID]map[treehash.Hash]bool{}}, nil
}

// lists reports whether the snapshot lists package uuid at tree hash h.
func (s *snapshot) lists(uuid julia.UUID, h treehash.Hash) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.hashes[uuid]
	if !ok {
		set = map[treehash.Hash]bool{}
		if _, listed := s.reg.Packages[uuid]; listed {
			p, err := s.reg.LoadVersions(s.fsys, uuid)
			if err != nil {
				return false, fmt.Errorf("%s: %w", s.entry.Item, err)
			}
			for _, v := range p.Versions {
				set[v.TreeHash] = true
			}
		}
		s.hashes[uuid] = set
	}
	return set[h], nil
}

// ManifestReport says what Pkg.instantiate of one manifest on one platform
// needs that a store lacks.
type ManifestReport struct {
	// Manifest is the manifest's name (its path) and Platform the target
	// platform's triplet.
	Manifest, Platform string
	// Packages and Artifacts count what instantiate would download.
	Packages, Artifacts int
	// Missing lists what the store lacks, sorted by kind, name and tree
	// hash; RequiredBy names the package needing an artifact.
	Missing []bundle.Missing
}

// Err is nil when nothing is missing, else an error wrapping
// ErrIncomplete that names every missing package and artifact.
func (r *ManifestReport) Err() error {
	if r == nil || len(r.Missing) == 0 {
		return nil
	}
	var lines []string
	for _, m := range r.Missing {
		lines = append(lines, MissingString(m))
	}
	return fmt.Errorf("manifest %s on %s: %d missing: %w: %s", r.Manifest, r.Platform, len(r.Missing), ErrIncomplete, strings.Join(lines, "; "))
}

// MissingString formats a missing item for messages:
// "package Name 1.2.3 <uuid> <tree hash>" or
// "artifact Name <tree hash> (platform, for Pkg)".
func MissingString(m bundle.Missing) string {
	var b strings.Builder
	b.WriteString(string(m.Kind))
	for _, s := range []string{m.Name, m.Version} {
		if s != "" {
			b.WriteString(" " + s)
		}
	}
	if !m.UUID.IsZero() {
		b.WriteString(" " + m.UUID.String())
	}
	if !m.TreeHash.IsZero() {
		b.WriteString(" " + m.TreeHash.String())
	}
	if m.Platform != "" {
		b.WriteString(" (" + m.Platform + ")")
	}
	if len(m.RequiredBy) > 0 {
		b.WriteString(" required by " + strings.Join(m.RequiredBy, ", "))
	}
	if m.Reason != "" {
		b.WriteString(": " + m.Reason)
	}
	return b.String()
}

// CheckManifest answers "will Pkg.instantiate of this manifest succeed
// from this store" for one platform: every entry that tracks a registered
// version (julia.ManifestEntry.Fetchable) must be in cat at its uuid and
// tree hash, and every non-lazy artifact that Julia would select for
// platform from the package's top-level (Julia)Artifacts.toml must be in
// cat at its tree hash. Package tarballs are read from src to find the
// artifacts. Packages the store lacks are reported without their
// artifacts (which cannot be known).
//
// The error is nil when the check ran; what is missing is in the report
// (see ManifestReport.Err).
func CheckManifest(ctx context.Context, src content.Fetcher, cat *bundle.Catalog, name string, m *julia.Manifest, platform julia.Platform, concurrency int) (*ManifestReport, error) {
	rep := &ManifestReport{Manifest: name, Platform: platform.Triplet()}
	host := julia.HostPlatform(platform)
	var mu sync.Mutex // guards rep; taken by the package readers
	missing := map[string]bundle.Missing{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cmp.Or(max(concurrency, 0), 4))
	for _, me := range m.Entries {
		if !me.Fetchable() {
			continue
		}
		rep.Packages++
		e, ok := cat.Package(me.UUID, me.TreeHash)
		if !ok {
			missing["p"+me.UUID.String()+me.TreeHash.String()] = bundle.Missing{Kind: bundle.KindPackage, Name: me.Name,
				UUID: me.UUID, Version: me.Version, TreeHash: me.TreeHash, Reason: "not in the store"}
			continue
		}
		g.Go(func() error {
			files, err := artifactsTOMLs(gctx, src, e)
			if err != nil {
				return err
			}
			name := "JuliaArtifacts.toml"
			if _, ok := files[name]; !ok {
				name = "Artifacts.toml"
			}
			body, ok := files[name]
			if !ok {
				return nil
			}
			arts, err := julia.ParseArtifacts(me.Name+"/"+name, []byte(body))
			if err != nil {
				return fmt.Errorf("package %s %s: %w", me.Name, me.TreeHash, err)
			}
			var names []string
			for _, a := range arts {
				if !a.Lazy && !slices.Contains(names, a.Name) {
					names = append(names, a.Name)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, n := range names {
				a, ok := julia.SelectBest(arts, n, host)
				if !ok || a.Lazy {
					continue // no variant for this platform: Pkg installs nothing
				}
				rep.Artifacts++
				if _, ok := cat.Artifact(a.TreeHash); ok {
					continue
				}
				key := "a" + a.TreeHash.String()
				mi, ok := missing[key]
				if !ok {
					mi = bundle.Missing{Kind: bundle.KindArtifact, Name: a.Name, TreeHash: a.TreeHash, Reason: "not in the store"}
					if a.Platform != nil {
						mi.Platform = a.Platform.Triplet()
					}
				}
				if !slices.Contains(mi.RequiredBy, me.Name) {
					mi.RequiredBy = append(mi.RequiredBy, me.Name)
					slices.Sort(mi.RequiredBy)
				}
				missing[key] = mi
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, mi := range missing {
		rep.Missing = append(rep.Missing, mi)
	}
	slices.SortFunc(rep.Missing, func(a, b bundle.Missing) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.TreeHash.String(), b.TreeHash.String()))
	})
	return rep, nil
}

// Overlay is a read-only view of two stores: content (Fetch, Exists) comes
// from the primary store and, when it lacks a blob or manifest, from the
// fallback; tags resolve in the primary only. It is what verifies a delta
// bundle (written against an inventory) before it is copied into the store
// that holds the rest: `verify --with` and copy. Content is addressed by
// digest and every read is verified, so the fallback cannot substitute
// anything. It is safe for concurrent use if both stores are.
type Overlay struct {
	Primary, Fallback Target
}

var _ Target = (*Overlay)(nil)

// Fetch implements content.Fetcher.
func (o *Overlay) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := o.Primary.Fetch(ctx, d)
	if err == nil || o.Fallback == nil || !errors.Is(err, errdef.ErrNotFound) {
		return rc, err
	}
	return o.Fallback.Fetch(ctx, d)
}

// Exists implements content.ReadOnlyStorage.
func (o *Overlay) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	ok, err := o.Primary.Exists(ctx, d)
	if err != nil || ok || o.Fallback == nil {
		return ok, err
	}
	return o.Fallback.Exists(ctx, d)
}

// Resolve implements content.Resolver, in the primary store only.
func (o *Overlay) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	return o.Primary.Resolve(ctx, ref)
}

// Predecessors lists the primary store's referrers of node, so that
// trust.Verify finds OCI 1.1 signature referrers through an Overlay.
func (o *Overlay) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if p, ok := o.Primary.(trust.ReferrerLister); ok {
		return p.Predecessors(ctx, node)
	}
	return nil, nil
}
