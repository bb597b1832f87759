package store

import (
	"context"
	"maps"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Roots returns the manifests of a layout that no other manifest points at
// (tagged bundles, referrers, and items pushed by a run that has not yet
// written its bundle index), sorted by digest. A lazy layout whose graph
// is not built returns the manifests index.json lists instead, without
// building it: those roots, plus any tagged manifest that another one
// points at. Registries cannot list untagged manifests: it returns nil for
// them.
func (s *Store) Roots() []ocispec.Descriptor {
	l, ok := s.b.(*layout)
	if !ok {
		return nil
	}
	l.mu.RLock()
	if l.lazy && !l.graphOK {
		out := make([]ocispec.Descriptor, 0, len(l.top))
		for _, dg := range slices.Sorted(maps.Keys(l.top)) {
			out = append(out, l.top[dg])
		}
		l.mu.RUnlock()
		return out
	}
	l.mu.RUnlock()
	if err := l.ensureGraph(context.Background()); err != nil {
		l.log.Warn("building the manifest graph", "layout", l.root, "error", err)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []ocispec.Descriptor
	for _, dg := range slices.Sorted(maps.Keys(l.manifests)) {
		if len(l.preds[dg]) == 0 {
			out = append(out, l.manifests[dg])
		}
	}
	return out
}

// Flush saves a writable layout's index.json now. It is otherwise saved on
// Tag, on pushes of referrers and on Close; a long push flushes now and then
// so that the items it stored survive a crash and a re-run reuses them.
// It does nothing for registries and read-only layouts.
func (s *Store) Flush(ctx context.Context) error {
	l, ok := s.b.(*layout)
	if !ok || l.readOnly {
		return nil
	}
	l.mu.RLock()
	dirty := l.gen != l.savedGen
	l.mu.RUnlock()
	if !dirty {
		return nil
	}
	return l.save(ctx)
}
