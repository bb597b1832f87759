package tarx

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
)

// verifyAtEOF stands for a bundle item's reader: it fails at EOF unless
// the bytes it gave are the ones expected, so a consumer that stops before
// EOF never learns of a changed byte.
type verifyAtEOF struct {
	r    *bytes.Reader
	want []byte
	got  bytes.Buffer
}

var errDigest = errors.New("digest mismatch")

func (v *verifyAtEOF) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.got.Write(p[:n])
	if err == io.EOF && !bytes.Equal(v.got.Bytes(), v.want) {
		return n, errDigest
	}
	return n, err
}

// TestReadTarball_ReadsToEOF: ReadTarball reads its input to the end, so
// a reader that verifies at EOF has verified before ReadTarball returns,
// and a byte changed in the gzip trailer is an error, not a silent pass.
func TestReadTarball_ReadsToEOF(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFS(&b, fstest.MapFS{"Registry.toml": {Data: []byte("name = \"General\"\n")}}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0x01 // the last byte of the gzip trailer (ISIZE)

	v := &verifyAtEOF{r: bytes.NewReader(good), want: good}
	fsys, err := ReadTarball(v, Limits{})
	if err != nil {
		t.Fatalf("ReadTarball(good) = %v", err)
	}
	if v.r.Len() != 0 {
		t.Errorf("ReadTarball left %d bytes unread", v.r.Len())
	}
	if data, err := fs.ReadFile(fsys, "Registry.toml"); err != nil || string(data) != "name = \"General\"\n" {
		t.Fatalf("Registry.toml = %q, %v", data, err)
	}
	if _, err := ReadTarball(&verifyAtEOF{r: bytes.NewReader(bad), want: good}, Limits{}); err == nil {
		t.Fatal("ReadTarball of a tarball with a changed trailer = nil error")
	}
}
