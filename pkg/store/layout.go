package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/internal/ocigraph"
)

// Limits on untrusted metadata read from a layout.
const (
	maxIndexBytes    = 64 << 20 // index.json
	maxManifestBytes = 16 << 20 // one manifest or image index (registries cap at 4 MiB)
	maxLayoutBytes   = 4 << 10  // oci-layout
)

// Media types of manifests (nodes with successors).
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeArtifactManifest   = "application/vnd.oci.artifact.manifest.v1+json"
)

func isManifest(desc ocispec.Descriptor) bool {
	switch desc.MediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		mediaTypeDockerManifest, mediaTypeDockerManifestList, mediaTypeArtifactManifest:
		return true
	}
	return false
}

// layout is an OCI image layout (image-spec v1.1.1) on a local file
// system.
//
// On disk it is plain image-layout: blobs/sha256/<hex> (read-only files),
// oci-layout, and index.json. index.json lists every tagged manifest (with
// the org.opencontainers.image.ref.name annotation) and every untagged
// manifest that no other manifest points at (a referrer, a pushed but not
// yet tagged bundle); everything else is reached from those. Manifests
// reached this way form the in-memory graph that answers Exists,
// Predecessors and Referrers.
//
// index.json is saved atomically: on Tag, on the push of a manifest with a
// subject (a referrer), and on Close. A manifest pushed but not yet saved is
// lost by a crash; its blob stays on disk, and since Exists reports only
// indexed manifests, a re-run pushes it again.
type layout struct {
	root     string
	readOnly bool
	lazy     bool // read-only with Options.LazyGraph
	log      *slog.Logger
	lock     *fileLock // nil when read-only
	blobDir  string    // <root>/blobs/sha256
	// anon: blobs are written as unnamed files in blobDir and linked into
	// place (Linux O_TMPFILE; probed when a writer opens the layout);
	// otherwise as named temporary files under ingest/, renamed into place.
	anon bool

	// mu guards the fields below. Readers (Fetch, Exists, Resolve,
	// Predecessors, tags) take RLock; index updates take Lock. Blob I/O
	// happens outside mu.
	mu        sync.RWMutex
	tagMap    map[string]ocispec.Descriptor          // tag → descriptor, without ref.name
	manifests map[digest.Digest]ocispec.Descriptor   // indexed manifests
	succs     map[digest.Digest][]ocispec.Descriptor // manifest → successors (immutable, kept across reloads)
	preds     map[digest.Digest][]digest.Digest      // manifest → manifests pointing at it (a few each)
	gen       uint64                                 // bumped by every in-memory index change
	savedGen  uint64                                 // gen that index.json reflects
	stamp     indexStamp                             // index.json as last loaded
	closed    bool
	// A lazy layout (read-only, Options.LazyGraph) builds the graph
	// when first needed: reload records the
	// manifests index.json lists (top) and leaves graphOK false; the first
	// call that needs the graph (Exists or Resolve of a manifest index.json
	// does not list, Predecessors, Roots) walks it (ensureGraph). Serving
	// needs only tags and blobs, so it never pays for the walk. loadSeq is
	// bumped by every reload, so that a walk of an older index.json is not
	// installed.
	top     map[digest.Digest]ocispec.Descriptor
	roots   []ocispec.Descriptor // index.json's manifests, ref.name removed
	graphOK bool
	loadSeq uint64
	// topPreds answers Predecessors in a lazy layout whose graph is not
	// built (see topPredecessors); built for index.json as of topSeq.
	topPreds map[digest.Digest][]digest.Digest
	topSeq   uint64

	// graphMu serialises lazy graph builds; taken before mu.
	graphMu sync.Mutex

	// saveMu serialises index.json writes; taken before mu.
	saveMu sync.Mutex
	// pending are the blobs written since the last save, made durable in
	// one batch before index.json names them (see pendingSync).
	pending pendingSync

	// createdDir: Open made the layout's directory; createdLayout: Open
	// made the layout in it (there was no oci-layout file), and before
	// lists which of layoutNames were there already. See Discard.
	createdDir, createdLayout bool
	before                    map[string]bool
}

// layoutNames are the entries of a layout's directory that a writer makes.
var layoutNames = []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile, ocispec.ImageBlobsDir, ingestDirName, lockFileName}

