package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// inspectOf runs inspect --json and decodes it.
func inspectOf(t *testing.T, ref string) (inspectJSON, string) {
	t.Helper()
	code, out, errOut := runTest(t, "inspect", "--json", ref)
	var j inspectJSON
	if code != ExitOK || json.Unmarshal([]byte(out), &j) != nil {
		t.Fatalf("inspect --json %s = %d\n%s\n%s", ref, code, out, errOut)
	}
	return j, out
}

// Test_runPush_SourceFailuresBesideTheBundle: a first mirror serves a
// corrupt tarball for one package (its gzip checksum wrong), push falls
// back to the good mirror. The bundle is byte for byte the one a push from
// the good mirror alone writes, and the one a push past the corrupt mirror
// without a provenance record writes. The failure, with its exact source
// and reason, is in push --json, in the provenance record, and in
// inspect (text and --json) read from the record; with --no-provenance,
// nowhere on the stick.
func Test_runPush_SourceFailuresBesideTheBundle(t *testing.T) {
	w, static := testWorld(t)
	victim, other := plainVersions(t, w)
	bad := staticCopy(t, w)
	corrupt := mustReadFile(t, victim.Tarball)
	corrupt[len(corrupt)-8] ^= 0xff // the gzip trailer's CRC-32
	replaceFile(t, filepath.Join(bad, "package", victim.Package.UUID.String(), victim.TreeHash.String()), corrupt)
	m := writeManifest(t, victim, other)
	push := func(dest string, extra ...string) pushJSON {
		t.Helper()
		args := append([]string{"push", "--json", "--created", "2026-11-20T10:00:00Z", "--manifest", m}, extra...)
		code, out, errOut := runTest(t, append(args, dest+":v1")...)
		var sum pushJSON
		if code != ExitOK || json.Unmarshal([]byte(out), &sum) != nil {
			t.Fatalf("push %v = %d\n%s\n%s", extra, code, out, errOut)
		}
		return sum
	}
	past := filepath.Join(t.TempDir(), "past")
	alone := filepath.Join(t.TempDir(), "alone")
	none := filepath.Join(t.TempDir(), "none")
	sumPast := push(past, "--from", "file://"+bad, "--from", "file://"+static)
	sumAlone := push(alone, "--from", "file://"+static)
	sumNone := push(none, "--from", "file://"+bad, "--from", "file://"+static, "--no-provenance")

	if sumPast.Digest == "" || sumPast.Digest != sumAlone.Digest || sumNone.Digest != sumAlone.Digest {
		t.Errorf("bundle past the corrupt mirror %s, from the good one alone %s, without a record %s: want one digest",
			sumPast.Digest, sumAlone.Digest, sumNone.Digest)
	}
	want := []bundle.SourceFailure{{Kind: bundle.KindPackage, Item: "package " + victim.Package.Name + "@" + victim.Version,
		UUID: victim.Package.UUID, TreeHash: victim.TreeHash, Source: "file://" + bad,
		Reason: digest.FromBytes(corrupt).String() + ": rejected: reading tar header block: gzip: invalid checksum"}}
	if !slices.Equal(sumPast.SourceFailures, want) || !slices.Equal(sumNone.SourceFailures, want) || sumAlone.SourceFailures != nil {
		t.Errorf("push --json sourceFailures:\npast %+v\nnone %+v\nalone %+v\nwant %+v", sumPast.SourceFailures, sumNone.SourceFailures, sumAlone.SourceFailures, want)
	}

	// inspect --json: the failure from the record, as push --json gave it.
	j, raw := inspectOf(t, past+":v1")
	if !slices.Equal(j.SourceFailures, want) || len(j.Provenance) != 1 || j.Provenance[0].Digest != sumPast.Provenance {
		t.Errorf("inspect --json: sourceFailures %+v, provenance %+v; want %+v from record %s", j.SourceFailures, j.Provenance, want, sumPast.Provenance)
	}
	if !strings.Contains(raw, `"sourceFailures": [`) {
		t.Errorf("inspect --json has no sourceFailures key:\n%s", raw)
	}
	// inspect: the same line as when the report held it.
	code, out, _ := runTest(t, "inspect", past+":v1")
	line := "\nsource   file://" + bad + " failed for package " + victim.Package.Name + "@" + victim.Version + " " +
		victim.TreeHash.String() + ": " + want[0].Reason + "\n"
	if code != ExitOK || !strings.Contains(out, line) {
		t.Errorf("inspect lacks %q:\n%s", line, out)
	}
	// In the record, not in the bundle: the report is the clean push's.
	if b := readBundleOf(t, past, "v1"); b.Report == nil || b.Report.SourceFailures != nil {
		t.Errorf("the bundle's report holds %+v", b.Report)
	}
	// The good mirror alone, and --no-provenance: no failure on the stick.
	for _, dest := range []string{alone, none} {
		j, raw := inspectOf(t, dest+":v1")
		if j.SourceFailures != nil || strings.Contains(raw, "sourceFailures") {
			t.Errorf("inspect --json %s shows source failures:\n%s", dest, raw)
		}
		if code, out, _ := runTest(t, "inspect", dest+":v1"); code != ExitOK || strings.Contains(out, "\nsource ") {
			t.Errorf("inspect %s shows a source failure:\n%s", dest, out)
		}
	}
	if jn, raw := inspectOf(t, none+":v1"); sumNone.Provenance != "" || len(jn.Provenance) != 0 || strings.Contains(raw, `"provenance"`) {
		t.Errorf("--no-provenance wrote record %q; inspect:\n%s", sumNone.Provenance, raw)
	}
	// Nothing of the bad mirror is on the stick written without a record.
	if idx := mustReadFile(t, filepath.Join(none, "index.json")); bytes.Contains(idx, []byte("sha256-")) {
		t.Errorf("--no-provenance left a referrers tag: %s", idx)
	}
	if n := grepDir(t, none, bad); n != 0 {
		t.Errorf("--no-provenance: %d files on the stick name the bad mirror %s", n, bad)
	}
}

