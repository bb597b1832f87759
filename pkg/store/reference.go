package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"
)

// Kind says which backend a Reference names.
type Kind int

const (
	// Layout is an OCI image layout directory on a local file system.
	Layout Kind = iota + 1
	// Remote is a repository in an OCI registry reached over HTTP(S).
	Remote
)

// String returns "oci-layout" or "registry".
func (k Kind) String() string {
	switch k {
	case Layout:
		return "oci-layout"
	case Remote:
		return "registry"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// LayoutPrefix is the scheme prefix that forces a reference to name an OCI
// image layout.
const LayoutPrefix = "oci-layout:"

// ErrInvalidReference is returned (wrapped) by ParseReference.
var ErrInvalidReference = errors.New("invalid store reference")

// Reference names a store and, optionally, one tag or digest inside it.
// The zero value is not a valid reference.
type Reference struct {
	Kind Kind
	// Path is the layout directory (Layout only), cleaned with filepath.Clean.
	Path string
	// Registry is the registry host[:port] (Remote only).
	Registry string
	// Repository is the repository path inside the registry (Remote only).
	Repository string
	// Tag is a tag, a digest ("sha256:…"), or empty.
	Tag string
}

// IsDigest reports whether r.Tag holds a digest rather than a tag.
func (r Reference) IsDigest() bool {
	return strings.Contains(r.Tag, ":")
}

// String formats r so that ParseReference gives r back: layouts always carry
// the "oci-layout:" prefix. (A layout path whose last element contains ':' or
// '@' and that has no tag cannot be written back unambiguously; it is printed
// as is.)
func (r Reference) String() string {
	var b strings.Builder
	switch r.Kind {
	case Layout:
		b.WriteString(LayoutPrefix)
		b.WriteString(r.Path)
	case Remote:
		b.WriteString(r.Registry)
		b.WriteByte('/')
		b.WriteString(r.Repository)
	default:
		return ""
	}
	if r.Tag != "" {
		if r.IsDigest() {
			b.WriteByte('@')
		} else {
			b.WriteByte(':')
		}
		b.WriteString(r.Tag)
	}
	return b.String()
}

// WithTag returns a copy of r naming tag (a tag or a digest) instead.
func (r Reference) WithTag(tag string) Reference {
	r.Tag = tag
	return r
}

// Location returns r without its tag, for messages: the layout path or
// "registry/repository".
func (r Reference) Location() string {
	switch r.Kind {
	case Layout:
		return r.Path
	case Remote:
		return r.Registry + "/" + r.Repository
	}
	return ""
}

// tagRE is the tag grammar of the OCI distribution-spec v1.1.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// ValidTag reports whether tag follows the tag grammar of the OCI
// distribution-spec v1.1: 1 to 128 of [A-Za-z0-9_.-], not starting with
// '.' or '-'.
func ValidTag(tag string) bool { return tagRE.MatchString(tag) }

// ParseReference parses a store reference. The rules, applied in order:
//
//  1. "oci-layout:PATH[:TAG|@DIGEST]" is a layout. The tag is what follows the
//     last ':' of the last path element, the digest what follows the last '@'
//     of the last path element ("sha256:<64 hex>").
//  2. A string starting with "/", "./", "../", or equal to "." or "..", is a
//     layout path, with the same optional ":TAG" or "@DIGEST" suffix — unless
//     the whole string is an existing directory, which then is the path. A
//     ':' in a directory of the path that does not exist is an error
//     ("./s:a/b", "./s:../../evil" name no tag: a tag has no '/').
//  3. "REGISTRY/REPO[:TAG|@DIGEST]" is a remote repository when it contains a
//     '/' and its first element looks like a host: it contains '.' or ':'
//     (a domain, an IP address, a port, "[::1]:5000"), or is "localhost".
//     The repository follows the distribution-spec name grammar (lowercase).
//     Write "./example.com/x" for a local directory of that name.
//  4. Any other string is a layout only if it (or it without a ":TAG" or
//     "@DIGEST" suffix) is an existing directory. Otherwise it is rejected as
//     ambiguous, so that a mistyped single-label registry host ("harbor/x")
//     never silently creates a local directory: write "./harbor/x" or
//     "harbor:443/x".
//
// Only rules 2 and 4 look at the file system (one stat). Windows paths are
// not supported.
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("empty reference: %w", ErrInvalidReference)
	}
	if strings.ContainsRune(s, 0) {
		return Reference{}, fmt.Errorf("%q: NUL byte: %w", s, ErrInvalidReference)
	}
	if body, ok := strings.CutPrefix(s, LayoutPrefix); ok {
		return parseLayout(s, body, false)
	}
	if isExplicitPath(s) {
		return parseLayout(s, s, true)
	}
	first, _, hasSlash := strings.Cut(s, "/")
	if hasSlash && looksLikeHost(first) {
		return parseRemote(s)
	}
	if isDir(s) {
		return Reference{Kind: Layout, Path: filepath.Clean(s)}, nil
	}
	if ref, err := parseLayout(s, s, false); err == nil && ref.Tag != "" && isDir(ref.Path) {
		return ref, nil
	}
	return Reference{}, fmt.Errorf("%q: neither an existing directory nor REGISTRY/REPO (the registry host must contain '.' or ':' or be localhost); write ./%s for a new layout: %w", s, s, ErrInvalidReference)
}

