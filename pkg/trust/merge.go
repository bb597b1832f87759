package trust

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MergeSignatures combines two cosign ".sig" signature manifests of the
// same subject into one, as a second `cosign sign` would have written it:
// the layers of have (a manifest in target, e.g. what a registry holds),
// then each layer of add (e.g. the manifest a copy brings; its layer blobs
// must already be in target) that have lacks (same payload digest and same
// signature), with cosign's image config for the result. It pushes the
// config and the merged manifest (it does not tag them) and returns the
// manifest's descriptor; when add brings nothing new it returns have.
// Merging is what keeps a signature made on one side (a counter-signature
// inside) when the other side's ".sig" tag is copied over it.
func MergeSignatures(ctx context.Context, target Target, have ocispec.Descriptor, add ocispec.Manifest) (ocispec.Descriptor, error) {
	a, err := fetchManifest(ctx, target, have)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reading %s: %w", have.Digest, err)
	}
	b := &add
	key := func(l ocispec.Descriptor) string {
		return l.MediaType + " " + l.Digest.String() + " " + l.Annotations[AnnotationSignature]
	}
	seen := map[string]bool{}
	for _, l := range a.Layers {
		seen[key(l)] = true
	}
	layers := append([]ocispec.Descriptor(nil), a.Layers...)
	for _, l := range b.Layers {
		if !seen[key(l)] {
			seen[key(l)] = true
			layers = append(layers, l)
		}
	}
	if len(layers) == len(a.Layers) {
		return have, nil
	}
	if len(layers) > maxSignatures {
		return ocispec.Descriptor{}, fmt.Errorf("merging into %s: %d signatures, more than %d", have.Digest, len(layers), maxSignatures)
	}
	return pushSignatureManifest(ctx, target, layers, a.Annotations)
}
