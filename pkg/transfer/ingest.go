package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// maxArtifactsTOML caps how much of one Artifacts.toml is kept in memory.
const maxArtifactsTOML = 8 << 20

// scanResult is what one read of a tarball tells: its tree hashes and the
// Artifacts.toml files inside it (path → body).
type scanResult struct {
	hashes    treehash.TarHashes
	artifacts map[string][]byte
	// allArtifacts says artifacts holds every Artifacts.toml file (none was
	// over maxArtifactsTOML), so it may be recorded in the item manifest.
	allArtifacts bool
	err          error
}

// artifactsTOML is what bundle.Item.ArtifactsTOML records of a scan: every
// Artifacts.toml file, or nil when some were too large to keep.
func (s scanResult) artifactsTOML() map[string]string {
	if !s.allArtifacts {
		return nil
	}
	m := make(map[string]string, len(s.artifacts))
	for p, b := range s.artifacts {
		m[p] = string(b)
	}
	return m
}

// scan decompresses a tarball stream, checks Tar.jl's rules and computes its
// tree hashes, capturing Artifacts.toml bodies (bundle.IsArtifactsTOML:
// pkg-protocol.md §8.3, mirror what every one of them lists, since select
// hooks choose among them at install time) when wantArtifacts. It always
// reads r to its end, so a writer feeding it never blocks.
func scan(r io.Reader, wantArtifacts bool) scanResult {
	defer io.Copy(io.Discard, r)
	var res scanResult
	rc, _, err := tarx.Decompress(r)
	if err != nil {
		res.err = err
		return res
	}
	defer rc.Close()
	res.artifacts = map[string][]byte{}
	res.allArtifacts = wantArtifacts
	res.hashes, res.err = treehash.TarVisit(rc, func(e *treehash.Entry) io.Writer {
		if !wantArtifacts || e.Type != treehash.TypeFile || !bundle.IsArtifactsTOML(e.Path) {
			return nil
		}
		if e.Size > maxArtifactsTOML {
			delete(res.artifacts, e.Path)
			res.allArtifacts = false
			return nil
		}
		b := &bytes.Buffer{}
		res.artifacts[e.Path] = []byte{} // a later entry of the same path wins, as in the tree
		return writerFunc(func(p []byte) (int, error) {
			b.Write(p)
			res.artifacts[e.Path] = b.Bytes()
			return len(p), nil
		})
	})
	if res.err == nil {
		// Drain what follows the end-of-archive blocks (gzip trailer).
		_, res.err = io.Copy(io.Discard, rc)
	}
	return res
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// sniffMediaType peeks at a tarball's magic bytes and returns the layer media
// type it deserves, and a reader that still yields every byte.
func sniffMediaType(r io.Reader) (string, io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	c, _, err := tarx.Sniff(br)
	if err != nil {
		return "", nil, err
	}
	switch c {
	case tarx.Gzip:
		return bundle.MediaTypeTarGzip, br, nil
	case tarx.Zstd:
		return bundle.MediaTypeTarZstd, br, nil
	}
	return "", nil, upstream.BadContent(fmt.Errorf("not a gzip or zstd tarball (Pkg cannot read %v)", c))
}

// ingestChecked streams a tarball into dst once: the store hashes and
// writes each chunk while a second goroutine decompresses the same chunk,
// applies Tar.jl's rules and hashes the tree (a fanOut, so the two halves of
// the work run on two cores); check decides, before the blob becomes
// visible, whether the content is what was asked for. A tarball that fails
// never enters the store.
func ingestChecked(ctx context.Context, dst *store.Store, r io.Reader, maxPart int64, tempDir string,
	wantArtifacts bool, check func(treehash.TarHashes) error) (whole ocispec.Descriptor, parts []ocispec.Descriptor, res scanResult, err error) {
	mt, r, err := sniffMediaType(r)
	if err != nil {
		return whole, nil, res, err
	}
	fo := newFanOut(r)
	defer fo.release()
	done := make(chan scanResult, 1)
	go func() { done <- scan(fo.reader(), wantArtifacts) }()
	waited := false
	wait := func() scanResult {
		if !waited {
			res = <-done
			waited = true
		}
		return res
	}
	whole, parts, err = dst.Ingest(ctx, mt, fo, store.IngestOptions{
		MaxPartSize: maxPart,
		TempDir:     tempDir,
		Verify: func(ocispec.Descriptor) error {
			// The whole stream was read and stored: what fails now is
			// its content (a corrupt compressed stream, a tar entry
			// Tar.jl rejects, the wrong tree hash).
			fo.close(nil)
			s := wait()
			if s.err != nil {
				return upstream.BadContent(s.err)
			}
			return upstream.BadContent(check(s.hashes))
		},
	})
	fo.close(fmt.Errorf("ingest ended: %w", err))
	wait()
	return whole, parts, res, err
}

// fanOutChunk is the size of the chunks a fanOut reads: small enough to
// stay in a core's L2 cache between the store's pass and the scanner's.
const fanOutChunk = 256 << 10

// fanOutDepth is how many chunks one fanOut has in flight.
const fanOutDepth = 4

var fanOutChunks = sync.Pool{New: func() any { b := make([]byte, fanOutChunk); return &b }}

// fanOut gives every byte of a stream to two consumers without copying it
// between them: the store, which calls WriteTo (or Read), and a scanner
// goroutine reading from reader(). Each chunk read from the source goes to
// the scanner first, then to the store's writer in the calling goroutine,
// so the two work on it at the same time; the scanner recycles a chunk
// when it has read it (the store is done with it by then, since WriteTo
// only takes the next chunk after its writer returned).
type fanOut struct {
	src   io.Reader
	free  chan *[]byte    // chunks neither consumer holds
	toScn chan fanOutData // filled chunks, in order, for the scanner
	eof   bool            // the source is exhausted
	owned []*[]byte       // every chunk, returned to the pool by release
	rd    *fanOutReader   // the scanner's side

	mu     sync.Mutex // guards closed and err, and orders sends before the close
	closed bool
	err    error // why toScn was closed (nil: the stream ended)
}

// fanOutData is a filled chunk: its first n bytes.
type fanOutData struct {
	bp *[]byte
	n  int
}

func newFanOut(src io.Reader) *fanOut {
	f := &fanOut{src: src, free: make(chan *[]byte, fanOutDepth), toScn: make(chan fanOutData, fanOutDepth)}
	for range fanOutDepth {
		b := fanOutChunks.Get().(*[]byte)
		f.owned = append(f.owned, b)
		f.free <- b
	}
	f.rd = &fanOutReader{f: f}
	return f
}

// next reads the next chunk from the source and hands it to the scanner.
// It returns the chunk's bytes (valid until the scanner releases them) or
// io.EOF at the end of the stream.
func (f *fanOut) next(max int) ([]byte, error) {
	if f.eof {
		return nil, io.EOF
	}
	bp := <-f.free
	b := (*bp)[:min(max, len(*bp))]
	n, err := io.ReadAtLeast(f.src, b, len(b))
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		f.eof, err = true, nil
	}
	if err != nil {
		f.free <- bp
		return nil, err
	}
	if n == 0 {
		f.free <- bp
		return nil, io.EOF
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		f.free <- bp
		return nil, errors.New("reading a closed fan-out")
	}
	f.toScn <- fanOutData{bp, n} // never blocks: it has room for every chunk
	return (*bp)[:n], nil
}

