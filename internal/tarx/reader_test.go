package tarx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// raw is one hand-made tar entry, for streams our writer would never make.
type raw struct {
	name   string
	typ    byte
	mode   int64
	link   string
	data   string
	size   int64 // if 0, len(data)
	badSum bool
}

// rawTar builds a tar stream from raw entries with Tar.jl-style headers.
func rawTar(t testing.TB, entries ...raw) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := &tarWriter{w: &buf, hdr: make([]byte, blockSize)}
	for _, e := range entries {
		size := e.size
		if size == 0 {
			size = int64(len(e.data))
		}
		if e.mode == 0 {
			e.mode = 0o644
		}
		start := buf.Len()
		if err := tw.block(e.name, "", e.typ, e.mode, size, e.link); err != nil {
			t.Fatal(err)
		}
		if e.badSum {
			buf.Bytes()[start+148] ^= 1
		}
		buf.WriteString(e.data)
		buf.Write(zeroBlock[:(blockSize-len(e.data)%blockSize)%blockSize])
	}
	return buf.Bytes()
}

func tarHashes(t testing.TB, tarball []byte) treehash.TarHashes {
	t.Helper()
	h, err := treehash.Tar(bytes.NewReader(tarball))
	if err != nil {
		t.Fatalf("treehash.Tar() = %v", err)
	}
	return h
}

func dirHash(t testing.TB, dir string) treehash.Hash {
	t.Helper()
	h, err := treehash.Dir(dir)
	if err != nil {
		t.Fatalf("treehash.Dir(%s) = %v", dir, err)
	}
	return h
}

// vectorTrees are the trees of pkg-protocol §13.1 with their hashes.
func vectorTrees() []struct {
	name            string
	tree            fstest.MapFS
	skip, keepEmpty string
} {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }
	link := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: fs.ModeSymlink} }
	four := fstest.MapFS{
		"bar/bar/foo1":      file("Hello"),
		"bar/foo2":          file("world!"),
		"foo3":              file("baz!"),
		"foo3_link":         link("foo3"),
		"bar/infinite_link": link("../bar"),
		"XyZ12345/inner":    {Mode: fs.ModeDir | 0o755},
	}
	return []struct {
		name            string
		tree            fstest.MapFS
		skip, keepEmpty string
	}{
		{"1-empty", fstest.MapFS{}, "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"},
		{"2-hello", fstest.MapFS{"foo": file("Hello, world!")}, "339aad93c0f854604248ea3b7c5b7edea20625a9", ""},
		{"3-two", fstest.MapFS{"foo1": file("Hello"), "foo2": file("world!")}, "98cda294312216b19e2a973e9c291c0f5181c98c", ""},
		{"4-links-emptydir", four, "86a1ce580587d5851fdfa841aeb3c8d55663f6f9", "c11014c83a0a44dfe1fff1c0a0d6156f2d9fd353"},
		{"5-foo", fstest.MapFS{"foo": file("foo")}, "2f42e2c1c1afd4ef8c66a2aaba5d5e1baddcab33", ""},
		{"6-bar", fstest.MapFS{"bar": file("bar")}, "64d0b4f8d9c004b862b38c4acfbd74988226995c", ""},
		{"7-baz", fstest.MapFS{"baz": file("baz")}, "087d8c93bff2f2b05f016bcd6ec653c8def76568", ""},
		{"8-utf8-link", fstest.MapFS{"link": link("schön")}, "289b9713bf8902fbd0688b0ca5584ec4cf08fdc9", ""},
		{"9-exec", fstest.MapFS{"dir/file": {Mode: 0o755}, "file": {Mode: 0o755}}, "510bb825e0f96aba1e52aa4cfc27deef12f7d26d", ""},
	}
}