// ErrNoParent is returned (wrapped, naming the missing directory) by Open
// when a new layout's parent directory does not exist: a layout is made
// in an existing directory only, so that a stick that is not mounted
// (/media/usb missing) never turns into a directory on the root disk.
var ErrNoParent = errors.New("the parent directory does not exist")

// makeLayoutDir creates root if it is missing, and only root: its parent
// must exist. It reports whether it created root.
func makeLayoutDir(root string) (bool, error) {
	err := os.Mkdir(root, dirMode)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrExist) {
		if fi, serr := os.Stat(root); serr == nil && !fi.IsDir() {
			return false, fmt.Errorf("layout %s: not a directory", root)
		}
		return false, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		if perr := CheckParent(root); perr != nil {
			return false, perr
		}
	}
	return false, fmt.Errorf("layout %s: %w", root, err)
}

// CheckParent returns an error wrapping ErrNoParent (and fs.ErrNotExist)
// when the directory a new layout at path would be made in does not exist,
// naming the topmost missing directory and asking whether the stick is
// mounted; nil when it exists.
func CheckParent(path string) error {
	root, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("layout %s: %w", path, err)
	}
	parent := filepath.Dir(root)
	if _, err := os.Stat(parent); err == nil {
		return nil
	}
	missing := parent
	for d := parent; ; d = filepath.Dir(d) {
		if _, serr := os.Stat(d); serr == nil || d == filepath.Dir(d) {
			break
		}
		missing = d
	}
	return fmt.Errorf("layout %s: %s does not exist (is the stick mounted?); shoebox creates the layout directory only, in an existing directory: %w: %w",
		root, missing, ErrNoParent, os.ErrNotExist)
}

// indexStamp identifies a version of index.json cheaply.
type indexStamp struct {
	fi       os.FileInfo
	sum      [sha256.Size]byte
	loadedAt time.Time
}

func openLayout(ctx context.Context, dir string, opts Options, log *slog.Logger) (_ *layout, err error) {
	if dir == "" {
		return nil, fmt.Errorf("empty layout path: %w", ErrInvalidReference)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	l := &layout{
		root:      root,
		readOnly:  opts.ReadOnly,
		lazy:      opts.LazyGraph,
		log:       log,
		blobDir:   filepath.Join(root, ocispec.ImageBlobsDir, digest.SHA256.String()),
		tagMap:    map[string]ocispec.Descriptor{},
		manifests: map[digest.Digest]ocispec.Descriptor{},
		succs:     map[digest.Digest][]ocispec.Descriptor{},
		preds:     map[digest.Digest][]digest.Digest{},
	}
	if opts.ReadOnly {
		if err := l.checkLayoutFile(); err != nil {
			return nil, err
		}
		if _, err := l.reload(ctx, true); err != nil {
			return nil, err
		}
		return l, nil
	}

	if l.createdDir, err = makeLayoutDir(root); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, ocispec.ImageLayoutFile)); errors.Is(err, os.ErrNotExist) {
		l.createdLayout = true
		l.before = map[string]bool{}
		for _, name := range layoutNames {
			if _, err := os.Lstat(filepath.Join(root, name)); err == nil {
				l.before[name] = true
			}
		}
	}
	l.lock, err = acquireLock(ctx, root, filepath.Join(root, lockFileName), opts.LockWait, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			l.lock.release()
		}
	}()
	n1, err := removeTemps(filepath.Join(root, ingestDirName), ingestTmpPrefix)
	if err != nil {
		return nil, fmt.Errorf("layout %s: removing stale temporary blobs: %w", root, err)
	}
	n2, err := removeTemps(root, indexTmpPrefix)
	if err != nil {
		return nil, fmt.Errorf("layout %s: removing stale temporary files: %w", root, err)
	}
	n3, err := removeTemps(root, layoutTmpPrefix)
	if err != nil {
		return nil, fmt.Errorf("layout %s: removing stale temporary files: %w", root, err)
	}
	n2 += n3
	if n1+n2 > 0 {
		log.Debug("removed temporary files of an interrupted writer", "layout", root, "count", n1+n2)
	}
	if err := os.MkdirAll(l.blobDir, dirMode); err != nil {
		return nil, fmt.Errorf("layout %s: %w", root, err)
	}
	l.anon = l.probeAnon()
	if err := l.ensureLayoutFile(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, ocispec.ImageIndexFile)); errors.Is(err, os.ErrNotExist) {
		if err := l.save(ctx); err != nil {
			return nil, err
		}
	}
	if _, err := l.reload(ctx, true); err != nil {
		return nil, err
	}
	return l, nil
}

