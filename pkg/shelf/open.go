package shelf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// HoldBack is how many bytes at the end of a window a Stream holds back
// until the whole tarball verified (all of a smaller window).
const HoldBack = 64 << 10

// maxHoldAll bounds a window held back whole (a hardlinked blob file).
const maxHoldAll = 64 << 20

// Bytes is a window of an item's tarball opened by Shelf.Open. Exactly one
// of Mem, File and Stream is set:
//
//   - Mem is the window in memory, from a tarball that verified in full;
//   - File is a verified private copy (a file only this process writes,
//     checked on the descriptor when opened), to be sent from Offset, N
//     bytes, by sendfile(2) or any other means: it cannot change;
//   - Stream yields the window's N bytes while the whole tarball is read
//     from its start and verified against its digest, and never yields
//     the window's last HoldBack bytes (all of them, when the blob file
//     has other hard links) before the whole tarball verified. Its Read
//     returns io.EOF only then; any failure is an error from Read (and
//     withdraws the item). A consumer that stops at an error has sent
//     less than N bytes: a response built from it is cut, never complete.
//
// The caller must Close it.
type Bytes struct {
	Mem    []byte
	File   *os.File
	Offset int64
	Stream io.ReadCloser
	N      int64
}

// Reader returns the window as one stream, whichever form it has.
func (b *Bytes) Reader() io.Reader {
	switch {
	case b.Mem != nil:
		return bytes.NewReader(b.Mem)
	case b.File != nil:
		return io.NewSectionReader(b.File, b.Offset, b.N)
	default:
		return b.Stream
	}
}

// Close releases the file or the stream.
func (b *Bytes) Close() error {
	switch {
	case b.File != nil:
		return b.File.Close()
	case b.Stream != nil:
		return b.Stream.Close()
	}
	return nil
}

// Cached returns e's whole tarball when it is held in memory, verified;
// nil otherwise. It reads nothing.
func (sh *Shelf) Cached(e *bundle.Entry) []byte {
	b, _ := sh.set.mem.get(e.Whole.Digest)
	return b
}

// Open opens bytes [off, off+n) of e's tarball (an entry of the Shelf's
// Catalog), verified: from memory or a private copy when the whole
// tarball verified before, else as a Stream that verifies the whole
// tarball while it yields the window (see Bytes). A Stream that verifies
// fills the memory cache (small tarballs) or makes a private copy (when
// SetOptions.CopyDir is set and the tarball fits), so that the next
// request is answered without reading the store.
//
// An item whose read failed (digest mismatch, short or long blob, a blob
// file that is not a regular file, an I/O error of a layout; a digest
// mismatch from a registry) is withdrawn: Open returns an error wrapping
// errdef.ErrNotFound until the item's blob files change (layouts: their
// identity as stat(2) reports it) or a forced Load, and then verifies it
// again. The withdrawal is logged once, with the item and the cause.
func (sh *Shelf) Open(ctx context.Context, e *bundle.Entry, off, n int64) (*Bytes, error) {
	s := sh.set
	size := e.Whole.Size
	if off < 0 || n < 0 || off+n > size {
		return nil, fmt.Errorf("%s: window %d+%d of %d bytes", e.Item, off, n, size)
	}
	if err := s.withdrawnErr(ctx, e); err != nil {
		return nil, err
	}
	if data, ok := s.mem.get(e.Whole.Digest); ok {
		return &Bytes{Mem: data[off : off+n], N: n}, nil
	}
	f, verified, ok := s.copies.open(e.Whole.Digest, size)
	if ok && verified {
		return &Bytes{File: f, Offset: off, N: n}, nil
	}
	st := &stream{s: s, ctx: ctx, e: e, off: off, n: n, rl: n - min(n, HoldBack), copyFile: f}
	return &Bytes{Stream: st, N: n}, nil
}

// Stat checks, without reading them, what can be checked of e's blob
// files (a layout: each is a regular file of its size, reached without a
// symbolic link), for a HEAD request; an item that was withdrawn and whose
// blob changed since is read and verified. A failure withdraws the item,
// as Open's do; a withdrawn item is an error wrapping errdef.ErrNotFound.
func (sh *Shelf) Stat(ctx context.Context, e *bundle.Entry) error {
	s := sh.set
	if err := s.withdrawnErr(ctx, e); err != nil {
		return err
	}
	if _, ok := s.mem.get(e.Whole.Digest); ok || !s.local || s.copies.has(e.Whole.Digest) {
		return nil
	}
	for _, l := range layersOf(e) {
		f, err := s.st.OpenBlobFile(ctx, l)
		if err != nil {
			err = fmt.Errorf("%s: %w", e.Item, err)
			s.withdraw(ctx, e, err)
			return err
		}
		f.Close()
	}
	s.wmu.Lock()
	lifted := s.lifted[e.Whole.Digest]
	s.wmu.Unlock()
	if lifted {
		// Withdrawn before and changed since: it answers again only once
		// it verified.
		st := &stream{s: s, ctx: ctx, e: e, n: e.Whole.Size}
		_, err := io.Copy(io.Discard, st)
		st.Close()
		return err
	}
	return nil
}

