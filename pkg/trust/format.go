package trust

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types, artifact types and annotation keys of cosign's signature
// formats, and the Sigstore bundle.
const (
	// MediaTypeSimpleSigning is the layer type of a cosign signature payload.
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	// ArtifactTypeCosignSignature is the artifactType (and config media type)
	// of cosign v2's OCI 1.1 referrer signatures (--registry-referrers-mode=oci-1-1).
	ArtifactTypeCosignSignature = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// MediaTypeBundle is the Sigstore bundle v0.3 JSON media type; it is
	// also the artifactType of cosign v3's bundle referrers.
	MediaTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// PredicateTypeCosignSign is the in-toto predicate type of cosign v3's
	// image signatures in the bundle format.
	PredicateTypeCosignSign = "https://sigstore.dev/cosign/sign/v1"
	// PayloadTypeInToto is the DSSE payload type of an in-toto statement.
	PayloadTypeInToto = "application/vnd.in-toto+json"

	// AnnotationSignature holds the base64 signature on a simple-signing layer.
	AnnotationSignature = "dev.cosignproject.cosign/signature"
	// AnnotationKeyHint is shoebox's addition to a simple-signing layer: the
	// signing key's hint, base64(sha256(PKIX DER)), the same value as a
	// Sigstore bundle's verificationMaterial.publicKey.hint. cosign ignores
	// it. It lets Verify tell "a trusted key's signature that does not
	// verify" (bad signature) from "a signature by some other key".
	AnnotationKeyHint = "dev.shoebox.signature.key-hint"
	// AnnotationBundleContent and AnnotationBundlePredicateType are set by
	// cosign on its bundle referrer manifests.
	AnnotationBundleContent       = "dev.sigstore.bundle.content"
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	// AnnotationTag is the signed claim naming the tag a signature was
	// made for: a key of the simple-signing payload's "optional" map, and
	// of the in-toto statement subject's annotations in a Sigstore bundle.
	// It is inside what is signed, so unlike a tag in a store (which
	// anyone who can write the store can add, move or rename) it cannot be
	// changed without the key. A policy's Tags are matched against it.
	// cosign ignores it on verify and writes it with
	// "cosign sign -a dev.shoebox.tag=TAG".
	AnnotationTag = "dev.shoebox.tag"

	simpleSigningType       = "cosign container image signature"
	inTotoStatementV1       = "https://in-toto.io/Statement/v1"
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// Size limits for untrusted signature metadata.
const (
	maxManifestSize = 4 << 20
	maxPayloadSize  = 1 << 20
	maxBundleSize   = 4 << 20
	maxSignatures   = 1000
)

// SignatureTag is the tag cosign v2 stores signatures under:
// "sha256-<hex>.sig" for the subject digest d.
func SignatureTag(d digest.Digest) string { return fallbackTag(d) + ".sig" }

// ReferrersTag is the OCI image-spec v1.1 referrers tag schema fallback
// tag of d: "sha256-<hex>", an image index listing d's referrers.
func ReferrersTag(d digest.Digest) string { return fallbackTag(d) }

func fallbackTag(d digest.Digest) string {
	enc := d.Encoded()
	if len(enc) > 64 {
		enc = enc[:64]
	}
	return d.Algorithm().String() + "-" + enc
}

// simpleSigning is the cosign / containers "simple signing" payload, with
// its fields in the order cosign marshals them.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// SimpleSigningPayload returns the payload cosign signs for an image
// digest: byte for byte what cosign sign writes, e.g.
//
//	{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},"optional":null}
//
// annotations (cosign sign -a k=v) go into "optional".
func SimpleSigningPayload(dockerReference string, d digest.Digest, annotations map[string]string) ([]byte, error) {
	var p simpleSigning
	p.Critical.Identity.DockerReference = dockerReference
	p.Critical.Image.DockerManifestDigest = d.String()
	p.Critical.Type = simpleSigningType
	if len(annotations) > 0 {
		p.Optional = make(map[string]any, len(annotations))
		for k, v := range annotations {
			p.Optional[k] = v
		}
	}
	return json.Marshal(p)
}

// checkPayload parses a simple-signing payload, checks that it claims
// subject, and returns the tag it was signed for (AnnotationTag in
// "optional"; "" when it names none, or names it with a value that is not
// a string). Its errors are details for a bad-signature outcome.
func checkPayload(payload []byte, subject digest.Digest) (tag string, err error) {
	var p simpleSigning
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&p); err != nil {
		return "", fmt.Errorf("payload is not simple-signing JSON: %w", err)
	}
	if p.Critical.Type != simpleSigningType {
		return "", fmt.Errorf("payload type %q, want %q", p.Critical.Type, simpleSigningType)
	}
	if got := p.Critical.Image.DockerManifestDigest; got != subject.String() {
		return "", fmt.Errorf("payload signs %q, not %s", got, subject)
	}
	tag, _ = p.Optional[AnnotationTag].(string)
	return tag, nil
}

