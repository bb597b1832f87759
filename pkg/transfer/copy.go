package transfer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/internal/httpx"
	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// CopySource is what Copy reads: content and tag resolution
// (oras.ReadOnlyTarget). When it also lists referrers (as *store.Store
// does), the bundle's OCI 1.1 referrers are copied too.
type CopySource interface {
	content.ReadOnlyStorage
	content.Resolver
}

// CopyTarget is where Copy writes: content storage that resolves and sets
// tags (oras.Target). *store.Store satisfies it.
type CopyTarget interface {
	content.Storage
	content.TagResolver
}

// referrersLister is the optional capability of a CopySource to list the
// manifests whose subject is a node (store.Store.Referrers).
type referrersLister interface {
	Referrers(ctx context.Context, subject ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error)
}

// mounter is the optional capability of a CopyTarget to mount a blob
// from another repository of its registry (store.Store.Mount).
type mounter interface {
	Mount(ctx context.Context, desc ocispec.Descriptor, fromRepo string, getContent func() (io.ReadCloser, error)) error
}

// mountSource returns the repository Copy mounts blobs from: src's, when
// src and dst are distinct repositories of one registry; "" otherwise.
func mountSource(src CopySource, dst CopyTarget) string {
	s, ok1 := src.(*store.Store)
	d, ok2 := dst.(*store.Store)
	if !ok1 || !ok2 || !s.SameRegistry(d) || s.Ref().Repository == d.Ref().Repository {
		return ""
	}
	return s.Ref().Repository
}

// CopyOptions tune Copy. The zero value copies with 4 transfers at a time,
// the default network policy, and no progress reports.
type CopyOptions struct {
	// Concurrency bounds the blobs and manifests transferred (and checked
	// for existence) at once; ≤ 0 means 4.
	Concurrency int
	// Network bounds the retries of each blob, manifest and tag: a
	// transfer that fails in a way a retry may cure (5xx, 429, connection
	// resets, truncated or stalled bodies) is tried again within one budget
	// (httpx.Policy; the zero value: 5 attempts, backoff from 250 ms, 20 s
	// in all), which the registry client's own retries share. Errors a
	// retry cannot cure (missing or corrupt source content, 4xx,
	// authentication, a full disk) fail at once.
	Network httpx.Policy
	// Progress, if set, receives events (EventPlanned with the number of
	// nodes found so far, growing as the signatures' graphs are found, and
	// the bytes of those dst lacks,
	// EventSkipped for each node the destination already has,
	// EventStart/EventBytes/EventDone for each one copied; Name is the
	// Julia item's name when known, else the digest). It must be cheap and
	// safe for concurrent calls.
	Progress func(Event)
	// Logger receives retry notices; nil discards them.
	Logger *slog.Logger
}

// CopyResult summarises a Copy.
type CopyResult struct {
	// Index is the bundle index copied and Tags the tags set on it.
	Index ocispec.Descriptor
	Tags  []string
	// Copied and Skipped count the nodes (blobs and manifests) written and
	// those the destination already had; their bytes likewise. A skipped
	// manifest's subgraph is not visited (the destination has it whole).
	Copied, Skipped           int
	BytesCopied, BytesSkipped int64
	// Mounted counts the blobs (among Copied) the destination registry
	// mounted from the source repository instead of receiving them.
	Mounted int
	// Signatures counts the signature manifests carried: the cosign
	// ".sig" and ".att" (attestations) manifests (merged with the
	// destination's when both have one) and the OCI 1.1 referrers but
	// provenance records.
	Signatures int
	// Provenance counts the provenance records carried (OCI 1.1
	// referrers of artifactType bundle.ArtifactTypeProvenance: where the
	// pusher got each item; unsigned).
	Provenance int
	// Retries counts transfers that were tried again.
	Retries int
}

