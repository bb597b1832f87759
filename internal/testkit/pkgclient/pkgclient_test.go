package pkgclient

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

const regUUID = "23338594-aafe-5451-b93e-139f81909106"

// registryTar is a minimal registry tree as a tar stream, with entry names
// prefixed by prefix ("" or "./").
func registryTar(t *testing.T, prefix string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	body := "name = \"General\"\nuuid = \"" + regUUID + "\"\n\n[packages]\n"
	tw.WriteHeader(&tar.Header{Name: prefix + "Registry.toml", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
	tw.Write([]byte(body))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// server answers /registries with lines and the registry with body.
func server(t *testing.T, lines string, hash treehash.Hash, body []byte) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/registries":
			w.Write([]byte(lines))
		case "/registry/" + regUUID + "/" + hash.String():
			w.Header().Set("Content-Type", "application/x-gzip")
			w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	return hs
}

func TestClient_Registry(t *testing.T) {
	plain := registryTar(t, "")
	dotted := registryTar(t, "./")
	hPlain, _ := treehash.Tar(bytes.NewReader(plain))
	hDotted, _ := treehash.Tar(bytes.NewReader(dotted))
	if hPlain.KeepEmpty != hDotted.KeepEmpty {
		t.Fatalf("./ prefix changed the tree hash: %s vs %s", hPlain.KeepEmpty, hDotted.KeepEmpty)
	}
	h := hPlain.KeepEmpty
	zs, _ := zstd.NewWriter(nil)
	defer zs.Close()
	line := "/registry/" + regUUID + "/" + h.String() + "\n"
	for _, tc := range []struct {
		name, julia string
		body        []byte
		lines       string
		err         error
		msg         string
	}{
		{"gzip", "", gz(plain), line, nil, ""},
		{"ignored lines", "", gz(plain), "junk\n/registry/a/b/c\n" + line + "\n", nil, ""},
		{"dot-slash paths load nothing (G3)", "", gz(dotted), line, ErrAborted, "KeyError"},
		{"zstd on 1.13", "1.13.1", zs.EncodeAll(plain, nil), line, nil, ""},
		{"zstd on 1.12", "1.12.4", zs.EncodeAll(plain, nil), line, nil, "not a gzip stream"},
		{"plain tar", "", plain, line, nil, "none data is not a gzip or zstd stream"},
		{"wrong hash", "", gz(registryTar(t, "x")), line, ErrHashMismatch, ""},
		{"junk registry line aborts", "", gz(plain), "/registry/not-a-uuid/" + h.String() + "\n", ErrAborted, "not-a-uuid"},
		{"not listed", "", gz(plain), "", ErrNoSource, "would git clone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := server(t, tc.lines, h, tc.body)
			c, err := New(strings.TrimPrefix(hs.URL, "")+"///", Options{Depot: t.TempDir(), JuliaVersion: tc.julia})
			if err != nil {
				t.Fatal(err)
			}
			err = c.InstallDefaultRegistries(context.Background())
			switch {
			case tc.err == nil && tc.msg == "":
				if err != nil {
					t.Fatalf("InstallDefaultRegistries: %v", err)
				}
				if regs := c.Registries(); len(regs) != 1 || regs[0].Name != "General" || regs[0].Hash != h {
					t.Errorf("installed %v", regs)
				}
			case tc.err != nil && !errors.Is(err, tc.err), err == nil, !strings.Contains(err.Error(), tc.msg):
				t.Errorf("InstallDefaultRegistries = %v, want %v containing %q", err, tc.err, tc.msg)
			}
		})
	}
}

func TestClient_HeadersAndBase(t *testing.T) {
	var got []http.Header
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Clone())
		http.NotFound(w, r)
	}))
	defer hs.Close()
	c, err := New(hs.URL+"//", Options{Depot: t.TempDir(), Headers: map[string]string{"REGISTRY_PREFERENCE": "eager"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Base() != hs.URL {
		t.Errorf("Base() = %q, want %q", c.Base(), hs.URL)
	}
	_, err = c.FetchRegistries(context.Background())
	if !errors.Is(err, ErrNoServer) {
		t.Errorf("FetchRegistries on a 404 = %v, want ErrNoServer", err)
	}
	c.get(context.Background(), hs.URL+"/artifact/0000000000000000000000000000000000000000")
	want := map[string]string{
		"Julia-Pkg-Protocol": "1.0", "Julia-Pkg-Server": hs.URL, "Julia-Version": "1.13.0",
		"Julia-System": "x86_64-linux-gnu-libgfortran5-cxx11-julia_version+1.13.0", "Julia-Interactive": "false",
		"Julia-Registry-Preference": "eager", "User-Agent": "curl/8.11.1 julia/1.13",
		"Julia-Ci-Variables": "APPVEYOR=n;CI=n;CI_SERVER=n;CIRCLECI=n;CONTINUOUS_INTEGRATION=n;GITHUB_ACTIONS=n;GITLAB_CI=n;JULIA_CI=n;JULIA_PKGEVAL=n;JULIA_REGISTRYCI_AUTOMERGE=n;TF_BUILD=n;TRAVIS=n",
	}
	for k, v := range want {
		if got[0].Get(k) != v {
			t.Errorf("/registries header %s = %q, want %q", k, got[0].Get(k), v)
		}
	}
	if got[0].Get("Accept-Encoding") != "" || got[1].Get("Accept-Encoding") != "zstd, gzip" {
		t.Errorf("Accept-Encoding = %q on /registries and %q on /artifact, want none and \"zstd, gzip\"", got[0].Get("Accept-Encoding"), got[1].Get("Accept-Encoding"))
	}
	if r := c.Requests(); len(r) != 2 || r[0].String() != "GET /registries 404" || r[1].String() != "GET /artifact/0000000000000000000000000000000000000000 404" {
		t.Errorf("Requests() = %v", r)
	}
	c2, _ := New("localhost:8080/", Options{Depot: t.TempDir()})
	if c2.Base() != "https://localhost:8080" {
		t.Errorf("Base() of a scheme-less server = %q, want https://localhost:8080 (G5)", c2.Base())
	}
}
