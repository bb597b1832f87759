package tarx

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/zstd"
)

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	must(t, err)
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

func TestSniff(t *testing.T) {
	t.Parallel()
	tarball := writeTarBytes(t, smallTree(), WriteOptions{})
	tests := []struct {
		name string
		in   []byte
		want Compression
	}{
		{"empty", nil, None},
		{"one byte", []byte{0x1f}, None},
		{"tar", tarball, None},
		{"gzip", gzipped(t, tarball), Gzip},
		{"zstd", zstdBytes(t, tarball), Zstd},
		{"zstd skippable frame", append([]byte{0x5e, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}, zstdBytes(t, tarball)...), Zstd},
		{"bzip2", []byte("BZh91AY&SY"), Bzip2},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 4}, Xz},
		{"lz4", []byte{0x04, 0x22, 0x4d, 0x18, 0x64}, Lz4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One byte at a time: Sniff must still see the whole magic.
			c, r, err := Sniff(iotest.OneByteReader(bytes.NewReader(tt.in)))
			if err != nil || c != tt.want {
				t.Fatalf("Sniff() = %v, %v, want %v", c, err, tt.want)
			}
			rest, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(rest, tt.in) {
				t.Errorf("Sniff consumed input: got %d bytes back, want %d", len(rest), len(tt.in))
			}
		})
	}
}

func TestSniff_ReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	if _, _, err := Sniff(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("Sniff(failing reader) = %v, want %v", err, boom)
	}
}

func TestDecompress(t *testing.T) {
	t.Parallel()
	tarball := writeTarBytes(t, smallTree(), WriteOptions{})
	half := len(tarball) / 2
	multi := append(gzipped(t, tarball[:half]), gzipped(t, tarball[half:])...)
	tests := []struct {
		name string
		in   []byte
		want Compression
	}{
		{"none", tarball, None},
		{"gzip", gzipped(t, tarball), Gzip},
		{"gzip multi-member", multi, Gzip},
		{"zstd", zstdBytes(t, tarball), Zstd},
		{"zstd two frames", append(zstdBytes(t, tarball[:half]), zstdBytes(t, tarball[half:])...), Zstd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc, c, err := Decompress(bytes.NewReader(tt.in))
			if err != nil || c != tt.want {
				t.Fatalf("Decompress() = %v, %v, want %v", c, err, tt.want)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, tarball) {
				t.Errorf("Decompress() read %d bytes, %v, want the %d-byte tar", len(got), err, len(tarball))
			}
		})
	}
}

func TestDecompress_Errors(t *testing.T) {
	t.Parallel()
	for _, in := range [][]byte{[]byte("BZh91AY&SY"), {0xfd, '7', 'z', 'X', 'Z', 0}, {0x04, 0x22, 0x4d, 0x18}} {
		_, c, err := Decompress(bytes.NewReader(in))
		if !errors.Is(err, ErrUnsupportedCompression) || !strings.Contains(err.Error(), c.String()) {
			t.Errorf("Decompress(%s) = %v, want ErrUnsupportedCompression naming it", c, err)
		}
	}
	// Corrupt gzip: the header is recognised, the body fails on read.
	gz := gzipped(t, writeTarBytes(t, smallTree(), WriteOptions{}))
	gz[len(gz)-5] ^= 0xff // CRC
	rc, _, err := Decompress(bytes.NewReader(gz))
	must(t, err)
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("reading a gzip stream with a bad CRC succeeded")
	}
	if _, _, err := Decompress(bytes.NewReader([]byte{0x1f, 0x8b, 0})); err == nil {
		t.Error("Decompress(truncated gzip header) = nil error")
	}
}

func TestCompression_String(t *testing.T) {
	t.Parallel()
	want := []string{"none", "gzip", "zstd", "bzip2", "xz", "lz4", "Compression(99)"}
	for i, c := range []Compression{None, Gzip, Zstd, Bzip2, Xz, Lz4, 99} {
		if c.String() != want[i] {
			t.Errorf("Compression(%d).String() = %q, want %q", int(c), c.String(), want[i])
		}
	}
}