func TestWriteTar_Vectors(t *testing.T) {
	t.Parallel()
	for _, v := range vectorTrees() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			keep := v.keepEmpty
			if keep == "" {
				keep = v.skip
			}
			h := tarHashes(t, writeTarBytes(t, v.tree, WriteOptions{}))
			if h.SkipEmpty.String() != v.skip || h.KeepEmpty.String() != keep {
				t.Errorf("Tar(WriteTar) = keep %s skip %s, want keep %s skip %s", h.KeepEmpty, h.SkipEmpty, keep, v.skip)
			}
			h = tarHashes(t, writeTarBytes(t, v.tree, WriteOptions{SkipEmptyDirs: true}))
			if h.KeepEmpty.String() != v.skip {
				t.Errorf("Tar(WriteTar SkipEmptyDirs).KeepEmpty = %s, want %s", h.KeepEmpty, v.skip)
			}
			// On disk: the directory hash, the tarball of the directory,
			// and the extraction of that tarball all agree.
			src := filepath.Join(t.TempDir(), "src")
			must(t, os.Mkdir(src, 0o755))
			materialise(t, src, v.tree)
			if got := dirHash(t, src); got.String() != v.skip {
				t.Errorf("Dir(src) = %s, want %s", got, v.skip)
			}
			var gz bytes.Buffer
			must(t, WriteDir(&gz, src, WriteOptions{}))
			tarball := gunzip(t, gz.Bytes())
			if got := tarHashes(t, tarball); got.SkipEmpty.String() != v.skip || got.KeepEmpty.String() != keep {
				t.Errorf("Tar(WriteDir) = %+v, want keep %s skip %s", got, keep, v.skip)
			}
			dst := filepath.Join(t.TempDir(), "dst")
			must(t, Extract(context.Background(), bytes.NewReader(tarball), dst, Limits{}))
			if got := dirHash(t, dst); got.String() != v.skip {
				t.Errorf("Dir(Extract) = %s, want %s", got, v.skip)
			}
			// Extracting and re-packing gives back the same bytes.
			var again bytes.Buffer
			must(t, WriteDir(&again, dst, WriteOptions{}))
			if !bytes.Equal(again.Bytes(), gz.Bytes()) {
				t.Error("WriteDir(Extract(WriteDir(src))) differs from WriteDir(src)")
			}
		})
	}
}

const registryMiniHash = "44b305d95fdb7501ac6b9923fee0b5e48ae90e11"

func registryMini(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "testdata", "registry-mini")
	if _, err := os.Stat(filepath.Join(dir, "Registry.toml")); err != nil {
		t.Skipf("registry fixture absent: %v", err)
	}
	return dir
}

func TestWriteDir_RegistryMini(t *testing.T) {
	t.Parallel()
	dir := registryMini(t)
	var gz bytes.Buffer
	must(t, WriteDir(&gz, dir, WriteOptions{SkipEmptyDirs: true, ExcludeGit: true}))
	tarball := gunzip(t, gz.Bytes())
	if h := tarHashes(t, tarball); h.KeepEmpty.String() != registryMiniHash {
		t.Errorf("keep-empty hash = %s, want %s", h.KeepEmpty, registryMiniHash)
	}
	if got := dirHash(t, dir); got.String() != registryMiniHash {
		t.Errorf("Dir(registry-mini) = %s, want %s", got, registryMiniHash)
	}
	entries := listTar(t, tarball)
	for _, e := range entries {
		if strings.HasPrefix(e.Name, "./") || strings.HasPrefix(e.Name, "/") || strings.HasSuffix(e.Name, "/") || e.Name == "." {
			t.Errorf("entry %q: want a plain relative path", e.Name)
		}
	}
	if entries[0].Name != "C" {
		t.Errorf("first entry = %q, want %q", entries[0].Name, "C")
	}

	fsys, err := ReadFiles(bytes.NewReader(tarball), Limits{})
	if err != nil {
		t.Fatalf("ReadFiles() = %v", err)
	}
	for _, name := range []string{"Registry.toml", "E/Example/Versions.toml"} {
		got, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ReadFiles: %s differs from the file on disk", name)
		}
	}
	if err := fstest.TestFS(fsys, "Registry.toml", "E/Example/Package.toml"); err != nil {
		t.Error(err)
	}
}

