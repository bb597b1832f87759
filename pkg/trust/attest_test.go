package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"oras.land/oras-go/v2/content/memory"
)

func TestAttest(t *testing.T) {
	ctx := context.Background()
	a, b := newTestKey(t, ECDSAP256), newTestKey(t, Ed25519)
	s := memory.New()
	subject := pushSubject(t, ctx, s, "x")
	sbom := []byte("{\n  \"bomFormat\": \"CycloneDX\",\n  \"specVersion\": \"1.6\"\n}\n")
	opts := AttestOptions{PredicateType: PredicateTypeCycloneDX, DockerReference: "127.0.0.1:5000/julia/b", Bundle: true}

	d1, err := Attest(ctx, s, subject, sbom, a.signer, opts)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := s.Resolve(ctx, AttestationTag(subject.Digest))
	if err != nil || tagged.Digest != d1.Digest {
		t.Fatalf(".att tag = %v, %v; want %s", tagged.Digest, err, d1.Digest)
	}
	m := fetchManifestT(t, ctx, s, d1)
	if len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeDSSE ||
		m.Layers[0].Annotations[AnnotationPredicateType] != PredicateTypeCycloneDX || m.Layers[0].Annotations[AnnotationSignature] != "" {
		t.Fatalf(".att manifest = %+v", m)
	}
	env, err := parseEnvelope(fetchBytes(t, ctx, s, m.Layers[0]))
	if err != nil {
		t.Fatal(err)
	}
	// The signature is DSSE's: over PAE(payloadType, payload), by key a.
	pub, _ := a.signer.PublicKey()
	v, err := verifierFor(pub)
	if err != nil || !env.verifiedBy(ctx, v) {
		t.Fatalf("the envelope does not verify with the signing key: %v", err)
	}
	if v.VerifySignature(bytes.NewReader(env.sigs[0]), bytes.NewReader(env.payload), options.WithContext(ctx)) == nil {
		t.Error("the signature verifies over the bare payload: want PAE")
	}
	var stmt struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(env.payload, &stmt); err != nil {
		t.Fatal(err)
	}
	if stmt.Type != "https://in-toto.io/Statement/v0.1" || stmt.PredicateType != PredicateTypeCycloneDX ||
		len(stmt.Subject) != 1 || stmt.Subject[0].Name != opts.DockerReference || stmt.Subject[0].Digest["sha256"] != subject.Digest.Encoded() ||
		string(stmt.Predicate) != `{"bomFormat":"CycloneDX","specVersion":"1.6"}` {
		t.Errorf("statement = %s", env.payload)
	}
	if n := countBundles(t, ctx, s, subject.Digest); n != 1 {
		t.Errorf("bundle referrers = %d, want 1", n)
	}

	// The same attestation again: nothing added.
	if d, err := Attest(ctx, s, subject, sbom, a.signer, opts); err != nil || d.Digest != d1.Digest {
		t.Errorf("re-attesting changed the .att manifest: %s -> %s (%v)", d1.Digest, d.Digest, err)
	}
	if n := countBundles(t, ctx, s, subject.Digest); n != 1 {
		t.Errorf("bundle referrers after re-attesting = %d, want 1", n)
	}
	// Another key (or another predicate): one more layer.
	d2, err := Attest(ctx, s, subject, sbom, b.signer, opts)
	if err != nil || d2.Digest == d1.Digest || len(fetchManifestT(t, ctx, s, d2).Layers) != 2 {
		t.Fatalf("second key: %v, %v", d2.Digest, err)
	}
	d3, err := Attest(ctx, s, subject, []byte(`{"spdxVersion":"SPDX-2.3"}`), a.signer, AttestOptions{PredicateType: PredicateTypeSPDX})
	if err != nil || len(fetchManifestT(t, ctx, s, d3).Layers) != 3 {
		t.Fatalf("an SPDX attestation: %v", err)
	}
	if _, err := Attest(ctx, s, subject, []byte("not json"), a.signer, opts); err == nil {
		t.Error("a predicate that is not JSON was attested")
	}
	if got := PredicateTypeOf("spdxjson"); got != PredicateTypeSPDX {
		t.Errorf("PredicateTypeOf(spdxjson) = %s", got)
	}
}

