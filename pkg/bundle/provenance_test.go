package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

var (
	provBundle = digest.Digest("sha256:" + strings.Repeat("ab", 32))
	provTarA   = digest.Digest("sha256:" + strings.Repeat("01", 32))
	provTarB   = digest.Digest("sha256:" + strings.Repeat("02", 32))
	provTarC   = digest.Digest("sha256:" + strings.Repeat("03", 32))
	exampleID  = julia.MustParseUUID("7876af07-990d-54b4-ab0e-23690620f79a")
)

func sampleProvenance() *Provenance {
	return &Provenance{Bundle: provBundle, ToolVersion: "v1.2.3", Items: []ProvenanceItem{
		{Kind: KindArtifact, Name: "OpenSSL", TreeHash: treehash.MustParse("3333333333333333333333333333333333333333"), Platform: "x86_64-linux-gnu",
			Digest: provTarC, Method: MethodPacked, URL: "file:///home/me/.julia/artifacts/3333333333333333333333333333333333333333"},
		{Kind: KindPackage, Name: "Example", UUID: exampleID, TreeHash: treehash.MustParse("2222222222222222222222222222222222222222"),
			Digest: provTarB, Method: MethodReused},
		{Kind: KindRegistry, Name: "General", UUID: julia.MustParseUUID("23338594-aafe-5451-b93e-139f81909106"),
			TreeHash: treehash.MustParse("1111111111111111111111111111111111111111"), Digest: provTarA, Method: MethodFetched,
			URL: "https://pkg.julialang.org/registry/23338594-aafe-5451-b93e-139f81909106/1111111111111111111111111111111111111111?a=1&b=2"},
	}}
}

// TestProvenance_Encode pins the canonical bytes: items sorted by kind,
// fields in order, no HTML escaping of '&', no whitespace.
func TestProvenance_Encode(t *testing.T) {
	p := sampleProvenance()
	p.Items = append(p.Items, p.Items[0]) // a duplicate goes
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schemaVersion":1,"bundle":"sha256:` + strings.Repeat("ab", 32) + `","toolVersion":"v1.2.3","items":[` +
		`{"kind":"registry","name":"General","uuid":"23338594-aafe-5451-b93e-139f81909106","treeHash":"1111111111111111111111111111111111111111","digest":"sha256:` + strings.Repeat("01", 32) + `","method":"fetched","url":"https://pkg.julialang.org/registry/23338594-aafe-5451-b93e-139f81909106/1111111111111111111111111111111111111111?a=1&b=2"},` +
		`{"kind":"package","name":"Example","uuid":"7876af07-990d-54b4-ab0e-23690620f79a","treeHash":"2222222222222222222222222222222222222222","digest":"sha256:` + strings.Repeat("02", 32) + `","method":"reused"},` +
		`{"kind":"artifact","name":"OpenSSL","treeHash":"3333333333333333333333333333333333333333","platform":"x86_64-linux-gnu","digest":"sha256:` + strings.Repeat("03", 32) + `","method":"packed","url":"file:///home/me/.julia/artifacts/3333333333333333333333333333333333333333"}]}`
	if string(b) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", b, want)
	}
	// Parse reads it back; encoding the parsed record gives the same bytes.
	q, err := ParseProvenance(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := q.Encode()
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("re-encoded = %s, %v", again, err)
	}
	if c := q.Counts(); c[MethodFetched] != 1 || c[MethodPacked] != 1 || c[MethodReused] != 1 || c[MethodInventory] != 0 {
		t.Errorf("Counts = %v", c)
	}
}

