package pkgserver

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
)

// Options configure a Server. The zero value logs nothing, serves 64
// content requests at once and queues others up to 10 s.
type Options struct {
	// Logger receives the access log (one "request" record per request,
	// at Info) and problems (Warn, Error). nil discards everything.
	Logger *slog.Logger
	// MaxConcurrent bounds the content bodies (registry, package, artifact
	// GETs) streamed at once. If ≤ 0, 64.
	MaxConcurrent int
	// QueueTimeout is how long a content request waits for a slot before
	// it gets 503 with Retry-After. If ≤ 0, 10 s: well inside the 20 s
	// after which Pkg abandons a transfer that sends nothing (G6).
	QueueTimeout time.Duration
	// WriteTimeout bounds each write of a body to the client (not the whole
	// transfer), so that a client that stops reading releases its slot.
	// If ≤ 0, 60 s.
	WriteTimeout time.Duration
	// Version is reported by /meta.
	Version string
	// View names the registry view for /meta ("available" or "full").
	View string
	// Cache, if set, has its counters reported by /metrics.
	Cache *Cache
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Status is what the caller knows about the content it handed over with
// Update, for /healthz, /meta and /metrics.
type Status struct {
	// Bundles are the verified bundles the Source serves.
	Bundles []BundleInfo
	// Items counts the items served, by kind.
	Items map[bundle.Kind]int
	// Reloaded is when the store was last read.
	Reloaded time.Time
	// ReloadError is the last reload's error, "" if it succeeded. A failed
	// reload keeps the previous Source.
	ReloadError string
	// Reason, when not empty, says why nothing is served (no bundle
	// verified, store unreachable): /healthz and /registries answer 503
	// with it.
	Reason string
}

// BundleInfo describes one verified bundle for /meta.
type BundleInfo struct {
	Tag     string         `json:"tag"`
	Digest  string         `json:"digest"`
	Created time.Time      `json:"created,omitzero"`
	Signers []string       `json:"signers"`
	Items   map[string]int `json:"items"`
}

// Server answers the Pkg protocol from a Source. It is an http.Handler,
// safe for concurrent use; Update swaps the Source atomically, so a
// request is answered entirely from the Source it started with.
type Server struct {
	opts    Options
	log     *slog.Logger
	state   atomic.Pointer[state]
	sem     chan struct{}
	m       *metrics
	started time.Time
}

type state struct {
	src    Source
	status Status
}

// New returns a Server over src (nil: nothing yet, /healthz says so).
func New(src Source, opts Options) *Server {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 64
	}
	if opts.QueueTimeout <= 0 {
		opts.QueueTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log, sem: make(chan struct{}, opts.MaxConcurrent), m: newMetrics(), started: opts.Now()}
	st := &state{src: src}
	if src == nil {
		st.status.Reason = "not loaded yet"
	}
	s.state.Store(st)
	return s
}

// Update replaces the Source and its Status. A Status with a ReloadError
// counts as a failed reload in /metrics, any other as a successful one.
func (s *Server) Update(src Source, st Status) {
	if st.ReloadError == "" {
		s.m.reloadOK.Add(1)
	} else {
		s.m.reloadKO.Add(1)
	}
	if src == nil && st.Reason == "" {
		st.Reason = "nothing loaded"
	}
	s.state.Store(&state{src: src, status: st})
}

// Status returns the Status last given to Update.
func (s *Server) Status() Status { return s.state.Load().status }

// kinds of requests, for metrics and the access log.
const (
	kindRegistries = "registries"
	kindHealth     = "healthz"
	kindMeta       = "meta"
	kindMetrics    = "metrics"
	kindOther      = "other"
)

// countWriter counts body bytes and remembers the status.
type countWriter struct {
	http.ResponseWriter
	status  int
	n       int64
	aborted bool // the body was cut short on purpose
}

