package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"

	"github.com/shoebox-jl/shoebox/internal/httpx"
)

// ErrLocked is returned (wrapped, with the layout path and the holder's pid
// when known) by Open when another writer holds the layout lock.
var ErrLocked = errors.New("layout is locked by another writer")

// ErrReadOnly is returned (wrapped) by writing methods of a store opened
// with Options.ReadOnly.
var ErrReadOnly = errors.New("store is read-only")

// ErrUnauthorized is returned (wrapped, naming the registry) when a registry
// rejects the credentials, or asks for credentials and none were found.
var ErrUnauthorized = errors.New("registry authentication failed")

// Options configure Open. The zero value opens a writable store, with no
// credentials, over HTTPS with the system roots, failing at once when a
// layout is locked.
type Options struct {
	// ReadOnly opens the store for reading only: no lock is taken and every
	// write fails with ErrReadOnly. A read-only layout must already exist.
	ReadOnly bool
	// LazyGraph (layouts only) defers reading the manifests:
	// Open and Reload read index.json alone, and the manifest graph is
	// walked on the first call that needs it (Exists or Resolve of a
	// manifest index.json does not list, Roots). Resolve of a tag, Tags,
	// Fetch and Exists of a blob never walk it, which is all a server of
	// bundle content needs. In a read-only layout, until it is walked,
	// Predecessors and Referrers look only at the manifests index.json
	// lists, where a layout keeps every referrer (see topPredecessors):
	// what signature checks need. A writable layout walks it for them, and
	// before its first write (a manifest pushed or tagged, an index save),
	// so a writer that finds everything already there (an up-to-date
	// re-push) never reads the manifests.
	// Without it (the default) the walk happens at Open and Reload, so
	// that a missing or tampered manifest fails them.
	LazyGraph bool

	// PlainHTTP talks to the registry over plain HTTP (Remote only).
	PlainHTTP bool
	// CAFile is a PEM bundle of extra roots trusted for the registry's TLS
	// certificate, added to the system pool (Remote only).
	CAFile string
	// Insecure skips TLS certificate verification (Remote only).
	Insecure bool
	// Network bounds the retries of every registry request and how long a
	// request may wait for headers or a body move no byte (Remote only;
	// the zero value is httpx's default policy). A budget in a request's
	// context (httpx.WithBudget) takes precedence: the caller's retries
	// and the store's then draw on one count.
	Network httpx.Policy

	// Username and Password are static basic-auth credentials (for example a
	// Harbor robot account). When both are empty, credentials come from
	// DockerConfigDir.
	Username, Password string
	// DockerConfigDir is a directory holding a docker/oras config.json
	// credential store (including its credential helpers). "" means no
	// credential store: anonymous access unless Username/Password are set.
	DockerConfigDir string

	// LockWait is how long Open waits for another writer to release a
	// layout's lock before failing with ErrLocked. 0 fails at once.
	LockWait time.Duration

	// Logger receives debug events (lock waits, cleanups, retries). nil
	// discards them.
	Logger *slog.Logger
}

// Store is an OCI layout or a registry repository, opened by Open. It
// implements oras.GraphTarget, so it can be the source or destination of
// oras.Copy and oras.ExtendedCopy. A Store is safe for concurrent use by
// multiple goroutines; a writable layout Store is additionally the only
// writer of its layout across processes (see Open).
type Store struct {
	ref      Reference
	readOnly bool
	log      *slog.Logger
	b        backend
}

// backend is what a layout and a remote repository both provide.
type backend interface {
	content.GraphStorage
	content.TagResolver
	tags(ctx context.Context) ([]string, error)
	ingest(ctx context.Context, mediaType string, r io.Reader, opts IngestOptions) (ocispec.Descriptor, []ocispec.Descriptor, error)
	close() error
}

var _ oras.GraphTarget = (*Store)(nil)

