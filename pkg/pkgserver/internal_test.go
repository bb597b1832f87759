package pkgserver

import (
	"strconv"
	"strings"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/julia"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h             string
		size          int64
		start, length int64
		res           rangeResult
	}{
		{"bytes=0-1023", 2685, 0, 1024, rangeOK},
		{"bytes=1024-", 2685, 1024, 1661, rangeOK},
		{"bytes=-2047", 2685, 638, 2047, rangeOK},
		{"bytes=0-10000", 2685, 0, 2685, rangeOK},
		{"bytes=-5000", 2685, 0, 2685, rangeOK},
		{"bytes= 5 - 9 ", 2685, 5, 5, rangeOK},
		{"BYTES=5-9", 2685, 5, 5, rangeOK},
		{"bytes=2-1", 2685, 0, 0, rangeUnsatisfiable},
		{"bytes=2685-", 2685, 0, 0, rangeUnsatisfiable},
		{"bytes=-0", 2685, 0, 0, rangeUnsatisfiable},
		{"bytes=0-", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=0-1,3-4", 2685, 0, 0, rangeIgnore},
		{"bytes=x-1", 2685, 0, 0, rangeIgnore},
		{"bytes=+1-2", 2685, 0, 0, rangeIgnore},
		{"bytes=1--2", 2685, 0, 0, rangeIgnore},
		{"bytes=1", 2685, 0, 0, rangeIgnore},
		{"bits=0-1", 2685, 0, 0, rangeIgnore},
		{"", 2685, 0, 0, rangeIgnore},
		{"bytes=99999999999999999999-", 2685, 0, 0, rangeIgnore},
	} {
		start, length, res := parseRange(tc.h, tc.size)
		if start != tc.start || length != tc.length || res != tc.res {
			t.Errorf("parseRange(%q, %d) = %d, %d, %d; want %d, %d, %d", tc.h, tc.size, start, length, res, tc.start, tc.length, tc.res)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1023", "bytes=-2047", "bytes=1024-", "bytes=2-1", "bytes=0-1,2-3", "bytes=x"} {
		f.Add(s, int64(2685))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		start, length, res := parseRange(h, size)
		switch res {
		case rangeOK:
			if start < 0 || length < 1 || start >= size || start+length > size {
				t.Fatalf("parseRange(%q, %d) = %d, %d: outside the body", h, size, start, length)
			}
			// The Content-Range the server answers with names the same
			// bytes when asked for again.
			again := "bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(start+length-1, 10)
			if s2, l2, r2 := parseRange(again, size); s2 != start || l2 != length || r2 != rangeOK {
				t.Fatalf("parseRange(%q, %d) = %d, %d; its own answer %q gives %d, %d, %d", h, size, start, length, again, s2, l2, r2)
			}
		case rangeIgnore, rangeUnsatisfiable:
			if start != 0 || length != 0 {
				t.Fatalf("parseRange(%q, %d) = %d, %d with result %d", h, size, start, length, res)
			}
		default:
			t.Fatalf("parseRange(%q) result %d", h, res)
		}
	})
}

func FuzzParseResource(f *testing.F) {
	for _, s := range []string{
		"/package/7876af07-990d-54b4-ab0e-23690620f79a/46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc",
		"/registry/23338594-aafe-5451-b93e-139f81909106/5ddac1103f9fdad5b784b32ad1739c01bd58d02f",
		"/artifact/43563e7631a7eafae1f9f8d9d332e3de44ad7239",
		"/artifact/43563E7631A7EAFAE1F9F8D9D332E3DE44AD7239", "/package/x/y", "/registries",
		"artifact/000000000000aaaa000000000000000000000000",                                       // found by fuzzing: no leading slash
		"/registry/00000000-0000-0000-0000-0A0000000000/0000000000000000000000000000000000000000", // found by fuzzing: uppercase second nibble
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, ok := parseResource(p)
		if !ok {
			return
		}
		// Only canonical lowercase paths are accepted: they round-trip.
		if r.Path() != p {
			t.Fatalf("parseResource(%q) = %s, which is not the same path", p, r.Path())
		}
		if strings.ToLower(p) != p {
			t.Fatalf("parseResource accepted %q, which is not lowercase", p)
		}
	})
}

func TestAcceptsZstd(t *testing.T) {
	for h, want := range map[string]bool{
		"zstd, gzip": true, "gzip": false, "": false, "gzip, zstd;q=0": false, "ZSTD;q=0.5": true, "zstd;q=0.0": false, "zstdx": false,
	} {
		if got := acceptsZstd(h); got != want {
			t.Errorf("acceptsZstd(%q) = %v, want %v", h, got, want)
		}
	}
}

// Versions.toml in a shape the text filter does not handle (dotted keys)
// is written afresh, with the kept versions only.
func TestFilterVersions(t *testing.T) {
	pt := []byte("name = \"Example\"\nuuid = \"7876af07-990d-54b4-ab0e-23690620f79a\"\n")
	files := mapFS{"E/Example/Package.toml": pt}
	for _, tc := range []struct{ name, in, want string }{
		{"tables", "# generated\n[\"0.1.0\"]\ngit-tree-sha1 = \"1111111111111111111111111111111111111111\"\n\n[\"0.2.0\"]\ngit-tree-sha1 = \"2222222222222222222222222222222222222222\"\nyanked = true\n\n[\"0.3.0\"]\ngit-tree-sha1 = \"3333333333333333333333333333333333333333\"\n",
			"# generated\n[\"0.2.0\"]\ngit-tree-sha1 = \"2222222222222222222222222222222222222222\"\nyanked = true\n\n"},
		{"dotted", "\"0.1.0\".git-tree-sha1 = \"1111111111111111111111111111111111111111\"\n\"0.2.0\" = { git-tree-sha1 = \"2222222222222222222222222222222222222222\", yanked = true }\n\"0.3.0\".git-tree-sha1 = \"3333333333333333333333333333333333333333\"\n",
			"[\"0.2.0\"]\ngit-tree-sha1 = \"2222222222222222222222222222222222222222\"\nyanked = true\n"},
	} {
		files["E/Example/Versions.toml"] = []byte(tc.in)
		pkg, err := julia.ReadPackage(files, "E/Example")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := filterVersions([]byte(tc.in), pkg, map[string]bool{"0.2.0": true}, files, "E/Example")
		if string(got) != tc.want {
			t.Errorf("%s: filterVersions =\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

func TestFilterRegistry(t *testing.T) {
	in := "name = \"Reg\"\nuuid = \"23338594-aafe-5451-b93e-139f81909106\"\nrepo = \"https://example.org/Reg.git\"\n\ndescription = \"\"\"\nmulti\nline\"\"\"\n\n[packages]\n" +
		"7876af07-990d-54b4-ab0e-23690620f79a = { name = \"Example\", path = \"E/Example\" }\n" +
		"8876af07-990d-54b4-ab0e-23690620f79a = { name = \"Other\", path = \"O/Other\" }\n"
	reg, err := julia.ParseRegistry([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	u := julia.MustParseUUID("7876af07-990d-54b4-ab0e-23690620f79a")
	got := filterRegistry([]byte(in), reg, map[julia.UUID]julia.RegistryPackage{u: reg.Packages[u]})
	want := strings.Replace(in, "8876af07-990d-54b4-ab0e-23690620f79a = { name = \"Other\", path = \"O/Other\" }\n", "", 1)
	if string(got) != want {
		t.Errorf("filterRegistry =\n%s\nwant\n%s", got, want)
	}
}
