package store

import (
	"context"
	"maps"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// topPredecessors answers Predecessors in a lazy layout (Options.LazyGraph)
// whose graph is not built, without building it: the manifests index.json
// lists (tagged or not) that point at node. Every referrer a layout holds
// is such a manifest (nothing points at a referrer, so the layout keeps it
// in index.json), unless an index lists it, as the referrers tag schema's
// fallback index does, which its readers resolve by tag. Predecessors
// nested below other indexes are not reported. The answer for one
// index.json is computed once: one read of each listed manifest, which
// for a served store are a few bundle indexes and signatures, however many
// items they hold.
func (l *layout) topPredecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	l.mu.RLock()
	seq, tp, top := l.loadSeq, l.topPreds, l.top
	fresh := tp != nil && l.topSeq == seq
	l.mu.RUnlock()
	if !fresh {
		tp = map[digest.Digest][]digest.Digest{}
		for _, dg := range slices.Sorted(maps.Keys(top)) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			succs, _, err := l.successors(ctx, top[dg])
			if err != nil {
				return nil, err
			}
			for _, s := range succs {
				tp[s.Digest] = append(tp[s.Digest], dg)
			}
		}
		l.mu.Lock()
		if l.loadSeq == seq {
			l.topPreds, l.topSeq = tp, seq
		}
		l.mu.Unlock()
	}
	var out []ocispec.Descriptor
	for _, dg := range slices.Compact(slices.Sorted(slices.Values(tp[node.Digest]))) {
		out = append(out, top[dg])
	}
	return out, nil
}