// Copy copies the bundle whose top index is index from src to dst, with
// its signatures, then points tags at it; the bundle is resolved by the
// caller once and named by digest from then on.
//
// The order makes a partial copy invisible: blobs first, then manifests
// children before parents (item manifests, child indexes, the top index),
// then the signatures (cosign's "sha256-<hex>.sig" manifest, merged with
// one the destination already has so that no signature is lost; the
// OCI 1.1 referrers of the index; the referrers fallback tag index
// "sha256-<hex>", merged likewise), and the bundle's tags last. A tag
// never points at an incomplete graph, and an interrupted Copy leaves
// only untagged content, which the next run reuses: nodes the destination
// already has are skipped (a manifest with its whole subgraph), so a
// re-run transfers only what is missing, and copying a delta bundle
// (pushed against an inventory of dst) needs from src only what dst
// lacks.
//
// Between two repositories of one registry (both *store.Store), each blob
// is mounted from the source repository (a cross-repository blob mount: no
// bytes move); if the registry refuses mounts (an error other than "not
// mounted, upload it"), the rest are copied. Otherwise every blob is
// streamed from src to dst (never spooled) and checked
// against its digest and size by the destination; manifests are read
// through a 4 MiB cap and digest-checked. Transfers run on
// opts.Concurrency goroutines and are retried per node (opts.Attempts).
func Copy(ctx context.Context, src CopySource, dst CopyTarget, index ocispec.Descriptor, tags []string, opts CopyOptions) (*CopyResult, error) {
	c := &copier{src: src, dst: dst, opts: opts, res: &CopyResult{Index: index}, mountFrom: mountSource(src, dst), keepManifests: true}
	if s, ok := src.(*store.Store); ok && s.Ref().Kind == store.Layout {
		c.keepManifests = false
	}
	if c.opts.Logger == nil {
		c.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := c.graph(ctx, index); err != nil {
		return c.res, fmt.Errorf("bundle %s: %w", index.Digest, err)
	}
	if err := c.signatures(ctx, index); err != nil {
		return c.res, fmt.Errorf("bundle %s: signatures: %w", index.Digest, err)
	}
	for _, t := range tags {
		if err := c.retry(ctx, "tagging "+t, func(ctx context.Context) error { return dst.Tag(ctx, index, t) }); err != nil {
			return c.res, fmt.Errorf("bundle %s: tagging %q: %w", index.Digest, t, err)
		}
		c.res.Tags = append(c.res.Tags, t)
	}
	return c.res, nil
}

// copier is one Copy.
type copier struct {
	src  CopySource
	dst  CopyTarget
	opts CopyOptions
	// mu guards res and planned; every worker takes it briefly.
	mu      sync.Mutex
	res     *CopyResult
	planned int // nodes found so far, over every graph of this Copy
	// mountFrom is the source repository blobs are mounted from ("" for
	// none); noMount is set once the registry refused a mount.
	mountFrom string
	noMount   atomic.Bool
	// plannedBytes is the size of the planned nodes dst lacks: what is
	// to be transferred.
	plannedBytes int64
	// keepManifests keeps each manifest's bytes from discovery to its
	// push; from a local layout they are read again instead (a bundle of
	// 100,000 items has as many manifests, and its index pages).
	keepManifests bool
}

// node is one blob or manifest of a graph being copied.
type node struct {
	desc   ocispec.Descriptor
	name   string
	exists bool
	// isManifest: a manifest or index (with children); manifest holds
	// its bytes when the copier keeps them (see copier.keepManifests).
	isManifest bool
	manifest   []byte
	children   []digest.Digest // successors (manifests only)
	height     int             // 0 for blobs, 1 + the children's for manifests
}

func (c *copier) emit(e Event) {
	if c.opts.Progress != nil {
		c.opts.Progress(e)
	}
}

func (c *copier) limit() int { return cmp.Or(max(c.opts.Concurrency, 0), 4) }

// isManifestType reports whether a media type is a manifest or index,
// which has successors.
func isManifestType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.artifact.manifest.v1+json":
		return true
	}
	return false
}

