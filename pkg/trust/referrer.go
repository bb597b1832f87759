package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// ReferrerLayer is a layer of a referrer PushReferrer writes.
type ReferrerLayer struct {
	MediaType string
	Data      []byte
	// Annotations of the layer descriptor (e.g. a file name in
	// org.opencontainers.image.title, for oras pull); may be nil.
	Annotations map[string]string
}

// PushReferrer writes an OCI 1.1 referrer of subject (image-spec v1.1
// "artifacts guidance"): an image manifest of artifactType with the empty
// config, one layer and annotations, whose subject is subject, and lists
// it in subject's referrers tag schema fallback index (ReferrersTag), as
// cosign does on registries without the referrers API and as Sign and
// Attest write their Sigstore bundles; in a layout that index keeps the
// referrer listed in index.json. Content already there is not written
// again, and a referrer already listed is not listed twice, so writing
// the same referrer again changes nothing. It returns the referrer's
// descriptor, with its artifactType and annotations.
func PushReferrer(ctx context.Context, target Target, subject ocispec.Descriptor, artifactType string, layer ReferrerLayer, annotations map[string]string) (ocispec.Descriptor, error) {
	return PushReferrerLayers(ctx, target, subject, artifactType, []ReferrerLayer{layer}, annotations)
}

// PushReferrerLayers is PushReferrer with several layers, in order (a
// provenance record too large for one blob).
func PushReferrerLayers(ctx context.Context, target Target, subject ocispec.Descriptor, artifactType string, layers []ReferrerLayer, annotations map[string]string) (ocispec.Descriptor, error) {
	if err := subject.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("subject digest %q: %w", subject.Digest, err)
	}
	if len(layers) == 0 {
		return ocispec.Descriptor{}, errors.New("a referrer needs a layer")
	}
	descs := make([]ocispec.Descriptor, 0, len(layers))
	for _, layer := range layers {
		l, err := pushBlob(ctx, target, layer.MediaType, layer.Data)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if len(layer.Annotations) > 0 {
			l.Annotations = maps.Clone(layer.Annotations)
		}
		descs = append(descs, l)
	}
	cfg, err := pushBlob(ctx, target, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfg.Data = ocispec.DescriptorEmptyJSON.Data
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       cfg,
		Layers:       descs,
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:  annotations,
	}
	desc, err := pushJSON(ctx, target, ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc.ArtifactType = artifactType
	desc.Annotations = annotations
	if err := addToReferrersIndex(ctx, target, subject.Digest, desc); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// Referrers lists the candidate referrers of subject the way Verify finds
// signatures: the entries of the referrers tag schema's fallback index
// (ReferrersTag) and, when target is a ReferrerLister, its predecessors
// (a registry's referrers API, a layout's graph), each digest once, in
// that order. With artifactType set, candidates that say they have
// another artifactType are left out; those that say nothing stay. They
// are candidates: a reader must fetch each and check that its subject is
// subject. A fallback index that does not match its digest is ignored.
func Referrers(ctx context.Context, target ReadOnlyTarget, subject ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	cands, err := referrerCandidates(ctx, target, subject)
	if err != nil {
		return nil, err
	}
	seen := map[digest.Digest]bool{}
	var out []ocispec.Descriptor
	for _, d := range cands {
		if seen[d.Digest] || artifactType != "" && d.ArtifactType != "" && d.ArtifactType != artifactType {
			continue
		}
		seen[d.Digest] = true
		out = append(out, d)
	}
	return out, nil
}

// referrerCandidates returns the fallback index's entries, then target's
// predecessors of subject (see Referrers), duplicates included.
func referrerCandidates(ctx context.Context, target ReadOnlyTarget, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var cands []ocispec.Descriptor
	tag := ReferrersTag(subject.Digest)
	idxDesc, err := target.Resolve(ctx, tag)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("resolving %s: %w", tag, err)
	default:
		data, err := fetchLimited(ctx, target, idxDesc, maxManifestSize)
		if err != nil {
			if asBad(err) == "" {
				return nil, fmt.Errorf("reading %s: %w", tag, err)
			}
			break // a tampered index: ignore it; its entries prove nothing
		}
		var idx ocispec.Index
		if json.Unmarshal(data, &idx) == nil {
			cands = append(cands, idx.Manifests...)
		}
	}
	if rl, ok := target.(ReferrerLister); ok {
		preds, err := rl.Predecessors(ctx, ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size})
		if err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("listing referrers: %w", err)
		}
		cands = append(cands, preds...)
	}
	return cands, nil
}
