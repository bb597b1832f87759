package pkgserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Resource is one immutable Pkg resource: /registry/<uuid>/<hash>,
// /package/<uuid>/<hash> or /artifact/<hash>. UUID is zero for artifacts.
type Resource struct {
	Kind bundle.Kind
	UUID julia.UUID
	Hash treehash.Hash
}

// Path returns the resource's protocol path, e.g. "/package/<uuid>/<hash>".
func (r Resource) Path() string {
	if r.Kind == bundle.KindArtifact {
		return "/artifact/" + r.Hash.String()
	}
	return "/" + string(r.Kind) + "/" + r.UUID.String() + "/" + r.Hash.String()
}

// String names the resource for messages.
func (r Resource) String() string { return strings.TrimPrefix(r.Path(), "/") }

// RegistryRef is one line of /registries: a registry uuid and the tree hash
// the server advertises for it.
type RegistryRef struct {
	UUID julia.UUID
	Hash treehash.Hash
}

// Content is a resource a Source found: its size and how to read it.
type Content struct {
	// Size is the size of the tarball in bytes.
	Size int64
	// Zstd is true when the tarball is zstd-compressed (else gzip).
	Zstd bool
	// Bytes, when not nil, is the whole tarball in memory, already
	// verified (a memory-cache hit, a generated registry view): the
	// Server writes it (or a slice of it, for a range) in one Write,
	// without taking a slot.
	Bytes []byte
	// Open opens bytes [off, off+n) of the tarball, verified (see
	// shelf.Bytes); nil when Bytes holds it.
	Open func(ctx context.Context, off, n int64) (*shelf.Bytes, error)
	// Stat checks what can be checked of the tarball without reading it
	// (for HEAD); nil when there is nothing to check.
	Stat func(ctx context.Context) error
}

// Source is what a Server serves. Implementations must be safe for
// concurrent use. BundleSource is the one over verified bundles.
type Source interface {
	// Registries returns the /registries lines, sorted by uuid.
	Registries() []RegistryRef
	// Lookup finds a resource without reading its content. An unknown
	// resource is an error wrapping errdef.ErrNotFound.
	Lookup(ctx context.Context, r Resource) (Content, error)
}

// ErrUnavailable is returned (wrapped) for content the server knows but
// cannot serve now: a backend that is down, a blob that failed
// verification. It becomes 503.
var ErrUnavailable = errors.New("temporarily unavailable")

// ErrUpstream is returned (wrapped) when the backing store failed to
// deliver content. It becomes 502.
var ErrUpstream = errors.New("upstream store failed")

// parseResource parses a request path into a resource. It accepts only
// lowercase canonical uuids and hashes (pkg-protocol §2.1), which is what
// julia.ParseUUID and treehash.Parse accept (FuzzParseResource checks that
// every accepted path round-trips and is lowercase).
func parseResource(path string) (Resource, bool) {
	var r Resource
	var rest string
	switch {
	case strings.HasPrefix(path, "/registry/"):
		r.Kind, rest = bundle.KindRegistry, path[len("/registry/"):]
	case strings.HasPrefix(path, "/package/"):
		r.Kind, rest = bundle.KindPackage, path[len("/package/"):]
	case strings.HasPrefix(path, "/artifact/"):
		h, err := treehash.Parse(path[len("/artifact/"):])
		return Resource{Kind: bundle.KindArtifact, Hash: h}, err == nil
	default:
		return Resource{}, false
	}
	if len(rest) != 36+1+40 || rest[36] != '/' {
		return Resource{}, false
	}
	var err1, err2 error
	r.UUID, err1 = julia.ParseUUID(rest[:36])
	r.Hash, err2 = treehash.Parse(rest[37:])
	return r, err1 == nil && err2 == nil
}

// notFound returns an error for an unknown resource.
func notFound(r Resource) error {
	return fmt.Errorf("%s: %w", r, errdef.ErrNotFound)
}
