package pkgserver

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/shoebox-jl/shoebox/pkg/shelf"
)

// bufPool holds the copy buffers; a body is copied through two of them
// (the one being sent and the one held back).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// SendChunk is how much of a verified file is handed to the kernel per
// write deadline (Options.WriteTimeout): a client that takes at least this
// much per WriteTimeout is never cut off, one that stops is within it.
// Streamed bodies are written in smaller chunks (128 KiB).
const SendChunk = 512 << 10

// body is a content body being sent, by either front end. It holds the
// request's slot until closed. A verified private copy (file set) goes to
// the socket by sendfile; anything else is the shelf's verifying stream
// (which holds back the window's end until the whole tarball verified),
// read here with one more chunk held back, so that a failure at any point
// leaves the client short of Content-Length, never with a
// complete-looking body.
//
// It implements io.WriterTo (the front ends write it with WriteTo) and
// fasthttp's ReadCloserWithError (CloseWithError is called once the
// response is written or dropped).
type body struct {
	s       *Server
	req     *request
	res     Resource
	rep     *reply
	sb      *shelf.Bytes
	file    *os.File // sb.File, positioned at sb.Offset
	length  int64
	release func() // gives the slot back

	// deadline, if set, extends the connection's write deadline; the
	// front end sets it.
	deadline func()

	pa, pb    *[]byte
	pend      []byte // read, not yet sent
	next      []byte
	srcDone   bool // the source ended cleanly (and verified)
	sent      int64
	aborted   bool
	closeOnce sync.Once
}

func (b *body) src() io.Reader { return b.sb.Stream }

// prime reads the first chunk before anything is sent, so that a store
// that fails at once (a registry refusing, a small tarball that does not
// verify) still gets an ordinary error status.
func (b *body) prime() error {
	b.pa, b.pb = bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	b.pend, b.next = (*b.pa)[:0], *b.pb
	if err := b.fill(); err != nil {
		return err
	}
	return b.complete()
}

// fill reads the next chunk into next and swaps it into pend; the caller
// keeps the old pend until it is sent. It sets srcDone at the clean end.
func (b *body) fill() error {
	n, err := io.ReadFull(b.src(), b.next)
	eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !eof {
		return err
	}
	b.pend, b.next = b.next[:n], b.pend[:cap(b.pend)]
	b.srcDone = eof
	return nil
}

// complete checks, once the source has ended, that it gave length bytes.
func (b *body) complete() error {
	if !b.srcDone {
		return nil
	}
	if got := b.sent + int64(len(b.pend)); got != b.length {
		return fmtErr(b.res, "body is "+strconv.FormatInt(got, 10)+" bytes, want "+strconv.FormatInt(b.length, 10), ErrUpstream)
	}
	return nil
}

// Read is not used: the front ends call WriteTo.
func (b *body) Read([]byte) (int, error) {
	return 0, errors.New("pkgserver: a body is written with WriteTo")
}

// SupportsBodyWriteTo tells fasthttp to use WriteTo.
func (b *body) SupportsBodyWriteTo() bool { return true }

// WriteTo sends the body to w. A failure of the store after the first
// byte marks the body aborted (the front end cuts the connection); a
// failure to write to the client is returned as it is.
func (b *body) WriteTo(w io.Writer) (int64, error) {
	if b.file != nil {
		return b.sendFile(w)
	}
	for !b.srcDone {
		// Hold this chunk until the next one is read (the last one
		// until the end verified).
		held := b.pend
		if err := b.fill(); err != nil {
			return b.sent, b.abort(err)
		}
		if len(held) > 0 {
			if err := b.write(w, held); err != nil {
				return b.sent, err
			}
		}
	}
	if err := b.complete(); err != nil {
		return b.sent, b.abort(err)
	}
	last := b.pend
	b.pend = nil
	if len(last) > 0 {
		if err := b.write(w, last); err != nil {
			return b.sent, err
		}
	}
	return b.sent, nil
}

func (b *body) write(w io.Writer, p []byte) error {
	if b.deadline != nil {
		b.deadline()
	}
	n, err := w.Write(p)
	b.sent += int64(n)
	return err
}

// sendFile sends a verified file in chunks of sendChunk, each under a
// fresh write deadline; io.Copy reaches the connection's ReadFrom, which
// uses sendfile(2).
func (b *body) sendFile(w io.Writer) (int64, error) {
	for b.sent < b.length {
		chunk := min(b.length-b.sent, SendChunk)
		if b.deadline != nil {
			b.deadline()
		}
		n, err := io.Copy(w, &io.LimitedReader{R: b.file, N: chunk})
		b.sent += n
		if err != nil {
			return b.sent, err
		}
		if n < chunk {
			return b.sent, b.abort(fmtErr(b.res, "file ended after "+strconv.FormatInt(b.sent, 10)+" bytes, want "+strconv.FormatInt(b.length, 10), ErrUpstream))
		}
	}
	return b.sent, nil
}

// abort records a store failure after the headers went out.
func (b *body) abort(err error) error {
	if b.req.ctx.Err() != nil {
		return err // the client left
	}
	b.aborted = true
	b.s.m.aborted.Add(1)
	b.s.log.LogAttrs(b.req.ctx, slog.LevelError, "aborting response", slog.String("path", b.req.path),
		slog.String("resource", b.res.String()), slog.Int64("sent", b.sent), slog.Int64("length", b.length),
		slog.String("error", err.Error()))
	return err
}

// CloseWithError closes the source, gives the slot back and records the
// request; only the first call counts.
func (b *body) CloseWithError(error) error {
	b.close(true)
	return nil
}

// discard closes a body that was never handed to a front end (its
// request is recorded with the error status that replaces it).
func (b *body) discard() { b.close(false) }

func (b *body) close(record bool) {
	b.closeOnce.Do(func() {
		b.sb.Close()
		if b.pa != nil {
			bufPool.Put(b.pa)
			bufPool.Put(b.pb)
			b.pa, b.pb, b.pend, b.next = nil, nil, nil, nil
		}
		b.release()
		if record {
			b.s.done(b.req, b.rep, b.sent, b.aborted)
		}
	})
}
