package ocigraph

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

func TestReadAll(t *testing.T) {
	data := []byte(`{"schemaVersion":2}`)
	d := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	got, err := ReadAll(bytes.NewReader(data), d)
	if err != nil || !bytes.Equal(got, data) || cap(got) != len(data) {
		t.Fatalf("ReadAll = %q (cap %d), %v; want the bytes in an exact buffer", got, cap(got), err)
	}
	for _, tt := range []struct {
		name string
		in   []byte
		d    ocispec.Descriptor
		want error
	}{
		{"short", data[:5], d, io.ErrUnexpectedEOF},
		{"empty", nil, d, io.ErrUnexpectedEOF},
		{"longer", append(bytes.Clone(data), 'x'), d, content.ErrTrailingData},
		{"other bytes", bytes.ToUpper(data), d, content.ErrMismatchedDigest},
		{"negative size", data, ocispec.Descriptor{Digest: d.Digest, Size: -1}, content.ErrInvalidDescriptorSize},
	} {
		if _, err := ReadAll(bytes.NewReader(tt.in), tt.d); !errors.Is(err, tt.want) {
			t.Errorf("%s: ReadAll = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestPlainSuccessors(t *testing.T) {
	h := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	b := []byte(`{"schemaVersion":2,"subject":{"mediaType":"m","digest":"` + h("a") + `","size":1},
	"config":{"mediaType":"c","digest":"` + h("b") + `","size":2,"annotations":{"k":"v"}},
	"layers":[{"mediaType":"l","digest":"` + h("c") + `","size":3,"urls":["u"]}],
	"manifests":[{"mediaType":"i","digest":"` + h("d") + `","size":4,"artifactType":"t","annotations":{"x":"y"}}]}`)
	full, fs, err := Successors(b)
	if err != nil {
		t.Fatal(err)
	}
	plain, ps, err := PlainSuccessors(b)
	if err != nil || ps != fs || len(plain) != len(full) || !ps {
		t.Fatalf("PlainSuccessors = %v, %v, %v; Successors %v", plain, ps, err, full)
	}
	for i := range full {
		want := ocispec.Descriptor{MediaType: full[i].MediaType, Digest: full[i].Digest, Size: full[i].Size, ArtifactType: full[i].ArtifactType}
		if !reflect.DeepEqual(plain[i], want) {
			t.Errorf("edge %d = %+v, want %+v", i, plain[i], want)
		}
	}
	if _, _, err := PlainSuccessors([]byte(`{"layers":[{"digest":"sha256:zz"}]}`)); err == nil {
		t.Error("PlainSuccessors accepted an invalid digest")
	}
}

// VerifyReader gives oras' VerifyReader's answers, for sha256 and (through
// oras) other algorithms.
func TestVerifyReader(t *testing.T) {
	data := bytes.Repeat([]byte("shoebox "), 9000)
	for _, alg := range []digest.Algorithm{digest.SHA256} {
		d := ocispec.Descriptor{Digest: alg.FromBytes(data), Size: int64(len(data))}
		for _, tt := range []struct {
			name string
			in   []byte
			want error
		}{
			{"exact", data, nil},
			{"short", data[:len(data)-1], io.ErrUnexpectedEOF},
			{"longer", append(bytes.Clone(data), 'x'), content.ErrTrailingData},
			{"flipped", append([]byte{'S'}, data[1:]...), content.ErrMismatchedDigest},
		} {
			for _, impl := range []string{"ours", "oras"} {
				var r interface {
					io.Reader
					Verify() error
				}
				if impl == "ours" {
					r = NewVerifyReader(bytes.NewReader(tt.in), d)
				} else {
					r = content.NewVerifyReader(bytes.NewReader(tt.in), d)
				}
				n, err := io.Copy(io.Discard, r)
				if err == nil {
					err = r.Verify()
				}
				if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
					t.Errorf("%s %s %s: %d bytes, %v; want %v", alg, tt.name, impl, n, err, tt.want)
				}
			}
		}
		early := NewVerifyReader(bytes.NewReader(data), d)
		if err := early.Verify(); err == nil {
			t.Errorf("%s: Verify before reading = nil", alg)
		}
	}
}
