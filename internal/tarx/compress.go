package tarx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is the compression of a tarball, as told by its magic bytes.
type Compression int

// The compressions Sniff recognises. Pkg accepts None (a bare tar), Gzip and,
// on Julia 1.13 and later, Zstd; the others are recognised only so that
// Decompress can name them in its error.
const (
	None Compression = iota
	Gzip
	Zstd
	Bzip2
	Xz
	Lz4
)

// String returns the usual name of the compression ("none", "gzip", ...).
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	case Bzip2:
		return "bzip2"
	case Xz:
		return "xz"
	case Lz4:
		return "lz4"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// ErrUnsupportedCompression is wrapped by Decompress for bzip2, xz and lz4
// streams, which Pkg cannot read from a server either.
var ErrUnsupportedCompression = errors.New("unsupported compression")

// zstdMaxWindow bounds the memory a zstd frame may ask for: 128 MiB, the
// window of `zstd --ultra -22`, the largest the reference encoder uses
// without --long.
const zstdMaxWindow = 128 << 20

var magics = []struct {
	c     Compression
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Bzip2, []byte("BZh")},
	{Xz, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{Lz4, []byte{0x04, 0x22, 0x4d, 0x18}},
}

// Sniff reports the compression of the stream r by its first bytes, without
// consuming them: read the stream from the returned reader, not from r. A
// stream too short for any magic, empty included, is None.
func Sniff(r io.Reader) (Compression, io.Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 16 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return None, br, err
	}
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.c, br, nil
		}
	}
	// A zstd stream may begin with a skippable frame (0x184D2A50-5F).
	if len(head) >= 4 && head[0]&0xf0 == 0x50 && head[1] == 0x2a && head[2] == 0x4d && head[3] == 0x18 {
		return Zstd, br, nil
	}
	return None, br, nil
}

// Decompress returns the uncompressed tar stream of r: gunzipped (every
// member of a multi-member file), zstd-decoded (frames up to a 128 MiB
// window), or r itself when it is not compressed. It does not check that
// the result is a tar. The caller must Close the returned reader; closing
// it does not close r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	c, br, err := Sniff(r)
	if err != nil {
		return nil, c, err
	}
	switch c {
	case None:
		return io.NopCloser(br), c, nil
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("gzip: %w", err)
		}
		return zr, c, nil
	case Zstd:
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, c, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), c, nil
	}
	return nil, c, fmt.Errorf("%s: %w (Pkg reads gzip, zstd or plain tar)", c, ErrUnsupportedCompression)
}