// anonBlobs allows unnamed temporary blobs; a variable so that tests cover
// the named temporary files too.
var anonBlobs = true

// probeAnon reports whether blobs can be written as unnamed files linked
// into place: the file system supports O_TMPFILE and /proc/self/fd links
// work. The probe's file gets a temporary name under ingest/ and is
// removed.
func (l *layout) probeAnon() bool {
	if !anonBlobs {
		return false
	}
	f, err := openAnon(l.blobDir, blobMode)
	if err != nil {
		l.log.Debug("writing blobs through named temporary files", "layout", l.root, "reason", err)
		return false
	}
	defer f.Close()
	dir := filepath.Join(l.root, ingestDirName)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return false
	}
	name := filepath.Join(dir, ingestTmpPrefix+"probe-"+strconv.FormatUint(rand.Uint64(), 36))
	if err := linkAnon(f, name); err != nil {
		l.log.Debug("writing blobs through named temporary files", "layout", l.root, "reason", err)
		return false
	}
	return os.Remove(name) == nil
}

func (l *layout) checkLayoutFile() error {
	b, err := readCapped(filepath.Join(l.root, ocispec.ImageLayoutFile), maxLayoutBytes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("layout %s: not an OCI image layout (no %s file): %w", l.root, ocispec.ImageLayoutFile, errdef.ErrNotFound)
		}
		return fmt.Errorf("layout %s: %w", l.root, err)
	}
	var il ocispec.ImageLayout
	if err := json.Unmarshal(b, &il); err != nil {
		return fmt.Errorf("layout %s: decoding %s: %w", l.root, ocispec.ImageLayoutFile, err)
	}
	if il.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("layout %s: image layout version %q: %w", l.root, il.Version, errdef.ErrUnsupportedVersion)
	}
	return nil
}

func (l *layout) ensureLayoutFile() error {
	err := l.checkLayoutFile()
	if err == nil || !errors.Is(err, errdef.ErrNotFound) {
		return err
	}
	b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := writeFileAtomic(l.root, ocispec.ImageLayoutFile, layoutTmpPrefix, b, readableMode); err != nil {
		return fmt.Errorf("layout %s: %w", l.root, err)
	}
	return nil
}

// readCapped reads a whole file of at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, limit, errdef.ErrSizeExceedsLimit)
	}
	return b, nil
}

func (l *layout) blobPath(d digest.Digest) (string, error) {
	if enc, ok := ocigraph.SHA256Hex(d); ok {
		return l.blobDir + string(filepath.Separator) + enc, nil
	}
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("%s: %v: %w", d, err, errdef.ErrInvalidDigest)
	}
	return filepath.Join(l.root, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()), nil
}

// reload re-reads index.json unless it is known unchanged, and rebuilds the
// graph. It reports whether anything changed. force skips the stamp check.
//
// The stamp check is a stat: same file (device and inode), same size, same
// mtime, and an mtime older than two seconds before the last load (FAT
// keeps mtimes in 2 s steps, so a recent file is always re-read). When
// re-read bytes hash to the same sum, nothing is rebuilt.
func (l *layout) reload(ctx context.Context, force bool) (bool, error) {
	indexPath := filepath.Join(l.root, ocispec.ImageIndexFile)
	fi, err := os.Stat(indexPath)
	if err != nil {
		return false, fmt.Errorf("layout %s: %w", l.root, err)
	}
	l.mu.RLock()
	old := l.stamp
	l.mu.RUnlock()
	if !force && old.fi != nil && os.SameFile(old.fi, fi) && old.fi.Size() == fi.Size() &&
		old.fi.ModTime().Equal(fi.ModTime()) && fi.ModTime().Before(old.loadedAt.Add(-2*time.Second)) {
		return false, nil
	}
	now := time.Now()
	b, err := readCapped(indexPath, maxIndexBytes)
	if err != nil {
		return false, fmt.Errorf("layout %s: reading index: %w", l.root, err)
	}
	sum := sha256.Sum256(b)
	if !force && old.fi != nil && sum == old.sum {
		l.mu.Lock()
		l.stamp = indexStamp{fi: fi, sum: sum, loadedAt: now}
		l.mu.Unlock()
		return false, nil
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return false, fmt.Errorf("layout %s: decoding %s: %w", l.root, ocispec.ImageIndexFile, err)
	}

	tagMap := map[string]ocispec.Descriptor{}
	roots := make([]ocispec.Descriptor, 0, len(idx.Manifests))
	top := make(map[digest.Digest]ocispec.Descriptor, len(idx.Manifests))
	for _, d := range idx.Manifests {
		if name := d.Annotations[ocispec.AnnotationRefName]; name != "" {
			tagMap[name] = withoutRefName(d)
		}
		d = withoutRefName(d)
		roots = append(roots, d)
		if isManifest(d) {
			top[d.Digest] = plainDesc(d)
		}
	}
	if l.lazy {
		// The graph is built when first needed (ensureGraph).
		l.mu.Lock()
		l.tagMap, l.top, l.roots, l.graphOK = tagMap, top, roots, false
		l.loadSeq++
		l.stamp = indexStamp{fi: fi, sum: sum, loadedAt: now}
		l.savedGen = l.gen
		l.mu.Unlock()
		return true, nil
	}
	g, err := l.buildGraph(ctx, roots)
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	l.tagMap, l.top, l.roots, l.manifests, l.succs, l.preds, l.graphOK = tagMap, top, roots, g.manifests, g.succs, g.preds, true
	l.loadSeq++
	l.stamp = indexStamp{fi: fi, sum: sum, loadedAt: now}
	l.savedGen = l.gen
	l.mu.Unlock()
	return true, nil
}

