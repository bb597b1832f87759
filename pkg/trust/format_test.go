package trust

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
)

const goldenDigest = digest.Digest("sha256:9f2f2d1fe4e1d2d5ad7e8f0a9b6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a")

func TestSimpleSigningPayload_Golden(t *testing.T) {
	tests := []struct {
		name string
		ref  string
		ann  map[string]string
		want string
	}{
		{
			name: "cosign sign default",
			ref:  "127.0.0.1:5001/demo/img",
			want: `{"critical":{"identity":{"docker-reference":"127.0.0.1:5001/demo/img"},"image":{"docker-manifest-digest":"sha256:9f2f2d1fe4e1d2d5ad7e8f0a9b6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a"},"type":"cosign container image signature"},"optional":null}`,
		},
		{
			name: "annotations (cosign sign -a), keys sorted",
			ref:  "r/x",
			ann:  map[string]string{"tag": "v1", "by": "ops"},
			want: `{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"sha256:9f2f2d1fe4e1d2d5ad7e8f0a9b6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a"},"type":"cosign container image signature"},"optional":{"by":"ops","tag":"v1"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SimpleSigningPayload(tt.ref, goldenDigest, tt.ann)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("SimpleSigningPayload() =\n%s\nwant\n%s", got, tt.want)
			}
			if err := VerifyPayload(got, goldenDigest); err != nil {
				t.Errorf("VerifyPayload(own payload) = %v", err)
			}
		})
	}
}

func TestVerifyPayload(t *testing.T) {
	good, _ := SimpleSigningPayload("r", goldenDigest, nil)
	tests := []struct {
		name    string
		payload string
		wantErr string
	}{
		{"good", string(good), ""},
		{"other digest", strings.Replace(string(good), "9f2f", "0f2f", 1), "payload signs"},
		{"wrong type", strings.Replace(string(good), "cosign container image signature", "x", 1), "payload type"},
		{"not json", "{", "not simple-signing JSON"},
		{"empty", "", "not simple-signing JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyPayload([]byte(tt.payload), goldenDigest)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("VerifyPayload() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("VerifyPayload() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestTags(t *testing.T) {
	if got, want := SignatureTag(goldenDigest), "sha256-9f2f2d1fe4e1d2d5ad7e8f0a9b6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a.sig"; got != want {
		t.Errorf("SignatureTag() = %q, want %q", got, want)
	}
	if got, want := ReferrersTag(goldenDigest), "sha256-9f2f2d1fe4e1d2d5ad7e8f0a9b6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a"; got != want {
		t.Errorf("ReferrersTag() = %q, want %q", got, want)
	}
}

// TestSign_ManifestStructure pins the .sig manifest to what cosign v2
// writes (docs/cosign-offline.md): OCI image manifest, image config with
// diff_ids, one simplesigning layer annotated with the base64 signature,
// no subject, no artifactType.
func TestSign_ManifestStructure(t *testing.T) {
	ctx := context.Background()
	k := newTestKey(t, ECDSAP256)
	s := memory.New()
	subject := pushSubject(t, ctx, s, "x")
	desc := mustSign(t, ctx, s, subject, k, false)
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("descriptor media type = %q", desc.MediaType)
	}
	raw := fetchBytes(t, ctx, s, desc)
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("schemaVersion/mediaType = %d/%q", m.SchemaVersion, m.MediaType)
	}
	if m.Subject != nil || m.ArtifactType != "" {
		t.Errorf("subject/artifactType set: %v/%q; cosign's .sig has neither", m.Subject, m.ArtifactType)
	}
	if m.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("config media type = %q", m.Config.MediaType)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(m.Layers))
	}
	l := m.Layers[0]
	if l.MediaType != "application/vnd.dev.cosign.simplesigning.v1+json" {
		t.Errorf("layer media type = %q", l.MediaType)
	}
	sig, err := base64.StdEncoding.DecodeString(l.Annotations["dev.cosignproject.cosign/signature"])
	if err != nil || len(sig) == 0 {
		t.Errorf("signature annotation = %q (%v)", l.Annotations["dev.cosignproject.cosign/signature"], err)
	}
	payload := fetchBytes(t, ctx, s, l)
	want, _ := SimpleSigningPayload("example.com/r", subject.Digest, nil)
	if string(payload) != string(want) {
		t.Errorf("payload = %s, want %s", payload, want)
	}
	wantCfg := `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["` + l.Digest.String() + `"]},"config":{}}`
	if got := string(fetchBytes(t, ctx, s, m.Config)); got != wantCfg {
		t.Errorf("config =\n%s\nwant\n%s", got, wantCfg)
	}
	if strings.Contains(string(raw), "created\":\"2") {
		t.Error("manifest carries a timestamp")
	}
}

// TestSign_BundleStructure pins the bundle referrer to cosign v3's shape.
func TestSign_BundleStructure(t *testing.T) {
	ctx := context.Background()
	k := newTestKey(t, ECDSAP256)
	s := memory.New()
	subject := pushSubject(t, ctx, s, "x")
	mustSign(t, ctx, s, subject, k, true)

	idxDesc, err := s.Resolve(ctx, ReferrersTag(subject.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if idxDesc.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("fallback tag media type = %q", idxDesc.MediaType)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(fetchBytes(t, ctx, s, idxDesc), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != MediaTypeBundle {
		t.Fatalf("fallback index manifests = %+v", idx.Manifests)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(fetchBytes(t, ctx, s, idx.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != "application/vnd.dev.sigstore.bundle.v0.3+json" {
		t.Errorf("artifactType = %q", m.ArtifactType)
	}
	if m.Config.MediaType != ocispec.MediaTypeEmptyJSON || m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest {
		t.Errorf("config = %+v, want the empty descriptor", m.Config)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		t.Errorf("subject = %+v", m.Subject)
	}
	if m.Annotations[AnnotationBundleContent] != "dsse-envelope" || m.Annotations[AnnotationBundlePredicateType] != PredicateTypeCosignSign {
		t.Errorf("annotations = %v", m.Annotations)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeBundle {
		t.Fatalf("layers = %+v", m.Layers)
	}
	var b map[string]any
	if err := json.Unmarshal(fetchBytes(t, ctx, s, m.Layers[0]), &b); err != nil {
		t.Fatal(err)
	}
	pub, _ := k.signer.PublicKey()
	vm := b["verificationMaterial"].(map[string]any)
	if got := vm["publicKey"].(map[string]any)["hint"]; got != keyHint(pub) {
		t.Errorf("hint = %v, want %s", got, keyHint(pub))
	}
	env := b["dsseEnvelope"].(map[string]any)
	if env["payloadType"] != "application/vnd.in-toto+json" {
		t.Errorf("payloadType = %v", env["payloadType"])
	}
	stmt, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subject.Digest.Encoded() + `"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`
	if string(stmt) != want {
		t.Errorf("statement =\n%s\nwant\n%s", stmt, want)
	}
	if len(env["signatures"].([]any)) != 1 {
		t.Errorf("signatures = %v", env["signatures"])
	}
}

func TestPAE(t *testing.T) {
	// The DSSE spec's example.
	got := string(pae("http://example.com/HelloWorld", []byte("hello world")))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if got != want {
		t.Errorf("pae() = %q, want %q", got, want)
	}
}

func TestVerificationError_Error(t *testing.T) {
	e := &VerificationError{Outcome: OutcomeBadSignature, Subject: goldenDigest, Detail: "x"}
	if got, want := e.Error(), goldenDigest.String()+": bad signature: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
