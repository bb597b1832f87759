package transfer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// PruneOptions say which bundles Prune keeps. The zero value keeps
// nothing: set KeepLast or Keep.
type PruneOptions struct {
	// KeepLast keeps the KeepLast most recently created bundles (by the
	// created annotation of their index; bundles without one are the
	// oldest; ties go by tag).
	KeepLast int
	// Keep are tags whose bundles are kept whatever their age; each must
	// name a bundle of the store (errdef.ErrNotFound otherwise, before
	// anything changes).
	Keep []string
	// DryRun plans and reports, and changes nothing.
	DryRun bool
	// Logger receives what each step did; nil discards it.
	Logger *slog.Logger
}

// PrunedBundle is one bundle in Prune's plan.
type PrunedBundle struct {
	Digest  digest.Digest
	Tags    []string
	Created time.Time
}

// PruneResult is what Prune did (or, with DryRun, would do).
type PruneResult struct {
	// Kept and Retired are the store's bundles, newest first.
	Kept, Retired []PrunedBundle
	// Signatures counts the signature, attestation and referrer manifests
	// retired with the bundles (cosign's .sig, .att and .sbom tags, OCI
	// 1.1 referrers, the referrers tag schema's index).
	Signatures int
	// Layouts: Entries is the number of index.json entries removed, and
	// Garbage what the collection of blobs nothing reaches any more found
	// (removed unless DryRun), including what an interrupted prune left.
	Entries int
	Garbage *store.GarbageReport
	// Registries: Deleted counts the manifests deleted by digest
	// (bundle indexes, the item manifests no kept bundle reaches,
	// signatures); Shared the item manifests of retired bundles left
	// because a kept bundle reaches them; Untagged the tags removed
	// instead, where the registry refuses to delete manifests. The
	// registry's own garbage collection reclaims the blobs.
	Deleted, Shared int
	Untagged        []string
}

