package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"oras.land/oras-go/v2/content"
)

var errClosed = errors.New("reader closed")

// Open returns the tarball of e as one stream: its parts concatenated in
// order, each part verified against its digest and size while streaming
// and the whole tarball verified at the end. A mismatch is returned by
// Read (wrapping ErrIntegrity and naming the item), never silently: the
// final Read returns io.EOF only after everything verified. The stream
// holds ctx for its lifetime. The caller must Close it.
//
// If e.Layers is empty (an Entry built by hand from a descriptor) the item
// manifest is fetched first to learn the layers.
func Open(ctx context.Context, src content.Fetcher, e Entry) (io.ReadCloser, error) {
	return NewReader(ctx, src, e)
}

// Reader is a seekable view of an item's tarball over its parts, for
// serving HEAD and Range requests (http.ServeContent). Reading from offset
// 0 straight to the end verifies as Open does; after a Seek to any other
// offset the bytes are not verified (a partial read cannot be), so serve
// only bundles that Check passed. Seeking is cheap when the store's
// fetched readers implement io.Seeker (OCI layout files, and registry
// blobs on servers that support ranges); otherwise the skipped bytes are
// read and discarded. A Reader is not safe for concurrent use.
type Reader struct {
	ctx    context.Context
	src    content.Fetcher
	item   Item
	layers []ocispec.Descriptor
	offs   []int64 // offs[i] is the offset of part i in the whole
	size   int64

	pos    int64
	verify bool            // reading sequentially from 0: verify
	whole  digest.Verifier // whole-tarball verifier when split and verifying
	part   int             // index of the part cur reads
	cur    io.ReadCloser   // current part's fetched reader, nil if none
	r      io.Reader       // what Read reads: cur verified, or limited
	vr     *content.VerifyReader
	err    error // sticky error
}

// NewReader returns a Reader over e's tarball, positioned at 0. See Open
// for e.Layers.
func NewReader(ctx context.Context, src content.Fetcher, e Entry) (*Reader, error) {
	it := e.Item
	if len(it.Layers) == 0 {
		var err error
		if it, err = loadManifest(ctx, src, e.Manifest); err != nil {
			return nil, err
		}
	}
	whole := it.Whole
	if whole.Digest == "" && len(it.Layers) == 1 {
		whole = it.Layers[0]
	}
	if err := ocigraph.ValidateDigest(whole.Digest); err != nil {
		return nil, formatErrorf("%s: whole digest %q: %v", it, whole.Digest, err)
	}
	r := &Reader{ctx: ctx, src: src, item: it, layers: it.Layers, size: whole.Size, verify: true}
	var sum int64
	for i, l := range it.Layers {
		if l.Size < 0 || (len(it.Layers) > 1 && l.Size == 0) || ocigraph.ValidateDigest(l.Digest) != nil {
			return nil, formatErrorf("%s: part %d: bad descriptor", it, i)
		}
		r.offs = append(r.offs, sum)
		sum += l.Size
	}
	if sum != whole.Size {
		return nil, formatErrorf("%s: parts add up to %d bytes, whole is %d", it, sum, whole.Size)
	}
	it.Whole = whole
	r.item.Whole = whole
	r.reset()
	return r, nil
}

// Size is the size of the whole tarball.
func (r *Reader) Size() int64 { return r.size }

// reset starts verification afresh (position 0).
func (r *Reader) reset() {
	r.verify = true
	r.whole = nil
	if len(r.layers) > 1 {
		r.whole = r.item.Whole.Digest.Verifier()
	}
}

func (r *Reader) fail(i int, err error) error {
	desc := ""
	if i >= 0 && i < len(r.layers) {
		if len(r.layers) > 1 {
			desc = fmt.Sprintf(": part %d/%d %s", i+1, len(r.layers), r.layers[i].Digest)
		} else {
			desc = ": " + r.layers[i].Digest.String()
		}
	}
	r.err = fmt.Errorf("%s%s: %w", r.item, desc, err)
	return r.err
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		if r.cur == nil {
			if r.pos >= r.size {
				return 0, r.finish()
			}
			if err := r.openPart(); err != nil {
				return 0, err
			}
		}
		n, err := r.r.Read(p)
		r.pos += int64(n)
		if r.verify && r.whole != nil {
			r.whole.Write(p[:n])
		}
		if n > 0 && (err == nil || err == io.EOF) {
			return n, nil // an EOF comes back on the next call
		}
		switch {
		case err == io.EOF:
			if r.vr != nil {
				if verr := r.vr.Verify(); verr != nil {
					return 0, r.fail(r.part, fmt.Errorf("%w: %w", ErrIntegrity, verr))
				}
			} else if r.pos != r.offs[r.part]+r.layers[r.part].Size {
				return 0, r.fail(r.part, fmt.Errorf("%w: %w", ErrIntegrity, io.ErrUnexpectedEOF))
			}
			r.closePart()
		case err != nil:
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) {
				err = fmt.Errorf("%w: %w", ErrIntegrity, err)
			}
			return n, r.fail(r.part, err)
		}
	}
}

// finish is called at the end of the whole tarball.
func (r *Reader) finish() error {
	if r.verify && r.size == 0 && r.layers[0].Digest != digest.FromBytes(nil) {
		return r.fail(0, fmt.Errorf("%w: %w", ErrIntegrity, content.ErrMismatchedDigest))
	}
	if r.verify && r.whole != nil && !r.whole.Verified() {
		return r.fail(-1, fmt.Errorf("whole tarball %s: %w: %w", r.item.Whole.Digest, ErrIntegrity, content.ErrMismatchedDigest))
	}
	return io.EOF
}

// openPart fetches the part holding r.pos and positions it.
func (r *Reader) openPart() error {
	i := len(r.layers) - 1
	for i > 0 && r.offs[i] > r.pos {
		i--
	}
	r.part = i
	l := r.layers[i]
	rc, err := r.src.Fetch(r.ctx, l)
	if err != nil {
		return r.fail(i, err)
	}
	r.cur = rc
	within := r.pos - r.offs[i]
	if within > 0 {
		if s, ok := rc.(io.Seeker); ok {
			_, err = s.Seek(within, io.SeekStart)
		} else {
			_, err = io.CopyN(io.Discard, rc, within)
		}
		if err != nil {
			return r.fail(i, err)
		}
	}
	if r.verify {
		r.vr = content.NewVerifyReader(rc, l)
		r.r = r.vr
	} else {
		r.vr = nil
		r.r = io.LimitReader(rc, l.Size-within)
	}
	return nil
}

func (r *Reader) closePart() {
	if r.cur != nil {
		r.cur.Close()
	}
	r.cur, r.r, r.vr = nil, nil, nil
}

// Seek implements io.Seeker. Seeking to 0 restarts verification; seeking
// anywhere else ends it for this Reader.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	if errors.Is(r.err, errClosed) {
		return 0, r.err
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("bundle.Reader.Seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("bundle.Reader.Seek: negative position")
	}
	if abs == r.pos && r.err == nil {
		return abs, nil
	}
	r.closePart()
	r.err = nil
	r.pos = abs
	if abs == 0 {
		r.reset()
	} else {
		r.verify = false
		r.whole = nil
	}
	return abs, nil
}

// Close releases the current part. Reads after Close fail.
func (r *Reader) Close() error {
	r.closePart()
	r.err = errClosed
	return nil
}
