package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// readLog reads an import log's records.
func readLog(t *testing.T, path string) []importRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []importRecord
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r importRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("import log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func Test_runCopy(t *testing.T) {
	e := trustSetup(t)
	stick := copyLayout(t, e.layout)
	if code, _, errOut := signWith(t, e.keyA, "-q", "--format", "bundle", stick+":v1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	reg := testregistry.New(t, testregistry.Options{})
	repo := reg.Host() + "/julia/bundles"

	// stick → registry, verified against key A.
	code, out, errOut := runTest(t, "copy", "--key", e.pubA, "--plain-http", stick, repo)
	if code != ExitOK || out != "" {
		t.Fatalf("copy = %d\nstdout %q\nstderr %s", code, out, errOut)
	}
	// Every blob of the stick is copied, signatures and the provenance
	// record included; the referrers fallback index (and the one push
	// wrote before sign replaced it) is written by the destination's own
	// rules, not copied.
	total := dirSize(t, filepath.Join(stick, "blobs"))
	st, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: stick}, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := st.Resolve(context.Background(), "sha256-"+strings.TrimPrefix(e.digest, "sha256:"))
	if err != nil {
		t.Fatal(err)
	}
	fallbacks, entries := 0, st.Entries()
	for _, d := range entries {
		if d.MediaType == ocispec.MediaTypeImageIndex && d.ArtifactType == "" {
			total -= d.Size
			fallbacks++
		}
	}
	st.Close()
	if fallbacks != 2 || !slices.ContainsFunc(entries, func(d ocispec.Descriptor) bool { return d.Digest == fb.Digest }) {
		t.Fatalf("the stick lists %d referrers indexes, want 2 (the provenance record's, then sign's)", fallbacks)
	}
	wantLine := "copied oci-layout:" + stick + ":v1 → " + repo + ":v1 (" + e.digest + "): 19 copied (" + humanBytes(total) + "), 4 already there, 2 signature manifests, 1 provenance record; verified, signed by " + e.idA + "\n"
	if !strings.Contains(errOut, wantLine) {
		t.Errorf("copy stderr:\n%s\nwant line %q", errOut, wantLine)
	}
	code, out, errOut = runTest(t, "verify", "--key", e.pubA, "--plain-http", "--deep", repo+":v1")
	if code != ExitOK || !strings.Contains(out, "  signature  ok: signed by "+e.idA+" for tag v1 [cosign-sig-tag, sigstore-bundle]\n") {
		t.Errorf("verify in the registry = %d\n%s\n%s", code, out, errOut)
	}

	// Again: nothing copied, the tag still set.
	code, out, errOut = runTest(t, "copy", "--key", e.pubA, "--plain-http", "--json", stick+":v1", repo)
	var sum copyJSON
	if err := json.Unmarshal([]byte(out), &sum); code != ExitOK || err != nil {
		t.Fatalf("copy again = %d %v\n%s\n%s", code, err, out, errOut)
	}
	if b := sum.Bundles; len(b) != 1 || b[0].Copied != 0 || b[0].Skipped != 3 || b[0].Provenance != 1 || b[0].Result != "ok" || !b[0].Verified || sum.Log != "" {
		t.Errorf("copy again summary = %+v", sum)
	}

	// registry → a new layout under another tag; the log lands in the layout.
	back := filepath.Join(t.TempDir(), "back")
	code, _, errOut = runTest(t, "copy", "--key", e.pubA, "--plain-http", "-q", repo+":v1", back+":imported")
	if code != ExitOK {
		t.Fatalf("registry → layout = %d %s", code, errOut)
	}
	recs := readLog(t, filepath.Join(back, ".shoebox", "import.log"))
	want := importRecord{Time: "1970-01-01T00:00:00Z", Source: repo + ":v1", Destination: "oci-layout:" + back + ":imported",
		Digest: e.digest, Tag: "imported", Result: "ok", Verified: true, Signers: []string{e.idA},
		Formats: []string{"cosign-sig-tag", "sigstore-bundle"}, Copied: 19, Skipped: 4, Bytes: total, Signatures: 2, Provenance: 1}
	if len(recs) != 1 || !sameRecord(recs[0], want) {
		t.Errorf("import log = %+v\nwant %+v", recs, want)
	}
	code, out, _ = runTest(t, "verify", "--key", e.pubA, back)
	if code != ExitOK || !strings.Contains(out, "bundle oci-layout:"+back+":imported ("+e.digest+")\n") {
		t.Errorf("verify of the copy = %d\n%s", code, out)
	}
}