// Prune retires old bundles of a store: every bundle but the KeepLast
// newest and those Keep names loses its tags, with its signatures and
// attestations, and the content that no kept bundle reaches is deleted. A
// delta bundle (pushed against an inventory) borrows items from older
// bundles: those stay as long as a kept bundle reaches them. Bundles are
// found with shelf.List, the one rule for which tags are bundles; tags
// that are not bundles and not a retired bundle's signatures are left
// alone, with everything they reach.
//
// In a layout (which the caller opened writable, so it holds the layout's
// lock as a push does) index.json is rewritten first, atomically, without
// the retired bundles and their signatures; then every blob file that
// index.json no longer reaches is removed. A prune interrupted after the
// first step left a valid layout whose unreferenced blobs the next prune
// removes (it collects whatever nothing reaches).
//
// In a registry the manifests are deleted by digest, children first
// (item manifests and nested indexes no kept bundle reaches, then the
// signatures, then the bundle index, which takes its tags with it), so an
// interrupted prune leaves the retired bundle tagged and the next prune
// retires it again. A registry that refuses to delete manifests (405, as
// distribution answers without storage.delete.enabled) gets the retired
// bundles' tags removed instead where it allows that; blobs are reclaimed
// by the registry's own garbage collection in both cases.
func Prune(ctx context.Context, st *store.Store, opts PruneOptions) (*PruneResult, error) {
	if opts.KeepLast < 0 {
		return nil, fmt.Errorf("keep-last %d: must not be negative", opts.KeepLast)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	refs, err := shelf.List(ctx, st)
	if err != nil {
		return nil, err
	}
	// One bundle per index digest, with every tag naming it.
	byDigest := map[digest.Digest]*PrunedBundle{}
	var all []*PrunedBundle
	tagOf := map[string]digest.Digest{}
	for _, r := range refs {
		tagOf[r.Tag] = r.Index.Digest
		if b := byDigest[r.Index.Digest]; b != nil {
			b.Tags = append(b.Tags, r.Tag)
			continue
		}
		created, err := indexCreated(ctx, st, r.Index)
		if err != nil {
			return nil, fmt.Errorf("bundle %s (%s): %w", r.Tag, r.Index.Digest, err)
		}
		b := &PrunedBundle{Digest: r.Index.Digest, Tags: []string{r.Tag}, Created: created}
		byDigest[r.Index.Digest] = b
		all = append(all, b)
	}
	keep := map[digest.Digest]bool{}
	for _, t := range opts.Keep {
		d, ok := tagOf[t]
		if !ok {
			return nil, fmt.Errorf("--keep %s: no bundle has this tag in %s: %w", t, st.Ref().Location(), errdef.ErrNotFound)
		}
		keep[d] = true
	}
	// Newest first: created time, then the first tag.
	slices.SortFunc(all, func(a, b *PrunedBundle) int {
		return cmp.Or(b.Created.Compare(a.Created), strings.Compare(b.Tags[0], a.Tags[0]))
	})
	res := &PruneResult{}
	for i, b := range all {
		if i < opts.KeepLast || keep[b.Digest] {
			res.Kept = append(res.Kept, *b)
		} else {
			res.Retired = append(res.Retired, *b)
		}
	}
	tags, err := st.Tags(ctx)
	if err != nil {
		return nil, err
	}
	retiredSet := map[digest.Digest]bool{}
	for _, b := range res.Retired {
		retiredSet[b.Digest] = true
	}
	// The signature, attestation and referrer tags of retired bundles.
	var sigTags []string
	for _, t := range tags {
		for d := range retiredSet {
			if retiredSigTag(t, d) {
				sigTags = append(sigTags, t)
				break
			}
		}
	}
	if st.Ref().Kind == store.Layout {
		return res, pruneLayout(ctx, st, res, sigTags, opts, log)
	}
	return res, pruneRegistry(ctx, st, res, tags, sigTags, opts, log)
}

// indexCreated reads the created annotation of a bundle's top index.
func indexCreated(ctx context.Context, f content.Fetcher, d ocispec.Descriptor) (time.Time, error) {
	if d.Size < 0 || d.Size > bundle.MaxMetadataSize {
		return time.Time{}, fmt.Errorf("index size %d: %w", d.Size, errdef.ErrSizeExceedsLimit)
	}
	b, err := content.FetchAll(ctx, f, d)
	if err != nil {
		return time.Time{}, err
	}
	var idx struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return time.Time{}, fmt.Errorf("decoding the index: %w", err)
	}
	s, ok := idx.Annotations[ocispec.AnnotationCreated]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: not RFC 3339: %w", ocispec.AnnotationCreated, s, bundle.ErrFormat)
	}
	return t, nil
}

// layoutReferrers finds the referrers to retire among a layout's
// index.json entries (a layout keeps every referrer there): untagged
// entries that are not bundle items, read for their subject, whose subject
// is a retired bundle, or a bundle index that nothing lists any more (left
// by an interrupted prune or a tag removed by hand), or missing; the
// referrers of those in turn (a signed attestation); and the referrers
// tag schema indexes left untagged when a newer one took their tag, which
// list only such referrers (a provenance record written by push, then a
// Sigstore bundle by sign).
func layoutReferrers(ctx context.Context, st *store.Store, retired map[digest.Digest]bool) ([]digest.Digest, error) {
	subjects := map[digest.Digest]bool{}
	for d := range retired {
		subjects[d] = true
	}
	listed, tagged := map[digest.Digest]bool{}, map[digest.Digest]bool{}
	for _, e := range st.Entries() {
		listed[e.Digest] = true
		if e.Annotations[ocispec.AnnotationRefName] != "" {
			tagged[e.Digest] = true
		}
	}
	var out []digest.Digest
	roots := st.Roots()
	for range 2 { // referrers, and referrers of those
		found := false
		for _, r := range roots {
			// Items of an unfinished push are not read; provenance
			// records are referrers like signatures.
			if subjects[r.Digest] || strings.HasPrefix(r.ArtifactType, "application/vnd.shoebox.") && r.ArtifactType != bundle.ArtifactTypeProvenance {
				continue
			}
			if r.MediaType != ocispec.MediaTypeImageManifest && r.MediaType != ocispec.MediaTypeImageIndex {
				continue
			}
			subject, err := subjectOf(ctx, st, r)
			if err != nil {
				return nil, err
			}
			if subject == nil {
				if tagged[r.Digest] {
					continue // a tag: retired by name (retiredSigTag) or kept
				}
				// A referrers tag schema index the tag has moved on from
				// (a referrer added since): untagged, listing referrers
				// of retired subjects only.
				stale, err := staleReferrersIndex(ctx, st, r, subjects)
				if err != nil {
					return nil, err
				}
				if stale {
					subjects[r.Digest] = true
					out = append(out, r.Digest)
					found = true
				}
				continue
			}
			if !subjects[subject.Digest] {
				if listed[subject.Digest] {
					continue
				}
				orphan, err := orphanSubject(ctx, st, *subject)
				if err != nil {
					return nil, err
				}
				if !orphan {
					continue
				}
			}
			subjects[r.Digest] = true
			out = append(out, r.Digest)
			found = true
		}
		if !found {
			break
		}
	}
	return out, nil
}

