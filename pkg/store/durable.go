package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// pendingSync is the group commit of a writable layout. Blobs are linked
// or renamed into blobs/ without an fsync each; before index.json is saved (the only
// thing that makes a blob part of the store), every blob written since the
// last save is made durable in one batch: one syncfs(2) of the layout's
// file system on Linux, an fsync per file and directory elsewhere. So the
// index never names a blob a power cut could lose, and a push of 2,000
// tarballs costs one flush per index save rather than 2,000.
//
// A blob file present on disk but not yet synced may, after a power cut, be
// short or empty: ingest only trusts an existing blob file whose size is the
// expected one, and `shoebox verify` checks every digest.
type pendingSync struct {
	mu    sync.Mutex // guards files and dirs
	files []string
	dirs  map[string]bool
}

// add records a blob put into place (and its directory).
func (p *pendingSync) add(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files = append(p.files, path)
	if p.dirs == nil {
		p.dirs = map[string]bool{}
	}
	p.dirs[filepath.Dir(path)] = true
}

// flush makes every recorded blob durable.
func (p *pendingSync) flush(root string) error {
	p.mu.Lock()
	files, dirs := p.files, p.dirs
	p.files, p.dirs = nil, nil
	p.mu.Unlock()
	if len(files) == 0 {
		return nil
	}
	if syncFS(root) == nil {
		return nil
	}
	for _, f := range files {
		if err := fsyncPath(f); err != nil {
			return fmt.Errorf("syncing %s: %w", f, err)
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func fsyncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// blobPresent reports whether a blob file of the expected size exists.
func blobPresent(path string, size int64) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}
