package pkgserver_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
)

func sends(t *testing.T, base string) string {
	t.Helper()
	return metric(t, base, "shoebox_serve_verified_file_sends_total")
}

// A layout file that verified in full is sent from then on without
// hashing (the sends counter moves), ranges of it too; a write to it
// changes its ctime, so the next request hashes it again, finds the
// mismatch, cuts the transfer short and withdraws the item.
func TestServe_VerifiedFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("file identity is read on Linux only")
	}
	forEachEngine(t, func(t *testing.T, serve serveFunc) {
		dir := t.TempDir()
		st := openLayout(t, dir)
		b, tgz, h := artifactBundle(t, st, 11, 512<<10, 0)
		files := pkgserver.NewVerifiedFiles(0)
		hs, _, src := serve(t, st, pkgserver.SourceOptions{Files: files}, b)
		url := hs.URL + "/artifact/" + h.String()

		if resp, body := get(t, url); resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
			t.Fatalf("first GET = %d, %d bytes; want 200 and the %d-byte tarball", resp.StatusCode, len(body), len(tgz))
		}
		if files.Len() != 1 || sends(t, hs.URL) != "0" {
			t.Fatalf("after the verifying GET: %d files remembered, %s sends; want 1 and 0", files.Len(), sends(t, hs.URL))
		}
		if resp, body := get(t, url); resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
			t.Fatalf("second GET = %d, %d bytes", resp.StatusCode, len(body))
		}
		resp, body := get(t, url, "Range", "bytes=1000-1999")
		if resp.StatusCode != 206 || !bytes.Equal(body, tgz[1000:2000]) || resp.Header.Get("Content-Range") != "bytes 1000-1999/"+itoa(len(tgz)) {
			t.Fatalf("Range GET = %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
		}
		if got := sends(t, hs.URL); got != "2" {
			t.Fatalf("sends after two GETs of the verified file = %s, want 2", got)
		}

		time.Sleep(20 * time.Millisecond) // past a tick of the file system clock
		p := filepath.Join(dir, "blobs", "sha256", digest.FromBytes(tgz).Encoded())
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{tgz[300<<10] ^ 0xff}, 300<<10); err != nil {
			t.Fatal(err)
		}
		f.Close()

		if code, n, rerr := getCut(t, url); code != 200 || rerr == nil || n >= len(tgz) {
			t.Fatalf("GET after the write: status %d, read %d of %d bytes, error %v; want a transfer cut short", code, n, len(tgz), rerr)
		}
		if q := src.Quarantined(); len(q) != 1 || q[0] != digest.FromBytes(tgz) {
			t.Errorf("Quarantined() = %v, want [%s]", q, digest.FromBytes(tgz))
		}
		if files.Len() != 0 || sends(t, hs.URL) != "2" {
			t.Errorf("after the mismatch: %d files remembered, %s sends; want 0 and 2", files.Len(), sends(t, hs.URL))
		}
	})
}

// A file changed within the settle time is hashed on every request and
// never remembered.
func TestServe_VerifiedFilesSettle(t *testing.T) {
	st := openLayout(t, t.TempDir())
	b, tgz, h := artifactBundle(t, st, 12, 64<<10, 0)
	files := pkgserver.NewVerifiedFiles(time.Hour)
	hs, _, _ := serve(t, st, pkgserver.SourceOptions{Files: files}, b)
	for i := 0; i < 2; i++ {
		if resp, body := get(t, hs.URL+"/artifact/"+h.String()); resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
			t.Fatalf("GET %d = %d, %d bytes", i, resp.StatusCode, len(body))
		}
	}
	if files.Len() != 0 || sends(t, hs.URL) != "0" {
		t.Errorf("a fresh file: %d remembered, %s sends; want 0 and 0", files.Len(), sends(t, hs.URL))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// From a registry with --cache-dir, a cached blob that verified is sent
// from the cache file by sendfile; the registry is not asked again.
func TestServe_VerifiedCacheFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("file identity is read on Linux only")
	}
	reg, _ := faultyRegistry(t)
	st := openRemote(t, reg, "julia/files")
	b, tgz, h := artifactBundle(t, st, 13, 256<<10, 0)
	cache, err := pkgserver.NewCache(t.TempDir(), 64<<20, st)
	if err != nil {
		t.Fatal(err)
	}
	files := pkgserver.NewVerifiedFiles(0)
	hs, _, _ := serve(t, cache, pkgserver.SourceOptions{Files: files}, b)
	url := hs.URL + "/artifact/" + h.String()
	for i, want := range []string{"0", "0", "1", "2"} {
		// 1: fetched from the registry, verified, cached; 2: read from the
		// cache file and verified, remembered; 3, 4: sent from the file.
		if resp, body := get(t, url); resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
			t.Fatalf("GET %d = %d, %d bytes", i+1, resp.StatusCode, len(body))
		}
		if got := sends(t, hs.URL); got != want {
			t.Fatalf("after GET %d: %s file sends, want %s", i+1, got, want)
		}
	}
	if _, misses, _, n := cache.Stats(); misses != 1 || n != 1 {
		t.Errorf("cache: %d misses, %d files; want 1 and 1", misses, n)
	}
}
