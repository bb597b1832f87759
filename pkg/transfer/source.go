package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ResourceKind is the kind of a Pkg-protocol resource.
type ResourceKind string

// The three content resources of the Pkg protocol (pkg-protocol.md §2).
const (
	KindRegistry ResourceKind = "registry"
	KindPackage  ResourceKind = "package"
	KindArtifact ResourceKind = "artifact"
)

// Resource identifies one immutable Pkg resource. UUID is zero for artifacts.
type Resource struct {
	Kind ResourceKind
	UUID julia.UUID
	Hash treehash.Hash
}

// Path returns the resource's Pkg-protocol path, e.g. "/package/<uuid>/<hash>".
func (r Resource) Path() string {
	if r.Kind == KindArtifact {
		return "/artifact/" + r.Hash.String()
	}
	return "/" + string(r.Kind) + "/" + r.UUID.String() + "/" + r.Hash.String()
}

// String names the resource for messages.
func (r Resource) String() string { return string(r.Kind) + " " + r.Path()[len(r.Kind)+2:] }

// RegistryRef is one line of a Pkg server's /registries.
type RegistryRef struct {
	UUID julia.UUID
	Hash treehash.Hash
}

// Source is where push collects Julia content from. Fetch returns the
// compressed tarball of a resource exactly as a Pkg server would serve it;
// a source that does not have it returns an error wrapping ErrNotFound.
type Source interface {
	// Name describes the source for messages ("https://pkg.julialang.org",
	// "depot /home/me/.julia").
	Name() string
	// Fetch returns the resource's compressed tarball.
	Fetch(ctx context.Context, r Resource) (io.ReadCloser, error)
}

// RegistryLister is implemented by sources that can say which registry
// snapshots they offer.
type RegistryLister interface {
	Registries(ctx context.Context) ([]RegistryRef, error)
}

// ErrNotFound means a source does not have a resource. It wraps oras's
// errdef.ErrNotFound so callers can test either.
var ErrNotFound = fmt.Errorf("not found%.0w", errNotFoundBase)

// Chain tries each source in order and returns the first that has the
// resource. Errors other than "not found" are returned at once: a broken
// upstream must not be mistaken for a missing item.
type Chain []Source

// Name lists the sources.
func (c Chain) Name() string {
	s := ""
	for i, src := range c {
		if i > 0 {
			s += ", "
		}
		s += src.Name()
	}
	return s
}

// Fetch implements Source.
func (c Chain) Fetch(ctx context.Context, r Resource) (io.ReadCloser, error) {
	for _, src := range c {
		rc, err := src.Fetch(ctx, r)
		if err == nil {
			return rc, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%s: not in %s: %w", r, c.Name(), ErrNotFound)
}
