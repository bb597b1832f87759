package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/advisory"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	shared       = "../../../shared/testdata"
	registryMini = shared + "/registry-mini"
	// registry-mini's tree hash (shared/testdata/README.md)
	registryMiniHash = "44b305d95fdb7501ac6b9923fee0b5e48ae90e11"
)

var (
	zlibUUID = julia.MustParseUUID("83775a58-1f1d-513f-b197-d71354ab007a")
	xzUUID   = julia.MustParseUUID("ffd25f8a-64ca-5728-b0f7-c24cf3aae800")
	jllwUUID = julia.MustParseUUID("692b3bcd-3c85-4b1f-b108-f13ce0eb3210")
)

// pushBlob stores b and returns its descriptor.
func pushBlob(t *testing.T, st *memory.Store, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := content.NewDescriptorFromBytes(mediaType, b)
	if err := st.Push(context.Background(), d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return d
}

func tarball(t *testing.T, files fstest.MapFS) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tarx.WriteFS(&buf, files, tarx.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readShared(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shared, p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testBundle writes a bundle of real identities into a memory store: the
// registry-mini snapshot (a real slice of General), Zlib_jll 1.3.1+0 and
// XZ_jll 5.4.6+0 with their real Artifacts.toml files, JLLWrappers 1.5.0,
// and the x86_64-linux-gnu artifacts of both JLLs. Package and artifact
// tarballs hold stand-in content (an SBOM reads identities and digests,
// never tree contents), so their tree hashes are the registry's, not the
// contents'.
func testBundle(t *testing.T) (*memory.Store, ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	st := memory.New()
	var items []ocispec.Descriptor
	push := func(it bundle.Item, tgz []byte) {
		it.Layers = []ocispec.Descriptor{pushBlob(t, st, bundle.MediaTypeTarGzip, tgz)}
		d, err := bundle.PushItem(ctx, st, it)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, d)
	}
	var reg bytes.Buffer
	if err := tarx.WriteDir(&reg, registryMini, tarx.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	push(bundle.Item{Kind: bundle.KindRegistry, UUID: julia.MustParseUUID("0dc920e3-1582-5068-8f9a-299f944d40aa"),
		TreeHash: treehash.MustParse(registryMiniHash), Registry: "GeneralMini"}, reg.Bytes())
	jll := func(name string, uuid julia.UUID, version, tree, artsFile string) {
		arts := string(readShared(t, "artifacts-toml/"+artsFile))
		push(bundle.Item{Kind: bundle.KindPackage, UUID: uuid, TreeHash: treehash.MustParse(tree), Name: name,
			Versions: []string{version}, Registry: "GeneralMini", ArtifactsTOML: map[string]string{"Artifacts.toml": arts}},
			tarball(t, fstest.MapFS{"Artifacts.toml": {Data: []byte(arts)}}))
		list, err := julia.ParseArtifacts(artsFile, []byte(arts))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if a.Platform != nil && a.Platform.Triplet() == "x86_64-linux-gnu" {
				push(bundle.Item{Kind: bundle.KindArtifact, TreeHash: a.TreeHash, Name: a.Name, Platform: "x86_64-linux-gnu"},
					tarball(t, fstest.MapFS{"lib/lib" + a.Name + ".so": {Data: []byte(a.TreeHash.String())}}))
			}
		}
	}
	jll("Zlib_jll", zlibUUID, "1.3.1+0", "09c40dc5a5b9be6ab507d22a1c875ec08fb12167", "Zlib_jll-1.3.1+0.Artifacts.toml")
	jll("XZ_jll", xzUUID, "5.4.6+0", "ac88fb95ae6447c8dda6a5503f3bafd496ae8632", "XZ_jll-5.4.6+0.Artifacts.toml")
	push(bundle.Item{Kind: bundle.KindPackage, UUID: jllwUUID, TreeHash: treehash.MustParse("7e5d6779a1e09a36db2a7b6cff50942a0a7d0fca"),
		Name: "JLLWrappers", Versions: []string{"1.5.0"}, Registry: "GeneralMini", ArtifactsTOML: map[string]string{}},
		tarball(t, fstest.MapFS{"src/JLLWrappers.jl": {Data: []byte("module JLLWrappers end\n")}}))
	idx, err := bundle.PushIndex(ctx, st, items, bundle.IndexOptions{Created: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
		ToolVersion: "v0.1.0", Platforms: []string{"x86_64-linux-gnu"}, Inputs: []string{"team-a/Manifest.toml"}})
	if err != nil {
		t.Fatal(err)
	}
	return st, idx
}

func sampleAdvisories(t *testing.T) *advisory.Database {
	t.Helper()
	db, err := advisory.Load(os.DirFS("../../testdata/advisories"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run %s -update to rewrite it after checking):\n%s", name, t.Name(), got)
	}
}

func collect(t *testing.T, withAdvisories bool) *Document {
	t.Helper()
	st, idx := testBundle(t)
	opts := Options{Name: "stick:2026-11", ToolVersion: "v9.9.9"}
	if withAdvisories {
		opts.Advisories = sampleAdvisories(t)
	}
	d, err := Collect(context.Background(), st, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// cdx is the part of CycloneDX the assertions read.
type cdx struct {
	SerialNumber string `json:"serialNumber"`
	Metadata     struct {
		Timestamp string `json:"timestamp"`
		Component struct {
			BOMRef  string `json:"bom-ref"`
			Version string `json:"version"`
		} `json:"component"`
	} `json:"metadata"`
	Components []struct {
		BOMRef string `json:"bom-ref"`
		Type   string `json:"type"`
		Name   string `json:"name"`
		Purl   string `json:"purl"`
		Hashes []struct {
			Alg, Content string
		} `json:"hashes"`
		ExternalReferences []struct {
			URL, Type string
		} `json:"externalReferences"`
		Properties []struct{ Name, Value string } `json:"properties"`
	} `json:"components"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies"`
	Vulnerabilities []struct {
		ID      string `json:"id"`
		Affects []struct {
			Ref string `json:"ref"`
		} `json:"affects"`
		Ratings []struct {
			Score    float64
			Severity string
			Method   string
		} `json:"ratings"`
		Recommendation string `json:"recommendation"`
	} `json:"vulnerabilities"`
}

func TestCycloneDX(t *testing.T) {
	t.Parallel()
	d := collect(t, true)
	out, err := d.CycloneDX()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bundle.cdx.json", out)
	var bom cdx
	if err := json.Unmarshal(out, &bom); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, c := range bom.Components {
		refs = append(refs, c.BOMRef)
	}
	zlib := "pkg:julia/Zlib_jll@1.3.1%2B0?uuid=83775a58-1f1d-513f-b197-d71354ab007a"
	xz := "pkg:julia/XZ_jll@5.4.6%2B0?uuid=ffd25f8a-64ca-5728-b0f7-c24cf3aae800"
	jllw := "pkg:julia/JLLWrappers@1.5.0?uuid=692b3bcd-3c85-4b1f-b108-f13ce0eb3210"
	wantRefs := []string{"registry:0dc920e3-1582-5068-8f9a-299f944d40aa:" + registryMiniHash, jllw, xz, zlib,
		"artifact:a47753eb13a8000f65dfa44a924c85c917753031:x86_64-linux-gnu"}
	if len(refs) != 6 || !slices.Equal(refs[:4], wantRefs[:4]) || !slices.Contains(refs, wantRefs[4]) {
		t.Errorf("components = %v", refs)
	}
	// Each package's tarball sha256 is its layer digest; its tree hash a property.
	st, idx := testBundle(t)
	b, err := bundle.Read(context.Background(), st, idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Entries {
		if e.Kind != bundle.KindPackage || e.Name != "Zlib_jll" {
			continue
		}
		c := bom.Components[3]
		if c.Purl != zlib || c.Hashes[0].Alg != "SHA-256" || c.Hashes[0].Content != e.Whole.Digest.Encoded() {
			t.Errorf("Zlib_jll component = %+v, want sha256 %s", c, e.Whole.Digest)
		}
		if !slices.Contains(c.Properties, struct{ Name, Value string }{PropTreeHash, "09c40dc5a5b9be6ab507d22a1c875ec08fb12167"}) {
			t.Errorf("Zlib_jll properties = %v", c.Properties)
		}
	}
	// Dependencies: the registry's Deps.toml (JLLWrappers, within Compat)
	// and the artifacts its Artifacts.toml binds.
	deps := map[string][]string{}
	for _, dep := range bom.Dependencies {
		deps[dep.Ref] = dep.DependsOn
	}
	var zlibArt string
	for _, r := range refs {
		if strings.HasPrefix(r, "artifact:") && r != wantRefs[4] {
			zlibArt = r
		}
	}
	if got := deps[zlib]; !slices.Equal(got, []string{zlibArt, jllw}) {
		t.Errorf("Zlib_jll dependsOn %v, want [%s %s]", got, zlibArt, jllw)
	}
	if got := deps["bundle:"+idx.Digest.String()]; len(got) != 6 {
		t.Errorf("bundle dependsOn %v", got)
	}
	// The artifact's download URL, from the real Artifacts.toml.
	for _, c := range bom.Components {
		if c.BOMRef == wantRefs[4] {
			if len(c.ExternalReferences) != 1 || c.ExternalReferences[0].Type != "distribution" ||
				c.ExternalReferences[0].URL != "https://github.com/JuliaBinaryWrappers/XZ_jll.jl/releases/download/XZ-v5.4.6+0/XZ.v5.4.6.x86_64-linux-gnu.tar.gz" {
				t.Errorf("XZ artifact references = %+v", c.ExternalReferences)
			}
		}
	}
	// Vulnerabilities from the real advisories: 1.3.1+0 is past
	// JLSEC-2026-479's fix (1.3.1+0) but inside JLSEC-2026-480's range.
	var vulns []string
	for _, v := range bom.Vulnerabilities {
		vulns = append(vulns, v.ID+" "+v.Affects[0].Ref+" "+v.Ratings[0].Method+" "+v.Ratings[0].Severity)
	}
	want := []string{"JLSEC-2026-462 " + xz + " CVSSv31 medium", "JLSEC-2026-480 " + zlib + " CVSSv31 medium"}
	if !slices.Equal(vulns, want) {
		t.Errorf("vulnerabilities = %v, want %v", vulns, want)
	}
	if bom.Metadata.Timestamp != "2026-11-01T12:00:00Z" || bom.Metadata.Component.Version != idx.Digest.String() ||
		!strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("metadata = %+v, serial %s", bom.Metadata, bom.SerialNumber)
	}
	// Deterministic: collecting again gives the same bytes.
	again, err := collect(t, true).CycloneDX()
	if err != nil || !bytes.Equal(again, out) {
		t.Error("a second CycloneDX of the same bundle differs")
	}
}

func TestSPDX(t *testing.T) {
	t.Parallel()
	d := collect(t, true)
	out, err := d.SPDX()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bundle.spdx.json", out)
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			SPDXID       string `json:"SPDXID"`
			Name         string `json:"name"`
			Checksums    []struct{ Algorithm, ChecksumValue string }
			ExternalRefs []struct{ ReferenceCategory, ReferenceType, ReferenceLocator string }
		} `json:"packages"`
		Relationships []struct{ SpdxElementId, RelationshipType, RelatedSpdxElement string } `json:"relationships"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) != 7 {
		t.Fatalf("spdx: %s, %d packages", doc.SPDXVersion, len(doc.Packages))
	}
	zlib := doc.Packages[4]
	if zlib.SPDXID != "SPDXRef-Package-Zlib-jll-83775a58-1.3.1-0" {
		t.Errorf("Zlib_jll SPDXID = %s", zlib.SPDXID)
	}
	wantRefs := []struct{ ReferenceCategory, ReferenceType, ReferenceLocator string }{
		{"PERSISTENT-ID", "gitoid", "gitoid:tree:sha1:09c40dc5a5b9be6ab507d22a1c875ec08fb12167"},
		{"PACKAGE-MANAGER", "purl", "pkg:julia/Zlib_jll@1.3.1%2B0?uuid=83775a58-1f1d-513f-b197-d71354ab007a"},
		{"SECURITY", "advisory", "https://osv.dev/vulnerability/JLSEC-2026-480"},
	}
	if !slices.Equal(zlib.ExternalRefs, wantRefs) {
		t.Errorf("Zlib_jll refs = %+v", zlib.ExternalRefs)
	}
	dependsOn := 0
	for _, r := range doc.Relationships {
		if r.RelationshipType == "DEPENDS_ON" && r.SpdxElementId == zlib.SPDXID {
			dependsOn++
		}
	}
	if dependsOn != 2 {
		t.Errorf("Zlib_jll has %d DEPENDS_ON relationships, want 2", dependsOn)
	}
}

// provenanceRecords describes the test bundle's items the way two pushes
// would: the first fetched the registry and Zlib_jll from a Pkg server,
// XZ's artifact from its Artifacts.toml URL, packed JLLWrappers from a
// depot, and reused XZ_jll; the second (same bundle, written again)
// reused Zlib_jll. Zlib's artifact is in neither; a third item is in no
// bundle.
func provenanceRecords(t *testing.T, d *Document) []*bundle.Provenance {
	t.Helper()
	const server = "https://pkg.example.org"
	first := &bundle.Provenance{SchemaVersion: 1, Bundle: d.Index.Digest,
		Manifest: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("1", 64)), Size: 500}}
	second := &bundle.Provenance{SchemaVersion: 1, Bundle: d.Index.Digest,
		Manifest: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("2", 64)), Size: 500}}
	for _, c := range d.Components {
		it := bundle.ProvenanceItem{Kind: c.Kind, Name: c.Name, UUID: c.UUID, TreeHash: treehash.MustParse(c.TreeHash), Platform: c.Platform,
			Digest: digest.Digest("sha256:" + c.SHA256)}
		switch {
		case c.Kind == bundle.KindRegistry:
			it.Method, it.URL = bundle.MethodFetched, server+"/registry/"+c.UUID.String()+"/"+c.TreeHash
		case c.Name == "Zlib_jll":
			it.Method, it.URL = bundle.MethodFetched, server+"/package/"+c.UUID.String()+"/"+c.TreeHash
			second.Items = append(second.Items, bundle.ProvenanceItem{Kind: it.Kind, Name: it.Name, UUID: it.UUID, TreeHash: it.TreeHash,
				Digest: it.Digest, Method: bundle.MethodReused})
		case c.Name == "XZ_jll":
			it.Method = bundle.MethodReused
		case c.Name == "JLLWrappers":
			it.Method, it.URL = bundle.MethodPacked, "file:///home/me/.julia/packages/JLLWrappers/"+julia.Slug(c.UUID, treehash.MustParse(c.TreeHash))
		case c.Kind == bundle.KindArtifact && len(c.Downloads) > 0 && strings.Contains(c.Downloads[0].URL, "XZ"):
			it.Method, it.URL = bundle.MethodFetched, c.Downloads[0].URL
		default:
			continue
		}
		first.Items = append(first.Items, it)
	}
	first.Items = append(first.Items, bundle.ProvenanceItem{Kind: bundle.KindPackage, Name: "Elsewhere", UUID: jllwUUID,
		TreeHash: treehash.MustParse(strings.Repeat("9", 40)), Digest: digest.Digest("sha256:" + strings.Repeat("9", 64)),
		Method: bundle.MethodFetched, URL: server + "/elsewhere"})
	return []*bundle.Provenance{second, first} // out of order: Collect sorts them
}

// collectWithProvenance is the test bundle's document with the records.
func collectWithProvenance(t *testing.T) *Document {
	t.Helper()
	st, idx := testBundle(t)
	plain, err := Collect(context.Background(), st, idx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Collect(context.Background(), st, idx, Options{Name: "stick:2026-11", ToolVersion: "v9.9.9",
		Provenance: provenanceRecords(t, plain), Advisories: sampleAdvisories(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestProvenance: the sources the records report, in both formats, each
// marked as the pusher's unsigned word; what no record names stays as it
// was (NOASSERTION, or an artifact's Artifacts.toml URL); an item of no
// bundle is a warning.
func TestProvenance(t *testing.T) {
	t.Parallel()
	d := collectWithProvenance(t)
	rec1, rec2 := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)
	if len(d.Provenance) != 2 || d.Provenance[0].Digest.String() != rec1 || d.Provenance[1].Digest.String() != rec2 {
		t.Errorf("records used = %v", d.Provenance)
	}
	if len(d.Warnings) != 1 || d.Warnings[0] != "provenance record "+rec1+": package Elsewhere 9999999999999999999999999999999999999999 (sha256:"+strings.Repeat("9", 64)+") is not in the bundle: ignored" {
		t.Errorf("warnings = %q", d.Warnings)
	}
	note := ", reported by the pusher in provenance record " + rec1 + " (unsigned)"
	xzURL := "https://github.com/JuliaBinaryWrappers/XZ_jll.jl/releases/download/XZ-v5.4.6+0/XZ.v5.4.6.x86_64-linux-gnu.tar.gz"
	zlibPkg := "https://pkg.example.org/package/83775a58-1f1d-513f-b197-d71354ab007a/09c40dc5a5b9be6ab507d22a1c875ec08fb12167"
	jllwDir := "file:///home/me/.julia/packages/JLLWrappers/" + julia.Slug(jllwUUID, treehash.MustParse("7e5d6779a1e09a36db2a7b6cff50942a0a7d0fca"))
	regURL := "https://pkg.example.org/registry/0dc920e3-1582-5068-8f9a-299f944d40aa/" + registryMiniHash

	out, err := d.SPDX()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bundle-provenance.spdx.json", out)
	var doc struct {
		CreationInfo struct{ Comment string } `json:"creationInfo"`
		Packages     []struct {
			Name             string `json:"name"`
			SPDXID           string `json:"SPDXID"`
			DownloadLocation string `json:"downloadLocation"`
			SourceInfo       string `json:"sourceInfo"`
			Comment          string `json:"comment"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, p := range doc.Packages {
		got[p.Name+" "+p.SPDXID] = [2]string{p.DownloadLocation, p.SourceInfo}
	}
	zlibArt := ""
	for _, c := range d.Components {
		if c.Kind == bundle.KindArtifact && !strings.Contains(c.Downloads[0].URL, "XZ") {
			zlibArt = c.Downloads[0].URL
		}
	}
	want := map[string][2]string{
		"stick:2026-11 SPDXRef-Bundle":                                                  {"NOASSERTION", ""},
		"GeneralMini SPDXRef-Registry-GeneralMini-" + registryMiniHash:                  {regURL, "fetched from " + regURL + note},
		"Zlib_jll SPDXRef-Package-Zlib-jll-83775a58-1.3.1-0":                            {zlibPkg, "fetched from " + zlibPkg + note},
		"XZ_jll SPDXRef-Package-XZ-jll-ffd25f8a-5.4.6-0":                                {"NOASSERTION", "already in the destination (stored by an earlier push), not fetched by this push" + note},
		"JLLWrappers SPDXRef-Package-JLLWrappers-692b3bcd-1.5.0":                        {jllwDir, "packed by shoebox from " + jllwDir + note},
		"XZ SPDXRef-Artifact-a47753eb13a8000f65dfa44a924c85c917753031-x86-64-linux-gnu": {xzURL, "fetched from " + xzURL + note},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: downloadLocation, sourceInfo = %q, want %q", k, got[k], w)
		}
	}
	// Zlib's artifact: no record names it; its Artifacts.toml URL stays.
	found := false
	for k, g := range got {
		if strings.HasPrefix(k, "Zlib SPDXRef-Artifact-") {
			found = true
			if g != [2]string{zlibArt, ""} {
				t.Errorf("%s = %q, want its Artifacts.toml URL %s and no sourceInfo", k, g, zlibArt)
			}
		}
	}
	if !found || len(doc.Packages) != 7 {
		t.Errorf("%d packages; the Zlib artifact found: %v", len(doc.Packages), found)
	}
	if !strings.Contains(doc.CreationInfo.Comment, "unsigned provenance record(s) "+rec1+", "+rec2+": the pusher's word") {
		t.Errorf("creation comment = %q", doc.CreationInfo.Comment)
	}

	out, err = d.CycloneDX()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bundle-provenance.cdx.json", out)
	var bom struct {
		Metadata struct {
			Properties []struct{ Name, Value string } `json:"properties"`
		} `json:"metadata"`
		Components []struct {
			Name               string `json:"name"`
			Hashes             []struct{ Alg, Content string }
			ExternalReferences []struct {
				URL, Type, Comment string
				Hashes             []struct{ Alg, Content string }
			} `json:"externalReferences"`
			Properties []struct{ Name, Value string } `json:"properties"`
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &bom); err != nil {
		t.Fatal(err)
	}
	refs := map[string]string{}
	props := map[string][]string{}
	for _, c := range bom.Components {
		for _, r := range c.ExternalReferences {
			if r.Type == "distribution" {
				h := ""
				if len(r.Hashes) > 0 {
					h = r.Hashes[0].Content
				}
				refs[c.Name] += r.URL + " | " + r.Comment + " | " + h + "\n"
			}
		}
		for _, p := range c.Properties {
			if p.Name == PropSource {
				props[c.Name] = append(props[c.Name], p.Value)
			}
		}
	}
	sha := func(name string) string {
		for _, c := range d.Components {
			if c.Name == name {
				return c.SHA256
			}
		}
		return ""
	}
	wantRefs := map[string]string{
		"GeneralMini": regURL + " | Fetched from " + regURL + note + " | " + sha("GeneralMini") + "\n",
		"Zlib_jll":    zlibPkg + " | Fetched from " + zlibPkg + note + " | " + sha("Zlib_jll") + "\n",
		"JLLWrappers": jllwDir + " | Packed by shoebox from " + jllwDir + note + " | " + sha("JLLWrappers") + "\n",
		// The download URL it was fetched from: one reference saying both,
		// with the Artifacts.toml sha256.
		"XZ":   xzURL + " | Artifacts.toml download; Fetched from " + xzURL + note + " | " + downloadSHA(d, "XZ") + "\n",
		"Zlib": zlibArt + " | Artifacts.toml download | " + downloadSHA(d, "Zlib") + "\n",
	}
	for name, w := range wantRefs {
		if refs[name] != w {
			t.Errorf("%s distribution references:\n%s\nwant\n%s", name, refs[name], w)
		}
	}
	if _, ok := refs["XZ_jll"]; ok {
		t.Errorf("XZ_jll (reused) has distribution references: %s", refs["XZ_jll"])
	}
	wantProps := map[string][]string{
		"GeneralMini": {"fetched " + regURL}, "Zlib_jll": {"fetched " + zlibPkg}, "XZ_jll": {"reused"},
		"JLLWrappers": {"packed " + jllwDir}, "XZ": {"fetched " + xzURL},
	}
	for name, w := range wantProps {
		if !slices.Equal(props[name], w) {
			t.Errorf("%s %s properties = %q, want %q", name, PropSource, props[name], w)
		}
	}
	var recProps []string
	for _, p := range bom.Metadata.Properties {
		if p.Name == PropProvenance {
			recProps = append(recProps, p.Value)
		}
	}
	if len(recProps) != 2 || !strings.HasPrefix(recProps[0], rec1+" (unsigned") || !strings.HasPrefix(recProps[1], rec2+" (unsigned") {
		t.Errorf("metadata %s = %q", PropProvenance, recProps)
	}
	// Deterministic: the records in another order give the same bytes.
	again, err := collectWithProvenance(t).CycloneDX()
	if err != nil || !bytes.Equal(again, out) {
		t.Error("a second CycloneDX with the same records differs")
	}
}

// downloadSHA is the Artifacts.toml sha256 of the artifact named name.
func downloadSHA(d *Document, name string) string {
	for _, c := range d.Components {
		if c.Kind == bundle.KindArtifact && c.Name == name && len(c.Downloads) > 0 {
			return c.Downloads[0].SHA256
		}
	}
	return ""
}