// buildGraph walks every manifest reachable from roots without holding mu;
// successors of manifests seen before are reused (manifests are
// immutable).
func (l *layout) buildGraph(ctx context.Context, roots []ocispec.Descriptor) (*graph, error) {
	l.mu.RLock()
	known := maps.Clone(l.succs)
	l.mu.RUnlock()
	g := newGraph(known)
	if err := l.walk(ctx, g, roots); err != nil {
		return nil, err
	}
	return g, nil
}

// ensureGraph builds the manifest graph of a lazy layout if the current
// index.json's graph has not been built yet.
func (l *layout) ensureGraph(ctx context.Context) error {
	l.mu.RLock()
	ok := l.graphOK
	l.mu.RUnlock()
	if ok {
		return nil
	}
	l.graphMu.Lock()
	defer l.graphMu.Unlock()
	l.mu.RLock()
	ok, roots, seq := l.graphOK, l.roots, l.loadSeq
	l.mu.RUnlock()
	if ok {
		return nil
	}
	g, err := l.buildGraph(ctx, roots)
	if err != nil {
		return err
	}
	l.mu.Lock()
	if l.loadSeq == seq {
		l.manifests, l.succs, l.preds, l.graphOK = g.manifests, g.succs, g.preds, true
	}
	l.mu.Unlock()
	return nil
}

// graph is the manifest graph being built by a (re)load.
type graph struct {
	manifests map[digest.Digest]ocispec.Descriptor
	succs     map[digest.Digest][]ocispec.Descriptor
	preds     map[digest.Digest][]digest.Digest
	known     map[digest.Digest][]ocispec.Descriptor
}

func newGraph(known map[digest.Digest][]ocispec.Descriptor) *graph {
	return &graph{
		manifests: map[digest.Digest]ocispec.Descriptor{},
		succs:     map[digest.Digest][]ocispec.Descriptor{},
		preds:     map[digest.Digest][]digest.Digest{},
		known:     known,
	}
}

// graphReaders bounds the manifests a graph walk reads at a time.
const graphReaders = 4

