package tarx

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

// smallTree is the fixed tree of the golden test: nested dirs, an empty dir,
// an executable, a symlink, names that sort differently per directory than
// as whole paths ("a/…" before "a.txt"), a long path and a long link.
func smallTree() fstest.MapFS {
	long := strings.Repeat("d", 60) + "/" + strings.Repeat("e", 60) + "/" + strings.Repeat("f", 30)
	return fstest.MapFS{
		"a/b/f":                                  {Data: []byte("hi\n"), Mode: 0o644},
		"a.txt":                                  {Data: []byte("x\n"), Mode: 0o600},
		"empty/inner":                            {Mode: fs.ModeDir | 0o700},
		"run.sh":                                 {Data: []byte("#!/bin/sh\necho ok\n"), Mode: 0o744},
		"link":                                   {Data: []byte("a.txt"), Mode: fs.ModeSymlink | 0o777},
		"longlink":                               {Data: []byte(strings.Repeat("../x/", 30)), Mode: fs.ModeSymlink | 0o777},
		long:                                     {Data: bytes.Repeat([]byte("z"), 700), Mode: 0o644},
		"big/" + strings.Repeat("g", 120) + "/h": {Data: []byte("deep"), Mode: 0o644},
	}
}

type tarEntry struct {
	Name     string
	Type     byte
	Mode     int64
	Size     int64
	Linkname string
}

