package cli

import (
	"context"
	"fmt"
	"sort"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// taggedBundle is a bundle found under a tag.
type taggedBundle struct {
	Tag    string
	Bundle *bundle.Bundle
}

// readBundles reads the bundle at ref's tag or digest, or every bundle
// tagged in the store when ref names none. Tags that are not bundles
// (signatures, other artifacts) are skipped.
func readBundles(ctx context.Context, st *store.Store, ref store.Reference) ([]taggedBundle, error) {
	if ref.Tag != "" {
		desc, err := st.Resolve(ctx, ref.Tag)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		b, err := bundle.Read(ctx, st, desc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return []taggedBundle{{Tag: ref.Tag, Bundle: b}}, nil
	}
	tags, err := st.Tags(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: listing tags: %w", ref.Location(), err)
	}
	var out []taggedBundle
	for _, t := range tags {
		if referrersTagRE.MatchString(t) {
			continue // a signature or a referrers fallback index, never a bundle
		}
		desc, err := st.Resolve(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref.WithTag(t), err)
		}
		if !isBundleIndex(desc) {
			continue
		}
		b, err := bundle.Read(ctx, st, desc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref.WithTag(t), err)
		}
		out = append(out, taggedBundle{Tag: t, Bundle: b})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, nil
}

// isBundleIndex reports whether a tag's descriptor can be a bundle: an
// image index whose artifactType (when the store reports it) is a bundle's.
func isBundleIndex(d ocispec.Descriptor) bool {
	return d.MediaType == ocispec.MediaTypeImageIndex && (d.ArtifactType == "" || d.ArtifactType == bundle.ArtifactTypeBundle)
}

// bundleSize is the sum of the bundle's tarball sizes.
func bundleSize(b *bundle.Bundle) int64 {
	var n int64
	for _, e := range b.Entries {
		n += e.Whole.Size
	}
	return n
}

func countKinds(b *bundle.Bundle) map[bundle.Kind]int {
	m := map[bundle.Kind]int{}
	for _, e := range b.Entries {
		m[e.Kind]++
	}
	return m
}