// walk adds roots and every manifest reachable from them to g, level by
// level, reading the manifests of one level concurrently (a bundle of
// 100,000 items is 100,000 small files). Manifests whose blob is missing
// are left out (a partial copy is a valid layout); the integrity of what is
// listed is for verify to judge.
func (l *layout) walk(ctx context.Context, g *graph, roots []ocispec.Descriptor) error {
	level := roots
	for len(level) > 0 {
		// The manifests of this level not seen yet, once each.
		var todo []ocispec.Descriptor
		queued := map[digest.Digest]bool{}
		for _, d := range level {
			if _, seen := g.manifests[d.Digest]; seen || !isManifest(d) || queued[d.Digest] {
				continue
			}
			queued[d.Digest] = true
			todo = append(todo, d)
		}
		succs := make([][]ocispec.Descriptor, len(todo))
		missing := make([]bool, len(todo))
		eg, ectx := errgroup.WithContext(ctx)
		eg.SetLimit(graphReaders)
		for i, d := range todo {
			if known, ok := g.known[d.Digest]; ok {
				succs[i] = known
				continue
			}
			eg.Go(func() error {
				if err := ectx.Err(); err != nil {
					return err
				}
				s, _, err := l.successors(ectx, d)
				if errors.Is(err, errdef.ErrNotFound) {
					l.log.Debug("manifest listed but missing", "layout", l.root, "digest", d.Digest)
					missing[i] = true
					return nil
				}
				succs[i] = s
				return err
			})
		}
		if err := eg.Wait(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var next []ocispec.Descriptor
		for i, d := range todo {
			if missing[i] {
				continue
			}
			g.add(plainDesc(d), succs[i])
			next = append(next, succs[i]...)
		}
		level = next
	}
	return nil
}

func (g *graph) add(d ocispec.Descriptor, succs []ocispec.Descriptor) {
	// Only edges to manifests are kept: blobs have no successors to walk,
	// and a blob's predecessors are asked for by nothing (a referrer's
	// subject is a manifest). A bundle of 100,000 items would otherwise
	// keep 200,000 blob edges and a predecessor set per blob.
	var ms []ocispec.Descriptor // not succs[:0:0]: that keeps succs' array alive
	for _, s := range succs {
		if isManifest(s) {
			ms = append(ms, s)
		}
	}
	g.manifests[d.Digest] = d
	g.succs[d.Digest] = ms // nil for an item manifest: nothing to walk
	for _, s := range ms {
		if !slices.Contains(g.preds[s.Digest], d.Digest) {
			g.preds[s.Digest] = append(g.preds[s.Digest], d.Digest)
		}
	}
}

// successors reads a manifest blob (size- and digest-checked, capped) and
// returns the descriptors it points at, subject first, and whether it has a
// subject.
func (l *layout) successors(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, bool, error) {
	if d.Size > maxManifestBytes || d.Size < 0 {
		return nil, false, fmt.Errorf("layout %s: manifest %s: size %d: %w", l.root, d.Digest, d.Size, errdef.ErrSizeExceedsLimit)
	}
	rc, err := l.Fetch(ctx, d)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("layout %s: manifest %s: %w", l.root, d.Digest, err)
	}
	b, err := ocigraph.ReadAll(rc, d)
	rc.Close()
	if err != nil {
		return nil, false, fmt.Errorf("layout %s: manifest %s: %w", l.root, d.Digest, err)
	}
	// The graph keeps no annotations: a bundle index page lists a
	// thousand annotated descriptors, and the graph needs none of them.
	out, subject, err := ocigraph.PlainSuccessors(b)
	if err != nil {
		return nil, false, fmt.Errorf("layout %s: manifest %s: %w", l.root, d.Digest, err)
	}
	return out, subject, nil
}

// plainDesc keeps what identifies a manifest in index.json and in Resolve
// answers: media type, digest, size, artifact type.
func plainDesc(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
}

func withoutRefName(d ocispec.Descriptor) ocispec.Descriptor {
	if _, ok := d.Annotations[ocispec.AnnotationRefName]; !ok {
		return d
	}
	a := maps.Clone(d.Annotations)
	delete(a, ocispec.AnnotationRefName)
	if len(a) == 0 {
		a = nil
	}
	d.Annotations = a
	return d
}