// rejected are tar streams Tar.jl refuses, with the entry the error names.
func rejected(t testing.TB) []struct {
	name, entry string
	tar         []byte
} {
	ok := raw{name: "ok.txt", typ: '0', data: "fine"}
	return []struct {
		name, entry string
		tar         []byte
	}{
		{"absolute", "/etc/passwd", rawTar(t, ok, raw{name: "/etc/passwd", typ: '0', data: "x"})},
		{"dotdot", "a/../../x", rawTar(t, ok, raw{name: "a/../../x", typ: '0', data: "x"})},
		{"symlink-prefix", "l/x", rawTar(t, ok, raw{name: "l", typ: '2', mode: 0o755, link: "/tmp"}, raw{name: "l/x", typ: '0', data: "x"})},
		{"hardlink-missing", "h", rawTar(t, ok, raw{name: "h", typ: '1', link: "missing"})},
		{"hardlink-to-symlink", "h", rawTar(t, ok, raw{name: "s", typ: '2', link: "ok.txt"}, raw{name: "h", typ: '1', link: "s"})},
		{"hardlink-to-hardlink", "h2", rawTar(t, ok, raw{name: "h", typ: '1', link: "ok.txt"}, raw{name: "h2", typ: '1', link: "h"})},
		{"hardlink-dotdot", "h", rawTar(t, ok, raw{name: "h", typ: '1', link: "../ok.txt"})},
		{"chardev", "dev", rawTar(t, ok, raw{name: "dev", typ: '3'})},
		{"blockdev", "dev", rawTar(t, ok, raw{name: "dev", typ: '4'})},
		{"fifo", "fifo", rawTar(t, ok, raw{name: "fifo", typ: '6'})},
		{"contiguous", "c", rawTar(t, ok, raw{name: "c", typ: '7', data: "x"})},
		{"bad-checksum", "b", rawTar(t, ok, raw{name: "b", typ: '0', data: "x", badSum: true})},
		{"file-trailing-slash", "f/", rawTar(t, ok, raw{name: "f/", typ: '0', data: "x"})},
		{"symlink-empty-target", "s", rawTar(t, ok, raw{name: "s", typ: '2'})},
		{"dir-with-size", "d", rawTar(t, ok, raw{name: "d", typ: '5', data: "x"})},
	}
}

func TestExtract_Rejected(t *testing.T) {
	t.Parallel()
	for _, tt := range rejected(t) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check := func(fn string, err error) {
				t.Helper()
				if !errors.Is(err, treehash.ErrTarEntry) {
					t.Fatalf("%s() = %v, want an error wrapping treehash.ErrTarEntry", fn, err)
				}
				if !strings.Contains(err.Error(), tt.entry) {
					t.Errorf("%s() = %v, want it to name %q", fn, err, tt.entry)
				}
			}
			_, err := ReadFiles(bytes.NewReader(tt.tar), Limits{})
			check("ReadFiles", err)

			// A new directory is removed.
			dst := filepath.Join(t.TempDir(), "new")
			check("Extract", Extract(context.Background(), bytes.NewReader(tt.tar), dst, Limits{}))
			if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after a failed Extract, Lstat(dst) = %v, want ErrNotExist", err)
			}
			// An existing empty directory is emptied, not removed.
			dst = t.TempDir()
			check("Extract", Extract(context.Background(), bytes.NewReader(tt.tar), dst, Limits{}))
			if ents, err := os.ReadDir(dst); err != nil || len(ents) != 0 {
				t.Errorf("after a failed Extract, ReadDir(dst) = %v, %v, want empty", ents, err)
			}
		})
	}
}

func TestExtract_NotEmpty(t *testing.T) {
	t.Parallel()
	dst := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dst, "keep"), []byte("mine"), 0o644))
	err := Extract(context.Background(), bytes.NewReader(rawTar(t, raw{name: "a", typ: '0'})), dst, Limits{})
	if err == nil {
		t.Fatal("Extract(non-empty dir) = nil, want error")
	}
	if b, err := os.ReadFile(filepath.Join(dst, "keep")); err != nil || string(b) != "mine" {
		t.Errorf("existing file after refused Extract = %q, %v", b, err)
	}
}