// layersOf are the blobs of e's tarball, in order.
func layersOf(e *bundle.Entry) []ocispec.Descriptor {
	if len(e.Layers) > 0 {
		return e.Layers
	}
	return []ocispec.Descriptor{e.Whole}
}

// partIDs are the identities of e's blob files now (zero for a file that
// cannot be looked at).
func (s *Set) partIDs(ctx context.Context, e *bundle.Entry) []store.FileID {
	if !s.local {
		return nil
	}
	var ids []store.FileID
	for _, l := range layersOf(e) {
		id, _ := s.st.StatBlob(ctx, l)
		ids = append(ids, id)
	}
	return ids
}

// withdrawnErr is nil unless e is withdrawn and its blob files did not
// change since it failed; a change lifts the withdrawal (the read that
// follows verifies the item again).
func (s *Set) withdrawnErr(ctx context.Context, e *bundle.Entry) error {
	d := e.Whole.Digest
	s.wmu.Lock()
	w := s.withdrawn[d]
	s.wmu.Unlock()
	if w == nil {
		return nil
	}
	if s.local && !slices.Equal(s.partIDs(ctx, e), w.ids) {
		s.lift(e, "its blob changed")
		return nil
	}
	return fmt.Errorf("%s: withdrawn: %s: %w", e.Item, w.cause, errdef.ErrNotFound)
}

// lift ends e's withdrawal; the item is re-admitted once a read of it
// verifies.
func (s *Set) lift(e *bundle.Entry, why string) {
	d := e.Whole.Digest
	s.wmu.Lock()
	w, ok := s.withdrawn[d]
	delete(s.withdrawn, d)
	if ok {
		s.lifted[d] = true
	}
	s.wmu.Unlock()
	if ok {
		s.log.Info("withdrawn item to be verified again", slog.String("item", w.item), slog.String("digest", d.String()), slog.String("why", why))
	}
}

// withdrawable reports whether a failed read of the store withdraws the
// item: any failure of a layout (the files are there or not), and from a
// registry only content that does not match its digest or is missing (a
// dropped connection is not the content's fault).
func (s *Set) withdrawable(ctx context.Context, err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return false
	}
	if s.local {
		return true
	}
	return errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) ||
		errors.Is(err, errdef.ErrNotFound) || (errors.Is(err, bundle.ErrIntegrity) && !errors.Is(err, io.ErrUnexpectedEOF))
}

// withdraw withdraws e after a failed read (see Open), logging it once.
func (s *Set) withdraw(ctx context.Context, e *bundle.Entry, err error) {
	if !s.withdrawable(ctx, err) {
		return
	}
	d := e.Whole.Digest
	ids := s.partIDs(ctx, e)
	s.wmu.Lock()
	if _, ok := s.withdrawn[d]; ok {
		s.wmu.Unlock()
		return
	}
	ec := *e
	s.withdrawn[d] = &withdrawal{item: e.Item.String(), cause: err.Error(), ids: ids, entry: &ec}
	delete(s.lifted, d)
	s.wmu.Unlock()
	s.withdrawals.Add(1)
	s.mem.drop(d)
	s.copies.drop(d)
	s.log.Error("item withdrawn: not served until its blob changes and verifies", slog.String("item", e.Item.String()),
		slog.String("digest", d.String()), slog.String("cause", err.Error()))
}

// stillBad records that a withdrawn item failed again when checked: its
// files as they are now, without another withdrawal.
func (s *Set) stillBad(ctx context.Context, e *bundle.Entry, err error) {
	ids := s.partIDs(ctx, e)
	s.wmu.Lock()
	if w, ok := s.withdrawn[e.Whole.Digest]; ok {
		w.ids, w.cause = ids, err.Error()
	}
	s.wmu.Unlock()
}