// staleReferrersIndex reports whether d, an untagged image index of a
// layout, lists nothing but manifests whose subject is in subjects: a
// referrers tag schema index left behind when its tag moved to a newer
// one. It stops at the first entry that is not such a referrer (a bundle
// index's first item).
func staleReferrersIndex(ctx context.Context, st *store.Store, d ocispec.Descriptor, subjects map[digest.Digest]bool) (bool, error) {
	if d.MediaType != ocispec.MediaTypeImageIndex || d.Size > bundle.MaxMetadataSize {
		return false, nil
	}
	if isBundle, err := shelf.IsBundle(ctx, st, d); err != nil || isBundle {
		return false, nil
	}
	entries, err := store.ManifestSuccessors(ctx, st, d)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("index %s: %w", d.Digest, err)
	}
	if len(entries) == 0 {
		return false, nil
	}
	for _, e := range entries {
		s, err := subjectOf(ctx, st, e)
		if err != nil {
			return false, err
		}
		if s == nil || !subjects[s.Digest] {
			return false, nil
		}
	}
	return true, nil
}

// subjectOf reads a manifest's subject; nil when it has none (or the
// manifest is gone).
func subjectOf(ctx context.Context, f content.Fetcher, d ocispec.Descriptor) (*ocispec.Descriptor, error) {
	if d.Size < 0 || d.Size > bundle.MaxMetadataSize {
		return nil, nil
	}
	b, err := content.FetchAll(ctx, f, d)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	var m struct {
		Subject *ocispec.Descriptor `json:"subject"`
	}
	if json.Unmarshal(b, &m) != nil {
		return nil, nil
	}
	return m.Subject, nil
}

// orphanSubject reports whether a subject index.json does not list is
// gone, or is a bundle index (which only a tag or an entry of its own
// keeps).
func orphanSubject(ctx context.Context, f content.Fetcher, s ocispec.Descriptor) (bool, error) {
	if s.MediaType != ocispec.MediaTypeImageIndex {
		_, err := f.Fetch(ctx, s)
		return errors.Is(err, errdef.ErrNotFound), nil
	}
	ok, err := shelf.IsBundle(ctx, f, s)
	if errors.Is(err, errdef.ErrNotFound) {
		return true, nil
	}
	return ok, err
}

