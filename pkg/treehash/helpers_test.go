package treehash

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ent describes one tree entry for tests: a file (typ '0'), directory
// ('5'), symlink ('2') or hard link ('1'), by slash path.
type ent struct {
	path string
	typ  byte
	body string
	exec bool
	link string
}

func file(p, body string) ent      { return ent{path: p, typ: '0', body: body} }
func exe(p, body string) ent       { return ent{path: p, typ: '0', body: body, exec: true} }
func dir(p string) ent             { return ent{path: p, typ: '5'} }
func symlink(p, target string) ent { return ent{path: p, typ: '2', link: target} }
func hardlink(p, target string) ent {
	return ent{path: p, typ: '1', link: target}
}

// writeTree creates ents below a new temporary directory and returns it.
func writeTree(t testing.TB, ents []ent) string {
	t.Helper()
	root := t.TempDir()
	for _, e := range ents {
		p := filepath.Join(root, filepath.FromSlash(e.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch e.typ {
		case '0':
			mode := os.FileMode(0o644)
			if e.exec {
				mode = 0o755
			}
			if err := os.WriteFile(p, []byte(e.body), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil { // umask
				t.Fatal(err)
			}
		case '5':
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case '2':
			if err := os.Symlink(e.link, p); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("writeTree: type %q", e.typ)
		}
	}
	return root
}

// tarOf writes ents as a tar stream with archive/tar, in the given order.
func tarOf(t testing.TB, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.path, Typeflag: e.typ, Mode: 0o644, Format: tar.FormatPAX}
		switch e.typ {
		case '0':
			h.Size = int64(len(e.body))
			if e.exec {
				h.Mode = 0o755
			}
		case '5':
			h.Mode = 0o755
		case '1':
			h.Linkname = e.link
			if e.exec {
				h.Mode = 0o755
			}
		case '2':
			h.Linkname = e.link
			h.Mode = 0o755
		default:
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.path, err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}