// TestExtract_NeverThroughSymlink: entries that replace a symlink, or sit
// where a symlink was, land inside dst; the symlink's target is untouched.
func TestExtract_NeverThroughSymlink(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	tarball := rawTar(t,
		raw{name: "l", typ: '2', link: outside},
		raw{name: "l", typ: '0', data: "replaced the link"},
		raw{name: "m", typ: '2', link: outside},
		raw{name: "m", typ: '5'},
		raw{name: "m/x", typ: '0', data: "inside"},
		raw{name: "n", typ: '2', link: "../../" + filepath.Base(outside)},
		raw{name: "up", typ: '2', link: "../escape"},
	)
	dst := filepath.Join(t.TempDir(), "dst")
	must(t, Extract(context.Background(), bytes.NewReader(tarball), dst, Limits{}))
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("outside dir has %d entries, want 0", len(ents))
	}
	if b, err := os.ReadFile(filepath.Join(dst, "l")); err != nil || string(b) != "replaced the link" {
		t.Errorf("l = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "m", "x")); err != nil || string(b) != "inside" {
		t.Errorf("m/x = %q, %v", b, err)
	}
	for name, want := range map[string]string{"n": "../../" + filepath.Base(outside), "up": "../escape"} {
		if got, err := os.Readlink(filepath.Join(dst, name)); err != nil || got != want {
			t.Errorf("Readlink(%s) = %q, %v, want %q (stored as is)", name, got, err, want)
		}
	}
	if h, d := tarHashes(t, tarball), dirHash(t, dst); h.SkipEmpty != d {
		t.Errorf("Dir(Extract) = %s, want Tar().SkipEmpty %s", d, h.SkipEmpty)
	}
}

// lastWins are streams where later entries replace earlier ones.
func lastWins(t testing.TB) map[string][]byte {
	return map[string][]byte{
		// pkg-protocol §13.1 vector 10.
		"vector10": rawTar(t,
			raw{name: "./path", typ: '0', data: "first"},
			raw{name: "path", typ: '0', mode: 0o755, data: "second"},
			raw{name: "empty/inner", typ: '5'}),
		"file-dir-file": rawTar(t,
			raw{name: "a", typ: '0', data: "1"},
			raw{name: "a/b/c", typ: '0', data: "2"},
			raw{name: "a", typ: '5'},
			raw{name: "x", typ: '5'},
			raw{name: "x/y", typ: '0', data: "3"},
			raw{name: "x", typ: '0', mode: 0o755, data: "4"}),
		"hardlinks": rawTar(t,
			raw{name: "f", typ: '0', data: "old"},
			raw{name: "h", typ: '1', mode: 0o755, link: "./f"},
			raw{name: "f", typ: '0', data: "new"},
			raw{name: "d/g", typ: '1', link: "f"}), // the new f
		"symlink-replaced": rawTar(t,
			raw{name: "s", typ: '2', link: "t"},
			raw{name: "s", typ: '5'},
			raw{name: "s/in", typ: '0', data: "ok"},
			raw{name: "t", typ: '2', link: "s"}),
		"dot-root": rawTar(t,
			raw{name: ".", typ: '5'},
			raw{name: "./", typ: '5'},
			raw{name: "a//b/./c", typ: '0', data: "c"}),
	}
}

func TestExtract_LastEntryWins(t *testing.T) {
	t.Parallel()
	for name, tarball := range lastWins(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := tarHashes(t, tarball)
			dst := filepath.Join(t.TempDir(), "dst")
			must(t, Extract(context.Background(), bytes.NewReader(tarball), dst, Limits{}))
			if got := dirHash(t, dst); got != h.SkipEmpty {
				t.Errorf("Dir(Extract) = %s, want Tar().SkipEmpty %s", got, h.SkipEmpty)
			}
			fsys, err := ReadFiles(bytes.NewReader(tarball), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := tarHashes(t, writeTarBytes(t, fsys, WriteOptions{})); got != h {
				t.Errorf("Tar(WriteTar(ReadFiles)) = %+v, want %+v", got, h)
			}
			// The extracted tree, re-read from disk, is the same tree.
			var fromDisk bytes.Buffer
			must(t, WriteDir(&fromDisk, dst, WriteOptions{}))
			if got := tarHashes(t, gunzip(t, fromDisk.Bytes())); got != h {
				t.Errorf("Tar(WriteDir(Extract)) = %+v, want %+v", got, h)
			}
		})
	}
	// Vector 10's known values.
	h := tarHashes(t, lastWins(t)["vector10"])
	if h.KeepEmpty.String() != "2fe4ced8d09e7e4e9d0339a623b89be3947612e4" || h.SkipEmpty.String() != "62035ed5dfc423b24fa19122bf2e018b66525d73" {
		t.Errorf("vector 10 = %+v", h)
	}
}

