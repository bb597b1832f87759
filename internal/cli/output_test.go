package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
)

// jsonKeys returns every object key in a decoded JSON document, as
// dotted paths.
func jsonKeys(v any, path string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			out[path+k] = true
			if path == "annotations." || strings.HasSuffix(path, ".annotations.") {
				continue
			}
			jsonKeys(c, path+k+".", out)
		}
	case []any:
		for _, c := range x {
			jsonKeys(c, path, out)
		}
	}
}

func sortedJSONKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestInspectJSON(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")

	code, out, errOut := runTest(t, "inspect", "--json", dest+":v1")
	if code != 0 {
		t.Fatalf("inspect --json: exit %d: %s", code, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	jsonKeys(doc, "", keys)
	for k := range keys {
		last := k[strings.LastIndexByte(k, '.')+1:]
		if strings.HasPrefix(k, "annotations.") {
			continue
		}
		if r := []rune(last)[0]; !unicode.IsLower(r) {
			t.Errorf("inspect --json key %q is not lower camel case", k)
		}
	}
	want := []string{"annotations", "bundle", "bytes", "created", "digest", "items", "items.artifact", "items.package",
		"items.registry", "missing", "platforms", "provenance", "provenance.digest", "provenance.items", "provenance.items.fetched",
		"requests", "requests.type", "requests.value", "size"}
	if got := sortedJSONKeys(keys); !reflect.DeepEqual(filterAnnotations(got), want) {
		t.Errorf("inspect --json keys = %v, want %v", filterAnnotations(got), want)
	}
	var j inspectJSON
	json.Unmarshal([]byte(out), &j)
	ro := openRW(t, dest)
	d, _ := ro.Resolve(context.Background(), "v1")
	ro.Close()
	if j.Bundle != "oci-layout:"+dest+":v1" || j.Digest != d.Digest.String() || j.Size != d.Size ||
		!reflect.DeepEqual(j.Platforms, []string{"x86_64-linux-gnu"}) || len(j.Requests) != 1 ||
		j.Requests[0].Type != "manifest" || j.Requests[0].Value != w.Manifests[0] || len(j.Missing) != 0 ||
		j.Items["registry"] != 1 || j.Annotations["dev.shoebox.bundle.platforms"] != "x86_64-linux-gnu" {
		t.Errorf("inspect --json = %+v", j)
	}

	// --item adds the matching entries, with their tarballs and layers.
	code, out, _ = runTest(t, "inspect", "--json", "--item", "General", dest+":v1")
	json.Unmarshal([]byte(out), &j)
	if code != 0 || len(j.Entries) != 1 || j.Entries[0].Kind != "registry" || j.Entries[0].Name != "General" ||
		j.Entries[0].Tarball.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" || len(j.Entries[0].Layers) != 1 ||
		j.Entries[0].Layers[0] != j.Entries[0].Tarball {
		t.Errorf("inspect --json --item General = %d %+v", code, j.Entries)
	}
	var raw map[string]any
	json.Unmarshal([]byte(out), &raw)
	ek := map[string]bool{}
	jsonKeys(raw["entries"], "", ek)
	if got := strings.Join(sortedJSONKeys(ek), " "); got != "kind layers layers.digest layers.mediaType layers.size manifest name parts size sources tarball tarball.digest tarball.mediaType tarball.size treeHash uuid versions" &&
		got != "kind layers layers.digest layers.mediaType layers.size manifest name parts size sources tarball tarball.digest tarball.mediaType tarball.size treeHash uuid" {
		t.Errorf("inspect --json entries keys = %s", got)
	}

	// ls --json: platforms is a list there too.
	code, out, _ = runTest(t, "ls", "--json", dest)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 1 ||
		!reflect.DeepEqual(rows[0]["platforms"], []any{"x86_64-linux-gnu"}) {
		t.Errorf("ls --json = %d %v: %s", code, err, out)
	}
	// Stores are named the same way in every JSON document.
	code, out, _ = runTest(t, "verify", "--json", "--key", keyOnly(t), dest) // unsigned: exit 3, with its report
	var vj map[string]any
	json.Unmarshal([]byte(out), &vj)
	if code != ExitVerify || vj["store"] != "oci-layout:"+dest {
		t.Errorf("verify --json store = %v, want %q", vj["store"], "oci-layout:"+dest)
	}
}

func filterAnnotations(keys []string) []string {
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, "annotations.") {
			out = append(out, k)
		}
	}
	return out
}

func keyOnly(t *testing.T) string {
	pub, _ := keyPair(t)
	return pub
}

