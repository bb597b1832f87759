package bundle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/internal/ocigraph"
)

// CheckOptions tune Check. The zero value checks every index, manifest and
// blob digest with 4 workers and reports no progress.
type CheckOptions struct {
	// Deep also decompresses every tarball, applies Tar.jl's entry rules
	// and compares its tree hashes with the annotations: keep-empty for
	// registries, skip-empty for packages and artifacts, and the keep-empty
	// hash of packages and artifacts against AnnotationKeepEmptyHash (or
	// AnnotationTreeHash when that is absent).
	Deep bool
	// Concurrency is the number of items checked at once. If ≤ 0, a default
	// (currently 4) is used.
	Concurrency int
	// Progress, if set, is called after each index, manifest and blob
	// check. Calls are serialized (never concurrent) but may come from
	// different goroutines.
	Progress func(CheckEvent)
}

// CheckEvent is one finished check.
type CheckEvent struct {
	// Descriptor is the index, manifest or blob checked (for a deep check,
	// the whole tarball).
	Descriptor ocispec.Descriptor
	// Entry is the item the descriptor belongs to; nil for indexes.
	Entry *Entry
	// Bytes is the number of blob bytes read for this check.
	Bytes int64
	// Err is nil if the check passed, else the problem.
	Err error
}

// Problem is one thing wrong in a bundle.
type Problem struct {
	// Descriptor is the index, manifest or blob at fault.
	Descriptor ocispec.Descriptor
	// Entry is the item concerned, nil for a problem with an index.
	Entry *Entry
	// Err is the cause. Content problems wrap ErrIntegrity; annotation
	// problems wrap ErrFormat; anything else (I/O) is as the store said.
	Err error
}

// Error names the item (or the index) and the cause.
func (p Problem) Error() string {
	if p.Entry != nil {
		s := p.Err.Error()
		if name := p.Entry.String(); strings.HasPrefix(s, name) {
			return s
		}
		return p.Entry.String() + ": " + s
	}
	what := "index"
	if p.Descriptor.MediaType != ocispec.MediaTypeImageIndex {
		what = "manifest"
	}
	return fmt.Sprintf("%s %s: %v", what, p.Descriptor.Digest, p.Err)
}

// Unwrap returns the cause.
func (p Problem) Unwrap() error { return p.Err }

// CheckReport is what Check found.
type CheckReport struct {
	// Index is the top index checked.
	Index ocispec.Descriptor
	// Entries are the items found (identity from the index annotations),
	// in index order; the report item is not among them.
	Entries []Entry
	// Indexes, Manifests and Blobs count the distinct documents and blobs
	// checked; Bytes is the number of blob bytes read.
	Indexes, Manifests, Blobs int
	Bytes                     int64
	// Problems are every problem found, ordered by item then descriptor.
	Problems []Problem
	// Bundle is the bundle as Read would return it (Entries is the same
	// slice as the report's, each with the layers and Artifacts.toml
	// files its manifest records), when no problem was found; nil
	// otherwise.
	Bundle *Bundle
}