func TestReadFiles_Hardlinks(t *testing.T) {
	t.Parallel()
	fsys, err := ReadFiles(bytes.NewReader(lastWins(t)["hardlinks"]), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		data string
		mode fs.FileMode
	}{"f": {"new", 0o644}, "h": {"old", 0o755}, "d/g": {"new", 0o644}} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil || string(b) != want.data {
			t.Errorf("ReadFile(%s) = %q, %v, want %q", name, b, err, want.data)
		}
		if fi, err := fs.Stat(fsys, name); err != nil || fi.Mode() != want.mode {
			t.Errorf("Stat(%s).Mode() = %v, %v, want %v", name, fi.Mode(), err, want.mode)
		}
	}
}

func TestReadFiles_FS(t *testing.T) {
	t.Parallel()
	tarball := writeTarBytes(t, smallTree(), WriteOptions{})
	fsys, err := ReadFiles(bytes.NewReader(tarball), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// fstest.TestFS opens every entry, so it gets a tree without the
	// dangling link.
	tree := smallTree()
	delete(tree, "longlink")
	tree["dirlink"] = &fstest.MapFile{Data: []byte("a/b"), Mode: fs.ModeSymlink}
	noDangling, err := ReadFiles(bytes.NewReader(writeTarBytes(t, tree, WriteOptions{})), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(noDangling, "a/b/f", "a.txt", "run.sh", "link", "empty/inner", "dirlink"); err != nil {
		t.Error(err)
	}
	if b, err := fs.ReadFile(noDangling, "dirlink/f"); err != nil || string(b) != "hi\n" {
		t.Errorf("ReadFile(dirlink/f) = %q, %v, want the file through the link", b, err)
	}
	rl, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		t.Fatal("ReadFiles result does not implement fs.ReadLinkFS")
	}
	if got, err := rl.ReadLink("longlink"); err != nil || got != strings.Repeat("../x/", 30) {
		t.Errorf("ReadLink(longlink) = %q, %v", got, err)
	}
	if fi, err := rl.Lstat("link"); err != nil || fi.Mode() != fs.ModeSymlink|0o777 {
		t.Errorf("Lstat(link) = %v, %v", fi, err)
	}
	if fi, err := fs.Stat(fsys, "link"); err != nil || fi.Mode() != 0o644 || fi.Size() != 2 {
		t.Errorf("Stat(link) = %v, %v, want the target a.txt", fi, err)
	}
	if fi, err := fs.Stat(fsys, "run.sh"); err != nil || fi.Mode() != 0o755 {
		t.Errorf("Stat(run.sh) = %v, %v, want mode 0755", fi, err)
	}
	if _, err := fs.ReadFile(fsys, "longlink"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(escaping link) = %v, want ErrNotExist", err)
	}
	if _, err := fsys.Open("../x"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(../x) = %v, want ErrInvalid", err)
	}
	// Loops are reported, not followed forever.
	loop, err := ReadFiles(bytes.NewReader(rawTar(t, raw{name: "a", typ: '2', link: "b"}, raw{name: "b", typ: '2', link: "a"})), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loop.Open("a"); err == nil {
		t.Error("Open(symlink loop) = nil error")
	}
}

// bomb returns a gzip stream of n bytes of zeros, as repeated members, so
// that building it costs nothing.
func bomb(t testing.TB, n int64) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	must(t, func() error { _, err := zw.Write(make([]byte, 1<<20)); return err }())
	must(t, zw.Close())
	return bytes.Repeat(member.Bytes(), int(n>>20))
}

func TestExtract_Bombs(t *testing.T) {
	t.Parallel()
	const gib = 1 << 30
	lim := Limits{MaxBytes: 10 << 20}
	bigHeader := rawTar(t, raw{name: "big", typ: '0', size: gib})
	cases := []struct {
		name string
		gz   []byte // gzip stream
	}{
		// 1 GiB of zeros: an empty archive, then 1 GiB of "padding".
		{"zeros", bomb(t, gib)},
		// A header claiming a 1 GiB file, then 1 GiB of zeros.
		{"big-file", append(gzipped(t, bigHeader), bomb(t, gib)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			for _, fn := range []string{"Extract", "ReadFiles"} {
				rc, _, err := Decompress(bytes.NewReader(c.gz))
				must(t, err)
				dst := filepath.Join(t.TempDir(), "dst")
				if fn == "Extract" {
					err = Extract(context.Background(), rc, dst, lim)
				} else {
					_, err = ReadFiles(rc, lim)
				}
				if !errors.Is(err, ErrTooLarge) {
					t.Errorf("%s() = %v, want ErrTooLarge", fn, err)
				}
				if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s left %s behind: %v", fn, dst, err)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v, want a quick failure", d)
			}
		})
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

func TestLimits(t *testing.T) {
	t.Parallel()
	mb := strings.Repeat("x", 1<<20)
	links := []raw{{name: "f", typ: '0', data: mb}}
	for i := range 20 {
		links = append(links, raw{name: "h" + string(rune('a'+i)), typ: '1', link: "f"})
	}
	many := []raw{}
	for i := range 20 {
		many = append(many, raw{name: "e" + string(rune('a'+i)), typ: '5'})
	}
	tests := []struct {
		name string
		tar  []byte
		lim  Limits
	}{
		{"hardlink-copies", rawTar(t, links...), Limits{MaxBytes: 10 << 20}},
		{"entries", rawTar(t, many...), Limits{MaxEntries: 10}},
		{"file", rawTar(t, raw{name: "f", typ: '0', data: mb}), Limits{MaxFileBytes: 1000}},
		{"stream", rawTar(t, raw{name: "f", typ: '0', data: mb}, raw{name: "g", typ: '0', data: mb}), Limits{MaxBytes: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ReadFiles(bytes.NewReader(tt.tar), tt.lim); !errors.Is(err, ErrTooLarge) {
				t.Errorf("ReadFiles() = %v, want ErrTooLarge", err)
			}
			dst := filepath.Join(t.TempDir(), "dst")
			if err := Extract(context.Background(), bytes.NewReader(tt.tar), dst, tt.lim); !errors.Is(err, ErrTooLarge) {
				t.Errorf("Extract() = %v, want ErrTooLarge", err)
			}
		})
	}
	// Exactly at the limit is fine.
	tarball := rawTar(t, raw{name: "f", typ: '0', data: "abc"})
	if _, err := ReadFiles(bytes.NewReader(tarball), Limits{MaxBytes: int64(len(tarball)), MaxEntries: 1, MaxFileBytes: 3}); err != nil {
		t.Errorf("ReadFiles(at the limits) = %v", err)
	}
}

func TestExtract_Cancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(t.TempDir(), "dst")
	err := Extract(ctx, bytes.NewReader(writeTarBytes(t, smallTree(), WriteOptions{})), dst, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Extract(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cancelled Extract left dst: %v", err)
	}
	// Cancelled mid-stream, from a reader that blocks after some data.
	ctx, cancel = context.WithCancel(context.Background())
	r := io.MultiReader(bytes.NewReader(rawTar(t, raw{name: "a", typ: '0', data: "x"})), cancelReader{cancel})
	if err := Extract(ctx, r, dst, Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract(cancelled mid-stream) = %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cancelled Extract left dst: %v", err)
	}
}

// cancelReader cancels its context when read, then yields zeros forever.
type cancelReader struct{ cancel context.CancelFunc }

func (c cancelReader) Read(p []byte) (int, error) {
	c.cancel()
	clear(p)
	return len(p), nil
}

func TestExtract_Truncated(t *testing.T) {
	t.Parallel()
	tarball := rawTar(t, raw{name: "a", typ: '0', data: strings.Repeat("x", 2000)})
	dst := filepath.Join(t.TempDir(), "dst")
	err := Extract(context.Background(), bytes.NewReader(tarball[:1000]), dst, Limits{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Extract(truncated) = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := ReadFiles(bytes.NewReader(tarball[:1000]), Limits{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadFiles(truncated) = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestWriteDir_NonUTF8Names(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := "caf\xe9" // Latin-1, not UTF-8
	if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
		t.Skip("file system refuses non-UTF-8 names:", err)
	}
	var gz bytes.Buffer
	must(t, WriteDir(&gz, dir, WriteOptions{}))
	tarball := gunzip(t, gz.Bytes())
	if h := tarHashes(t, tarball); h.SkipEmpty != dirHash(t, dir) {
		t.Errorf("Tar = %s, Dir = %s", h.SkipEmpty, dirHash(t, dir))
	}
	fsys, err := ReadFiles(bytes.NewReader(tarball), Limits{})
	must(t, err)
	if b, err := fs.ReadFile(fsys, name); err != nil || string(b) != "x" {
		t.Errorf("ReadFile(%q) = %q, %v", name, b, err)
	}
}
