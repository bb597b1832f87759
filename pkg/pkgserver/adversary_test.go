package pkgserver_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// These tests play the one who can write the stick while serve runs
// (docs/threat-model.md): each blob file is damaged in one way, then asked
// for as Pkg and as an attacker would ask (GET, HEAD, five Range forms),
// cold (never read) and after a verified read; every answer is checked
// for its exact status and bytes. The invariant: no byte that was not
// verified leaves as part of a complete response, nothing outside the
// store is ever read, and a failed item answers 404 until it changes and
// verifies again.

// damage is one way to change a blob file in place.
type damage struct {
	name string
	do   func(t *testing.T, blob string, orig []byte, dir string)
	// opens: the damaged path is still a regular file of the right size
	// (a hardlink, a flipped byte): only its digest can tell.
	opens bool
	// heldWhole: the damaged file is hashed whole before any byte of it
	// goes out (a hardlinked file), whatever the window.
	heldWhole bool
}

func replaceFile(t *testing.T, blob string) {
	t.Helper()
	os.Chmod(blob, 0o644)
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
}

// outside writes a file outside the store, of size n, that the server can
// read: what a symlink or a hardlink would expose.
func outside(t *testing.T, dir string, n int) string {
	t.Helper()
	p := filepath.Join(dir, "outside-"+strconv.Itoa(n))
	if err := os.WriteFile(p, bytes.Repeat([]byte("SECRET! "), n/8+1)[:n], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var damages = []damage{
	{name: "symlink", do: func(t *testing.T, blob string, orig []byte, dir string) {
		replaceFile(t, blob)
		if err := os.Symlink(outside(t, dir, len(orig)), blob); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "hardlink", opens: true, heldWhole: true, do: func(t *testing.T, blob string, orig []byte, dir string) {
		replaceFile(t, blob)
		if err := os.Link(outside(t, dir, len(orig)), blob); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "fifo", do: func(t *testing.T, blob string, orig []byte, dir string) {
		replaceFile(t, blob)
		if err := syscall.Mkfifo(blob, 0o644); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "truncated", do: func(t *testing.T, blob string, orig []byte, dir string) {
		os.Chmod(blob, 0o644)
		if err := os.Truncate(blob, int64(len(orig)-1)); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "extended", do: func(t *testing.T, blob string, orig []byte, dir string) {
		os.Chmod(blob, 0o644)
		f, err := os.OpenFile(blob, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{0})
		f.Close()
	}},
	{name: "flipped", opens: true, do: func(t *testing.T, blob string, orig []byte, dir string) {
		flipAt(t, blob, int64(len(orig)/2))
	}},
}

// flipAt inverts one byte of a file in place (same inode).
func flipAt(t *testing.T, p string, off int64) {
	t.Helper()
	os.Chmod(p, 0o644)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var one [1]byte
	f.ReadAt(one[:], off)
	one[0] ^= 0xff
	if _, err := f.WriteAt(one[:], off); err != nil {
		t.Fatal(err)
	}
}

// ask is one request: a method and a Range header ("" for none).
type ask struct {
	name, method, rng string
	start, n          func(size int) int // the window a 206 answers
}

func fixed(v int) func(int) int { return func(int) int { return v } }

var asks = []ask{
	{name: "GET", method: http.MethodGet, start: fixed(0), n: func(size int) int { return size }},
	{name: "HEAD", method: http.MethodHead, start: fixed(0), n: fixed(0)},
	{name: "a-b", method: http.MethodGet, rng: "bytes=1000-1999", start: fixed(1000), n: fixed(1000)},
	{name: "a-a", method: http.MethodGet, rng: "bytes=5-5", start: fixed(5), n: fixed(1)},
	{name: "0-b", method: http.MethodGet, rng: "bytes=0-80", start: fixed(0), n: fixed(81)},
	{name: "a-", method: http.MethodGet, rng: "bytes=1000-", start: fixed(1000), n: func(size int) int { return size - 1000 }},
	{name: "-n", method: http.MethodGet, rng: "bytes=-100", start: func(size int) int { return size - 100 }, n: fixed(100)},
}

// answer is what a client got.
type answer struct {
	status int
	body   []byte
	length int64 // Content-Length
	cut    bool  // the body ended early
}

func request(t *testing.T, url, method, rng string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: body, length: resp.ContentLength, cut: rerr != nil}
}

// TestAdversary_DamagedBlobs: every damage × every request form × cold
// and warm, small (under HoldBack) and large tarballs, exact answers.
func TestAdversary_DamagedBlobs(t *testing.T) {
	for _, sz := range []struct {
		name string
		file int
	}{{"small", 3000}, {"large", 700 << 10}} {
		dir := t.TempDir()
		st := openLayout(t, filepath.Join(dir, "layout"))
		_, orig, h := artifactBundle(t, st, 41, sz.file, 0)
		blob := filepath.Join(dir, "layout", "blobs", "sha256", digest.FromBytes(orig).Encoded())
		restore := func() {
			os.Chmod(blob, 0o644)
			os.Remove(blob)
			if err := os.WriteFile(blob, orig, 0o444); err != nil {
				t.Fatal(err)
			}
		}
		size := len(orig)
		for _, dm := range damages {
			for _, a := range asks {
				for _, warm := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%s/warm=%v", sz.name, dm.name, a.name, warm)
					t.Run(name, func(t *testing.T) {
						restore()
						o := serveOpts{}
						if warm {
							// The defaults of serve: small tarballs in memory,
							// larger ones as private copies.
							o.set = shelf.SetOptions{MemoryCache: 64 << 20, CopyDir: t.TempDir(), CopySize: 64 << 20}
						}
						hs, _, _ := serveNoCheck(t, st, o)
						url := hs.URL + "/artifact/" + h.String()
						if warm {
							if got := request(t, url, http.MethodGet, ""); got.status != 200 || !bytes.Equal(got.body, orig) {
								t.Fatalf("verified read = %d, %d bytes", got.status, len(got.body))
							}
						}
						dm.do(t, blob, orig, dir)
						got := request(t, url, a.method, a.rng)
						start, n := a.start(size), a.n(size)
						wantStatus := 200
						if a.rng != "" {
							wantStatus = 206
						}
						switch {
						case warm:
							// Served from what verified: the original bytes.
							if got.status != wantStatus || got.cut || !bytes.Equal(got.body, orig[start:start+n]) {
								t.Fatalf("warm %s = %d, %d bytes (cut %v); want %d and the original bytes [%d, %d)", a.name, got.status, len(got.body), got.cut, wantStatus, start, start+n)
							}
							return
						case a.method == http.MethodHead && dm.opens:
							// Nothing to tell without reading: the signed size.
							if got.status != 200 || len(got.body) != 0 || got.length != int64(size) {
								t.Fatalf("HEAD = %d, %d bytes, length %d; want 200, no body, %d", got.status, len(got.body), got.length, size)
							}
							return
						case !dm.opens || dm.heldWhole || n <= shelf.HoldBack+128<<10:
							// Refused before the first byte: a clean 502.
							if got.status != 502 || len(got.body) != 0 {
								t.Fatalf("%s = %d with %d bytes; want 502 and nothing", a.name, got.status, len(got.body))
							}
						default:
							// Released while hashing, then cut: never complete.
							if got.status != wantStatus || !got.cut || int64(len(got.body)) >= got.length || got.length != int64(n) {
								t.Fatalf("%s = %d, %d of %d bytes, cut %v; want %d and a cut body", a.name, got.status, len(got.body), got.length, got.cut, wantStatus)
							}
							if !bytes.Equal(got.body[:min(len(got.body), size/2-start)], orig[start:start+min(len(got.body), size/2-start)]) {
								t.Fatalf("the bytes before the flipped one differ from the original")
							}
						}
						// Withdrawn: 404 for every form, HEAD too.
						for _, again := range asks {
							if got := request(t, url, again.method, again.rng); got.status != 404 || len(got.body) != 0 {
								t.Fatalf("%s after the failure = %d, %d bytes; want 404", again.name, got.status, len(got.body))
							}
						}
						if w := hs.set.Withdrawn(); len(w) != 1 || w[0] != digest.FromBytes(orig) {
							t.Fatalf("Withdrawn() = %v", w)
						}
					})
				}
			}
		}
	}
}

// serveNoCheck serves the verified set of st, whatever it holds.
func serveNoCheck(t *testing.T, st *store.Store, o serveOpts) (*testServer, *pkgserver.Server, *pkgserver.BundleSource) {
	t.Helper()
	set, err := shelf.NewSet(st, o.set)
	if err != nil {
		t.Fatal(err)
	}
	sh, _, err := set.Load(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	src, err := pkgserver.NewBundleSource(context.Background(), sh, pkgserver.SourceOptions{View: o.view})
	if err != nil {
		t.Fatal(err)
	}
	so := o.srv
	so.Stats = set.Stats
	srv := pkgserver.New(src, so)
	srv.Update(src, pkgserver.Status{Items: src.Counts()})
	return &testServer{URL: "http://" + listenFast(t, srv), set: set}, srv, src
}

// A withdrawn item comes back when its blob is restored (a new file, so
// its identity changed) and verifies; restored with other wrong bytes it
// stays withdrawn. One log line per withdrawal; /metrics counts both.
func TestAdversary_WithdrawAndReadmit(t *testing.T) {
	dir := t.TempDir()
	st := openLayout(t, filepath.Join(dir, "layout"))
	_, orig, h := artifactBundle(t, st, 43, 5000, 0)
	blob := filepath.Join(dir, "layout", "blobs", "sha256", digest.FromBytes(orig).Encoded())
	var logged lockedBuf
	log := slog.New(slog.NewTextHandler(&logged, nil))
	hs, _, _ := serveNoCheck(t, st, serveOpts{set: shelf.SetOptions{Logger: log}})
	url := hs.URL + "/artifact/" + h.String()

	flipAt(t, blob, 100)
	if got := request(t, url, http.MethodGet, ""); got.status != 502 {
		t.Fatalf("GET of the flipped blob = %d, want 502", got.status)
	}
	if got := request(t, url, http.MethodGet, ""); got.status != 404 {
		t.Fatalf("GET again = %d, want 404", got.status)
	}
	// Another wrong content: still withdrawn, a new failure.
	os.Remove(blob)
	bad := bytes.Clone(orig)
	bad[200] ^= 1
	os.WriteFile(blob, bad, 0o444)
	if got := request(t, url, http.MethodGet, ""); got.status != 502 {
		t.Fatalf("GET of another wrong content = %d, want 502 (checked again, failed again)", got.status)
	}
	if got := request(t, url, http.MethodGet, "bytes=0-9"); got.status != 404 {
		t.Fatalf("Range GET then = %d, want 404", got.status)
	}
	// Restored: served again, exactly.
	os.Remove(blob)
	os.WriteFile(blob, orig, 0o444)
	if got := request(t, url, http.MethodGet, "bytes=10-19"); got.status != 206 || !bytes.Equal(got.body, orig[10:20]) {
		t.Fatalf("Range GET after the restore = %d %q; want 206 %q", got.status, got.body, orig[10:20])
	}
	if got := request(t, url, http.MethodGet, ""); got.status != 200 || !bytes.Equal(got.body, orig) {
		t.Fatalf("GET after the restore = %d, %d bytes", got.status, len(got.body))
	}
	_, metrics := get(t, hs.URL+"/metrics")
	for _, l := range []string{"shoebox_serve_withdrawals_total 2\n", "shoebox_serve_readmissions_total 1\n", "shoebox_serve_withdrawn_items 0\n"} {
		if !strings.Contains(string(metrics), l) {
			t.Errorf("/metrics lacks %q", l)
		}
	}
	text := logged.String()
	if n := strings.Count(text, "item withdrawn"); n != 2 {
		t.Errorf("%d withdrawal log lines, want 2:\n%s", n, text)
	}
	if !strings.Contains(text, "artifact data "+h.String()) || !strings.Contains(text, "mismatched digest") ||
		strings.Count(text, "item re-admitted: its blob verified") != 1 {
		t.Errorf("log does not name the item, the cause and the re-admission:\n%s", text)
	}
}

// lockedBuf is a buffer a logger writes while the test reads it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// slowConn is a client connection that reads the response head and then
// only as much of the body as it is told to: a client that provably
// stopped reading.
type slowConn struct {
	c    net.Conn
	r    *bufio.Reader
	head string
	got  []byte
}

// slowGet sends a GET for path on a connection with a small receive
// buffer, from local (an address of 127/8, or "" for any).
func slowGet(t *testing.T, addr, path, local string) *slowConn {
	t.Helper()
	d := net.Dialer{}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	d.Control = func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return &slowConn{c: c, r: bufio.NewReaderSize(c, 4096)}
}

// readHead reads the response head.
func (s *slowConn) readHead(t *testing.T) {
	t.Helper()
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the head: %v", err)
		}
		s.head += l
		if l == "\r\n" {
			return
		}
	}
}

// read reads n more body bytes (fewer at the end of the stream).
func (s *slowConn) read(n int) error {
	buf := make([]byte, n)
	k, err := io.ReadFull(s.r, buf)
	s.got = append(s.got, buf[:k]...)
	return err
}

// smallSendBuffers serves srv on 127.0.0.1 (clients may come from any
// address of 127/8) with small socket send buffers, so that what the
// server has read ahead of a stopped client is bounded (a few hundred KiB).
func smallSendBuffers(t *testing.T, srv *pkgserver.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := srv.FastHTTPServer(func(string, ...any) {})
	go fs.Serve(sendBufListener{ln})
	t.Cleanup(func() { fs.Shutdown() })
	return ln.Addr().String()
}

type sendBufListener struct{ net.Listener }

func (l sendBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// Bytes changed while a response is in flight to a client that stopped
// reading. The streaming path (nothing verified before) reads the change
// and cuts the response; the sendfile path (a verified private copy) is
// not touched by the change and completes with the original bytes.
func TestAdversary_ChangedInFlight(t *testing.T) {
	dir := t.TempDir()
	st := openLayout(t, filepath.Join(dir, "layout"))
	_, orig, h := artifactBundle(t, st, 45, 4<<20, 0)
	blob := filepath.Join(dir, "layout", "blobs", "sha256", digest.FromBytes(orig).Encoded())
	path := "/artifact/" + h.String()
	restore := func() {
		os.Chmod(blob, 0o644)
		os.Remove(blob)
		os.WriteFile(blob, orig, 0o444)
	}

	t.Run("streaming", func(t *testing.T) {
		restore()
		hs, srv, _ := serveNoCheck(t, st, serveOpts{})
		_ = hs
		addr := smallSendBuffers(t, srv)
		c := slowGet(t, addr, path, "")
		c.readHead(t)
		if !strings.HasPrefix(c.head, "HTTP/1.1 200 OK\r\n") || !strings.Contains(c.head, "Content-Length: "+strconv.Itoa(len(orig))+"\r\n") {
			t.Fatalf("head %q", c.head)
		}
		if err := c.read(64 << 10); err != nil {
			t.Fatal(err)
		}
		// The client stopped; the server holds at most its buffers ahead.
		flipAt(t, blob, int64(len(orig))-10)
		err := c.read(len(orig)) // the rest, if it comes
		if err == nil || len(c.got) >= len(orig) {
			t.Fatalf("read %d of %d bytes, error %v; want the response cut", len(c.got), len(orig), err)
		}
		if !bytes.Equal(c.got, orig[:len(c.got)]) {
			t.Fatalf("the %d bytes received differ from the original", len(c.got))
		}
	})
	t.Run("sendfile", func(t *testing.T) {
		restore()
		hs, srv, _ := serveNoCheck(t, st, serveOpts{set: shelf.SetOptions{CopyDir: t.TempDir(), CopySize: 64 << 20}})
		if got := request(t, hs.URL+path, http.MethodGet, ""); got.status != 200 || !bytes.Equal(got.body, orig) {
			t.Fatalf("verified read = %d, %d bytes", got.status, len(got.body))
		}
		addr := smallSendBuffers(t, srv)
		c := slowGet(t, addr, path, "")
		c.readHead(t)
		if err := c.read(64 << 10); err != nil {
			t.Fatal(err)
		}
		flipAt(t, blob, int64(len(orig))-10)
		if err := c.read(len(orig) - len(c.got)); err != nil || !bytes.Equal(c.got, orig) {
			t.Fatalf("read %d of %d bytes, error %v; want the original, complete", len(c.got), len(orig), err)
		}
		if s := hs.set.Stats(); s.CopyHits != 1 || s.Withdrawn != 0 {
			t.Fatalf("stats %+v; want the second GET from the copy and nothing withdrawn", s)
		}
	})
}

// Slow readers against the default slots: clients that never read hold
// at most MaxPerClient (8) slots per address; others are served, and
// tarballs answered from memory never wait for a slot.
func TestAdversary_SlowReaders(t *testing.T) {
	dir := t.TempDir()
	st := openLayout(t, filepath.Join(dir, "layout"))
	_, big, bigH := artifactBundle(t, st, 47, 4<<20, 0)
	_, small, smallH := artifactBundle(t, st, 48, 2000, 0)
	hs, srv, _ := serveNoCheck(t, st, serveOpts{set: shelf.SetOptions{MemoryCache: 1 << 20}})
	addr := smallSendBuffers(t, srv)
	// small enters the memory cache.
	if got := request(t, hs.URL+"/artifact/"+smallH.String(), http.MethodGet, ""); got.status != 200 || !bytes.Equal(got.body, small) {
		t.Fatalf("GET small = %d", got.status)
	}
	// 64 connections from 127.0.0.2 ask for the big tarball and never read.
	for range 64 {
		slowGet(t, addr, "/artifact/"+bigH.String(), "127.0.0.2")
	}
	inFlight := func() string { return metric(t, hs.URL, "shoebox_serve_in_flight") }
	for i := 0; i < 4000 && inFlight() != "8"; i++ { // an event: 8 bodies started (bounded)
		time.Sleep(5 * time.Millisecond)
	}
	if got := inFlight(); got != "8" {
		t.Fatalf("in flight = %s, want 8 (the per-client limit)", got)
	}
	// Another client is served in full while they stall.
	if got := request(t, "http://"+addr+"/artifact/"+bigH.String(), http.MethodGet, ""); got.status != 200 || !bytes.Equal(got.body, big) {
		t.Fatalf("GET big from another client = %d, %d bytes", got.status, len(got.body))
	}
	// A tarball in memory needs no slot, even for the stalled address.
	c := slowGet(t, addr, "/artifact/"+smallH.String(), "127.0.0.2")
	c.readHead(t)
	if !strings.HasPrefix(c.head, "HTTP/1.1 200 OK\r\n") {
		t.Fatalf("small from the stalled address: %q", c.head)
	}
	if err := c.read(len(small)); err != nil || !bytes.Equal(c.got, small) {
		t.Fatalf("small from the stalled address: %d bytes, %v", len(c.got), err)
	}
	if got := inFlight(); got != "8" {
		t.Errorf("in flight = %s after the others, want 8", got)
	}
}