// Err is nil if no problem was found, else an error wrapping ErrIntegrity
// and every problem (errors.Is/As see each one).
func (r *CheckReport) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	errs := make([]error, 0, len(r.Problems)+1)
	errs = append(errs, fmt.Errorf("bundle %s: %d problems: %w", r.Index.Digest, len(r.Problems), ErrIntegrity))
	for _, p := range r.Problems {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// Check verifies everything the bundle whose top index is index
// references: every index, item manifest (against its descriptor in the
// index), config and layer blob is present, with the right size and
// digest; blobs are streamed, never held in memory, and each distinct blob
// is read once. With opts.Deep, every tarball's tree hashes and Tar.jl's
// rules are checked too. Work runs on opts.Concurrency goroutines.
//
// Check does not stop at the first problem: the report lists them all,
// each with the item's identity and the cause. The returned error is
// report.Err() (wrapping ErrIntegrity) when there are problems, or the
// context's error if ctx ends first; the report is never nil.
func Check(ctx context.Context, src content.ReadOnlyStorage, index ocispec.Descriptor, opts CheckOptions) (*CheckReport, error) {
	c := &checker{src: src, opts: opts, report: &CheckReport{Index: index}, blobs: map[blobKey]*blobResult{}}
	var reports []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	top := &Bundle{Index: index}
	var walk func(d ocispec.Descriptor, artifactType string, depth int, idx *indexPage, err error)
	walk = func(d ocispec.Descriptor, artifactType string, depth int, idx *indexPage, err error) {
		c.report.Indexes++
		if idx == nil && err == nil {
			idx, err = readPage(ctx, src, d, artifactType)
		}
		if err != nil {
			c.problem(d, nil, classify(err))
			c.event(CheckEvent{Descriptor: d, Err: err})
			return
		}
		if depth == 0 {
			top.Annotations = idx.Annotations
			if top.Created, err = parseCreated(d, idx.Annotations); err != nil {
				c.problem(d, nil, err)
			}
		}
		c.event(CheckEvent{Descriptor: d})
		c.report.Entries = slices.Grow(c.report.Entries, len(idx.Manifests))
		var pf *pagePrefetch
		if depth == 0 {
			pf = prefetch(ctx, src, idx)
			defer pf.stop()
		}
		for i := range idx.Manifests {
			pe := &idx.Manifests[i]
			m := pe.descriptor()
			child, childErr := pf.take(ctx, m)
			if seen[m.Digest] {
				continue
			}
			seen[m.Digest] = true
			if m.MediaType == ocispec.MediaTypeImageIndex {
				if depth+1 >= maxDepth {
					c.problem(m, nil, formatErrorf("nested deeper than %d", maxDepth))
					continue
				}
				walk(m, ArtifactTypeSubindex, depth+1, child, childErr)
				continue
			}
			it, parts, err := pe.parse()
			if err != nil {
				c.problem(m, nil, err)
				continue
			}
			if it.Kind == KindReport {
				reports = append(reports, m)
				continue
			}
			c.report.Entries = append(c.report.Entries, Entry{Item: it, Manifest: m})
			c.parts = append(c.parts, parts)
		}
	}
	walk(index, ArtifactTypeBundle, 0, nil, nil)
	if len(reports) > 1 {
		c.problem(index, nil, formatErrorf("%d reports; a bundle holds at most one", len(reports)))
	}

	// A fixed set of workers takes the items in turn (a goroutine per item
	// would grow a fresh stack for each of 100,000 manifest decodes).
	workers := cmp.Or(max(opts.Concurrency, 0), 4)
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(workers, max(len(c.report.Entries), 1)) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(c.report.Entries) || gctx.Err() != nil {
					return gctx.Err()
				}
				c.checkItem(gctx, i)
			}
		})
	}
	for _, d := range reports {
		g.Go(func() error { top.Report = c.checkReport(gctx, d); return gctx.Err() })
	}
	if err := g.Wait(); err != nil {
		return c.report, err
	}
	if err := ctx.Err(); err != nil {
		return c.report, err
	}
	if len(c.report.Problems) == 0 {
		top.Entries = c.report.Entries
		c.report.Bundle = top
	}
	slices.SortStableFunc(c.report.Problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(c.order(a), c.order(b)), strings.Compare(a.Descriptor.Digest.String(), b.Descriptor.Digest.String()), strings.Compare(a.Err.Error(), b.Err.Error()))
	})
	return c.report, c.report.Err()
}

type checker struct {
	src  content.ReadOnlyStorage
	opts CheckOptions
	// parts[i] is the parts count of report.Entries[i]; written before the
	// workers start, read-only after.
	parts []int

	// mu guards report's counters and Problems, blobs, and serializes
	// Progress calls. Every worker takes it briefly.
	mu     sync.Mutex
	report *CheckReport
	blobs  map[blobKey]*blobResult
}

// blobResult is the outcome of checking one distinct blob, computed once.
type blobResult struct {
	once  sync.Once
	err   error
	bytes int64
}

// order ranks a problem by its item's position (index problems first).
func (c *checker) order(p Problem) int {
	if p.Entry == nil {
		return -1
	}
	for i := range c.report.Entries {
		if &c.report.Entries[i] == p.Entry {
			return i
		}
	}
	return len(c.report.Entries)
}

func (c *checker) problem(d ocispec.Descriptor, e *Entry, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.Problems = append(c.report.Problems, Problem{Descriptor: d, Entry: e, Err: err})
}