func pruneLayout(ctx context.Context, st *store.Store, res *PruneResult, sigTags []string, opts PruneOptions, log *slog.Logger) error {
	retired := map[digest.Digest]bool{}
	var tags []string
	var digests []digest.Digest
	for _, b := range res.Retired {
		retired[b.Digest] = true
		tags = append(tags, b.Tags...)
		digests = append(digests, b.Digest)
	}
	refs, err := layoutReferrers(ctx, st, retired)
	if err != nil {
		return err
	}
	res.Signatures = len(sigTags) + len(refs)
	tags = append(tags, sigTags...)
	digests = append(digests, refs...)
	if opts.DryRun {
		res.Entries = countEntries(st, tags, digests)
		res.Garbage, err = st.CollectGarbage(ctx, store.GarbageOptions{DryRun: true, WithoutTags: tags, WithoutDigests: digests})
		return err
	}
	if res.Entries, err = st.RemoveRoots(ctx, tags, digests); err != nil {
		return err
	}
	if testHookAfterIndex != nil {
		if err := testHookAfterIndex(); err != nil {
			return err
		}
	}
	log.Info("index.json rewritten", "store", st.Ref().Location(), "entries_removed", res.Entries)
	if res.Garbage, err = st.CollectGarbage(ctx, store.GarbageOptions{}); err != nil {
		return err
	}
	log.Info("unreferenced blobs removed", "store", st.Ref().Location(), "files", res.Garbage.Manifests+res.Garbage.Blobs, "bytes", res.Garbage.Bytes)
	return nil
}

// testHookAfterIndex, set by tests, runs between a layout's index.json
// rewrite and its garbage collection (an error stops the prune there, as
// a kill would).
var testHookAfterIndex func() error

// countEntries counts the index.json entries RemoveRoots would remove.
func countEntries(st *store.Store, tags []string, digests []digest.Digest) int {
	n := 0
	for _, e := range st.Entries() {
		if slices.Contains(digests, e.Digest) || e.Annotations[ocispec.AnnotationRefName] != "" && slices.Contains(tags, e.Annotations[ocispec.AnnotationRefName]) {
			n++
		}
	}
	return n
}

// bundleManifests adds to set every manifest of a bundle's index graph
// (the top index, nested indexes, item and report manifests), reading
// only the indexes.
func bundleManifests(ctx context.Context, f content.Fetcher, index ocispec.Descriptor, set map[digest.Digest]ocispec.Descriptor, order *[]ocispec.Descriptor) error {
	var walk func(d ocispec.Descriptor, depth int) error
	walk = func(d ocispec.Descriptor, depth int) error {
		if _, seen := set[d.Digest]; seen {
			return nil
		}
		set[d.Digest] = d
		if d.MediaType != ocispec.MediaTypeImageIndex {
			if order != nil {
				*order = append(*order, d)
			}
			return nil
		}
		if depth > 8 {
			return fmt.Errorf("index %s: nested deeper than 8: %w", d.Digest, bundle.ErrFormat)
		}
		succs, err := store.ManifestSuccessors(ctx, f, d)
		if err != nil {
			return err
		}
		for _, s := range succs {
			if s.MediaType == ocispec.MediaTypeImageIndex || s.MediaType == ocispec.MediaTypeImageManifest {
				if err := walk(s, depth+1); err != nil {
					return err
				}
			}
		}
		if order != nil {
			*order = append(*order, d) // after its children
		}
		return nil
	}
	return walk(index, 0)
}

