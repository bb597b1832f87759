package httpx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Defaults of a zero Policy. With them a peer that answers only 503 is
// given up after 5 requests and at most 3.75 s of waiting; a stream that
// moves no byte for 30 s is stalled.
const (
	DefaultAttempts     = 5
	DefaultBackoff      = 250 * time.Millisecond
	DefaultMaxBackoff   = 4 * time.Second
	DefaultMaxElapsed   = 20 * time.Second
	DefaultStallTimeout = 30 * time.Second
)

// Policy bounds the retries of one network operation. The zero value uses
// the defaults above. Policies are values: copy and adjust freely.
type Policy struct {
	// Attempts is how many times an operation is tried while it fails
	// without progress; ≤ 0 means DefaultAttempts.
	Attempts int
	// Backoff is the wait before the first retry, doubled for each further
	// one up to MaxBackoff, each wait drawn uniformly from its upper half;
	// ≤ 0 means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps one wait; ≤ 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// MaxElapsed caps the time an operation may spend failing: no retry
	// starts when it would begin later than MaxElapsed after the first
	// attempt (or after the last progress of a resumed stream); ≤ 0 means
	// DefaultMaxElapsed.
	MaxElapsed time.Duration
	// StallTimeout is how long a request may wait for response headers, and
	// a body may move no byte, before the request is cancelled with
	// ErrStalled (and counts as a failed attempt); ≤ 0 means
	// DefaultStallTimeout.
	StallTimeout time.Duration

	// Sleep waits between attempts; nil means a timer honouring ctx. Tests
	// replace it to account for waits without spending them.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for MaxElapsed; nil means time.Now.
	Now func() time.Time
}

func (p Policy) attempts() int {
	if p.Attempts <= 0 {
		return DefaultAttempts
	}
	return p.Attempts
}

func (p Policy) backoff(n int) time.Duration {
	d, maxD := p.Backoff, p.MaxBackoff
	if d <= 0 {
		d = DefaultBackoff
	}
	if maxD <= 0 {
		maxD = DefaultMaxBackoff
	}
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (p Policy) maxElapsed() time.Duration {
	if p.MaxElapsed <= 0 {
		return DefaultMaxElapsed
	}
	return p.MaxElapsed
}

// Stall returns the effective StallTimeout.
func (p Policy) Stall() time.Duration {
	if p.StallTimeout <= 0 {
		return DefaultStallTimeout
	}
	return p.StallTimeout
}

func (p Policy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p Policy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Start begins the account of one operation.
func (p Policy) Start() *Budget {
	return &Budget{p: p, start: p.now()}
}

// Budget is the running account of one operation under a Policy: how many
// attempts failed and for how long. It is safe for concurrent use.
type Budget struct {
	p Policy

	mu       sync.Mutex
	start    time.Time // of the first attempt, or of the last progress
	failures int       // attempts failed since start
	total    int       // attempts failed in all
	waited   time.Duration
}

// Policy returns the budget's policy.
func (b *Budget) Policy() Policy { return b.p }

// Retry is called after an attempt failed with err (which the caller found
// worth another try): it waits the backoff and returns nil when another
// attempt may start, or else a *GiveUpError describing what was tried
// (what names the operation, "GET https://…"), or ctx's error.
func (b *Budget) Retry(ctx context.Context, what string, err error) error {
	b.mu.Lock()
	b.failures++
	b.total++
	n := b.failures
	elapsed := b.p.now().Sub(b.start)
	wait := b.p.backoff(n)
	giveUp := n >= b.p.attempts() || elapsed+wait > b.p.maxElapsed()
	total, waited := b.total, b.waited
	if !giveUp {
		b.waited += wait
	}
	b.mu.Unlock()
	if giveUp {
		return &GiveUpError{What: what, Attempts: total, Elapsed: elapsed, Waited: waited, Err: err}
	}
	if serr := b.p.sleep(ctx, wait); serr != nil {
		return fmt.Errorf("%s: %w (while waiting to retry after: %w)", what, serr, err)
	}
	return nil
}

// Progress says a resumed stream got further than ever before: the
// failures before it no longer count against the attempts or the time.
func (b *Budget) Progress() {
	b.mu.Lock()
	b.failures = 0
	b.start = b.p.now()
	b.mu.Unlock()
}

// Failures returns how many attempts failed in all.
func (b *Budget) Failures() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

type budgetKey struct{}

// WithBudget returns a context whose requests (through a Transport, or
// Get) draw on b instead of starting a budget of their own.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// BudgetFrom returns the budget ctx carries, or nil.
func BudgetFrom(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// GiveUpError is returned when an operation's budget is spent. It wraps the
// last failure.
type GiveUpError struct {
	// What names the operation ("GET https://…", "copying sha256:…").
	What string
	// Attempts counts the failed attempts; Elapsed is the time from the
	// first (or from the last progress) to the last; Waited the time spent
	// in backoff.
	Attempts int
	Elapsed  time.Duration
	Waited   time.Duration
	Err      error
}

func (e *GiveUpError) Error() string {
	msg := e.Err.Error()
	if e.What != "" && !strings.HasPrefix(msg, e.What) {
		msg = e.What + ": " + msg
	}
	return fmt.Sprintf("%s (gave up after %d attempts in %s)", msg, e.Attempts, e.Elapsed.Round(time.Millisecond))
}

func (e *GiveUpError) Unwrap() error { return e.Err }

// Spent reports whether err says a budget was spent: retrying it within the
// same operation is pointless.
func Spent(err error) bool {
	var g *GiveUpError
	return errors.As(err, &g)
}