func (c *checker) event(ev CheckEvent) {
	if c.opts.Progress == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.Progress(ev)
}

// classify marks the store errors that mean content is missing or wrong.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrIntegrity) || errors.Is(err, ErrFormat) {
		return err
	}
	if errors.Is(err, errdef.ErrNotFound) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) {
		return fmt.Errorf("%w: %w", ErrIntegrity, err)
	}
	return err
}

// checkItem checks one item's manifest, config and layers (deeply if asked).
func (c *checker) checkItem(ctx context.Context, i int) {
	e := &c.report.Entries[i]
	var it Item
	b, err := readBounded(ctx, c.src, e.Manifest, MaxMetadataSize)
	if err != nil {
		err = fmt.Errorf("manifest %w", err)
	} else {
		it, err = checkManifest(b, e.Manifest, e.Item, c.parts[i])
	}
	c.mu.Lock()
	c.report.Manifests++
	c.mu.Unlock()
	if err != nil {
		err = classify(err)
		c.problem(e.Manifest, e, err)
		c.event(CheckEvent{Descriptor: e.Manifest, Entry: e, Err: err})
		return
	}
	// The entry as Read gives it: the layers (parts) and Artifacts.toml
	// files the manifest records. Only this worker touches entry i.
	e.Item = it
	c.event(CheckEvent{Descriptor: e.Manifest, Entry: e})
	blobs := []ocispec.Descriptor{emptyConfig()}
	if !c.opts.Deep {
		blobs = append(blobs, it.Layers...)
	}
	for _, d := range blobs {
		if ctx.Err() != nil {
			return
		}
		r := c.blob(blobKey{d: d.Digest}, func() (int64, error) { return streamBlob(ctx, c.src, d) })
		c.event(CheckEvent{Descriptor: d, Entry: e, Bytes: r.bytes, Err: r.err})
		if r.err != nil {
			c.problem(d, e, fmt.Errorf("%s: %w", d.Digest, r.err))
		}
	}
	if c.opts.Deep {
		ent := Entry{Item: it, Manifest: e.Manifest}
		key := blobKey{d: it.Whole.Digest, deep: fmt.Sprintf("%s:%s:%s", it.Kind, it.TreeHash, it.KeepEmptyHash)}
		r := c.blob(key, func() (int64, error) { return deepCheck(ctx, c.src, ent) })
		c.event(CheckEvent{Descriptor: it.Whole, Entry: e, Bytes: r.bytes, Err: r.err})
		if r.err != nil {
			c.problem(it.Whole, e, r.err)
		}
	}
}

// blobKey names one check of a blob: its digest alone, or with the
// identity a deep check compares it against.
type blobKey struct {
	d    digest.Digest
	deep string
}

// blob runs check once per key and accounts for it.
func (c *checker) blob(key blobKey, check func() (int64, error)) *blobResult {
	c.mu.Lock()
	r, ok := c.blobs[key]
	if !ok {
		r = &blobResult{}
		c.blobs[key] = r
	}
	c.mu.Unlock()
	r.once.Do(func() {
		r.bytes, r.err = check()
		r.err = classify(r.err)
		c.mu.Lock()
		c.report.Blobs++
		c.report.Bytes += r.bytes
		c.mu.Unlock()
	})
	return r
}

// streamBlob reads a blob to the end through a size and digest verifier.
func streamBlob(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) (int64, error) {
	rc, err := src.Fetch(ctx, d)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	vr := ocigraph.NewVerifyReader(rc, d)
	// Large reads: io.Discard's own 8 KiB ones make a read system call
	// per 8 KiB, which costs as much as hashing them.
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	var n int64
	for {
		m, err := vr.Read(*bp)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	return n, vr.Verify()
}

// readBufs are streamBlob's read buffers.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// checkReport checks the report item's manifest and blob and decodes it.
func (c *checker) checkReport(ctx context.Context, d ocispec.Descriptor) *Report {
	r, err := readReport(ctx, c.src, d)
	c.mu.Lock()
	c.report.Manifests++
	c.mu.Unlock()
	c.event(CheckEvent{Descriptor: d, Err: err})
	if err != nil {
		c.problem(d, nil, fmt.Errorf("report: %w", classify(err)))
	}
	return r
}