// verified records that a read of e verified in full; a withdrawn item
// is re-admitted.
func (s *Set) verified(e *bundle.Entry) {
	s.verifiedReads.Add(1)
	d := e.Whole.Digest
	s.wmu.Lock()
	_, withdrawn := s.withdrawn[d]
	was := s.lifted[d] || withdrawn
	delete(s.lifted, d)
	delete(s.withdrawn, d)
	s.wmu.Unlock()
	if was {
		s.readmissions.Add(1)
		s.log.Info("item re-admitted: its blob verified", slog.String("item", e.Item.String()), slog.String("digest", d.String()))
	}
}

// recheckWithdrawn verifies again the withdrawn items whose blob files
// changed (every one with force) and re-admits those that pass.
func (s *Set) recheckWithdrawn(ctx context.Context, force bool) {
	s.wmu.Lock()
	var es []*bundle.Entry
	for _, w := range s.withdrawn {
		es = append(es, w.entry)
	}
	s.wmu.Unlock()
	for _, e := range es {
		if ctx.Err() != nil {
			return
		}
		if !force && !(s.local && func() bool {
			s.wmu.Lock()
			w := s.withdrawn[e.Whole.Digest]
			s.wmu.Unlock()
			return w != nil && !slices.Equal(s.partIDs(ctx, e), w.ids)
		}()) {
			continue
		}
		st := &stream{s: s, ctx: ctx, e: e, n: e.Whole.Size, recheck: true}
		io.Copy(io.Discard, st)
		st.Close()
	}
}

// stream is Bytes.Stream: the whole tarball read from its start through
// a verifying reader, the window [off, off+n) handed out, its last bytes
// from rl on held back until the end verified.
type stream struct {
	s      *Set
	ctx    context.Context
	e      *bundle.Entry
	off, n int64
	rl     int64 // window bytes that may go out before the end verified

	src      io.ReadCloser // the whole tarball, io.EOF only once verified
	copyFile *os.File      // an unverified private copy to read instead of the store
	copyID   store.FileID
	linked   atomic.Bool // a blob file has other hard links: hold everything
	held     bool        // linked has been acted on
	pos      int64       // bytes of the whole read from src
	sent     int64       // window bytes handed out
	tail     []byte      // held window bytes, from window offset sent
	tailOff  int
	done     bool // the whole verified
	err      error
	scratch  []byte
	mem      []byte // a memory fill
	fill     *fill  // a private copy fill
	closed   bool
	copyRead bool // src is an unverified private copy
	recheck  bool // verifying a withdrawn item again: a failure keeps it withdrawn, silently
}

// linkWatch is the store as a fetcher that notes blob files with more
// than one link.
type linkWatch struct {
	st   *store.Store
	flag *atomic.Bool
}

func (l linkWatch) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := l.st.Fetch(ctx, d)
	if f, ok := rc.(*os.File); ok && err == nil {
		if id, err := store.FileIdentity(f); err == nil && id.Nlink > 1 {
			l.flag.Store(true)
		}
	}
	return rc, err
}

// wholeVerifier reads a file that must be the whole tarball d, returning
// io.EOF only after the digest matched.
type wholeVerifier struct {
	f *os.File
	v *content.VerifyReader
}

func (w *wholeVerifier) Read(p []byte) (int, error) {
	n, err := w.v.Read(p)
	if err == io.EOF {
		if verr := w.v.Verify(); verr != nil {
			return n, fmt.Errorf("%w: %w", bundle.ErrIntegrity, verr)
		}
	}
	return n, err
}

func (w *wholeVerifier) Close() error { return w.f.Close() }

func (st *stream) open() error {
	s, e := st.s, st.e
	s.streams.Add(1)
	size := e.Whole.Size
	if st.copyFile != nil {
		id, err := store.FileIdentity(st.copyFile)
		if err == nil {
			st.copyID, st.copyRead = id, true
			st.src = &wholeVerifier{f: st.copyFile, v: content.NewVerifyReader(st.copyFile, e.Whole)}
			st.copyFile = nil
			return nil
		}
		st.copyFile.Close()
		st.copyFile = nil
	}
	r, err := bundle.NewReader(st.ctx, linkWatch{st: s.st, flag: &st.linked}, *e)
	if err != nil {
		return err
	}
	st.src = r
	switch {
	case s.mem.fits(size):
		st.mem = make([]byte, 0, size)
	default:
		st.fill = s.copies.newFill(e.Whole.Digest, size)
	}
	return nil
}

