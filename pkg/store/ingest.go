package store

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"syscall"
	"unsafe"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// IngestOptions configure Store.Ingest. The zero value stores the stream as
// one blob with no check.
type IngestOptions struct {
	// Verify, if set, is called once the whole stream has been read and
	// hashed, with the descriptor of the whole stream (media type, sha256
	// digest, size, Annotations), before any blob becomes visible. An error
	// aborts the ingest: the temporary files are removed, nothing enters the
	// store, and Ingest returns the error wrapped.
	Verify func(whole ocispec.Descriptor) error

	// MaxPartSize, if > 0, splits the stream into consecutive parts of at
	// most this many bytes, each stored as its own blob; their
	// concatenation is the stream. 0 stores one blob. An empty stream gives
	// one empty part.
	MaxPartSize int64

	// TempDir is where a remote store spools the stream before pushing it
	// (the whole stream, since the digest is only known at the end and the
	// registry must not see a blob that fails Verify). "" means
	// os.TempDir(). A layout ignores it and always writes its temporary
	// files on its own file system (unnamed in blobs/sha256, or under
	// <layout>/ingest), so that the finished blob is linked or renamed into
	// place, never copied.
	TempDir string

	// Annotations are set on the whole descriptor and on every part.
	Annotations map[string]string
}

// Ingest stores content whose digest is not known in advance, reading r
// exactly once. It hashes the stream as it writes it to temporary files,
// calls opts.Verify with the whole-stream descriptor, then makes the parts
// visible; a part already stored is not written again (dedup).
//
// It returns the descriptor of the whole stream and the descriptors of the
// stored parts, in order (one part, equal to whole, unless MaxPartSize
// splits the stream). With several parts, whole describes their
// concatenation, which is not itself stored.
//
// Peak extra disk use is the size of the stream, in the layout (put into
// place) or in opts.TempDir (remote, removed after the push).
func (s *Store) Ingest(ctx context.Context, mediaType string, r io.Reader, opts IngestOptions) (whole ocispec.Descriptor, parts []ocispec.Descriptor, err error) {
	if err := s.checkWritable(); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	return s.b.ingest(ctx, mediaType, r, opts)
}

// spoolPart is one finished temporary part (not fsynced: a layout makes it
// durable with its group commit, a registry upload deletes it): a closed
// named file (path), or an unnamed file still open (f, path "") that
// only a link can make visible.
type spoolPart struct {
	path string
	f    *os.File
	desc ocispec.Descriptor
}

// tempCreator creates a temporary file for a part: named (its path) or
// unnamed (path "", see openAnon).
type tempCreator func() (f *os.File, path string, err error)

// namedTemps creates named temporary files dir/prefix*.
func namedTemps(dir, prefix string) tempCreator {
	return func() (*os.File, string, error) {
		f, err := os.CreateTemp(dir, prefix+"*")
		if err != nil {
			return nil, "", err
		}
		return f, f.Name(), nil
	}
}

// spool reads r once into temporary files made by create, at most maxPart
// bytes each (0: unlimited), hashing each part and the whole. On error
// every temporary file is removed. The files are left read-only.
//
// A reader that implements io.WriterTo is asked to write itself into the
// spool (no copy through a buffer of ours); others are read through a
// pooled buffer.
//
// With direct, aligned whole-block writes bypass the page cache (O_DIRECT,
// see spooler.write).
func spool(ctx context.Context, create tempCreator, direct bool, mediaType string, r io.Reader, maxPart int64, annotations map[string]string) (whole ocispec.Descriptor, parts []spoolPart, err error) {
	sp := &spooler{ctx: ctx, create: create, direct: direct, mediaType: mediaType, maxPart: maxPart, annotations: annotations,
		wholeH: digest.SHA256.Hash()}
	defer func() {
		if sp.cur != nil {
			sp.cur.Close()
		}
		if err != nil {
			removeSpooled(sp.parts)
		}
	}()
	if wt, ok := r.(io.WriterTo); ok {
		_, err = wt.WriteTo(sp)
	} else {
		bp := getBuf()
		_, err = io.CopyBuffer(sp, onlyReader{r}, *bp)
		putBuf(bp)
	}
	if err != nil {
		var we *spoolWriteError
		if !errors.As(err, &we) && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("reading stream: %w", err)
		}
		return whole, nil, err
	}
	if len(sp.parts) == 0 {
		if err := sp.start(); err != nil {
			return whole, nil, err
		}
	}
	if err := sp.finish(); err != nil {
		return whole, nil, err
	}
	whole = ocispec.Descriptor{MediaType: mediaType, Digest: digest.NewDigest(digest.SHA256, sp.wholeH), Size: sp.total,
		Annotations: maps.Clone(annotations)}
	return whole, sp.parts, nil
}

// onlyReader hides every method but Read, so that io.CopyBuffer uses our
// buffer rather than a ReadFrom or WriteTo of the wrapped value.
type onlyReader struct{ io.Reader }

// spoolWriteError is a failure of the spool itself (not of the stream read).
type spoolWriteError struct{ err error }

func (e *spoolWriteError) Error() string { return e.err.Error() }
func (e *spoolWriteError) Unwrap() error { return e.err }

