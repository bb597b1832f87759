package trust

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"oras.land/oras-go/v2/content"
)

// Attestations as cosign stores them (cosign's specs/ATTESTATION_SPEC.md;
// in-toto attestation framework, Statement v0.1 and v1; DSSE v1).
const (
	// MediaTypeDSSE is the layer type of a cosign attestation: a DSSE
	// envelope whose payload is an in-toto statement.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// AnnotationPredicateType names an attestation layer's predicate type,
	// as cosign writes it.
	AnnotationPredicateType = "predicateType"
	// PredicateTypeCycloneDX and PredicateTypeSPDX are the predicate types
	// of cosign attest --type cyclonedx and --type spdxjson.
	PredicateTypeCycloneDX = "https://cyclonedx.org/bom"
	PredicateTypeSPDX      = "https://spdx.dev/Document"

	inTotoStatementV01 = "https://in-toto.io/Statement/v0.1"
)

// AttestationTag is the tag cosign v2 stores attestations under:
// "sha256-<hex>.att" for the subject digest d.
func AttestationTag(d digest.Digest) string { return fallbackTag(d) + ".att" }

// PredicateTypeOf maps cosign's --type names ("cyclonedx", "spdxjson",
// "spdx") to predicate types; anything else is taken as a predicate type.
func PredicateTypeOf(name string) string {
	switch name {
	case "cyclonedx":
		return PredicateTypeCycloneDX
	case "spdxjson", "spdx":
		return PredicateTypeSPDX
	}
	return name
}

// AttestOptions tune Attest.
type AttestOptions struct {
	// PredicateType is the statement's predicate type (required), e.g.
	// PredicateTypeCycloneDX.
	PredicateType string
	// DockerReference is the statement subject's name, "registry/repo"
	// as cosign writes it; empty is allowed.
	DockerReference string
	// Bundle also writes the attestation as a Sigstore bundle v0.3
	// referrer of the subject (in-toto Statement v1), as cosign v3 does,
	// listed in the "sha256-<hex>" referrers fallback index.
	Bundle bool
}

// Attest signs predicate (a JSON document: an SBOM) as an in-toto
// statement about subject, in a DSSE envelope signed by signer, and
// stores it as cosign stores attestations: a layer of type MediaTypeDSSE
// (annotated with its predicate type and cosign's empty signature
// annotation) in an image manifest tagged AttestationTag(subject.Digest).
// Another attestation adds a layer to that manifest; attesting the same
// statement again with the same key adds nothing. With opts.Bundle the
// statement is also written as a Sigstore bundle referrer. Nothing but
// target is contacted. It returns the ".att" manifest's descriptor.
func Attest(ctx context.Context, target Target, subject ocispec.Descriptor, predicate []byte, signer signature.Signer, opts AttestOptions) (ocispec.Descriptor, error) {
	if err := subject.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("subject digest %q: %w", subject.Digest, err)
	}
	if opts.PredicateType == "" {
		return ocispec.Descriptor{}, errors.New("attest: no predicate type")
	}
	if !json.Valid(predicate) {
		return ocispec.Descriptor{}, fmt.Errorf("%s: the predicate is not JSON", subject.Digest)
	}
	pub, err := signer.PublicKey(options.WithContext(ctx))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: reading signer public key: %w", subject.Digest, err)
	}
	verifier, err := verifierFor(pub)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: signer public key: %w", subject.Digest, err)
	}
	stmt, err := attestationStatement(inTotoStatementV01, opts.DockerReference, subject.Digest, opts.PredicateType, predicate)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, err := attestTag(ctx, target, subject, stmt, signer, verifier, opts.PredicateType)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", subject.Digest, err)
	}
	if opts.Bundle {
		stmt1, err := attestationStatement(inTotoStatementV1, opts.DockerReference, subject.Digest, opts.PredicateType, predicate)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		same := func(payload []byte) bool { return bytes.Equal(payload, stmt1) }
		if err := writeBundleReferrer(ctx, target, subject, stmt1, same, signer, verifier, keyHint(pub), opts.PredicateType); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: %w", subject.Digest, err)
		}
	}
	return desc, nil
}

func attestationStatement(typ, name string, d digest.Digest, predicateType string, predicate []byte) ([]byte, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, predicate); err != nil {
		return nil, fmt.Errorf("the predicate is not JSON: %w", err)
	}
	s := inTotoStatement{
		Type:          typ,
		Subject:       []inTotoSubject{{Name: name, Digest: map[string]string{d.Algorithm().String(): d.Encoded()}}},
		PredicateType: predicateType,
		Predicate:     json.RawMessage(compact.Bytes()),
	}
	return json.Marshal(s)
}

// cosignEnvelope is a DSSE envelope as cosign writes it into an
// attestation layer.
type cosignEnvelope struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"`
	Signatures  []cosignDSSESig `json:"signatures"`
}

type cosignDSSESig struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

func attestTag(ctx context.Context, target Target, subject ocispec.Descriptor, stmt []byte, signer signature.Signer, verifier signature.Verifier, predicateType string) (ocispec.Descriptor, error) {
	tag := AttestationTag(subject.Digest)
	var layers []ocispec.Descriptor
	var annotations map[string]string
	existing, m, err := tagManifest(ctx, target, tag)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if m != nil {
		layers, annotations = m.Layers, m.Annotations
		for _, l := range layers {
			if l.MediaType != MediaTypeDSSE || l.Size > maxBundleSize {
				continue
			}
			data, err := content.FetchAll(ctx, target, l)
			if err != nil {
				continue
			}
			env, err := parseEnvelope(data)
			if err != nil || !bytes.Equal(env.payload, stmt) {
				continue
			}
			if env.verifiedBy(ctx, verifier) {
				return existing, nil // this key already attested this statement
			}
		}
		if len(layers) >= maxSignatures {
			return ocispec.Descriptor{}, fmt.Errorf("%s already holds %d attestations", tag, len(layers))
		}
	}
	sig, err := signer.SignMessage(bytes.NewReader(pae(PayloadTypeInToto, stmt)), options.WithContext(ctx))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing the statement: %w", err)
	}
	env, err := json.Marshal(cosignEnvelope{PayloadType: PayloadTypeInToto, Payload: base64.StdEncoding.EncodeToString(stmt),
		Signatures: []cosignDSSESig{{Sig: base64.StdEncoding.EncodeToString(sig)}}})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer, err := pushBlob(ctx, target, MediaTypeDSSE, env)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer.Annotations = map[string]string{AnnotationSignature: "", AnnotationPredicateType: predicateType}
	layers = append(layers, layer)
	desc, err := pushSignatureManifest(ctx, target, layers, annotations)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := target.Tag(ctx, desc, tag); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("tagging %s: %w", tag, err)
	}
	return desc, nil
}

// envelope is a parsed DSSE envelope.
type envelope struct {
	payloadType string
	payload     []byte
	sigs        [][]byte
}

func parseEnvelope(data []byte) (*envelope, error) {
	var e cosignEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("DSSE envelope: %w", err)
	}
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("DSSE envelope payload: %w", err)
	}
	out := &envelope{payloadType: e.PayloadType, payload: payload}
	for _, s := range e.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("DSSE envelope signature: %w", err)
		}
		out.sigs = append(out.sigs, sig)
	}
	return out, nil
}

func (e *envelope) verifiedBy(ctx context.Context, v signature.Verifier) bool {
	msg := pae(e.payloadType, e.payload)
	for _, s := range e.sigs {
		if v.VerifySignature(bytes.NewReader(s), bytes.NewReader(msg), options.WithContext(ctx)) == nil {
			return true
		}
	}
	return false
}
