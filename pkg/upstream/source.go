package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"oras.land/oras-go/v2/errdef"

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

// Sizer is implemented by sources that may tell the size of a resource's
// tarball without fetching it (a static mirror on disk): an error wrapping
// ErrNotFound when they lack it, errors.ErrUnsupported when they cannot
// tell.
type Sizer interface {
	Size(ctx context.Context, r Resource) (int64, error)
}

// RegistryLister is implemented by sources that can say which registry
// snapshots they offer.
type RegistryLister interface {
	Registries(ctx context.Context) ([]RegistryRef, error)
}

// ErrNotFound means a source does not have a resource. It wraps oras's
// errdef.ErrNotFound so callers can test either.
var ErrNotFound = fmt.Errorf("not found%.0w", errdef.ErrNotFound)

// ErrBadContent is wrapped by every error that says content a source gave
// failed verification (a corrupt gzip stream, a tar entry Tar.jl rejects,
// the wrong tree hash, the wrong sha256): the source is at fault, another
// source may have the right content. See BadContent.
var ErrBadContent = errors.New("content failed verification")

// BadContent marks err as a verification failure of a source's content
// (errors.Is(err, ErrBadContent)); its message is err's.
func BadContent(err error) error {
	if err == nil || errors.Is(err, ErrBadContent) {
		return err
	}
	return badContent{err}
}

type badContent struct{ err error }

func (b badContent) Error() string        { return b.err.Error() }
func (b badContent) Unwrap() error        { return b.err }
func (b badContent) Is(target error) bool { return target == ErrBadContent }

// Chain is a list of sources tried in order (push --from A --from B).
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

// Members lists the sources of src: a Chain's members (flattened), or src.
func Members(src Source) []Source {
	c, ok := src.(Chain)
	if !ok {
		return []Source{src}
	}
	var out []Source
	for _, m := range c {
		out = append(out, Members(m)...)
	}
	return out
}

// Fetch implements Source: the first source that has the resource gives
// it. A source that fails otherwise is passed over too, for the next; when
// none gives it, the error is a *FetchError (which wraps ErrNotFound when
// every source simply lacks it). Fetch cannot know whether the bytes it
// returns are good: Try can.
func (c Chain) Fetch(ctx context.Context, r Resource) (io.ReadCloser, error) {
	var rc io.ReadCloser
	_, err := c.Try(ctx, r, nil, func(_ Source, body io.ReadCloser) error {
		rc = body
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	return rc, nil
}

// Failure is one source's failure to give one resource.
type Failure struct {
	Resource Resource
	Source   string
	Err      error
	// Next is the source tried next, "" when it was the last.
	Next string
}

// Try offers r from each source of the chain in order to use, until use
// accepts one (returns nil); it returns the source used. use reads the
// stream (Try closes it unless use returned nil, which hands the stream
// over) and verifies it. The next source is tried when a source lacks
// the resource, when it fails (after its own retries), or when use fails
// because of the source: the stream could not be read to its end, or the
// content failed verification (ErrBadContent). Any other failure of use
// (a full disk, cancellation) ends Try with that error at once. Each
// source failure is passed to failed (if not nil) as it happens.
//
// When no source gives r, the error is a *FetchError naming each source
// and its answer; it wraps ErrNotFound when every source lacks r, and
// every failure otherwise.
func (c Chain) Try(ctx context.Context, r Resource, failed func(Failure), use func(Source, io.ReadCloser) error) (Source, error) {
	fe := &FetchError{Resource: r}
	members := Members(c)
	for i, src := range members {
		rc, err := src.Fetch(ctx, r)
		if err == nil {
			tr := &trackedReader{rc: rc}
			err = use(src, tr)
			if err == nil {
				return src, nil
			}
			tr.Close()
			if ctx.Err() != nil || !(errors.Is(err, ErrBadContent) || tr.failed(err)) {
				return nil, err
			}
		} else if ctx.Err() != nil {
			return nil, err
		}
		if errors.Is(err, ErrNotFound) {
			fe.NotIn = append(fe.NotIn, src.Name())
			continue
		}
		f := Failure{Resource: r, Source: src.Name(), Err: err}
		if i+1 < len(members) {
			f.Next = members[i+1].Name()
		}
		fe.Failures = append(fe.Failures, f)
		if failed != nil {
			failed(f)
		}
	}
	return nil, fe
}

// trackedReader remembers the error its source's stream failed with, so
// that Try can tell a source's failure from the consumer's.
type trackedReader struct {
	rc  io.ReadCloser
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

func (t *trackedReader) Close() error { return t.rc.Close() }

// failed reports whether err is (or wraps) the stream's own read error.
func (t *trackedReader) failed(err error) bool {
	return t.err != nil && errors.Is(err, t.err)
}

// FetchError says that no source gave a resource: which lacked it and how
// the others failed.
type FetchError struct {
	Resource Resource
	// NotIn names the sources that do not have it.
	NotIn []string
	// Failures are the sources that failed, in the order tried.
	Failures []Failure
}

// Error says, without naming the resource (the caller does), what each
// source answered: "not in A, B", "from A: …", or "no source gave it:
// from A: …; from B: …; not in C".
func (e *FetchError) Error() string {
	if len(e.Failures) == 0 {
		return "not in " + strings.Join(e.NotIn, ", ")
	}
	var b strings.Builder
	if len(e.Failures) > 1 || len(e.NotIn) > 0 {
		b.WriteString("no source gave it: ")
	}
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "from %s: %v", f.Source, f.Err)
	}
	if len(e.NotIn) > 0 {
		fmt.Fprintf(&b, "; not in %s", strings.Join(e.NotIn, ", "))
	}
	return b.String()
}

// Missing reports whether every source simply lacks the resource.
func (e *FetchError) Missing() bool { return len(e.Failures) == 0 }

// Unwrap returns the failures, or ErrNotFound when there are none.
func (e *FetchError) Unwrap() []error {
	if len(e.Failures) == 0 {
		return []error{ErrNotFound}
	}
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f.Err
	}
	return out
}