// save writes index.json atomically from the in-memory state.
func (l *layout) save(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The untagged manifests to list are the graph's roots: a lazy
	// layout builds it first.
	if err := l.ensureGraph(ctx); err != nil {
		return err
	}
	l.saveMu.Lock()
	defer l.saveMu.Unlock()

	l.mu.RLock()
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{},
	}
	tagged := map[digest.Digest]bool{}
	for _, tag := range slices.Sorted(maps.Keys(l.tagMap)) {
		d := l.tagMap[tag]
		a := maps.Clone(d.Annotations)
		if a == nil {
			a = map[string]string{}
		}
		a[ocispec.AnnotationRefName] = tag
		d.Annotations = a
		idx.Manifests = append(idx.Manifests, d)
		tagged[d.Digest] = true
	}
	for _, dg := range slices.Sorted(maps.Keys(l.manifests)) {
		if tagged[dg] || len(l.preds[dg]) > 0 {
			continue
		}
		idx.Manifests = append(idx.Manifests, l.manifests[dg])
	}
	gen := l.gen
	l.mu.RUnlock()

	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("layout %s: encoding index: %w", l.root, err)
	}
	if err := l.pending.flush(l.root); err != nil {
		return fmt.Errorf("layout %s: making blobs durable: %w", l.root, err)
	}
	if err := writeFileAtomic(l.root, ocispec.ImageIndexFile, indexTmpPrefix, b, readableMode); err != nil {
		return fmt.Errorf("layout %s: saving index: %w", l.root, err)
	}
	fi, err := os.Stat(filepath.Join(l.root, ocispec.ImageIndexFile))
	if err != nil {
		return fmt.Errorf("layout %s: %w", l.root, err)
	}
	l.mu.Lock()
	l.stamp = indexStamp{fi: fi, sum: sha256.Sum256(b), loadedAt: time.Now()}
	l.savedGen = max(l.savedGen, gen) // changes made while writing stay unsaved
	l.mu.Unlock()
	return nil
}

// discard closes the layout without saving and removes what Open made:
// the directory, or the layout's entries that were not there before.
func (l *layout) discard() (bool, error) {
	if l.readOnly || !l.createdLayout {
		return false, l.close()
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	// Everything but the lock file goes while the lock is held; then the
	// lock file, and the directory if Open made it and it is empty (a
	// writer that took the lock in between keeps what it wrote).
	for _, name := range layoutNames {
		if l.before[name] || name == lockFileName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(l.root, name)); err != nil {
			l.lock.release()
			return false, fmt.Errorf("layout %s: removing %s: %w", l.root, name, err)
		}
	}
	if err := l.lock.release(); err != nil {
		return false, fmt.Errorf("layout %s: releasing lock: %w", l.root, err)
	}
	if !l.before[lockFileName] {
		if err := os.Remove(filepath.Join(l.root, lockFileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("layout %s: removing %s: %w", l.root, lockFileName, err)
		}
	}
	if l.createdDir {
		if err := os.Remove(l.root); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("layout %s: removing: %w", l.root, err)
		}
	}
	return true, nil
}

func (l *layout) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	dirty := l.gen != l.savedGen
	l.mu.Unlock()
	var err error
	if dirty && !l.readOnly {
		err = l.save(context.Background())
	}
	if rerr := l.lock.release(); err == nil && rerr != nil {
		err = fmt.Errorf("layout %s: releasing lock: %w", l.root, rerr)
	}
	return err
}

// Fetch opens a blob file (see openBlob: no symbolic links, a regular file
// of the descriptor's size, checked on the open descriptor). It returns an
// *os.File, which a reader may seek.
func (l *layout) Fetch(_ context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	return l.openBlob(target)
}

func (l *layout) blobExists(d digest.Digest) (bool, error) {
	p, err := l.blobPath(d)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

func (l *layout) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	if isManifest(target) {
		l.mu.RLock()
		_, ok := l.top[target.Digest]
		if !ok {
			_, ok = l.manifests[target.Digest]
			ok = ok && l.graphOK
		}
		graphOK := l.graphOK
		l.mu.RUnlock()
		if !ok && !graphOK {
			if err := l.ensureGraph(ctx); err != nil {
				return false, err
			}
			l.mu.RLock()
			_, ok = l.manifests[target.Digest]
			l.mu.RUnlock()
		}
		if !ok {
			return false, nil
		}
	}
	return l.blobExists(target.Digest)
}

// Push writes a blob atomically (a temporary file put into place, see
// tempBlob; made durable before the next index save) after checking size
// and digest, and indexes manifests. Content already present is not
// rewritten.
func (l *layout) Push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) error {
	target, err := l.blobPath(expected.Digest)
	if err != nil {
		return err
	}
	ok, err := l.blobExists(expected.Digest)
	if err != nil {
		return err
	}
	if !isManifest(expected) {
		if ok {
			return nil
		}
		return l.writeBlob(ctx, expected, r, target)
	}
	if ok {
		return l.indexManifest(ctx, expected, nil)
	}
	// A manifest is small: read and check it in memory, so that indexing
	// it does not read it back from disk.
	if expected.Size > maxManifestBytes || expected.Size < 0 {
		return fmt.Errorf("layout %s: manifest %s: size %d: %w", l.root, expected.Digest, expected.Size, errdef.ErrSizeExceedsLimit)
	}
	b, err := content.ReadAll(ctxReader{ctx, r}, expected)
	if err != nil {
		return fmt.Errorf("%s: %w", expected.Digest, err)
	}
	if err := l.writeBlob(ctx, expected, bytes.NewReader(b), target); err != nil {
		return err
	}
	return l.indexManifest(ctx, expected, b)
}