func (c *countWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.opts.Now()
	cw := &countWriter{ResponseWriter: w}
	kind := kindOther
	defer func() {
		status := cw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.m.record(kind, status, cw.n)
		if !s.log.Enabled(r.Context(), slog.LevelInfo) {
			return // no access log: skip building its attributes
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Int64("bytes", cw.n),
			slog.Duration("duration", s.opts.Now().Sub(start)),
			slog.String("remote", r.RemoteAddr), slog.String("kind", kind),
			slog.Bool("aborted", cw.aborted), slog.String("julia", r.Header.Get("Julia-Version")))
	}()
	st := s.state.Load()
	path := r.URL.Path
	switch {
	case path == "/registries" || path == "/registries.eager" || path == "/registries.conservative":
		kind = kindRegistries
		if !allowRead(cw, r) {
			return
		}
		s.serveRegistries(cw, r, st)
	case strings.HasPrefix(path, "/registry/") || strings.HasPrefix(path, "/package/") || strings.HasPrefix(path, "/artifact/"):
		res, ok := parseResource(path)
		if !ok {
			kind = path[1 : strings.IndexByte(path[1:], '/')+1]
			emptyStatus(cw, http.StatusNotFound)
			return
		}
		kind = string(res.Kind)
		if !allowRead(cw, r) {
			return
		}
		s.serveContent(cw, r, st, res)
	case path == "/healthz":
		kind = kindHealth
		if !allowRead(cw, r) {
			return
		}
		if st.src == nil || st.status.Reason != "" {
			textStatus(cw, r, http.StatusServiceUnavailable, "unavailable: "+st.status.Reason+"\n")
			return
		}
		textStatus(cw, r, http.StatusOK, "ok\n")
	case path == "/meta":
		kind = kindMeta
		if !allowRead(cw, r) {
			return
		}
		s.serveMeta(cw, r, st)
	case path == "/metrics":
		kind = kindMetrics
		if !allowRead(cw, r) {
			return
		}
		cw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		cw.Header().Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			cw.WriteHeader(http.StatusOK)
			return
		}
		s.m.write(cw, s.gauges(st))
	default:
		emptyStatus(cw, http.StatusNotFound)
	}
}

// allowRead answers 405 to anything but GET and HEAD.
func allowRead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	emptyStatus(w, http.StatusMethodNotAllowed)
	return false
}

// emptyStatus answers code with an empty body, as PkgServer.jl's 404s.
func emptyStatus(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(code)
}

func textStatus(w http.ResponseWriter, r *http.Request, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

// serveRegistries answers /registries: one line per registry, sorted by
// uuid (pkg-protocol §2.2), never cached by intermediaries.
func (s *Server) serveRegistries(w http.ResponseWriter, r *http.Request, st *state) {
	if st.src == nil || st.status.Reason != "" {
		textStatus(w, r, http.StatusServiceUnavailable, "unavailable: "+st.status.Reason+"\n")
		return
	}
	var b strings.Builder
	for _, ref := range st.src.Registries() {
		b.WriteString("/registry/" + ref.UUID.String() + "/" + ref.Hash.String() + "\n")
	}
	textStatus(w, r, http.StatusOK, b.String())
}

// statusOf is the one place errors become HTTP statuses: unknown content
// 404, content that is known but cannot be served now 503, anything the
// backing store did wrong (unreachable, refused, bad bytes) 502.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrUpstream), errors.Is(err, bundle.ErrIntegrity), errors.Is(err, content.ErrMismatchedDigest):
		return http.StatusBadGateway
	default:
		return http.StatusBadGateway
	}
}

// fail answers err's status with an empty body and logs server-side
// problems.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, res Resource, err error) {
	code := statusOf(err)
	if code != http.StatusNotFound {
		s.log.LogAttrs(r.Context(), slog.LevelError, "serving failed", slog.String("path", r.URL.Path),
			slog.String("resource", res.String()), slog.Int("status", code), slog.String("error", err.Error()))
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", "Cache-Control", "ETag", "Accept-Ranges", "Content-Range", "Vary"} {
		h.Del(k)
	}
	if code == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	emptyStatus(w, code)
}

// Shared header values (see serveContent).
var (
	hdrVaryAE    = []string{"Accept-Encoding"}
	hdrZstd      = []string{"application/zstd"}
	hdrGzip      = []string{"application/x-gzip"}
	hdrImmutable = []string{"public, max-age=31536000, immutable"}
	hdrBytes     = []string{"bytes"}
)

