// Package faultproxy is an in-process HTTP reverse proxy for tests that
// injects faults on a schedule: 500 answers, connections reset in the
// middle of a response body or of a request body (a registry dying
// mid-blob), and stalls (no headers, or half a body and then nothing,
// until the client gives up). It runs on an httptest server bound to
// 127.0.0.1 in front of any HTTP server, typically
// internal/testkit/testregistry, and keeps the client's Host header so
// that the registry's upload locations point back at the proxy.
//
// Faults are bounded: each Rule fires on at most Times matching requests,
// so a client that retries always gets through in the end (unless Times
// is larger than its retry budget, which is how a test makes it fail).
// Only _test.go files should import this package.
package faultproxy

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Fault is what happens to a request a Rule matches.
type Fault int

// The faults.
const (
	// Status500 answers 500 Internal Server Error without forwarding.
	Status500 Fault = iota + 1
	// ResetResponse forwards the request, sends the status, headers and
	// the first half of the body, then resets the connection (TCP RST).
	ResetResponse
	// ResetRequest reads half of the request body (at least one byte if
	// there is a body), then resets the connection without answering.
	ResetRequest
	// StallResponse forwards the request, sends the status, headers and
	// the first half of the body, then sends nothing more until the
	// client gives up (or the proxy closes).
	StallResponse
	// StallHeaders reads the request and never answers, until the client
	// gives up (or the proxy closes).
	StallHeaders
)

func (f Fault) String() string {
	switch f {
	case Status500:
		return "500"
	case ResetResponse:
		return "reset-response"
	case ResetRequest:
		return "reset-request"
	case StallResponse:
		return "stall-response"
	case StallHeaders:
		return "stall-headers"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// Rule schedules a fault.
type Rule struct {
	// Method matches the request method; "" matches any.
	Method string
	// Path matches requests whose URL path contains it; "" matches any.
	// For a registry: "/blobs/sha256:" (blob reads), "/blobs/uploads/"
	// (blob writes), "/manifests/".
	Path string
	// Fault is what to do.
	Fault Fault
	// Skip lets the first Skip matching requests through untouched.
	Skip int
	// Times is how many matching requests (after Skip) get the fault;
	// ≤ 0 means 1. Later ones pass.
	Times int
	// MinBody restricts ResetResponse and ResetRequest to bodies of at
	// least this many bytes (by Content-Length), so that small manifests
	// pass and big blobs are cut. 0 means 2.
	MinBody int64
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	srv    *httptest.Server
	target *url.URL
	rp     *httputil.ReverseProxy
	closed chan struct{} // closed when the test ends: stalls end

	// mu guards the fields below; every request takes it briefly.
	mu       sync.Mutex
	rules    []Rule
	seen     []int // matching requests per rule
	injected []string
}

// New starts a proxy to target (a base URL such as testregistry's URL())
// that applies rules in order (the first rule whose Method and Path match
// and still has faults to give decides). It stops when the test ends.
func New(t testing.TB, target string, rules ...Rule) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("faultproxy: target %q: %v", target, err)
	}
	p := &Proxy{target: u, rules: rules, seen: make([]int, len(rules)), closed: make(chan struct{})}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listening: %v", err)
	}
	p.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: p, ErrorLog: log.New(io.Discard, "", 0)}}
	p.srv.Start()
	t.Cleanup(func() {
		close(p.closed) // end the stalls first: Close waits for their handlers
		p.srv.Close()
	})
	return p
}

// stop returns a channel closed when the client of r goes away or the
// proxy closes: how long a stall lasts.
func (p *Proxy) stop(r *http.Request) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-r.Context().Done():
		case <-p.closed:
		}
		close(ch)
	}()
	return ch
}

// URL returns "http://127.0.0.1:PORT".
func (p *Proxy) URL() string { return p.srv.URL }

// Host returns "127.0.0.1:PORT", the registry part of a reference.
func (p *Proxy) Host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// Injected lists the faults injected so far, in order, as
// "FAULT METHOD PATH".
func (p *Proxy) Injected() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.injected...)
}

// pick returns the fault for r, or 0.
func (p *Proxy) pick(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, rule := range p.rules {
		if rule.Method != "" && rule.Method != r.Method || !strings.Contains(r.URL.Path, rule.Path) {
			continue
		}
		minBody := rule.MinBody
		if minBody == 0 {
			minBody = 2
		}
		if rule.Fault == ResetRequest && r.ContentLength < minBody {
			continue
		}
		if (rule.Fault == ResetResponse || rule.Fault == StallResponse) && r.Method == http.MethodHead {
			continue // no body to cut
		}
		times := max(rule.Times, 1)
		n := p.seen[i]
		if n >= rule.Skip+times {
			continue
		}
		p.seen[i]++
		if n < rule.Skip {
			return 0
		}
		p.injected = append(p.injected, rule.Fault.String()+" "+r.Method+" "+r.URL.Path)
		return rule.Fault
	}
	return 0
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p.pick(r) {
	case Status500:
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}`, http.StatusInternalServerError)
	case ResetRequest:
		half := max(r.ContentLength/2, 1)
		io.CopyN(io.Discard, r.Body, half)
		reset(w, false)
	case ResetResponse:
		p.rp.ServeHTTP(&cutWriter{ResponseWriter: w, limit: -1}, r)
	case StallResponse:
		p.rp.ServeHTTP(&cutWriter{ResponseWriter: w, limit: -1, stall: p.stop(r)}, r)
	case StallHeaders:
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		<-p.stop(r)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// cutWriter passes the first half of a response body (by Content-Length)
// and then resets the connection. A body shorter than 2 bytes passes whole.
type cutWriter struct {
	http.ResponseWriter
	limit   int64 // -1 until the header is written
	written int64
	cut     bool
	// stall, if set, makes the cut a stall: the first half goes out, then
	// nothing until stall is closed.
	stall <-chan struct{}
}

var errCut = errors.New("faultproxy: connection reset on purpose")

func (c *cutWriter) WriteHeader(code int) {
	c.limit = -1
	if n, err := strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64); err == nil && n >= 2 {
		c.limit = n / 2
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.cut {
		return 0, errCut
	}
	if c.limit < 0 || c.written+int64(len(b)) <= c.limit {
		n, err := c.ResponseWriter.Write(b)
		c.written += int64(n)
		return n, err
	}
	n, _ := c.ResponseWriter.Write(b[:c.limit-c.written])
	c.written += int64(n)
	c.cut = true
	if c.stall != nil {
		http.NewResponseController(c.ResponseWriter).Flush()
		<-c.stall
		return n, errCut
	}
	reset(c.ResponseWriter, true)
	return n, errCut
}

func (c *cutWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok && !c.cut {
		f.Flush()
	}
}

// reset takes the connection over and closes it with a TCP RST (SO_LINGER
// 0), so the client sees "connection reset by peer" or a body cut short.
// With flush, what the handler wrote goes out first (a response cut
// mid-body); without, the client gets no response at all.
func reset(w http.ResponseWriter, flush bool) {
	rc := http.NewResponseController(w)
	if flush {
		rc.Flush()
	}
	conn, buf, err := rc.Hijack()
	if err != nil {
		return
	}
	buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
