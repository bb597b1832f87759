package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Transport is an http.RoundTripper that applies a Policy to every request
// (see the package documentation). The zero value is not usable: build it
// with NewTransport.
type Transport struct {
	base   http.RoundTripper
	policy Policy
}

// NewTransport wraps base (nil: http.DefaultTransport).
func NewTransport(base http.RoundTripper, p Policy) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{base: base, policy: p}
}

// RoundTrip implements http.RoundTripper. A request that fails transiently
// is sent again after the backoff while its budget (the context's, see
// WithBudget, else one of its own) allows and it can be replayed (no body,
// or GetBody set); a retriable answer to a request that cannot be replayed
// is returned as it is. When the budget is spent the result is a
// *GiveUpError wrapping the last failure (a *StatusError for an answer).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	b := BudgetFrom(req.Context())
	if b == nil {
		b = t.policy.Start()
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	r := req
	for {
		resp, err := t.once(r)
		fail := err
		if err == nil {
			if !RetriableStatus(resp.StatusCode) {
				return resp, nil
			}
			fail = &StatusError{Code: resp.StatusCode}
		}
		if !replayable || !Transient(fail) {
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if rerr := b.Retry(req.Context(), "", fail); rerr != nil {
			return nil, rerr
		}
		r = req
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
	}
}

// once sends one request under the stall watch: armed while the request
// waits for the network (connecting, sending what the body gave it, waiting
// for headers), and, for the response body, while a Read waits.
func (t *Transport) once(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := newWatch(t.policy.Stall(), cancel)
	req = req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &sendBody{rc: req.Body, w: w}
	}
	w.arm()
	resp, err := t.base.RoundTrip(req)
	w.endSend()
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
			err = cause
		}
		cancel(nil)
		return nil, err
	}
	resp.Body = &recvBody{rc: resp.Body, w: w, ctx: ctx, cancel: cancel}
	return resp, nil
}

// watch is one request's stall timer.
type watch struct {
	d      time.Duration
	cancel context.CancelCauseFunc
	t      *time.Timer

	mu       sync.Mutex
	sendDone bool // RoundTrip returned: the request body no longer arms
}

func newWatch(d time.Duration, cancel context.CancelCauseFunc) *watch {
	w := &watch{d: d, cancel: cancel}
	w.t = time.AfterFunc(time.Hour, func() {
		cancel(fmt.Errorf("%w for %s", ErrStalled, d))
	})
	w.t.Stop()
	return w
}

func (w *watch) arm()    { w.t.Reset(w.d) }
func (w *watch) disarm() { w.t.Stop() }

// commitRate is how fast a peer is assumed to digest what it was sent
// before it answers (a registry hashing, or moving a blob into object
// storage): after a request body of n bytes, the wait for the answer's
// headers is the stall timeout plus n at this rate.
const commitRate = 32 << 20

// armSend arms the timer for the request body's side, unless the
// response is in: the stall timeout while the body is being sent, and,
// once it was sent whole (sent bytes, eof), the wait for the answer.
func (w *watch) armSend(sent int64, eof bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sendDone {
		return
	}
	d := w.d
	if eof {
		d += time.Duration(sent) * time.Second / commitRate
	}
	w.t.Reset(d)
}

func (w *watch) endSend() {
	w.mu.Lock()
	w.sendDone = true
	w.disarm()
	w.mu.Unlock()
}

// sendBody is a request body: the time the transport holds a chunk (the
// peer not reading) counts, the time our Read takes does not.
type sendBody struct {
	rc   io.ReadCloser
	w    *watch
	sent int64
}

func (s *sendBody) Read(p []byte) (int, error) {
	s.w.disarm()
	n, err := s.rc.Read(p)
	s.sent += int64(n)
	s.w.armSend(s.sent, err == io.EOF)
	return n, err
}

func (s *sendBody) Close() error { return s.rc.Close() }

// recvBody is a response body: a Read that waits longer than the stall
// timeout fails with ErrStalled.
type recvBody struct {
	rc     io.ReadCloser
	w      *watch
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (r *recvBody) Read(p []byte) (int, error) {
	r.w.arm()
	n, err := r.rc.Read(p)
	r.w.disarm()
	if err != nil && err != io.EOF {
		if cause := context.Cause(r.ctx); errors.Is(cause, ErrStalled) {
			err = cause
		}
	}
	return n, err
}

func (r *recvBody) Close() error {
	r.w.disarm()
	err := r.rc.Close()
	r.cancel(nil)
	return err
}