func (l *layout) writeBlob(ctx context.Context, expected ocispec.Descriptor, r io.Reader, target string) (err error) {
	f, path, err := l.tempBlob(expected.Digest.Encoded() + "-")()
	if err != nil {
		return fmt.Errorf("layout %s: %w", l.root, err)
	}
	tmp := spoolPart{path: path, f: f, desc: ocispec.Descriptor{Size: expected.Size}}
	defer func() { removeSpooled([]spoolPart{tmp}) }()
	vr := content.NewVerifyReader(ctxReader{ctx, r}, expected)
	buf := getBuf()
	defer putBuf(buf)
	if _, err = io.CopyBuffer(onlyWriter{f}, vr, *buf); err != nil {
		return fmt.Errorf("%s: writing blob: %w", expected.Digest, err)
	}
	if err = vr.Verify(); err != nil {
		return fmt.Errorf("%s: %w", expected.Digest, err)
	}
	if err := chmod(f, blobMode); err != nil {
		return fmt.Errorf("layout %s: %w", l.root, err)
	}
	if path != "" {
		tmp.f = nil
		if err := f.Close(); err != nil {
			return fmt.Errorf("layout %s: %w", l.root, err)
		}
	}
	if err := l.place(&tmp, target); err != nil {
		return fmt.Errorf("layout %s: %w", l.root, err)
	}
	return nil
}

// onlyWriter hides every method but Write (io.CopyBuffer would otherwise
// use *os.File's ReadFrom and its own buffer).
type onlyWriter struct{ io.Writer }

// tempBlob returns how a layout creates the temporary file of a blob
// being written: unnamed in blobs/sha256 (O_TMPFILE, linked into place by
// place, so a crash leaves nothing behind), or, where the file system
// cannot do that, named ingest/shoebox-<kind>* files renamed into place.
func (l *layout) tempBlob(kind string) tempCreator {
	if l.anon {
		return func() (*os.File, string, error) {
			f, err := openAnon(l.blobDir, blobMode)
			return f, "", err
		}
	}
	dir := filepath.Join(l.root, ingestDirName)
	named := namedTemps(dir, ingestTmpPrefix+kind)
	return func() (*os.File, string, error) {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return nil, "", err
		}
		return named()
	}
}

// place makes a finished temporary blob visible at target, unless a
// complete blob (the expected size) is already there: an unnamed file is
// linked (with no name in the way, the common case, that is the only
// call), a named one renamed. A torn blob in the way (short, after a power
// cut) is replaced atomically. On success the temporary file is consumed
// (t.f and t.path cleared); otherwise the caller removes it.
func (l *layout) place(t *spoolPart, target string) error {
	if t.path == "" {
		err := linkAnon(t.f, target)
		if errors.Is(err, os.ErrNotExist) { // blobs/<alg> went missing
			if err = os.MkdirAll(filepath.Dir(target), dirMode); err == nil {
				err = linkAnon(t.f, target)
			}
		}
		if err == nil {
			l.pending.add(target)
			return t.closeAnon()
		}
		if !errors.Is(err, os.ErrExist) {
			return err
		}
		if blobPresent(target, t.desc.Size) {
			return nil // dedup: the caller drops the temporary file
		}
		// Give it a name beside the other temporary files, then rename
		// it over the torn blob.
		name := filepath.Join(l.root, ingestDirName, ingestTmpPrefix+"replace-"+strconv.FormatUint(rand.Uint64(), 36))
		if err := os.MkdirAll(filepath.Dir(name), dirMode); err != nil {
			return err
		}
		if err := linkAnon(t.f, name); err != nil {
			return err
		}
		if err := t.closeAnon(); err != nil {
			os.Remove(name)
			return err
		}
		t.path = name
	}
	if blobPresent(target, t.desc.Size) {
		return nil // dedup: the caller removes the temporary file
	}
	if err := os.MkdirAll(filepath.Dir(target), dirMode); err != nil {
		return err
	}
	if err := os.Rename(t.path, target); err != nil {
		return err
	}
	t.path = ""
	l.pending.add(target)
	return nil
}