// spooler is the io.Writer spool writes the stream into. Every byte is
// hashed once for the whole stream; the first part's digest is the whole
// hash at the part boundary (hash.Hash.Sum does not change the state), so
// only the later parts of a split stream are hashed twice.
type spooler struct {
	ctx         context.Context
	create      tempCreator
	direct      bool // try O_DIRECT for aligned blocks
	mediaType   string
	maxPart     int64
	annotations map[string]string

	wholeH hash.Hash
	total  int64
	parts  []spoolPart
	cur    *os.File  // the part being written, nil between parts
	curH   hash.Hash // its own hash, for parts after the first
	curN   int64
	dioOn  bool // cur has O_DIRECT set
	dioBad bool // cur cannot do direct I/O; do not try again
}

func (s *spooler) Write(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		if s.cur == nil || s.maxPart > 0 && s.curN == s.maxPart {
			if err := s.finish(); err != nil {
				return n, &spoolWriteError{err}
			}
			if err := s.start(); err != nil {
				return n, &spoolWriteError{err}
			}
		}
		b := p
		if s.maxPart > 0 && int64(len(b)) > s.maxPart-s.curN {
			b = b[:s.maxPart-s.curN]
		}
		if err := s.write(b); err != nil {
			return n, &spoolWriteError{fmt.Errorf("writing %s: %w", s.cur.Name(), err)}
		}
		s.wholeH.Write(b)
		if s.curH != nil {
			s.curH.Write(b)
		}
		s.curN += int64(len(b))
		s.total += int64(len(b))
		n += len(b)
		p = p[len(b):]
	}
	return n, nil
}

// Direct I/O. A blob is written once and read on another machine, so a
// layout writes the whole aligned blocks of a large blob with O_DIRECT:
// no page cache pages to allocate and fill (the biggest kernel cost of a
// push), and no gigabyte of dirty pages left for the group commit's
// syncfs to write back at the end. Blocks that are not aligned (a small
// blob, the tail of a large one, a part boundary) go through the page
// cache, as does everything where the file system refuses O_DIRECT.
const (
	dioAlign = 4096     // buffer address, length and file offset; the largest logical block size in use
	dioMin   = 64 << 10 // smaller writes are not worth a switch
)

// write writes b to the current part, directly when it can.
func (s *spooler) write(b []byte) error {
	if s.direct && !s.dioBad {
		aligned := len(b) >= dioMin && len(b)%dioAlign == 0 && s.curN%dioAlign == 0 &&
			uintptr(unsafe.Pointer(unsafe.SliceData(b)))%dioAlign == 0
		if aligned != s.dioOn {
			if err := setDirectIO(s.cur, aligned); err != nil {
				s.dioBad = true
				if s.dioOn { // cannot switch back: the file is unusable
					return err
				}
			} else {
				s.dioOn = aligned
			}
		}
	}
	n, err := s.cur.Write(b)
	if err != nil && s.dioOn && errors.Is(err, syscall.EINVAL) {
		// The device wants a larger alignment: write through the cache.
		s.dioBad = true
		if err := setDirectIO(s.cur, false); err != nil {
			return err
		}
		s.dioOn = false
		_, err = s.cur.Write(b[n:])
	}
	return err
}

// start opens the next part's temporary file.
func (s *spooler) start() error {
	f, path, err := s.create()
	if err != nil {
		return err
	}
	s.cur, s.curN, s.curH, s.dioOn, s.dioBad = f, 0, nil, false, false
	if len(s.parts) > 0 {
		s.curH = digest.SHA256.Hash()
	}
	s.parts = append(s.parts, spoolPart{path: path,
		desc: ocispec.Descriptor{MediaType: s.mediaType, Annotations: maps.Clone(s.annotations)}})
	return nil
}

// finish makes the current part read-only, closes it if it is named (an
// unnamed one stays open for its link), and records its digest.
func (s *spooler) finish() error {
	if s.cur == nil {
		return nil
	}
	f := s.cur
	s.cur = nil
	last := &s.parts[len(s.parts)-1]
	if err := chmod(f, blobMode); err != nil {
		f.Close()
		return err
	}
	if last.path == "" {
		last.f = f
	} else if err := f.Close(); err != nil {
		return err
	}
	h := s.curH
	if h == nil {
		h = s.wholeH // the first part: the whole stream so far
	}
	last.desc.Digest = digest.NewDigest(digest.SHA256, h)
	last.desc.Size = s.curN
	return nil
}

// removeSpooled drops the temporary parts not placed: named ones are
// removed, unnamed ones closed (which frees them).
func removeSpooled(parts []spoolPart) {
	for _, p := range parts {
		if p.f != nil {
			p.f.Close()
		}
		if p.path != "" {
			os.Remove(p.path)
		}
	}
}

func partDescs(parts []spoolPart) []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, len(parts))
	for i, p := range parts {
		out[i] = p.desc
	}
	return out
}

func verifyWhole(opts IngestOptions, whole ocispec.Descriptor) error {
	if opts.Verify == nil {
		return nil
	}
	if err := opts.Verify(whole); err != nil {
		return fmt.Errorf("%s: rejected: %w", whole.Digest, err)
	}
	return nil
}

func (l *layout) ingest(ctx context.Context, mediaType string, r io.Reader, opts IngestOptions) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	whole, parts, err := spool(ctx, l.tempBlob("ingest-"), true, mediaType, r, opts.MaxPartSize, opts.Annotations)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("layout %s: ingesting: %w", l.root, err)
	}
	defer removeSpooled(parts) // what was not placed
	if err := verifyWhole(opts, whole); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	for i := range parts {
		target, err := l.blobPath(parts[i].desc.Digest)
		if err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		if err := l.place(&parts[i], target); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("layout %s: %w", l.root, err)
		}
	}
	return whole, partDescs(parts), nil
}
