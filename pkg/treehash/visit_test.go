package treehash

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
)

func TestTarVisit(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	add("foo1", "Hello")
	add("sub/Artifacts.toml", "x = 1\n")
	add("foo2", "world!")
	tw.Close()

	got := map[string]*bytes.Buffer{}
	var seen []string
	h, err := TarVisit(bytes.NewReader(buf.Bytes()), func(e *Entry) io.Writer {
		seen = append(seen, e.Path)
		if e.Path == "sub/Artifacts.toml" {
			got[e.Path] = &bytes.Buffer{}
			return got[e.Path]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Tar(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if h != plain {
		t.Errorf("TarVisit hashes = %v, want %v (same as Tar)", h, plain)
	}
	if want := "foo1 sub/Artifacts.toml foo2"; joinPaths(seen) != want {
		t.Errorf("visited %q, want %q", joinPaths(seen), want)
	}
	if b := got["sub/Artifacts.toml"]; b == nil || b.String() != "x = 1\n" {
		t.Errorf("captured body = %v, want %q", b, "x = 1\n")
	}
}

func joinPaths(p []string) string {
	s := ""
	for i, x := range p {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s
}