func fetchManifestT(t *testing.T, ctx context.Context, s *memory.Store, d ocispec.Descriptor) *ocispec.Manifest {
	t.Helper()
	m, err := fetchManifest(ctx, s, d)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVerify_RequireAttestations(t *testing.T) {
	ctx := context.Background()
	a, b := newTestKey(t, ECDSAP256), newTestKey(t, Ed25519)
	s := memory.New()
	subject := pushSubject(t, ctx, s, "x")
	other := pushSubject(t, ctx, s, "y")
	mustSign(t, ctx, s, subject, a, false)
	p := policyOf(t, a)
	p.RequireAttestations = []string{"cyclonedx"}
	sbom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`)

	res, err := Verify(ctx, s, subject, p)
	assertOutcome(t, res, err, OutcomeMissingAttestation)
	if !strings.Contains(err.Error(), "missing a required attestation: no attestation signed by a policy key for cyclonedx (https://cyclonedx.org/bom)") {
		t.Errorf("error = %v", err)
	}
	// By an unknown key: listed, but it does not count.
	if _, err := Attest(ctx, s, subject, sbom, b.signer, AttestOptions{PredicateType: PredicateTypeCycloneDX}); err != nil {
		t.Fatal(err)
	}
	res, err = Verify(ctx, s, subject, p)
	assertOutcome(t, res, err, OutcomeMissingAttestation)
	if len(res.Attestations) != 1 || len(res.Attestations[0].Signers) != 0 || res.Attestations[0].Format != FormatAttTag {
		t.Errorf("attestations = %+v", res.Attestations)
	}
	// An SPDX one by the trusted key does not satisfy cyclonedx.
	if _, err := Attest(ctx, s, subject, []byte(`{"spdxVersion":"SPDX-2.3"}`), a.signer, AttestOptions{PredicateType: PredicateTypeSPDX, Bundle: true}); err != nil {
		t.Fatal(err)
	}
	res, err = Verify(ctx, s, subject, p)
	assertOutcome(t, res, err, OutcomeMissingAttestation)
	// By the trusted key, as a Sigstore bundle only: OK.
	s2 := memory.New()
	subject2 := pushSubject(t, ctx, s2, "x")
	mustSign(t, ctx, s2, subject2, a, false)
	if err := attestBundleOnly(ctx, s2, subject2, sbom, a); err != nil {
		t.Fatal(err)
	}
	res, err = Verify(ctx, s2, subject2, p)
	assertOutcome(t, res, err, OutcomeOK)
	// In the .att tag: OK, and reported.
	if _, err := Attest(ctx, s, subject, sbom, a.signer, AttestOptions{PredicateType: PredicateTypeCycloneDX}); err != nil {
		t.Fatal(err)
	}
	res, err = Verify(ctx, s, subject, p)
	assertOutcome(t, res, err, OutcomeOK)
	var got []string
	for _, at := range res.Attestations {
		got = append(got, at.PredicateType+" "+at.Format+" "+strings.Join(at.Signers, ","))
	}
	want := []string{"https://cyclonedx.org/bom cosign-att-tag ", "https://cyclonedx.org/bom cosign-att-tag " + p.Keys[0].label(),
		"https://spdx.dev/Document cosign-att-tag " + p.Keys[0].label(), "https://spdx.dev/Document sigstore-bundle " + p.Keys[0].label()}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("attestations =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Another bundle's attestation moved under this one: bad signature.
	if _, err := Attest(ctx, s, other, sbom, a.signer, AttestOptions{PredicateType: PredicateTypeCycloneDX}); err != nil {
		t.Fatal(err)
	}
	od, _ := s.Resolve(ctx, AttestationTag(other.Digest))
	if err := s.Tag(ctx, od, AttestationTag(subject.Digest)); err != nil {
		t.Fatal(err)
	}
	res, err = Verify(ctx, s, subject, p)
	assertOutcome(t, res, err, OutcomeBadSignature)
	if !strings.Contains(err.Error(), "attestation names another subject") {
		t.Errorf("error = %v", err)
	}
	// The policy file form.
	pol, err := ParsePolicy(strings.NewReader("require_attestations = [\"cyclonedx\", \"https://slsa.dev/provenance/v1\"]\n[[keys]]\npem = \"\"\"\n"+string(a.pub)+"\"\"\"\n"), ".")
	if err != nil || len(pol.RequireAttestations) != 2 {
		t.Errorf("ParsePolicy = %+v, %v", pol, err)
	}
	if _, err := ParsePolicy(strings.NewReader("require_attestations = [\"sbom\"]\n[[keys]]\npem = \"\"\"\n"+string(a.pub)+"\"\"\"\n"), "."); err == nil ||
		!strings.Contains(err.Error(), `require_attestations "sbom"`) {
		t.Errorf("a bad require_attestations: %v", err)
	}
}

// attestBundleOnly writes only the Sigstore bundle form of an attestation.
func attestBundleOnly(ctx context.Context, s *memory.Store, subject ocispec.Descriptor, predicate []byte, k testKey) error {
	pub, _ := k.signer.PublicKey()
	v, err := verifierFor(pub)
	if err != nil {
		return err
	}
	stmt, err := attestationStatement(inTotoStatementV1, "", subject.Digest, PredicateTypeCycloneDX, predicate)
	if err != nil {
		return err
	}
	same := func(payload []byte) bool { return bytes.Equal(payload, stmt) }
	return writeBundleReferrer(ctx, s, subject, stmt, same, k.signer, v, keyHint(pub), PredicateTypeCycloneDX)
}
