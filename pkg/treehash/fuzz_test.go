package treehash

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzTar: arbitrary bytes never panic, and every error is a Tar.jl rule
// violation or a truncated stream.
func FuzzTar(f *testing.F) {
	for _, v := range vectors {
		f.Add(tarOf(f, v.ents))
	}
	f.Add(tarOf(f, []ent{file("./path", "first"), exe("path", "second"), dir("empty/inner"), hardlink("h", "path"), symlink("s", "../x")}))
	f.Add(concat(paxEntry("g", 'g', paxRecord("path", "g/x")), rawHeader("a", '0', 3, "", nil), body("abc")))
	f.Add(concat(rawHeader("././@LongLink", 'L', 4, "", nil), body("abc\x00"), rawHeader("x", '0', 0, "", nil)))
	f.Add(concat(rawHeader("x", '0', 0, "", func(b []byte) { copy(b[offSize:], "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03") }), body("abc")))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Tar(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrTarEntry) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Tar() error = %v, want ErrTarEntry or io.ErrUnexpectedEOF", err)
			}
			return
		}
		if h.KeepEmpty.IsZero() || h.SkipEmpty.IsZero() {
			t.Fatalf("Tar() = %+v with no error", h)
		}
		// A stream that hashes must also read cleanly entry by entry.
		tr := NewTarReader(bytes.NewReader(data))
		for {
			_, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next() error = %v after Tar() succeeded", err)
			}
		}
	})
}

// FuzzDirVsTar: a generated tree written to disk and to a tar with
// archive/tar has the same skip-empty hash from Dir and Tar, and the same
// keep-empty hash from DirSum and Tar.
func FuzzDirVsTar(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed, uint8(30))
	}
	f.Fuzz(func(t *testing.T, seed uint64, n uint8) {
		ents := genTree(seed, int(n%64)+1, false)
		root := writeTree(t, ents)
		d, err := Dir(root)
		if err != nil {
			t.Fatal(err)
		}
		keep, err := DirSum(root, Options{KeepEmpty: true})
		if err != nil {
			t.Fatal(err)
		}
		th, err := Tar(bytes.NewReader(tarOf(t, ents)))
		if err != nil {
			t.Fatal(err)
		}
		if th.SkipEmpty != d || th.KeepEmpty.String() != hexOf(keep) {
			t.Errorf("Tar() = %+v, Dir() = %s, DirSum(KeepEmpty) = %x", th, d, keep)
		}
	})
}