func listTar(t *testing.T, b []byte) []tarEntry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("archive/tar: %v", err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.ModTime.Unix() != 0 {
			t.Errorf("%s: uid %d gid %d uname %q gname %q mtime %v, want zeros", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		out = append(out, tarEntry{h.Name, h.Typeflag, h.Mode, h.Size, h.Linkname})
	}
}

func writeTarBytes(t testing.TB, fsys fs.FS, opts WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTar(&buf, fsys, opts); err != nil {
		t.Fatalf("WriteTar() = %v", err)
	}
	return buf.Bytes()
}

func TestWriteTar_Layout(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("d", 60) + "/" + strings.Repeat("e", 60) + "/" + strings.Repeat("f", 30)
	deep := "big/" + strings.Repeat("g", 120)
	want := []tarEntry{
		{"a", '5', 0o755, 0, ""},
		{"a/b", '5', 0o755, 0, ""},
		{"a/b/f", '0', 0o644, 3, ""},
		{"a.txt", '0', 0o644, 2, ""},
		{"big", '5', 0o755, 0, ""},
		{deep, '5', 0o755, 0, ""},
		{deep + "/h", '0', 0o644, 4, ""},
		{strings.Repeat("d", 60), '5', 0o755, 0, ""},
		{strings.Repeat("d", 60) + "/" + strings.Repeat("e", 60), '5', 0o755, 0, ""},
		{long, '0', 0o644, 700, ""},
		{"empty", '5', 0o755, 0, ""},
		{"empty/inner", '5', 0o755, 0, ""},
		{"link", '2', 0o755, 0, "a.txt"},
		{"longlink", '2', 0o755, 0, strings.Repeat("../x/", 30)},
		{"run.sh", '0', 0o755, 18, ""},
	}
	got := listTar(t, writeTarBytes(t, smallTree(), WriteOptions{}))
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestWriteTar_HeaderBytes(t *testing.T) {
	t.Parallel()
	b := writeTarBytes(t, fstest.MapFS{"foo": {Data: []byte("Hello, world!")}}, WriteOptions{})
	if len(b) != 1024 {
		t.Fatalf("len = %d, want 1024 (header + one data block, no end blocks)", len(b))
	}
	h := b[:512]
	fields := []struct {
		name     string
		from, to int
		want     string
	}{
		{"name", 0, 100, "foo" + strings.Repeat("\x00", 97)},
		{"mode", 100, 108, "000644 \x00"},
		{"uid", 108, 116, "000000 \x00"},
		{"gid", 116, 124, "000000 \x00"},
		{"size", 124, 136, "00000000015 "},
		{"mtime", 136, 148, "00000000000 "},
		{"typeflag", 156, 157, "0"},
		{"magic+version", 257, 265, "ustar\x0000"},
		{"uname+gname", 265, 329, strings.Repeat("\x00", 64)},
		{"devmajor", 329, 337, "000000 \x00"},
		{"devminor", 337, 345, "000000 \x00"},
		{"prefix+pad", 345, 512, strings.Repeat("\x00", 167)},
	}
	for _, f := range fields {
		if got := string(h[f.from:f.to]); got != f.want {
			t.Errorf("%s = %q, want %q", f.name, got, f.want)
		}
	}
	sum := 0
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	if got, want := string(h[148:156]), strings.Repeat("0", 6-len(octal(sum)))+octal(sum)+"\x00 "; got != want {
		t.Errorf("chksum = %q, want %q", got, want)
	}
	if got := string(b[512 : 512+13]); got != "Hello, world!" {
		t.Errorf("data = %q", got)
	}
}

func octal(n int) string {
	s := ""
	for ; n > 0; n /= 8 {
		s = string(rune('0'+n%8)) + s
	}
	return s
}

func TestWriteTar_EmptyTree(t *testing.T) {
	t.Parallel()
	for _, opts := range []WriteOptions{{}, {SkipEmptyDirs: true}} {
		got := listTar(t, writeTarBytes(t, fstest.MapFS{}, opts))
		want := []tarEntry{{".", '5', 0o755, 0, ""}}
		if len(got) != 1 || got[0] != want[0] {
			t.Errorf("opts %+v: got %v, want %v", opts, got, want)
		}
	}
	// Only empty directories: skipped entirely, leaving the root entry.
	got := listTar(t, writeTarBytes(t, fstest.MapFS{"x/y": {Mode: fs.ModeDir}}, WriteOptions{SkipEmptyDirs: true}))
	if len(got) != 1 || got[0].Name != "." {
		t.Errorf("empty dirs with SkipEmptyDirs: got %v, want just \".\"", got)
	}
}

func TestWriteTar_Options(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		".git/config":      {Data: []byte("[core]")},
		"sub/.git":         {Data: []byte("gitdir: ../x")},
		"sub/keep":         {Data: []byte("k")},
		"sub/void/deeper":  {Mode: fs.ModeDir | 0o755},
		"only-empty/inner": {Mode: fs.ModeDir | 0o755},
		"withlink/l":       {Data: []byte("nowhere"), Mode: fs.ModeSymlink},
	}
	names := func(opts WriteOptions) string {
		var n []string
		for _, e := range listTar(t, writeTarBytes(t, fsys, opts)) {
			n = append(n, e.Name)
		}
		return strings.Join(n, " ")
	}
	tests := []struct {
		opts WriteOptions
		want string
	}{
		{WriteOptions{}, ".git .git/config only-empty only-empty/inner sub sub/.git sub/keep sub/void sub/void/deeper withlink withlink/l"},
		{WriteOptions{ExcludeGit: true}, "only-empty only-empty/inner sub sub/keep sub/void sub/void/deeper withlink withlink/l"},
		{WriteOptions{SkipEmptyDirs: true}, ".git .git/config sub sub/.git sub/keep withlink withlink/l"},
		{WriteOptions{ExcludeGit: true, SkipEmptyDirs: true}, "sub sub/keep withlink withlink/l"},
	}
	for _, tt := range tests {
		if got := names(tt.opts); got != tt.want {
			t.Errorf("WriteTar(%+v) entries = %q, want %q", tt.opts, got, tt.want)
		}
	}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestWriteFS_Deterministic(t *testing.T) {
	t.Parallel()
	var a, b bytes.Buffer
	if err := WriteFS(&a, smallTree(), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFS(&b, smallTree(), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if sha(a.Bytes()) != sha(b.Bytes()) {
		t.Fatalf("two writes differ: %s vs %s", sha(a.Bytes()), sha(b.Bytes()))
	}
	// The same tree on disk, with other permission bits and mtimes, gives
	// the same bytes.
	dir := t.TempDir()
	materialise(t, dir, smallTree())
	var c bytes.Buffer
	if err := WriteDir(&c, dir, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if sha(c.Bytes()) != sha(a.Bytes()) {
		t.Errorf("WriteDir = %s, WriteFS = %s, want equal", sha(c.Bytes()), sha(a.Bytes()))
	}
}

// Golden values: a change here means every tarball shoebox writes changes
// digest. The tar value is Tar.jl's format and must never change; the gzip
// value may change only with a deliberate compressor upgrade.
const (
	goldenTarSHA256  = "00fbc15a65865ca78d96dd3130165a0e56a6df492e7fde22c0ce6dbb2fa1aaff"
	goldenGzipSHA256 = "79f399cc4653ebe17984bb37b88965a4de17692465a43720bf9e65bcb277f6f0"
)

func TestWriteFS_Golden(t *testing.T) {
	t.Parallel()
	if got := sha(writeTarBytes(t, smallTree(), WriteOptions{})); got != goldenTarSHA256 {
		t.Errorf("WriteTar sha256 = %s, want %s", got, goldenTarSHA256)
	}
	var buf bytes.Buffer
	if err := WriteFS(&buf, smallTree(), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := sha(buf.Bytes()); got != goldenGzipSHA256 {
		t.Errorf("WriteFS sha256 = %s, want %s", got, goldenGzipSHA256)
	}
	h := buf.Bytes()[:10]
	if want := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}; !bytes.Equal(h, want) {
		t.Errorf("gzip header = % x, want % x", h, want)
	}
}

func TestWriteFS_Level(t *testing.T) {
	t.Parallel()
	for _, level := range []int{-1, 10} {
		if err := WriteFS(io.Discard, smallTree(), WriteOptions{Level: level}); err == nil {
			t.Errorf("WriteFS(Level %d) = nil, want error", level)
		}
	}
	var fast, best bytes.Buffer
	if err := WriteFS(&fast, smallTree(), WriteOptions{Level: 1}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFS(&best, smallTree(), WriteOptions{Level: 9}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(fast.Bytes(), best.Bytes()) {
		t.Error("levels 1 and 9 gave identical output")
	}
}

func TestWriteDir_ExecBitAndSymlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "g"), []byte("g"), 0o671)) // group/other exec only
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o700))
	must(t, os.Symlink("d", filepath.Join(dir, "dl")))          // to a dir: not followed
	must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "a"))) // absolute: stored as is
	must(t, os.Link(filepath.Join(dir, "x"), filepath.Join(dir, "d", "hard")))
	var buf bytes.Buffer
	if err := WriteDir(&buf, dir, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := listTar(t, gunzip(t, buf.Bytes()))
	want := []tarEntry{
		{"a", '2', 0o755, 0, "/etc/passwd"},
		{"d", '5', 0o755, 0, ""},
		{"d/hard", '0', 0o755, 1, ""},
		{"dl", '2', 0o755, 0, "d"},
		{"g", '0', 0o644, 1, ""},
		{"x", '0', 0o755, 1, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestWriteDir_Errors(t *testing.T) {
	t.Parallel()
	if err := WriteDir(io.Discard, filepath.Join(t.TempDir(), "missing"), WriteOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteDir(missing) = %v, want ErrNotExist", err)
	}
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	err := WriteDir(io.Discard, dir, WriteOptions{})
	if err == nil || !strings.Contains(err.Error(), "fifo") {
		t.Errorf("WriteDir(fifo) = %v, want an unsupported-type error naming it", err)
	}
}

func TestWriteFS_SymlinkWithoutReadLinkFS(t *testing.T) {
	t.Parallel()
	fsys := struct{ fs.FS }{fstest.MapFS{"l": {Data: []byte("x"), Mode: fs.ModeSymlink}}}
	if err := WriteTar(io.Discard, fsys, WriteOptions{}); err == nil {
		t.Error("WriteTar(symlink, no ReadLinkFS) = nil, want error")
	}
}

// materialise writes a MapFS to disk.
func materialise(t testing.TB, dir string, m fstest.MapFS) {
	t.Helper()
	for name, f := range m {
		p := filepath.Join(dir, filepath.FromSlash(name))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		switch {
		case f.Mode.IsDir():
			must(t, os.MkdirAll(p, 0o755))
		case f.Mode&fs.ModeSymlink != 0:
			must(t, os.Symlink(string(f.Data), p))
		default:
			must(t, os.WriteFile(p, f.Data, 0o644))
			must(t, os.Chmod(p, f.Mode.Perm()))
		}
	}
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	rc, _, err := Decompress(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
