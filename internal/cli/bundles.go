package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// findBundles resolves ref's tag (or digest) to the bundle it names, or
// lists every bundle of the store when ref names none (shelf's one rule).
func findBundles(ctx context.Context, st *store.Store, ref store.Reference) ([]shelf.Ref, error) {
	if ref.Tag != "" {
		r, err := shelf.Find(ctx, st, ref.Tag)
		if err != nil {
			return nil, tagHint(ctx, st, ref, fmt.Errorf("%s: %w", ref, err))
		}
		return []shelf.Ref{r}, nil
	}
	refs, err := shelf.List(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Location(), err)
	}
	return refs, nil
}

// refName is how messages name a bundle of the store ref.
func refName(ref store.Reference, r shelf.Ref) store.Reference {
	return ref.WithTag(r.Name())
}

// taggedBundle is a bundle found under a tag.
type taggedBundle struct {
	Tag    string
	Bundle *bundle.Bundle
}

// readBundles reads the bundle at ref's tag or digest, or every bundle
// of the store when ref names none.
func readBundles(ctx context.Context, st *store.Store, ref store.Reference) ([]taggedBundle, error) {
	refs, err := findBundles(ctx, st, ref)
	if err != nil {
		return nil, err
	}
	var out []taggedBundle
	for _, r := range refs {
		b, err := bundle.Read(ctx, st, r.Index)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", refName(ref, r), err)
		}
		tag := r.Tag
		if tag == "" {
			tag = ref.Tag
		}
		out = append(out, taggedBundle{Tag: tag, Bundle: b})
	}
	return out, nil
}

// storeBundles reads every bundle of a store that reads cleanly; the ones
// that do not are skipped (verify reports them when they are verified).
func storeBundles(ctx context.Context, st *store.Store) ([]*bundle.Bundle, error) {
	refs, err := findBundles(ctx, st, st.Ref())
	if err != nil {
		return nil, err
	}
	var out []*bundle.Bundle
	for _, r := range refs {
		b, err := bundle.Read(ctx, st, r.Index)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// bundleCount is a bundle's item count and tarball bytes.
type bundleCount struct {
	Items int
	Bytes int64
}

// contextBundles reads every bundle of a store that reads cleanly (the
// others are skipped, as by storeBundles), keeping of each only its
// registry snapshots, which is what a closure check needs of other
// bundles. Index entries are sorted registries first (FORMAT.md §4.1), so
// each walk stops at the first other entry; the item counts and sizes come
// from the index's annotations (§4.2). A store of many large bundles costs
// a few entries and the first index page of each.
func contextBundles(ctx context.Context, st *store.Store) ([]*bundle.Bundle, map[string]bundleCount, error) {
	refs, err := findBundles(ctx, st, st.Ref())
	if err != nil {
		return nil, nil, err
	}
	var out []*bundle.Bundle
	counts := map[string]bundleCount{}
	for _, r := range refs {
		if _, ok := counts[r.Index.Digest.String()]; ok {
			continue
		}
		var regs []bundle.Entry
		b, err := bundle.Walk(ctx, st, r.Index, func(e bundle.Entry) error {
			if e.Kind != bundle.KindRegistry {
				return errRegistriesDone
			}
			regs = append(regs, e)
			return nil
		})
		if errors.Is(err, errRegistriesDone) {
			if b, err = bundle.Header(ctx, st, r.Index); err != nil {
				continue
			}
		} else if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			continue
		}
		b.Entries = regs
		var c bundleCount
		for _, k := range []string{bundle.AnnotationRegistries, bundle.AnnotationPackages, bundle.AnnotationArtifacts} {
			n, _ := strconv.Atoi(b.Annotations[k])
			c.Items += n
		}
		c.Bytes, _ = strconv.ParseInt(b.Annotations[bundle.AnnotationSize], 10, 64)
		counts[r.Index.Digest.String()] = c
		out = append(out, b)
	}
	return out, counts, nil
}

// errRegistriesDone stops contextBundles' walks after the registries.
var errRegistriesDone = errors.New("past the registry entries")

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

// bundlePlatforms are the platform triplets a bundle was collected for:
// its report's, else its annotation's; an empty list, never nil.
func bundlePlatforms(b *bundle.Bundle) []string {
	if b.Report != nil && len(b.Report.Platforms) > 0 {
		return b.Report.Platforms
	}
	if a := b.Annotations[bundle.AnnotationPlatforms]; a != "" {
		return strings.Split(a, ",")
	}
	return []string{}
}

// storeName is how JSON output names a store: oci-layout:PATH or
// REGISTRY/REPO, without a tag (the same form as a bundle's name, which
// adds :TAG).
func storeName(ref store.Reference) string { return ref.WithTag("").String() }