// grepDir counts the files under dir that contain s.
func grepDir(t *testing.T, dir, s string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(s)) {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Test_runInspect_LegacySourceFailures: a bundle written before source
// failures moved to the provenance record holds them in its report; inspect
// (text and --json) still shows them.
func Test_runInspect_LegacySourceFailures(t *testing.T) {
	ctx := context.Background()
	w, static := testWorld(t)
	victim, other := plainVersions(t, w)
	dest := filepath.Join(t.TempDir(), "stick")
	if code, _, errOut := runTest(t, "push", "-q", "--no-provenance", "--from", "file://"+static, "--manifest", writeManifest(t, victim, other), dest+":v1"); code != ExitOK {
		t.Fatalf("push: %s", errOut)
	}
	// The report as shoebox wrote it then, byte for byte.
	want := []bundle.SourceFailure{{Kind: bundle.KindPackage, Item: "package " + victim.Package.Name + "@" + victim.Version,
		UUID: victim.Package.UUID, TreeHash: victim.TreeHash, Source: "https://mirror.example",
		Reason: "tree hash " + other.TreeHash.String() + ": tree hash mismatch"}}
	report := `{"schemaVersion":1,"requests":[{"type":"manifest","value":"Manifest.toml"}],"platforms":["x86_64-linux-gnu"],` +
		`"sourceFailures":[{"kind":"package","item":"` + want[0].Item + `","uuid":"` + victim.Package.UUID.String() +
		`","treeHash":"` + victim.TreeHash.String() + `","source":"https://mirror.example","reason":"` + want[0].Reason + `"}]}`

	b := readBundleOf(t, dest, "v1")
	st, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dest}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(d ocispec.Descriptor, data []byte) {
		t.Helper()
		if ok, err := st.Exists(ctx, d); err != nil || ok {
			return
		}
		if err := st.Push(ctx, d, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	layer := content.NewDescriptorFromBytes(bundle.MediaTypeReport, []byte(report))
	put(layer, []byte(report))
	put(ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: "report.json"}
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: bundle.ArtifactTypeReport, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layer},
		Annotations: map[string]string{bundle.AnnotationKind: "report"}})
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	md.ArtifactType = bundle.ArtifactTypeReport
	put(md, mb)
	md.Annotations = map[string]string{bundle.AnnotationKind: "report", bundle.AnnotationMissing: "0"}
	rep, err := bundle.EntryOf(md)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := bundle.PushIndexEntries(ctx, st, append(slices.Clone(b.Entries), rep), bundle.IndexOptions{Created: b.Created,
		Platforms: []string{"x86_64-linux-gnu"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, idx, "old"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	j, _ := inspectOf(t, dest+":old")
	if !slices.Equal(j.SourceFailures, want) || len(j.Provenance) != 0 {
		t.Errorf("inspect --json of the old bundle: sourceFailures %+v, provenance %+v; want %+v", j.SourceFailures, j.Provenance, want)
	}
	code, out, _ := runTest(t, "inspect", dest+":old")
	line := "\nsource   https://mirror.example failed for " + want[0].Item + " " + victim.TreeHash.String() + ": " + want[0].Reason + "\n"
	if code != ExitOK || !strings.Contains(out, line) {
		t.Errorf("inspect of the old bundle lacks %q:\n%s", line, out)
	}
}
