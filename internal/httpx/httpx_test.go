package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waits records the backoff a policy asked for, without spending it.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) total() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var t time.Duration
	for _, d := range w.d {
		t += d
	}
	return t
}

func blob(n int) []byte {
	r := rand.New(rand.NewPCG(7, 8))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// serveRange answers GET with b, honouring "Range: bytes=N-".
func serveRange(w http.ResponseWriter, r *http.Request, b []byte) int64 {
	start := int64(0)
	if rg := r.Header.Get("Range"); rg != "" {
		start, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"), 10, 64)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(b)-1, len(b)))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)-int(start)))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	return start
}

// A peer that answers only 503 costs Attempts requests and at most the
// policy's backoff, and the error says what was tried.
func TestTransport_Only503GivesUp(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	w := &waits{}
	client := &http.Client{Transport: NewTransport(nil, Policy{Sleep: w.sleep})}
	resp, err := client.Head(srv.URL + "/v2/x/blobs/sha256:00")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("HEAD = %d, want an error", resp.StatusCode)
	}
	var g *GiveUpError
	if !errors.As(err, &g) || g.Attempts != DefaultAttempts {
		t.Fatalf("error %v, want a GiveUpError after %d attempts", err, DefaultAttempts)
	}
	if got := requests.Load(); got != DefaultAttempts {
		t.Errorf("%d requests, want %d", got, DefaultAttempts)
	}
	if msg := err.Error(); !strings.Contains(msg, "503 Service Unavailable") || !strings.Contains(msg, "gave up after 5 attempts") {
		t.Errorf("message %q does not say what was tried", msg)
	}
	// 4 waits, each in the upper half of 250 ms, 500 ms, 1 s, 2 s.
	if len(w.d) != DefaultAttempts-1 || w.total() > 3750*time.Millisecond || w.total() < 1875*time.Millisecond {
		t.Errorf("waits %v (total %s), want 4 waits totalling 1.875–3.75 s", w.d, w.total())
	}
	if Transient(err) {
		t.Error("a spent budget is transient")
	}
}

// A request with a body that cannot be replayed is not retried: the
// answer is the caller's to handle.
func TestTransport_NoReplayWithoutGetBody(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	w := &waits{}
	client := &http.Client{Transport: NewTransport(nil, Policy{Sleep: w.sleep})}
	req, _ := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(strings.NewReader("body")))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || requests.Load() != 1 {
		t.Errorf("status %d after %d requests, want 502 after 1", resp.StatusCode, requests.Load())
	}
	// With GetBody it is replayed.
	req, _ = http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader([]byte("body")))
	_, err = client.Do(req)
	if !Spent(err) || requests.Load() != 1+DefaultAttempts {
		t.Errorf("replayable PUT: %v after %d requests, want a spent budget after %d", err, requests.Load(), 1+DefaultAttempts)
	}
}

// A budget in the context is shared: the transport's retries and the
// caller's draw on the same attempts.
func TestBudget_SharedAcrossLayers(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	w := &waits{}
	p := Policy{Sleep: w.sleep}
	client := &http.Client{Transport: NewTransport(nil, p)}
	b := p.Start()
	ctx := WithBudget(context.Background(), b)
	var err error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		var resp *http.Response
		resp, err = client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !Transient(err) || b.Retry(ctx, "caller", err) != nil {
			break
		}
	}
	if got := requests.Load(); got != DefaultAttempts {
		t.Errorf("%d requests through two retrying layers, want %d", got, DefaultAttempts)
	}
	if !Spent(err) {
		t.Errorf("error %v, want a spent budget", err)
	}
}

