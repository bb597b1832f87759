package pkgserver_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/valyala/fasthttp"
)

// discardWriter is a ResponseWriter that drops the body.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServer_Artifact10K is the handler's own cost per GET of a
// 10 KiB tarball from a layout, without the network: lookup, open, stream
// with digest verification. hack/bench-serve.sh measures the whole server.
func BenchmarkServer_Artifact10K(b *testing.B) {
	st := openLayout(b, b.TempDir())
	_, tgz, h := artifactBundle(b, st, 1, 10<<10, 0)
	src, _ := newSource(b, st, shelf.SetOptions{})
	srv := pkgserver.New(src, pkgserver.Options{})
	req := httptest.NewRequest(http.MethodGet, "/artifact/"+h.String(), nil)
	b.SetBytes(int64(len(tgz)))
	b.ReportAllocs()
	for b.Loop() {
		srv.ServeHTTP(&discardWriter{h: http.Header{}}, req)
	}
}

// memCacheServer serves one 8 KiB artifact with a memory cache.
func memCacheServer(b *testing.B) (*pkgserver.Server, []byte, treehash.Hash) {
	st := openLayout(b, b.TempDir())
	_, tgz, h := artifactBundle(b, st, 1, 8<<10, 0)
	src, _ := newSource(b, st, shelf.SetOptions{MemoryCache: 1 << 20})
	return pkgserver.New(src, pkgserver.Options{}), tgz, h
}

// BenchmarkServer_MemHit8K is the handler's cost per GET of an 8 KiB
// tarball answered from the MemCache (after a first, verifying read).
func BenchmarkServer_MemHit8K(b *testing.B) {
	srv, tgz, h := memCacheServer(b)
	req := httptest.NewRequest(http.MethodGet, "/artifact/"+h.String(), nil)
	srv.ServeHTTP(&discardWriter{h: http.Header{}}, req) // fills the cache
	b.SetBytes(int64(len(tgz)))
	b.ReportAllocs()
	for b.Loop() {
		srv.ServeHTTP(&discardWriter{h: http.Header{}}, req)
	}
}

// BenchmarkServer_FastMemHit8K is BenchmarkServer_MemHit8K through the
// fasthttp front end that `shoebox serve` runs (request parsed, response
// built; no network).
func BenchmarkServer_FastMemHit8K(b *testing.B) {
	srv, tgz, h := memCacheServer(b)
	conn, peer := net.Pipe() // a connection for the write deadlines
	defer conn.Close()
	defer peer.Close()
	var ctx fasthttp.RequestCtx
	ctx.Init2(conn, nil, false)
	ctx.Request.SetRequestURI("/artifact/" + h.String())
	srv.ServeFastHTTP(&ctx) // fills the cache
	if ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) != len(tgz) {
		b.Fatalf("GET = %d, %d bytes", ctx.Response.StatusCode(), len(ctx.Response.Body()))
	}
	b.SetBytes(int64(len(tgz)))
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		srv.ServeFastHTTP(&ctx)
	}
}