func TestParseProvenance_Errors(t *testing.T) {
	good, err := sampleProvenance().Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, old, new, msg string }{
		{"schema", `"schemaVersion":1`, `"schemaVersion":2`, "schemaVersion 2, want 1"},
		{"bundle", `"bundle":"sha256:ab`, `"bundle":"sha256:zz`, "not a digest"},
		{"kind", `"kind":"registry"`, `"kind":"report"`, `kind "report"`},
		{"method", `"method":"reused"`, `"method":"stolen"`, `method "stolen"`},
		{"reused with a URL", `"method":"reused"`, `"method":"reused","url":"https://x.example/"`, "method reused has no URL"},
		{"fetched without", `"method":"fetched","url":"https://pkg.julialang.org/registry/23338594-aafe-5451-b93e-139f81909106/1111111111111111111111111111111111111111?a=1&b=2"`, `"method":"fetched"`, "fetched from no URL"},
		{"credentials", `"url":"https://pkg.julialang.org/`, `"url":"https://u:p@pkg.julialang.org/`, "holds user information"},
		{"relative", `"url":"file:///home/me`, `"url":"home/me`, "not an absolute URL"},
		{"control", `"name":"Example"`, `"name":"Exa\u0007mple"`, "not printable"},
		{"digest", `"digest":"sha256:02`, `"digest":"md5:02`, "digest"},
		{"tree hash", `"treeHash":"2222222222222222222222222222222222222222",`, ``, "no tree hash"},
		{"json", `{"schemaVersion"`, `["schemaVersion"`, "provenance record"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tt.old, tt.new, 1)
			if bad == string(good) {
				t.Fatalf("%q not in the record", tt.old)
			}
			_, err := ParseProvenance([]byte(bad))
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseProvenance = %v, want ErrFormat saying %q", err, tt.msg)
			}
		})
	}
	// Unknown fields are ignored.
	if _, err := ParseProvenance([]byte(strings.Replace(string(good), `"toolVersion"`, `"future":{"x":1},"toolVersion"`, 1))); err != nil {
		t.Errorf("an unknown field: %v", err)
	}
	// Encode refuses what Parse refuses.
	p := sampleProvenance()
	p.Items[1].URL = "https://x.example/"
	if _, err := p.Encode(); !errors.Is(err, ErrFormat) {
		t.Errorf("Encode of a reused item with a URL = %v", err)
	}
}

// TestReadProvenance: the manifest is checked (artifactType, subject,
// layers), the record must name the subject.
func TestReadProvenance(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	push := func(mt string, b []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(mt, b)
		if err := st.Push(ctx, d, bytes.NewReader(b)); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		return d
	}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: provBundle, Size: 100}
	rec, _ := sampleProvenance().Encode()
	layer := push(MediaTypeProvenance, rec)
	manifest := func(mut func(*ocispec.Manifest)) ocispec.Descriptor {
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			ArtifactType: ArtifactTypeProvenance, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layer}, Subject: &subject}
		mut(&m)
		b, _ := json.Marshal(m)
		return push(ocispec.MediaTypeImageManifest, b)
	}
	d := manifest(func(*ocispec.Manifest) {})
	p, err := ReadProvenance(ctx, st, d, provBundle)
	if err != nil || len(p.Items) != 3 || p.Manifest.Digest != d.Digest || p.Manifest.ArtifactType != ArtifactTypeProvenance {
		t.Fatalf("ReadProvenance = %+v, %v", p, err)
	}
	other := digest.Digest("sha256:" + strings.Repeat("cd", 32))
	otherRec, _ := (&Provenance{Bundle: other}).Encode()
	otherLayer := push(MediaTypeProvenance, otherRec)
	for name, tt := range map[string]struct {
		d   ocispec.Descriptor
		msg string
	}{
		"signature":     {manifest(func(m *ocispec.Manifest) { m.ArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json" }), "artifactType"},
		"other subject": {manifest(func(m *ocispec.Manifest) { m.Subject = &ocispec.Descriptor{Digest: other} }), "its subject is not the bundle"},
		"a part twice":  {manifest(func(m *ocispec.Manifest) { m.Layers = append(m.Layers, layer) }), "not one sorted run"},
		"no layer":      {manifest(func(m *ocispec.Manifest) { m.Layers = []ocispec.Descriptor{} }), "0 layers, want 1 to 64"},
		"other layer":   {manifest(func(m *ocispec.Manifest) { m.Layers = append(m.Layers, ocispec.DescriptorEmptyJSON) }), "layer 1 is"},
		"too much in all": {manifest(func(m *ocispec.Manifest) {
			big := layer
			big.Size = MaxProvenanceSize
			m.Layers = []ocispec.Descriptor{big, big, big, big, big, big, big, big, big}
		}), "in all, limit"},
		"names another": {manifest(func(m *ocispec.Manifest) { m.Layers = []ocispec.Descriptor{otherLayer} }), "describes bundle " + other.String()},
	} {
		if _, err := ReadProvenance(ctx, st, tt.d, provBundle); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: ReadProvenance = %v, want ErrFormat saying %q", name, err, tt.msg)
		}
	}
}

// FuzzParseProvenance: any input parses or fails with ErrFormat; what
// parses encodes, and its encoding parses to the same encoding.
func FuzzParseProvenance(f *testing.F) {
	good, _ := sampleProvenance().Encode()
	f.Add(good)
	f.Add([]byte(`{"schemaVersion":1,"bundle":"sha256:` + strings.Repeat("ab", 32) + `","items":[]}`))
	f.Add([]byte(`{"schemaVersion":1,"items":[{"kind":"package","method":"fetched","url":"http://[::1"}]}`))
	withFailures := sampleProvenance()
	withFailures.SourceFailures = sampleFailures()
	fb, _ := withFailures.Encode()
	f.Add(fb)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProvenance(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseProvenance error %v does not wrap ErrFormat", err)
			}
			return
		}
		enc, err := p.Encode()
		if err != nil {
			t.Fatalf("a parsed record does not encode: %v", err)
		}
		q, err := ParseProvenance(enc)
		if err != nil {
			t.Fatalf("an encoded record does not parse: %v\n%s", err, enc)
		}
		again, err := q.Encode()
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, again)
		}
	})
}