// maxCopyManifest bounds a manifest read from the source (registries cap
// manifests at 4 MiB).
const maxCopyManifest = 4 << 20

// graph copies root and everything below it that dst lacks.
func (c *copier) graph(ctx context.Context, root ocispec.Descriptor) error {
	nodes, err := c.discover(ctx, root)
	if err != nil {
		return err
	}
	var blobs []*node
	var manifests []*node
	c.mu.Lock()
	c.planned += len(nodes)
	planned := c.planned
	for _, n := range nodes {
		if !n.exists {
			c.plannedBytes += n.desc.Size
		}
	}
	plannedBytes := c.plannedBytes
	c.mu.Unlock()
	for _, n := range nodes {
		if n.exists {
			c.mu.Lock()
			c.res.Skipped++
			c.res.BytesSkipped += n.desc.Size
			c.mu.Unlock()
			continue
		}
		if n.isManifest {
			manifests = append(manifests, n)
		} else {
			blobs = append(blobs, n)
		}
	}
	c.emit(Event{Type: EventPlanned, Items: planned, Bytes: plannedBytes})
	for _, n := range nodes {
		if n.exists {
			c.emit(Event{Type: EventSkipped, Name: n.label(), Bytes: n.desc.Size})
		}
	}
	// Largest blobs first: the long transfers start early.
	slices.SortFunc(blobs, func(a, b *node) int {
		return cmp.Or(cmp.Compare(b.desc.Size, a.desc.Size), cmp.Compare(a.desc.Digest, b.desc.Digest))
	})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.limit())
	for _, n := range blobs {
		g.Go(func() error { return c.copyBlob(gctx, n) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Manifests by height: a manifest is pushed after all its children.
	setHeights(nodes)
	slices.SortFunc(manifests, func(a, b *node) int {
		return cmp.Or(cmp.Compare(a.height, b.height), cmp.Compare(a.desc.Digest, b.desc.Digest))
	})
	for i := 0; i < len(manifests); {
		j := i
		for j < len(manifests) && manifests[j].height == manifests[i].height {
			j++
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.limit())
		for _, n := range manifests[i:j] {
			g.Go(func() error { return c.pushManifest(gctx, n) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func (n *node) label() string {
	if n.name != "" {
		return n.name
	}
	return n.desc.Digest.String()
}

// setHeights computes every manifest's height over the nodes to copy.
func setHeights(nodes map[digest.Digest]*node) {
	done := map[digest.Digest]bool{}
	var height func(n *node, depth int) int
	height = func(n *node, depth int) int {
		if n.exists || !n.isManifest || depth > 64 {
			return 0
		}
		if done[n.desc.Digest] {
			return n.height
		}
		done[n.desc.Digest] = true // a cycle (impossible with digests) stops here
		h := 0
		for _, ch := range n.children {
			if cn := nodes[ch]; cn != nil && cn.isManifest && !cn.exists {
				h = max(h, height(cn, depth+1))
			}
		}
		n.height = h + 1
		return n.height
	}
	for _, n := range nodes {
		height(n, 0)
	}
}

// discover walks the graph from root: nodes dst has are marked and not
// descended into; the others' manifests are read from src.
func (c *copier) discover(ctx context.Context, root ocispec.Descriptor) (map[digest.Digest]*node, error) {
	nodes := map[digest.Digest]*node{}
	var mu sync.Mutex // guards nodes; taken by the visitors
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.limit())
	var visit func(d ocispec.Descriptor, name string) error
	visit = func(d ocispec.Descriptor, name string) error {
		mu.Lock()
		if _, seen := nodes[d.Digest]; seen {
			mu.Unlock()
			return nil
		}
		n := &node{desc: d, name: name}
		nodes[d.Digest] = n
		mu.Unlock()
		var ok bool
		err := c.retry(gctx, "checking "+d.Digest.String(), func(gctx context.Context) (err error) {
			ok, err = c.dst.Exists(gctx, d)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: checking the destination: %w", d.Digest, err)
		}
		if ok {
			n.exists = true
			return nil
		}
		if !isManifestType(d.MediaType) {
			return nil
		}
		var b []byte
		err = c.retry(gctx, "reading manifest "+d.Digest.String(), func(gctx context.Context) (err error) {
			b, err = c.fetchManifest(gctx, d)
			return err
		})
		if err != nil {
			return err
		}
		succs, err := edges(b)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		n.isManifest = true
		if c.keepManifests {
			n.manifest = b
		}
		n.children = make([]digest.Digest, 0, len(succs))
		for _, s := range succs {
			n.children = append(n.children, s.Digest)
			childName := name
			if v := s.Annotations.Name; v != "" {
				childName = v
			}
			f := func() error { return visit(s.descriptor(), childName) }
			if !g.TryGo(f) {
				if err := f(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	g.Go(func() error { return visit(root, "") })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return nodes, nil
}

// fetchManifest reads a manifest from src through the size cap and checks
// its digest.
func (c *copier) fetchManifest(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
	if d.Size > maxCopyManifest || d.Size < 0 {
		return nil, fmt.Errorf("manifest %s: size %d: %w", d.Digest, d.Size, errdef.ErrSizeExceedsLimit)
	}
	rc, err := c.src.Fetch(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	defer rc.Close()
	b, err := ocigraph.ReadAll(rc, d)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	return b, nil
}

// edge is a descriptor as Copy reads it from a manifest: what identifies
// the node, and the item name a bundle index gives it (for progress).
// Decoding into it allocates no annotation map: a bundle index lists
// thousands of annotated descriptors per page.
type edge struct {
	MediaType    string        `json:"mediaType"`
	Digest       digest.Digest `json:"digest"`
	Size         int64         `json:"size"`
	ArtifactType string        `json:"artifactType,omitempty"`
	Annotations  struct {
		Name string `json:"dev.shoebox.julia.name"`
	} `json:"annotations"`
}

func (e edge) descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size, ArtifactType: e.ArtifactType}
}

// edges lists what a manifest or index points at (ocigraph.Edges).
func edges(b []byte) ([]edge, error) {
	out, _, err := ocigraph.Edges(b, func(e *edge) digest.Digest { return e.Digest })
	return out, err
}

// successors lists the descriptors a manifest or index points at.
func successors(b []byte) ([]ocispec.Descriptor, error) {
	es, err := edges(b)
	if err != nil {
		return nil, err
	}
	out := make([]ocispec.Descriptor, len(es))
	for i, e := range es {
		out[i] = e.descriptor()
	}
	return out, nil
}

// copyBlob streams one blob from src to dst (or mounts it), retrying
// transient failures.
func (c *copier) copyBlob(ctx context.Context, n *node) error {
	c.emit(Event{Type: EventStart, Name: n.label()})
	if m, ok := c.dst.(mounter); ok && c.mountFrom != "" && !c.noMount.Load() {
		mounted, err := c.mount(ctx, m, n)
		if err == nil {
			if mounted {
				c.mu.Lock()
				c.res.Mounted++
				c.mu.Unlock()
				c.emit(Event{Type: EventBytes, Name: n.label(), Bytes: n.desc.Size})
			}
			c.done(n)
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		// Refused (no pull on the source for DST's credentials, or no
		// mount support that answers 202): copy this and every later blob.
		c.noMount.Store(true)
		c.opts.Logger.Debug("blob mount refused; copying instead", "from", c.mountFrom, "digest", n.desc.Digest, "error", err)
	}
	err := c.retry(ctx, "copying "+n.desc.Digest.String(), func(ctx context.Context) error {
		rc, err := c.src.Fetch(ctx, n.desc)
		if err != nil {
			return err
		}
		defer rc.Close()
		cr := &progressReader{r: rc, c: c, name: n.label()}
		err = c.dst.Push(ctx, n.desc, cr)
		cr.flush()
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s %s (%s): %w", n.label(), n.desc.Digest, n.desc.MediaType, err)
	}
	c.done(n)
	return nil
}

// mount asks dst to mount n from the source repository; when the
// registry opens an upload instead, the blob is streamed from src into it.
// mounted reports whether no bytes had to move.
func (c *copier) mount(ctx context.Context, m mounter, n *node) (mounted bool, err error) {
	mounted = true
	err = c.retry(ctx, "mounting "+n.desc.Digest.String(), func(ctx context.Context) error {
		mounted = true
		var cr *progressReader
		err := m.Mount(ctx, n.desc, c.mountFrom, func() (io.ReadCloser, error) {
			mounted = false
			rc, err := c.src.Fetch(ctx, n.desc)
			if err != nil {
				return nil, err
			}
			cr = &progressReader{r: rc, c: c, name: n.label()}
			return struct {
				io.Reader
				io.Closer
			}{cr, rc}, nil
		})
		if cr != nil {
			cr.flush()
		}
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return err
		}
		return nil
	})
	return mounted, err
}

func (c *copier) pushManifest(ctx context.Context, n *node) error {
	c.emit(Event{Type: EventStart, Name: n.label()})
	err := c.retry(ctx, "pushing manifest "+n.desc.Digest.String(), func(ctx context.Context) error {
		b := n.manifest
		if b == nil {
			var err error
			if b, err = c.fetchManifest(ctx, n.desc); err != nil {
				return err
			}
		}
		err := c.dst.Push(ctx, n.desc, bytes.NewReader(b))
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("manifest %s (%s): %w", n.desc.Digest, n.label(), err)
	}
	c.emit(Event{Type: EventBytes, Name: n.label(), Bytes: n.desc.Size})
	c.done(n)
	return nil
}

func (c *copier) done(n *node) {
	c.mu.Lock()
	c.res.Copied++
	c.res.BytesCopied += n.desc.Size
	c.mu.Unlock()
	c.emit(Event{Type: EventDone, Name: n.label(), Bytes: n.desc.Size})
}

// progressReader reports bytes read as EventBytes, every 256 KiB.
type progressReader struct {
	r       io.Reader
	c       *copier
	name    string
	pending int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.pending += int64(n)
	if p.pending >= 256<<10 {
		p.flush()
	}
	return n, err
}

func (p *progressReader) flush() {
	if p.pending > 0 {
		p.c.emit(Event{Type: EventBytes, Name: p.name, Bytes: p.pending})
		p.pending = 0
	}
}

// retry runs op while it fails transiently, within one budget of
// opts.Network (attempts, backoff, total time). The budget goes to op in
// its context, so that the registry client's own retries of the requests
// op makes draw on it too: one operation costs at most Attempts tries,
// however the layers split them.
func (c *copier) retry(ctx context.Context, what string, op func(context.Context) error) error {
	b := c.opts.Network.Start()
	bctx := httpx.WithBudget(ctx, b)
	for {
		err := op(bctx)
		if err == nil || !retryable(ctx, err) {
			return err
		}
		c.mu.Lock()
		c.res.Retries++
		c.mu.Unlock()
		c.opts.Logger.Info("transient error, retrying", "what", what, "error", err)
		if rerr := b.Retry(ctx, what, err); rerr != nil {
			if httpx.Spent(rerr) {
				return rerr
			}
			return err
		}
	}
}

// retryable reports whether a failed transfer may succeed when tried
// again: not when the context ended, the source lacks the content or it
// is corrupt, the credentials are refused, the store is read-only or
// locked, the disk is full, or the registry answered 4xx (other than 408
// and 429). Server errors, connection resets and cut-off bodies are.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || httpx.Spent(err) {
		return false
	}
	for _, perm := range []error{
		context.Canceled, context.DeadlineExceeded,
		errdef.ErrNotFound, errdef.ErrSizeExceedsLimit, errdef.ErrInvalidDigest, errdef.ErrInvalidReference,
		errdef.ErrUnsupported, content.ErrMismatchedDigest, content.ErrTrailingData,
		store.ErrUnauthorized, store.ErrReadOnly, store.ErrLocked,
		fs.ErrPermission, fs.ErrNotExist, errNoSpace,
	} {
		if errors.Is(err, perm) {
			return false
		}
	}
	if code := httpStatus(err); code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
		return false
	}
	return true
}

// httpStatus is the HTTP status an error reports: an upstream Pkg server's
// (StatusError) or a registry's (store.HTTPStatus); 0 if none.
func httpStatus(err error) int {
	var se *httpx.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return store.HTTPStatus(err)
}

// cosignTag copies a cosign ".sig" or ".att" manifest, merging its layers
// into the destination's when both have one (trust.MergeSignatures).
func (c *copier) cosignTag(ctx context.Context, tag string) error {
	sd, found, err := c.resolve(ctx, c.src, tag)
	if err != nil {
		return err
	}
	if found {
		have, there, err := c.resolve(ctx, c.dst, tag)
		if err != nil {
			return err
		}
		switch {
		case there && have.Digest == sd.Digest:
		case there:
			// Merge: bring the signature layers, not the source's manifest
			// (it would stay behind, untagged).
			var b []byte
			err := c.retry(ctx, "reading "+tag, func(ctx context.Context) (err error) {
				b, err = c.fetchManifest(ctx, sd)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", tag, err)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("%s: decoding: %w", tag, err)
			}
			for _, l := range m.Layers {
				if err := c.graph(ctx, l); err != nil {
					return fmt.Errorf("%s: %w", tag, err)
				}
			}
			want, err := trust.MergeSignatures(ctx, c.dst, have, m)
			if err != nil {
				return fmt.Errorf("%s: merging with the destination's: %w", tag, err)
			}
			if want.Digest != have.Digest {
				if err := c.retry(ctx, "tagging "+tag, func(ctx context.Context) error { return c.dst.Tag(ctx, want, tag) }); err != nil {
					return fmt.Errorf("tagging %s: %w", tag, err)
				}
			}
		default:
			if err := c.graph(ctx, sd); err != nil {
				return fmt.Errorf("%s: %w", tag, err)
			}
			if err := c.retry(ctx, "tagging "+tag, func(ctx context.Context) error { return c.dst.Tag(ctx, sd, tag) }); err != nil {
				return fmt.Errorf("tagging %s: %w", tag, err)
			}
		}
		c.countSignature()
	}
	return nil
}

// signatures copies what signs index: the cosign ".sig" and ".att"
// manifests (merged with the destination's), the OCI 1.1 referrers, and
// the referrers fallback tag index (merged likewise).
func (c *copier) signatures(ctx context.Context, index ocispec.Descriptor) error {
	// cosign v2: the "sha256-<hex>.sig" tag, and the attestations'
	// "sha256-<hex>.att" tag (shoebox attest, cosign attest).
	for _, tag := range []string{trust.SignatureTag(index.Digest), trust.AttestationTag(index.Digest)} {
		if err := c.cosignTag(ctx, tag); err != nil {
			return err
		}
	}

	// OCI 1.1 referrers (cosign v2 --registry-referrers-mode=oci-1-1,
	// Sigstore bundles), found by the source's referrers listing and its
	// fallback tag index.
	ftag := trust.ReferrersTag(index.Digest)
	srcIdx, srcHas, err := c.readIndex(ctx, c.src, ftag)
	if err != nil {
		return err
	}
	var refs []ocispec.Descriptor
	if rl, ok := c.src.(referrersLister); ok {
		if refs, err = rl.Referrers(ctx, index, ""); err != nil {
			return fmt.Errorf("listing referrers: %w", err)
		}
	}
	for _, d := range srcIdx.Manifests {
		if !slices.ContainsFunc(refs, func(r ocispec.Descriptor) bool { return r.Digest == d.Digest }) {
			refs = append(refs, d)
		}
	}
	slices.SortFunc(refs, func(a, b ocispec.Descriptor) int { return cmp.Compare(a.Digest, b.Digest) })
	for _, r := range refs {
		if err := c.graph(ctx, r); err != nil {
			return fmt.Errorf("referrer %s: %w", r.Digest, err)
		}
		if r.ArtifactType == bundle.ArtifactTypeProvenance {
			c.mu.Lock()
			c.res.Provenance++
			c.mu.Unlock()
			continue
		}
		c.countSignature()
	}
	if len(refs) == 0 && !srcHas {
		return nil
	}
	// The fallback tag: a registry with no referrers API had oras-go keep
	// it up to date as the referrers were pushed; a layout has none unless
	// written here. Either way, make it list every referrer of both sides.
	dstIdx, _, err := c.readIndex(ctx, c.dst, ftag)
	if err != nil {
		return err
	}
	merged := dstIdx
	changed := false
	for _, d := range refs {
		if slices.ContainsFunc(merged.Manifests, func(m ocispec.Descriptor) bool { return m.Digest == d.Digest }) {
			continue
		}
		entry := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType, Annotations: d.Annotations}
		if i := slices.IndexFunc(srcIdx.Manifests, func(m ocispec.Descriptor) bool { return m.Digest == d.Digest }); i >= 0 {
			entry = srcIdx.Manifests[i]
		}
		merged.Manifests = append(merged.Manifests, entry)
		changed = true
	}
	if !changed {
		return nil
	}
	merged.SchemaVersion, merged.MediaType = 2, ocispec.MediaTypeImageIndex
	b, err := json.Marshal(merged)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", ftag, err)
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b)
	err = c.retry(ctx, "pushing "+ftag, func(ctx context.Context) error {
		if err := c.dst.Push(ctx, desc, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return err
		}
		return c.dst.Tag(ctx, desc, ftag)
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", ftag, err)
	}
	return nil
}

func (c *copier) countSignature() {
	c.mu.Lock()
	c.res.Signatures++
	c.mu.Unlock()
}

// resolve resolves a tag, telling "not there" from failures.
func (c *copier) resolve(ctx context.Context, r content.Resolver, tag string) (ocispec.Descriptor, bool, error) {
	var d ocispec.Descriptor
	err := c.retry(ctx, "resolving "+tag, func(ctx context.Context) (err error) {
		d, err = r.Resolve(ctx, tag)
		return err
	})
	if errors.Is(err, errdef.ErrNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("resolving %s: %w", tag, err)
	}
	return d, true, nil
}

// readIndex reads the image index at tag; a missing tag is an empty index.
func (c *copier) readIndex(ctx context.Context, s interface {
	content.Fetcher
	content.Resolver
}, tag string) (ocispec.Index, bool, error) {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	d, found, err := c.resolve(ctx, s, tag)
	if err != nil || !found {
		return idx, false, err
	}
	if d.MediaType != ocispec.MediaTypeImageIndex {
		return idx, false, nil // not a referrers index (GitLab answers with the image)
	}
	var b []byte
	err = c.retry(ctx, "reading "+tag, func(ctx context.Context) error {
		if d.Size > maxCopyManifest {
			return fmt.Errorf("%s: size %d: %w", tag, d.Size, errdef.ErrSizeExceedsLimit)
		}
		rc, err := s.Fetch(ctx, d)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err = content.ReadAll(rc, d)
		return err
	})
	if err != nil {
		return idx, false, fmt.Errorf("reading %s: %w", tag, err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, false, fmt.Errorf("decoding %s: %w", tag, err)
	}
	return idx, true, nil
}

// errNoSpace is a full disk: retrying does not help.
var errNoSpace error = syscall.ENOSPC
