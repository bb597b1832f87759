package store

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Mark is a writable layout's state at one moment: its index.json and the
// names of its blob files. Rollback returns the layout to it.
type Mark struct {
	index []byte
	blobs map[string]bool // "<algorithm>/<encoded>"
}

// Mark records the store's state for Rollback: it saves unsaved index
// changes, then reads index.json and lists the blob files (one directory
// listing per digest algorithm). For registries and read-only layouts it
// returns nil: there is nothing it could undo.
func (s *Store) Mark(ctx context.Context) (*Mark, error) {
	l, ok := s.b.(*layout)
	if !ok || l.readOnly {
		return nil, nil
	}
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	b, err := readCapped(filepath.Join(l.root, ocispec.ImageIndexFile), maxIndexBytes)
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", l.root, err)
	}
	blobs, err := l.blobNames()
	if err != nil {
		return nil, err
	}
	return &Mark{index: b, blobs: blobs}, nil
}

// Rollback returns a writable layout to m, for a writer that failed and
// must leave the store as it was: every blob file not listed in m is
// removed first (on a full disk that makes the room the rest needs), then
// index.json is restored (atomically; from then on the store is what it
// was), and the in-memory index is read from it again. It reports how many
// blob files it removed. The caller must have stopped writing. A nil m (a
// registry, a read-only layout) does nothing: a registry keeps what was
// pushed, untagged, until its garbage collection. A crash during Rollback
// leaves a valid store: between the two steps index.json may still list
// untagged manifests of the failed writer whose blobs are gone, which
// readers pass over as a partial layout, and the next writer's open
// forgets.
func (s *Store) Rollback(ctx context.Context, m *Mark) (int, error) {
	if m == nil {
		return 0, nil
	}
	l, ok := s.b.(*layout)
	if !ok || l.readOnly {
		return 0, nil
	}
	l.pending.mu.Lock()
	l.pending.files, l.pending.dirs = nil, nil
	l.pending.mu.Unlock()
	now, err := l.blobNames()
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, name := range slices.Sorted(maps.Keys(now)) {
		if m.blobs[name] {
			continue
		}
		if err := os.Remove(filepath.Join(l.root, ocispec.ImageBlobsDir, filepath.FromSlash(name))); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("layout %s: removing blob %s: %w", l.root, name, err)
		}
		removed++
	}
	l.saveMu.Lock()
	err = writeIndex(l.root, m.index)
	l.saveMu.Unlock()
	if err != nil {
		return removed, fmt.Errorf("layout %s: restoring index: %w", l.root, err)
	}
	if _, err := l.reload(ctx, true); err != nil {
		return removed, err
	}
	return removed, nil
}

// writeIndex replaces index.json atomically; a variable so that tests can
// make it fail like a full disk.
var writeIndex = func(root string, b []byte) error {
	return writeFileAtomic(root, ocispec.ImageIndexFile, indexTmpPrefix, b, readableMode)
}

// blobNames lists the files under blobs/<algorithm>/.
func (l *layout) blobNames() (map[string]bool, error) {
	dir := filepath.Join(l.root, ocispec.ImageBlobsDir)
	algs, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return map[string]bool{}, nil
		}
		return nil, fmt.Errorf("layout %s: %w", l.root, err)
	}
	out := map[string]bool{}
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(dir, a.Name()))
		if err != nil {
			return nil, fmt.Errorf("layout %s: %w", l.root, err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				out[a.Name()+"/"+e.Name()] = true
			}
		}
	}
	return out, nil
}