func isExplicitPath(s string) bool {
	return s == "." || s == ".." || strings.HasPrefix(s, "/") ||
		strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../")
}

func looksLikeHost(s string) bool {
	return s == "localhost" || strings.ContainsAny(s, ".:")
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// parseLayout splits body into PATH and an optional tag or digest. When
// wholeDirWins is set and body is an existing directory, no split happens.
func parseLayout(orig, body string, wholeDirWins bool) (Reference, error) {
	if wholeDirWins && isDir(body) {
		return Reference{Kind: Layout, Path: filepath.Clean(body)}, nil
	}
	dir, last := "", body
	if i := strings.LastIndexByte(body, '/'); i >= 0 {
		dir, last = body[:i+1], body[i+1:]
	}
	if i := strings.IndexByte(dir, ':'); i >= 0 && !strings.HasPrefix(orig, LayoutPrefix) && !isDir(dir) {
		// "./s:a/b", "./s:../../evil": a tag with '/' in it, which no tag
		// has; taken as a path, it would write a layout elsewhere.
		return Reference{}, fmt.Errorf("%q: tag %q: a tag has no '/' (and a ':' in a directory name is not supported in a layout reference): %w",
			orig, body[i+1:], ErrInvalidReference)
	}
	var tag string
	if i := strings.LastIndexByte(last, '@'); i >= 0 {
		d, err := digest.Parse(last[i+1:])
		if err != nil {
			return Reference{}, fmt.Errorf("%q: digest: %v: %w", orig, err, ErrInvalidReference)
		}
		tag, last = d.String(), last[:i]
	} else if i := strings.LastIndexByte(last, ':'); i >= 0 {
		tag, last = last[i+1:], last[:i]
		if !tagRE.MatchString(tag) {
			return Reference{}, fmt.Errorf("%q: tag %q: %w", orig, tag, ErrInvalidReference)
		}
	}
	p := dir + last
	if p == "" {
		return Reference{}, fmt.Errorf("%q: empty layout path: %w", orig, ErrInvalidReference)
	}
	return Reference{Kind: Layout, Path: filepath.Clean(p), Tag: tag}, nil
}

func parseRemote(s string) (Reference, error) {
	r, err := registry.ParseReference(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%q: %v: %w", s, err, ErrInvalidReference)
	}
	// registry.ParseReference accepts "repo:tag@digest" and keeps the digest;
	// it also lowercases nothing, so what it returns is what was written.
	return Reference{Kind: Remote, Registry: r.Registry, Repository: r.Repository, Tag: r.Reference}, nil
}