// bufPool holds the copy buffers; a body is copied through two of them
// (the one being sent and the one held back).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// serveContent answers one tarball resource.
func (s *Server) serveContent(w *countWriter, r *http.Request, st *state, res Resource) {
	if st.src == nil {
		s.fail(w, r, res, notFound(res))
		return
	}
	c, err := st.src.Lookup(r.Context(), res)
	if err != nil {
		s.fail(w, r, res, err)
		return
	}
	// Headers are assigned as canonical keys with shared, never mutated
	// value slices: no per-request allocation for the constant ones.
	h := w.Header()
	if c.Zstd {
		h["Vary"] = hdrVaryAE
		if !acceptsZstd(r.Header.Get("Accept-Encoding")) {
			// Pkg ≤ 1.12 cannot decode zstd (pkg-protocol §3.2): only a
			// client that asks may have it.
			s.fail(w, r, res, notFound(res))
			return
		}
		h["Content-Type"] = hdrZstd
	} else {
		h["Content-Type"] = hdrGzip
	}
	var eb [2 + 2*len(res.Hash)]byte
	eb[0], eb[len(eb)-1] = '"', '"'
	hex.Encode(eb[1:len(eb)-1], res.Hash[:])
	etag := string(eb[:])
	vals := make([]string, 2) // ETag and Content-Length, one allocation
	vals[0] = etag
	h["Cache-Control"] = hdrImmutable
	h["Etag"] = vals[0:1:1]
	h["Accept-Ranges"] = hdrBytes
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag, true) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	start, length, status := int64(0), c.Size, http.StatusOK
	if rh := r.Header.Get("Range"); rh != "" {
		if ir := r.Header.Get("If-Range"); ir == "" || ir == etag {
			a, n, res := parseRange(rh, c.Size)
			switch res {
			case rangeOK:
				start, length, status = a, n, http.StatusPartialContent
				h.Set("Content-Range", "bytes "+strconv.FormatInt(a, 10)+"-"+strconv.FormatInt(a+n-1, 10)+"/"+strconv.FormatInt(c.Size, 10))
			case rangeUnsatisfiable:
				h.Set("Content-Range", "bytes */"+strconv.FormatInt(c.Size, 10))
				h.Del("Content-Type")
				emptyStatus(w, http.StatusRequestedRangeNotSatisfiable)
				return
			}
		}
	}
	vals[1] = strconv.FormatInt(length, 10)
	h["Content-Length"] = vals[1:2:2]
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}

	// A slot, or 503 before Pkg's stall limit.
	select {
	case s.sem <- struct{}{}:
	default:
		t := time.NewTimer(s.opts.QueueTimeout)
		select {
		case s.sem <- struct{}{}:
			t.Stop()
		case <-t.C:
			s.fail(w, r, res, fmtErr(res, "waiting for a slot", ErrUnavailable))
			return
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	defer func() { <-s.sem }()
	s.m.inFlight.Add(1)
	defer s.m.inFlight.Add(-1)

	if c.Bytes != nil {
		// Verified bytes in memory: one Write, no copy buffers.
		w.WriteHeader(status)
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		w.Write(c.Bytes[start : start+length])
		return
	}
	rc, err := c.Open(r.Context())
	if err != nil {
		s.fail(w, r, res, err)
		return
	}
	defer rc.Close()
	if start > 0 {
		if _, err := rc.Seek(start, io.SeekStart); err != nil {
			s.fail(w, r, res, err)
			return
		}
	}
	s.copyBody(w, r, res, rc, length, status, start == 0 && length == c.Size)
}

func fmtErr(res Resource, ctx string, err error) error {
	return errors.Join(errors.New(res.String()+": "+ctx), err)
}

// copyBody streams length bytes of rc with status. With whole set it
// reads rc to its end, so that a verifying reader can report a mismatch,
// and always holds the last chunk back until the end verified: a failure
// at any point leaves the client short of Content-Length, never with a
// complete-looking body. An error before the first byte is sent still
// becomes an ordinary error status; after that the connection is aborted.
func (s *Server) copyBody(w *countWriter, r *http.Request, res Resource, rc io.Reader, length int64, status int, whole bool) {
	pa, pb := bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	defer bufPool.Put(pa)
	defer bufPool.Put(pb)
	pend, next := (*pa)[:0], *pb
	ctl := http.NewResponseController(w)
	var sent int64
	started := false
	src := rc
	if !whole {
		src = io.LimitReader(rc, length)
	}
	abort := func(err error) {
		if !started {
			s.fail(w, r, res, err)
			return
		}
		w.aborted = true
		s.m.aborted.Add(1)
		s.log.LogAttrs(r.Context(), slog.LevelError, "aborting response", slog.String("path", r.URL.Path),
			slog.String("resource", res.String()), slog.Int64("sent", sent), slog.Int64("length", length),
			slog.String("error", err.Error()))
		// Cut the connection: the client sees fewer bytes than
		// Content-Length, never a complete-looking body.
		panic(http.ErrAbortHandler)
	}
	write := func(p []byte) bool {
		if !started {
			w.WriteHeader(status)
			started = true
		}
		ctl.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		n, err := w.Write(p)
		sent += int64(n)
		return err == nil
	}
	for {
		n, err := io.ReadFull(src, next)
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			if r.Context().Err() != nil {
				return // the client left
			}
			abort(err)
			return
		}
		if n > 0 {
			if len(pend) > 0 && !write(pend) {
				return // the client left
			}
			pend, next = next[:n], pend[:cap(pend)]
		}
		if eof {
			break
		}
	}
	if sent+int64(len(pend)) != length {
		abort(fmtErr(res, "body is "+strconv.FormatInt(sent+int64(len(pend)), 10)+" bytes, want "+strconv.FormatInt(length, 10), ErrUpstream))
		return
	}
	if len(pend) > 0 || !started {
		write(pend)
	}
}

