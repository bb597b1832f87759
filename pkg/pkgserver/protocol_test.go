package pkgserver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// artifactBundle stores one artifact whose gzip tarball holds a file of
// fileSize pseudo-random bytes and is padded (gzip header extra field) to
// exactly size bytes when size > 0. It returns the bundle, the tarball and
// the tree hash.
func artifactBundle(t testing.TB, st *store.Store, seed uint64, fileSize, size int) (*bundle.Bundle, []byte, treehash.Hash) {
	t.Helper()
	data := make([]byte, fileSize)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	var tb bytes.Buffer
	if err := tarx.WriteTar(&tb, fstest.MapFS{"lib/data.bin": {Data: data, Mode: 0o644}}, tarx.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	h, err := treehash.Tar(bytes.NewReader(tb.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	gz := func(extra []byte) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Extra = extra
		zw.Write(tb.Bytes())
		zw.Close()
		return b.Bytes()
	}
	tgz := gz(nil)
	if size > 0 {
		pad := size - len(tgz) - 2
		if pad < 0 {
			t.Fatalf("tarball is %d bytes, more than %d", len(tgz), size)
		}
		tgz = gz(make([]byte, pad))
		if len(tgz) != size {
			t.Fatalf("padded tarball is %d bytes, want %d", len(tgz), size)
		}
	}
	desc := ocispec.Descriptor{MediaType: bundle.MediaTypeTarGzip, Digest: digest.FromBytes(tgz), Size: int64(len(tgz))}
	ctx := context.Background()
	if err := st.Push(ctx, desc, bytes.NewReader(tgz)); err != nil {
		t.Fatal(err)
	}
	item, err := bundle.PushItem(ctx, st, bundle.Item{Kind: bundle.KindArtifact, TreeHash: h.SkipEmpty, Name: "data", Layers: []ocispec.Descriptor{desc}})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := bundle.PushIndex(ctx, st, []ocispec.Descriptor{item}, bundle.IndexOptions{Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, idx, "artifact-"+strconv.FormatUint(seed, 10)); err != nil {
		t.Fatal(err)
	}
	return readBundle(t, st, idx), tgz, h.SkipEmpty
}

// HEAD and Range as PkgServer.jl's tests expect them on a 2685-byte
// tarball (pkg-protocol §13.3), plus the headers of §2.6.
func TestServe_HeadAndRange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, serve serveFunc) {
		st := openLayout(t, t.TempDir())
		b, tgz, h := artifactBundle(t, st, 1, 2000, 2685)
		hs, _, _ := serve(t, st, serveOpts{}, b)
		url := hs.URL + "/artifact/" + h.String()

		resp, body := do(t, http.MethodHead, url)
		wantHdr := map[string]string{
			"Content-Length": "2685", "Content-Type": "application/x-gzip", "Accept-Ranges": "bytes",
			"Cache-Control": "public, max-age=31536000, immutable", "Etag": `"` + h.String() + `"`, "Content-Encoding": "",
		}
		if resp.StatusCode != 200 || len(body) != 0 {
			t.Errorf("HEAD = %d with %d body bytes, want 200 and none", resp.StatusCode, len(body))
		}
		for k, v := range wantHdr {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("HEAD %s = %q, want %q", k, got, v)
			}
		}
		resp, body = get(t, url)
		if resp.StatusCode != 200 || !bytes.Equal(body, tgz) || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET = %d, %d bytes (equal %v), Content-Encoding %q", resp.StatusCode, len(body), bytes.Equal(body, tgz), resp.Header.Get("Content-Encoding"))
		}

		for _, tc := range []struct {
			rng, contentRange string
			status            int
			from, to          int // body = tgz[from:to]
		}{
			{"bytes=0-1023", "bytes 0-1023/2685", 206, 0, 1024},
			{"bytes=1024-", "bytes 1024-2684/2685", 206, 1024, 2685},
			{"bytes=-2047", "bytes 638-2684/2685", 206, 638, 2685},
			{"bytes=0-10000", "bytes 0-2684/2685", 206, 0, 2685},
			{"bytes=2-1", "bytes */2685", 416, 0, 0},
			{"bytes=2685-", "bytes */2685", 416, 0, 0},
			{"bytes=-0", "bytes */2685", 416, 0, 0},
			{"bytes=0-1,5-6", "", 200, 0, 2685}, // several ranges: ignored
			{"bytes=abc", "", 200, 0, 2685},     // unparseable: ignored
			{"items=0-1", "", 200, 0, 2685},     // another unit: ignored
		} {
			t.Run(tc.rng, func(t *testing.T) {
				resp, body := get(t, url, "Range", tc.rng)
				if resp.StatusCode != tc.status || resp.Header.Get("Content-Range") != tc.contentRange || !bytes.Equal(body, tgz[tc.from:tc.to]) {
					t.Errorf("Range %s = %d %q, %d bytes; want %d %q, bytes [%d,%d)", tc.rng, resp.StatusCode,
						resp.Header.Get("Content-Range"), len(body), tc.status, tc.contentRange, tc.from, tc.to)
				}
				if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(tc.to-tc.from) {
					t.Errorf("Content-Length = %s, want %d", cl, tc.to-tc.from)
				}
			})
		}
		// HEAD with a Range answers the range's headers.
		resp, _ = do(t, http.MethodHead, url, "Range", "bytes=-2047")
		if resp.StatusCode != 206 || resp.Header.Get("Content-Length") != "2047" || resp.Header.Get("Content-Range") != "bytes 638-2684/2685" {
			t.Errorf("HEAD with Range = %d %v", resp.StatusCode, resp.Header)
		}
		// If-Range with another ETag: the whole body.
		resp, body = get(t, url, "Range", "bytes=0-9", "If-Range", `"0000000000000000000000000000000000000000"`)
		if resp.StatusCode != 200 || len(body) != 2685 {
			t.Errorf("If-Range mismatch = %d, %d bytes; want 200 with everything", resp.StatusCode, len(body))
		}
		// If-None-Match with the tree hash: 304.
		resp, body = get(t, url, "If-None-Match", `"`+h.String()+`"`)
		if resp.StatusCode != 304 || len(body) != 0 {
			t.Errorf("If-None-Match = %d, %d bytes; want 304", resp.StatusCode, len(body))
		}
	})
}

