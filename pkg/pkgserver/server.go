package pkgserver

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
)

// Options configure a Server. The zero value logs nothing, serves 64
// content requests at once and queues others up to 10 s.
type Options struct {
	// Logger receives the access log (one "request" record per request,
	// at Info) and problems (Warn, Error). nil discards everything.
	Logger *slog.Logger
	// MaxConcurrent bounds the content bodies (registry, package, artifact
	// GETs) streamed at once. If ≤ 0, 64. Bodies answered from memory
	// (verified small tarballs, registry views) take no slot.
	MaxConcurrent int
	// MaxPerClient bounds the bodies streamed at once to one client
	// address, so that a few clients that stop reading cannot hold every
	// slot. If ≤ 0, 8.
	MaxPerClient int
	// QueueTimeout is how long a content request waits for a slot before
	// it gets 503 with Retry-After. If ≤ 0, 10 s: well inside the 20 s
	// after which Pkg abandons a transfer that sends nothing (G6).
	QueueTimeout time.Duration
	// WriteTimeout bounds each write of a body chunk to the client (at
	// most SendChunk bytes; not the whole transfer): a client that takes
	// less than a chunk in this time is cut off and its slot freed, a
	// minimum transfer rate of SendChunk/WriteTimeout. If ≤ 0, 20 s.
	WriteTimeout time.Duration
	// ReadTimeout bounds reading a request and IdleTimeout a kept-alive
	// connection waiting for the next one (FastHTTPServer). If ≤ 0, 30 s
	// and 2 min.
	ReadTimeout, IdleTimeout time.Duration
	// Version is reported by /meta.
	Version string
	// View names the registry view for /meta ("available" or "full").
	View string
	// Stats, if set, reports the verified set's counters for /metrics
	// (withdrawals, memory and private copies): shelf.Set.Stats.
	Stats func() shelf.Stats
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Gatherer, if set, adds its metrics to /metrics after the server's
	// own (a program adds the Go runtime and process collectors and its
	// build information there).
	Gatherer prometheus.Gatherer
	// OnMiss, if set, is called when a registry, package or artifact is
	// not found: a replica that has not reloaded yet may be asked for what
	// another replica over the same store advertised already. It returns
	// true when it installed a newer Source (Update), and the request is
	// then looked up once more. It must bound its own work (one reload at
	// a time, not more often than the store can change).
	OnMiss func(ctx context.Context) bool
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
type BundleInfo = shelf.BundleInfo

// Server answers the Pkg protocol from a Source. It is an http.Handler,
// safe for concurrent use; Update swaps the Source atomically, so a
// request is answered entirely from the Source it started with.
type Server struct {
	opts    Options
	log     *slog.Logger
	state   atomic.Pointer[state]
	sem     chan struct{}
	clients *clientSlots
	m       *metrics
	started time.Time
	// accessLog says the logger takes the access log's Info records.
	accessLog bool
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
		opts.WriteTimeout = 20 * time.Second
	}
	if opts.MaxPerClient <= 0 {
		opts.MaxPerClient = 8
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log, sem: make(chan struct{}, opts.MaxConcurrent), m: newMetrics(), started: opts.Now(),
		clients:   &clientSlots{m: map[string]*clientSem{}},
		accessLog: log.Enabled(context.Background(), slog.LevelInfo)}
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

// request is what answering needs of an HTTP request, whichever engine
// (net/http or fasthttp) received it.
type request struct {
	ctx    context.Context
	method string
	path   string
	// header returns a request header's value by canonical name.
	header func(name string) string
	// remote returns the client's address, for the access log only.
	remote func() string
	// client returns the client's IP address, the key of its slots.
	client func() string
	start  time.Time
}

// reply is the answer to a request, written by the engine's front end:
// the status, the headers that are set (empty strings are not sent), and
// at most one of data and stream.
type reply struct {
	kind   string
	status int
	// Content-Length; -1 for none.
	length int64
	// header values; "" means absent
	contentType, cacheControl, etag, acceptRanges, contentRange, vary, allow, retryAfter string
	data                                                                                 []byte // the body in memory (nil for HEAD)
	stream                                                                               *body  // the body to stream (nil for HEAD)
}

// eachHeader calls set with every header the reply carries but
// Content-Length, by canonical name, in a fixed order.
func (rep *reply) eachHeader(set func(k, v string)) {
	for _, kv := range [...][2]string{
		{"Content-Type", rep.contentType}, {"Cache-Control", rep.cacheControl}, {"Etag", rep.etag},
		{"Accept-Ranges", rep.acceptRanges}, {"Content-Range", rep.contentRange}, {"Vary", rep.vary},
		{"Allow", rep.allow}, {"Retry-After", rep.retryAfter},
	} {
		if kv[1] != "" {
			set(kv[0], kv[1])
		}
	}
}

// ServeHTTP implements http.Handler: the net/http front end, for
// embedding and tests. `shoebox serve` uses ServeFastHTTP.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := request{ctx: r.Context(), method: r.Method, path: r.URL.Path, header: r.Header.Get, remote: func() string { return r.RemoteAddr },
		client: func() string {
			if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				return h
			}
			return r.RemoteAddr
		}, start: s.stamp()}
	rep := s.answer(&req)
	h := w.Header()
	rep.eachHeader(func(k, v string) { h[k] = []string{v} })
	if rep.length >= 0 {
		h["Content-Length"] = []string{strconv.FormatInt(rep.length, 10)}
	}
	if rep.stream == nil {
		w.WriteHeader(rep.status)
		if rep.data != nil {
			w.Write(rep.data)
		}
		s.done(&req, &rep, int64(len(rep.data)), false)
		return
	}
	b := rep.stream
	b.deadline = func() { http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)) }
	w.WriteHeader(rep.status)
	_, err := b.WriteTo(w)
	b.CloseWithError(err)
	if b.aborted {
		// Cut the connection: the client sees fewer bytes than
		// Content-Length, never a complete-looking body.
		panic(http.ErrAbortHandler)
	}
}

