package trust

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Target is where Sign writes: content-addressed storage that can also
// resolve and set tags. oras-go's memory.Store, oci.Store and
// remote.Repository satisfy it (it is oras.Target).
type Target interface {
	content.Storage
	content.TagResolver
}

// SignOptions tune Sign. The zero value writes a cosign v2 ".sig" signature
// with an empty docker-reference.
type SignOptions struct {
	// DockerReference is the claimed identity in the simple-signing payload,
	// "registry/repo" without tag or digest, as cosign writes it. Empty is
	// allowed (cosign verify does not check it by default).
	DockerReference string
	// Bundle also writes a Sigstore bundle v0.3 as an OCI 1.1 referrer of
	// the subject, as cosign v3 does, plus the referrers tag schema
	// fallback index "sha256-<hex>".
	Bundle bool
	// Annotations go into the payload's "optional" map (cosign sign -a) and
	// into the bundle statement subject's annotations.
	Annotations map[string]string
	// Tag, when not empty, is the tag the signature is made for, recorded
	// inside the signed data as AnnotationTag (with Annotations): what a
	// policy's Tags are checked against. A signature by one key for one
	// tag is written once; the same key signing the same digest for
	// another tag adds a signature.
	Tag string
}

// Sign signs subject with signer in cosign's formats and returns the
// descriptor of the ".sig" signature manifest. No network is used beyond
// target itself: no transparency log, no timestamp authority.
//
// The signature is the simple-signing payload as a layer of type
// MediaTypeSimpleSigning, annotated with AnnotationSignature (base64) and
// AnnotationKeyHint, in an OCI image manifest with cosign's image config,
// tagged SignatureTag(subject.Digest). A signature by another key adds a
// layer to the existing manifest (which is then re-tagged); signing again
// with a key that already signed adds nothing. With opts.Bundle a Sigstore
// bundle referrer is written too (again once per key).
//
// What Sign writes carries no timestamps, so the same inputs give the same
// manifests except for the signature bytes (ECDSA signatures are randomized).
func Sign(ctx context.Context, target Target, subject ocispec.Descriptor, signer signature.Signer, opts SignOptions) (ocispec.Descriptor, error) {
	if err := subject.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("subject digest %q: %w", subject.Digest, err)
	}
	if v, ok := opts.Annotations[AnnotationTag]; ok && v != opts.Tag {
		return ocispec.Descriptor{}, fmt.Errorf("%s: annotation %s=%q contradicts the tag signed for (%q)", subject.Digest, AnnotationTag, v, opts.Tag)
	}
	if opts.Tag != "" {
		ann := make(map[string]string, len(opts.Annotations)+1)
		for k, v := range opts.Annotations {
			ann[k] = v
		}
		ann[AnnotationTag] = opts.Tag
		opts.Annotations = ann
	}
	pub, err := signer.PublicKey(options.WithContext(ctx))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: reading signer public key: %w", subject.Digest, err)
	}
	verifier, err := verifierFor(pub)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: signer public key: %w", subject.Digest, err)
	}
	hint := keyHint(pub)

	sigDesc, err := signSimple(ctx, target, subject, signer, verifier, hint, opts)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", subject.Digest, err)
	}
	if opts.Bundle {
		if err := signBundle(ctx, target, subject, signer, verifier, hint, opts); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: %w", subject.Digest, err)
		}
	}
	return sigDesc, nil
}

func signSimple(ctx context.Context, target Target, subject ocispec.Descriptor, signer signature.Signer, verifier signature.Verifier, hint string, opts SignOptions) (ocispec.Descriptor, error) {
	tag := SignatureTag(subject.Digest)
	payload, err := SimpleSigningPayload(opts.DockerReference, subject.Digest, opts.Annotations)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encoding payload: %w", err)
	}

	var layers []ocispec.Descriptor
	var manifestAnnotations map[string]string
	existing, m, err := tagManifest(ctx, target, tag)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if m != nil {
		layers = m.Layers
		manifestAnnotations = m.Annotations
		// Cosign's duplicate detection: a layer whose signature verifies
		// with our key over a payload for this subject (and this tag)
		// means we signed.
		for _, l := range layers {
			if l.MediaType != MediaTypeSimpleSigning {
				continue
			}
			sig, err := decodeSignature(l.Annotations[AnnotationSignature])
			if err != nil || l.Size > maxPayloadSize {
				continue
			}
			p, err := content.FetchAll(ctx, target, l)
			if err != nil {
				continue
			}
			if tag, err := checkPayload(p, subject.Digest); err == nil && tag == opts.Tag &&
				verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(p), options.WithContext(ctx)) == nil {
				return existing, nil
			}
		}
		if len(layers) >= maxSignatures {
			return ocispec.Descriptor{}, fmt.Errorf("%s already holds %d signatures", tag, len(layers))
		}
	}

	sig, err := signer.SignMessage(bytes.NewReader(payload), options.WithContext(ctx))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing payload: %w", err)
	}
	layer, err := pushBlob(ctx, target, MediaTypeSimpleSigning, payload)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer.Annotations = map[string]string{
		AnnotationSignature: base64.StdEncoding.EncodeToString(sig),
	}
	if hint != "" {
		layer.Annotations[AnnotationKeyHint] = hint
	}
	layers = append(layers, layer)

	desc, err := pushSignatureManifest(ctx, target, layers, manifestAnnotations)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := target.Tag(ctx, desc, tag); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("tagging %s: %w", tag, err)
	}
	return desc, nil
}