// A body that stops moving is resumed with a Range request; the stalled
// connection stays stalled until the test ends.
func TestGet_StalledBodyResumes(t *testing.T) {
	data := blob(200 << 10)
	release := make(chan struct{})
	var requests atomic.Int32
	var ranges sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		ranges.Store(n, r.Header.Get("Range"))
		start := serveRange(w, r, data)
		if n == 1 {
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			select { // headers and half the body, then nothing
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Write(data[start:])
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handlers
	w := &waits{}
	p := Policy{StallTimeout: 50 * time.Millisecond, Sleep: w.sleep}
	client := &http.Client{Transport: NewTransport(nil, p)}
	rc, err := Get(context.Background(), client, srv.URL, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v; want the %d bytes", len(got), err, len(data))
	}
	if rg, _ := ranges.Load(int32(2)); rg != "bytes="+strconv.Itoa(len(data)/2)+"-" {
		t.Errorf("second request's Range = %q, want bytes=%d-", rg, len(data)/2)
	}
}

// A server that never sends headers is a stall too.
func TestGet_NoHeadersIsAStall(t *testing.T) {
	data := blob(10 << 10)
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		serveRange(w, r, data)
		w.Write(data)
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handlers
	w := &waits{}
	p := Policy{StallTimeout: 50 * time.Millisecond, Sleep: w.sleep}
	client := &http.Client{Transport: NewTransport(nil, p)}
	rc, err := Get(context.Background(), client, srv.URL, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if requests.Load() < 2 || len(w.d) < 1 {
		t.Errorf("%d requests, %d waits: the stalled first request was not retried", requests.Load(), len(w.d))
	}
}

// Every attempt stalls: the error names the stall and what was tried.
func TestGet_AlwaysStalledGivesUp(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handlers
	w := &waits{}
	p := Policy{StallTimeout: 20 * time.Millisecond, Sleep: w.sleep, Attempts: 3}
	client := &http.Client{Transport: NewTransport(nil, p)}
	_, err := Get(context.Background(), client, srv.URL+"/artifact/x", nil, p)
	if !errors.Is(err, ErrStalled) || !Spent(err) {
		t.Fatalf("Get = %v, want a spent budget after stalls", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "stalled: no progress for 20ms") || !strings.Contains(msg, "gave up after 3 attempts") {
		t.Errorf("message %q", msg)
	}
}

// A stream cut more often than Attempts still completes when each resume
// gets further: progress renews the budget.
func TestGet_ProgressRenewsTheBudget(t *testing.T) {
	data := blob(64 << 10)
	const cut = 4 << 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := serveRange(w, r, data)
		end := min(start+cut, int64(len(data)))
		w.Write(data[start:end])
		if end < int64(len(data)) {
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	}))
	defer srv.Close()
	w := &waits{}
	p := Policy{Sleep: w.sleep}
	client := &http.Client{Transport: NewTransport(nil, p)}
	rc, err := Get(context.Background(), client, srv.URL, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(data), err)
	}
	if len(w.d) != len(data)/cut-1 {
		t.Errorf("%d waits, want %d (one per cut)", len(w.d), len(data)/cut-1)
	}
}

// An upload the peer stops reading is cancelled with ErrStalled.
func TestTransport_StalledUpload(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never reads the body
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handlers
	p := Policy{StallTimeout: 50 * time.Millisecond, Attempts: 1}
	client := &http.Client{Transport: NewTransport(nil, p)}
	// Larger than the socket buffers on both sides, and not replayable.
	req, _ := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(bytes.NewReader(make([]byte, 64<<20))))
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("PUT = %d, want a stall", resp.StatusCode)
	}
	if !errors.Is(err, ErrStalled) {
		t.Errorf("PUT = %v, want ErrStalled", err)
	}
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&StatusError{Code: 503}, true},
		{&StatusError{Code: 429}, true},
		{&StatusError{Code: 404}, false},
		{&StatusError{Code: 401}, false},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("x: %w", ErrStalled), true},
		{context.Canceled, false},
		{&GiveUpError{Err: &StatusError{Code: 503}}, false},
		{errors.New("tree hash mismatch"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// After a large upload the peer gets time to digest it before it answers
// (a registry moving a blob into object storage): the stall timeout plus
// the body at commitRate.
func TestTransport_AnswerAfterLargeUpload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(100 * time.Millisecond) // twice the stall timeout; far below its allowance for 32 MiB
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	p := Policy{StallTimeout: 50 * time.Millisecond, Attempts: 1}
	client := &http.Client{Transport: NewTransport(nil, p)}
	req, _ := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(bytes.NewReader(make([]byte, 32<<20))))
	req.ContentLength = 32 << 20
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("PUT of 32 MiB answered after 100 ms: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status %d", resp.StatusCode)
	}
}
