package tarx

import (
	"bytes"
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// FuzzReadFiles: arbitrary bytes never panic; ReadFiles accepts exactly
// what treehash.Tar accepts, and the tree it returns, written back out,
// has the same tree hashes as the input.
func FuzzReadFiles(f *testing.F) {
	f.Add([]byte{})
	f.Add(writeTarBytes(f, smallTree(), WriteOptions{}))
	for _, tt := range rejected(f) {
		f.Add(tt.tar)
	}
	for _, tarball := range lastWins(f) {
		f.Add(tarball)
	}
	lim := Limits{MaxBytes: 8 << 20, MaxEntries: 10_000, MaxFileBytes: 4 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys, err := ReadFiles(bytes.NewReader(data), lim)
		want, terr := treehash.Tar(bytes.NewReader(data))
		if err != nil {
			if terr == nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("ReadFiles() = %v, but treehash.Tar accepts the stream", err)
			}
			return
		}
		if terr != nil {
			t.Fatalf("ReadFiles() = nil, but treehash.Tar() = %v", terr)
		}
		var out bytes.Buffer
		if err := WriteTar(&out, fsys, WriteOptions{}); err != nil {
			t.Fatalf("WriteTar(ReadFiles()) = %v", err)
		}
		got, err := treehash.Tar(&out)
		if err != nil {
			t.Fatalf("treehash.Tar(WriteTar(ReadFiles())) = %v", err)
		}
		if got != want {
			t.Fatalf("hashes after ReadFiles+WriteTar = %+v, want %+v", got, want)
		}
	})
}

// fuzzNames are the path components FuzzWriteRoundTrip builds trees from:
// names whose per-directory order differs from whole-path order, ".git",
// non-ASCII and non-UTF-8 names, and names long enough to need the ustar
// prefix or a pax header.
var fuzzNames = []string{"a", "a.b", "a-", "b", "B", ".git", "schön", "ÿ", "x y", strings.Repeat("n", 99), strings.Repeat("m", 150)}

// fuzzTree decodes bytes into a consistent tree: each op is a kind byte,
// up to three name bytes, and a content/target length then bytes.
func fuzzTree(data []byte) fstest.MapFS {
	m := fstest.MapFS{}
	isDir := map[string]bool{} // paths that are (implicit) directories
	for len(data) >= 3 {
		k, depth := data[0]%4, 1+int(data[1]%3)
		data = data[2:]
		if len(data) < depth+1 {
			break
		}
		parts := make([]string, depth)
		for i := range parts {
			parts[i] = fuzzNames[int(data[i])%len(fuzzNames)]
		}
		n := int(data[depth]) % 64
		data = data[depth+1:]
		content := data[:min(n, len(data))]
		data = data[len(content):]
		p := strings.Join(parts, "/")
		conflict := m[p] != nil || isDir[p]
		for i := 1; i < len(parts); i++ {
			if f := m[strings.Join(parts[:i], "/")]; f != nil && !f.Mode.IsDir() {
				conflict = true
			}
		}
		if conflict {
			continue
		}
		for i := 1; i < len(parts); i++ {
			isDir[strings.Join(parts[:i], "/")] = true
		}
		switch k {
		case 0:
			m[p] = &fstest.MapFile{Data: content, Mode: 0o644}
		case 1:
			m[p] = &fstest.MapFile{Data: content, Mode: 0o700}
		case 2:
			m[p] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
			isDir[p] = true
		case 3:
			target := strings.ReplaceAll(string(content), "\x00", "")
			if target == "" {
				target = "a"
			}
			m[p] = &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
		}
	}
	return m
}

// FuzzWriteRoundTrip: a generated tree, written with WriteFS and read back
// with ReadFiles, has the same files, modes, links and directories; and
// writing is deterministic.
func FuzzWriteRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x05hello\x01\x01\x00\x01\x03run\x02\x02\x05\x06\x07\x00\x03\x00\x02\x01a"), byte(0))
	f.Add([]byte("\x00\x02\x01\x02\x03\x01x\x03\x00\x09\x04../../etc\x02\x00\x0a\x00"), byte(3))
	f.Fuzz(func(t *testing.T, data []byte, flags byte) {
		tree := fuzzTree(data)
		opts := WriteOptions{ExcludeGit: flags&1 != 0, SkipEmptyDirs: flags&2 != 0, Level: 1 + int(flags>>2)%9}
		var a, b bytes.Buffer
		if err := WriteFS(&a, tree, opts); err != nil {
			t.Fatalf("WriteFS() = %v", err)
		}
		if err := WriteFS(&b, tree, opts); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("two WriteFS calls differ")
		}
		got, err := ReadFiles(bytes.NewReader(gunzip(t, a.Bytes())), Limits{})
		if err != nil {
			t.Fatalf("ReadFiles(WriteFS()) = %v", err)
		}
		// What should be there: every entry not under a skipped ".git",
		// and directories only if kept.
		want := map[string]fs.FileMode{}
		hasLeaf := map[string]bool{}
		excluded := func(p string) bool { return opts.ExcludeGit && strings.Contains("/"+p+"/", "/.git/") }
		for p, file := range tree {
			if !excluded(p) {
				want[p] = file.Mode
			}
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				if excluded(d) {
					continue
				}
				if _, ok := want[d]; !ok {
					want[d] = fs.ModeDir | 0o755
				}
				if !file.Mode.IsDir() && !excluded(p) {
					hasLeaf[d] = true
				}
			}
		}
		if opts.SkipEmptyDirs {
			for p, mode := range want {
				if mode.IsDir() && !hasLeaf[p] {
					delete(want, p)
				}
			}
		}
		rl := got.(fs.ReadLinkFS)
		for p, mode := range want {
			fi, err := rl.Lstat(p)
			if err != nil {
				t.Fatalf("Lstat(%q) = %v", p, err)
			}
			switch {
			case mode.IsDir():
				if !fi.IsDir() {
					t.Fatalf("%q: mode %v, want a directory", p, fi.Mode())
				}
			case mode&fs.ModeSymlink != 0:
				if l, err := rl.ReadLink(p); err != nil || l != string(tree[p].Data) {
					t.Fatalf("ReadLink(%q) = %q, %v, want %q", p, l, err, tree[p].Data)
				}
			default:
				wantMode := fs.FileMode(0o644)
				if mode&0o100 != 0 {
					wantMode = 0o755
				}
				if fi.Mode() != wantMode {
					t.Fatalf("%q: mode %v, want %v", p, fi.Mode(), wantMode)
				}
				if b, err := fs.ReadFile(got, p); err != nil || !bytes.Equal(b, tree[p].Data) {
					t.Fatalf("ReadFile(%q) = %q, %v, want %q", p, b, err, tree[p].Data)
				}
			}
		}
		n := 0
		err = fs.WalkDir(got, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != "." {
				n++
				if _, ok := want[p]; !ok {
					t.Errorf("unexpected entry %q", p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != len(want) {
			t.Fatalf("ReadFiles has %d entries, want %d", n, len(want))
		}
	})
}
