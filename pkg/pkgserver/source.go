package pkgserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
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
	// Open returns the tarball positioned at 0. Reading it from 0 to the
	// end must verify it (a mismatch is an error from Read, never a clean
	// io.EOF); Seek may be used for ranges. ctx bounds the reads.
	Open func(ctx context.Context) (io.ReadSeekCloser, error)
	// Bytes, when not nil, is the whole tarball in memory, already
	// verified (a memory-cache hit, a generated registry view): the
	// Server writes it (or a slice of it, for a range) in one Write
	// instead of streaming Open's reader. Open must still be set.
	Bytes []byte
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
// lowercase canonical uuids and hashes (pkg-protocol §2.1), checking and
// decoding every character in one pass itself, so that the protocol's rule
// does not depend on a parser's leniency (julia.ParseUUID once let an
// uppercase second digit of a pair through; FuzzParseResource found it).
func parseResource(path string) (Resource, bool) {
	// Fixed-width paths, checked without splitting (no allocation):
	// "/registry/" or "/package/", 36-char uuid, "/", 40-char hash; or
	// "/artifact/", 40-char hash.
	var r Resource
	var rest string
	switch {
	case strings.HasPrefix(path, "/registry/"):
		r.Kind, rest = bundle.KindRegistry, path[len("/registry/"):]
	case strings.HasPrefix(path, "/package/"):
		r.Kind, rest = bundle.KindPackage, path[len("/package/"):]
	case strings.HasPrefix(path, "/artifact/"):
		r.Kind, rest = bundle.KindArtifact, path[len("/artifact/"):]
		return r, len(rest) == 40 && lowerHex(r.Hash[:], rest)
	default:
		return Resource{}, false
	}
	if len(rest) != 36+1+40 || rest[36] != '/' || !lowerHex(r.Hash[:], rest[37:]) {
		return Resource{}, false
	}
	u := rest[:36]
	if u[8] != '-' || u[13] != '-' || u[18] != '-' || u[23] != '-' {
		return Resource{}, false
	}
	ok := lowerHex(r.UUID[0:4], u[0:8]) && lowerHex(r.UUID[4:6], u[9:13]) && lowerHex(r.UUID[6:8], u[14:18]) &&
		lowerHex(r.UUID[8:10], u[19:23]) && lowerHex(r.UUID[10:16], u[24:36])
	return r, ok
}

// lowerHex decodes s, lowercase hex digits only, into dst (len(s) ==
// 2*len(dst)).
func lowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerNibble(s[2*i])
		lo, ok2 := lowerNibble(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func lowerNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// notFound returns an error for an unknown resource.
func notFound(r Resource) error {
	return fmt.Errorf("%s: %w", r, errdef.ErrNotFound)
}
