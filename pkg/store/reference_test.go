package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

const testDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParseReference(t *testing.T) {
	// An existing relative directory (rule 4) and one with a ':' in its name.
	tmp := t.TempDir()
	t.Chdir(tmp)
	for _, d := range []string{"stick", "odd:name", "example.com"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	abs := filepath.Join(tmp, "stick")

	tests := []struct {
		name string
		in   string
		want store.Reference
	}{
		{"layout prefix", "oci-layout:/mnt/usb/box", store.Reference{Kind: store.Layout, Path: "/mnt/usb/box"}},
		{"layout prefix tag", "oci-layout:/mnt/usb/box:v1.2", store.Reference{Kind: store.Layout, Path: "/mnt/usb/box", Tag: "v1.2"}},
		{"layout prefix digest", "oci-layout:/mnt/usb/box@" + testDigest, store.Reference{Kind: store.Layout, Path: "/mnt/usb/box", Tag: testDigest}},
		{"layout prefix relative", "oci-layout:box:latest", store.Reference{Kind: store.Layout, Path: "box", Tag: "latest"}},
		{"layout prefix colon in dir", "oci-layout:/a:b/box:t", store.Reference{Kind: store.Layout, Path: "/a:b/box", Tag: "t"}},
		{"layout prefix cleaned", "oci-layout:/mnt//usb/./box/", store.Reference{Kind: store.Layout, Path: "/mnt/usb/box"}},
		{"absolute", "/mnt/usb/box", store.Reference{Kind: store.Layout, Path: "/mnt/usb/box"}},
		{"absolute tag", "/mnt/usb/box:v1", store.Reference{Kind: store.Layout, Path: "/mnt/usb/box", Tag: "v1"}},
		{"absolute dotted", "/mnt/usb.stick/box", store.Reference{Kind: store.Layout, Path: "/mnt/usb.stick/box"}},
		{"dot relative", "./out/box@" + testDigest, store.Reference{Kind: store.Layout, Path: "out/box", Tag: testDigest}},
		{"dotdot relative", "../box", store.Reference{Kind: store.Layout, Path: "../box"}},
		{"dot", ".", store.Reference{Kind: store.Layout, Path: "."}},
		{"existing absolute dir wins", abs, store.Reference{Kind: store.Layout, Path: abs}},
		{"existing dir with colon", "./odd:name", store.Reference{Kind: store.Layout, Path: "odd:name"}},
		{"in an existing dir with colon", "./odd:name/box:v1", store.Reference{Kind: store.Layout, Path: "odd:name/box", Tag: "v1"}},
		{"existing relative dir", "stick", store.Reference{Kind: store.Layout, Path: "stick"}},
		{"existing relative dir tag", "stick:v3", store.Reference{Kind: store.Layout, Path: "stick", Tag: "v3"}},
		{"dotted relative dir is a path", "./example.com/x", store.Reference{Kind: store.Layout, Path: "example.com/x"}},
		{"remote", "harbor.example.org/julia/general", store.Reference{Kind: store.Remote, Registry: "harbor.example.org", Repository: "julia/general"}},
		{"remote tag", "harbor.example.org/julia/general:2024-01", store.Reference{Kind: store.Remote, Registry: "harbor.example.org", Repository: "julia/general", Tag: "2024-01"}},
		{"remote port digest", "harbor:5000/box@" + testDigest, store.Reference{Kind: store.Remote, Registry: "harbor:5000", Repository: "box", Tag: testDigest}},
		{"remote tag and digest", "r.io/box:v1@" + testDigest, store.Reference{Kind: store.Remote, Registry: "r.io", Repository: "box", Tag: testDigest}},
		{"localhost", "localhost/box:v1", store.Reference{Kind: store.Remote, Registry: "localhost", Repository: "box", Tag: "v1"}},
		{"ip", "127.0.0.1:5000/a/b", store.Reference{Kind: store.Remote, Registry: "127.0.0.1:5000", Repository: "a/b"}},
		{"ipv6", "[::1]:5000/a", store.Reference{Kind: store.Remote, Registry: "[::1]:5000", Repository: "a"}},
		{"host-like beats existing dir", "example.com/x", store.Reference{Kind: store.Remote, Registry: "example.com", Repository: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.ParseReference(tt.in)
			if err != nil {
				t.Fatalf("ParseReference(%q) error = %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseReference(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}

	bad := []struct{ name, in string }{
		{"empty", ""},
		{"empty layout", "oci-layout:"},
		{"layout only tag", "oci-layout::v1"},
		{"bad tag", "oci-layout:/box:-v1"},
		{"bad digest", "/box@sha256:abc"},
		{"unknown relative", "no-such-dir"},
		{"single-label host", "harbor/julia/general"},
		{"uppercase repo", "r.io/Box"},
		{"remote bad tag", "r.io/box:.x"},
		{"nul", "/box\x00"},
		{"tag with a slash", "./s:a/b"},
		{"tag climbing out", "./s:../../evil"},
		{"absolute tag with a slash", "/mnt/usb:v1/x"},
	}
	for _, tt := range bad {
		t.Run("bad/"+tt.name, func(t *testing.T) {
			got, err := store.ParseReference(tt.in)
			if !errors.Is(err, store.ErrInvalidReference) {
				t.Fatalf("ParseReference(%q) = %+v, %v; want ErrInvalidReference", tt.in, got, err)
			}
		})
	}
}

func TestReference_String(t *testing.T) {
	for _, s := range []string{
		"oci-layout:/mnt/box", "oci-layout:/mnt/box:v1", "oci-layout:/mnt/box@" + testDigest,
		"r.io/a/b", "r.io:5000/a/b:t", "localhost/a@" + testDigest,
	} {
		ref, err := store.ParseReference(s)
		if err != nil {
			t.Fatalf("ParseReference(%q) = %v", s, err)
		}
		if got := ref.String(); got != s {
			t.Errorf("ParseReference(%q).String() = %q", s, got)
		}
	}
}

// FuzzParseReference checks that parsing never panics, that what parses
// names exactly one backend with the fields of that backend, and that
// String gives back an equal reference.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"oci-layout:/mnt/box:v1", "/abs@" + testDigest, "./rel:tag", "..", "r.io/a/b:c",
		"localhost:5000/x@" + testDigest, "[::1]/a", "a/b", "oci-layout:", ":", "@", "/:", "/a@",
		"oci-layout:x@sha256:", "h.io/a:b@c", "h.io//a", "/a/b:c:d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := store.ParseReference(s)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidReference) {
				t.Fatalf("ParseReference(%q) error %v does not wrap ErrInvalidReference", s, err)
			}
			return
		}
		switch ref.Kind {
		case store.Layout:
			if ref.Path == "" || ref.Registry != "" || ref.Repository != "" {
				t.Fatalf("ParseReference(%q) = %+v: bad layout", s, ref)
			}
		case store.Remote:
			if ref.Path != "" || ref.Registry == "" || ref.Repository == "" {
				t.Fatalf("ParseReference(%q) = %+v: bad remote", s, ref)
			}
		default:
			t.Fatalf("ParseReference(%q) = %+v: no kind", s, ref)
		}
		last := ref.Path[strings.LastIndexByte(ref.Path, '/')+1:]
		if ref.Kind == store.Layout && ref.Tag == "" && strings.ContainsAny(last, ":@") {
			return // documented: not writable back unambiguously
		}
		back, err := store.ParseReference(ref.String())
		if err != nil || back != ref {
			t.Fatalf("ParseReference(%q) = %+v; String() = %q parses to %+v, %v", s, ref, ref.String(), back, err)
		}
	})
}
