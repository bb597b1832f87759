package store

import (
	"context"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// Mount makes the blob desc of repository fromRepo, in the same registry,
// available in this repository without transferring it: the distribution
// specification's cross-repository blob mount (POST …/blobs/uploads/
// ?mount=DIGEST&from=REPO). When the registry does not mount it (it
// answers 202, as a registry without mount support or one that finds the
// blob unreadable by these credentials may), the blob is read from
// getContent and uploaded in the session that answer opened. The
// credentials need pull in fromRepo and push here. Only registry stores
// mount: a layout returns errdef.ErrUnsupported.
func (s *Store) Mount(ctx context.Context, desc ocispec.Descriptor, fromRepo string, getContent func() (io.ReadCloser, error)) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	r, ok := s.b.(*remoteRepo)
	if !ok {
		return fmt.Errorf("%s: blob mounts: %w", s.ref.Location(), errdef.ErrUnsupported)
	}
	return r.mapErr(r.Repository.Mount(ctx, desc, fromRepo, getContent))
}

// SameRegistry reports whether s and other are repositories of one
// registry (the same host and port), so that blobs of one can be mounted
// into the other.
func (s *Store) SameRegistry(other *Store) bool {
	return s.ref.Kind == Remote && other.ref.Kind == Remote && s.ref.Registry == other.ref.Registry
}
