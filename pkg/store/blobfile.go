package store

import (
	"context"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// OpenBlobFile opens the file holding desc's blob in a layout store,
// positioned at 0, for readers that want the file itself (sendfile, stat),
// with Fetch's checks (no symbolic links, a regular file of desc's size,
// checked on the open descriptor; ErrBadBlobFile). The bytes are not
// checked against desc: that is the caller's business. A missing blob is
// errdef.ErrNotFound; a remote store has no files and returns
// errdef.ErrUnsupported.
func (s *Store) OpenBlobFile(_ context.Context, desc ocispec.Descriptor) (*os.File, error) {
	l, ok := s.b.(*layout)
	if !ok {
		return nil, fmt.Errorf("%s: blob files: %w", s.ref.Location(), errdef.ErrUnsupported)
	}
	return l.openBlob(desc)
}

// BlobExists reports whether desc's blob is in the store, by its digest
// alone: a layout stats the blob file (a manifest need not be indexed);
// a registry is asked as Exists asks it.
func (s *Store) BlobExists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if l, ok := s.b.(*layout); ok {
		return l.blobExists(desc.Digest)
	}
	return s.b.Exists(ctx, desc)
}
