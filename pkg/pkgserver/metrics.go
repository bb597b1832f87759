package pkgserver

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// latencyBuckets are the request duration histogram's upper bounds, in
// seconds: from a small tarball out of memory (well under a millisecond)
// to a large artifact over a slow link.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// metrics are the server's counters, written in the Prometheus text
// exposition format (version 0.0.4) by write; the latency histogram is
// kept by the Prometheus client library, which also writes it.
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
	// missReloads counts lookups answered again after a miss made the
	// server reload (Options.OnMiss).
	missReloads atomic.Int64

	// reg holds the latency histogram; latency has one observer per kind,
	// made once (WithLabelValues hashes its labels on every call).
	reg     *prometheus.Registry
	latVec  *prometheus.HistogramVec
	latency sync.Map // kind → prometheus.Observer
}

type reqKey struct {
	kind   string
	status int
}

func newMetrics() *metrics {
	m := &metrics{requests: map[reqKey]int64{}, bytes: map[string]int64{}, reg: prometheus.NewRegistry()}
	m.latVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shoebox_serve_request_duration_seconds",
		Help:    "Time from reading a request to its last byte sent (or its failure), by resource kind.",
		Buckets: latencyBuckets,
	}, []string{"kind"})
	m.reg.MustRegister(m.latVec)
	return m
}

// record counts one answered request, which took took.
func (m *metrics) record(kind string, status int, n int64, took time.Duration) {
	m.mu.Lock()
	m.requests[reqKey{kind, status}]++
	m.bytes[kind] += n
	m.mu.Unlock()
	o, ok := m.latency.Load(kind)
	if !ok {
		o, _ = m.latency.LoadOrStore(kind, m.latVec.WithLabelValues(kind))
	}
	o.(prometheus.Observer).Observe(took.Seconds())
}

// gauge is one extra sample written with the counters.
type gauge struct {
	name, help, typ string
	labels          [][2]string
	value           int64
}

// write writes every metric, sorted, so the output is deterministic for
// given counts, then the histogram and what more gathers.
func (m *metrics) write(w io.Writer, extra []gauge, more prometheus.Gatherer) error {
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
	header(bw, "shoebox_serve_miss_reloads_total", "Lookups tried again after a resource that was not found made the server reload the store (another replica advertised it first).", "counter")
	fmt.Fprintf(bw, "shoebox_serve_miss_reloads_total %d\n", m.missReloads.Load())
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
	gs := prometheus.Gatherers{m.reg}
	if more != nil {
		gs = append(gs, more)
	}
	mfs, err := gs.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func header(w *bufio.Writer, name, help, typ string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}
