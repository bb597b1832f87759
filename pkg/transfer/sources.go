package transfer

import "github.com/shoebox-jl/shoebox/pkg/upstream"

// The names push speaks in, from pkg/upstream (where content comes from).
type (
	// Resource identifies one immutable Pkg resource (upstream.Resource).
	Resource = upstream.Resource
	// ResourceKind is the kind of a Pkg-protocol resource.
	ResourceKind = upstream.ResourceKind
	// RegistryRef is one registry snapshot a source lists.
	RegistryRef = upstream.RegistryRef
	// Source is where push collects Julia content from.
	Source = upstream.Source
)

// The three content resources of the Pkg protocol.
const (
	KindRegistry = upstream.KindRegistry
	KindPackage  = upstream.KindPackage
	KindArtifact = upstream.KindArtifact
)

// ErrNotFound means no source has an item (upstream.ErrNotFound); it
// wraps oras's errdef.ErrNotFound.
var ErrNotFound = upstream.ErrNotFound
