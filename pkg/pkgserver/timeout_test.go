package pkgserver_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
)

// metric returns the value of one unlabelled sample of /metrics.
func metric(t *testing.T, base, name string) string {
	t.Helper()
	_, m := get(t, base+"/metrics")
	for _, l := range strings.Split(string(m), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", name, m)
	return ""
}

// waitMetric polls /metrics until name has value want, for at most 10 s.
func waitMetric(t *testing.T, base, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, base, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed %s, want %s", name, metric(t, base, name), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Slow clients cannot hold the server: one that stops reading a large
// tarball is cut off after WriteTimeout and its slot (the only one) is
// given back, so the next client is served; one that never finishes its
// request is disconnected after ReadTimeout.
func TestServe_SlowClients(t *testing.T) {
	st := openLayout(t, t.TempDir())
	b, tgz, h := artifactBundle(t, st, 21, 24<<20, 0) // more than the socket buffers hold
	src, err := pkgserver.NewBundleSource(t.Context(), st, []*bundle.Bundle{b}, pkgserver.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := pkgserver.New(src, pkgserver.Options{MaxConcurrent: 1, QueueTimeout: 5 * time.Second,
		WriteTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond})
	srv.Update(src, pkgserver.Status{Items: src.Counts()})
	addr := listenFast(t, srv)
	base := "http://" + addr
	path := "/artifact/" + h.String()

	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if tc, ok := stalled.(*net.TCPConn); ok {
		tc.SetReadBuffer(64 << 10)
	}
	if _, err := io.WriteString(stalled, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, base, "shoebox_serve_in_flight", "1")
	start := time.Now()
	waitMetric(t, base, "shoebox_serve_in_flight", "0")
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("the stalled transfer ended after %v, before the write timeout", d)
	}
	if resp, body := get(t, base+path); resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
		t.Fatalf("GET after the stalled client = %d, %d of %d bytes", resp.StatusCode, len(body), len(tgz))
	}

	half, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	io.WriteString(half, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	half.SetReadDeadline(time.Now().Add(10 * time.Second))
	start = time.Now()
	n, err := io.Copy(io.Discard, half)
	if err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("a request head never finished: connection ended after %v with %d bytes, error %v; want it closed after the read timeout", time.Since(start), n, err)
	}
}