// imageConfig is the image config cosign (go-containerregistry's
// empty.Image with the signature layers appended) writes for a .sig
// manifest, fields in go-containerregistry's order.
type imageConfig struct {
	Architecture string        `json:"architecture"`
	Created      string        `json:"created"`
	History      []historyItem `json:"history,omitempty"`
	OS           string        `json:"os"`
	RootFS       struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids"`
	} `json:"rootfs"`
	Config struct{} `json:"config"`
}

type historyItem struct {
	Created string `json:"created"`
}

const zeroTime = "0001-01-01T00:00:00Z"

// signatureConfig returns cosign's config for a .sig manifest with layers.
func signatureConfig(layers []ocispec.Descriptor) ([]byte, error) {
	c := imageConfig{Created: zeroTime}
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []digest.Digest{}
	for _, l := range layers {
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, l.Digest)
		c.History = append(c.History, historyItem{Created: zeroTime})
	}
	return json.Marshal(c)
}

// inTotoStatement is an in-toto v1 statement as cosign v3 writes it for a
// signature (protojson field names).
type inTotoStatement struct {
	Type          string          `json:"_type"`
	Subject       []inTotoSubject `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

type inTotoSubject struct {
	Name        string            `json:"name,omitempty"`
	Digest      map[string]string `json:"digest"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func signStatement(d digest.Digest, annotations map[string]string) ([]byte, error) {
	s := inTotoStatement{
		Type: inTotoStatementV1,
		Subject: []inTotoSubject{{
			Digest:      map[string]string{d.Algorithm().String(): d.Encoded()},
			Annotations: annotations,
		}},
		PredicateType: PredicateTypeCosignSign,
		Predicate:     json.RawMessage(`{}`),
	}
	return json.Marshal(s)
}

// checkStatement parses an in-toto statement; it reports whether it is a
// cosign signature statement, the tag its subject entry for subject was
// signed for (AnnotationTag; "" for none), and an error (a bad-signature
// detail) when it is malformed or does not name subject.
func checkStatement(payload []byte, subject digest.Digest) (isSignature bool, tag string, err error) {
	var s inTotoStatement
	if err := json.Unmarshal(payload, &s); err != nil {
		return true, "", fmt.Errorf("DSSE payload is not an in-toto statement: %w", err)
	}
	if s.PredicateType != PredicateTypeCosignSign {
		return false, "", nil
	}
	if !strings.HasPrefix(s.Type, "https://in-toto.io/Statement/") {
		return true, "", fmt.Errorf("statement type %q", s.Type)
	}
	for _, sub := range s.Subject {
		if sub.Digest[subject.Algorithm().String()] == subject.Encoded() {
			return true, sub.Annotations[AnnotationTag], nil
		}
	}
	return true, "", fmt.Errorf("statement subject does not name %s", subject)
}

// Sigstore bundle v0.3 (protojson field names of
// sigstore/protobuf-specs dev.sigstore.bundle.v1.Bundle).
type sigstoreBundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial verificationMaterial `json:"verificationMaterial"`
	MessageSignature     json.RawMessage      `json:"messageSignature,omitempty"`
	DSSEEnvelope         *dsseEnvelope        `json:"dsseEnvelope,omitempty"`
}

type verificationMaterial struct {
	PublicKey *struct {
		Hint string `json:"hint"`
	} `json:"publicKey,omitempty"`
	X509CertificateChain      json.RawMessage `json:"x509CertificateChain,omitempty"`
	Certificate               json.RawMessage `json:"certificate,omitempty"`
	TlogEntries               json.RawMessage `json:"tlogEntries,omitempty"`
	TimestampVerificationData json.RawMessage `json:"timestampVerificationData,omitempty"`
}

type dsseEnvelope struct {
	Payload     []byte          `json:"payload"` // base64 in JSON
	PayloadType string          `json:"payloadType"`
	Signatures  []dsseSignature `json:"signatures"`
}

type dsseSignature struct {
	Sig   []byte `json:"sig"` // base64 in JSON
	KeyID string `json:"keyid,omitempty"`
}

// pae is DSSE v1's pre-authentication encoding, the bytes that are signed.
func pae(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

func parseBundle(data []byte) (*sigstoreBundle, error) {
	var b sigstoreBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("parsing Sigstore bundle: %w", err)
	}
	if !strings.HasPrefix(b.MediaType, "application/vnd.dev.sigstore.bundle") {
		return nil, fmt.Errorf("bundle media type %q", b.MediaType)
	}
	return &b, nil
}

// decodeSignature decodes a base64 signature annotation.
func decodeSignature(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("no signature annotation")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("signature annotation is not base64: %w", err)
	}
	return b, nil
}