// stamp is a request's start time when the access log reports durations.
func (s *Server) stamp() time.Time { return s.opts.Now() }

// done counts an answered request and writes its access log line.
func (s *Server) done(r *request, rep *reply, sent int64, aborted bool) {
	took := s.opts.Now().Sub(r.start)
	s.m.record(rep.kind, rep.status, sent, took)
	if !s.accessLog {
		return // no access log: skip building its attributes
	}
	s.log.LogAttrs(r.ctx, slog.LevelInfo, "request",
		slog.String("method", r.method), slog.String("path", r.path),
		slog.Int("status", rep.status), slog.Int64("bytes", sent),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.String("remote", r.remote()), slog.String("kind", rep.kind),
		slog.Bool("aborted", aborted), slog.String("julia", r.header("Julia-Version")),
		slog.String("user_agent", r.header("User-Agent")))
}

// answer is the protocol, independent of the HTTP engine.
func (s *Server) answer(r *request) reply {
	st := s.state.Load()
	path := r.path
	switch {
	case path == "/registries" || path == "/registries.eager" || path == "/registries.conservative":
		if rep, ok := allowRead(r, kindRegistries); !ok {
			return rep
		}
		return s.serveRegistries(r, st)
	case strings.HasPrefix(path, "/registry/") || strings.HasPrefix(path, "/package/") || strings.HasPrefix(path, "/artifact/"):
		res, ok := parseResource(path)
		if !ok {
			return emptyStatus(path[1:strings.IndexByte(path[1:], '/')+1], http.StatusNotFound)
		}
		if rep, ok := allowRead(r, string(res.Kind)); !ok {
			return rep
		}
		return s.serveContent(r, st, res)
	case path == "/healthz":
		if rep, ok := allowRead(r, kindHealth); !ok {
			return rep
		}
		if st.src == nil || st.status.Reason != "" {
			return textStatus(r, kindHealth, http.StatusServiceUnavailable, "unavailable: "+st.status.Reason+"\n")
		}
		return textStatus(r, kindHealth, http.StatusOK, "ok\n")
	case path == "/meta":
		if rep, ok := allowRead(r, kindMeta); !ok {
			return rep
		}
		return s.serveMeta(r, st)
	case path == "/metrics":
		if rep, ok := allowRead(r, kindMetrics); !ok {
			return rep
		}
		var b bytes.Buffer
		s.m.write(&b, s.gauges(st), s.opts.Gatherer)
		rep := textStatus(r, kindMetrics, http.StatusOK, b.String())
		rep.contentType = "text/plain; version=0.0.4; charset=utf-8"
		return rep
	default:
		return emptyStatus(kindOther, http.StatusNotFound)
	}
}

// allowRead answers 405 to anything but GET and HEAD.
func allowRead(r *request, kind string) (reply, bool) {
	if r.method == http.MethodGet || r.method == http.MethodHead {
		return reply{}, true
	}
	rep := emptyStatus(kind, http.StatusMethodNotAllowed)
	rep.allow = "GET, HEAD"
	return rep, false
}

// emptyStatus answers code with an empty body, as PkgServer.jl's 404s.
func emptyStatus(kind string, code int) reply {
	return reply{kind: kind, status: code, length: 0}
}

func textStatus(r *request, kind string, code int, body string) reply {
	rep := reply{kind: kind, status: code, length: int64(len(body)),
		contentType: "text/plain; charset=utf-8", cacheControl: "no-cache"}
	if r.method != http.MethodHead {
		rep.data = []byte(body)
	}
	return rep
}