// dirSize sums the sizes of the files under dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sameRecord(a, b importRecord) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func Test_runCopy_Refuses(t *testing.T) {
	e := trustSetup(t)
	reg := testregistry.New(t, testregistry.Options{})
	repo := reg.Host() + "/julia/refused"
	logFile := filepath.Join(t.TempDir(), "import.log")

	// Unsigned: refused, exit 3, nothing in the registry, the refusal logged.
	code, _, errOut := runTest(t, "copy", "--key", e.pubA, "--plain-http", "--log", logFile, e.layout+":v1", repo)
	wantErr := "import log: " + logFile + "\nshoebox: oci-layout:" + e.layout + ":v1: not copied: " + e.digest + ": unsigned: no cosign signature or Sigstore bundle found\n"
	if code != ExitVerify || errOut != wantErr {
		t.Errorf("copy unsigned = %d %q, want 3 %q", code, errOut, wantErr)
	}
	code, out, _ := runTest(t, "ls", "--plain-http", repo)
	if code != ExitOK || strings.TrimSpace(out) != "TAG  DIGEST  CREATED  REGISTRIES  PACKAGES  ARTIFACTS  SIZE  MISSING" {
		t.Errorf("registry after a refusal: ls = %d\n%s", code, out)
	}
	recs := readLog(t, logFile)
	if len(recs) != 1 || recs[0].Result != "refused" || recs[0].Verified || recs[0].Copied != 0 ||
		recs[0].Error != "not copied: "+e.digest+": unsigned: no cosign signature or Sigstore bundle found" {
		t.Errorf("log after a refusal = %+v", recs)
	}

	// Tampered: refused, exit 3, the item named.
	bad := copyLayout(t, e.layout)
	if code, _, errOut := signWith(t, e.keyA, "-q", bad+":v1"); code != ExitOK {
		t.Fatal(errOut)
	}
	for _, en := range readBundleOf(t, bad, "v1").Entries {
		if strings.HasSuffix(en.Name, "_jll") {
			flipByte(t, blobPath(bad, en.Whole.Digest.String()))
			wantErr = en.Item.String() + ": " + en.Whole.Digest.String() + ": integrity check failed: mismatched digest"
		}
	}
	badDst := filepath.Join(t.TempDir(), "dst")
	code, _, errOut = runTest(t, "copy", "--key", e.pubA, bad+":v1", badDst)
	if code != ExitVerify || !strings.Contains(errOut, wantErr) {
		t.Errorf("copy tampered = %d %q, want 3 and %q", code, errOut, wantErr)
	}
	if _, err := os.Stat(filepath.Join(badDst, "index.json")); err == nil {
		t.Errorf("a refused copy created a layout at %s", badDst)
	}

	// --no-verify copies the unsigned bundle anyway.
	code, _, errOut = runTest(t, "copy", "--no-verify", "--plain-http", "-q", "--log", logFile, e.layout+":v1", repo+":lab")
	if code != ExitOK {
		t.Fatalf("copy --no-verify = %d %s", code, errOut)
	}
	if recs := readLog(t, logFile); len(recs) != 2 || recs[1].Result != "ok" || recs[1].Verified || recs[1].Tag != "lab" {
		t.Errorf("log after --no-verify = %+v", recs)
	}

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no policy", []string{e.layout, repo}, "copy verifies first: give --key or --policy (or --no-verify)"},
		{"no-verify and key", []string{"--no-verify", "--key", e.pubA, e.layout, repo}, "--no-verify contradicts"},
		{"tag needs one bundle", []string{"--key", e.pubA, "--tag", "x", e.layout, repo}, "a destination tag needs one source bundle"},
		{"tags disagree", []string{"--key", e.pubA, "--tag", "x", e.layout + ":v1", repo + ":y"}, `--tag "x" and DST's tag "y" disagree`},
		{"digest without tag", []string{"--key", e.pubA, e.layout + "@" + e.digest, repo}, "names a bundle by digest"},
		{"one argument", []string{"--key", e.pubA, e.layout}, "SRC[:TAG] DST[:TAG]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runTest(t, append([]string{"copy"}, tc.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.wantErr)
			}
		})
	}
}

// Harbor-style registry access: TLS with a private CA, basic auth from
// standard input (a robot account).
func Test_runCopy_TLSAuth(t *testing.T) {
	e := trustSetup(t)
	stick := copyLayout(t, e.layout)
	if code, _, errOut := signWith(t, e.keyA, "-q", stick+":v1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	reg := testregistry.New(t, testregistry.Options{TLS: true, Htpasswd: map[string]string{"robot$julia": "s3cret"}})
	repo := reg.Host() + "/julia/bundles"
	code, _, errOut := keyRun{stdin: "s3cret\n"}.run(t, "copy", "-q", "--key", e.pubA, "--ca-file", reg.CAFile(),
		"--username", "robot$julia", "--password-stdin", stick+":v1", repo)
	if code != ExitOK {
		t.Fatalf("copy over TLS with basic auth = %d %s", code, errOut)
	}
	code, out, errOut := keyRun{stdin: "s3cret\n"}.run(t, "verify", "--key", e.pubA, "--ca-file", reg.CAFile(),
		"--username", "robot$julia", "--password-stdin", repo+":v1")
	if code != ExitOK || !strings.Contains(out, "  signature  ok: signed by "+e.idA) {
		t.Errorf("verify over TLS with basic auth = %d\n%s\n%s", code, out, errOut)
	}
	// A wrong password: a clear error naming the registry, nothing copied.
	code, _, errOut = keyRun{stdin: "wrong\n"}.run(t, "copy", "-q", "--key", e.pubA, "--ca-file", reg.CAFile(),
		"--username", "robot$julia", "--password-stdin", stick+":v1", reg.Host()+"/julia/other")
	if code != ExitError || !strings.Contains(errOut, "registry "+reg.Host()+": repository julia/other: registry authentication failed") {
		t.Errorf("copy with a wrong password = %d %q", code, errOut)
	}
	// Without the CA: the TLS failure is reported, exit 1.
	code, _, errOut = runTest(t, "verify", "--key", e.pubA, repo+":v1")
	if code != ExitError || !strings.Contains(errOut, "certificate") {
		t.Errorf("verify without --ca-file = %d %q", code, errOut)
	}
}