// WriteTo writes the whole stream to w, chunk by chunk, while the scanner
// reads the same chunks.
func (f *fanOut) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		b, err := f.next(fanOutChunk)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, err := w.Write(b)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// Read is for stores that do not use WriteTo: it costs one more copy.
func (f *fanOut) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := f.next(len(p))
	if err != nil {
		return 0, err
	}
	return copy(p, b), nil
}

// close ends the scanner's stream: at its end (err nil) or with err. Only
// the first call counts.
func (f *fanOut) close(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed, f.err = true, err
		close(f.toScn)
	}
}

// release returns the chunks to the pool. Call it only after the scanner
// stopped reading and the store returned.
func (f *fanOut) release() {
	for _, b := range f.owned {
		fanOutChunks.Put(b)
	}
	f.owned = nil
}

func (f *fanOut) reader() io.Reader { return f.rd }

// fanOutReader is the scanner's side of a fanOut.
type fanOutReader struct {
	f   *fanOut
	cur []byte // unread rest of the chunk being read
	bp  *[]byte
}

func (r *fanOutReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.bp != nil {
			r.f.free <- r.bp
			r.bp = nil
		}
		d, ok := <-r.f.toScn
		if !ok {
			r.f.mu.Lock()
			err := r.f.err
			r.f.mu.Unlock()
			if err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		r.cur, r.bp = (*d.bp)[:d.n], d.bp
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}