func TestServe_NotFoundAndLowercase(t *testing.T) {
	forEachEngine(t, func(t *testing.T, serve serveFunc) {
		w, _ := testWorld(t)
		st := openLayout(t, t.TempDir())
		b := pushManifests(t, st, "v1", created, w.Manifests[0])
		hs, _, _ := serve(t, st, serveOpts{}, b)
		var pkg bundle.Entry
		for _, e := range b.Entries {
			if e.Kind == bundle.KindPackage {
				pkg = e
				break
			}
		}
		ok := "/package/" + pkg.UUID.String() + "/" + pkg.TreeHash.String()
		if resp, body := get(t, hs.URL+ok); resp.StatusCode != 200 || int64(len(body)) != pkg.Whole.Size {
			t.Fatalf("GET %s = %d (%d bytes), want 200", ok, resp.StatusCode, len(body))
		}
		for _, p := range []string{
			"/package/" + strings.ToUpper(pkg.UUID.String()) + "/" + pkg.TreeHash.String(),
			"/package/" + pkg.UUID.String() + "/" + strings.ToUpper(pkg.TreeHash.String()),
			ok + "/",
			ok + "x",
			"/package/" + pkg.UUID.String() + "/0000000000000000000000000000000000000000",
			"/artifact/" + pkg.TreeHash.String(), // a package hash is not an artifact
			"/registry/" + pkg.UUID.String() + "/" + pkg.TreeHash.String(),
			"/", "/index.html", "/packages", "/artifact/", "/registries/", "/registry",
		} {
			resp, body := get(t, hs.URL+p)
			if resp.StatusCode != 404 || len(body) != 0 || resp.Header.Get("Content-Length") != "0" {
				t.Errorf("GET %s = %d with %d bytes, want 404 with an empty body", p, resp.StatusCode, len(body))
			}
		}
		if resp, _ := do(t, http.MethodPost, hs.URL+ok); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST = %d Allow %q, want 405 GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func TestServe_RegistriesEndpoint(t *testing.T) {
	forEachEngine(t, func(t *testing.T, serve serveFunc) {
		w, _ := testWorld(t)
		st := openLayout(t, t.TempDir())
		b := pushManifests(t, st, "v1", created, w.Manifests[0])
		hs, _, src := serve(t, st, serveOpts{}, b)
		want := "/registry/" + src.Views()[0].UUID.String() + "/" + src.Views()[0].Hash.String() + "\n"
		line := regexp.MustCompile(`^/registry/([a-z0-9]+-){4}[a-z0-9]+/[a-z0-9]+$`) // PkgServer's test
		for _, p := range []string{"/registries", "/registries.eager", "/registries.conservative"} {
			resp, body := get(t, hs.URL+p, "Julia-Registry-Preference", "foo")
			if resp.StatusCode != 200 || string(body) != want || resp.Header.Get("Cache-Control") != "no-cache" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("GET %s = %d %q %v, want 200 %q no-cache text/plain", p, resp.StatusCode, body, resp.Header, want)
			}
			for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
				if !line.MatchString(l) {
					t.Errorf("GET %s line %q does not match %s", p, l, line)
				}
			}
		}
		if resp, body := do(t, http.MethodHead, hs.URL+"/registries"); resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != strconv.Itoa(len(want)) {
			t.Errorf("HEAD /registries = %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// A tarball whose blob changed on disk after the bundle was checked is
// never served complete: the connection is cut before the last bytes
// (http.ErrAbortHandler), the item is withdrawn, and /metrics counts it.
func TestServe_TamperedBlobAborts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, serve serveFunc) {
		dir := t.TempDir()
		st := openLayout(t, dir)
		b, tgz, h := artifactBundle(t, st, 7, 512<<10, 0) // several copy buffers
		small, smallTgz, smallH := artifactBundle(t, st, 8, 1000, 0)
		hs, _, _ := serve(t, st, serveOpts{}, b, small)
		url := hs.URL + "/artifact/" + h.String()
		if resp, body := get(t, url); resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
			t.Fatalf("GET before tampering = %d, %d bytes", resp.StatusCode, len(body))
		}
		flip := func(data []byte) {
			p := filepath.Join(dir, "blobs", "sha256", digest.FromBytes(data).Encoded())
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			var one [1]byte
			off := int64(len(data) / 2)
			f.ReadAt(one[:], off)
			one[0] ^= 0xff
			if _, err := f.WriteAt(one[:], off); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		flip(tgz)
		flip(smallTgz)

		if code, n, rerr := getCut(t, url); code != 200 || rerr == nil || n >= len(tgz) {
			t.Fatalf("GET of the tampered blob: status %d, read %d of %d bytes, error %v; want an aborted transfer", code, n, len(tgz), rerr)
		}
		// A small tarball fails before its first byte is sent: a clean 502.
		if resp, body := get(t, hs.URL+"/artifact/"+smallH.String()); resp.StatusCode != 502 || len(body) != 0 {
			t.Errorf("GET of the small tampered blob = %d with %d bytes, want 502 and nothing", resp.StatusCode, len(body))
		}
		want := []digest.Digest{digest.FromBytes(tgz), digest.FromBytes(smallTgz)}
		if q := hs.set.Withdrawn(); len(q) != 2 || !(q[0] == want[0] && q[1] == want[1] || q[0] == want[1] && q[1] == want[0]) {
			t.Errorf("Quarantined() = %v, want %v", q, want)
		}
		for _, u := range []string{url, hs.URL + "/artifact/" + smallH.String()} {
			if resp, _ := get(t, u); resp.StatusCode != 404 {
				t.Errorf("GET %s after withdrawal = %d, want 404", u, resp.StatusCode)
			}
		}
		_, metrics := get(t, hs.URL+"/metrics")
		for _, l := range []string{"shoebox_serve_aborted_total 1\n", `shoebox_serve_requests_total{kind="artifact",status="502"} 1` + "\n",
			`shoebox_serve_requests_total{kind="artifact",status="404"} 2` + "\n"} {
			if !strings.Contains(string(metrics), l) {
				t.Errorf("/metrics lacks %q:\n%s", l, metrics)
			}
		}
	})
}