func signBundle(ctx context.Context, target Target, subject ocispec.Descriptor, signer signature.Signer, verifier signature.Verifier, hint string, opts SignOptions) error {
	stmt, err := signStatement(subject.Digest, opts.Annotations)
	if err != nil {
		return fmt.Errorf("encoding statement: %w", err)
	}
	// Signing twice with one key for one tag adds nothing.
	same := func(payload []byte) bool {
		ok, tag, err := checkStatement(payload, subject.Digest)
		return ok && err == nil && tag == opts.Tag
	}
	return writeBundleReferrer(ctx, target, subject, stmt, same, signer, verifier, hint, PredicateTypeCosignSign)
}

// writeBundleReferrer stores stmt (an in-toto statement about subject),
// signed by signer, as a Sigstore bundle v0.3 referrer of subject (a DSSE
// envelope), listed in the subject's referrers fallback index, as cosign
// v3 does for signatures and attestations alike. When a bundle referrer
// already holds a statement that same accepts, verified by verifier,
// nothing is written.
func writeBundleReferrer(ctx context.Context, target Target, subject ocispec.Descriptor, stmt []byte, same func(payload []byte) bool,
	signer signature.Signer, verifier signature.Verifier, hint, predicateType string) error {
	refs, err := listReferrers(ctx, target, subject)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.artifactType != MediaTypeBundle {
			continue
		}
		for _, l := range r.manifest.Layers {
			if l.Size > maxBundleSize {
				continue
			}
			data, err := content.FetchAll(ctx, target, l)
			if err != nil {
				continue
			}
			b, err := parseBundle(data)
			if err != nil || b.DSSEEnvelope == nil || b.DSSEEnvelope.PayloadType != PayloadTypeInToto || !same(b.DSSEEnvelope.Payload) {
				continue
			}
			msg := pae(b.DSSEEnvelope.PayloadType, b.DSSEEnvelope.Payload)
			for _, s := range b.DSSEEnvelope.Signatures {
				if verifier.VerifySignature(bytes.NewReader(s.Sig), bytes.NewReader(msg), options.WithContext(ctx)) == nil {
					return nil
				}
			}
		}
	}
	sig, err := signer.SignMessage(bytes.NewReader(pae(PayloadTypeInToto, stmt)), options.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("signing statement: %w", err)
	}
	b := sigstoreBundle{
		MediaType:    MediaTypeBundle,
		DSSEEnvelope: &dsseEnvelope{Payload: stmt, PayloadType: PayloadTypeInToto, Signatures: []dsseSignature{{Sig: sig}}},
	}
	b.VerificationMaterial.PublicKey = &struct {
		Hint string `json:"hint"`
	}{Hint: hint}
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encoding bundle: %w", err)
	}
	annotations := map[string]string{
		AnnotationBundleContent:       "dsse-envelope",
		AnnotationBundlePredicateType: predicateType,
	}
	_, err = PushReferrer(ctx, target, subject, MediaTypeBundle, ReferrerLayer{MediaType: MediaTypeBundle, Data: data}, annotations)
	return err
}

// addToReferrersIndex adds desc to the referrers tag schema fallback index
// of subject (OCI distribution-spec v1.1 "referrers tag schema"), as cosign
// does on registries without the referrers API.
func addToReferrersIndex(ctx context.Context, target Target, subject digest.Digest, desc ocispec.Descriptor) error {
	tag := ReferrersTag(subject)
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
	}
	existing, err := target.Resolve(ctx, tag)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
	case err != nil:
		return fmt.Errorf("resolving %s: %w", tag, err)
	default:
		data, err := fetchLimited(ctx, target, existing, maxManifestSize)
		if err != nil {
			return fmt.Errorf("reading %s: %w", tag, err)
		}
		if err := json.Unmarshal(data, &idx); err != nil {
			return fmt.Errorf("parsing %s: %w", tag, err)
		}
		for _, m := range idx.Manifests {
			if m.Digest == desc.Digest {
				return nil // already listed (oras's remote.Repository maintains it itself)
			}
		}
	}
	idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
		MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size,
		ArtifactType: desc.ArtifactType, Annotations: desc.Annotations,
	})
	idxDesc, err := pushJSON(ctx, target, ocispec.MediaTypeImageIndex, idx)
	if err != nil {
		return err
	}
	if err := target.Tag(ctx, idxDesc, tag); err != nil {
		return fmt.Errorf("tagging %s: %w", tag, err)
	}
	return nil
}

// pushBlob pushes data unless it is already there.
func pushBlob(ctx context.Context, target content.Storage, mediaType string, data []byte) (ocispec.Descriptor, error) {
	desc := content.NewDescriptorFromBytes(mediaType, data)
	ok, err := target.Exists(ctx, desc)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %s: checking: %w", desc.Digest, mediaType, err)
	}
	if ok {
		return desc, nil
	}
	if err := target.Push(ctx, desc, bytes.NewReader(data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %s: pushing: %w", desc.Digest, mediaType, err)
	}
	return desc, nil
}

func pushJSON(ctx context.Context, target content.Storage, mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encoding %s: %w", mediaType, err)
	}
	return pushBlob(ctx, target, mediaType, data)
}

// pushSignatureManifest writes cosign's ".sig" manifest over signature
// layers: an image manifest whose config is the image config cosign derives
// from the layers. Sign and MergeSignatures both end here.
func pushSignatureManifest(ctx context.Context, target Target, layers []ocispec.Descriptor, annotations map[string]string) (ocispec.Descriptor, error) {
	cfg, err := signatureConfig(layers)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encoding config: %w", err)
	}
	cfgDesc, err := pushBlob(ctx, target, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return pushJSON(ctx, target, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      cfgDesc,
		Layers:      layers,
		Annotations: annotations,
	})
}