func pruneRegistry(ctx context.Context, st *store.Store, res *PruneResult, tags, sigTags []string, opts PruneOptions, log *slog.Logger) error {
	// What stays reachable: the kept bundles' graphs and every tag that is
	// neither a retired bundle's tag nor its signature.
	kept := map[digest.Digest]ocispec.Descriptor{}
	for _, b := range res.Kept {
		d, err := st.Resolve(ctx, b.Digest.String())
		if err != nil {
			return fmt.Errorf("bundle %s: %w", b.Digest, err)
		}
		if err := bundleManifests(ctx, st, d, kept, nil); err != nil {
			return fmt.Errorf("bundle %s: %w", b.Digest, err)
		}
	}
	retiring := map[string]bool{}
	for _, b := range res.Retired {
		for _, t := range b.Tags {
			retiring[t] = true
		}
	}
	for _, t := range sigTags {
		retiring[t] = true
	}
	for _, t := range tags {
		if retiring[t] || shelf.IsSignatureTag(t) {
			continue
		}
		d, err := st.Resolve(ctx, t)
		if err != nil {
			return fmt.Errorf("tag %s: %w", t, err)
		}
		kept[d.Digest] = d
	}
	// What goes, children first: per retired bundle its items and nested
	// indexes no kept bundle reaches, its signatures, then the index.
	type step struct {
		desc ocispec.Descriptor
		sig  bool
	}
	var plan []step
	seen := map[digest.Digest]ocispec.Descriptor{}
	for _, b := range res.Retired {
		top, err := st.Resolve(ctx, b.Digest.String())
		if err != nil {
			return fmt.Errorf("bundle %s: %w", b.Digest, err)
		}
		var order []ocispec.Descriptor
		if err := bundleManifests(ctx, st, top, seen, &order); err != nil {
			return fmt.Errorf("bundle %s: %w", b.Digest, err)
		}
		var sigs []ocispec.Descriptor
		for _, t := range sigTags {
			if retiredSigTag(t, b.Digest) {
				d, err := st.Resolve(ctx, t)
				if err != nil {
					if errors.Is(err, errdef.ErrNotFound) {
						continue
					}
					return fmt.Errorf("tag %s: %w", t, err)
				}
				sigs = append(sigs, d)
			}
		}
		referrers, err := st.Referrers(ctx, top, "")
		if err != nil {
			return fmt.Errorf("bundle %s: listing referrers: %w", b.Digest, err)
		}
		sigs = append(sigs, referrers...)
		for _, d := range order {
			if d.Digest == top.Digest {
				continue
			}
			if _, ok := kept[d.Digest]; ok {
				res.Shared++
				continue
			}
			plan = append(plan, step{desc: d})
		}
		done := map[digest.Digest]bool{}
		for _, d := range sigs {
			if done[d.Digest] || kept[d.Digest].Digest != "" {
				continue
			}
			done[d.Digest] = true
			plan = append(plan, step{desc: d, sig: true})
			res.Signatures++
		}
		plan = append(plan, step{desc: top})
	}
	if opts.DryRun {
		res.Deleted = len(plan)
		return nil
	}
	for i, s := range plan {
		err := st.DeleteManifest(ctx, s.desc)
		if err == nil {
			res.Deleted++
			continue
		}
		if !errors.Is(err, errdef.ErrUnsupported) || i > 0 && res.Deleted > 0 {
			return err
		}
		// The registry deletes no manifests: untag instead.
		log.Info("the registry refuses to delete manifests; removing tags instead", "store", st.Ref().Location(), "error", err)
		return untagRetired(ctx, st, res, sigTags, err)
	}
	return nil
}

// untagRetired removes the retired bundles' tags and their signature tags,
// for a registry that deletes tags but not manifests.
func untagRetired(ctx context.Context, st *store.Store, res *PruneResult, sigTags []string, cause error) error {
	var tags []string
	for _, b := range res.Retired {
		tags = append(tags, b.Tags...)
	}
	tags = append(tags, sigTags...)
	for _, t := range tags {
		if err := st.Untag(ctx, t); err != nil {
			if errors.Is(err, errdef.ErrUnsupported) && len(res.Untagged) == 0 {
				return fmt.Errorf("%s: the registry deletes neither manifests nor tags (enable deletes, e.g. storage.delete.enabled in distribution): nothing was removed: %w", st.Ref().Location(), cause)
			}
			return err
		}
		res.Untagged = append(res.Untagged, t)
	}
	return nil
}

// retiredSigTag reports whether a tag is one of the tags that hold
// signatures, attestations or referrers of d: cosign's "sha256-<hex>.sig",
// ".att" and ".sbom", and the referrers tag schema's "sha256-<hex>".
func retiredSigTag(t string, d digest.Digest) bool {
	return t == trust.SignatureTag(d) || t == trust.ReferrersTag(d) || strings.HasPrefix(t, trust.ReferrersTag(d)+".")
}
