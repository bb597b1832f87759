package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/transfer"
)

// progress renders transfer events: one live status line on a terminal
// (items, bytes, percentage, rate, ETA), redrawn in place at most ten
// times a second; a plain line every few seconds otherwise (a pipe, a
// log file, TERM=dumb); nothing with --quiet. Counts only ever grow.
//
// The percentage and ETA come from bytes, and only when the total is
// known (EventPlanned with Bytes): the remaining bytes at the rate so far.
// Item counts never make an ETA: items differ in size by orders of
// magnitude.
type progress struct {
	mu         sync.Mutex
	f          *Factory
	w          io.Writer
	tty        bool
	quiet      bool
	verb       string
	now        func() time.Time
	start      time.Time
	last       time.Time
	total      int   // items planned
	totalBytes int64 // bytes planned (0: unknown)
	done       int   // stored or skipped
	skipped    int
	missing    int
	bytes      int64 // read from sources
	drawn      bool
}

func newProgress(f *Factory, verb string, quiet bool) *progress {
	now := f.Now
	p := &progress{f: f, w: f.Err, tty: f.liveOutput(), quiet: quiet, verb: verb, now: now, start: now(), last: now()}
	if p.tty && !quiet {
		f.live.Store(p)
	}
	return p
}

// Event consumes one transfer event; safe for concurrent use.
func (p *progress) Event(e transfer.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Type {
	case transfer.EventPlanned:
		if e.Items > p.total {
			p.total = e.Items
		}
		if e.Bytes > p.totalBytes {
			p.totalBytes = e.Bytes
		}
	case transfer.EventBytes:
		p.bytes += e.Bytes
	case transfer.EventDone:
		p.done++
	case transfer.EventSkipped:
		p.done++
		p.skipped++
	case transfer.EventMissing:
		p.missing++
		if !p.quiet {
			p.clear()
			fmt.Fprintf(p.w, "missing: %s %s\n", e.Name, e.Resource)
		}
	case transfer.EventSourceFailed:
		if !p.quiet {
			p.clear()
			next := "no other source to try"
			if e.Next != "" {
				next = "trying " + e.Next
			}
			fmt.Fprintf(p.w, "source failed: %s for %s: %v (%s)\n", e.Source, e.Name, e.Err, next)
		}
	}
	p.draw(false)
}

func (p *progress) line() string {
	el := p.now().Sub(p.start)
	rate := float64(0)
	if s := el.Seconds(); s > 0 {
		rate = float64(p.bytes) / s
	}
	size := humanBytes(p.bytes)
	pct, eta := "", ""
	if p.totalBytes > 0 {
		done := min(p.bytes, p.totalBytes)
		size += " of " + humanBytes(p.totalBytes)
		pct = fmt.Sprintf(" (%d%%)", done*100/p.totalBytes)
		if rate > 0 && done < p.totalBytes {
			left := time.Duration(float64(p.totalBytes-done) / rate * float64(time.Second))
			eta = "  ETA " + left.Round(time.Second).String()
		}
	}
	return fmt.Sprintf("%s: %d/%d items (%d already there, %d missing)  %s%s  %s/s%s",
		p.verb, p.done, p.total, p.skipped, p.missing, size, pct, humanBytes(int64(rate)), eta)
}

func (p *progress) clear() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// writeAbove writes b (a log line) with the live line cleared first; the
// next update draws it again.
func (p *progress) writeAbove(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	return p.w.Write(b)
}

func (p *progress) draw(final bool) {
	if p.quiet {
		return
	}
	now := p.now()
	switch {
	case p.tty && (final || now.Sub(p.last) >= 100*time.Millisecond):
		fmt.Fprint(p.w, "\r\033[K"+p.line())
		p.drawn = true
		p.last = now
		if final {
			fmt.Fprintln(p.w)
			p.drawn = false
		}
	case !p.tty && (final || now.Sub(p.last) >= 5*time.Second):
		fmt.Fprintln(p.w, p.line())
		p.last = now
	}
}

// Finish draws the final line and gives standard error back to plain
// writes.
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
	p.f.live.CompareAndSwap(p, nil)
}