// readSrc reads the next bytes of the whole into p, copying them into the
// fills; io.EOF means the whole verified.
func (st *stream) readSrc(p []byte) (int, error) {
	k, err := st.src.Read(p)
	if k > 0 {
		if st.mem != nil {
			st.mem = append(st.mem, p[:k]...)
		}
		st.fill.write(p[:k])
		st.pos += int64(k)
	}
	if err == io.EOF && st.pos != st.e.Whole.Size {
		err = fmt.Errorf("%s: %d bytes, want %d: %w: %w", st.e.Item, st.pos, st.e.Whole.Size, bundle.ErrIntegrity, io.ErrUnexpectedEOF)
	}
	if err == io.EOF {
		st.done = true
		st.finish()
	}
	return k, err
}

// finish publishes what a verified read filled.
func (st *stream) finish() {
	s, e := st.s, st.e
	if st.mem != nil && int64(len(st.mem)) == e.Whole.Size {
		s.mem.put(e.Whole.Digest, st.mem)
	}
	st.mem = nil
	st.fill.publish()
	st.fill = nil
	if st.copyRead {
		s.copies.markVerified(e.Whole.Digest, st.copyID)
	}
	s.verified(e)
}

func (st *stream) fail(err error) error {
	if st.err == nil {
		st.err = err
		st.mem = nil
		st.fill.abandon()
		st.fill = nil
		switch {
		case st.copyRead:
			st.s.copies.drop(st.e.Whole.Digest) // our copy does not verify: forget it, the store decides next time
		case st.recheck:
			st.s.stillBad(st.ctx, st.e, err)
		default:
			st.s.withdraw(st.ctx, st.e, err)
		}
	}
	return st.err
}

// Read implements io.Reader (see Bytes.Stream).
func (st *stream) Read(p []byte) (int, error) {
	if st.err != nil {
		return 0, st.err
	}
	if st.closed {
		return 0, errors.New("shelf: read after close")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if st.src == nil {
		if err := st.open(); err != nil {
			return 0, st.fail(fmt.Errorf("%s: %w", st.e.Item, err))
		}
	}
	for {
		if st.done {
			if st.tailOff < len(st.tail) {
				k := copy(p, st.tail[st.tailOff:])
				st.tailOff += k
				st.sent += int64(k)
				return k, nil
			}
			return 0, io.EOF
		}
		switch {
		case st.pos < st.off:
			// Before the window: read and discard.
			if st.scratch == nil {
				st.scratch = make([]byte, 64<<10)
			}
			buf := st.scratch[:min(int64(len(st.scratch)), st.off-st.pos)]
			if _, err := st.readSrc(buf); err != nil && err != io.EOF {
				return 0, st.fail(err)
			}
		case st.pos-st.off < st.rl && len(st.tail) == 0:
			// The window's head: straight out, unless a blob file turns
			// out to be hardlinked.
			m := min(int64(len(p)), st.rl-(st.pos-st.off))
			k, err := st.readSrc(p[:m])
			if err != nil && err != io.EOF {
				return 0, st.fail(err)
			}
			if st.linked.Load() && !st.held {
				st.held = true
				st.rl = st.sent // nothing more goes out before the end verified
				st.tail = append(st.tail, p[:k]...)
				if st.n-st.sent > maxHoldAll {
					return 0, st.fail(fmt.Errorf("%s: a hardlinked blob file: %d bytes would have to be held back before they verify (at most %d): %w",
						st.e.Item, st.n-st.sent, maxHoldAll, store.ErrBadBlobFile))
				}
				continue
			}
			st.sent += int64(k)
			return k, nil
		case st.pos-st.off < st.n:
			// The held part of the window.
			want := st.n - (st.pos - st.off)
			if st.tail == nil {
				st.tail = make([]byte, 0, min(want, maxHoldAll))
			}
			if int64(cap(st.tail)-len(st.tail)) < want {
				st.tail = slices.Grow(st.tail, int(min(want, maxHoldAll)))
			}
			buf := st.tail[len(st.tail) : len(st.tail)+int(min(want, int64(cap(st.tail)-len(st.tail)), 1<<20))]
			k, err := st.readSrc(buf)
			st.tail = st.tail[:len(st.tail)+k]
			if err != nil && err != io.EOF {
				return 0, st.fail(err)
			}
		default:
			// After the window: read to the end, which verifies.
			if st.scratch == nil {
				st.scratch = make([]byte, 64<<10)
			}
			if _, err := st.readSrc(st.scratch); err != nil && err != io.EOF {
				return 0, st.fail(err)
			}
		}
	}
}

// Close releases the stream; an unfinished fill is dropped.
func (st *stream) Close() error {
	if st.closed {
		return nil
	}
	st.closed = true
	st.fill.abandon()
	st.fill, st.mem = nil, nil
	if st.copyFile != nil {
		st.copyFile.Close()
	}
	if st.src != nil {
		return st.src.Close()
	}
	return nil
}
