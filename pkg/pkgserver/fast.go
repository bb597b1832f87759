package pkgserver

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// ServeFastHTTP is the fasthttp front end, the one `shoebox serve` runs:
// the same answers as ServeHTTP, written with fewer allocations and
// system calls per request (a small tarball goes out with its headers in
// one write when the server's WriteBufferSize holds both). The
// fasthttp.Server must have WriteTimeout 0 and NoDefaultContentType set:
// bodies extend the write deadline themselves, chunk by chunk (see
// Options.WriteTimeout), and an empty answer carries no Content-Type.
func (s *Server) ServeFastHTTP(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Request.URI().PathOriginal())
	if strings.IndexByte(path, '%') >= 0 {
		// As net/http's URL.Path: percent-decoded.
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
	}
	req := &request{ctx: context.WithoutCancel(ctx), method: string(ctx.Method()), path: path, remote: ctx.RemoteAddr().String,
		client: func() string { return ctx.RemoteIP().String() }, start: s.stamp(),
		header: func(name string) string { return string(ctx.Request.Header.Peek(name)) }}
	rep := s.answer(req)
	h := &ctx.Response.Header
	rep.eachHeader(h.Set)
	ctx.SetStatusCode(rep.status)
	deadline := func() { ctx.Conn().SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)) }
	switch {
	case rep.stream != nil:
		rep.stream.deadline = deadline
		// fasthttp writes it after this returns (WriteTo), then calls
		// CloseWithError; a short body makes it close the connection.
		ctx.Response.SetBodyStream(rep.stream, int(rep.length))
	case rep.data != nil:
		deadline() // the real clock: Options.Now may be a test's
		ctx.Response.SetBodyRaw(rep.data)
		s.done(req, &rep, int64(len(rep.data)), false)
	default:
		if rep.length >= 0 {
			// HEAD, or an empty status: the length without a body.
			h.SetContentLength(int(rep.length))
			if rep.length > 0 {
				ctx.Response.SkipBody = true
			}
		} else {
			ctx.Response.SkipBody = true // 304: no length, no body
		}
		s.done(req, &rep, 0, false)
	}
}

// FastHTTPServer returns the fasthttp server `shoebox serve` runs s with:
// timeouts against slow clients (Options.ReadTimeout bounds reading a
// request, Options.IdleTimeout a kept-alive connection; writes are bounded
// per chunk by Options.WriteTimeout), a write buffer that holds a ~10 KB tarball with
// its headers, and errors logged through logf.
func (s *Server) FastHTTPServer(logf func(format string, args ...any)) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:              s.ServeFastHTTP,
		Name:                 "shoebox",
		ReadTimeout:          s.opts.ReadTimeout,
		IdleTimeout:          s.opts.IdleTimeout,
		ReadBufferSize:       16 << 10, // the longest request head accepted
		WriteBufferSize:      32 << 10,
		MaxRequestBodySize:   64 << 10,
		NoDefaultContentType: true,
		CloseOnShutdown:      true,
		Logger:               loggerFunc(logf),
	}
}

type loggerFunc func(format string, args ...any)

func (f loggerFunc) Printf(format string, args ...any) { f(format, args...) }