// sampleFailures are two source failures, out of order.
func sampleFailures() []SourceFailure {
	return []SourceFailure{
		{Kind: KindPackage, Item: "package Example@0.5.3", UUID: exampleID, TreeHash: treehash.MustParse("2222222222222222222222222222222222222222"),
			Source: "https://mirror.example", Reason: "tree hash 4444444444444444444444444444444444444444: tree hash mismatch"},
		{Kind: KindArtifact, Item: "artifact OpenSSL", TreeHash: treehash.MustParse("3333333333333333333333333333333333333333"),
			Source: "file:///srv/mirror", Reason: "gzip: invalid checksum"},
	}
}

// TestProvenance_SourceFailures pins where a record keeps the push's
// source failures: after the items, sorted by kind, fields as in push
// --json; a record without failures has no key at all (the bytes of a
// record written before the field).
func TestProvenance_SourceFailures(t *testing.T) {
	p := sampleProvenance()
	p.Items = p.Items[1:2]
	without, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p.SourceFailures = sampleFailures()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSuffix(string(without), "}") + `,"sourceFailures":[` +
		`{"kind":"package","item":"package Example@0.5.3","uuid":"7876af07-990d-54b4-ab0e-23690620f79a","treeHash":"2222222222222222222222222222222222222222","source":"https://mirror.example","reason":"tree hash 4444444444444444444444444444444444444444: tree hash mismatch"},` +
		`{"kind":"artifact","item":"artifact OpenSSL","treeHash":"3333333333333333333333333333333333333333","source":"file:///srv/mirror","reason":"gzip: invalid checksum"}]}`
	if string(b) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", b, want)
	}
	if strings.Contains(string(without), "sourceFailures") {
		t.Errorf("a record without failures names them: %s", without)
	}
	q, err := ParseProvenance(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.SourceFailures) != 2 || q.SourceFailures[0] != sampleFailures()[0] || q.SourceFailures[1] != sampleFailures()[1] {
		t.Errorf("parsed failures = %+v", q.SourceFailures)
	}
	for _, tt := range []struct{ name, old, new, msg string }{
		{"kind", `"kind":"artifact","item"`, `"kind":"report","item"`, `source failure 1: kind "report"`},
		{"no source", `"source":"file:///srv/mirror",`, ``, "source of artifact OpenSSL: want 1 to"},
		{"no reason", `,"reason":"gzip: invalid checksum"`, ``, "reason for artifact OpenSSL: want 1 to"},
		{"control", `"reason":"gzip: invalid`, `"reason":"\u001b[31mgzip: invalid`, "reason for artifact OpenSSL: want 1 to"},
		{"credentials", `"source":"https://mirror.example"`, `"source":"https://robot:s3cret@mirror.example"`, "source of package Example@0.5.3 holds user information"},
		{"no item", `"item":"artifact OpenSSL",`, ``, `artifact: item "": want`},
	} {
		bad := strings.Replace(string(b), tt.old, tt.new, 1)
		if bad == string(b) {
			t.Fatalf("%s: %q not in the record", tt.name, tt.old)
		}
		if _, err := ParseProvenance([]byte(bad)); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: ParseProvenance = %v, want ErrFormat saying %q", tt.name, err, tt.msg)
		}
	}
}

