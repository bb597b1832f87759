package pkgserver_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
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

// waitMetric polls /metrics until name has value want. The bound (a
// minute) only stops a broken server from hanging the test; nothing here
// depends on how fast the machine is.
func waitMetric(t *testing.T, base, name, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for metric(t, base, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed %s, want %s", name, metric(t, base, name), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readToClose reads conn until the server closes it and returns what it
// read and how it ended (nil: a clean close). The read deadline only
// keeps a broken server from hanging the test.
func readToClose(t *testing.T, conn net.Conn) ([]byte, error) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for a minute (%d bytes read)", len(b))
	}
	return b, err
}

// Slow clients cannot hold the server: one that stops reading a large
// tarball is cut off once a write has waited WriteTimeout, and its slot
// (the only one) is given back, so the next content request is served;
// one that never finishes its request is disconnected after ReadTimeout.
//
// Every step waits for an event (the in-flight gauge, the server closing
// the connection), never for a time: the good clients' transfers fit in
// the socket buffers, so no write to them ever waits and the short
// timeouts cannot touch them however loaded the machine is.
func TestServe_SlowClients(t *testing.T) {
	st := openLayout(t, t.TempDir())
	big, _, bigHash := artifactBundle(t, st, 21, 24<<20, 0) // more than the socket buffers hold
	_, smallTgz, smallHash := artifactBundle(t, st, 22, 2000, 2685)
	src, _ := newSource(t, st, shelf.SetOptions{})

	t.Run("stops reading", func(t *testing.T) {
		srv := pkgserver.New(src, pkgserver.Options{MaxConcurrent: 1, QueueTimeout: time.Minute, WriteTimeout: 300 * time.Millisecond})
		srv.Update(src, pkgserver.Status{Items: src.Counts()})
		addr := listenFast(t, srv)
		base := "http://" + addr

		stalled, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer stalled.Close()
		stalled.(*net.TCPConn).SetReadBuffer(64 << 10)
		if _, err := io.WriteString(stalled, "GET /artifact/"+bigHash.String()+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		// It holds the only slot, then loses it without having read a byte.
		waitMetric(t, base, "shoebox_serve_in_flight", "1")
		waitMetric(t, base, "shoebox_serve_in_flight", "0")
		got, _ := readToClose(t, stalled)
		head, body, ok := bytes.Cut(got, []byte("\r\n\r\n"))
		if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.Contains(head, []byte("\r\nContent-Length: "+strconv.Itoa(int(big.Entries[0].Whole.Size))+"\r\n")) {
			t.Fatalf("the stalled client's response head: %q", head)
		}
		if len(body) >= int(big.Entries[0].Whole.Size) {
			t.Errorf("the stalled client received all %d bytes; want it cut off", len(body))
		}
		// The slot is free: a content request (it needs the slot; nothing
		// is in a memory cache) is answered in full.
		if resp, b := get(t, base+"/artifact/"+smallHash.String()); resp.StatusCode != 200 || !bytes.Equal(b, smallTgz) {
			t.Fatalf("GET after the stalled client = %d, %d of %d bytes", resp.StatusCode, len(b), len(smallTgz))
		}
		if v := metric(t, base, "shoebox_serve_in_flight"); v != "0" {
			t.Errorf("in flight after the good client = %s, want 0", v)
		}
	})

	t.Run("never finishes its request", func(t *testing.T) {
		srv := pkgserver.New(src, pkgserver.Options{ReadTimeout: 300 * time.Millisecond})
		srv.Update(src, pkgserver.Status{Items: src.Counts()})
		addr := listenFast(t, srv)
		half, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer half.Close()
		if _, err := io.WriteString(half, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		// fasthttp answers a request it could not read in time with 400
		// and closes the connection.
		got, err := readToClose(t, half)
		if err != nil || !bytes.HasPrefix(got, []byte("HTTP/1.1 400 Bad Request\r\n")) || !bytes.Contains(got, []byte("\r\nConnection: close\r\n")) {
			t.Errorf("a request head that never ends: %q, %v; want 400 and the connection closed", got, err)
		}
	})
}
