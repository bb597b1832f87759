package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/shoebox-jl/shoebox/internal/httpx"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ServerOptions configure a PkgServer source. The zero value works.
type ServerOptions struct {
	// Client is the HTTP client; nil means a client with compression
	// disabled (tarballs must arrive byte for byte). Its transport is
	// wrapped in an httpx.Transport under Policy either way, so that no
	// stream stalls for long and retries follow one policy.
	Client *http.Client
	// UserAgent is sent on every request; "" means "shoebox".
	UserAgent string
	// Policy bounds the retries of each request and how long a stream may
	// move no byte (httpx.Policy; the zero value is the default policy).
	Policy httpx.Policy
}

// PkgServer is a Source that speaks the Pkg protocol to an upstream server
// (https://pkg.julialang.org, a StorageMirrorServer mirror) or reads a
// static directory of that layout through a file:// URL.
// It is safe for concurrent use.
type PkgServer struct {
	base string // normalised: no trailing slash
	dir  string // set for file:// bases
	opts ServerOptions
}

// NewPkgServer returns a source for base, normalised the way Pkg normalises
// JULIA_PKG_SERVER (pkg-protocol.md §1.1): a missing scheme means https,
// trailing slashes are dropped.
func NewPkgServer(base string, opts ServerOptions) (*PkgServer, error) {
	if base == "" {
		return nil, errors.New("pkg server: empty URL")
	}
	if !regexp.MustCompile(`^\w+://`).MatchString(base) {
		base = "https://" + base
	}
	base = strings.TrimRight(base, "/")
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("pkg server %q: %w", base, err)
	}
	s := &PkgServer{base: base, opts: opts}
	switch u.Scheme {
	case "http", "https":
	case "file":
		s.dir = filepath.FromSlash(u.Path)
	default:
		return nil, fmt.Errorf("pkg server %q: unsupported scheme %q (want https, http or file)", base, u.Scheme)
	}
	s.opts.Client = wrapClient(opts.Client, opts.Policy)
	if s.opts.UserAgent == "" {
		s.opts.UserAgent = "shoebox"
	}
	return s, nil
}

// baseTransport is the HTTP transport of every upstream: compression off
// (tarballs must arrive byte for byte), connections kept for reuse. The
// httpx.Transport around it watches for stalls (connecting included).
var baseTransport = &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	DisableCompression:  true,
	MaxIdleConnsPerHost: 16,
	IdleConnTimeout:     90 * time.Second,
	DialContext:         (&net.Dialer{Timeout: httpx.DefaultStallTimeout}).DialContext,
	TLSHandshakeTimeout: httpx.DefaultStallTimeout,
}

// wrapClient returns a copy of c (nil: a new client over baseTransport)
// whose transport applies p.
func wrapClient(c *http.Client, p httpx.Policy) *http.Client {
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	rt := out.Transport
	if rt == nil {
		rt = baseTransport
	}
	out.Transport = httpx.NewTransport(rt, p)
	return out
}

// Name implements Source.
func (s *PkgServer) Name() string { return s.base }

var registryLine = regexp.MustCompile(`^/registry/([^/]+)/([^/]+)$`)

// Registries fetches and parses /registries exactly as Pkg does: lines that
// do not match the pattern are ignored, a matching line with an invalid uuid
// or hash is an error, a later line for a uuid replaces an earlier one.
func (s *PkgServer) Registries(ctx context.Context) ([]RegistryRef, error) {
	rc, err := s.open(ctx, "/registries")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return ParseRegistries(io.LimitReader(rc, 16<<20))
}

// ParseRegistries parses a /registries body (pkg-protocol.md §2.2).
func ParseRegistries(r io.Reader) ([]RegistryRef, error) {
	var refs []RegistryRef
	idx := map[julia.UUID]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		m := registryLine.FindStringSubmatch(strings.TrimRight(sc.Text(), "\r"))
		if m == nil {
			continue
		}
		u, err := julia.ParseUUID(m[1])
		if err != nil {
			return nil, fmt.Errorf("/registries line %d: %w", n, err)
		}
		h, err := treehash.Parse(m[2])
		if err != nil {
			return nil, fmt.Errorf("/registries line %d: %w", n, err)
		}
		if i, ok := idx[u]; ok {
			refs[i].Hash = h
			continue
		}
		idx[u] = len(refs)
		refs = append(refs, RegistryRef{UUID: u, Hash: h})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/registries: %w", err)
	}
	return refs, nil
}

// Fetch implements Source. Over HTTP a transfer cut or stalled mid-way is
// resumed with a Range request from the byte reached (or, if the server
// ignores Range, by skipping what was already read), within the policy's
// budget (httpx.Get).
func (s *PkgServer) Fetch(ctx context.Context, r Resource) (io.ReadCloser, error) {
	rc, err := s.open(ctx, r.Path())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	return rc, nil
}

func (s *PkgServer) open(ctx context.Context, path string) (io.ReadCloser, error) {
	if s.dir != "" {
		f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(strings.TrimPrefix(path, "/"))))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s%s: %w", s.base, path, ErrNotFound)
		}
		return f, err
	}
	h := http.Header{}
	h.Set("User-Agent", s.opts.UserAgent)
	h.Set("Julia-Pkg-Protocol", "1.0")
	rc, err := httpx.Get(ctx, s.opts.Client, s.base+path, h, s.opts.Policy)
	return rc, notFound(err)
}

// Size implements Sizer for a file:// mirror (a stat); over HTTP it
// cannot tell without a request (errors.ErrUnsupported).
func (s *PkgServer) Size(ctx context.Context, r Resource) (int64, error) {
	if s.dir == "" {
		return 0, errors.ErrUnsupported
	}
	fi, err := os.Stat(filepath.Join(s.dir, filepath.FromSlash(strings.TrimPrefix(r.Path(), "/"))))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: not in %s: %w", r, s.base, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// notFound adds ErrNotFound to a 404 or 410 answer.
func notFound(err error) error {
	var se *httpx.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusGone) {
		return fmt.Errorf("%w: %w", err, ErrNotFound)
	}
	return err
}

// StatusError is an unexpected HTTP status from an upstream.
type StatusError = httpx.StatusError