// acceptsZstd reports whether an Accept-Encoding value lists zstd with a
// non-zero quality.
func acceptsZstd(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "zstd") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// metaDoc is the /meta document.
type metaDoc struct {
	Version     string         `json:"version"`
	Started     time.Time      `json:"started"`
	Reloaded    time.Time      `json:"lastReload,omitzero"`
	ReloadError string         `json:"reloadError,omitempty"`
	Serving     bool           `json:"serving"`
	Reason      string         `json:"reason,omitempty"`
	View        string         `json:"view,omitempty"`
	Counts      map[string]int `json:"counts"`
	Registries  []metaRegistry `json:"registries"`
	Bundles     []BundleInfo   `json:"bundles"`
}

type metaRegistry struct {
	UUID string `json:"uuid"`
	Hash string `json:"hash"`
}

func (s *Server) serveMeta(w http.ResponseWriter, r *http.Request, st *state) {
	doc := metaDoc{
		Version: s.opts.Version, Started: s.started.UTC(), Reloaded: st.status.Reloaded.UTC(),
		ReloadError: st.status.ReloadError, Serving: st.src != nil && st.status.Reason == "",
		Reason: st.status.Reason, View: s.opts.View,
		Counts: map[string]int{}, Registries: []metaRegistry{}, Bundles: slices.Clone(st.status.Bundles),
	}
	for _, k := range []bundle.Kind{bundle.KindRegistry, bundle.KindPackage, bundle.KindArtifact} {
		doc.Counts[string(k)] = st.status.Items[k]
	}
	if st.src != nil {
		for _, ref := range st.src.Registries() {
			doc.Registries = append(doc.Registries, metaRegistry{ref.UUID.String(), ref.Hash.String()})
		}
	}
	if doc.Bundles == nil {
		doc.Bundles = []BundleInfo{}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		s.fail(w, r, Resource{}, err)
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// gauges are the state-dependent samples of /metrics.
func (s *Server) gauges(st *state) []gauge {
	up := int64(0)
	if st.src != nil && st.status.Reason == "" {
		up = 1
	}
	g := []gauge{{name: "shoebox_serve_up", help: "1 if verified content is being served, else 0.", typ: "gauge", value: up}}
	g = append(g, gauge{name: "shoebox_serve_bundles", help: "Verified bundles served.", typ: "gauge", value: int64(len(st.status.Bundles))})
	for _, k := range []bundle.Kind{bundle.KindArtifact, bundle.KindPackage, bundle.KindRegistry} {
		g = append(g, gauge{name: "shoebox_serve_items", help: "Items served, by kind.", typ: "gauge",
			labels: [][2]string{{"kind", string(k)}}, value: int64(st.status.Items[k])})
	}
	if !st.status.Reloaded.IsZero() {
		g = append(g, gauge{name: "shoebox_serve_last_reload_timestamp_seconds", help: "Unix time of the last reload.", typ: "gauge", value: st.status.Reloaded.Unix()})
	}
	if c := s.opts.Cache; c != nil {
		hits, misses, bytes, files := c.Stats()
		g = append(g,
			gauge{name: "shoebox_serve_cache_hits_total", help: "Blob fetches answered from the on-disk cache.", typ: "counter", value: hits},
			gauge{name: "shoebox_serve_cache_misses_total", help: "Blob fetches that went to the registry.", typ: "counter", value: misses},
			gauge{name: "shoebox_serve_cache_bytes", help: "Bytes held by the on-disk cache.", typ: "gauge", value: bytes},
			gauge{name: "shoebox_serve_cache_files", help: "Blobs held by the on-disk cache.", typ: "gauge", value: files},
		)
	}
	return g
}
