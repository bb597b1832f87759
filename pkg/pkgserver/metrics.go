package pkgserver

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// metrics are the server's counters, written in the Prometheus text
// exposition format (version 0.0.4) by write.
type metrics struct {
	// mu guards requests and bytes; every request takes it once, in record.
	mu       sync.Mutex
	requests map[reqKey]int64
	bytes    map[string]int64

	inFlight atomic.Int64
	aborted  atomic.Int64
	// fileSends counts bodies sent from files that verified before
	// (VerifiedFiles), without hashing.
	fileSends atomic.Int64
	reloadOK  atomic.Int64
	reloadKO  atomic.Int64
}

type reqKey struct {
	kind   string
	status int
}

func newMetrics() *metrics {
	return &metrics{requests: map[reqKey]int64{}, bytes: map[string]int64{}}
}

// record counts one answered request.
func (m *metrics) record(kind string, status int, n int64) {
	m.mu.Lock()
	m.requests[reqKey{kind, status}]++
	m.bytes[kind] += n
	m.mu.Unlock()
}

// gauge is one extra sample written with the counters.
type gauge struct {
	name, help, typ string
	labels          [][2]string
	value           int64
}

// write writes every metric, sorted, so the output is deterministic for
// given counts.
func (m *metrics) write(w io.Writer, extra []gauge) error {
	bw := bufio.NewWriter(w)
	m.mu.Lock()
	reqs := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		reqs = append(reqs, k)
	}
	slices.SortFunc(reqs, func(a, b reqKey) int {
		if a.kind != b.kind {
			if a.kind < b.kind {
				return -1
			}
			return 1
		}
		return a.status - b.status
	})
	header(bw, "shoebox_serve_requests_total", "Requests answered, by resource kind and HTTP status.", "counter")
	for _, k := range reqs {
		fmt.Fprintf(bw, "shoebox_serve_requests_total{kind=%q,status=\"%d\"} %d\n", k.kind, k.status, m.requests[k])
	}
	kinds := make([]string, 0, len(m.bytes))
	for k := range m.bytes {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	header(bw, "shoebox_serve_response_bytes_total", "Response body bytes sent, by resource kind.", "counter")
	for _, k := range kinds {
		fmt.Fprintf(bw, "shoebox_serve_response_bytes_total{kind=%q} %d\n", k, m.bytes[k])
	}
	m.mu.Unlock()

	header(bw, "shoebox_serve_aborted_total", "Responses aborted mid-body because the store failed or the content did not verify.", "counter")
	fmt.Fprintf(bw, "shoebox_serve_aborted_total %d\n", m.aborted.Load())
	header(bw, "shoebox_serve_verified_file_sends_total", "Bodies sent by sendfile from layout files that verified before and are unchanged since.", "counter")
	fmt.Fprintf(bw, "shoebox_serve_verified_file_sends_total %d\n", m.fileSends.Load())
	header(bw, "shoebox_serve_in_flight", "Content requests being answered now.", "gauge")
	fmt.Fprintf(bw, "shoebox_serve_in_flight %d\n", m.inFlight.Load())
	header(bw, "shoebox_serve_reloads_total", "Reloads of the store, by result.", "counter")
	fmt.Fprintf(bw, "shoebox_serve_reloads_total{result=\"error\"} %d\n", m.reloadKO.Load())
	fmt.Fprintf(bw, "shoebox_serve_reloads_total{result=\"ok\"} %d\n", m.reloadOK.Load())
	last := ""
	for _, g := range extra {
		if g.name != last {
			header(bw, g.name, g.help, g.typ)
			last = g.name
		}
		bw.WriteString(g.name)
		if len(g.labels) > 0 {
			bw.WriteByte('{')
			for i, l := range g.labels {
				if i > 0 {
					bw.WriteByte(',')
				}
				fmt.Fprintf(bw, "%s=%q", l[0], l[1])
			}
			bw.WriteByte('}')
		}
		bw.WriteString(" " + strconv.FormatInt(g.value, 10) + "\n")
	}
	return bw.Flush()
}

func header(w *bufio.Writer, name, help, typ string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}