// TestCleanSourceFailure: what a push records passes the reader's checks:
// no credentials, no control characters, bounded.
func TestCleanSourceFailure(t *testing.T) {
	f := CleanSourceFailure(SourceFailure{Kind: KindPackage, Item: "package X@1.0.0",
		Source: "https://robot:s3cret@mirror.example/julia", Reason: "first line\nsecond\tline\x1b[0m\xff"})
	if f.Source != "https://mirror.example/julia" || f.Reason != "first line second line [0m\uFFFD" {
		t.Errorf("CleanSourceFailure = %q, %q", f.Source, f.Reason)
	}
	long := CleanSourceFailure(SourceFailure{Kind: KindArtifact, Item: strings.Repeat("é", 1000), Source: "depot /d", Reason: strings.Repeat("x", 20000)})
	if len(long.Item) > 1024 || !strings.HasSuffix(long.Item, "é…") || len(long.Reason) != maxProvenanceReason || long.Source != "depot /d" {
		t.Errorf("long fields: item %d bytes (%q…), reason %d bytes", len(long.Item), long.Item[len(long.Item)-8:], len(long.Reason))
	}
	if e := CleanSourceFailure(SourceFailure{Kind: KindRegistry}); e.Item != "unknown" || e.Source != "unknown" || e.Reason != "unknown" {
		t.Errorf("empty fields = %+v", e)
	}
	p := sampleProvenance()
	p.SourceFailures = []SourceFailure{f, long}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProvenance(b); err != nil {
		t.Errorf("a record of cleaned failures does not parse: %v", err)
	}
}

// legacyReport writes a report item as shoebox wrote it before source
// failures moved to the provenance record: the report JSON with a
// sourceFailures array, byte for byte what PushReport wrote then.
func legacyReport(t *testing.T, dst Pusher, failures []SourceFailure) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	blob, err := json.Marshal(Report{SchemaVersion: 1, Requests: []Request{{Type: "manifest", Value: "team-a/Manifest.toml"}},
		Platforms: []string{"x86_64-linux-gnu"}, SourceFailures: failures})
	if err != nil {
		t.Fatal(err)
	}
	layer := content.NewDescriptorFromBytes(MediaTypeReport, blob)
	if err := pushIfAbsent(ctx, dst, layer, blob); err != nil {
		t.Fatal(err)
	}
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: "report.json"}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactTypeReport, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layer},
		Annotations: map[string]string{AnnotationKind: string(KindReport)}})
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
	desc.ArtifactType = ArtifactTypeReport
	if err := pushIfAbsent(ctx, dst, emptyConfig(), ocispec.DescriptorEmptyJSON.Data); err != nil {
		t.Fatal(err)
	}
	if err := pushIfAbsent(ctx, dst, desc, m); err != nil {
		t.Fatal(err)
	}
	desc.Annotations = map[string]string{AnnotationKind: string(KindReport), AnnotationMissing: "0"}
	return desc
}

