package julia

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func readArtifacts(t *testing.T, file string) []Artifact {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/artifacts-toml", file))
	if err != nil {
		t.Fatal(err)
	}
	arts, err := ParseArtifacts(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return arts
}

func TestParseArtifacts_Real(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, name          string
		n, lazy, platformed int
	}{
		{"Zlib_jll-1.3.1+0.Artifacts.toml", "Zlib", 17, 0, 17},
		{"XZ_jll-5.4.6+0.Artifacts.toml", "XZ", 16, 0, 16},
		{"OpenSSL_jll-3.0.13+0.Artifacts.toml", "OpenSSL", 16, 0, 16},
		{"p7zip_jll-17.5.0+0.Artifacts.toml", "p7zip", 17, 0, 17},
		{"CUDA_Runtime_jll-0.12.0+1.Artifacts.toml", "CUDA_Runtime", 44, 44, 44},
		{"TZJData-1.1.0+2023d.Artifacts.toml", "tzjdata", 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			arts := readArtifacts(t, tt.file)
			lazy, platformed := 0, 0
			for _, a := range arts {
				if a.Name != tt.name || a.TreeHash.IsZero() || len(a.Downloads) != 1 || len(a.Downloads[0].SHA256) != 64 {
					t.Errorf("entry %+v", a)
				}
				if a.Lazy {
					lazy++
				}
				if a.Platform != nil {
					platformed++
					// Every platform round-trips through its triplet.
					p, err := ParsePlatform(a.Platform.Triplet())
					if err != nil || !p.Equal(*a.Platform) {
						t.Errorf("round trip %s: %v, %v", a.Platform.Triplet(), p.Tags(), err)
					}
				}
			}
			if len(arts) != tt.n || lazy != tt.lazy || platformed != tt.platformed {
				t.Errorf("n %d lazy %d platformed %d; want %d %d %d", len(arts), lazy, platformed, tt.n, tt.lazy, tt.platformed)
			}
		})
	}

	z := readArtifacts(t, "Zlib_jll-1.3.1+0.Artifacts.toml")
	var san []Artifact
	for _, a := range z {
		if v, ok := a.Platform.Tag("sanitize"); ok && v == "memory" {
			san = append(san, a)
		}
	}
	if len(san) != 1 || san[0].TreeHash.String() != "de5e5a31080e5af6e4e0eb3d43e1f7bfd332d522" || san[0].Platform.Triplet() != "x86_64-linux-gnu-sanitize+memory" {
		t.Errorf("sanitize entries = %+v", san)
	}
	if z[0].Platform.Triplet() != "aarch64-apple-darwin" {
		t.Errorf("file order: first = %s", z[0].Platform.Triplet())
	}

	cuda := readArtifacts(t, "CUDA_Runtime_jll-0.12.0+1.Artifacts.toml")
	for _, a := range cuda {
		if _, ok := a.Platform.Tag("cuda"); !ok {
			t.Errorf("no cuda tag: %s", a.Platform.Triplet())
		}
	}
	if got := cuda[0].Platform.Triplet(); got != "x86_64-linux-gnu-cuda+10.2" {
		t.Errorf("cuda[0] = %s", got)
	}

	tz := readArtifacts(t, "TZJData-1.1.0+2023d.Artifacts.toml")
	if tz[0].TreeHash.String() != "b071cffdb310f5d3ca640c09cfa3dc3f23d450ad" || tz[0].Downloads[0].URL != "https://github.com/JuliaTime/TZJData.jl/releases/download/v1.1.0+2023d/tzjfile-v1-tzdata2023d.tar.gz" {
		t.Errorf("tzjdata = %+v", tz[0])
	}
}

func TestParseArtifacts_Malformed(t *testing.T) {
	t.Parallel()
	const h = `git-tree-sha1 = "43563e7631a7eafae1f9f8d9d332e3de44ad7239"` + "\n"
	tests := []struct {
		name, data, wantKey string
	}{
		{"no_gitsha", "[socrates]\nlazy = true\n", "socrates.git-tree-sha1"},
		{"incorrect_gitsha", "[socrates]\ngit-tree-sha1 = \"abc\"\n", "socrates.git-tree-sha1"},
		{"not_a_table", "socrates = 3\n", "socrates"},
		{"incorrect_sha256", "[socrates]\n" + h + "[[socrates.download]]\nurl = \"u\"\nsha256 = \"00\"\n", "socrates.download.0.sha256"},
		{"no url", "[socrates]\n" + h + "[[socrates.download]]\nsha256 = \"e65d2f13f2085f2c279830e863292312a72930fee5ba3c792b14c33ce5c5cc58\"\n", "socrates.download.0.url"},
		{"lazy type", "[socrates]\n" + h + "lazy = \"yes\"\n", "socrates.lazy"},
		{"no os", "[[x]]\n" + h + "arch = \"x86_64\"\n", "x.0.os"},
		{"bad tag", "[[x]]\n" + h + "arch = \"x86_64\"\nos = \"linux\"\ncuda = \"12-2\"\n", "x.0"},
		{"size", "[socrates]\n" + h + "[[socrates.download]]\nurl = \"u\"\nsize = -1\nsha256 = \"e65d2f13f2085f2c279830e863292312a72930fee5ba3c792b14c33ce5c5cc58\"\n", "socrates.download.0.size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseArtifacts("Artifacts.toml", []byte(tt.data))
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ParseError", err)
			}
			if pe.Key != tt.wantKey {
				t.Errorf("key = %q, want %q (%v)", pe.Key, tt.wantKey, err)
			}
		})
	}
}