// A mistyped tag names the store's bundles and the closest; under --json
// the error is a JSON document on standard output.
func TestHint_MistypedTag(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "2026-11")
	pushTag(t, static, w.Manifests[2], dest, "2026-12")
	code, out, errOut := runTest(t, "ls", dest+":2026-1l")
	want := "shoebox: oci-layout:" + dest + ":2026-1l: 2026-1l: not found\n" +
		"hint: oci-layout:" + dest + " holds the bundles 2026-11, 2026-12; did you mean oci-layout:" + dest + ":2026-11?\n"
	if code != ExitNotFound || out != "" || errOut != want {
		t.Errorf("ls a mistyped tag: exit %d, stdout %q, stderr %q; want 4 and %q", code, out, errOut, want)
	}
	code, out, errOut = runTest(t, "inspect", dest+":nightly")
	want = "shoebox: oci-layout:" + dest + ":nightly: nightly: not found\nhint: oci-layout:" + dest + " holds the bundles 2026-11, 2026-12\n"
	if code != ExitNotFound || out != "" || errOut != want {
		t.Errorf("inspect an unknown tag: exit %d, stdout %q, stderr %q; want 4 and %q", code, out, errOut, want)
	}

	code, out, _ = runTest(t, "ls", "--json", dest+":2026-1l")
	var j errorJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != ExitNotFound || j.ExitCode != ExitNotFound ||
		j.Error != "oci-layout:"+dest+":2026-1l: 2026-1l: not found" || len(j.Hints) != 1 || !strings.HasSuffix(j.Hints[0], "did you mean oci-layout:"+dest+":2026-11?") {
		t.Errorf("ls --json a mistyped tag: exit %d, %q", code, out)
	}
	// A usage error too.
	code, out, _ = runTest(t, "ls", "--json", "--kind", "jll", dest)
	if code != ExitUsage || out != "{\n  \"error\": \"--kind \\\"jll\\\": want registry, package or artifact\",\n  \"exitCode\": 2\n}\n" {
		t.Errorf("ls --json --kind jll: exit %d, %q", code, out)
	}
}

func TestClosest(t *testing.T) {
	tags := []string{"2026-11", "2026-12", "prod", "release-7"}
	for want, in := range map[string]string{"2026-11": "2026-1l", "prod": "Prod", "release-7": "relase-7", "": "nightly"} {
		if got := closest(in, tags); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

// The errors users stall on get one line naming the flag that fixes them.
func TestHint_RegistryConnection(t *testing.T) {
	reg := testregistry.New(t, testregistry.Options{})
	code, _, errOut := runTest(t, "ls", reg.Host()+"/julia/x")
	if code != ExitError || !strings.Contains(errOut, "server gave HTTP response to HTTPS client") ||
		!strings.HasSuffix(errOut, "\nhint: the registry speaks plain HTTP: add --plain-http (labs only)\n") {
		t.Errorf("ls an HTTP registry over HTTPS: exit %d, %q", code, errOut)
	}

	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	host := strings.TrimPrefix(tlsSrv.URL, "https://")
	code, _, errOut = runTest(t, "ls", host+"/julia/x")
	if code != ExitError || !strings.Contains(errOut, "x509: certificate signed by unknown authority") ||
		!strings.HasSuffix(errOut, "\nhint: the registry's certificate is signed by a CA this machine does not trust: give the CA with --ca-file CA.pem (or --insecure, labs only)\n") {
		t.Errorf("ls a registry with an unknown CA: exit %d, %q", code, errOut)
	}

	// A 401 with distribution's detail: words, not a Go map.
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"julia/x","Action":"pull"}]}]}`))
	}))
	defer auth.Close()
	host = strings.TrimPrefix(auth.URL, "http://")
	code, _, errOut = keyRun{stdin: "wrong\n"}.run(t, "ls", "--plain-http", "--username", "robot$julia", "--password-stdin", host+"/julia/x")
	if code != ExitError || strings.Contains(errOut, "map[") ||
		!strings.Contains(errOut, ": 401 Unauthorized: authentication required (pull access to repository julia/x)") ||
		!strings.HasSuffix(errOut, "\nhint: the registry refused these credentials: check --username and the password on standard input\n") {
		t.Errorf("ls a registry that refuses credentials: exit %d, %q", code, errOut)
	}
	code, _, errOut = runTest(t, "ls", "--plain-http", host+"/julia/x")
	if code != ExitError || !strings.HasSuffix(errOut, "\nhint: the registry wants credentials: --username with --password-stdin, or a docker config login (DOCKER_CONFIG)\n") {
		t.Errorf("ls a registry that wants credentials: exit %d, %q", code, errOut)
	}
}

// copy into a registry leaves a record by default, next to the user's
// configuration; the summary names the file.
func TestCopy_DefaultImportLog(t *testing.T) {
	e := trustSetup(t)
	reg := testregistry.New(t, testregistry.Options{})
	for _, tc := range []struct {
		name string
		env  func(dir string) map[string]string
		log  func(dir string) string
	}{
		{"XDG_CONFIG_HOME", func(d string) map[string]string {
			return map[string]string{"XDG_CONFIG_HOME": d, "HOME": "/nonexistent"}
		},
			func(d string) string { return filepath.Join(d, "shoebox", "imports.jsonl") }},
		{"HOME", func(d string) map[string]string { return map[string]string{"HOME": d} },
			func(d string) string { return filepath.Join(d, ".config", "shoebox", "imports.jsonl") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// Unsigned: refused (exit 3), and the refusal is recorded.
			code, _, errOut := keyRun{env: tc.env(dir)}.run(t, "copy", "--key", e.pubA, "--plain-http", e.layout+":v1", reg.Host()+"/julia/logged")
			if code != ExitVerify || !strings.Contains(errOut, "import log: "+tc.log(dir)+"\n") {
				t.Errorf("copy: exit %d, stderr %q; want 3 and the log named", code, errOut)
			}
			recs := readLog(t, tc.log(dir))
			if len(recs) != 1 || recs[0].Result != "refused" || recs[0].Destination != reg.Host()+"/julia/logged:v1" {
				t.Errorf("import log = %+v", recs)
			}
		})
	}
}
