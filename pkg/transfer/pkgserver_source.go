package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ServerOptions configure a PkgServer source. The zero value works.
type ServerOptions struct {
	// Client is the HTTP client; nil means a client with compression
	// disabled (tarballs must arrive byte for byte) and sane timeouts.
	Client *http.Client
	// UserAgent is sent on every request; "" means "shoebox".
	UserAgent string
	// Attempts is how many times a request is tried on 5xx, 429 and
	// connection errors; ≤ 0 means 5.
	Attempts int
	// Backoff is the first retry delay, doubled each time up to 10 s;
	// ≤ 0 means 250 ms.
	Backoff time.Duration
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
	if s.opts.Client == nil {
		s.opts.Client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DisableCompression:    true,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		}}
	}
	if s.opts.UserAgent == "" {
		s.opts.UserAgent = "shoebox"
	}
	if s.opts.Attempts <= 0 {
		s.opts.Attempts = 5
	}
	if s.opts.Backoff <= 0 {
		s.opts.Backoff = 250 * time.Millisecond
	}
	return s, nil
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

// Fetch implements Source. Over HTTP a transfer cut mid-way is resumed with
// a Range request from the byte reached (or, if the server ignores Range,
// by skipping what was already read), up to Attempts times.
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
	b := &resumableBody{ctx: ctx, s: s, url: s.base + path}
	if err := b.connect(); err != nil {
		return nil, err
	}
	return b, nil
}

// resumableBody is a response body that reconnects after transient errors.
type resumableBody struct {
	ctx     context.Context
	s       *PkgServer
	url     string
	body    io.ReadCloser
	off     int64 // bytes delivered to the caller
	retries int   // reconnections so far
}

func (b *resumableBody) Read(p []byte) (int, error) {
	for {
		if b.body == nil {
			if err := b.connect(); err != nil {
				return 0, err
			}
		}
		n, err := b.body.Read(p)
		b.off += int64(n)
		if err == nil || err == io.EOF {
			return n, err
		}
		if n > 0 {
			// Deliver what arrived; the error shows up again on the next read.
			return n, nil
		}
		if !retriable(err) || b.retries+1 >= b.s.opts.Attempts || b.ctx.Err() != nil {
			return 0, fmt.Errorf("%s: after %d bytes: %w", b.url, b.off, err)
		}
		b.body.Close()
		b.body = nil
		b.retries++
		if err := sleep(b.ctx, b.s.backoff(b.retries)); err != nil {
			return 0, err
		}
	}
}

func (b *resumableBody) Close() error {
	if b.body == nil {
		return nil
	}
	return b.body.Close()
}

// connect issues the GET (with a Range from b.off when resuming), retrying
// transient failures with backoff.
func (b *resumableBody) connect() error {
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleep(b.ctx, b.s.backoff(attempt)); err != nil {
				return err
			}
		}
		body, err := b.try()
		if err == nil {
			b.body = body
			return nil
		}
		last = err
		if !retriable(err) || b.retries+attempt+1 >= b.s.opts.Attempts {
			return last
		}
	}
}

func (b *resumableBody) try() (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", b.s.opts.UserAgent)
	req.Header.Set("Julia-Pkg-Protocol", "1.0")
	if b.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(b.off, 10)+"-")
	}
	resp, err := b.s.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if b.off > 0 {
			// The server ignored Range: skip what the caller already has.
			if _, err := io.CopyN(io.Discard, resp.Body, b.off); err != nil {
				resp.Body.Close()
				return nil, err
			}
		}
		return resp.Body, nil
	case resp.StatusCode == http.StatusPartialContent && b.off > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(b.off, 10)+"-") {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: resumed at %d but got Content-Range %q", b.url, b.off, resp.Header.Get("Content-Range"))
		}
		return resp.Body, nil
	}
	resp.Body.Close()
	err = &StatusError{URL: b.url, Code: resp.StatusCode}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return nil, fmt.Errorf("%w: %w", err, ErrNotFound)
	}
	return nil, err
}

// StatusError is an unexpected HTTP status from an upstream.
type StatusError struct {
	URL  string
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// retriable reports whether err is worth another attempt: 5xx, 429, resets,
// timeouts and truncated bodies; never 4xx or cancellation.
func retriable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

func (s *PkgServer) backoff(attempt int) time.Duration {
	d := s.opts.Backoff << (attempt - 1)
	if d > 10*time.Second || d <= 0 {
		d = 10 * time.Second
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
