package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/transfer"
)

// progress renders transfer events: a live status line on a terminal
// (items, bytes, rate, ETA), a plain line every few seconds otherwise,
// nothing with --quiet. Counts only ever grow.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	quiet   bool
	verb    string
	now     func() time.Time
	start   time.Time
	last    time.Time
	total   int // items planned
	done    int // stored or skipped
	skipped int
	missing int
	bytes   int64 // read from sources
	drawn   bool
}

func newProgress(f *Factory, verb string, quiet bool) *progress {
	now := f.Now
	return &progress{w: f.Err, tty: f.ErrIsTerminal, quiet: quiet, verb: verb, now: now, start: now(), last: now()}
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
	}
	p.draw(false)
}

func (p *progress) line() string {
	el := p.now().Sub(p.start)
	rate := float64(0)
	if s := el.Seconds(); s > 0 {
		rate = float64(p.bytes) / s
	}
	eta := ""
	if p.done > 0 && p.total > p.done {
		left := time.Duration(float64(el) * float64(p.total-p.done) / float64(p.done))
		eta = fmt.Sprintf("  ETA %s", left.Round(time.Second))
	}
	return fmt.Sprintf("%s: %d/%d items (%d already there, %d missing)  %s  %s/s%s",
		p.verb, p.done, p.total, p.skipped, p.missing, humanBytes(p.bytes), humanBytes(int64(rate)), eta)
}

func (p *progress) clear() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
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

// Finish draws the final line.
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
}