// closeAnon closes a placed unnamed file.
func (t *spoolPart) closeAnon() error {
	f := t.f
	t.f = nil
	return f.Close()
}

// indexManifest adds a stored manifest to the graph. A referrer (a manifest
// with a subject) is saved to index.json at once, since nothing else will
// ever point at it.
// b, if not nil, is the manifest's content, already checked.
func (l *layout) indexManifest(ctx context.Context, d ocispec.Descriptor, b []byte) error {
	if err := l.ensureGraph(ctx); err != nil {
		return err
	}
	l.mu.RLock()
	_, known := l.manifests[d.Digest]
	l.mu.RUnlock()
	if known {
		return nil
	}
	var (
		succs      []ocispec.Descriptor
		hasSubject bool
		err        error
	)
	if b != nil {
		succs, hasSubject, err = ocigraph.PlainSuccessors(b)
		if err != nil {
			err = fmt.Errorf("layout %s: manifest %s: %w", l.root, d.Digest, err)
		}
	} else {
		succs, hasSubject, err = l.successors(ctx, d)
	}
	if err != nil {
		return err
	}
	g := &graph{}
	l.mu.Lock()
	g.manifests, g.succs, g.preds = l.manifests, l.succs, l.preds
	g.add(plainDesc(d), succs)
	l.gen++
	l.mu.Unlock()
	if hasSubject {
		return l.save(ctx)
	}
	return nil
}

func (l *layout) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	if _, err := digest.Parse(reference); err == nil {
		if reference != desc.Digest.String() {
			return fmt.Errorf("tag %q is a digest other than %s: %w", reference, desc.Digest, errdef.ErrInvalidReference)
		}
	} else if !tagRE.MatchString(reference) {
		return fmt.Errorf("tag %q: %w", reference, errdef.ErrInvalidReference)
	}
	ok, err := l.blobExists(desc.Digest)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %s: %w", desc.Digest, desc.MediaType, errdef.ErrNotFound)
	}
	if isManifest(desc) {
		if err := l.indexManifest(ctx, desc, nil); err != nil {
			return err
		}
	}
	if reference == desc.Digest.String() {
		return l.save(ctx)
	}
	l.mu.Lock()
	l.tagMap[reference] = withoutRefName(desc)
	l.gen++
	l.mu.Unlock()
	return l.save(ctx)
}

func (l *layout) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if reference == "" {
		return ocispec.Descriptor{}, errdef.ErrMissingReference
	}
	l.mu.RLock()
	d, ok := l.tagMap[reference]
	if !ok {
		d, ok = l.top[digest.Digest(reference)]
	}
	l.mu.RUnlock()
	if ok {
		return d, nil
	}
	dg, err := digest.Parse(reference)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", reference, errdef.ErrNotFound)
	}
	if err := l.ensureGraph(ctx); err != nil {
		return ocispec.Descriptor{}, err
	}
	l.mu.RLock()
	d, ok = l.manifests[dg]
	l.mu.RUnlock()
	if ok {
		return d, nil
	}
	p, err := l.blobPath(dg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ocispec.Descriptor{}, fmt.Errorf("%s: %w", reference, errdef.ErrNotFound)
		}
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: dg, Size: fi.Size()}, nil
}

func (l *layout) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if l.lazy && l.readOnly {
		l.mu.RLock()
		built := l.graphOK
		l.mu.RUnlock()
		if !built {
			return l.topPredecessors(ctx, node)
		}
	}
	if err := l.ensureGraph(ctx); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []ocispec.Descriptor
	for _, dg := range slices.Sorted(slices.Values(l.preds[node.Digest])) {
		out = append(out, l.manifests[dg])
	}
	return out, nil
}

func (l *layout) tags(ctx context.Context) ([]string, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Sorted(maps.Keys(l.tagMap)), nil
}

// ctxReader stops a copy when its context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

const copyBufSize = 1 << 20

// copyBufs recycles copy buffers: a push stores thousands of blobs, most of
// them small manifests, and a fresh 1 MiB buffer for each was a measurable
// share of BenchmarkPush (allocation and clearing).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

func getBuf() *[]byte  { return copyBufs.Get().(*[]byte) }
func putBuf(b *[]byte) { copyBufs.Put(b) }
