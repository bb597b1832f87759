package treehash

import (
	"bytes"
	"testing"
)

// Vectors of docs/pkg-protocol.md §13.1.
var vector4 = []ent{
	file("bar/bar/foo1", "Hello"),
	file("bar/foo2", "world!"),
	file("foo3", "baz!"),
	symlink("foo3_link", "foo3"),
	symlink("bar/infinite_link", "../bar"),
	dir("XyZ12345/inner"),
}

var vectors = []struct {
	name      string
	ents      []ent
	skipEmpty string // Dir and Tar SkipEmpty
	keepEmpty string // DirSum KeepEmpty and Tar KeepEmpty; "" = same as skipEmpty
}{
	{"1 empty", nil, "4b825dc642cb6eb9a060e54bf8d69288fbee4904", ""},
	{"2 hello", []ent{file("foo", "Hello, world!")}, "339aad93c0f854604248ea3b7c5b7edea20625a9", ""},
	{"3 two files", []ent{file("foo1", "Hello"), file("foo2", "world!")}, "98cda294312216b19e2a973e9c291c0f5181c98c", ""},
	{"4 and 4b", vector4, "86a1ce580587d5851fdfa841aeb3c8d55663f6f9", "c11014c83a0a44dfe1fff1c0a0d6156f2d9fd353"},
	{"5 foo", []ent{file("foo", "foo")}, "2f42e2c1c1afd4ef8c66a2aaba5d5e1baddcab33", ""},
	{"6 bar", []ent{file("bar", "bar")}, "64d0b4f8d9c004b862b38c4acfbd74988226995c", ""},
	{"7 baz", []ent{file("baz", "baz")}, "087d8c93bff2f2b05f016bcd6ec653c8def76568", ""},
	{"8 non-ASCII symlink", []ent{symlink("link", "schön")}, "289b9713bf8902fbd0688b0ca5584ec4cf08fdc9", ""},
	{"9 exec", []ent{exe("dir/file", ""), exe("file", "")}, "510bb825e0f96aba1e52aa4cfc27deef12f7d26d", ""},
	{"10 final tree", []ent{exe("path", "second"), dir("empty/inner")}, "62035ed5dfc423b24fa19122bf2e018b66525d73", "2fe4ced8d09e7e4e9d0339a623b89be3947612e4"},
}

func TestDir_Vectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			root := writeTree(t, v.ents)
			got, err := Dir(root)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != v.skipEmpty {
				t.Errorf("Dir() = %s, want %s", got, v.skipEmpty)
			}
			want := v.keepEmpty
			if want == "" {
				want = v.skipEmpty
			}
			keep, err := DirSum(root, Options{KeepEmpty: true})
			if err != nil {
				t.Fatal(err)
			}
			if hexOf(keep) != want {
				t.Errorf("DirSum(KeepEmpty) = %x, want %s", keep, want)
			}
		})
	}
}

func TestTar_Vectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			got, err := Tar(bytes.NewReader(tarOf(t, v.ents)))
			if err != nil {
				t.Fatal(err)
			}
			want := v.keepEmpty
			if want == "" {
				want = v.skipEmpty
			}
			if got.SkipEmpty.String() != v.skipEmpty || got.KeepEmpty.String() != want {
				t.Errorf("Tar() = {keep %s, skip %s}, want {keep %s, skip %s}", got.KeepEmpty, got.SkipEmpty, want, v.skipEmpty)
			}
		})
	}
}

// Vector 1: an empty stream, and the SHA-256 empty tree.
func TestTar_EmptyStream(t *testing.T) {
	const empty = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	const empty256 = "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
	for _, in := range [][]byte{nil, make([]byte, 1024), tarOf(t, []ent{dir("./")})} {
		got, err := Tar(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if got.KeepEmpty.String() != empty || got.SkipEmpty.String() != empty {
			t.Errorf("Tar(%d bytes) = %+v, want empty tree", len(in), got)
		}
		k, s, err := TarSum(bytes.NewReader(in), SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if hexOf(k) != empty256 || hexOf(s) != empty256 {
			t.Errorf("TarSum(SHA256) = %x, %x, want %s", k, s, empty256)
		}
	}
	got, err := DirSum(t.TempDir(), Options{Algorithm: SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if hexOf(got) != empty256 {
		t.Errorf("DirSum(SHA256) = %x, want %s", got, empty256)
	}
}

// Vector 8, second value: Pkg's character-length bug.
func TestDirSum_SymlinkCharLength(t *testing.T) {
	root := writeTree(t, []ent{symlink("link", "schön")})
	got, err := DirSum(root, Options{SymlinkCharLength: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "23b444ffcdb0f0581971360378088dbaf47c011e"; hexOf(got) != want {
		t.Errorf("DirSum(SymlinkCharLength) = %x, want %s", got, want)
	}
}

// Vectors 9 and 10 in the entry orders the table names, and with "./"
// prefixes, pax and GNU long names.
func TestTar_OrderAndLastWins(t *testing.T) {
	tests := []struct {
		name       string
		ents       []ent
		keep, skip string
	}{
		{"9 reordered", []ent{exe("file", ""), dir("."), exe("dir/file", ""), dir("dir")},
			"510bb825e0f96aba1e52aa4cfc27deef12f7d26d", "510bb825e0f96aba1e52aa4cfc27deef12f7d26d"},
		{"9 dot prefixes", []ent{dir("./"), dir("./dir/"), exe("./dir/file", ""), exe("./file", "")},
			"510bb825e0f96aba1e52aa4cfc27deef12f7d26d", "510bb825e0f96aba1e52aa4cfc27deef12f7d26d"},
		{"10 last wins", []ent{file("./path", "first"), exe("path", "second"), dir("empty/inner")},
			"2fe4ced8d09e7e4e9d0339a623b89be3947612e4", "62035ed5dfc423b24fa19122bf2e018b66525d73"},
		{"10 file replaced by dir and back", []ent{file("path/x", "gone"), dir("path"), file("path", "first"), exe("path", "second"), dir("empty/inner")},
			"2fe4ced8d09e7e4e9d0339a623b89be3947612e4", "62035ed5dfc423b24fa19122bf2e018b66525d73"},
		{"2 via hardlink with own mode", []ent{exe("x", "Hello, world!"), hardlink("foo", "x"), dir("x")},
			"", "339aad93c0f854604248ea3b7c5b7edea20625a9"},
		{"3 via symlink replaced", []ent{symlink("foo1", "elsewhere"), file("foo1", "Hello"), file("foo2", "world!")},
			"98cda294312216b19e2a973e9c291c0f5181c98c", "98cda294312216b19e2a973e9c291c0f5181c98c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tar(bytes.NewReader(tarOf(t, tt.ents)))
			if err != nil {
				t.Fatal(err)
			}
			if tt.keep != "" && got.KeepEmpty.String() != tt.keep {
				t.Errorf("KeepEmpty = %s, want %s", got.KeepEmpty, tt.keep)
			}
			if tt.skip != "" && got.SkipEmpty.String() != tt.skip {
				t.Errorf("SkipEmpty = %s, want %s", got.SkipEmpty, tt.skip)
			}
		})
	}
}