// TestReport_LegacySourceFailures: a bundle whose report holds source
// failures (written before they moved to the provenance record) still
// reads, with its failures; PushReport no longer writes them, and a
// report without them is the report written before they existed.
func TestReport_LegacySourceFailures(t *testing.T) {
	ctx := context.Background()
	st := newMapStore()
	fs := sampleFailures()
	d := legacyReport(t, st, fs)
	idx, err := PushIndex(ctx, st, []ocispec.Descriptor{d}, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read(ctx, st, idx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Report == nil || len(b.Report.SourceFailures) != 2 || b.Report.SourceFailures[0] != fs[0] || b.Report.SourceFailures[1] != fs[1] {
		t.Errorf("the legacy report reads as %+v", b.Report)
	}
	if _, err := PushReport(ctx, st, Report{SourceFailures: fs}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "belong in the provenance record") {
		t.Errorf("PushReport with source failures = %v, want ErrFormat", err)
	}
	// Without failures, PushReport writes what the old writer wrote
	// without them: the same report, the same digest.
	clean := legacyReport(t, st, nil)
	got, err := PushReport(ctx, st, Report{Requests: []Request{{Type: "manifest", Value: "team-a/Manifest.toml"}}, Platforms: []string{"x86_64-linux-gnu"}})
	if err != nil || got.Digest != clean.Digest {
		t.Errorf("PushReport = %s, %v; want %s", got.Digest, err, clean.Digest)
	}
}

// A record too large for one layer is written in parts, each a record of
// its own within the limit, and read back as the one record.
func TestProvenance_EncodeParts(t *testing.T) {
	ctx := context.Background()
	rec := &Provenance{Bundle: provBundle, ToolVersion: "v1.2.3", SourceFailures: sampleFailures()}
	for i := range 300 {
		rec.Items = append(rec.Items, ProvenanceItem{Kind: KindPackage, Name: fmt.Sprintf("P%03d", i), UUID: uuidN(i), TreeHash: hashN(i),
			Digest: digest.FromString(fmt.Sprint(i)), Method: MethodFetched, URL: fmt.Sprintf("https://pkg.example/package/%s/%s", uuidN(i), hashN(i))})
	}
	whole, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Under the limit: one part, Encode's bytes.
	parts, err := rec.encodeParts(len(whole))
	if err != nil || len(parts) != 1 || !bytes.Equal(parts[0], whole) {
		t.Fatalf("encodeParts(%d) = %d parts, %v; want Encode's bytes", len(whole), len(parts), err)
	}
	const limit = 20000
	parts, err = rec.encodeParts(limit)
	if err != nil {
		t.Fatal(err)
	}
	if min := len(whole)/limit + 1; len(parts) < min {
		t.Fatalf("%d parts of ≤ %d bytes for a %d-byte record, want ≥ %d", len(parts), limit, len(whole), min)
	}
	st := memory.New()
	var layers []ocispec.Descriptor
	n := 0
	for i, b := range parts {
		if len(b) > limit {
			t.Errorf("part %d: %d bytes, limit %d", i, len(b), limit)
		}
		p, err := ParseProvenance(b)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if p.Bundle != provBundle || p.ToolVersion != "v1.2.3" || (i == 0) != (len(p.SourceFailures) > 0) {
			t.Errorf("part %d: bundle %s, tool %q, %d failures", i, p.Bundle, p.ToolVersion, len(p.SourceFailures))
		}
		n += len(p.Items)
		d := content.NewDescriptorFromBytes(MediaTypeProvenance, b)
		if err := st.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, d)
	}
	if n != 300 {
		t.Errorf("parts hold %d items, want 300", n)
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactTypeProvenance, Config: ocispec.DescriptorEmptyJSON, Layers: layers,
		Subject: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: provBundle, Size: 100}}
	mb, _ := json.Marshal(m)
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	if err := st.Push(ctx, md, bytes.NewReader(mb)); err != nil {
		t.Fatal(err)
	}
	got, err := ReadProvenance(ctx, st, md, provBundle)
	if err != nil {
		t.Fatal(err)
	}
	again, err := got.Encode()
	if err != nil || !bytes.Equal(again, whole) {
		t.Errorf("the parts read back encode to %d bytes (%v), want the record's %d", len(again), err, len(whole))
	}
	// Parts swapped are refused.
	layers[0], layers[1] = layers[1], layers[0]
	m.Layers = layers
	mb, _ = json.Marshal(m)
	md = content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	if err := st.Push(ctx, md, bytes.NewReader(mb)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadProvenance(ctx, st, md, provBundle); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not one sorted run") {
		t.Errorf("parts out of order: ReadProvenance = %v", err)
	}
}
