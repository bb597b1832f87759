package julia

import (
	"errors"
	"maps"
	"testing"
)

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		canonical string
		tags      map[string]string
	}{
		{"x86_64-linux-gnu-libgfortran5-cxx11-julia_version+1.10.4", "",
			map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc", "libgfortran_version": "5.0.0", "cxxstring_abi": "cxx11", "julia_version": "1.10.4"}},
		{"x86_64-linux-gnu-libgfortran5-cxx11-libstdcxx30-julia_version+1.10.4", "",
			map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc", "libgfortran_version": "5.0.0", "cxxstring_abi": "cxx11", "libstdcxx_version": "3.4.30", "julia_version": "1.10.4"}},
		{"aarch64-apple-darwin", "", map[string]string{"arch": "aarch64", "os": "macos"}},
		{"aarch64-apple-darwin20", "", map[string]string{"arch": "aarch64", "os": "macos", "os_version": "20.0.0"}},
		{"x86_64-w64-mingw32", "", map[string]string{"arch": "x86_64", "os": "windows"}},
		{"i686-w64-mingw32-gcc7", "i686-w64-mingw32-libgfortran4", map[string]string{"arch": "i686", "os": "windows", "libgfortran_version": "4.0.0"}},
		{"x86_64-linux-gnu-gcc4-cxx03", "x86_64-linux-gnu-libgfortran3-cxx03", map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc", "libgfortran_version": "3.0.0", "cxxstring_abi": "cxx03"}},
		{"x86_64-linux-gnu-gcc8", "x86_64-linux-gnu-libgfortran5", map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc", "libgfortran_version": "5.0.0"}},
		{"armv7l-linux-musleabihf", "", map[string]string{"arch": "armv7l", "os": "linux", "libc": "musl", "call_abi": "eabihf"}},
		{"armv7l-linux-gnu", "armv7l-linux-gnueabihf", map[string]string{"arch": "armv7l", "os": "linux", "libc": "glibc", "call_abi": "eabihf"}},
		{"armv6l-linux-gnueabi", "", map[string]string{"arch": "armv6l", "os": "linux", "libc": "glibc", "call_abi": "eabi"}},
		{"x86_64-linux", "x86_64-linux-gnu", map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc"}},
		{"x86_64-unknown-linux-gnu", "x86_64-linux-gnu", map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc"}},
		{"amd64-unknown-freebsd13.2", "x86_64-unknown-freebsd13.2", map[string]string{"arch": "x86_64", "os": "freebsd", "os_version": "13.2.0"}},
		{"x86_64-unknown-openbsd", "", map[string]string{"arch": "x86_64", "os": "openbsd"}},
		{"powerpc64le-linux-gnu", "", map[string]string{"arch": "powerpc64le", "os": "linux", "libc": "glibc"}},
		{"ppc64le-linux-gnu", "powerpc64le-linux-gnu", map[string]string{"arch": "powerpc64le", "os": "linux", "libc": "glibc"}},
		{"riscv64-linux-musl", "", map[string]string{"arch": "riscv64", "os": "linux", "libc": "musl"}},
		{"x86_64-linux-gnu-sanitize+memory-cuda+12.2", "x86_64-linux-gnu-cuda+12.2-sanitize+memory",
			map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc", "sanitize": "memory", "cuda": "12.2"}},
		{"x86_64-linux-gnu-CUDA+12.2", "x86_64-linux-gnu-cuda+12.2", map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc", "cuda": "12.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePlatform(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(p.Tags(), tt.tags) {
				t.Errorf("tags = %v, want %v", p.Tags(), tt.tags)
			}
			want := tt.canonical
			if want == "" {
				want = tt.in
			}
			if got := p.Triplet(); got != want {
				t.Errorf("Triplet() = %q, want %q", got, want)
			}
			q, err := ParsePlatform(p.Triplet())
			if err != nil || !q.Equal(p) {
				t.Errorf("re-parse %q: %v %v", p.Triplet(), q.Tags(), err)
			}
		})
	}
	for _, bad := range []string{"", "x86_64", "sparc-linux-gnu", "x86_64-linux-gnu-foo", "x86_64-linux-gnu-arch+aarch64", "x86_64-linux-gnu-a+b:c", "x86_64-linux-gnu-libstdcxx99999999999"} {
		if _, err := ParsePlatform(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePlatform(%q) err = %v", bad, err)
		}
	}
}

func TestNewPlatform(t *testing.T) {
	t.Parallel()
	p, err := NewPlatform("AMD64", "Linux", map[string]string{"libgfortran_version": "5", "CUDA": "12.2"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"arch": "x86_64", "os": "linux", "libc": "glibc", "libgfortran_version": "5.0.0", "cuda": "12.2"}
	if !maps.Equal(p.Tags(), want) || p.Triplet() != "x86_64-linux-gnu-libgfortran5-cuda+12.2" {
		t.Errorf("%v %s", p.Tags(), p.Triplet())
	}
	for _, a := range []struct{ in, want string }{{"i386", "i686"}, {"armv6", "armv6l"}, {"armv8l", "armv7l"}, {"arm64", "aarch64"}, {"ppc64le", "powerpc64le"}} {
		if p, _ := NewPlatform(a.in, "linux", nil); p.Arch() != a.want {
			t.Errorf("arch %s = %s, want %s", a.in, p.Arch(), a.want)
		}
	}
	if _, err := NewPlatform("x86_64", "linux", map[string]string{"os": "macos"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("double os: %v", err)
	}
	if _, err := NewPlatform("x86_64", "linux", map[string]string{"a b": "c"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad tag: %v", err)
	}
}

func TestPlatformsMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		art, host  string
		hostIsHost bool
		want       bool
	}{
		{"julia minor equal", "x86_64-linux-gnu-julia_version+1.10.0", "x86_64-linux-gnu-julia_version+1.10.4", true, true},
		{"julia minor differs", "x86_64-linux-gnu-julia_version+1.11.0", "x86_64-linux-gnu-julia_version+1.10.4", true, false},
		{"julia absent on artifact", "x86_64-linux-gnu", "x86_64-linux-gnu-julia_version+1.10.4", true, true},
		{"libgfortran equal", "x86_64-linux-gnu-libgfortran5", "x86_64-linux-gnu-libgfortran5-cxx11", true, true},
		{"libgfortran differs", "x86_64-linux-gnu-libgfortran4", "x86_64-linux-gnu-libgfortran5", true, false},
		{"cxx11 vs cxx03", "x86_64-linux-gnu-cxx03", "x86_64-linux-gnu-cxx11", true, false},
		{"cxx11", "x86_64-linux-gnu-cxx11", "x86_64-linux-gnu-libgfortran5-cxx11", true, true},
		{"musl vs glibc", "x86_64-linux-musl", "x86_64-linux-gnu", true, false},
		{"extra tag matches", "x86_64-linux-gnu-sanitize+memory", "x86_64-linux-gnu", true, true},
		{"extra tag differs", "x86_64-linux-gnu-cuda+11.8", "x86_64-linux-gnu-cuda+12.2", true, false},
		{"arch differs", "aarch64-linux-gnu", "x86_64-linux-gnu", true, false},
		{"armv7l default abi", "armv7l-linux-gnu", "armv7l-linux-gnueabihf", true, true},
		{"armv7l eabi", "armv7l-linux-gnueabi", "armv7l-linux-gnueabihf", true, false},
		{"os_version cap ok", "x86_64-apple-darwin14", "x86_64-apple-darwin20", true, true},
		{"os_version cap exceeded", "x86_64-apple-darwin21", "x86_64-apple-darwin20", true, false},
		{"os_version no host", "x86_64-apple-darwin14", "x86_64-apple-darwin20", false, false},
		{"libstdcxx cap ok", "x86_64-linux-gnu-libstdcxx26", "x86_64-linux-gnu-libstdcxx30", true, true},
		{"libstdcxx cap exceeded", "x86_64-linux-gnu-libstdcxx30", "x86_64-linux-gnu-libstdcxx26", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, h := MustParsePlatform(tt.art), MustParsePlatform(tt.host)
			if tt.hostIsHost {
				h = HostPlatform(h)
			}
			if got := PlatformsMatch(a, h); got != tt.want {
				t.Errorf("PlatformsMatch(%s, %s) = %v, want %v", tt.art, tt.host, got, tt.want)
			}
			if got := PlatformsMatch(h, a); got != tt.want {
				t.Errorf("PlatformsMatch(%s, %s) reversed = %v, want %v", tt.host, tt.art, got, tt.want)
			}
		})
	}
	// Two hosts: caps compare for equality.
	h1, h2 := HostPlatform(MustParsePlatform("x86_64-apple-darwin14")), HostPlatform(MustParsePlatform("x86_64-apple-darwin20"))
	if PlatformsMatch(h1, h2) || !PlatformsMatch(h1, h1) {
		t.Error("two hosts")
	}
}