func triplets(arts []Artifact) []string {
	var out []string
	for _, a := range arts {
		if a.Platform == nil {
			out = append(out, a.Name+":any")
		} else {
			out = append(out, a.Platform.Triplet())
		}
	}
	return out
}

func TestSelectArtifacts(t *testing.T) {
	t.Parallel()
	z := readArtifacts(t, "Zlib_jll-1.3.1+0.Artifacts.toml")
	targets := []Platform{
		MustParsePlatform("x86_64-linux-gnu-libgfortran5-cxx11-julia_version+1.10.4"),
		MustParsePlatform("aarch64-apple-darwin"),
	}
	got := triplets(SelectArtifacts(z, targets, false))
	want := []string{"aarch64-apple-darwin", "x86_64-linux-gnu", "x86_64-linux-gnu-sanitize+memory"}
	if !equalStrings(got, want) {
		t.Errorf("Zlib = %v, want %v", got, want)
	}
	cuda := readArtifacts(t, "CUDA_Runtime_jll-0.12.0+1.Artifacts.toml")
	if n := len(SelectArtifacts(cuda, targets, false)); n != 0 {
		t.Errorf("CUDA without lazy = %d, want 0", n)
	}
	if n := len(SelectArtifacts(cuda, targets, true)); n != 11 {
		t.Errorf("CUDA with lazy = %d, want 11", n)
	}
	tz := readArtifacts(t, "TZJData-1.1.0+2023d.Artifacts.toml")
	if got := triplets(SelectArtifacts(tz, nil, false)); !equalStrings(got, []string{"tzjdata:any"}) {
		t.Errorf("TZJData = %v", got)
	}
	musl := triplets(SelectArtifacts(z, []Platform{MustParsePlatform("x86_64-linux-musl")}, false))
	if !equalStrings(musl, []string{"x86_64-linux-musl"}) {
		t.Errorf("musl = %v", musl)
	}
}

func TestSelectBest(t *testing.T) {
	t.Parallel()
	z := readArtifacts(t, "Zlib_jll-1.3.1+0.Artifacts.toml")
	cuda := readArtifacts(t, "CUDA_Runtime_jll-0.12.0+1.Artifacts.toml")
	tz := readArtifacts(t, "TZJData-1.1.0+2023d.Artifacts.toml")
	tests := []struct {
		name string
		arts []Artifact
		art  string
		host string
		want string // triplet, "" = none
	}{
		{"sanitize loses", z, "Zlib", "x86_64-linux-gnu-libgfortran5-cxx11-libstdcxx30-julia_version+1.10.4", "x86_64-linux-gnu"},
		{"sanitize host", z, "Zlib", "x86_64-linux-gnu-sanitize+memory", "x86_64-linux-gnu-sanitize+memory"},
		{"musl", z, "Zlib", "x86_64-linux-musl-cxx11-julia_version+1.11.1", "x86_64-linux-musl"},
		{"armv7l default abi", z, "Zlib", "armv7l-linux-gnueabihf-julia_version+1.10.4", "armv7l-linux-gnueabihf"},
		{"arm alias", z, "Zlib", "arm-linux-gnueabihf", "armv7l-linux-gnueabihf"},
		{"armv7l eabi", z, "Zlib", "armv7l-linux-gnueabi", ""},
		{"arm64 alias", z, "Zlib", "arm64-apple-darwin20", "aarch64-apple-darwin"},
		{"amd64 alias", z, "Zlib", "amd64-w64-mingw32", "x86_64-w64-mingw32"},
		{"freebsd", z, "Zlib", "x86_64-unknown-freebsd13.2", "x86_64-unknown-freebsd"},
		{"riscv none", z, "Zlib", "riscv64-linux-gnu", ""},
		{"cuda greatest", cuda, "CUDA_Runtime", "x86_64-linux-gnu-julia_version+1.10.4", "x86_64-linux-gnu-cuda+12.4"},
		{"cuda augmented", cuda, "CUDA_Runtime", "x86_64-linux-gnu-cuda+11.8", "x86_64-linux-gnu-cuda+11.8"},
		{"cuda windows", cuda, "CUDA_Runtime", "x86_64-w64-mingw32", "x86_64-w64-mingw32-cuda+12.4"},
		{"independent", tz, "tzjdata", "riscv64-linux-gnu", "tzjdata:any"},
		{"wrong name", z, "Zlib2", "x86_64-linux-gnu", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, ok := SelectBest(tt.arts, tt.art, MustParsePlatform(tt.host))
			got := ""
			if ok {
				got = triplets([]Artifact{a})[0]
			}
			if got != tt.want {
				t.Errorf("SelectBest(%s) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
