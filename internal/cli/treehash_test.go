package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

type treehashEnt struct {
	name, body, link string
	typ              byte
	mode             int64
}

func treehashTar(t *testing.T, ents []treehashEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Linkname: e.link}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

func runTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &Factory{
		Streams: Streams{In: strings.NewReader(""), Out: &out, Err: &errb},
		Now:     func() time.Time { return time.Unix(0, 0) },
		Getenv:  func(string) string { return "" },
	}
	code = run(context.Background(), f, args)
	return code, out.String(), errb.String()
}

func Test_runTreehash(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// pkg-protocol §13.1 vector 10: keep-empty and skip-empty differ.
	v10 := treehashTar(t, []treehashEnt{
		{name: "./path", body: "first", typ: tar.TypeReg, mode: 0o644},
		{name: "path", body: "second", typ: tar.TypeReg, mode: 0o755},
		{name: "empty/inner/", typ: tar.TypeDir, mode: 0o755},
	})
	plain := write("v10.tar", v10)
	gz := write("v10.tgz", gzipped(t, v10))
	zst := write("v10.bin", zstded(t, v10)) // the name says nothing
	tree := filepath.Join(dir, "tree")
	write("tree/foo", []byte("Hello, world!"))
	if err := os.MkdirAll(filepath.Join(tree, "empty", "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	evil := write("evil.tar.gz", gzipped(t, treehashTar(t, []treehashEnt{
		{name: "ok", body: "x", typ: tar.TypeReg, mode: 0o644},
		{name: "../escape", body: "x", typ: tar.TypeReg, mode: 0o644},
	})))
	const (
		v10Skip  = "62035ed5dfc423b24fa19122bf2e018b66525d73"
		v10Keep  = "2fe4ced8d09e7e4e9d0339a623b89be3947612e4"
		fooSkip  = "339aad93c0f854604248ea3b7c5b7edea20625a9"
		empty256 = "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
	)

	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{"tar", []string{"treehash", plain}, 0, v10Skip + "\n", ""},
		{"tar keep-empty", []string{"treehash", "--keep-empty", plain}, 0, v10Keep + "\n", ""},
		{"gzip", []string{"treehash", gz}, 0, v10Skip + "\n", ""},
		{"gzip keep-empty", []string{"treehash", gz, "--keep-empty"}, 0, v10Keep + "\n", ""},
		{"zstd sniffed", []string{"treehash", "--keep-empty", zst}, 0, v10Keep + "\n", ""},
		{"directory", []string{"treehash", tree}, 0, fooSkip + "\n", ""},
		// git mktree: foo + empty/inner as an empty tree
		{"directory keep-empty", []string{"treehash", "--keep-empty", tree}, 0, "8d0681d9cedbe8cb83706bc1ca503f4d0d37b1f0\n", ""},
		{"sha256", []string{"treehash", "--algorithm", "git-sha256", filepath.Join(tree, "empty")}, 0, empty256 + "\n", ""},
		{"bad flag", []string{"treehash", "--nope", plain}, 2, "", "unknown flag: --nope"},
		{"bad algorithm", []string{"treehash", "--algorithm", "md5", plain}, 2, "", `--algorithm "md5"`},
		{"no path", []string{"treehash"}, 2, "", "exactly one PATH"},
		{"two paths", []string{"treehash", plain, gz}, 2, "", "exactly one PATH"},
		{"dotdot", []string{"treehash", evil}, 3, "", `tar entry "../escape": path contains '..' component`},
		{"missing", []string{"treehash", filepath.Join(dir, "missing")}, 4, "", "no such file"},
		{"not a tar", []string{"treehash", write("junk", []byte(strings.Repeat("junk", 200)))}, 3, "", "not a tar stream: invalid version field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runTest(t, tt.args...)
			if code != tt.code || stdout != tt.stdout {
				t.Errorf("run(%q) = %d, stdout %q, want %d, %q; stderr:\n%s", tt.args, code, stdout, tt.code, tt.stdout, stderr)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("run(%q) stderr = %q, want it to contain %q", tt.args, stderr, tt.stderrHas)
			}
		})
	}
}