// serveRegistries answers /registries: one line per registry, sorted by
// uuid (pkg-protocol §2.2), never cached by intermediaries.
func (s *Server) serveRegistries(r *request, st *state) reply {
	if st.src == nil || st.status.Reason != "" {
		return textStatus(r, kindRegistries, http.StatusServiceUnavailable, "unavailable: "+st.status.Reason+"\n")
	}
	var b strings.Builder
	for _, ref := range st.src.Registries() {
		b.WriteString("/registry/" + ref.UUID.String() + "/" + ref.Hash.String() + "\n")
	}
	return textStatus(r, kindRegistries, http.StatusOK, b.String())
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
func (s *Server) fail(r *request, kind string, res Resource, err error) reply {
	code := statusOf(err)
	if code != http.StatusNotFound {
		s.log.LogAttrs(r.ctx, slog.LevelError, "serving failed", slog.String("path", r.path),
			slog.String("resource", res.String()), slog.Int("status", code), slog.String("error", err.Error()))
	}
	rep := emptyStatus(kind, code)
	if code == http.StatusServiceUnavailable {
		rep.retryAfter = "1"
	}
	return rep
}

// serveContent answers one tarball resource.
func (s *Server) serveContent(r *request, st *state, res Resource) reply {
	kind := string(res.Kind)
	if st.src == nil {
		return s.fail(r, kind, res, notFound(res))
	}
	c, err := st.src.Lookup(r.ctx, res)
	if errors.Is(err, errdef.ErrNotFound) && s.opts.OnMiss != nil && s.opts.OnMiss(r.ctx) {
		if st2 := s.state.Load(); st2 != st && st2.src != nil {
			s.m.missReloads.Add(1)
			c, err = st2.src.Lookup(r.ctx, res)
		}
	}
	if err != nil {
		return s.fail(r, kind, res, err)
	}
	rep := reply{kind: kind, status: http.StatusOK, contentType: "application/x-gzip",
		cacheControl: "public, max-age=31536000, immutable", acceptRanges: "bytes"}
	if c.Zstd {
		rep.vary = "Accept-Encoding"
		if !acceptsZstd(r.header("Accept-Encoding")) {
			// Pkg ≤ 1.12 cannot decode zstd (pkg-protocol §3.2): only a
			// client that asks may have it.
			rep := s.fail(r, kind, res, notFound(res))
			rep.vary = "Accept-Encoding"
			return rep
		}
		rep.contentType = "application/zstd"
	}
	var eb [2 + 2*len(res.Hash)]byte
	eb[0], eb[len(eb)-1] = '"', '"'
	hex.Encode(eb[1:len(eb)-1], res.Hash[:])
	rep.etag = string(eb[:])
	if inm := r.header("If-None-Match"); inm != "" && etagMatch(inm, rep.etag, true) {
		rep.status, rep.length = http.StatusNotModified, -1
		return rep
	}
	start, length := int64(0), c.Size
	if rh := r.header("Range"); rh != "" {
		if ir := r.header("If-Range"); ir == "" || ir == rep.etag {
			a, n, rr := parseRange(rh, c.Size)
			switch rr {
			case rangeOK:
				start, length, rep.status = a, n, http.StatusPartialContent
				rep.contentRange = "bytes " + strconv.FormatInt(a, 10) + "-" + strconv.FormatInt(a+n-1, 10) + "/" + strconv.FormatInt(c.Size, 10)
			case rangeUnsatisfiable:
				return reply{kind: kind, status: http.StatusRequestedRangeNotSatisfiable, length: 0,
					contentRange: "bytes */" + strconv.FormatInt(c.Size, 10), cacheControl: rep.cacheControl,
					etag: rep.etag, acceptRanges: rep.acceptRanges, vary: rep.vary}
			}
		}
	}
	rep.length = length
	if r.method == http.MethodHead {
		if c.Bytes == nil && c.Stat != nil {
			if err := c.Stat(r.ctx); err != nil {
				return s.fail(r, kind, res, err)
			}
		}
		return rep
	}
	if c.Bytes != nil {
		// Verified bytes in memory: one write, no slot needed.
		rep.data = c.Bytes[start : start+length]
		return rep
	}
	sb, err := c.Open(r.ctx, start, length)
	if err != nil {
		return s.fail(r, kind, res, err)
	}
	if sb.Mem != nil {
		rep.data = sb.Mem
		return rep
	}
	release, err := s.acquire(r, res)
	if err != nil {
		sb.Close()
		return s.fail(r, kind, res, err)
	}
	b := &body{s: s, req: r, res: res, rep: &rep, sb: sb, length: length, release: release}
	if sb.File != nil {
		// A verified private copy, which nothing but this process
		// writes: the kernel copies it to the socket.
		if _, err := sb.File.Seek(sb.Offset, io.SeekStart); err != nil {
			b.discard()
			return s.fail(r, kind, res, err)
		}
		b.file = sb.File
		s.m.fileSends.Add(1)
	} else if err := b.prime(); err != nil {
		// Nothing sent yet: an ordinary error status.
		b.discard()
		return s.fail(r, kind, res, err)
	}
	rep.stream = b
	return rep
}

// acquire takes a slot for a body, first one of the client's own (so that
// one client cannot hold every slot) then one of the server's, waiting
// for each at most QueueTimeout (then ErrUnavailable: 503 before Pkg's
// stall limit). It returns what gives them back.
func (s *Server) acquire(r *request, res Resource) (func(), error) {
	deadline := time.Time{}
	var t *time.Timer
	wait := func(ch chan struct{}) error {
		select {
		case ch <- struct{}{}:
			return nil
		default:
		}
		if t == nil {
			deadline = time.Now().Add(s.opts.QueueTimeout)
			t = time.NewTimer(s.opts.QueueTimeout)
		} else {
			t.Reset(time.Until(deadline))
		}
		select {
		case ch <- struct{}{}:
			return nil
		case <-t.C:
			return fmtErr(res, "waiting for a slot", ErrUnavailable)
		case <-r.ctx.Done():
			return fmtErr(res, "client gone while waiting for a slot", ErrUnavailable)
		}
	}
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	client := r.client()
	cs := s.clients.get(client, s.opts.MaxPerClient)
	if err := wait(cs.ch); err != nil {
		s.clients.put(client, cs)
		return nil, err
	}
	if err := wait(s.sem); err != nil {
		<-cs.ch
		s.clients.put(client, cs)
		return nil, err
	}
	s.m.inFlight.Add(1)
	return func() {
		s.m.inFlight.Add(-1)
		<-s.sem
		<-cs.ch
		s.clients.put(client, cs)
	}, nil
}

// clientSlots are the per-client slot semaphores, by client address,
// kept while someone uses them.
type clientSlots struct {
	mu sync.Mutex
	m  map[string]*clientSem
}

type clientSem struct {
	ch    chan struct{}
	users int
}

func (c *clientSlots) get(client string, max int) *clientSem {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ok := c.m[client]
	if !ok {
		cs = &clientSem{ch: make(chan struct{}, max)}
		c.m[client] = cs
	}
	cs.users++
	return cs
}

func (c *clientSlots) put(client string, cs *clientSem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs.users--; cs.users == 0 {
		delete(c.m, client)
	}
}

func fmtErr(res Resource, ctx string, err error) error {
	return errors.Join(errors.New(res.String()+": "+ctx), err)
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

func (s *Server) serveMeta(r *request, st *state) reply {
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
		return s.fail(r, kindMeta, Resource{}, err)
	}
	rep := textStatus(r, kindMeta, http.StatusOK, string(b)+"\n")
	rep.contentType = "application/json"
	return rep
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
	if s.opts.Stats != nil {
		st := s.opts.Stats()
		g = append(g,
			gauge{name: "shoebox_serve_withdrawn_items", help: "Items withdrawn now: their bytes failed verification or their blob files are not what the store claims.", typ: "gauge", value: int64(st.Withdrawn)},
			gauge{name: "shoebox_serve_withdrawals_total", help: "Items withdrawn since start.", typ: "counter", value: st.Withdrawals},
			gauge{name: "shoebox_serve_readmissions_total", help: "Withdrawn items served again after their blob changed and verified.", typ: "counter", value: st.Readmissions},
			gauge{name: "shoebox_serve_verifying_reads_total", help: "Tarball reads verified while streaming from the store.", typ: "counter", value: st.Streams},
			gauge{name: "shoebox_serve_memory_items", help: "Verified tarballs held in memory.", typ: "gauge", value: int64(st.MemoryItems)},
			gauge{name: "shoebox_serve_memory_bytes", help: "Bytes of verified tarballs held in memory.", typ: "gauge", value: st.MemoryBytes},
			gauge{name: "shoebox_serve_copy_hits_total", help: "Bodies read from verified private copies.", typ: "counter", value: st.CopyHits},
			gauge{name: "shoebox_serve_copy_fills_total", help: "Verified private copies made.", typ: "counter", value: st.CopyFills},
			gauge{name: "shoebox_serve_copy_bytes", help: "Bytes held by verified private copies.", typ: "gauge", value: st.CopyBytes},
			gauge{name: "shoebox_serve_copy_files", help: "Verified private copies held.", typ: "gauge", value: st.CopyFiles},
		)
	}
	return g
}
