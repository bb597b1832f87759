package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// spdxSources maps each SPDX package name to its downloadLocation and
// sourceInfo.
func spdxSources(t *testing.T, out string) map[string][2]string {
	t.Helper()
	var doc struct {
		Packages []struct {
			Name             string `json:"name"`
			DownloadLocation string `json:"downloadLocation"`
			SourceInfo       string `json:"sourceInfo"`
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("sbom output: %v\n%s", err, out)
	}
	m := map[string][2]string{}
	for _, p := range doc.Packages {
		m[p.Name] = [2]string{p.DownloadLocation, p.SourceInfo}
	}
	return m
}

// Test_runProvenance: push writes a provenance record (push --json names
// it, inspect shows it, sbom reports its URLs); a forged record changes
// the sources sbom reports and nothing verify says; push --no-provenance
// writes none.
func Test_runProvenance(t *testing.T) {
	e := trustSetup(t)
	w, static := testWorld(t)
	stick := copyLayout(t, e.layout)
	if code, _, errOut := signWith(t, e.keyA, "-q", stick+":v1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	reg := w.Registries[0]
	regURL := "file://" + static + "/registry/" + reg.UUID.String() + "/" + reg.TreeHash.String()

	// inspect: the record and, per item, its source.
	code, out, errOut := runTest(t, "inspect", stick+":v1", "--item", reg.Name)
	if code != ExitOK || !strings.Contains(out, "\nprovenance sha256:") || !strings.Contains(out, " (unsigned, the pusher's word): ") ||
		!strings.Contains(out, "\n  source   fetched "+regURL+" (record sha256:") {
		t.Fatalf("inspect = %d\n%s\n%s", code, out, errOut)
	}
	// sbom: the registry's downloadLocation is where the push fetched it.
	code, out, errOut = runTest(t, "sbom", "--format", "spdx", stick+":v1")
	if code != ExitOK || errOut != "" {
		t.Fatalf("sbom = %d\n%s", code, errOut)
	}
	if got := spdxSources(t, out)[reg.Name]; got[0] != regURL || !strings.HasPrefix(got[1], "fetched from "+regURL+", reported by the pusher in provenance record sha256:") {
		t.Errorf("registry in the SBOM: %q, want %s, reported by the pusher", got, regURL)
	}
	code, verified, errOut := runTest(t, "verify", "--key", e.pubA, "--deep", stick+":v1")
	if code != ExitOK {
		t.Fatalf("verify = %d\n%s\n%s", code, verified, errOut)
	}

	// A forged record (the stick's holder can write one) and one that is
	// not a record at all.
	st, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: stick}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := st.Resolve(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	b := readBundleOf(t, stick, "v1")
	var forged bundle.Provenance
	forged.Bundle = idx.Digest
	for _, en := range b.Entries {
		if en.Kind == bundle.KindRegistry {
			forged.Items = append(forged.Items, bundle.ProvenanceItem{Kind: en.Kind, Name: en.Name, UUID: en.UUID, TreeHash: en.TreeHash,
				Digest: en.Whole.Digest, Method: bundle.MethodFetched, URL: "https://evil.example/General.tar.gz"})
		}
	}
	data, err := forged.Encode()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := trust.PushReferrer(context.Background(), st, idx, bundle.ArtifactTypeProvenance,
		trust.ReferrerLayer{MediaType: bundle.MediaTypeProvenance, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	junk, err := trust.PushReferrer(context.Background(), st, idx, bundle.ArtifactTypeProvenance,
		trust.ReferrerLayer{MediaType: bundle.MediaTypeProvenance, Data: []byte(`{"schemaVersion":1,"items":"all of them"}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, again, errOut := runTest(t, "verify", "--key", e.pubA, "--deep", stick+":v1")
	if code != ExitOK || again != verified {
		t.Errorf("verify after the forgery = %d\n%s\nwant exit 0 and what it said before:\n%s\n%s", code, again, verified, errOut)
	}
	code, out, errOut = runTest(t, "sbom", "--format", "spdx", stick+":v1")
	if code != ExitOK || !strings.Contains(errOut, "warning: ignoring provenance record "+junk.Digest.String()+": ") {
		t.Fatalf("sbom with a forged record = %d\n%s", code, errOut)
	}
	got := spdxSources(t, out)[reg.Name]
	// Both records name a URL: the downloadLocation is the first by URL
	// (file:// sorts before https://), the sourceInfo says what each
	// record reports, and whose word it is.
	if got[0] != regURL ||
		!strings.Contains(got[1], "fetched from https://evil.example/General.tar.gz, reported by the pusher in provenance record "+fd.Digest.String()+" (unsigned)") ||
		!strings.Contains(got[1], "fetched from "+regURL+", reported by the pusher") {
		t.Errorf("registry in the SBOM with a forged record: %q", got)
	}

	// --no-provenance: none written; push --json names the one it writes.
	for _, noProv := range []bool{false, true} {
		dest := filepath.Join(t.TempDir(), "stick")
		args := []string{"push", "--from", "file://" + static, "--manifest", w.Manifests[0], "--json", "-q", dest + ":v1"}
		if noProv {
			args = append(args, "--no-provenance")
		}
		code, out, errOut := runTest(t, args...)
		var sum pushJSON
		if code != ExitOK || json.Unmarshal([]byte(out), &sum) != nil {
			t.Fatalf("push %v = %d\n%s\n%s", args, code, out, errOut)
		}
		if sum.Digest != e.digest {
			t.Errorf("push (no provenance %v): bundle %s, want %s", noProv, sum.Digest, e.digest)
		}
		code, inspected, _ := runTest(t, "inspect", dest+":v1")
		hasLine := strings.Contains(inspected, "\nprovenance "+sum.Provenance+" (unsigned")
		if code != ExitOK || noProv != (sum.Provenance == "") || !noProv && (digest.Digest(sum.Provenance).Validate() != nil || !hasLine) ||
			noProv && strings.Contains(inspected, "\nprovenance ") {
			t.Errorf("push (no provenance %v): record %q; inspect:\n%s", noProv, sum.Provenance, inspected)
		}
	}
}

// TestBudgetFetcher: records are read while they fit in the budget; the
// first that does not stops the reading.
func TestBudgetFetcher(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	blob := []byte(`{"schemaVersion":1}`)
	d := content.NewDescriptorFromBytes(bundle.MediaTypeProvenance, blob)
	if err := st.Push(ctx, d, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	b := &budgetFetcher{Fetcher: st, left: 2*d.Size - 1}
	if rc, err := b.Fetch(ctx, d); err != nil {
		t.Fatalf("first fetch: %v", err)
	} else {
		rc.Close()
	}
	if _, err := b.Fetch(ctx, d); !errors.Is(err, errProvenanceBudget) || b.left != d.Size-1 {
		t.Errorf("second fetch = %v, %d left; want the budget spent", err, b.left)
	}
}