// Open opens the store ref names; ref.Tag is ignored (see Store.Ref).
//
// A Layout is created (directory, oci-layout file, empty index.json) unless
// ReadOnly is set. A writable layout is locked for the life of the Store
// with an exclusive flock(2) on <layout>/.shoebox.lock, which records the
// holder's pid; a second writer waits up to opts.LockWait and then fails
// with ErrLocked. Read-only opens take no lock and may run alongside a
// writer: index.json is only ever replaced atomically. A writable open also
// removes the temporary files a killed writer left behind.
//
// A Remote store makes no request at Open; authentication and TLS errors
// surface at the first operation.
func Open(ctx context.Context, ref Reference, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{ref: ref.WithTag(""), readOnly: opts.ReadOnly, log: log}
	var err error
	switch ref.Kind {
	case Layout:
		s.b, err = openLayout(ctx, ref.Path, opts, log)
	case Remote:
		s.b, err = openRemote(ref, opts, log)
	default:
		err = fmt.Errorf("%q: unknown kind: %w", ref.String(), ErrInvalidReference)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Ref returns the reference the store was opened with, without a tag.
func (s *Store) Ref() Reference { return s.ref }

// Discard closes a writable layout that Open created, and removes it
// again: the directory Open made, or, in a directory that existed, every
// entry of the layout Open made there (oci-layout, index.json, blobs/,
// ingest/, the lock file) that was not there before. A writer whose first
// write failed calls it so that the failure leaves nothing behind. For a
// layout that existed before Open, a read-only layout or a registry it is
// Close. It reports whether it removed anything.
func (s *Store) Discard() (bool, error) {
	l, ok := s.b.(*layout)
	if !ok {
		return false, s.Close()
	}
	return l.discard()
}

// Close releases the layout lock (after saving the index, if anything
// changed). It is a no-op for remote stores. Close is idempotent.
func (s *Store) Close() error { return s.b.close() }

func (s *Store) checkWritable() error {
	if s.readOnly {
		return fmt.Errorf("%s: %w", s.ref.Location(), ErrReadOnly)
	}
	return nil
}

// Fetch fetches the content identified by target. A missing blob or
// manifest is errdef.ErrNotFound.
func (s *Store) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	return s.b.Fetch(ctx, target)
}

// Exists reports whether target is in the store. In a layout, a manifest
// exists only if index.json reaches it: a manifest blob left orphaned by a
// killed writer is reported missing, so that a re-run pushes (and indexes)
// it again.
func (s *Store) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	return s.b.Exists(ctx, target)
}

// Push stores content, which must match expected (size and digest).
// Pushing content that exists already succeeds; a layout does not rewrite
// it (a registry may receive it again: check Exists first to skip that).
func (s *Store) Push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	return s.b.Push(ctx, expected, r)
}

// Tag points reference (a tag) at desc, which must exist.
func (s *Store) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	return s.b.Tag(ctx, desc, reference)
}

// Resolve resolves a tag or a digest to a descriptor. An unknown reference
// is errdef.ErrNotFound.
func (s *Store) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	return s.b.Resolve(ctx, reference)
}

// Predecessors returns the manifests that point at node, a manifest or an
// index (a layout keeps no predecessors of blobs: nothing asks for them).
// For a remote store this is the referrers of node (oras semantics).
func (s *Store) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return s.b.Predecessors(ctx, node)
}

// Tags lists the store's tags in ascending order. On a registry without
// the referrers API this includes the "sha256-<hex>" tags of the referrers
// tag schema (and signatures' "sha256-<hex>.sig" tags); a layout keeps
// referrers untagged.
func (s *Store) Tags(ctx context.Context) ([]string, error) {
	return s.b.tags(ctx)
}

// Referrers returns the manifests whose subject is subject, filtered by
// artifactType when it is not empty. A layout answers from its graph; a
// registry through the referrers API, falling back to the
// "sha256-<hex>" referrers tag schema when the API is missing.
func (s *Store) Referrers(ctx context.Context, subject ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	return registry.Referrers(ctx, s.b, subject, artifactType)
}

// Reload makes a read-only layout Store pick up changes another process
// saved to index.json (new bundles, new signatures), and reports whether
// anything changed. It costs one stat when index.json is unchanged. For a
// writable layout (the only writer) and for remote stores it does nothing.
func (s *Store) Reload(ctx context.Context) (bool, error) {
	l, ok := s.b.(*layout)
	if !ok || !l.readOnly {
		return false, nil
	}
	return l.reload(ctx, false)
}
