package treehash

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// rawHeader builds one ustar header block with a valid checksum; mutate,
// if set, edits the block before the checksum is computed.
func rawHeader(name string, typ byte, size int64, link string, mutate func(b []byte)) []byte {
	b := make([]byte, blockSize)
	copy(b[offName:], name)
	copy(b[offMode:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[offSize:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	b[offType] = typ
	copy(b[offLinkname:], link)
	copy(b[257:], "ustar\x0000")
	if mutate != nil {
		mutate(b)
	}
	setChecksum(b)
	return b
}

func setChecksum(b []byte) {
	copy(b[offChksum:], "        ")
	var sum int64
	for _, c := range b[:blockSize] {
		sum += int64(c)
	}
	copy(b[offChksum:], fmt.Sprintf("%06o\x00 ", sum))
}

// paxRecord formats one pax record "<len> <key>=<value>\n".
func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3
	for {
		r := fmt.Sprintf("%d %s=%s\n", n, k, v)
		if len(r) == n {
			return r
		}
		n = len(r)
	}
}

// paxEntry is a pax header of type typ ('x' or 'g') with data.
func paxEntry(name string, typ byte, data string) []byte {
	return concat(rawHeader(name, typ, int64(len(data)), "", nil), body(data))
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func body(s string) []byte {
	b := make([]byte, roundUp(int64(len(s))))
	copy(b, s)
	return b
}

func TestTar_Rejects(t *testing.T) {
	badChecksum := tarOf(t, []ent{file("victim", "x")})
	badChecksum[0] = 'V' // "Victim": checksum no longer matches
	tests := []struct {
		name  string
		tar   []byte
		entry string // must be named in the message
		msg   string // must appear in the message
	}{
		{"character device", tarOf(t, []ent{{path: "dev/tty", typ: '3'}}), "dev/tty", "character device"},
		{"block device", tarOf(t, []ent{{path: "dev/sda", typ: '4'}}), "dev/sda", "block device"},
		{"FIFO", tarOf(t, []ent{{path: "fifo", typ: '6'}}), "fifo", "FIFO"},
		{"contiguous file", tarOf(t, []ent{{path: "c", typ: '7'}}), "c", "unsupported entry type"},
		{"GNU L without LongLink name", concat(rawHeader("other", 'L', 0, "", nil)), "other", "unsupported entry type"},
		{"dotdot", tarOf(t, []ent{file("../evil", "x")}), "../evil", "'..'"},
		{"inner dotdot", tarOf(t, []ent{file("a/../../evil", "x")}), "a/../../evil", "'..'"},
		{"absolute", tarOf(t, []ent{file("/etc/passwd", "x")}), "/etc/passwd", "absolute"},
		{"symlink prefix", tarOf(t, []ent{symlink("a", "/tmp"), file("a/x", "evil")}), "a/x", "symlink prefix"},
		{"deep symlink prefix", tarOf(t, []ent{dir("a"), symlink("a/l", ".."), dir("a/l/d")}), "a/l/d", "symlink prefix"},
		{"replaced symlink prefix", tarOf(t, []ent{symlink("a/l", "/"), file("a", "x"), file("a/l/x", "evil")}), "a/l/x", "symlink prefix"},
		{"dot symlink prefix", tarOf(t, []ent{symlink("a", "/tmp"), file("./a/./x", "evil")}), "./a/./x", "symlink prefix"},
		{"hardlink to directory", tarOf(t, []ent{dir("d"), hardlink("h", "d")}), "h", "directory target"},
		{"hardlink to missing", tarOf(t, []ent{hardlink("h", "missing")}), "h", "non-existent target"},
		{"hardlink to later", tarOf(t, []ent{hardlink("h", "f"), file("f", "x")}), "h", "non-existent target"},
		{"hardlink to symlink", tarOf(t, []ent{file("f", "x"), symlink("s", "f"), hardlink("h", "s")}), "h", "symlink target"},
		{"hardlink to hardlink", tarOf(t, []ent{file("f", "x"), hardlink("g", "f"), hardlink("h", "g")}), "h", "hardlink target"},
		{"hardlink to replaced file", tarOf(t, []ent{file("a/f", "x"), file("a", "y"), file("a/g", "z"), hardlink("h", "a/f")}), "h", "replaced"},
		{"hardlink dotdot", tarOf(t, []ent{file("f", "x"), hardlink("h", "../f")}), "h", "'..'"},
		{"hardlink to itself", tarOf(t, []ent{hardlink("h", "h")}), "h", "non-existent"},
		{"symlink empty target", concat(rawHeader("s", '2', 0, "", nil)), "s", "empty link path"},
		{"symlink with size", concat(rawHeader("s", '2', 1, "t", nil), body("x")), "s", "non-zero size"},
		{"file with link", concat(rawHeader("f", '0', 0, "t", nil)), "f", "non-link with link path"},
		{"directory with size", concat(rawHeader("d", '5', 1, "", nil), body("x")), "d", "directory with non-zero size"},
		{"file ending in slash", concat(rawHeader("f/", '0', 0, "", nil)), "f/", "ending with '/'"},
		{"file named dot", concat(rawHeader("a/.", '0', 0, "", nil)), "a/.", "'.' component"},
		{"root as file", concat(rawHeader(".", '0', 0, "", nil)), ".", "'.' component"},
		{"empty path", concat(rawHeader("", '0', 0, "", func(b []byte) { b[offMode] = '0' })), "", "path is empty"},
		{"NUL in pax path", concat(paxEntry("ok", 'x', paxRecord("path", "a\x00b")), rawHeader("ok", '0', 0, "", nil)), "a\x00b", "NUL"},
		{"bad checksum", badChecksum, "Victim", "checksum"},
		{"bad version", concat(rawHeader("v", '0', 0, "", func(b []byte) { copy(b[263:], "01") })), "v", "version"},
		{"bad octal size", concat(rawHeader("n", '0', 0, "", func(b []byte) { copy(b[offSize:], "0000000009\x00") })), "n", "size field"},
		{"empty mode", concat(rawHeader("m", '0', 0, "", func(b []byte) { copy(b[offMode:], "\x00\x00\x00\x00\x00\x00\x00\x00") })), "m", "mode field"},
		{"huge mode", concat(rawHeader("m", '0', 0, "", func(b []byte) { copy(b[offMode:], "0200000\x00") })), "m", "mode value too large"},
		{"non-ASCII type", concat(rawHeader("t", 0xe9, 0, "", nil)), "t", "type flag"},
		{"malformed pax", concat(paxEntry("p", 'x', "5 a=b\n"), rawHeader("ok", '0', 0, "", nil)), "p", "malformed extended header"},
		{"pax trailing NUL", concat(paxEntry("p", 'x', paxRecord("path", "ab")+"\x00"), rawHeader("ok", '0', 0, "", nil)), "p", "malformed extended header"},
		{"pax bad size", concat(paxEntry("p", 'x', paxRecord("size", "0x1")), rawHeader("ok", '0', 0, "", nil)), "ok", "size value"},
		{"GNU long name without NUL", concat(rawHeader("././@LongLink", 'L', 3, "", nil), body("abc"), rawHeader("x", '0', 0, "", nil)), "././@LongLink", "trailing NUL"},
		{"multiple errors", concat(rawHeader("/a/../b/", '3', 0, "x", nil)), "/a/../b/", "multiple errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Tar(bytes.NewReader(tt.tar))
			if !errors.Is(err, ErrTarEntry) {
				t.Fatalf("Tar() error = %v, want ErrTarEntry", err)
			}
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Path != tt.entry {
				t.Errorf("Tar() error = %v, want an EntryError for %q", err, tt.entry)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("%q", tt.entry)) || !strings.Contains(msg, tt.msg) {
				t.Errorf("Tar() error = %q, want it to name %q and say %q", msg, tt.entry, tt.msg)
			}
		})
	}
}

func TestTar_Truncated(t *testing.T) {
	full := tarOf(t, []ent{file("a", strings.Repeat("x", 1000)), file("b", "y")})
	for _, n := range []int{100, 512 + 10, 512 + 1000, 1536 + 100} {
		_, err := Tar(bytes.NewReader(full[:n]))
		if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrTarEntry) {
			t.Errorf("Tar(first %d bytes) error = %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
	// Ending at a block boundary without zero blocks is a complete archive.
	if _, err := Tar(bytes.NewReader(full[:2560])); err != nil {
		t.Errorf("Tar(without zero blocks) error = %v", err)
	}
	// An extension header with nothing after it is truncated too.
	_, err := Tar(bytes.NewReader(paxEntry("p", 'x', paxRecord("path", "ab"))))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Tar(lone pax header) error = %v, want io.ErrUnexpectedEOF", err)
	}
}

// Trailing garbage after the zero block is ignored, as in Tar.jl.
func TestTar_AfterZeroBlock(t *testing.T) {
	in := concat(tarOf(t, []ent{file("foo", "Hello, world!")}), []byte("garbage after the end"))
	got, err := Tar(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := "339aad93c0f854604248ea3b7c5b7edea20625a9"; got.SkipEmpty.String() != want {
		t.Errorf("Tar() = %s, want %s", got.SkipEmpty, want)
	}
}

// Extension headers: pax x and g, GNU L and K, base-256 sizes, v7 headers.
func TestTar_Extensions(t *testing.T) {
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("f", 150)
	longLink := strings.Repeat("t", 200)
	tree := []ent{file(long, "body"), symlink("s", longLink), exe("x", "run")}
	want, err := Dir(writeTree(t, tree))
	if err != nil {
		t.Fatal(err)
	}
	gnu := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range []*tar.Header{
			{Name: long, Size: 4, Mode: 0o644, Format: tar.FormatGNU},
			{Name: "s", Typeflag: tar.TypeSymlink, Linkname: longLink, Mode: 0o777, Format: tar.FormatGNU},
			{Name: "x", Size: 3, Mode: 0o700, Format: tar.FormatGNU},
		} {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write([]byte(map[string]string{long: "body", "x": "run"}[h.Name]))
		}
		tw.Close()
		if !bytes.Contains(buf.Bytes(), []byte("././@LongLink")) {
			t.Fatal("archive/tar wrote no GNU long name")
		}
		return buf.Bytes()
	}()
	pax := tarOf(t, tree)
	if !bytes.Contains(pax, []byte(" path="+long)) {
		t.Fatal("archive/tar wrote no pax path")
	}
	// The same tree through hand-made headers: an empty x header, a pax
	// path over a ustar name, a GNU long link over a linkname, a v7 header
	// with a base-256 size and a space-padded mode.
	mixed := concat(
		rawHeader("x", 'x', 0, "", nil),
		paxEntry("h", 'x', paxRecord("comment", "ignored")+paxRecord("path", long)+paxRecord("mtime", "1.5")),
		rawHeader("ignored", '0', 4, "", nil), body("body"),
		rawHeader("././@LongLink", 'K', int64(len(longLink)+1), "", nil), body(longLink+"\x00"),
		rawHeader("s", '2', 0, "x", nil),
		rawHeader("x", '0', 0, "", func(b []byte) {
			copy(b[offMode:], "   755 \x00")
			copy(b[offSize:], "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03")
			copy(b[257:], "\x00\x00\x00\x00\x00\x00\x00\x00")
		}), body("run"),
	)
	for name, in := range map[string][]byte{"gnu": gnu, "pax": pax, "mixed": mixed} {
		got, err := Tar(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.SkipEmpty != want {
			t.Errorf("%s: Tar() = %s, want %s", name, got.SkipEmpty, want)
		}
	}
	// A global path applies to every following entry: all of them become
	// "g/x", and the last one (an empty file) wins.
	g := concat(paxEntry("g", 'g', paxRecord("path", "g/x")),
		rawHeader("a", '0', 3, "", nil), body("abc"), rawHeader("b", '0', 0, "", nil))
	got, err := Tar(bytes.NewReader(g))
	if err != nil {
		t.Fatal(err)
	}
	wantG, _ := Dir(writeTree(t, []ent{file("g/x", "")}))
	if got.SkipEmpty != wantG {
		t.Errorf("global pax path: Tar() = %s, want %s", got.SkipEmpty, wantG)
	}
}
